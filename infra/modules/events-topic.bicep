// The Event Grid custom topic for Patch Pilot's own CloudEvents (UpgradeScheduled,
// UpgradeStarted, ...; patchpilot/adapters/publisher.py): PATCHPILOT_EVENTS_ENDPOINT.
// Publishing is Entra ID only: local (key) auth is off and the app's identity is
// EventGrid Data Sender on this topic alone.

param name string
param location string
param tags object

@description('Principal ID of the Function App\'s identity.')
param senderPrincipalId string

var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7'

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  // checkov:skip=CKV_AZURE_193: the Flex Consumption app publishes over the public endpoint (no VNet in this template); key auth is off, so only Entra ID principals with EventGrid Data Sender can publish
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, senderPrincipalId, eventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: senderPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output id string = topic.id
output endpoint string = topic.properties.endpoint
