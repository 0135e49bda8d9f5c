#!/bin/bash
# Emulates /opt/nvidia/nvidia_entrypoint.sh of nvcr.io/nvidia/tritonserver: print a banner,
# then run the command (a shell when there is none).
set -e
echo "== Triton Inference Server (scaffold stand-in, ${TRITON_SERVER_VERSION}, CPU only) =="
if [ "$#" -eq 0 ]; then
    exec /bin/bash
fi
exec "$@"
