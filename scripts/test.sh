#!/usr/bin/env bash
# shellcheck disable=SC2317  # tiers and steps are called through run_tier/step
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#
#   scripts/test.sh                 all tiers: lint unit integration molecule
#   scripts/test.sh unit molecule   only the tiers named
#   AISTACK_SCENARIOS="docker_engine" scripts/test.sh molecule   one scenario
#
# On a fresh Debian machine it installs what it needs by itself: virtualenvs
# (newest ansible-core the machine's Python allows, and the oldest we
# support), Debian tools (shellcheck, mmdebstrap), a Docker Engine when none
# answers, the test-host and fixture images (tier "images", before the
# others, built while the unit tier runs). Every tier runs even when an
# earlier one failed; molecule runs in the background beside lint and
# integration; the exit code is non-zero
# when any failed, and the time each tier took is printed at the end.
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$AISTACK_ROOT" || exit 1

all_tiers=(lint unit integration molecule)
tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=("${all_tiers[@]}")
for t in "${tiers[@]}"; do
  case " ${all_tiers[*]} " in *" $t "*) ;; *) echo "unknown tier '$t' (${all_tiers[*]})" >&2; exit 2 ;; esac
done
wants() { case " ${tiers[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

declare -A took status
order=()
run_tier() {
  local name=$1 start rc
  shift
  say "tier $name"
  start=$(date +%s)
  "$@"
  rc=$?
  took[$name]=$(( $(date +%s) - start ))
  status[$name]=$([ $rc -eq 0 ] && echo ok || echo "FAILED (rc $rc)")
  order+=("$name")
}

# ---------------------------------------------------------------- setup
setup() {
  local pkgs=()
  wants lint && pkgs+=(shellcheck)
  # mmdebstrap: the fixture images (lint: nginx for `nginx -t`).
  { wants molecule || wants lint; } && pkgs+=(mmdebstrap)
  [ ${#pkgs[@]} -eq 0 ] || ensure_debian_packages "${pkgs[@]}" || return 1

  choose_newest
  NEWEST_VENV=${AISTACK_VENV:-$AISTACK_ROOT/.venv}
  make_venv "$NEWEST_VENV" "$NEWEST_PY" "$NEWEST_REQ" || return 1
  if wants lint || wants unit; then
    choose_oldest || return 1
    OLDEST_VENV=${AISTACK_VENV_OLDEST:-$AISTACK_ROOT/.venv-oldest}
    make_venv "$OLDEST_VENV" "$OLDEST_PY" tests/requirements/oldest.txt || return 1
  fi
  # lint needs an engine too: `nginx -t` runs in a container of the proxy image, as the role runs it.
  if wants integration || wants molecule || wants lint; then
    scripts/ensure-engine.sh || return 1
  fi
  expose_collection
  # The whole output, then its first line: head would close the pipe on ansible-core, which then prints a
  # BrokenPipeError traceback.
  local version
  version=$("$NEWEST_VENV/bin/ansible" --version)
  echo "newest: ${version%%$'\n'*} on $("$NEWEST_VENV/bin/python" -V)"
  if [ -n "${OLDEST_VENV:-}" ]; then
    version=$("$OLDEST_VENV/bin/ansible" --version)
    echo "oldest: ${version%%$'\n'*} on $("$OLDEST_VENV/bin/python" -V)"
  fi
}

in_venv() {  # in_venv VENV COMMAND...: run with that venv first on PATH
  local venv=$1
  shift
  PATH="$venv/bin:$PATH" VIRTUAL_ENV=$venv "$@"
}

pyver() { "$1/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

# ----------------------------------------------------------------- tiers
# What failed, repeated after the summary: CI shows the end of the output, and
# a tier's failure would otherwise sit above the tiers that ran beside it.
failure_digest=$(mktemp)
trap 'rm -f "$failure_digest"' EXIT
step() {  # step NAME COMMAND...: one check inside a tier; remembers failures
  local rc name=$1 log
  printf -- '--- %s\n' "$name"
  shift
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    echo "--- FAILED: $*"
    tier_failed=1
    # One append per failure: tiers that run side by side never interleave theirs.
    { printf -- '--- failed step: %s (rc %s)\n' "$name" "$rc"
      grep -E '^(FAILED|ERROR) |^E   |fatal:|Error|error:' "$log" | tail -n 40
      echo "... its last lines:"
      tail -n 25 "$log"
    } >"$log.failed"
    cat "$log.failed" >>"$failure_digest"
  fi
  rm -f "$log" "$log.failed"
  return 0
}

# Every test image the wanted tiers use, built (or found cached) before any
# tier runs: tiers that run side by side never build the same image at once.
tier_images() {
  tier_failed=0
  if wants molecule; then
    step "test-host images" in_venv "$NEWEST_VENV" tests/harness/images/build-testhost.sh 12 13 13-docker
  fi
  if wants integration || wants molecule; then
    step "fixture images" tests/harness/images/build-busybox.sh
  fi
  # What scenarios hand to their hosts by save/load (app_image: the Python
  # base; app_stack: also PostgreSQL and Redis; nginx_proxy: nginx); lint
  # proves nginx.conf in the nginx image; integration builds on the Python base.
  local -A bases=()
  if wants molecule; then bases[python]=1 bases[postgres]=1 bases[redis]=1 bases[nginx]=1; fi
  if wants lint; then bases[nginx]=1; fi
  if wants integration; then bases[python]=1; fi
  [ ${#bases[@]} -eq 0 ] || step "fixture base images" tests/harness/images/build-base-images.sh "${!bases[@]}"
  return "$tier_failed"
}

tier_lint() {
  tier_failed=0
  step "yamllint" in_venv "$NEWEST_VENV" yamllint --strict .
  step "ansible-lint (production profile)" in_venv "$NEWEST_VENV" ansible-lint
  step "antsibull-changelog lint" in_venv "$NEWEST_VENV" antsibull-changelog lint
  step "role READMEs current with their argument specs" in_venv "$NEWEST_VENV" env PYTHONPATH=tests/harness python -m aistack_testlib.role_docs --check
  # Python: plugins, tests, molecule/*/tests, benchmarks, the roles' scripts (ruff.toml); types (mypy.ini).
  step "ruff check" in_venv "$NEWEST_VENV" ruff check --no-cache
  step "ruff format --check" in_venv "$NEWEST_VENV" ruff format --check --no-cache
  step "mypy" in_venv "$NEWEST_VENV" mypy
  step "hadolint" in_venv "$NEWEST_VENV" tests/harness/lint/hadolint-all.sh
  # app_stack: the compose file and unit of every shape, rendered as the role does.
  step "docker compose config (app_stack, every shape)" in_venv "$NEWEST_VENV" tests/harness/lint/compose-config-all.sh
  command -v systemd-analyze >/dev/null || step "Debian package systemd (systemd-analyze)" ensure_debian_packages systemd
  step "systemd-analyze verify (app_stack units)" in_venv "$NEWEST_VENV" tests/harness/lint/systemd-verify-all.sh
  # nginx_proxy: nginx.conf of every case, proven as the role proves it on a host.
  step "nginx -t (nginx_proxy, every case)" in_venv "$NEWEST_VENV" tests/harness/lint/nginx-test-all.sh
  step "ansible-test sanity, newest ($(pyver "$NEWEST_VENV"))" \
    in_venv "$NEWEST_VENV" tests/harness/lint/sanity.sh "$(pyver "$NEWEST_VENV")"
  # The oldest ansible-core runs the tests whose verdict depends on its version
  # (docs, validate-modules, import, compile, pylint's deprecation rules, runtime
  # metadata); the checks of text and patterns in the files (line endings,
  # quotes, shebangs, shellcheck, yamllint, pep8, ...) read the same files with
  # the same rules, so they run once, with the newest.
  local test skip=()
  for test in line-endings no-smart-quotes shebang shellcheck symlinks yamllint no-illegal-filenames \
    empty-init pslint no-assert no-get-exception use-compat-six replace-urlopen use-argspec-type-path pep8; do
    skip+=(--skip-test "$test")
  done
  step "ansible-test sanity, oldest ($(pyver "$OLDEST_VENV"); text checks with the newest only)" \
    in_venv "$OLDEST_VENV" tests/harness/lint/sanity.sh "$(pyver "$OLDEST_VENV")" "${skip[@]}"
  step "collection build, install, ansible-doc" in_venv "$NEWEST_VENV" tests/harness/lint/build-and-doc.sh
  # antsibull-docs lint and the Sphinx docs site of the built collection (offline).
  step "docs site (antsibull-docs lint, Sphinx build)" in_venv "$NEWEST_VENV" tests/harness/lint/docs-site.sh
  return "$tier_failed"
}

tier_unit() {
  tier_failed=0
  step "pytest unit, newest" in_venv "$NEWEST_VENV" python -m pytest -q -rfEs -p no:cacheprovider tests/unit
  # The reference backend is an example app, independent of ansible-core: newest only.
  step "pytest unit, oldest" in_venv "$OLDEST_VENV" python -m pytest -q -rfEs -p no:cacheprovider tests/unit \
    --ignore=tests/unit/reference_backend
  return "$tier_failed"
}

tier_integration() {
  tier_failed=0
  step "pytest integration" in_venv "$NEWEST_VENV" python -m pytest -q -rfEs -p no:cacheprovider --durations=12 tests/integration
  return "$tier_failed"
}

# Rough relative duration of a scenario (unknown ones count 1), for the lanes:
# its time in a full suite run, in units of about 50 s (three lanes beside lint
# and integration, 2 cores; the clean-clone run of 2026-12-05 at 02b02f0). The
# lanes are filled longest first, each scenario into the least loaded lane, so
# these give releases + app_image + docker_engine, app_stack_shapes + app_stack,
# fleet + nvidia_toolkit: about 2300, 2230 and 2360 s. (nvidia_toolkit grew with
# its MIG stories to 1044 s: behind app_stack_shapes it made a 2430 s lane.)
scenario_weight() {
  case $1 in
    releases) echo 35 ;;
    app_stack_shapes) echo 28 ;;
    fleet) echo 26 ;;
    nvidia_toolkit) echo 21 ;;
    app_stack) echo 17 ;;
    app_image) echo 7 ;;
    docker_engine) echo 4 ;;
    *) echo 1 ;;
  esac
}

