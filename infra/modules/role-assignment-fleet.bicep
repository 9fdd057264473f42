// The Fleet gate approver role on one Azure Kubernetes Fleet Manager fleet (the resource
// itself, not its resource group): Patch Pilot reads the fleet's gates and update runs
// and approves its gates, and touches no other fleet (docs/fleet-gates.md).
targetScope = 'resourceGroup'

@description('Name of the fleet (in this resource group).')
param fleetName string

param principalId string

@description('The role definition\'s name (its GUID); the ID is built in this subscription.')
param roleDefinitionName string

resource fleet 'Microsoft.ContainerService/fleets@2025-03-01' existing = {
  name: fleetName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(fleet.id, principalId, roleDefinitionName)
  scope: fleet
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Patch Pilot: approve this fleet\'s update run gates when its own gates allow'
  }
}
