"""`python -m patchpilot.demo`: the demo command without the `patchpilot` entry point."""

import sys

from patchpilot.demo.cli import main

sys.exit(main())
