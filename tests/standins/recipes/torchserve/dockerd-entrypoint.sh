#!/bin/bash
# Emulates /usr/local/bin/dockerd-entrypoint.sh of pytorch/torchserve (0.12): `serve` starts
# TorchServe in the background, anything else is eval'ed (so $VARS in an exec-form CMD
# expand); the container is then kept alive by tail.
set -e

if [[ "$1" = "serve" ]]; then
    shift 1
    torchserve --start --ts-config /home/model-server/config.properties --disable-token-auth
else
    eval "$@"
fi

# prevent docker exit
tail -f /dev/null
