#!/usr/bin/env bash
# hadolint on every Dockerfile of the project: the test-host recipe here, and
# every Dockerfile the roles render for the example shapes (rendered into
# tests/output/dockerfiles/ by the unit tier's rendering tests, when present).
set -euo pipefail
cd "$(dirname "$0")/../.."
mapfile -t files < <( { git ls-files --cached --others --exclude-standard '*Dockerfile*' ; \
  find tests/output/dockerfiles -type f 2>/dev/null || true; } | grep -v '\.j2$' | sort -u)
[ ${#files[@]} -gt 0 ] || { echo "no Dockerfiles found" >&2; exit 1; }
status=0
for f in "${files[@]}"; do
  if hadolint "$f"; then echo "ok  $f"; else echo "BAD $f"; status=1; fi
done
exit $status
