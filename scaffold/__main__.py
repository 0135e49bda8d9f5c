"""`python -m scaffold` (the same entry point as the `scaffold` console script)."""

from __future__ import annotations

import sys

from scaffold.cli import main

# main() without arguments reads sys.argv and, once the command has finished, keeps
# SIGINT/SIGTERM from killing the process during the interpreter's shutdown.
sys.exit(main())
