#!/usr/bin/env bash
# Make sure a Docker Engine answers on this machine.
#
# When one answers already, use it and say which. Otherwise, on Debian and as
# root, install Debian's docker.io (the engine) and start dockerd in the
# background, wait for its socket, and say so. Anywhere else, fail with a hint:
# we never install an engine on a machine we do not understand.
set -euo pipefail

log() { printf '[engine] %s\n' "$*" >&2; }

engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if engine_answers; then
  log "using the running engine $(docker version --format '{{.Server.Version}}')"
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! grep -qi '^ID=debian' /etc/os-release 2>/dev/null; then
  log "no Docker Engine answers and this is not Debian as root: start one yourself"
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "no dockerd: installing docker.io from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The machine may already carry a newer docker client from elsewhere; keep it
  # and only add the daemon side.
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi

state_dir=${AISTACK_ENGINE_STATE:-/var/tmp/aistack-engine}
mkdir -p "$state_dir"
if [ -S /var/run/docker.sock ] && ! engine_answers; then
  log "removing a stale /var/run/docker.sock"
  rm -f /var/run/docker.sock
fi
log "starting dockerd in the background (log: $state_dir/dockerd.log)"
# setsid: dockerd must outlive this script and the shell that runs it.
setsid dockerd >"$state_dir/dockerd.log" 2>&1 < /dev/null &
echo $! >"$state_dir/dockerd.pid"

for _ in $(seq 1 60); do
  if engine_answers; then
    log "dockerd $(docker version --format '{{.Server.Version}}') answers (pid $(cat "$state_dir/dockerd.pid"))"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; last lines of its log:"
tail -n 30 "$state_dir/dockerd.log" >&2
exit 1
