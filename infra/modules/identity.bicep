// The two user-assigned identities: the app's (ARM, storage, Event Grid publishing)
// and Event Grid's delivery identity (dead-lettering only), kept apart so that the
// system topics on the clusters never hold the app's permissions.

@description('Name of the Function App\'s identity.')
param appIdentityName string

@description('Name of the identity Event Grid dead-letters with.')
param deliveryIdentityName string

param location string
param tags object

resource app 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: appIdentityName
  location: location
  tags: tags
}

resource delivery 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: deliveryIdentityName
  location: location
  tags: tags
}

output appIdentityId string = app.id
output appPrincipalId string = app.properties.principalId
output appClientId string = app.properties.clientId
output deliveryIdentityId string = delivery.id
output deliveryPrincipalId string = delivery.properties.principalId
