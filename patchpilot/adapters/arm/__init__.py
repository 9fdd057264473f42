"""The ARM adapter: observe and act on AKS clusters through the real Azure SDK.

Modules: ``client`` (SDK clients per subscription, credentials), ``retry``
(the one retry layer), ``errors`` (Azure SDK exceptions to Patch Pilot's),
``catalog_cache`` (what a region offers, read once per sweep), ``observe``
(ARM JSON to the planner's ``ClusterState`` and the posture snapshot),
``actions`` (start upgrades and aborts without waiting), ``failures`` (why a
rollout failed) and ``gateway`` (the entry point, which refuses anything
outside the policy's scopes before a request is sent). Nothing is imported
here, so importing the package stays cheap.
"""
