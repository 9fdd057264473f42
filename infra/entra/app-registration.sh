#!/bin/sh
# Patch Pilot's Microsoft Entra app registration: the API's audience and its app roles.
#
# Bicep's ARM provider cannot create Entra app registrations (the Microsoft Graph
# Bicep extension can, but it is not validated offline here), so this script does it
# once per environment with the Azure CLI, then prints the azd settings main.bicep
# reads (API_CLIENT_ID, API_OBJECT_ID). Run it as someone who may create app
# registrations and grant app roles (Application Administrator, or the app's owner).
#
#   sh infra/entra/app-registration.sh patchpilot-prod [--secure-webhook]
#
# --secure-webhook also gives Azure Monitor's action group service principal
# ("AzNS AAD Webhook") the PatchPilot.Alert app role, so the action group can call
# the alert webhook with an Entra token (docs/deploy.md, "The alert credential").
set -eu

name="${1:?usage: app-registration.sh <azd environment name> [--secure-webhook]}"
secure_webhook="${2:-}"
here="$(cd "$(dirname "$0")" && pwd)"
display="Patch Pilot API (${name})"
# Azure Monitor's action groups sign secure webhook calls as this application.
action_groups_app_id="461e8683-5575-4561-ac7f-899cc907d62a"

app_id="$(az ad app list --display-name "$display" --query '[0].appId' -o tsv)"
if [ -z "$app_id" ]; then
  app_id="$(az ad app create --display-name "$display" --sign-in-audience AzureADMyOrg \
    --app-roles "@${here}/app-roles.json" --query appId -o tsv)"
else
  az ad app update --id "$app_id" --app-roles "@${here}/app-roles.json"
fi
az ad app update --id "$app_id" --identifier-uris "api://${app_id}"
object_id="$(az ad app show --id "$app_id" --query id -o tsv)"

sp_id="$(az ad sp list --filter "appId eq '${app_id}'" --query '[0].id' -o tsv)"
[ -n "$sp_id" ] || sp_id="$(az ad sp create --id "$app_id" --query id -o tsv)"
# Only principals given an app role get a token for the app at all.
az ad sp update --id "$sp_id" --set appRoleAssignmentRequired=true

if [ "$secure_webhook" = "--secure-webhook" ]; then
  webhook_sp="$(az ad sp list --filter "appId eq '${action_groups_app_id}'" --query '[0].id' -o tsv)"
  [ -n "$webhook_sp" ] || webhook_sp="$(az ad sp create --id "$action_groups_app_id" --query id -o tsv)"
  alert_role="$(az ad app show --id "$app_id" --query "appRoles[?value=='PatchPilot.Alert'].id | [0]" -o tsv)"
  az rest --method POST \
    --uri "https://graph.microsoft.com/v1.0/servicePrincipals/${sp_id}/appRoleAssignedTo" \
    --body "{\"principalId\": \"${webhook_sp}\", \"resourceId\": \"${sp_id}\", \"appRoleId\": \"${alert_role}\"}" \
    >/dev/null || echo "the action group's service principal may already hold PatchPilot.Alert"
  echo "azd env set API_OBJECT_ID ${object_id}"
fi
echo "azd env set API_CLIENT_ID ${app_id}"
echo "# then assign people their roles (docs/deploy.md, \"Who may do what\") and run azd provision"
