// One managed subscription's AKS maintenance announcements: a resource group for the
// system topic (a subscription-scope scope may name no resource group of its own), and
// the topic with its subscription to the app (aks-maintenance-events.bicep).
targetScope = 'subscription'

param environmentName string
param location string
param tags object
param functionResourceId string
param deliveryIdentityId string
param deadLetterStorageAccountId string
param deadLetterContainerName string

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}-aks-notices'
  location: location
  tags: tags
}

module events 'aks-maintenance-events.bicep' = {
  name: 'patchpilot-aks-maintenance-events'
  scope: group
  params: {
    tags: tags
    functionResourceId: functionResourceId
    deliveryIdentityId: deliveryIdentityId
    deadLetterStorageAccountId: deadLetterStorageAccountId
    deadLetterContainerName: deadLetterContainerName
  }
}
