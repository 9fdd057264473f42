// One custom role assignment on the resource group this module is deployed to.
targetScope = 'resourceGroup'

param principalId string

@description('The role definition\'s name (its GUID); the ID is built in this subscription.')
param roleDefinitionName string

@description('Why the assignment exists (shown in the portal).')
param purpose string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, roleDefinitionName)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: purpose
  }
}
