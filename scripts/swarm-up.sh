#!/usr/bin/env bash
# A two-node Docker Swarm on this machine, for the swarm tests and the README's walk
# through: two private engines (scripts/private-engine.sh, each with its own network,
# mount, UTS and PID namespaces), their namespaces joined by a veth pair
# (10.77.0.1 manager, 10.77.0.2 worker; no default route: nothing leaves them), the
# first `swarm init`, the second `swarm join`, the test image loaded into both.
#
#   scripts/swarm-up.sh up     DIR   # idempotent; prints MANAGER=unix://… WORKER=unix://…
#   scripts/swarm-up.sh down   DIR   # stops both, deletes DIR and both namespaces
#   scripts/swarm-up.sh status DIR   # prints up | down
#
# No IPVS on this kernel: a service's virtual IP and ingress ports do not answer; use
# `endpoint_mode: dnsrr`, host-mode ports and overlay networks (see ENGINE-NOTES).
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 up|down|status DIR" >&2; exit 2; }
case "$dir" in /*) ;; *) dir="$(pwd)/$dir" ;; esac
dir=${dir%/}
[ "$dir" != / ] && [ "$dir" != /var/run ] && [ "$dir" != /var/lib/docker ] || { echo "refusing DIR=$dir" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
engine="$here/private-engine.sh"
tag=$(printf %s "$dir" | md5sum | cut -c1-8)
nodes=(manager worker)
declare -A addr=([manager]=10.77.0.1 [worker]=10.77.0.2)
declare -A netns=([manager]="moorage-sw-$tag-m" [worker]="moorage-sw-$tag-w")
image=${MOORAGE_TEST_IMAGE:-moorage-test/busybox:latest}

say() { printf 'swarm-up: %s\n' "$*" >&2; }
sock() { echo "$dir/$1/docker.sock"; }
dk() { local node=$1; shift; timeout 30 docker -H "unix://$(sock "$node")" "$@"; }
node_state() { dk "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo down; }

is_up() {
  [ "$(node_state manager)" = active ] && [ "$(node_state worker)" = active ] || return 1
  [ "$(dk manager node ls -q 2>/dev/null | wc -l)" = 2 ]
}

# The two namespaces and the cable between them (made inside them: nothing on the host).
wire() {
  local node other
  for node in "${nodes[@]}"; do
    ip netns add "${netns[$node]}" 2>/dev/null || true
    ip netns exec "${netns[$node]}" ip link set lo up
  done
  if ! ip netns exec "${netns[manager]}" ip link show swarm0 >/dev/null 2>&1; then
    ip netns exec "${netns[manager]}" ip link add swarm0 type veth peer name swarm0 \
      netns "${netns[worker]}"
  fi
  for node in "${nodes[@]}"; do
    ip netns exec "${netns[$node]}" ip addr replace "${addr[$node]}/24" dev swarm0
    ip netns exec "${netns[$node]}" ip link set swarm0 up
  done
}

start_node() {
  local node=$1
  PRIVATE_ENGINE_NETNS=${netns[$node]} PRIVATE_ENGINE_HOSTNAME="swarm-$node" \
    PRIVATE_ENGINE_NO_IMAGE=1 "$engine" start "$dir/$node" >/dev/null
  if ! dk "$node" image inspect "$image" >/dev/null 2>&1; then
    [ -f "$dir/image.tar" ] || docker save "$image" -o "$dir/image.tar"
    dk "$node" load -q -i "$dir/image.tar" >/dev/null
  fi
}

up() {
  if is_up; then
    report
    return
  fi
  # A half-made swarm (a crash, an earlier failure) is made again from nothing.
  [ -d "$dir" ] && down
  mkdir -p "$dir"
  wire
  start_node manager &
  start_node worker &
  wait %1 && wait %2 || { say "an engine did not start (see $dir/*/dockerd.log)"; exit 1; }
  rm -f "$dir/image.tar"
  dk manager swarm init --advertise-addr "${addr[manager]}" \
    --listen-addr "${addr[manager]}:2377" --default-addr-pool 10.96.0.0/12 >/dev/null
  local token
  token=$(dk manager swarm join-token -q worker)
  dk worker swarm join --token "$token" --advertise-addr "${addr[worker]}" \
    --listen-addr "${addr[worker]}:2377" "${addr[manager]}:2377" >/dev/null
  for _ in $(seq 1 100); do
    [ "$(dk manager node ls --format '{{.Status}}' | grep -c Ready)" = 2 ] && break
    sleep 0.1
  done
  is_up || { say "the worker did not become Ready"; exit 1; }
  report
}

report() {
  echo "MANAGER=unix://$(sock manager)"
  echo "WORKER=unix://$(sock worker)"
}

down() {
  local node
  for node in "${nodes[@]}"; do
    [ -d "$dir/$node" ] || continue
    # Its state goes with it: no need to wait for a swarm node's orderly shutdown.
    PRIVATE_ENGINE_NETNS=${netns[$node]} PRIVATE_ENGINE_STOP_WAIT=3 "$engine" wipe "$dir/$node" \
      2>/dev/null
  done
  # wipe deletes the namespaces (and the veth with them); these cover a half-made set-up.
  for node in "${nodes[@]}"; do ip netns del "${netns[$node]}" 2>/dev/null || true; done
  rm -rf "$dir"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  status) if is_up; then echo up; else echo down; fi ;;
  *) echo "usage: $0 up|down|status DIR" >&2; exit 2 ;;
esac
