"""The azmlinfsrv (minimal inference server) contract: port 5001, score.py with
init()/run(), workers (shared with mlflow in _azmlinfsrv)."""

from __future__ import annotations

from scaffold.validate.contracts._azmlinfsrv import check

__all__ = ["check"]
