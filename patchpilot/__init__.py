"""AKS Patch Pilot: keeps AKS fleets patched inside safe windows.

The package is layered (see DESIGN.md): ``domain`` is pure planning logic,
``adapters`` talk to Azure, ``service`` holds the use cases, and ``cli`` is the
command-line entry point. Nothing heavy is imported here, so importing a
submodule stays cheap for Azure Functions cold starts.
"""

__version__ = "0.1.0"
