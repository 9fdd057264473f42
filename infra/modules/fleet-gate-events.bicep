// Fleet Manager's gate events, delivered to the app's gate function: the subscription's
// Azure Resource Notifications - AKS Resources system topic and one event subscription
// to exactly the gate event types Patch Pilot handles
// (patchpilot/domain/fleet_gates.py GATE_EVENT_TYPES), for the fleets it approves for.
// Deployed into a resource group of the fleets' subscription (main.bicep: the first
// fleet's), once per subscription.
//
// Facts (Microsoft Learn, "Azure Resource Notifications - AKS Resources events in Azure
// Event Grid" and "Automate Azure Kubernetes Fleet Manager Approval Gates with Event
// Grid Events"): the topic type is Microsoft.ResourceNotifications.AKSResources, its
// source the subscription, its location global; events are emitted at subscription
// scope only, so the subscription filters on the gate's ID (the event's subject) to
// the fleets named here; creating the subscription needs
// Microsoft.ResourceNotifications/systemTopics/subscribeToAKSResources/action besides
// Event Grid's own permissions. Only one such topic may exist in a subscription: where
// one exists already, add this event subscription to it instead (docs/fleet-gates.md).
//
// Events are hints (the follow-up timer lists each fleet's pending gates hourly):
// delivery retries for a day, then the event is dead-lettered to a blob container.
targetScope = 'resourceGroup'

@description('Fleet resource IDs whose gates Patch Pilot approves (the policy\'s fleet_gates.fleets).')
param fleetIds array

param tags object

@description('Resource ID of the gate function: <site id>/functions/on_fleet_gate_event.')
param functionResourceId string

@description('Resource ID of the identity Event Grid dead-letters with.')
param deliveryIdentityId string

param deadLetterStorageAccountId string
param deadLetterContainerName string

var gateEventTypes = [
  'Microsoft.ResourceNotifications.AKSResources.FleetGateCreated'
  'Microsoft.ResourceNotifications.AKSResources.FleetGateUpdated'
  'Microsoft.ResourceNotifications.AKSResources.FleetGateDeleted'
]
// A gate's ID (the subject) starts with its fleet's ID.
var gatePrefixes = [for fleetId in fleetIds: '${fleetId}/gates/']

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: 'evgst-aks-resources-patchpilot'
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
    topicType: 'Microsoft.ResourceNotifications.AKSResources'
  }
}

resource toPatchPilot 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'patchpilot-fleet-gates'
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
      includedEventTypes: gateEventTypes
      advancedFilters: [
        {
          operatorType: 'StringBeginsWith'
          key: 'subject'
          values: gatePrefixes
        }
      ]
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
