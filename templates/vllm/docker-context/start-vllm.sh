#!/bin/sh
# Start vLLM's OpenAI-compatible server on the model Azure ML mounts (written by scaffold).
#
# Azure mounts deployment.yml's model read-only at $AZUREML_MODEL_DIR/<folder> and sets
# AZUREML_MODEL_DIR; the other settings are deployment.yml's environment_variables:
#   MODEL_FOLDER            the model's folder under AZUREML_MODEL_DIR
#   SERVED_MODEL_NAME       the name requests use as "model"
#   MAX_MODEL_LEN           longest prompt + answer, in tokens
#   TENSOR_PARALLEL_SIZE    GPUs the model is split across
#   GPU_MEMORY_UTILIZATION  share of each GPU's memory vLLM may use
#   DTYPE                   auto, bfloat16, float16 or float32
#   EXTRA_VLLM_ARGS         more `vllm serve` flags, space-separated
# An empty value leaves vLLM's own default. vLLM listens on 0.0.0.0:8000 (the routes' port)
# and answers GET /health only once the model is loaded.
set -eu

model="${AZUREML_MODEL_DIR:-}/${MODEL_FOLDER:-model}"
if [ -z "${AZUREML_MODEL_DIR:-}" ] || [ ! -f "$model/config.json" ]; then
    echo "start-vllm.sh: no Hugging Face model (config.json) at '$model'." >&2
    echo "Check deployment.yml: model (Azure sets AZUREML_MODEL_DIR) and MODEL_FOLDER." >&2
    ls -la "${AZUREML_MODEL_DIR:-/var/azureml-app/azureml-models}" >&2 || true
    exit 2
fi

set -- "$model" --host 0.0.0.0 --port 8000
if [ -n "${SERVED_MODEL_NAME:-}" ]; then
    set -- "$@" --served-model-name "$SERVED_MODEL_NAME"
fi
if [ -n "${MAX_MODEL_LEN:-}" ]; then
    set -- "$@" --max-model-len "$MAX_MODEL_LEN"
fi
if [ -n "${TENSOR_PARALLEL_SIZE:-}" ]; then
    set -- "$@" --tensor-parallel-size "$TENSOR_PARALLEL_SIZE"
fi
if [ -n "${GPU_MEMORY_UTILIZATION:-}" ]; then
    set -- "$@" --gpu-memory-utilization "$GPU_MEMORY_UTILIZATION"
fi
if [ -n "${DTYPE:-}" ]; then
    set -- "$@" --dtype "$DTYPE"
fi

echo "start-vllm.sh: vllm serve $* ${EXTRA_VLLM_ARGS:-}" >&2
# EXTRA_VLLM_ARGS is a list of flags: split on spaces on purpose.
# shellcheck disable=SC2086
exec vllm serve "$@" ${EXTRA_VLLM_ARGS:-}
