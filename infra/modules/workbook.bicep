// An Azure Workbook on the app's Application Insights: fleet patch status from
// the telemetry the app exports (docs/telemetry.md): pools behind by ring, upgrades
// started, succeeded and failed, patch lag, the latest decision per cluster and
// pool with its reason, and the poison queue.

param environmentName string
param location string
param tags object
param appInsightsId string

var aiType = 'microsoft.insights/components'
var week = 604800000

var workbookContent = {
  version: 'Notebook/1.0'
  items: [
    {
      type: 1
      name: 'title'
      content: {
        json: '## AKS Patch Pilot: fleet patch status\nFrom the app\'s OpenTelemetry metrics and decision events. A pool is *behind* while its latest plan has an upgrade waiting.'
      }
    }
    {
      type: 3
      name: 'pools-behind'
      content: {
        version: 'KqlItem/1.0'
        title: 'Pools behind, by ring and OS (latest report)'
        query: 'customMetrics | where name == "patchpilot.pools.behind" | extend ring = tostring(customDimensions.ring), os = tostring(customDimensions.os) | summarize arg_max(timestamp, value) by ring, os | project ring, os, pools_behind = value | order by ring asc, os asc'
        size: 0
        queryType: 0
        resourceType: aiType
        visualization: 'table'
        timeContext: {
          durationMs: week
        }
      }
    }
    {
      type: 3
      name: 'upgrades'
      content: {
        version: 'KqlItem/1.0'
        title: 'Upgrades started, succeeded and failed per day'
        query: 'customMetrics | where name in ("patchpilot.upgrades.started", "patchpilot.upgrades.succeeded", "patchpilot.upgrades.failed") | summarize upgrades = sum(valueSum) by bin(timestamp, 1d), outcome = tostring(split(name, ".")[2])'
        size: 0
        queryType: 0
        resourceType: aiType
        visualization: 'barchart'
        timeContext: {
          durationMs: week
        }
      }
    }
    {
      type: 3
      name: 'patch-lag'
      content: {
        version: 'KqlItem/1.0'
        title: 'Patch lag: days from AKS offering a version or image to the pool running it'
        query: 'customMetrics | where name == "patchpilot.patch.lag" | extend os = tostring(customDimensions.os) | summarize pools = sum(valueCount), mean_days = round(sum(valueSum) / sum(valueCount), 1), worst_days = round(max(valueMax), 1) by os'
        size: 0
        queryType: 0
        resourceType: aiType
        visualization: 'table'
        timeContext: {
          durationMs: week
        }
      }
    }
    {
      type: 3
      name: 'decisions'
      content: {
        version: 'KqlItem/1.0'
        title: 'Latest decision per cluster, pool and kind, with its reason'
        query: 'traces | where message == "decision" | extend cluster = tostring(customDimensions.cluster), pool = tostring(customDimensions.pool), kind = tostring(customDimensions.kind) | summarize arg_max(timestamp, *) by cluster, pool, kind | project timestamp, cluster, pool, kind, current = tostring(customDimensions.current), target = tostring(customDimensions.target), status = tostring(customDimensions.status), not_before = tostring(customDimensions.not_before), ring = tostring(customDimensions.ring), reason = tostring(customDimensions.reason) | order by status asc, cluster asc'
        size: 0
        queryType: 0
        resourceType: aiType
        visualization: 'table'
        timeContext: {
          durationMs: week
        }
      }
    }
    {
      type: 3
      name: 'stalls'
      content: {
        version: 'KqlItem/1.0'
        title: 'Failures, pauses and poison messages'
        query: 'union (customMetrics | where name == "patchpilot.queue.poison" | project timestamp, what = "poison message", detail = tostring(customDimensions.queue)), (traces | where message has "NodePoolRollingFailed" or message startswith "paused" or message has "was poisoned" | project timestamp, what = "log", detail = message) | order by timestamp desc | take 100'
        size: 0
        queryType: 0
        resourceType: aiType
        visualization: 'table'
        timeContext: {
          durationMs: week
        }
      }
    }
    {
      type: 3
      name: 'arm-requests'
      content: {
        version: 'KqlItem/1.0'
        title: 'ARM requests by operation and answer'
        query: 'customMetrics | where name == "patchpilot.arm.requests" | summarize requests = sum(valueSum) by operation = tostring(customDimensions.operation), status = tostring(customDimensions.status) | order by requests desc'
        size: 0
        queryType: 0
        resourceType: aiType
        visualization: 'table'
        timeContext: {
          durationMs: week
        }
      }
    }
  ]
  fallbackResourceIds: [
    appInsightsId
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, environmentName, 'patchpilot-fleet-workbook')
  location: location
  tags: union(tags, {
    'hidden-title': 'AKS Patch Pilot: fleet patch status (${environmentName})'
  })
  kind: 'shared'
  properties: {
    displayName: 'AKS Patch Pilot: fleet patch status (${environmentName})'
    category: 'workbook'
    sourceId: appInsightsId
    serializedData: string(workbookContent)
  }
}

output id string = workbook.id
