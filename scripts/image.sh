#!/usr/bin/env bash
# Build the evolink-mock container image (the top-level Containerfile) with podman or docker,
# and check one.
#
#   scripts/image.sh build [--tag TAG] [--base IMAGE]   # default: evolink-mock:VERSION and :latest
#   scripts/image.sh smoke [--tag TAG]                  # start it, create a task, stop it
#
# build makes the wheels of the project and its dependencies here (build/image-wheels/), then
# builds the image from them offline. Its base is --base, else python:3.11-slim when it is
# present or can be pulled, else a minimal Debian with Python 3.11 that mmdebstrap makes from
# Debian's packages (no docs, man pages, locales or package lists), kept as
# localhost/evolink-mock-base:bookworm-KEY, KEY a hash of what makes it: built once per machine.
#
# Environment (all optional):
#   EVOLINK_IMAGE_ENGINE   podman or docker (default: podman if installed, else docker)
#   EVOLINK_IMAGE_PYTHON   the python whose pip makes the wheels (default python3); its version
#                          must be the base's (3.11 for both default bases)
#   EVOLINK_IMAGE_MIRROR   the Debian mirror for mmdebstrap (default http://deb.debian.org/debian)
#   EVOLINK_IMAGE_SOURCE   the image's org.opencontainers.image.source label
#   CONTAINERS_CONF        podman's configuration; when you have none (neither this nor
#                          /etc/containers/containers.conf nor ~/.config/containers/...), podman
#                          runs with scripts/containers.conf, which keeps this shell's ulimits
#                          (some sandboxes refuse to raise them, so no container starts)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${EVOLINK_IMAGE_PYTHON:-python3}"
mirror="${EVOLINK_IMAGE_MIRROR:-http://deb.debian.org/debian}"
official_base="docker.io/library/python:3.11-slim"

