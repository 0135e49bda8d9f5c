#!/bin/sh
# build-mar.sh -- rebuild model/half_plus_two.mar (the archive TorchServe serves).
#
# Run from anywhere:   sh model-src/build-mar.sh
# Needs python with torch, and torch-model-archiver, e.g. in a virtual environment:
#   python3 -m venv .venv && .venv/bin/pip install torch torch-model-archiver==0.12.0
#   PATH="$PWD/.venv/bin:$PATH" sh model-src/build-mar.sh
# (PYTHON=/path/to/python picks the interpreter for make_model.py.)
#
# Steps: model-src/make_model.py writes the weights to a temporary folder, then
# torch-model-archiver packs them with model-src/handler.py into model/<name>.mar.
# Rebuild after every change to handler.py or the model, then `scaffold run .`.
# The model name in the .mar (MODEL_NAME) is the one in the URL /predictions/<name>; if you
# change it, also change TORCHSERVE_MODELS and the routes in deployment.yml.
set -eu

MODEL_NAME=${MODEL_NAME:-half_plus_two}
MODEL_VERSION=${MODEL_VERSION:-1.0}
PYTHON=${PYTHON:-python3}

here=$(cd "$(dirname "$0")" && pwd)
project=$(dirname "$here")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v torch-model-archiver >/dev/null 2>&1 || {
    echo "build-mar.sh: torch-model-archiver not found; pip install torch-model-archiver==0.12.0" >&2
    exit 1
}

"$PYTHON" "$here/make_model.py" --out "$work/$MODEL_NAME.json"
mkdir -p "$project/model"
torch-model-archiver \
    --model-name "$MODEL_NAME" \
    --version "$MODEL_VERSION" \
    --serialized-file "$work/$MODEL_NAME.json" \
    --handler "$here/handler.py" \
    --export-path "$project/model" \
    --force
echo "wrote $project/model/$MODEL_NAME.mar"
