// One cluster's AKS events, delivered to the app's Event Grid function: an Event
// Grid system topic on the cluster and one subscription to exactly the event types
// Patch Pilot handles (patchpilot/domain/events.py HANDLED_EVENT_TYPES). Deployed
// into the cluster's resource group, in the cluster's region.
//
// Events are hints (the sweep re-reads everything): delivery retries for a day,
// then the event is dead-lettered to a blob container, with the delivery identity.
targetScope = 'resourceGroup'

@description('Name of the managed cluster (in this resource group).')
param clusterName string

param tags object

@description('Resource ID of the Event Grid function: <site id>/functions/on_aks_event.')
param functionResourceId string

@description('Resource ID of the identity Event Grid dead-letters with.')
param deliveryIdentityId string

param deadLetterStorageAccountId string
param deadLetterContainerName string

var handledEventTypes = [
  'Microsoft.ContainerService.NewKubernetesVersionAvailable'
  'Microsoft.ContainerService.ClusterSupportEnding'
  'Microsoft.ContainerService.ClusterSupportEnded'
  'Microsoft.ContainerService.NodePoolRollingStarted'
  'Microsoft.ContainerService.NodePoolRollingSucceeded'
  'Microsoft.ContainerService.NodePoolRollingFailed'
]

resource cluster 'Microsoft.ContainerService/managedClusters@2024-02-01' existing = {
  name: clusterName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: 'evgst-${clusterName}-patchpilot'
  location: cluster.location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${deliveryIdentityId}': {}
    }
  }
  properties: {
    source: cluster.id
    topicType: 'Microsoft.ContainerService.ManagedClusters'
  }
}

resource toPatchPilot 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'patchpilot'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: functionResourceId
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: handledEventTypes
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: deliveryIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output systemTopicId string = systemTopic.id
