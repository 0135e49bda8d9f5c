#!/bin/sh
# start-torchserve.sh -- the container's entry point (ENTRYPOINT in the Dockerfile).
#
# Serves the model archives (.mar) that Azure ML mounts, with TorchServe in the foreground.
#   model store  TORCHSERVE_MODEL_STORE, default $AZUREML_MODEL_DIR/model (deployment.yml's
#                model.path is ./model and Azure keeps the folder name under AZUREML_MODEL_DIR)
#   models       TORCHSERVE_MODELS: space-separated name=file.mar entries (default
#                half_plus_two=half_plus_two.mar); <name> is the URL segment of
#                /predictions/<name>. ALL serves every .mar in the store.
#   config       TS_CONFIG_FILE, default config.properties next to this script
#   logging      TORCHSERVE_LOG_CONFIG, default log4j2.xml next to this script (stdout only)
# Extra arguments (docker run <image> --option ...) are passed on to torchserve.
#
# Why not simply `exec torchserve --foreground ...`: torchserve is a Python launcher that
# starts java and waits for it. It installs no SIGTERM handler, so as PID 1 (Azure runs the
# container without an init process) it ignores the SIGTERM of a stop or scale-in until the
# SIGKILL, and killed on its own it leaves java running. This script stays PID 1 instead:
# on SIGTERM/SIGINT it runs `torchserve --stop` (which stops java) and exits when TorchServe
# has exited; if TorchServe dies by itself, the script exits non-zero so the container
# restarts.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

fail() {
    echo "start-torchserve.sh: ERROR: $*" >&2
    exit 1
}

# Names of the entries of folder $1, space-separated, for error messages.
contents() {
    (
        set +f
        names=""
        for entry in "$1"/* "$1"/.[!.]*; do
            [ -e "$entry" ] && names="$names ${entry##*/}"
        done
        if [ -n "$names" ]; then echo "${names# }"; else echo "nothing"; fi
    )
}

if [ -n "${TORCHSERVE_MODEL_STORE:-}" ]; then
    store=$TORCHSERVE_MODEL_STORE
elif [ -n "${AZUREML_MODEL_DIR:-}" ]; then
    store=$AZUREML_MODEL_DIR/model
else
    fail "neither AZUREML_MODEL_DIR (set by Azure ML when the deployment has a model) nor TORCHSERVE_MODEL_STORE (a folder of .mar files) is set: nothing to serve"
fi
models=${TORCHSERVE_MODELS:-half_plus_two=half_plus_two.mar}
config=${TS_CONFIG_FILE:-$here/config.properties}
log_config=${TORCHSERVE_LOG_CONFIG:-$here/log4j2.xml}

[ -d "$store" ] || fail "model store $store does not exist (is the model mounted? with AZUREML_MODEL_DIR the .mar files must be in a folder named 'model', deployment.yml model.path ./model)"
found=""
for archive in "$store"/*.mar; do
    if [ -f "$archive" ]; then
        found=yes
        break
    fi
done
[ -n "$found" ] || fail "no .mar archive in the model store $store (it holds: $(contents "$store")); build one with model-src/build-mar.sh"

set -f # TORCHSERVE_MODELS is split on spaces below; never glob-expand it
[ -n "$(echo "$models" | tr -d ' ')" ] || fail "TORCHSERVE_MODELS is empty; set it to name=file.mar (e.g. half_plus_two=half_plus_two.mar)"
for spec in $models; do
    case $spec in
        ALL | *://*) continue ;; # every .mar in the store, or a URL: TorchServe checks those
        *=*) archive=${spec#*=} ;;
        *) archive=$spec ;;
    esac
    [ -f "$store/$archive" ] || fail "TORCHSERVE_MODELS names $archive, which is not in the model store $store (it holds: $(contents "$store"))"
done
[ -f "$config" ] || fail "TorchServe config $config not found (TS_CONFIG_FILE)"
[ -f "$log_config" ] || fail "log4j2 config $log_config not found (TORCHSERVE_LOG_CONFIG)"

echo "start-torchserve.sh: serving $models from $store (config $config)"
# $models is unquoted on purpose: each name=file.mar entry becomes its own argument.
# shellcheck disable=SC2086
torchserve --start --foreground --ncs --disable-token-auth \
    --ts-config "$config" --log-config "$log_config" \
    --model-store "$store" --models $models "$@" &
launcher=$!

stopping=""
# shellcheck disable=SC2329 # called by the trap below
stop() {
    stopping=yes
    echo "start-torchserve.sh: stopping TorchServe"
    torchserve --stop >/dev/null 2>&1 || kill -TERM "$launcher" 2>/dev/null || true
}
trap stop TERM INT

status=0
wait "$launcher" || status=$?
# A trapped signal interrupts `wait`: keep waiting until the launcher (and java) are gone.
while kill -0 "$launcher" 2>/dev/null; do
    status=0
    wait "$launcher" || status=$?
done
if [ -z "$stopping" ]; then
    echo "start-torchserve.sh: ERROR: TorchServe exited unexpectedly (status $status); see the log above" >&2
    [ "$status" -ne 0 ] || status=1
fi
exit "$status"
