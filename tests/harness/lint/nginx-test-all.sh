#!/usr/bin/env bash
# `nginx -t` on every nginx.conf the nginx_proxy role renders (aistack_testlib.render_proxy:
# role defaults, example shapes with a proxy, the molecule scenario's proxy,
# every option at once), each in a throwaway container of the harness's nginx
# image (Debian's nginx package, tests/harness/images/build-base-images.sh), mounted where the role
# mounts the live configuration — the same check the role makes on a host.
#
#   tests/harness/lint/nginx-test-all.sh [OUTDIR]    (default tests/output/nginx)
set -euo pipefail
cd "$(dirname "$0")/../../.."
# The shared test helpers: the package aistack_testlib (tests/harness/aistack_testlib).
export PYTHONPATH="$PWD/tests/harness${PYTHONPATH:+:$PYTHONPATH}"
out=${1:-tests/output/nginx}
image=aistack-test/nginx:1.26

tests/harness/images/build-base-images.sh nginx
rm -rf "$out"
python -m aistack_testlib.render_proxy "$out" >/dev/null
failed=0
for conf in "$out"/*/nginx.conf; do
  dir=$(cd "$(dirname "$conf")" && pwd)
  if docker run --rm --network none --pull never -v "$dir:/etc/aistack-proxy/live:ro" "$image" \
       nginx -t -q -c /etc/aistack-proxy/live/nginx.conf; then
    echo "ok: $(basename "$dir")"
  else
    echo "FAILED: $(basename "$dir") ($conf)"
    failed=1
  fi
done
exit $failed
