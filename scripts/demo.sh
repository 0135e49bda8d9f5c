#!/usr/bin/env bash
# The main job on a fresh machine: generate an R Plumber project and run it the way Azure ML
# would (build, mount, probe, smoke-test). No registry is reachable here, so the official
# rstudio/plumber base image is replaced by a local stand-in with real R + plumber.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
. "$ROOT/scripts/bootstrap.sh"

server="${1:-plumber}"
base_image="$(python "$ROOT/tests/standins/build.py" "$server" | cut -d= -f2)"
work="$(mktemp -d)"
trap 'scaffold clean "$work/my-endpoint" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scaffold new --server "$server" --defaults --base-image "$base_image" "$work/my-endpoint"
scaffold run "$work/my-endpoint"
