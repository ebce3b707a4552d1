#!/usr/bin/env bash
# Build the collection tarball as Galaxy would, install it (offline: its
# dependencies come from the venv's bundled collections), and render every
# module's documentation and every role's argument spec from the INSTALLED
# copy, not the checkout.
set -euo pipefail
cd "$(dirname "$0")/../../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset ANSIBLE_COLLECTIONS_PATH  # the checkout itself must not count as installed
ansible-galaxy collection build --output-path "$work" . >/dev/null
tarball=$(ls "$work"/aistack-deploy-*.tar.gz)
echo "built $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"
# The tarball must not ship tests, fixtures or virtualenvs.
if tar -tzf "$tarball" | grep -E '^(tests|molecule|benchmarks|\.venv)/' ; then
  echo "the tarball ships files that build_ignore should keep out" >&2
  exit 1
fi
export ANSIBLE_COLLECTIONS_PATH="$work/installed"
ansible-galaxy collection install --force --no-deps -p "$work/installed" "$tarball" >/dev/null
installed=$(ansible-galaxy collection list aistack.deploy 2>/dev/null | awk '/aistack.deploy/ {print $2}')
echo "installed aistack.deploy $installed"
for module in plugins/modules/*.py; do
  name=aistack.deploy.$(basename "$module" .py)
  ansible-doc -t module "$name" >"$work/doc.txt"
  grep -q "EXAMPLES" "$work/doc.txt" || { echo "ansible-doc shows no EXAMPLES for $name" >&2; exit 1; }
  echo "ansible-doc ok: $name"
done
# Filter plugins are documented in sidecar files, one per filter.
for doc in plugins/filter/*.yml; do
  name=aistack.deploy.$(basename "$doc" .yml)
  ansible-doc -t filter "$name" >"$work/doc.txt"
  grep -q "EXAMPLES" "$work/doc.txt" || { echo "ansible-doc shows no EXAMPLES for $name" >&2; exit 1; }
  echo "ansible-doc ok: $name (filter)"
done
for role in roles/*/; do
  name=aistack.deploy.$(basename "$role")
  ansible-doc -t role "$name" >"$work/doc.txt"
  grep -q "ENTRY POINT" "$work/doc.txt" || { echo "ansible-doc shows no ENTRY POINT for $name" >&2; exit 1; }
  echo "ansible-doc ok: $name (role)"
done
# What an execution environment needs, read from the INSTALLED copy as
# ansible-builder reads it (meta/execution-environment.yml), and the example
# execution environment turned into a build context (nothing is built).
ansible-builder introspect --sanitize "$work/installed" >"$work/ee-deps.txt"
for need in 'cryptography>=3.3' 'requests>=' 'docker.io \[platform:dpkg\]' 'openssh-clients \[platform:rpm\]'; do
  grep -q -- "- '$need.*from collection aistack.deploy'" "$work/ee-deps.txt" || {
    echo "ansible-builder introspect does not list $need for aistack.deploy:" >&2; cat "$work/ee-deps.txt" >&2; exit 1; }
done
echo "ansible-builder introspect ok: $(grep -c 'from collection aistack.deploy' "$work/ee-deps.txt") dependencies"
ansible-builder create -f examples/execution-environment/execution-environment.yml -c "$work/ee" >/dev/null
grep -q 'aistack.deploy' "$work/ee/_build/requirements.yml" || { echo "the example EE does not install aistack.deploy" >&2; exit 1; }
echo "ansible-builder create ok: examples/execution-environment"
