// The Function App on the Flex Consumption plan: Python 3.11, HTTPS only, no FTP and
// no basic publishing credentials, a user-assigned identity for everything, and the
// app settings the code reads (infra/README.md lists them, and which local ones
// stay out of Azure; tests/unit/test_infra_contract.py checks both lists).
//
// App Service authentication (authsettingsV2) is on by default: Microsoft Entra ID
// validates every caller's token for Patch Pilot's app registration (its app roles,
// patchpilot/api/roles.py, decide what each caller may do) and answers 401 before
// the code runs. The platform then sets WEBSITE_AUTH_ENABLED=True, the one signal
// the code trusts identity headers on. The alert webhook keeps its own function key
// (its `default` key under sites/functions, which alerts.bicep wires into the action
// group): it opens that function and nothing else, unlike a host key.

param name string
param planName string
param location string
param tags object

@description('Resource ID of the app\'s user-assigned identity.')
param identityId string

@description('Client ID of the app\'s user-assigned identity.')
param identityClientId string

param storageAccountName string
param deploymentContainerName string
param appInsightsConnectionString string

@description('Endpoint of the Event Grid topic for Patch Pilot\'s own events.')
param eventsEndpoint string

param maximumInstanceCount int
param policyPath string
param discovery string
param staticClusters string
param armDeadlineSeconds string
param noticeHours string
param sweepSchedule string
param windowsSchedule string
param retentionSchedule string

@description('NCRONTAB schedule of the Fleet gate follow-up (functions/fleet_events.py).')
param fleetGatesSchedule string = '0 */5 * * * *'

@description('Whether the policy names Fleet Manager fleets (main.bicep: fleetIds not empty); without any, the Fleet gate follow-up is disabled.')
param followFleetGates bool = true

// shadow: observe, plan, announce and record what would have started, with no ARM write;
// act: start upgrades. A first deployment earns trust in shadow (docs/shadow.md).
@allowed([
  'act'
  'shadow'
])
param mode string = 'shadow'

@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Turn on App Service authentication (Microsoft Entra ID) for the app.')
param enableAuthentication bool = true

@description('Application (client) ID of Patch Pilot\'s app registration (docs/deploy.md, "Who may do what").')
param apiClientId string

@description('Application ID URI of that app registration (api://<client id> unless changed): the audience of its tokens.')
param apiIdentifierUri string

@description('Azure Monitor delivers alerts with an Entra token (secure webhook), so Easy Auth checks the alert route too.')
param alertsUseToken bool = false

