// Application Insights on a Log Analytics workspace: the Functions host and the
// Python worker export their OpenTelemetry traces, metrics and logs here
// (APPLICATIONINSIGHTS_CONNECTION_STRING, PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY).

param workspaceName string
param appInsightsName string
param location string
param tags object

@description('Days the workspace keeps telemetry.')
@minValue(30)
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
  }
}

output appInsightsId string = appInsights.id
output appInsightsConnectionString string = appInsights.properties.ConnectionString
output workspaceId string = workspace.id
