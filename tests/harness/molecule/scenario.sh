#!/usr/bin/env bash
# Run one Molecule scenario: the actions of its test_sequence
# (.config/molecule/config.yml, the one place the sequence is written; a
# scenario's own molecule.yml may replace it), each as its own
# `molecule ACTION -s SCENARIO`, with what the molecule tier adds around them:
#   - a phase line before each action: when it started, how long the one
#     before took;
#   - the destroy before create removes leftovers of an earlier run only when
#     there are any (else it resets Molecule's state, without an Ansible run);
#   - each `check` (converge --check) run's PLAY RECAP is read
#     (recap_check.py): on the fresh hosts (before converge) changes are
#     predicted and nothing may fail, on the converged hosts nothing may
#     change either; a scenario whose pass another scenario's covers skips it,
#     naming that one;
#   - where verify reads the idempotence run, that run's output goes to
#     $AISTACK_IDEMPOTENCE_LOG;
#   - cleanup and destroy also run when an action failed.
# Usage: tests/harness/molecule/scenario.sh SCENARIO
set -euo pipefail
scenario=${1:?usage: scenario.sh SCENARIO}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
log=$(mktemp)
# Clean up and destroy on the way out only when the sequence did not get to its own destroy.
destroyed=0
trap '[ "$destroyed" = 1 ] || { molecule cleanup -s "$scenario" >/dev/null 2>&1; molecule destroy -s "$scenario" >/dev/null 2>&1; } || true; rm -f "$log" "${AISTACK_IDEMPOTENCE_LOG:-}"' EXIT

# Controller-side facts scenarios may use (discovered here, never written down).
AISTACK_COMPOSE_BINARY=$(python -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
export AISTACK_COMPOSE_BINARY

export NO_COLOR=1 COLUMNS=200  # plain, unwrapped output: recap_check.py reads it
# Each phase line says when it started and how long the phase before it took:
# where a scenario's time goes is read from the log, not guessed.
phase_start=$SECONDS
phase() {
  printf -- '----- %s: %s  (%s; the phase before took %d s)\n' "$scenario" "$*" "$(date -u +%H:%M:%S)" $((SECONDS - phase_start))
  phase_start=$SECONDS
}

# The scenario's test_sequence: its own molecule.yml's, else the shared config's.
mapfile -t sequence < <(python - "molecule/$scenario/molecule.yml" .config/molecule/config.yml <<'PY'
import sys, yaml
for path in sys.argv[1:]:
    found = ((yaml.safe_load(open(path)) or {}).get("scenario") or {}).get("test_sequence")
    if found:
        print("\n".join(found))
        break
PY
)
[ ${#sequence[@]} -gt 0 ] || { echo "no scenario.test_sequence in .config/molecule/config.yml" >&2; exit 1; }

# Leftovers of an earlier run: its test hosts or its network.
leftovers() {
  local platform network="aistack-molecule-$scenario"
  for platform in $(python - "molecule/$scenario/molecule.yml" <<'PY'
import sys, yaml
print(" ".join(p["name"] for p in yaml.safe_load(open(sys.argv[1]))["platforms"]))
PY
  ); do
    [ -z "$(docker ps -aq --filter "name=^${platform}\$")" ] || return 0
  done
  [ -z "$(docker network ls -q --filter "name=^${network}\$")" ] || return 0
  return 1
}

# A scenario whose hosts, roles and stack are a subset of another's (same
# host image, same site.yml) would repeat that one's check pass exactly: it
# names the scenario that covers it and skips the pass. On converged hosts
# check mode proves the roles' own code paths change nothing: the releases
# scenario's host runs the roles and stack of app_stack's (plus a migration
# job, which check mode never runs); app_stack_shapes' hosts run the same
# roles on the same host image, their stacks' own files proven unchanged by
# their idempotence run.
declare -A fresh_check_covered_by=(
  [releases]="app_stack (its stack and roles) and app_stack_shapes (retention)"
  [fleet]="app_stack (its API is a subset of app_stack's stack, same roles and host image)"
)
declare -A converged_check_covered_by=(
  [releases]="app_stack (its stack and roles; jobs do not run in check mode)"
  [app_stack_shapes]="app_stack (the same roles and host image; the shapes' idempotence run proves their files unchanged)"
  [fleet]="app_stack (the same roles and host image; fleet's idempotence run proves its four hosts unchanged)"
)
# Where verify reads the idempotence run instead of repeating a no-op run of
# its own: that run's whole output (at the verbosity named here) goes to
# AISTACK_IDEMPOTENCE_LOG, its first line the time it started; the scenario's
# log gets the recap (and the end of the output when it fails).
declare -A idempotence_verbosity=([app_stack]=3)

created=0 converged=0
for action in "${sequence[@]}"; do
  case $action in
    destroy)
      if [ "$created" = 0 ]; then
        if leftovers; then
          phase "destroy: leftovers of an earlier run (cleanup first)"
          molecule cleanup -s "$scenario" >/dev/null
          molecule destroy -s "$scenario" >/dev/null
        else
          phase "destroy: no leftovers, reset Molecule's state" && molecule reset -s "$scenario" >/dev/null 2>&1
        fi
      else
        phase destroy
        molecule destroy -s "$scenario"
        destroyed=1
      fi
      ;;
    check)
      if [ "$converged" = 0 ]; then
        what="on the fresh hosts" covered=${fresh_check_covered_by[$scenario]:-} changes=(--changes-ok)
      else
        what="on the converged hosts" covered=${converged_check_covered_by[$scenario]:-} changes=()
      fi
      if [ -n "$covered" ]; then
        phase "check (converge --check) $what: covered by scenario $covered"
      else
        phase "check (converge --check) $what ($([ ${#changes[@]} -gt 0 ] && echo 'changes predicted, ' || echo 'changed=0, ')nothing may fail)" \
          && molecule check -s "$scenario" 2>&1 | tee "$log"
        python "$here/recap_check.py" "${changes[@]}" "$log"
      fi
      ;;
    idempotence)
      if [ -n "${idempotence_verbosity[$scenario]:-}" ]; then
        AISTACK_IDEMPOTENCE_LOG=$(mktemp)
        export AISTACK_IDEMPOTENCE_LOG
        phase "idempotence (ansible -v x${idempotence_verbosity[$scenario]}, output in \$AISTACK_IDEMPOTENCE_LOG for verify)"
        date -u +%Y-%m-%dT%H:%M:%S.%NZ >"$AISTACK_IDEMPOTENCE_LOG"
        if ! ANSIBLE_VERBOSITY=${idempotence_verbosity[$scenario]} molecule idempotence -s "$scenario" >>"$AISTACK_IDEMPOTENCE_LOG" 2>&1; then
          tail -n 300 "$AISTACK_IDEMPOTENCE_LOG"
          exit 1
        fi
        grep -E -A6 '^PLAY RECAP|idempotence' "$AISTACK_IDEMPOTENCE_LOG" | grep -v '^<' | tail -n 20
      else
        phase idempotence && molecule idempotence -s "$scenario"
      fi
      ;;
    *)
      phase "$action" && molecule "$action" -s "$scenario"
      ;;
  esac
  case $action in
    create) created=1 ;;
    converge) converged=1 ;;
  esac
done
phase "done"
