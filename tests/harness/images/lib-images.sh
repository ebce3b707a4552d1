# shellcheck shell=bash
# Shared pieces for the harness scripts that build images from Debian packages
# without any registry (build-base-images.sh, build-testhost.sh). Source it; it defines functions
# and sets nothing else.
#
# The package mirror comes from this machine's own apt sources and the
# machine's extra CA certificates go into every image, so an image reaches
# exactly what the machine reaches. Nothing here names a mirror.

# First URI of this machine's apt sources whose suites match the regex $1.
# Reads deb822 .sources files and one-line sources.list entries alike.
images_apt_uri() {
  local want=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v want="$want" '
      /^[[:space:]]*$/ { if (uri != "" && suites ~ want) { print uri; exit } ; uri=""; suites=""; next }
      /^URIs:/ { uri=$2 }
      /^Suites:/ { $1=""; suites=$0 }
      END { if (uri != "" && suites ~ want) print uri }' "$f"
  done | head -n1
  if [ -f /etc/apt/sources.list ]; then
    awk -v want="$want" '$1 == "deb" { for (i=2;i<=NF;i++) if ($i !~ /^\[/) { if ($(i+1) ~ want) print $i; break } }' \
      /etc/apt/sources.list | head -n1
  fi
}

# Sets IMAGES_MIRROR and IMAGES_SECURITY (may be empty) from the apt sources.
images_discover_mirror() {
  IMAGES_MIRROR=$(images_apt_uri '[a-z]+( |-updates|$)' | head -n1)
  IMAGES_SECURITY=$(images_apt_uri '-security' | head -n1)
  if [ -z "$IMAGES_MIRROR" ]; then
    printf 'cannot find a Debian mirror in this machine'"'"'s apt sources\n' >&2
    return 1
  fi
}

# The machine's extra CA certificates, one path per line (may print nothing).
images_ca_files() {
  local f
  for f in /usr/local/share/ca-certificates/*.crt; do
    [ -f "$f" ] && printf '%s\n' "$f"
  done
  return 0
}

images_codename() {
  case "$1" in
    12) echo bookworm ;;
    13) echo trixie ;;
    *) printf 'unknown Debian release %s (12 or 13)\n' "$1" >&2; return 2 ;;
  esac
}

# images_cache_key FILE...: 16 hex digits over the given files, the mirror,
# the CA certificates and whatever the caller pipes in on stdin.
images_cache_key() {
  local ca
  {
    cat "$@"
    cat
    echo "$IMAGES_MIRROR $IMAGES_SECURITY"
    while IFS= read -r ca; do cat "$ca"; done < <(images_ca_files)
  } | sha256sum | cut -c1-16
}

# images_is_current TAG KEY: true when TAG exists and carries label KEY.
images_is_current() {
  local have
  have=$(docker image inspect -f '{{ index .Config.Labels "aistack.test.key" }}' "$1" 2>/dev/null || true)
  [ "$have" = "$2" ]
}

images_ensure_mmdebstrap() {
  command -v mmdebstrap >/dev/null && return 0
  printf 'installing mmdebstrap from Debian\n' >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
}

# images_rootfs RELEASE TAG PACKAGES [EXTRA MMDEBSTRAP ARGS...]
# mmdebstrap a minbase Debian RELEASE (12|13) with the comma-separated
# PACKAGES, the machine's CA certificates added and documentation left out,
# and `docker import` it as TAG.
images_rootfs() {
  local release=$1 tag=$2 packages=$3 codename f
  shift 3
  codename=$(images_codename "$release") || return 2
  local sources=("deb $IMAGES_MIRROR $codename main" "deb $IMAGES_MIRROR $codename-updates main")
  [ -z "$IMAGES_SECURITY" ] || sources+=("deb $IMAGES_SECURITY $codename-security main")
  local hooks=()
  # Hooks run inside mmdebstrap, where "$1" is the new root: single quotes on purpose.
  # shellcheck disable=SC2016
  while IFS= read -r f; do
    [ ${#hooks[@]} -gt 0 ] || hooks+=(--customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"')
    hooks+=(--customize-hook="copy-in $f /usr/local/share/ca-certificates/")
  done < <(images_ca_files)
  # shellcheck disable=SC2016
  [ ${#hooks[@]} -eq 0 ] || hooks+=(--customize-hook='chroot "$1" update-ca-certificates >/dev/null 2>&1')
  # shellcheck disable=SC2016
  mmdebstrap --quiet --variant=minbase --include="$packages" \
    --aptopt='Apt::Install-Recommends "false"' \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    "${hooks[@]}" "$@" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb "$1"/var/log/*.log' \
    "$codename" - "${sources[@]}" \
    | docker import - "$tag" >/dev/null
}
