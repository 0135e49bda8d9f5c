#!/usr/bin/env bash
# Prepare a fresh Debian/Ubuntu machine for scaffold's demo and tests, idempotently:
# system packages (Docker Engine, debootstrap, git, the wrk and hey load engines), a running
# dockerd, and .venv with scaffold installed in editable mode with its dev extras. Sourced by
# demo.sh and test.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SCAFFOLD_VENV:-$ROOT/.venv}"
export DOCKER_BUILDKIT=0

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

need_packages=()
command -v dockerd >/dev/null 2>&1 || need_packages+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_packages+=(debootstrap)
command -v git >/dev/null 2>&1 || need_packages+=(git)
# Git LFS: `scaffold new --large-files lfs` and its tests (tests/test_largefiles.py).
git lfs version >/dev/null 2>&1 || need_packages+=(git-lfs)
# Compiled load engines for `scaffold loadtest` (its tests drive both; the benchmark compares
# scaffold's figures with plain wrk's).
command -v wrk >/dev/null 2>&1 || need_packages+=(wrk)
command -v hey >/dev/null 2>&1 || need_packages+=(hey)
python3 -c 'import ensurepip, venv' 2>/dev/null || need_packages+=(python3-venv)
if [ "${#need_packages[@]}" -gt 0 ]; then
  echo "bootstrap: installing ${need_packages[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${need_packages[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "bootstrap: starting dockerd" >&2
  as_root sh -c 'setsid dockerd >/var/log/scaffold-dockerd.log 2>&1 < /dev/null &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "bootstrap: dockerd did not start; see /var/log/scaffold-dockerd.log" >&2; exit 1; }
fi

if [ ! -x "$VENV/bin/scaffold" ] || [ "$ROOT/pyproject.toml" -nt "$VENV/.installed" ]; then
  echo "bootstrap: installing scaffold into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q -e "${ROOT}[dev]"
  touch "$VENV/.installed"
fi
export PATH="$VENV/bin:$PATH"
