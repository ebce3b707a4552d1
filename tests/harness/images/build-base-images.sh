#!/usr/bin/env bash
# Build the images the app_image templates and the app stacks start from, from
# Debian packages, without any registry (no pull, ever):
#
#   python      aistack-test/python:3.13-slim   Debian 13's python3, shaped like python:*-slim
#   python3.11  aistack-test/python:3.11-slim   the same from Debian 12
#   postgres    aistack-test/postgres:17        Debian 13's postgresql-17, official-image entrypoint
#   redis       aistack-test/redis:7            Debian 12's redis-server (7.0)
#   nginx       aistack-test/nginx:1.26         Debian 13's nginx (1.26), for the nginx_proxy role
#
# mmdebstrap -> docker import -> a small Dockerfile layer (base/<name>/ beside this script).
# The mirror comes from this machine's apt sources and the machine's extra CA
# certificates go into every image (lib-images.sh). Cached by content: each
# image carries a hash of its inputs as a label; when it matches, nothing is
# built, so a second run takes seconds.
#
# Usage: build-base-images.sh [python|python3.11|postgres|redis|nginx]...   (default: python postgres redis)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/harness/images/lib-images.sh
source "$here/lib-images.sh"
log() { printf '[base-images] %s\n' "$*" >&2; }

# name -> "release tag packages layer-dir build-args"
spec() {
  case "$1" in
    python) echo "13 aistack-test/python:3.13-slim python3,python3-venv,ca-certificates python PYTHON_VERSION=3.13" ;;
    python3.11) echo "12 aistack-test/python:3.11-slim python3,python3-venv,ca-certificates python PYTHON_VERSION=3.11" ;;
    postgres) echo "13 aistack-test/postgres:17 postgresql-17,ca-certificates postgres PG_MAJOR=17" ;;
    redis) echo "12 aistack-test/redis:7 redis-server,ca-certificates redis -" ;;
    nginx) echo "13 aistack-test/nginx:1.26 nginx,ca-certificates nginx -" ;;
    *) log "unknown image '$1' (python python3.11 postgres redis nginx)"; exit 2 ;;
  esac
}

images_discover_mirror
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(python postgres redis)

for name in "${names[@]}"; do
  read -r release tag packages layer buildarg <<<"$(spec "$name")"
  key=$(printf '%s %s %s\n' "$release" "$packages" "$buildarg" \
        | images_cache_key "$0" "$here/lib-images.sh" "$here/base/$layer"/*)
  if images_is_current "$tag" "$key"; then
    log "$tag is up to date ($key)"
    continue
  fi
  images_ensure_mmdebstrap
  start=$(date +%s)
  previous=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  rootfs="aistack-test/rootfs-$name:build"
  extra=()
  if [ "$layer" = postgres ] || [ "$layer" = redis ]; then
    # The service user gets UID/GID 999, as in the official images, before the
    # package's maintainer scripts would pick a dynamic one; data volumes made
    # for the official images fit these too.
    home=/var/lib/$layer
    [ "$layer" != postgres ] || home=/var/lib/postgresql
    extra+=(--essential-hook="echo '$layer:x:999:999::$home:/bin/sh' >> \"\$1/etc/passwd\" && echo '$layer:x:999:' >> \"\$1/etc/group\"")
  fi
  if [ "$layer" = postgres ]; then
    # No "main" cluster from the package's postinst: the entrypoint runs
    # initdb on the (empty) data volume, as the official image does.
    # shellcheck disable=SC2016
    extra+=(--essential-hook='mkdir -p "$1/etc/postgresql-common/createcluster.d" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.d/aistack.conf"'
            --customize-hook='rm -rf "$1"/var/lib/postgresql/[0-9]* "$1"/etc/postgresql/[0-9]*')
  fi
  log "building $tag from Debian $release (mmdebstrap: $packages)"
  images_rootfs "$release" "$rootfs" "$packages" "${extra[@]}"
  args=()
  [ "$buildarg" = - ] || args+=(--build-arg "$buildarg")
  docker build -q --pull=false "${args[@]}" --build-arg "BASE=$rootfs" --label "aistack.test.key=$key" \
    -t "$tag" "$here/base/$layer" >/dev/null
  docker image rm "$rootfs" >/dev/null
  # The image this one replaces would stay behind untagged: remove it (unless a container still uses it).
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
  log "built $tag ($key) in $(( $(date +%s) - start )) s, $(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1/1e6}')"
done
