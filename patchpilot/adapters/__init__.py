"""Adapters: where Patch Pilot meets Azure (ARM, Resource Graph) and other I/O.

``arm`` observes and acts on AKS through ``azure-mgmt-containerservice`` with
one retry layer; ``discovery`` finds the fleet (Azure Resource Graph, or a
static list); other adapters (such as the state store) sit beside them. The
use cases that compose them (``plan --live``'s survey too) are in
:mod:`patchpilot.service`.
Nothing is imported here: the Azure SDK loads only when an
adapter module is imported, so a cold start that does not need ARM never pays
for it.
"""
