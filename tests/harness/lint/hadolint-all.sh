#!/usr/bin/env bash
# hadolint on every Dockerfile of the project: the recipes committed here (the
# test host's) and the Dockerfile the app_image role renders for each example
# seed shape (examples/shapes/*.yml, rendered by aistack_testlib.render_shapes).
set -euo pipefail
cd "$(dirname "$0")/../../.."
# The shared test helpers: the package aistack_testlib (tests/harness/aistack_testlib).
export PYTHONPATH="$PWD/tests/harness${PYTHONPATH:+:$PYTHONPATH}"
out=tests/output/dockerfiles
rm -rf "$out"
python -m aistack_testlib.render_shapes "$out"
mapfile -t files < <( { git ls-files --cached --others --exclude-standard | grep -E '(^|/)Dockerfile[^/]*$' | grep -v '\.j2$'; \
  find "$out" -type f -name 'Dockerfile*' 2>/dev/null || true; } | sort -u)
[ ${#files[@]} -gt 0 ] || { echo "no Dockerfiles found" >&2; exit 1; }
status=0
for f in "${files[@]}"; do
  if hadolint "$f"; then echo "ok  $f"; else echo "BAD $f"; status=1; fi
done
exit $status
