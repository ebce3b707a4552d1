#!/usr/bin/env bash
# TEST FIXTURES for the nvidia_toolkit role, never shipped (galaxy.yml leaves
# out tests/). No GPU is reachable here, so the GPU path runs on a synthetic one:
#
#   aistack-test/nvidia-repo:fixture   busybox httpd serving NVIDIA's repository
#       layout: /gpgkey (a throwaway signing key, ASCII-armoured) and
#       /stable/deb/<arch>/ (flat, Release/InRelease/Release.gpg signed) with
#       fixture packages of two toolkit versions (1.17.2-1, 1.17.3-1):
#       libnvidia-container1, libnvidia-container-tools,
#       nvidia-container-toolkit-base (nvidia-ctk, nvidia-container-runtime)
#       and nvidia-container-toolkit (nvidia-container-runtime-hook); the
#       programs are the scripts in nvidia/ (runtime -> runc, cdi generate ->
#       a spec mapping /dev/null as /dev/nvidia<index> for each GPU). Also
#       /fixtures/aistack-fixture-nvidia-driver.deb: the synthetic driver of
#       four GPUs, an nvidia-smi (nvidia/nvidia-smi) printing the four_gpus
#       output of tests/unit/plugins/module_utils/fixtures/nvidia_smi for the
#       GPUs whose /dev/nvidia<index> exists, and a postinst that makes those
#       nodes (null devices) on the host. GPU 2 has two MIG devices, there
#       when a test makes their capability nodes
#       (/dev/nvidia-caps/nvidia-cap-2-<mig>): nvidia-smi then reports MIG
#       mode and lists them, and nvidia-ctk writes a CDI device <gpu>:<mig>.
#   aistack-test/cuda:fixture   a stand-in for an NVIDIA CUDA runtime base
#       (app_image_cuda_base): aistack-test/python:3.13-slim plus NVIDIA's
#       environment variables.
#
# Cached by content: each image carries a hash of its inputs as a label, and a
# second run with the same inputs builds nothing.
#
# Usage: build-nvidia-fixtures.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/nvidia
smi_case=$here/../../unit/plugins/module_utils/fixtures/nvidia_smi/four_gpus
log() { printf '[nvidia-fixtures] %s\n' "$*" >&2; }

repo_tag=aistack-test/nvidia-repo:fixture
cuda_tag=aistack-test/cuda:fixture
busybox=aistack-test/busybox:latest
python=aistack-test/python:3.13-slim
versions=(1.17.2-1 1.17.3-1)
driver_version=$(sed -n 's/.*Driver Version: *\([0-9.]*\).*/\1/p' "$smi_case/summary.txt" | head -n1)

label() { docker image inspect -f '{{ index .Config.Labels "aistack.test.key" }}' "$1" 2>/dev/null || true; }

docker image inspect "$busybox" >/dev/null 2>&1 || "$here/build-busybox.sh" "$busybox"
docker image inspect "$python" >/dev/null 2>&1 || "$here/build-base-images.sh" python

