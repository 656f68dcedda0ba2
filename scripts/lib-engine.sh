# shellcheck shell=bash
# What scripts/private-engine.sh, tls-engine.sh and ssh-engine.sh share; sourced, not run.
#
#   engine_command_and_dir USAGE "$@"   # sets $cmd and $dir (absolute, no trailing /)
#   free_port                           # prints a free TCP port on 127.0.0.1

# The COMMAND DIR arguments; DIR made absolute, and never a directory of the shared engine.
engine_command_and_dir() {
  local usage=$1
  shift
  cmd=${1:-}
  dir=${2:-}
  [ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 $usage DIR" >&2; exit 2; }
  case "$dir" in /*) ;; *) dir="$(pwd)/$dir" ;; esac
  while [ "$dir" != "${dir%/}" ]; do dir=${dir%/}; done
  # "/" (or "//") is "" without its trailing slashes.
  [ -n "$dir" ] && [ "$dir" != /var/run ] && [ "$dir" != /var/lib/docker ] \
    || { echo "refusing DIR=${2:-}" >&2; exit 2; }
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
