"""Adapters: where Patch Pilot meets Azure (ARM, Resource Graph) and other I/O.

``arm`` observes and acts on AKS through ``azure-mgmt-containerservice`` with
one retry layer; ``discovery`` finds the fleet (Azure Resource Graph, or a
static list); ``live_fleet`` builds the planner's ``FleetState`` from live
observation; other adapters (such as the state store) sit beside them.
Nothing is imported here: the Azure SDK loads only when an
adapter module is imported, so a cold start that does not need ARM never pays
for it.
"""
