// The Function App on the Flex Consumption plan: Python 3.11, HTTPS only, no FTP and
// no basic publishing credentials, a user-assigned identity for everything, and the
// app settings the code reads (infra/README.md lists them, and which local ones
// stay out of Azure; tests/unit/test_infra_contract.py checks both lists).

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

@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

// The Event Grid trigger in functions/aks_events.py (@bp.function_name).
var eventFunctionName = 'on_aks_event'
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
  // checkov:skip=CKV_AZURE_17: its callers (Event Grid, Azure Monitor webhooks, azd) present no client certificate; HTTP functions need a function key
  // checkov:skip=CKV_AZURE_222: Event Grid delivery, Azure Monitor webhooks and azd deployment reach the app over its public endpoint (no VNet in this template); HTTP functions need a function key
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

output id string = site.id
output name string = site.name
output eventFunctionId string = '${site.id}/functions/${eventFunctionName}'
