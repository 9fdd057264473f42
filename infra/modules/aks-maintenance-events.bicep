// AKS Communication Manager's announcements, delivered to the app's maintenance function:
// one subscription's Azure Resource Notifications - ContainerService Event Resources
// system topic and its event subscription to exactly the event type Patch Pilot handles
// (patchpilot/domain/aks_maintenance.py MAINTENANCE_EVENT_TYPES). Deployed by
// aks-maintenance-subscription.bicep into a resource group of that subscription.
//
// Facts (MicrosoftDocs azure-docs, event-schema-containerservice-resources.md and
// subscribe-to-resource-notifications-containerservice-events.md; docs/aks-maintenance.md):
// the topic type is Microsoft.ResourceNotifications.ContainerServiceEventResources, its
// source the subscription, its location global; events come at subscription scope only
// (Patch Pilot ignores clusters outside the policy's scopes); creating the subscription
// needs Microsoft.ResourceNotifications/systemTopics/subscribeToContainerServiceEventResources/action.
// Events are hints (the sweep reads the same announcements from Resource Graph): delivery
// retries for a day, then the event is dead-lettered to a blob container.
targetScope = 'resourceGroup'

param tags object

@description('Resource ID of the maintenance function: <site id>/functions/on_aks_maintenance_event.')
param functionResourceId string

@description('Resource ID of the identity Event Grid dead-letters with.')
param deliveryIdentityId string

param deadLetterStorageAccountId string
param deadLetterContainerName string

var maintenanceEventTypes = [
  'Microsoft.ResourceNotifications.ContainerServiceEventResources.ScheduledEventEmitted'
]

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: 'evgst-aks-scheduled-events-patchpilot'
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${deliveryIdentityId}': {}
    }
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.ResourceNotifications.ContainerServiceEventResources'
  }
}

resource toPatchPilot 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'patchpilot-aks-maintenance'
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
      includedEventTypes: maintenanceEventTypes
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
