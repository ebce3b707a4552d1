#!/usr/bin/env bash
# Run one Molecule scenario's full sequence, plus a check-mode pass:
#   leftovers, create, prepare, converge --check on the fresh hosts
#   (changes predicted, no failure; skipped where another scenario's covers
#   it, below), converge, idempotence (changed=0),
#   converge --check on the converged hosts (changed=0 and no failure; skipped
#   likewise),
#   verify (testinfra), destroy (also when a step failed).
# Usage: tests/harness/molecule/scenario.sh SCENARIO
set -euo pipefail
scenario=${1:?usage: scenario.sh SCENARIO}
cd "$(dirname "$0")/../../.."
here=tests/harness/molecule
log=$(mktemp)
# Destroy on the way out only when the sequence did not get to its own destroy.
destroyed=0
trap '[ "$destroyed" = 1 ] || molecule destroy -s "$scenario" >/dev/null 2>&1 || true; rm -f "$log" "${AISTACK_IDEMPOTENCE_LOG:-}"' EXIT

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

# Leftovers of an earlier run: its test hosts and network go through the
# scenario's destroy playbook; with none there (a clean machine, the usual
# case) only Molecule's state is reset, without an Ansible run. There is no
# separate syntax phase: ansible-lint (lint tier) runs the syntax check on
# every scenario playbook, and converge parses its playbook before any task.
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
if leftovers; then
  phase "leftovers: destroy" && molecule destroy -s "$scenario" >/dev/null
else
  phase "leftovers: none, reset Molecule's state" && molecule reset -s "$scenario" >/dev/null 2>&1
fi
phase create && molecule create -s "$scenario"
phase prepare && molecule prepare -s "$scenario"
# A scenario whose fresh hosts, roles and stack are a subset of another's
# (same host image, same site.yml) would repeat that one's fresh-host check
# pass exactly: it names the scenario that covers it and skips the pass.
declare -A fresh_check_covered_by=(
  [releases]="app_stack (its stack and roles) and app_stack_shapes (retention)"
  [fleet]="app_stack (its API is a subset of app_stack's stack, same roles and host image)"
)
if [ -n "${fresh_check_covered_by[$scenario]:-}" ]; then
  phase "converge --check on fresh hosts: covered by scenario ${fresh_check_covered_by[$scenario]}"
else
  phase "converge --check on fresh hosts (changes predicted, nothing may fail)" \
    && molecule converge -s "$scenario" -- --check 2>&1 | tee "$log"
  python "$here/recap_check.py" --changes-ok "$log"
fi
phase converge && molecule converge -s "$scenario"
# Where verify reads the idempotence run instead of repeating a no-op run of
# its own: that run's whole output (at the verbosity named here) goes to
# AISTACK_IDEMPOTENCE_LOG, its first line the time it started; the scenario's
# log gets the recap (and the end of the output when it fails).
declare -A idempotence_verbosity=([app_stack]=3)
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
# Likewise on converged hosts, where check mode proves the roles' own code
# paths change nothing: the releases scenario's host runs the roles and stack
# of app_stack's (plus a migration job, which check mode never runs);
# app_stack_shapes' hosts run the same roles on the same host image, their
# stacks' own files proven unchanged by their idempotence run.
declare -A converged_check_covered_by=(
  [releases]="app_stack (its stack and roles; jobs do not run in check mode)"
  [app_stack_shapes]="app_stack (the same roles and host image; the shapes' idempotence run proves their files unchanged)"
  [fleet]="app_stack (the same roles and host image; fleet's idempotence run proves its four hosts unchanged)"
)
if [ -n "${converged_check_covered_by[$scenario]:-}" ]; then
  phase "converge --check on converged hosts: covered by scenario ${converged_check_covered_by[$scenario]}"
else
  phase "converge --check" && molecule converge -s "$scenario" -- --check 2>&1 | tee "$log"
  python "$here/recap_check.py" "$log"
fi
phase verify && molecule verify -s "$scenario"
phase destroy && molecule destroy -s "$scenario" && destroyed=1
phase "done"
