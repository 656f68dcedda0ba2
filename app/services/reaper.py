"""Ending a terminal's whole process tree, escapes included.

A TTY exec does not end when its connection closes, and what its shell started does
not end with the shell: background jobs get their own process group and are
re-parented to the container's PID 1 (ENGINE-NOTES). Two things tie a process to its
terminal, and a process is ended when either holds:

- the *marker*: `MOORAGE_TERMINAL=<random>` in its environment, inherited by every
  descendant that keeps its environment;
- the *session*: the exec's process leads a session (runc calls setsid for it) and
  every descendant stays in it unless it calls setsid itself: one that cleared its
  environment (`env -i sh -c 'sleep 1000' &`) keeps the session. The session id
  outlives its leader, so the shell having exited first changes nothing.

Only a process that does both (clears its environment *and* leaves the session) gets
away; an admin who means to leave a process running has `docker exec -d` anyway.

Where moorage shares the engine's pid namespace (the engine on this machine), the
exec's `Pid` from `GET /exec/{id}/json` names the session leader here: `SessionRef`
holds it, with the container's pid namespace so that nothing outside the container is
ever touched, and the tree is killed from here by /proc (`kill_on_host`), with no
exec. Elsewhere (a remote engine, or a private one in its own pid namespace) a
reaper exec does the same inside the container (`REAPER`): it finds the sessions of
the marked processes and kills both kinds. There an env-cleared process is missed
only when no marked process of its session is left (the shell exited first, and
every job it left cleared its environment).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

MARKER = "MOORAGE_TERMINAL"
ROUNDS = 5  # a process may fork while a round runs: a few rounds, until one kills none

# Run in the container as `sh -c REAPER <marker> [session ids…]`. Kills every process
# (never PID 1, never the reaper's own session) that holds the marker or is in one of
# the sessions: those given, and those of the marked processes found. The stat line is
# read by the shell itself (`read`), the comm field skipped up to its last `) `.
REAPER = (
    "exec 2>/dev/null; "  # a process gone mid-read is no news
    'm="' + MARKER + '=$0"; s=" $* "; me=$(set -- $(cat /proc/self/stat); echo $6); '
    "n=0; while [ $n -lt " + str(ROUNDS) + " ]; do "
    "for d in /proc/[0-9]*; do "
    'case "$(tr "\\000" "\\n" < "$d/environ" 2>/dev/null)" in '
    '*"$m"*) read -r st < "$d/stat" 2>/dev/null || continue; st=${st##*) }; '
    'set -- $st; s="$s$4 ";; esac; done; '
    "f=0; for d in /proc/[0-9]*; do p=${d#/proc/}; [ $p = 1 ] && continue; "
    'read -r st < "$d/stat" 2>/dev/null || continue; st=${st##*) }; set -- $st; '
    '[ "$4" = 0 ] || [ "$4" = 1 ] || [ "$4" = "$me" ] && continue; '
    'k=0; case "$s" in *" $4 "*) k=1;; esac; '
    'if [ $k = 0 ]; then case "$(tr "\\000" "\\n" < "$d/environ" 2>/dev/null)" in '
    '*"$m"*) k=1;; esac; fi; '
    '[ $k = 1 ] && kill -9 "$p" 2>/dev/null && f=1; done; '
    "[ $f = 0 ] && break; n=$((n+1)); done"
)


@dataclass(frozen=True, slots=True)
class SessionRef:
    """The exec's session as this machine sees it: the leader's pid here (the
    session's id), and the container's pid namespace."""

    pid: int
    pidns: str


def find_session(pid: int, marker: str) -> SessionRef | None:
    """The session led by `pid` (the engine's `Pid` of the exec), if that pid is the
    exec's process *here*: its environment holds the marker. None when moorage does
    not share the engine's pid namespace (or the process is already gone)."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
        if f"{MARKER}={marker}".encode() not in env:
            return None
        return SessionRef(pid, os.readlink(f"/proc/{pid}/ns/pid"))
    except OSError:
        return None


def kill_on_host(marker: str, session: SessionRef | None) -> int:
    """Kill, from this machine's /proc, every process that holds the marker or is in
    the session, and is in the container's pid namespace; how many were killed."""
    needle = f"{MARKER}={marker}".encode()
    killed = 0
    for _ in range(ROUNDS):
        found = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if pid == os.getpid():
                continue
            if session is not None and _in_session(pid, session):
                hit = True
            else:
                hit = _has_marker(pid, needle) and (session is None or _pidns(pid) == session.pidns)
            if hit:
                with contextlib.suppress(OSError):
                    os.kill(pid, 9)
                    found += 1
        killed += found
        if not found:
            break
    return killed


def _in_session(pid: int, session: SessionRef) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b") ", 1)[1].split()
    except (OSError, IndexError):
        return False
    # After the comm: state, ppid, pgrp, session.
    return int(fields[3]) == session.pid and _pidns(pid) == session.pidns


def _has_marker(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def _pidns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None
