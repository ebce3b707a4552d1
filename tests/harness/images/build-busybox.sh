#!/usr/bin/env bash
# Build aistack-test/busybox:latest, a ~2 MB image with sh, httpd, wget and nc,
# from Debian's busybox-static package: no registry, no pull.
# Cached by content: the image carries the hash of its inputs as a label, and a
# second run with the same package and recipe does nothing.
set -euo pipefail
log() { printf '[busybox] %s\n' "$*" >&2; }

tag=${1:-aistack-test/busybox:latest}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

if ! apt-get download busybox-static >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  apt-get download busybox-static >/dev/null
fi
deb=$(ls busybox-static_*.deb)
recipe='FROM scratch
COPY rootfs/ /
ENV PATH=/bin
CMD ["sh"]'
key=$( { sha256sum "$deb"; printf '%s' "$recipe"; } | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{ index .Config.Labels "aistack.test.key" }}' "$tag" 2>/dev/null || true)" = "$key" ]; then
  log "$tag is up to date ($key)"
  exit 0
fi

dpkg-deb -x "$deb" pkg
mkdir -p rootfs/bin rootfs/etc rootfs/tmp rootfs/root
cp pkg/bin/busybox rootfs/bin/busybox
for applet in $(rootfs/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > rootfs/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' > rootfs/etc/group
chmod 1777 rootfs/tmp
printf '%s\n' "$recipe" > Dockerfile
docker build -q --label "aistack.test.key=$key" -t "$tag" . >/dev/null
log "built $tag ($key)"