# --------------------------------------------------------------- repository
repo_key=$( {
  cat "$0" "$fixtures"/nvidia-* "$fixtures/Dockerfile.repo" "$smi_case"/*
  echo "${versions[*]}"
  docker image inspect -f '{{.Id}}' "$busybox"
} | sha256sum | cut -c1-16)

build_repo() {
  local work arch gnupg www pool version
  work=$(mktemp -d)
  # shellcheck disable=SC2064  # expand now: work is local
  trap "rm -rf '$work'" RETURN
  arch=$(dpkg --print-architecture)
  www=$work/www
  pool=$www/stable/deb/$arch
  mkdir -p "$pool" "$www/fixtures"

  # pkg NAME VERSION DEPENDS DESCRIPTION [FILE:DEST]...
  pkg() {
    local name=$1 version=$2 depends=$3 description=$4 root
    shift 4
    root=$work/pkg/$name-$version
    mkdir -p "$root/DEBIAN" "$root/usr/share/doc/$name"
    {
      printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: aistack.deploy tests <tests@aistack.invalid>\n' "$name" "$version"
      printf 'Section: utils\nPriority: optional\n'
      [ -z "$depends" ] || printf 'Depends: %s\n' "$depends"
      printf 'Description: %s\n TEST FIXTURE of aistack.deploy, never shipped; no NVIDIA software inside.\n' "$description"
    } > "$root/DEBIAN/control"
    printf 'TEST FIXTURE of aistack.deploy (tests/harness/images/build-nvidia-fixtures.sh).\n' > "$root/usr/share/doc/$name/README"
    local spec src dest
    for spec in "$@"; do
      src=${spec%%:*}
      dest=${spec#*:}
      mkdir -p "$root$(dirname "$dest")"
      sed "s/@VERSION@/${version%-*}/" "$src" > "$root$dest"
      chmod 0755 "$root$dest"
    done
    dpkg-deb --root-owner-group -Zgzip --build "$root" "$pool/${name}_${version}_all.deb" >/dev/null
  }

  for version in "${versions[@]}"; do
    pkg libnvidia-container1 "$version" "" "NVIDIA container runtime library (fixture)"
    pkg libnvidia-container-tools "$version" "libnvidia-container1 (= $version)" \
      "NVIDIA container runtime library, command-line tools (fixture)"
    pkg nvidia-container-toolkit-base "$version" "" "NVIDIA Container Toolkit base (fixture)" \
      "$fixtures/nvidia-ctk:/usr/bin/nvidia-ctk" \
      "$fixtures/nvidia-container-runtime:/usr/bin/nvidia-container-runtime"
    pkg nvidia-container-toolkit "$version" \
      "nvidia-container-toolkit-base (= $version), libnvidia-container-tools (= $version), runc" \
      "NVIDIA Container Toolkit (fixture)" \
      "$fixtures/nvidia-container-runtime-hook:/usr/bin/nvidia-container-runtime-hook"
  done

  # The fixture driver: nvidia-smi with the four_gpus case put in, and a
  # postinst that makes a device node per GPU; outside the repository (the
  # role never installs drivers; prepare.yml does).
  awk -v query="$smi_case/query.txt" -v summary="$smi_case/summary.txt" '
    $0 == "@QUERY@" { while ((getline line < query) > 0) print line; next }
    $0 == "@SUMMARY@" { while ((getline line < summary) > 0) print line; next }
    { print }' "$fixtures/nvidia-smi" > "$work/nvidia-smi"
  sed "s/@COUNT@/$(grep -c . "$smi_case/query.txt")/g" "$fixtures/nvidia-driver-postinst" > "$work/postinst"
  pkg aistack-fixture-nvidia-driver "$driver_version-1" "" "nvidia-smi of four GPUs (fixture)" \
    "$work/nvidia-smi:/usr/bin/nvidia-smi" "$work/postinst:/DEBIAN/postinst"
  mv "$pool/aistack-fixture-nvidia-driver_${driver_version}-1_all.deb" "$www/fixtures/aistack-fixture-nvidia-driver.deb"

  # Flat repository metadata, signed by a throwaway key.
  (cd "$pool" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null > Packages && gzip -9nk Packages)
  {
    printf 'Origin: aistack test fixture\nLabel: nvidia-container-toolkit fixture\n'
    printf 'Date: %s\nArchitectures: %s all\n' "$(LC_ALL=C date -u -d @0 '+%a, %d %b %Y %H:%M:%S UTC')" "$arch"
    printf 'MD5Sum:\n'
    for f in Packages Packages.gz; do printf ' %s %s %s\n' "$(md5sum < "$pool/$f" | cut -d' ' -f1)" "$(stat -c %s "$pool/$f")" "$f"; done
    printf 'SHA256:\n'
    for f in Packages Packages.gz; do printf ' %s %s %s\n' "$(sha256sum < "$pool/$f" | cut -d' ' -f1)" "$(stat -c %s "$pool/$f")" "$f"; done
  } > "$pool/Release"
  gnupg=$work/gnupg
  mkdir -m 0700 "$gnupg"
  GNUPGHOME=$gnupg gpg --batch --quiet --passphrase '' \
    --quick-gen-key 'aistack.deploy test fixture repository <fixture@aistack.invalid>' ed25519 sign never 2>/dev/null
  GNUPGHOME=$gnupg gpg --batch --quiet --armor --export > "$www/gpgkey"
  GNUPGHOME=$gnupg gpg --batch --quiet --clearsign -o "$pool/InRelease" "$pool/Release"
  GNUPGHOME=$gnupg gpg --batch --quiet --armor --detach-sign -o "$pool/Release.gpg" "$pool/Release"
  GNUPGHOME=$gnupg gpgconf --kill all 2>/dev/null || true

  cp "$fixtures/Dockerfile.repo" "$work/Dockerfile"
  docker build -q --pull=false --build-arg "BASE=$busybox" --label "aistack.test.key=$repo_key" \
    -t "$repo_tag" "$work" >/dev/null
}

if [ "$(label "$repo_tag")" = "$repo_key" ]; then
  log "$repo_tag is up to date ($repo_key)"
else
  start=$(date +%s)
  previous=$(docker image inspect -f '{{.Id}}' "$repo_tag" 2>/dev/null || true)
  build_repo
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$repo_tag")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
  log "built $repo_tag ($repo_key) in $(( $(date +%s) - start )) s"
fi

# ------------------------------------------------------------ CUDA stand-in
cuda_key=$( { cat "$0" "$fixtures/Dockerfile.cuda"; docker image inspect -f '{{.Id}}' "$python"; } | sha256sum | cut -c1-16)
if [ "$(label "$cuda_tag")" = "$cuda_key" ]; then
  log "$cuda_tag is up to date ($cuda_key)"
else
  previous=$(docker image inspect -f '{{.Id}}' "$cuda_tag" 2>/dev/null || true)
  docker build -q --pull=false --build-arg "BASE=$python" --label "aistack.test.key=$cuda_key" \
    -t "$cuda_tag" -f "$fixtures/Dockerfile.cuda" "$fixtures" >/dev/null
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$cuda_tag")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
  log "built $cuda_tag ($cuda_key)"
fi
