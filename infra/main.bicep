// AKS Patch Pilot: everything `azd up` deploys (see infra/README.md and docs/deploy.md).
//
// Deployed at subscription scope: it creates the app's resource group, the custom
// roles (tenant objects, defined here and assignable on the scopes' subscriptions)
// and their assignments on the scopes Patch Pilot may touch, which can sit in
// other subscriptions and resource groups. Each scope type has its own module,
// because a module's targetScope decides where its role assignment lands.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name: names and tags every resource.')
param environmentName string

@minLength(1)
@description('Azure region of the Function App and its resources.')
param location string

@description('Where Patch Pilot may observe and upgrade clusters: the policy file\'s `scopes`, each a subscription ID (/subscriptions/<id>) or a resource group ID (/subscriptions/<id>/resourceGroups/<name>), without a trailing slash.')
param managedScopes array

@description('Managed cluster resource IDs whose AKS events are delivered to the app (one Event Grid system topic each).')
param aksClusterIds array = []

@description('Create the Event Grid subscriptions. They point at the deployed function, so the first `azd up` leaves this off and its postdeploy hook provisions again with it on.')
param subscribeAksEvents bool = false

@description('Azure Kubernetes Fleet Manager fleet resource IDs whose update run gates Patch Pilot approves: the policy file\'s `fleet_gates.fleets`. Each gets the Fleet gate approver role; each of their subscriptions an AKS Resources system topic delivering gate events (docs/fleet-gates.md).')
param fleetIds array = []

@allowed([
  'act'
  'shadow'
])
@description('shadow: observe, plan, announce and record what would have started, with no ARM write (no upgrade, no gate approval); act: start upgrades and approve gates. A first deployment runs in shadow (docs/shadow.md).')
param mode string = 'shadow'

@description('Email address the alerts go to; empty leaves the action group without a receiver.')
param alertEmail string = ''

@description('Turn on App Service authentication (Microsoft Entra ID): people call the API with a token and app roles.')
param enableAuthentication bool = true

@description('Application (client) ID of Patch Pilot\'s app registration with its app roles (infra/entra/app-registration.sh creates it).')
param apiClientId string

@description('Object ID of that app registration: Azure Monitor\'s secure webhook gets tokens for it. Empty: the alert webhook uses its function key alone.')
param apiObjectId string = ''

@description('Application ID URI of that app registration (default api://<client id>).')
param apiIdentifierUri string = ''

@description('Alert when a pool took more days than this from AKS offering a version or image to the pool running it.')
param patchLagThresholdDays int = 14

@description('The policy file inside the deployment package, relative to the app root.')
param policyPath string = 'policy.yaml'

@allowed([
  'resource-graph'
  'static'
])
@description('How the sweep finds clusters: Azure Resource Graph, or the static list below.')
param discovery string = 'resource-graph'

@description('Comma-separated managed cluster resource IDs, for discovery = static.')
param staticClusters string = ''

@description('Longest time one ARM call may take, retries included (seconds, 1 to 240).')
param armDeadlineSeconds string = '60'

@description('How many hours before a window opens Patch Pilot announces the upgrade (UpgradeScheduled).')
param noticeHours string = '24'

@description('NCRONTAB schedule of the sweep (UTC). Must equal settings.DEFAULT_SWEEP_SCHEDULE unless changed on purpose.')
param sweepSchedule string = '0 */15 * * * *'

@description('NCRONTAB schedule of the Patch Tuesday cycle (UTC). Must equal settings.DEFAULT_WINDOWS_SCHEDULE unless changed on purpose.')
param windowsSchedule string = '0 0 18 8-14 * Tue'

@description('NCRONTAB schedule of the bounded retention pass (UTC). Must equal settings.DEFAULT_RETENTION_SCHEDULE unless changed on purpose.')
param retentionSchedule string = '0 17 * * * *'

@description('NCRONTAB schedule of the Fleet gate follow-up (UTC): judges blocked gates again, lists each fleet\'s pending gates at the first run of each hour. Must equal settings.DEFAULT_FLEET_GATES_SCHEDULE unless changed on purpose.')
param fleetGatesSchedule string = '0 */5 * * * *'

