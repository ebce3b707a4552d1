#!/usr/bin/env bash
# Build aistack-test/registry:2, a container registry (Debian's docker-registry
# package: Distribution 2.8, the program of the official registry image), from
# Debian packages without any registry (no pull, ever):
#
#   mmdebstrap of Debian 12 (docker-registry, apache2-utils for htpasswd)
#   -> docker import -> the layer in registry/ beside this script (config, user, entrypoint)
#
# The integration test of app_image's push and pull paths runs it on
# 127.0.0.1:<free port>; the engine trusts plain-HTTP registries on
# 127.0.0.0/8. The mirror comes from this machine's apt sources and its extra
# CA certificates go into the image (lib-images.sh). Cached by content: the
# image carries a hash of its inputs as a label; when it matches, nothing is
# built, so a second run takes a second.
#
# Usage: build-registry-image.sh [TAG]   (default: aistack-test/registry:2)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/harness/images/lib-images.sh
source "$here/lib-images.sh"
log() { printf '[registry-image] %s\n' "$*" >&2; }

tag=${1:-aistack-test/registry:2}
release=12
packages=docker-registry,apache2-utils,ca-certificates

images_discover_mirror
key=$(printf '%s %s\n' "$release" "$packages" \
      | images_cache_key "$0" "$here/lib-images.sh" "$here"/registry/*)
if images_is_current "$tag" "$key"; then
  log "$tag is up to date ($key)"
  exit 0
fi
images_ensure_mmdebstrap
start=$(date +%s)
previous=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
rootfs="aistack-test/rootfs-registry:build"
log "building $tag from Debian $release (mmdebstrap: $packages)"
# The service user gets UID/GID 999 before the package's maintainer script would
# pick a dynamic one, so the layer can name it by number.
images_rootfs "$release" "$rootfs" "$packages" \
  --essential-hook="echo 'docker-registry:x:999:999:Docker Registry:/var/lib/docker-registry:/usr/sbin/nologin' >> \"\$1/etc/passwd\" && echo 'docker-registry:x:999:' >> \"\$1/etc/group\""
docker build -q --pull=false --build-arg "BASE=$rootfs" --label "aistack.test.key=$key" \
  -t "$tag" "$here/registry" >/dev/null
docker image rm "$rootfs" >/dev/null
# The image this one replaces would stay behind untagged: remove it (unless a container still uses it).
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
  docker image rm "$previous" >/dev/null 2>&1 || true
fi
log "built $tag ($key) in $(( $(date +%s) - start )) s, $(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1/1e6}')"
