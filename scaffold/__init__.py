"""scaffold: generate, run, smoke-test and update Azure ML custom-container endpoint projects.

The library API is import-light: heavy dependencies (copier, docker, azure-ai-ml) are
imported only inside the functions that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
