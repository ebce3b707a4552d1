#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection, in ansible-test's own
# per-test virtualenvs (built from PyPI once, then cached under ~/.ansible/test).
# Usage: sanity.sh [PYTHON_VERSION] [extra ansible-test args...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python_version=${1:-$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')}
shift || true
# ansible-test bootstraps pip in its venvs from a download our machines cannot
# reach; give it the offline stand-in under the name it looks for.
pip_version=$(python - <<'PY'
import os, re, ansible_test
path = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
print(re.search(r"pip=['\"]([0-9.]+)['\"]", open(path).read()).group(1))
PY
)
cache=~/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -f "$cache" ] || ! cmp -s "$here/get_pip_offline.py" "$cache"; then
  mkdir -p "$(dirname "$cache")" && cp "$here/get_pip_offline.py" "$cache"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target=$("$here/collection-copy.sh" "$work")
cd "$target"
# ansible-test wants a git repository or an explicit file list; a fresh repo
# of the copy gives it exactly the files we ship.
git init -q . && git add -A >/dev/null
ansible-test sanity --venv --python "$python_version" --color no "$@"
