#!/usr/bin/env bash
# Run one Molecule scenario's full sequence, plus a check-mode pass:
#   destroy, syntax, create, prepare, converge --check on the fresh hosts
#   (changes predicted, no failure; skipped where another scenario's covers
#   it, below), converge, idempotence (changed=0),
#   converge --check on the converged hosts (changed=0 and no failure),
#   verify (testinfra), destroy (also when a step failed).
# Usage: molecule-scenario.sh SCENARIO
set -euo pipefail
scenario=${1:?usage: molecule-scenario.sh SCENARIO}
cd "$(dirname "$0")/../.."
here=tests/harness
log=$(mktemp)
trap 'molecule destroy -s "$scenario" >/dev/null 2>&1 || true; rm -f "$log"' EXIT

# Controller-side facts scenarios may use (discovered here, never written down).
AISTACK_COMPOSE_BINARY=$(python -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
export AISTACK_COMPOSE_BINARY

export NO_COLOR=1 COLUMNS=200  # plain, unwrapped output: recap-check.py reads it
phase() { printf -- '----- %s: %s\n' "$scenario" "$*"; }

phase destroy leftovers && molecule destroy -s "$scenario" >/dev/null
phase syntax && molecule syntax -s "$scenario"
phase create && molecule create -s "$scenario"
phase prepare && molecule prepare -s "$scenario"
# A scenario whose fresh hosts, roles and stack are a subset of another's
# (same host image, same site.yml) would repeat that one's fresh-host check
# pass exactly: it names the scenario that covers it and skips the pass.
declare -A fresh_check_covered_by=([releases]="app_stack (its stack and roles) and app_stack_shapes (retention)")
if [ -n "${fresh_check_covered_by[$scenario]:-}" ]; then
  phase "converge --check on fresh hosts: covered by scenario ${fresh_check_covered_by[$scenario]}"
else
  phase "converge --check on fresh hosts (changes predicted, nothing may fail)" \
    && molecule converge -s "$scenario" -- --check 2>&1 | tee "$log"
  python "$here/recap-check.py" --changes-ok "$log"
fi
phase converge && molecule converge -s "$scenario"
phase idempotence && molecule idempotence -s "$scenario"
phase "converge --check" && molecule converge -s "$scenario" -- --check 2>&1 | tee "$log"
python "$here/recap-check.py" "$log"
phase verify && molecule verify -s "$scenario"
phase destroy && molecule destroy -s "$scenario"
