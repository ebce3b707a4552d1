#!/usr/bin/env bash
# Build a systemd test-host image aistack-test/testhost:debianNN from Debian
# packages, without any registry: mmdebstrap -> docker import -> a Dockerfile
# layer (testhost/Dockerfile) on top.
#
# The package mirror comes from this machine's own apt sources, and this
# machine's extra CA certificates are added to the image, so a test host can
# reach exactly what the machine reaches. Nothing here names a mirror.
#
# Cached by content: the image carries a hash of every input (this script, the
# layer files, release, mirrors, CA certificates, package list) as a label;
# when it matches, nothing is built.
#
# A release written NN-docker (13-docker) builds aistack-test/testhost:debianNN-docker:
# that host with the distro's Docker packages already installed, the very
# list docker_engine installs there (read from roles/docker_engine/vars), and
# nothing configured. Scenarios that test what comes after Docker start from
# it and skip a minute of dpkg per host; docker_engine's own scenario and the
# local fleet start from the plain image, so the install path stays tested.
#
# Usage: build-testhost.sh 12|13|13-docker [more releases...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { printf '[testhost] %s\n' "$*" >&2; }
# shellcheck source=tests/harness/images/lib-images.sh
source "$here/lib-images.sh"

images_discover_mirror
mirror=$IMAGES_MIRROR
security=$IMAGES_SECURITY
# busybox-static: verify steps build a tiny image from it without any network.
packages=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,iproute2,procps,ca-certificates,gnupg,kmod,iptables,busybox-static
ca_files=$(ls /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)

# The Docker layer on top of a plain test host (release NN-docker).
build_docker_variant() {
  local release=$1 base_tag="aistack-test/testhost:debian$1" tag="aistack-test/testhost:debian$1-docker"
  local vars="$here/../../../roles/docker_engine/vars/Debian-$release.yml" packages key have old_id start
  packages=$(python3 - "$vars" <<'PY'
import sys
import yaml
v = yaml.safe_load(open(sys.argv[1]))
names = []
for key in ("prerequisite", "distro_engine", "distro_buildx", "distro_compose", "sdk"):
    names += v.get("__docker_engine_%s_packages" % key) or []
print(" ".join(names))
PY
)
  key=$( {
    cat "$0" "$here/testhost-docker/Dockerfile"
    docker image inspect -f '{{.Id}}' "$base_tag"
    echo "$packages"
  } | sha256sum | cut -c1-16)
  have=$(docker image inspect -f '{{ index .Config.Labels "aistack.test.key" }}' "$tag" 2>/dev/null || true)
  if [ "$have" = "$key" ]; then
    log "$tag is up to date ($key)"
    return 0
  fi
  old_id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  start=$(date +%s)
  log "building $tag: $base_tag + $packages"
  docker build -q --build-arg "BASE=$base_tag" --build-arg "PACKAGES=$packages" \
    --label "aistack.test.key=$key" -t "$tag" "$here/testhost-docker" >/dev/null
  if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
  log "built $tag ($key) in $(( $(date +%s) - start )) s, $(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1/1e6}')"
}

# The plain test host of one Debian release (12, 13).
build_plain() {
  local release=$1 codename tag key have old_id start base f
  local -a sources hooks
  codename=$(images_codename "$release")
  tag="aistack-test/testhost:debian$release"
  key=$( {
    cat "$0" "$here/lib-images.sh" "$here/testhost/Dockerfile" "$here/testhost/proc-sys-rw.service"
    echo "$release $mirror $security $packages"
    # shellcheck disable=SC2086  # one file name per word
    [ -z "$ca_files" ] || cat $ca_files
  } | sha256sum | cut -c1-16)
  have=$(docker image inspect -f '{{ index .Config.Labels "aistack.test.key" }}' "$tag" 2>/dev/null || true)
  old_id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  if [ "$have" = "$key" ]; then
    log "$tag is up to date ($key)"
    return 0
  fi
  command -v mmdebstrap >/dev/null || {
    log "installing mmdebstrap from Debian"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
  }
  start=$(date +%s)
  sources=("deb $mirror $codename main" "deb $mirror $codename-updates main")
  [ -z "$security" ] || sources+=("deb $security $codename-security main")
  hooks=()
  # Hooks run inside mmdebstrap, where "$1" is the new root: single quotes on purpose.
  # shellcheck disable=SC2016
  if [ -n "$ca_files" ]; then
    hooks+=(--customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"')
    for f in $ca_files; do
      hooks+=(--customize-hook="copy-in $f /usr/local/share/ca-certificates/")
    done
    hooks+=(--customize-hook='chroot "$1" update-ca-certificates >/dev/null')
  fi
  log "building $tag from Debian $codename (mmdebstrap)"
  base="aistack-test/testhost-rootfs:debian$release"
  # shellcheck disable=SC2016
  mmdebstrap --quiet --variant=minbase --include="$packages" \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    "${hooks[@]}" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb' \
    "$codename" - "${sources[@]}" \
    | docker import - "$base" >/dev/null
  docker build -q --build-arg "BASE=$base" --label "aistack.test.key=$key" \
    -t "$tag" "$here/testhost" >/dev/null
  docker image rm "$base" >/dev/null
  # The image this one replaced would linger untagged: remove it (unless in use).
  if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
  log "built $tag ($key) in $(( $(date +%s) - start )) s, $(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1/1e6}')"
}

# NN-docker needs NN first; each plain host is checked once however often it is named.
declare -A plain_done=()
for release in "$@"; do
  plain=${release%-docker}
  if [ -z "${plain_done[$plain]:-}" ]; then
    build_plain "$plain"
    plain_done[$plain]=1
  fi
  [ "$release" = "$plain" ] || build_docker_variant "$plain"
done
