"""How the engine reads what the policy judges, redone in Python.

The policy must read a value the way the engine will, or a spelling the engine
accepts slips past a check written for another: Go's JSON decoder matches keys
without regard to case (and folds U+017F, long s, to `s`), `strconv.Atoi` takes a sign and
leading zeros, the daemon's `parseSecurityOpt` takes `=` or `:` and a bare
`disable`, runc resolves a user name through the container's `/etc/passwd` (first
match wins, a malformed uid reads as 0), and distribution's reference parser
decides which part of an image name is a registry. Each function here follows the
code named in its docstring (moby 20.10, runc 1.x, distribution 2.x); nothing here
talks to the engine.
"""

from __future__ import annotations

import json
import re
from typing import Any

GO_INT = re.compile(r"[+-]?[0-9]+")
MAX_ID = (1 << 31) - 1  # runc's maxID: larger uids are refused

# Seccomp actions that deny the call. Anything else (ALLOW, LOG, TRACE — a tracer in
# the container decides —, NOTIFY, or a name runc would refuse) lets it through.
SECCOMP_DENY = frozenset(
    {"SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD"}
    | {"SCMP_ACT_TRAP"}
)
# What Docker's default profile blocks (unless the container holds the capability the
# call needs) because it reaches past the container: its documented list, the new
# mount API and the like. A profile allowing one of them weakens the confinement as
# much as `seccomp=unconfined` does for that call. (`ptrace`, `process_vm_*`,
# `clock_adjtime` and `name_to_handle_at` are allowed by the default on kernels
# since 4.8 and are not here.)
SECCOMP_DANGEROUS = frozenset(
    {
        *("acct", "add_key", "bpf", "clock_settime", "clock_settime64", "create_module"),
        *("delete_module", "finit_module", "get_kernel_syms", "get_mempolicy"),
        *("init_module", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load"),
        *("keyctl", "lookup_dcookie", "mbind", "mount", "mount_setattr", "move_pages"),
        *("nfsservctl", "open_by_handle_at", "perf_event_open", "pidfd_getfd"),
        *("pivot_root", "query_module", "quotactl", "quotactl_fd", "reboot"),
        *("request_key", "set_mempolicy", "setns", "settimeofday", "stime", "swapon"),
        *("swapoff", "sysfs", "_sysctl", "umount", "umount2", "unshare", "uselib"),
        *("userfaultfd", "ustat", "vm86", "vm86old", "fsopen", "fsconfig", "fsmount"),
        *("fspick", "move_mount", "open_tree", "clone3"),
    }
)
# The capabilities every container has unless it drops them (the engine's defaults):
# a profile rule conditioned on one of them applies.
DEFAULT_CAPS = frozenset(
    {
        *("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID"),
        *("SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL"),
        "AUDIT_WRITE",
    }
)
# Allowed by the default profile only with an argument filter (namespace flags, the
# persona): a rule for them with `args` is read as such a filter.
SECCOMP_FILTERED = frozenset({"clone", "personality"})
# SELinux types a `label=type:` may name: the default container types only.
LABEL_TYPES = frozenset({"container_t", "svirt_lxc_net_t"})


def go_atoi(text: str) -> int | None:
    """`strconv.Atoi`: an optional sign, decimal digits (leading zeros too), no spaces,
    no `0x`, no `_`; None where Go returns an error."""
    if not GO_INT.fullmatch(text):
        return None
    value = int(text)
    return value if -(1 << 63) <= value < (1 << 63) else None


def go_json_key(key: str) -> str:
    """A JSON key as Go's decoder matches it to a struct field (case folded; U+017F,
    long s, is s, and the Kelvin sign is k)."""
    return key.lower().replace("\u017f", "s")


def go_json(text: str) -> Any:
    """JSON decoded as Go decodes it into a struct: keys folded, the last of keys that
    fold together wins. Raises ValueError on what Go would refuse too."""

    def fold(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            out[go_json_key(key)] = value
        return out

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, object_pairs_hook=fold, parse_constant=no_constant)


def security_opt(opt: str) -> tuple[str, str]:
    """moby `parseSecurityOpt`: `no-new-privileges` and `disable` alone, else split on
    the first `=`, or (the deprecated form) on the first `:` when there is no `=`."""
    if opt == "no-new-privileges":
        return "no-new-privileges", "true"
    if opt == "disable":
        return "label", "disable"
    if "=" in opt:
        key, value = opt.split("=", 1)
    elif ":" in opt:
        key, value = opt.split(":", 1)
    else:
        return opt, ""
    return key, value


def seccomp_weakness(profile: Any, allowed_caps: set[str]) -> str | None:
    """What in a seccomp profile (decoded by `go_json`) lets calls through that the
    default profile stops; None when it denies by default and allows nothing dangerous.

    A rule that applies only with a capability no container holds here (`includes.caps`
    naming none of the engine's default capabilities nor one the policy grants) cannot
    apply and is skipped, as the default profile's CAP_SYS_ADMIN rules are.
    """
    if not isinstance(profile, dict):
        return "the seccomp profile is not an object"
    default = str(profile.get("defaultaction") or "").strip().upper()
    if default not in SECCOMP_DENY:
        return f"its default action {default or 'none'!r} allows every call"
    rules = profile.get("syscalls") or []
    if not isinstance(rules, list):
        return "its syscalls are not a list"
    for rule in rules:
        if not isinstance(rule, dict):
            return "a syscalls entry is not an object"
        action = str(rule.get("action") or "").strip().upper()
        if action in SECCOMP_DENY:
            continue
        includes = rule.get("includes") or {}
        caps = includes.get("caps") if isinstance(includes, dict) else None
        if isinstance(caps, list) and caps:
            wanted = {str(c).strip().upper().removeprefix("CAP_") for c in caps}
            held = allowed_caps | DEFAULT_CAPS
            if not wanted & held and "ALL" not in held:
                continue
        names = rule.get("names") or []
        names = [*names] if isinstance(names, list) else [names]
        if rule.get("name"):
            names.append(rule["name"])
        for name in names:
            call = str(name).strip().lower()
            if call in SECCOMP_FILTERED and rule.get("args"):
                continue
            if call in SECCOMP_DANGEROUS or call in SECCOMP_FILTERED:
                return f"it allows {call} ({action or 'no action'})"
    return None


def user_parts(spec: str) -> tuple[str, str]:
    """runc `GetExecUser`: `user[:group]`, split on `:` (parts after the second are
    ignored)."""
    parts = spec.split(":")
    return parts[0], parts[1] if len(parts) > 1 else ""


def passwd_uids(text: str) -> list[tuple[str, int]]:
    """runc `ParsePasswdFilter`: (name, uid) per line, in order. Lines are trimmed,
    blank ones skipped, nothing else (a `#` line is a user named `#…`); a uid Go's
    Atoi refuses reads as 0, as runc ignores that error."""
    out: list[tuple[str, int]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        fields = line.split(":")
        uid = go_atoi(fields[2]) if len(fields) > 2 else None
        out.append((fields[0], uid if uid is not None else 0))
    return out


def exec_uid(user: str, passwd: str | None) -> int | None:
    """The uid runc runs `user` as; None when runc would refuse it (a name not in
    the passwd file, a uid out of range). An empty user is uid 0, as runc defaults.

    `passwd` is the container's /etc/passwd (None: unreadable or absent, then only
    numeric users resolve).
    """
    name, _ = user_parts(user.strip())
    name = name.strip()
    if name == "":
        return 0
    uid = go_atoi(name)
    if uid is not None:
        return uid if 0 <= uid <= MAX_ID else None
    for entry, entry_uid in passwd_uids(passwd or ""):
        if entry == name:
            return entry_uid
    return None


def image_registry(ref: str) -> str:
    """distribution `splitDockerDomain`: the first component is a registry when it has
    a `.` or `:`, is `localhost`, or has an upper-case letter (`Evil/x` is host `Evil`);
    else the image is Docker Hub's. Returned lower-case, Hub as `docker.io`."""
    name = ref.strip()
    first, sep, _ = name.partition("/")
    if not sep or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        return "docker.io"
    return registry_host(first)


def registry_host(name: str) -> str:
    """A registry address as compared (`index.docker.io` is Hub, as distribution says)."""
    host = name.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


IMAGE_ID = re.compile(r"(sha256:)?[0-9a-f]{1,64}")


def is_image_id(ref: str) -> bool:
    """An id or an id prefix of any length (the daemon looks those up by prefix)."""
    return IMAGE_ID.fullmatch(ref.strip()) is not None
