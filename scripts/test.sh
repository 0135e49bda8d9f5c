#!/usr/bin/env bash
# The whole test suite on a fresh machine: real Docker, real servers, real git and copier.
# --strict (or CI=true) makes any skipped test fail the run. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
. "$ROOT/scripts/bootstrap.sh"

strict=()
if [ "${1:-}" = "--strict" ]; then
  strict=(--strict-skips)
  shift
fi

# TensorFlow (1.6 GB) lives in its own venv: only the TF Serving SavedModel test uses it.
TF_VENV="${SCAFFOLD_TF_VENV:-$ROOT/.venv-tf}"
if [ ! -x "$TF_VENV/bin/python" ] || ! "$TF_VENV/bin/python" -c 'import tensorflow' 2>/dev/null; then
  echo "test: installing tensorflow-cpu 2.18.1 into $TF_VENV (one-off, 0.5-2 min)" >&2
  python3 -m venv "$TF_VENV"
  "$TF_VENV/bin/pip" install -q "tensorflow-cpu==2.18.1"
fi
export SCAFFOLD_TF_PYTHON="$TF_VENV/bin/python"

cd "$ROOT"
echo "test: building stand-in base images (cached between runs)" >&2
python tests/standins/build.py base plumber minimal mlflow torchserve triton vllm >&2
# One pytest-xdist worker per CPU (SCAFFOLD_TEST_WORKERS overrides; 0: none), each test file
# on one worker (its module fixtures and images are built once).
workers="${SCAFFOLD_TEST_WORKERS:-auto}"
exec python -m pytest "${strict[@]}" -n "$workers" --dist loadfile -p no:cacheprovider "$@"
