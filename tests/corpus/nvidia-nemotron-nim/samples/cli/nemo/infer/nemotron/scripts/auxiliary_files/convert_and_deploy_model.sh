#!/bin/bash
export AZUREML_MODEL_DIR=$1
export NUM_GPUS="$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)"
nemollm_inference_ms --model nemotron --openai_port="9999" --nemo_port="9998" --num_gpus=${NUM_GPUS}