@description('Most instances the Flex Consumption plan may scale out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
@description('Replication of the app\'s storage account (it holds the idempotency ledger); pick Standard_ZRS where the region has no geo pair.')
param storageSku string = 'Standard_GRS'

var tags = {
  'azd-env-name': environmentName
  application: 'aks-patch-pilot'
}
var token = toLower(uniqueString(subscription().id, environmentName, location))
var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'aks-events-deadletter'
// '/subscriptions/<id>' splits into 3 parts; '/subscriptions/<id>/resourceGroups/<name>' into 5.
var scopeSubscriptionIds = [for managedScope in managedScopes: toLower(split(managedScope, '/')[2])]
var scopeSubscriptionPaths = [for managedScope in managedScopes: '/subscriptions/${toLower(split(managedScope, '/')[2])}']
// union() keeps each element once.
var uniqueSubscriptionIds = union(scopeSubscriptionIds, [])
// A fleet ID '/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ContainerService/fleets/<name>'
// splits into 9 parts: the subscription is [2], the resource group [4], the name [8].
var fleetSubscriptionIds = [for fleetId in fleetIds: toLower(split(fleetId, '/')[2])]
var fleetSubscriptionPaths = [for fleetId in fleetIds: '/subscriptions/${toLower(split(fleetId, '/')[2])}']
var roleAssignableScopes = union(scopeSubscriptionPaths, fleetSubscriptionPaths, [subscription().id])
var apiAudience = empty(apiIdentifierUri) ? 'api://${apiClientId}' : apiIdentifierUri

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'patchpilot-identity'
  scope: rg
  params: {
    appIdentityName: 'id-${environmentName}-app'
    deliveryIdentityName: 'id-${environmentName}-events'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'patchpilot-monitoring'
  scope: rg
  params: {
    workspaceName: 'log-${environmentName}-${token}'
    appInsightsName: 'appi-${environmentName}-${token}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'patchpilot-storage'
  scope: rg
  params: {
    name: 'stpp${token}'
    location: location
    tags: tags
    skuName: storageSku
    appPrincipalId: identity.outputs.appPrincipalId
    deliveryPrincipalId: identity.outputs.deliveryPrincipalId
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
  }
}

module eventsTopic 'modules/events-topic.bicep' = {
  name: 'patchpilot-events-topic'
  scope: rg
  params: {
    name: 'evgt-${environmentName}-${token}'
    location: location
    tags: tags
    senderPrincipalId: identity.outputs.appPrincipalId
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'patchpilot-function-app'
  scope: rg
  params: {
    name: 'func-${environmentName}-${token}'
    planName: 'plan-${environmentName}-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.appIdentityId
    identityClientId: identity.outputs.appClientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    eventsEndpoint: eventsTopic.outputs.endpoint
    maximumInstanceCount: maximumInstanceCount
    policyPath: policyPath
    discovery: discovery
    staticClusters: staticClusters
    armDeadlineSeconds: armDeadlineSeconds
    noticeHours: noticeHours
    sweepSchedule: sweepSchedule
    windowsSchedule: windowsSchedule
    retentionSchedule: retentionSchedule
    fleetGatesSchedule: fleetGatesSchedule
    followFleetGates: !empty(fleetIds)
    mode: mode
    enableAuthentication: enableAuthentication
    apiClientId: apiClientId
    apiIdentifierUri: apiAudience
    alertsUseToken: enableAuthentication && !empty(apiObjectId)
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'patchpilot-alerts'
  scope: rg
  params: {
    namePrefix: environmentName
    location: location
    tags: tags
    appInsightsId: monitoring.outputs.appInsightsId
    alertEmail: alertEmail
    patchLagThresholdDays: patchLagThresholdDays
    // Like the Event Grid subscriptions, the webhook needs the deployed function.
    wireAlertWebhook: subscribeAksEvents
    functionAppName: functionApp.outputs.name
    functionHostName: functionApp.outputs.hostName
    alertFunctionName: functionApp.outputs.alertFunctionName
    alertRoute: functionApp.outputs.alertRoute
    apiObjectId: enableAuthentication ? apiObjectId : ''
    apiIdentifierUri: apiAudience
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'patchpilot-workbook'
  scope: rg
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    appInsightsId: monitoring.outputs.appInsightsId
  }
}

module roles 'modules/role-definitions.bicep' = {
  name: 'patchpilot-role-definitions'
  params: {
    environmentName: environmentName
    assignableScopes: roleAssignableScopes
  }
}

// The operator role (ARM writes on clusters) only at the scopes themselves.
module operatorOnSubscriptions 'modules/role-assignment-subscription.bicep' = [for (managedScope, i) in managedScopes: if (length(split(managedScope, '/')) == 3) {
  name: 'patchpilot-operator-sub-${i}'
  scope: subscription(split(managedScope, '/')[2])
  params: {
    principalId: identity.outputs.appPrincipalId
    roleDefinitionName: roles.outputs.operatorRoleName
    purpose: 'Patch Pilot: observe and upgrade the AKS clusters of this subscription'
  }
}]

module operatorOnResourceGroups 'modules/role-assignment-resource-group.bicep' = [for (managedScope, i) in managedScopes: if (length(split(managedScope, '/')) == 5) {
  name: 'patchpilot-operator-rg-${i}'
  scope: resourceGroup(split(managedScope, '/')[2], split(managedScope, '/')[4])
  params: {
    principalId: identity.outputs.appPrincipalId
    roleDefinitionName: roles.outputs.operatorRoleName
    purpose: 'Patch Pilot: observe and upgrade the AKS clusters of this resource group'
  }
}]

// The read-only region role on every subscription the scopes touch: Kubernetes
// versions and operation status live on subscription paths, Resource Graph above them.
module regionReaderOnSubscriptions 'modules/role-assignment-subscription.bicep' = [for (subscriptionId, i) in uniqueSubscriptionIds: {
  name: 'patchpilot-region-reader-${i}'
  scope: subscription(subscriptionId)
  params: {
    principalId: identity.outputs.appPrincipalId
    roleDefinitionName: roles.outputs.regionReaderRoleName
    purpose: 'Patch Pilot: read AKS region catalogues and operation status; query Resource Graph'
  }
}]

// The Fleet gate approver role on each fleet the policy names, on the fleet itself.
module fleetGateApprover 'modules/role-assignment-fleet.bicep' = [for (fleetId, i) in fleetIds: {
  name: 'patchpilot-fleet-gates-${i}'
  scope: resourceGroup(split(fleetId, '/')[2], split(fleetId, '/')[4])
  params: {
    fleetName: split(fleetId, '/')[8]
    principalId: identity.outputs.appPrincipalId
    roleDefinitionName: roles.outputs.fleetGateApproverRoleName
  }
}]

// Fleet gate events: one AKS Resources system topic per subscription (its source), so the
// module goes once per subscription, to the resource group of its first fleet; its
// subscription delivers the gates of every listed fleet to on_fleet_gate_event.
module fleetGateEvents 'modules/fleet-gate-events.bicep' = [for (fleetId, i) in (subscribeAksEvents ? fleetIds : []): if (indexOf(fleetSubscriptionIds, toLower(split(fleetId, '/')[2])) == i) {
  name: 'patchpilot-fleet-gate-events-${i}'
  scope: resourceGroup(split(fleetId, '/')[2], split(fleetId, '/')[4])
  params: {
    fleetIds: fleetIds
    tags: tags
    functionResourceId: functionApp.outputs.fleetGateFunctionId
    deliveryIdentityId: identity.outputs.deliveryIdentityId
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
  }
}]

// AKS's own maintenance announcements (AKS Communication Manager): one ContainerService
// Event Resources system topic per subscription the scopes touch, each in a resource
// group of its own there (docs/aks-maintenance.md).
module aksMaintenanceEvents 'modules/aks-maintenance-subscription.bicep' = [for (subscriptionId, i) in (subscribeAksEvents ? uniqueSubscriptionIds : []): {
  name: 'patchpilot-aks-maintenance-${i}'
  scope: subscription(subscriptionId)
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    functionResourceId: functionApp.outputs.maintenanceFunctionId
    deliveryIdentityId: identity.outputs.deliveryIdentityId
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
  }
}]

// One Event Grid system topic per cluster, in the cluster's resource group.
module aksEvents 'modules/aks-events.bicep' = [for (clusterId, i) in (subscribeAksEvents ? aksClusterIds : []): {
  name: 'patchpilot-aks-events-${i}'
  scope: resourceGroup(split(clusterId, '/')[2], split(clusterId, '/')[4])
  params: {
    clusterName: last(split(clusterId, '/'))
    tags: tags
    functionResourceId: functionApp.outputs.eventFunctionId
    deliveryIdentityId: identity.outputs.deliveryIdentityId
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
  }
}]

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output EVENTS_TOPIC_ENDPOINT string = eventsTopic.outputs.endpoint
output APP_IDENTITY_CLIENT_ID string = identity.outputs.appClientId
output OPERATOR_API_URL string = 'https://${functionApp.outputs.hostName}'
output OPERATOR_API_SCOPE string = '${apiAudience}/.default'
