// Alert rules that page someone when patching stalls, and the action group they use.
// docs/deploy.md says what each one means and what to do. The log alerts read the
// telemetry the app exports (docs/telemetry.md): custom metrics in customMetrics,
// log records in traces, function invocations in requests.

param namePrefix string
param location string
param tags object
param appInsightsId string

@description('Where alert emails go; empty leaves the action group without a receiver.')
param alertEmail string

@description('Days from AKS offering a version to a pool running it before the patch-age alert fires.')
param patchLagThresholdDays int

@description('Wire the action group to Patch Pilot\'s alert webhook (the function exists only after the first deploy).')
param wireAlertWebhook bool = false

@description('The Function App, its host name, the alert function and its route.')
param functionAppName string = ''
param functionHostName string = ''
param alertFunctionName string = 'api_alert'
param alertRoute string = '/api/alerts'

@description('Secure webhook: object ID of Patch Pilot\'s app registration (empty: the key alone).')
param apiObjectId string = ''

@description('Secure webhook: the app registration\'s Application ID URI (the token\'s audience).')
param apiIdentifierUri string = ''

var useAadAuth = !empty(apiObjectId)

// The alert function's own `default` key opens POST /api/alerts and no other function.
resource alertFunction 'Microsoft.Web/sites/functions@2024-04-01' existing = {
  name: '${functionAppName}/${alertFunctionName}'
}

// Azure Monitor puts the key in the URL (action groups send no custom headers); with the
// secure webhook it also sends an Entra token for the app, whose app role is PatchPilot.Alert.
// ARM evaluates only the taken branch of the webhookReceivers condition, so the key is
// read only once the function exists.
var alertWebhook = {
  name: 'patchpilot-alert-gate'
  serviceUri: 'https://${functionHostName}${alertRoute}?code=${alertFunction.listKeys().default}'
  useCommonAlertSchema: true
  useAadAuth: useAadAuth
  objectId: useAadAuth ? apiObjectId : null
  identifierUri: useAadAuth ? apiIdentifierUri : null
  tenantId: useAadAuth ? tenant().tenantId : null
}

var upgradeFailedQuery = '''
union
  (customMetrics
    | where name == "patchpilot.upgrades.failed"
    | project timestamp, failures = valueSum),
  (traces
    | where message has "NodePoolRollingFailed"
    | project timestamp, failures = 1.0)
| summarize failures = sum(failures)
'''

var poisonQuery = '''
customMetrics
| where name == "patchpilot.queue.poison"
| summarize poisoned = sum(valueSum)
'''

// The rule compares worst_days with the threshold, one alert per OS.
var patchLagQuery = '''
customMetrics
| where name == "patchpilot.patch.lag"
| extend os = tostring(customDimensions.os)
| summarize worst_days = max(valueMax) by os
'''

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${namePrefix}-patchpilot'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'patchpilot'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'patchpilot-operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
    webhookReceivers: wireAlertWebhook ? [
      alertWebhook
    ] : []
  }
}

resource upgradeFailed 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: 'alert-${namePrefix}-upgrade-failed'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Patch Pilot: an AKS upgrade failed'
    description: 'An upgrade Patch Pilot started failed part way (NodePoolRollingFailed, or the operation ended Failed). The cluster is paused until a person resumes it.'
    severity: 1
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    scopes: [
      appInsightsId
    ]
    criteria: {
      allOf: [
        {
          query: upgradeFailedQuery
          timeAggregation: 'Total'
          metricMeasureColumn: 'failures'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource poisonMessages 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: 'alert-${namePrefix}-poison-messages'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Patch Pilot: reconcile messages in the poison queue'
    description: 'A cluster\'s reconcile failed on every delivery (host.json maxDequeueCount) and its message went to reconcile-poison: that cluster is not being reconciled until the cause is fixed.'
    severity: 2
    enabled: true
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    scopes: [
      appInsightsId
    ]
    criteria: {
      allOf: [
        {
          query: poisonQuery
          timeAggregation: 'Total'
          metricMeasureColumn: 'poisoned'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource patchLag 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: 'alert-${namePrefix}-patch-lag'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Patch Pilot: a pool took too long to get its patch'
    description: 'A node pool ran a Kubernetes version or node image more than ${patchLagThresholdDays} days after AKS offered it (patchpilot.patch.lag).'
    severity: 3
    enabled: true
    evaluationFrequency: 'PT1H'
    windowSize: 'P1D'
    scopes: [
      appInsightsId
    ]
    criteria: {
      allOf: [
        {
          query: patchLagQuery
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'worst_days'
          dimensions: [
            {
              name: 'os'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: patchLagThresholdDays
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource functionFailures 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${namePrefix}-function-failures'
  location: 'global'
  tags: tags
  properties: {
    description: 'Patch Pilot: function invocations failed (Application Insights requests/failed): an event, a timer or a reconcile raised.'
    severity: 2
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'failed-requests'
          metricNamespace: 'microsoft.insights/components'
          metricName: 'requests/failed'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

output actionGroupId string = actionGroup.id