say() { echo "image.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# sets $cli, the engine's command
pick_engine() {
    local chosen="${EVOLINK_IMAGE_ENGINE:-}"
    if [ -z "$chosen" ]; then
        if command -v podman >/dev/null; then
            chosen=podman
        elif command -v docker >/dev/null; then
            chosen=docker
        else
            die "neither podman nor docker is installed: install one (Debian: apt-get install podman runc mmdebstrap)"
        fi
    fi
    command -v "$chosen" >/dev/null || die "$chosen is not installed (EVOLINK_IMAGE_ENGINE=$chosen)"
    if [ "$chosen" = podman ] && [ -z "${CONTAINERS_CONF:-}" ] &&
        [ ! -e /etc/containers/containers.conf ] &&
        [ ! -e "${XDG_CONFIG_HOME:-$HOME/.config}/containers/containers.conf" ]; then
        export CONTAINERS_CONF="$root/scripts/containers.conf"
    fi
    cli="$chosen"
}

version() {
    sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$root/mockserver/_version.py"
}

# The Debian base: the smallest set that runs evolink-mock (Essential, apt and Python 3.11 with
# venv), /usr merged without the usrmerge package (which would bring perl in).
debian_base() {
    local cli="$1"
    local args=(
        --variant=minbase
        --include=python3.11,python3-venv
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
        --dpkgopt='path-exclude=/usr/share/doc/*'
        --dpkgopt='path-include=/usr/share/doc/*/copyright'
        --dpkgopt='path-exclude=/usr/share/man/*'
        --dpkgopt='path-exclude=/usr/share/info/*'
        --dpkgopt='path-exclude=/usr/share/locale/*'
        --dpkgopt='path-exclude=/usr/share/lintian/*'
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/* "$1"/var/log/*'
        --format=tar
        bookworm
    )
    local sources=(
        "deb $mirror bookworm main"
        "deb $mirror bookworm-updates main"
        "deb ${mirror%/debian}/debian-security bookworm-security main"
    )
    local key
    key="$(printf '%s\n' "${args[@]}" "${sources[@]}" | sha256sum | cut -c1-12)"
    local image="localhost/evolink-mock-base:bookworm-$key"
    if "$cli" image inspect "$image" >/dev/null 2>&1; then
        echo "$image"
        return
    fi
    command -v mmdebstrap >/dev/null ||
        die "cannot pull $official_base and mmdebstrap is not installed: apt-get install mmdebstrap, or pass --base IMAGE"
    say "building the base $image with mmdebstrap (once per machine)"
    local tarball
    tarball="$(mktemp --suffix=.tar)"
    # shellcheck disable=SC2064
    trap "rm -f '$tarball'" EXIT
    mmdebstrap --quiet "${args[@]}" "$tarball" "${sources[@]}" >&2
    "$cli" import --quiet "$tarball" "$image" >/dev/null
    rm -f "$tarball"
    echo "$image"
}

choose_base() {
    local cli="$1"
    if "$cli" image inspect "$official_base" >/dev/null 2>&1 ||
        timeout 60 "$cli" pull --quiet "$official_base" >/dev/null 2>&1; then
        echo "$official_base"
    else
        say "cannot pull $official_base: using a Debian base instead"
        debian_base "$cli"
    fi
}

build() {
    local tag="" base=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
            --base) base="${2:?--base needs a value}"; shift 2 ;;
            *) die "build: unknown argument $1 (build [--tag TAG] [--base IMAGE])" ;;
        esac
    done
    local cli
    pick_engine
    local names=("$tag")
    [ -n "$tag" ] || names=("evolink-mock:$(version)" evolink-mock:latest)
    local tags=()
    for name in "${names[@]}"; do tags+=(--tag "$name"); done
    [ -n "$base" ] || base="$(choose_base "$cli")"
    local wheels="$root/build/image-wheels"
    say "making the wheels in build/image-wheels with $python"
    rm -rf "$wheels"
    # pip reads the dependencies' markers for the Python making the wheels: redis-py needs
    # async-timeout below Python 3.11.3 (Debian bookworm's is 3.11.2), so it comes too
    "$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$wheels" \
        "$root[redis]" "async-timeout>=4.0.3"
    "$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' \
        >"$wheels/python-version"
    local format=()
    # podman's default (OCI) format has no HEALTHCHECK
    [ "$cli" = podman ] && format=(--format docker)
    say "building ${names[*]} on $base with $cli"
    "$cli" build "${format[@]}" --layers=false --file "$root/Containerfile" "${tags[@]}" \
        --build-arg "BASE=$base" \
        --build-arg "VERSION=$(version)" \
        --build-arg "SOURCE=${EVOLINK_IMAGE_SOURCE:-}" \
        "$root" >&2
    say "built ${names[*]}"
}

smoke() {
    local tag=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
            *) die "smoke: unknown argument $1 (smoke [--tag TAG])" ;;
        esac
    done
    local cli
    pick_engine
    tag="${tag:-evolink-mock:latest}"
    local port
    port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    local name="evolink-mock-smoke-$port"
    "$cli" run -d --rm --name "$name" -p "127.0.0.1:$port:8000" \
        -e EVOLINK_MOCK_ADMIN_TOKEN=smoke "$tag" \
        serve --host 0.0.0.0 --port 8000 --clock virtual >/dev/null
    # shellcheck disable=SC2064
    trap "'$cli' rm -f '$name' >/dev/null 2>&1 || true" EXIT
    "$python" - "http://127.0.0.1:$port" <<'PY'
import json, sys, time, urllib.request

base = sys.argv[1]
deadline = time.monotonic() + 30
while True:
    try:
        urllib.request.urlopen(f"{base}/_mock/health", timeout=2)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"image.sh: smoke: {base}/_mock/health did not answer in 30 s")
        time.sleep(0.2)
create = urllib.request.Request(
    f"{base}/v1/videos/generations",
    data=json.dumps({"model": "sora-2-pro-preview", "prompt": "a cat"}).encode(),
    headers={"Authorization": "Bearer sk-smoke", "Content-Type": "application/json"},
)
task = json.load(urllib.request.urlopen(create, timeout=10))
print(f"image.sh: smoke: {base} created {task['id']}", file=sys.stderr)
PY
    "$cli" stop -t 10 "$name" >/dev/null
    say "smoke: $tag serves"
}

case "${1:-}" in
    build) shift; build "$@" ;;
    smoke) shift; smoke "$@" ;;
    *) die "usage: scripts/image.sh build [--tag TAG] [--base IMAGE] | smoke [--tag TAG]" ;;
esac
