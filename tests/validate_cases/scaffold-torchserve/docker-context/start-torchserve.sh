#!/bin/sh
# Starts TorchServe with the model Azure mounts under AZUREML_MODEL_DIR.
set -eu
MODEL_STORE="${AZUREML_MODEL_DIR}/model"
exec torchserve --foreground --disable-token-auth \
  --ts-config /home/model-server/config.properties \
  --model-store "$MODEL_STORE" \
  --models "${TORCHSERVE_MODELS}"