tier_molecule() {
  tier_failed=0
  local scenario scenarios=${AISTACK_SCENARIOS:-}
  if [ -z "$scenarios" ]; then
    for scenario in molecule/*/molecule.yml; do
      scenarios="$scenarios $(basename "$(dirname "$scenario")")"
    done
  fi
  # Scenarios are independent (own hosts, network, controller cache), and
  # much of their time is waiting (health checks, image loads): three lanes
  # side by side, the longest scenarios spread first. Each scenario's output
  # is printed whole when it ends (three share two cores well: most of it is
  # waiting). AISTACK_MOLECULE_LANES=1 runs them in turn.
  local lanes=${AISTACK_MOLECULE_LANES:-3} logdir lane
  logdir=$(mktemp -d)
  local -a lane_list lane_load
  for ((lane = 0; lane < lanes; lane++)); do lane_list[lane]=""; lane_load[lane]=0; done
  for scenario in $(for s in $scenarios; do echo "$(scenario_weight "$s") $s"; done | sort -rn | awk '{print $2}'); do
    local best=0
    for ((lane = 1; lane < lanes; lane++)); do
      [ "${lane_load[lane]}" -lt "${lane_load[best]}" ] && best=$lane
    done
    lane_list[best]="${lane_list[best]} $scenario"
    lane_load[best]=$(( lane_load[best] + $(scenario_weight "$scenario") ))
  done
  for ((lane = 0; lane < lanes; lane++)); do
    echo "--- lane $((lane + 1)):${lane_list[lane]}"
    (
      for scenario in ${lane_list[lane]}; do
        start=$(date +%s)
        rc=0
        in_venv "$NEWEST_VENV" tests/harness/molecule/scenario.sh "$scenario" >"$logdir/$scenario.log" 2>&1 || rc=$?
        echo "$rc $(( $(date +%s) - start ))" >"$logdir/$scenario.result"
      done
    ) &
  done
  wait
  local -a recap failed_scenarios
  for scenario in $scenarios; do
    local rc=1 secs=0
    [ -f "$logdir/$scenario.result" ] && read -r rc secs <"$logdir/$scenario.result"
    printf -- '--- molecule scenario %s\n' "$scenario"
    cat "$logdir/$scenario.log" 2>/dev/null
    local result=ok
    if [ "$rc" -ne 0 ]; then
      result="FAILED (rc $rc)"
      echo "--- FAILED: molecule scenario $scenario (rc $rc)"
      failed_scenarios+=("$scenario")
      tier_failed=1
    fi
    recap+=("$(printf '%-18s %5s s  %s' "$scenario" "$secs" "$result")")
    echo "--- scenario $scenario took $secs s"
  done
  # Where each failed scenario stopped (the molecule action that failed and
  # the lines before it) is repeated after the summary.
  for scenario in "${failed_scenarios[@]}"; do
    { printf -- '--- failed molecule scenario %s: its failing part\n' "$scenario"
      grep -n -E 'fatal:|FAILED|failed=[1-9]|^E  |Error|CRITICAL .*(fail|Fail)|----- ' \
        "$logdir/$scenario.log" 2>/dev/null | grep -v "default/molecule.yml' glob failed" | tail -n 40
      echo "... its last lines:"
      tail -n 60 "$logdir/$scenario.log" 2>/dev/null
    } >"$logdir/$scenario.failed"
    cat "$logdir/$scenario.failed" >>"$failure_digest"
  done
  say "molecule scenarios"
  printf '%s\n' "${recap[@]}"
  rm -rf "$logdir"
  return "$tier_failed"
}

# A tier in the background: its output is kept and printed whole once it ends,
# its time and status are carried back (the subshell's own arrays are not).
# Molecule is mostly waiting on two cores' worth of test hosts while lint and
# integration are mostly one process; the images tier is mostly downloads
# while the unit tier needs no image. AISTACK_MOLECULE_BESIDE=0 runs every
# tier in turn.
declare -A bg_pid bg_out
tier_in_background() {  # tier_in_background NAME
  local name=$1
  bg_out[$name]=$(mktemp)
  say "tier $name: started in the background"
  ( run_tier "$name" "tier_$name"
    echo "${took[$name]} ${status[$name]}" >"${bg_out[$name]}.result" ) >"${bg_out[$name]}" 2>&1 &
  bg_pid[$name]=$!
}
collect_tier() {  # collect_tier NAME: wait for a background tier, print its output, keep its result
  local name=$1 secs state
  wait "${bg_pid[$name]}"
  cat "${bg_out[$name]}"
  read -r secs state <"${bg_out[$name]}.result" || state="FAILED (no result)"
  took[$name]=${secs:-0}
  status[$name]=$state
  order+=("$name")
  rm -f "${bg_out[$name]}" "${bg_out[$name]}.result"
}

suite_start=$(date +%s)
run_tier setup setup
if [ "${status[setup]}" = ok ]; then
  beside=${AISTACK_MOLECULE_BESIDE:-1}
  # The unit tier needs no image: it runs while the images are built, and the
  # tiers that need them start after.
  images_beside=0
  if [ "$beside" = 1 ] && wants unit && { wants lint || wants integration || wants molecule; }; then
    images_beside=1
    tier_in_background images
    run_tier unit tier_unit
    collect_tier images
  else
    run_tier images tier_images
  fi
  molecule_beside=0
  if [ "$beside" = 1 ] && wants molecule && [ ${#tiers[@]} -gt 1 ]; then
    molecule_beside=1
    tier_in_background molecule
  fi
  for t in "${tiers[@]}"; do
    [ "$molecule_beside" = 1 ] && [ "$t" = molecule ] && continue
    [ "$images_beside" = 1 ] && [ "$t" = unit ] && continue
    run_tier "$t" "tier_$t"
  done
  if [ "$molecule_beside" = 1 ]; then
    say "waiting for the molecule tier"
    collect_tier molecule
  fi
fi

say "summary"
failed=0
for t in "${order[@]}"; do
  printf '%-12s %6s s  %s\n' "$t" "${took[$t]}" "${status[$t]}"
  [ "${status[$t]}" = ok ] || failed=1
done
printf '%-12s %6s s\n' total "$(( $(date +%s) - suite_start ))"
if [ -s "$failure_digest" ]; then
  say "what failed (repeated from above)"
  cat "$failure_digest"
fi
exit $failed
