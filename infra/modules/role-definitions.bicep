// Patch Pilot's three custom roles, their actions loaded from role-actions.json, which
// is generated from the one permissions table in the code:
//   python -m patchpilot.adapters.arm.permissions > infra/modules/role-actions.json
// (tests/unit/test_infra_permissions.py checks the file against the table, and the
// table against the ARM operations the adapter calls). Nothing else is granted.
targetScope = 'subscription'

param environmentName string

@description('Subscriptions the roles may be assigned in (role definitions are tenant objects).')
param assignableScopes array

var roleActions = loadJsonContent('role-actions.json')

resource operator 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, environmentName, 'patchpilot-aks-operator')
  properties: {
    roleName: 'Patch Pilot AKS upgrade operator (${environmentName})'
    description: 'Observe AKS clusters, their pools, upgrade profiles and maintenance configurations; start and abort Kubernetes and node image upgrades. Assigned at the scopes Patch Pilot manages.'
    type: 'CustomRole'
    permissions: [
      {
        actions: roleActions.cluster
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

resource regionReader 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, environmentName, 'patchpilot-region-reader')
  properties: {
    roleName: 'Patch Pilot AKS region reader (${environmentName})'
    description: 'Read the Kubernetes versions AKS offers in a region and the status of AKS operations; query Azure Resource Graph. Assigned on each subscription Patch Pilot manages.'
    type: 'CustomRole'
    permissions: [
      {
        actions: roleActions.subscription
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

resource fleetGateApprover 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, environmentName, 'patchpilot-fleet-gate-approver')
  properties: {
    roleName: 'Patch Pilot Fleet gate approver (${environmentName})'
    description: 'Read Azure Kubernetes Fleet Manager gates and update runs; approve a gate (set its state to Completed). Assigned on each fleet whose gates Patch Pilot approves.'
    type: 'CustomRole'
    permissions: [
      {
        actions: roleActions.fleet
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

output operatorRoleName string = operator.name
output regionReaderRoleName string = regionReader.name
output fleetGateApproverRoleName string = fleetGateApprover.name