// The Event Grid trigger in functions/aks_events.py (@bp.function_name).
var eventFunctionName = 'on_aks_event'
// The Fleet Manager gate events' Event Grid trigger in functions/fleet_events.py.
var fleetGateFunctionName = 'on_fleet_gate_event'
// AKS Communication Manager's announcements' trigger in functions/aks_maintenance_events.py.
var maintenanceFunctionName = 'on_aks_maintenance_event'
// The alert webhook's HTTP trigger in functions/http_api.py and its route.
var alertFunctionName = 'api_alert'
var alertRoute = '/api/alerts'
var storageSuffix = environment().suffixes.storage
// Sovereign clouds have their own ARM endpoint; the token scope follows it.
var armEndpoint = environment().resourceManager

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption depends on the region; the app is stateless and its state lives in geo-redundant storage
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: its callers (Event Grid, Azure Monitor webhooks, azd) present no client certificate; people sign in with Entra ID (authsettingsV2), the alert webhook has its own function key
  // checkov:skip=CKV_AZURE_222: Event Grid delivery, Azure Monitor webhooks and azd deployment reach the app over its public endpoint (no VNet in this template); people sign in with Entra ID (authsettingsV2), the alert webhook has its own function key
  // checkov:skip=CKV_AZURE_213: Flex Consumption replaces unhealthy instances itself; invocation failures alert through Application Insights (alerts.bicep)
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales instances on demand; there is no fixed instance count
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'patchpilot'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: 'https://${storageAccountName}.blob.${storageSuffix}/${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      cors: {
        allowedOrigins: []
      }
      appSettings: [
        // The Functions host's storage, identity-based: the Functions host and
        // Patch Pilot's table store and reconcile queue (settings.py STORAGE_*).
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storageAccountName
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: 'https://${storageAccountName}.blob.${storageSuffix}'
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: 'https://${storageAccountName}.queue.${storageSuffix}'
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: 'https://${storageAccountName}.table.${storageSuffix}'
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          name: 'AzureWebJobsFeatureFlags'
          value: 'EnableWorkerIndexing'
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsightsConnectionString
        }
        {
          name: 'PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY'
          value: 'true'
        }
        // DefaultAzureCredential picks the user-assigned identity by its client ID.
        {
          name: 'AZURE_CLIENT_ID'
          value: identityClientId
        }
        {
          name: 'PATCHPILOT_POLICY_PATH'
          value: policyPath
        }
        {
          name: 'PATCHPILOT_STORE'
          value: 'tables'
        }
        {
          name: 'PATCHPILOT_ARM_ENDPOINT'
          value: armEndpoint
        }
        {
          name: 'PATCHPILOT_ARM_AUDIENCE'
          value: '${armEndpoint}.default'
        }
        {
          name: 'PATCHPILOT_DISCOVERY'
          value: discovery
        }
        {
          name: 'PATCHPILOT_STATIC_CLUSTERS'
          value: staticClusters
        }
        {
          name: 'PATCHPILOT_ARM_DEADLINE_SECONDS'
          value: armDeadlineSeconds
        }
        {
          name: 'PATCHPILOT_EVENTS_ENDPOINT'
          value: eventsEndpoint
        }
        {
          name: 'PATCHPILOT_NOTICE_HOURS'
          value: noticeHours
        }
        {
          name: 'PATCHPILOT_MODE'
          value: mode
        }
        // Read by the Functions host: the timer triggers name them as %SETTING%.
        {
          name: 'PATCHPILOT_SWEEP_SCHEDULE'
          value: sweepSchedule
        }
        {
          name: 'PATCHPILOT_WINDOWS_SCHEDULE'
          value: windowsSchedule
        }
        {
          name: 'PATCHPILOT_RETENTION_SCHEDULE'
          value: retentionSchedule
        }
        {
          name: 'PATCHPILOT_FLEET_GATES_SCHEDULE'
          value: fleetGatesSchedule
        }
        // Azure's switch for one function ("How to disable functions in Azure Functions"):
        // with no fleet to follow, its timer would fire 288 times a day for nothing.
        {
          name: 'AzureWebJobs.follow_fleet_gates.Disabled'
          value: followFleetGates ? 'false' : 'true'
        }
      ]
    }
  }
}

resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// Easy Auth in front of every route: no valid Entra token for the app, 401. The alert
// route is left to its function key unless Azure Monitor sends a token (secure webhook).
// Always deployed, on unless enableAuthentication is false (then identity headers are
// ignored and people's routes need a function key again).
resource authentication 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: checkov reads the v1 authsettings shape (properties.enabled); this is authsettingsV2, on through platform.enabled, which test_infra_contract.py checks
  // checkov:skip=CKV_AZURE_63: checkov applies site-wide checks to this resource, which holds only the authentication settings; logs go to Application Insights (the site's own settings)
  // checkov:skip=CKV_AZURE_65: checkov applies site-wide checks to this resource, which holds only the authentication settings; detailed errors are the site's setting
  // checkov:skip=CKV_AZURE_66: checkov applies site-wide checks to this resource, which holds only the authentication settings; failed request tracing is the site's setting
  // checkov:skip=CKV_AZURE_80: checkov applies site-wide checks to this resource, which holds only the authentication settings; the app runs Python, not .NET
  // checkov:skip=CKV_AZURE_88: checkov applies site-wide checks to this resource, which holds only the authentication settings; Flex Consumption keeps its package in blob storage
  // checkov:skip=CKV_AZURE_222: checkov applies site-wide checks to this resource, which holds only the authentication settings; the site's own skip says why its endpoint is public
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: enableAuthentication
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      // Event Grid's AzureFunction delivery carries the extension's system key, no Entra
      // token: behind Easy Auth it is answered 401 (MicrosoftDocs/azure-docs#48341).
      excludedPaths: alertsUseToken ? [
        '/runtime/webhooks/eventgrid'
      ] : [
        alertRoute
        '/runtime/webhooks/eventgrid'
      ]
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: apiClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            apiIdentifierUri
            apiClientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

output id string = site.id
output name string = site.name
output eventFunctionId string = '${site.id}/functions/${eventFunctionName}'
output fleetGateFunctionId string = '${site.id}/functions/${fleetGateFunctionName}'
output maintenanceFunctionId string = '${site.id}/functions/${maintenanceFunctionName}'
output hostName string = site.properties.defaultHostName
output alertRoute string = alertRoute
output alertFunctionName string = alertFunctionName
output authenticationEnabled bool = enableAuthentication
