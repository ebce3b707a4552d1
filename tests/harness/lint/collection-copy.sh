#!/usr/bin/env bash
# Copy this checkout (the files git tracks plus untracked, not ignored ones)
# into <dest>/ansible_collections/aistack/deploy and print that path.
# ansible-test insists on running from inside such a tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
dest=${1:?usage: collection-copy.sh DEST}
target="$dest/ansible_collections/aistack/deploy"
rm -rf "$target"
mkdir -p "$target"
# .collections/ is the checkout's own link for ansible.cfg (a link to the
# checkout itself): not part of the collection.
(cd "$root" && git ls-files -z --cached --others --exclude-standard \
  | grep -zv '^\.collections/' \
  | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' _ \
  | tar --null -T - -cf -) | tar -C "$target" -xf -
printf '%s\n' "$target"
