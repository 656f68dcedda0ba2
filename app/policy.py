"""The security policy: what a create / run / update / exec / connect / build may ask.

The policy looks at the *engine* payloads, at the one chokepoint every engine call
passes (`Engine.guard`, called from aiodocker's `_do_query`), so every request form a
route accepts (`mounts`, both `volumes` forms, raw engine bodies, aiodocker's own
helpers) is checked in the shape the engine will act on. A refusal raises
`PolicyViolation` (403 `policy-violation`) whose detail names the rule.

What a request names on the engine is judged as it is there: volumes by inspecting
them, `container:X` joins by following them, and every start and restart by the
container as the engine has it now (a bind path can point elsewhere since its create).

Without `MOORAGE_POLICY_FILE` there is no policy (API.md: "a policy, configured");
with a file, absent keys take the defaults below (the strict ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import io
import json
import os
import posixpath
import re
import stat
import tarfile
import tomllib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from app import engine_parse, errors
from app.dockerfile import Unreadable, image_uses

if TYPE_CHECKING:
    from app.engine import Engine

T = TypeVar("T")

# The engine's own socket is never mountable, whatever the prefixes say.
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
NAMESPACE_FIELDS = {
    "NetworkMode": "network",
    "PidMode": "pid",
    "IpcMode": "ipc",
    "UTSMode": "uts",
    "UsernsMode": "userns",
    "CgroupnsMode": "cgroupns",
}


def _keys(text: str) -> frozenset[str]:
    return frozenset(k.lower() for k in text.split())


# The create body's keys (API 1.41) the policy judges or knows to be harmless.
CONFIG_KEYS = _keys(
    "Hostname Domainname User AttachStdin AttachStdout AttachStderr ExposedPorts Tty "
    "OpenStdin StdinOnce Env Cmd Healthcheck ArgsEscaped Image Volumes WorkingDir "
    "Entrypoint NetworkDisabled MacAddress OnBuild Labels StopSignal StopTimeout Shell "
    "HostConfig NetworkingConfig"
)
# HostConfig keys (and those of a live update) the policy judges (its rules) or knows
# to be harmless (limits, DNS, ports). Absent on purpose, so refused: Links (another
# container's environment), Cgroup (another's cgroup namespace), KernelMemory,
# KernelMemoryTCP, and the Windows-only ones.
HOST_CONFIG_KEYS = _keys(
    # judged by the rules
    "Privileged NetworkMode PidMode IpcMode UTSMode UsernsMode CgroupnsMode Binds Mounts "
    "CapAdd Devices DeviceRequests DeviceCgroupRules SecurityOpt MaskedPaths "
    "ReadonlyPaths Runtime VolumesFrom LogConfig CgroupParent VolumeDriver StorageOpt "
    "OomKillDisable OomScoreAdj Sysctls "
    # harmless: they limit, name, or reach only the container itself
    "ContainerIDFile PortBindings RestartPolicy AutoRemove CapDrop Dns DnsOptions "
    "DnsSearch ExtraHosts GroupAdd PublishAllPorts ReadonlyRootfs Tmpfs ShmSize "
    "ConsoleSize Init CpuShares Memory NanoCpus BlkioWeight BlkioWeightDevice "
    "BlkioDeviceReadBps BlkioDeviceWriteBps BlkioDeviceReadIOps BlkioDeviceWriteIOps "
    "CpuPeriod CpuQuota CpuRealtimePeriod CpuRealtimeRuntime CpusetCpus CpusetMems "
    "MemoryReservation MemorySwap MemorySwappiness PidsLimit Ulimits"
)
# A Swarm service spec (API 1.41, and the later Privileges fields), judged like a
# create body: the keys the policy judges or knows to be harmless; any other is refused.
# Absent on purpose: PluginSpec / NetworkAttachmentSpec (a task that installs a plugin,
# which runs with every privilege; internal attachments).
SERVICE_KEYS = _keys(
    "Name Labels TaskTemplate Mode UpdateConfig RollbackConfig Networks EndpointSpec"
)
TASK_KEYS = _keys(
    "ContainerSpec Resources RestartPolicy Placement ForceUpdate Runtime Networks LogDriver"
)
SERVICE_CONTAINER_KEYS = _keys(
    # judged by the rules
    "Image Mounts Privileges CapabilityAdd Sysctls Isolation OomScoreAdj "
    # harmless: they name, limit, or reach only the task itself
    "Labels Command Args Hostname Env Dir User Groups TTY OpenStdin ReadOnly StopSignal "
    "StopGracePeriod HealthCheck Hosts DNSConfig Secrets Configs Init CapabilityDrop Ulimits"
)
PRIVILEGES_KEYS = _keys("CredentialSpec SELinuxContext Seccomp AppArmor NoNewPrivileges")
LOCAL_DRIVER = "local"
# What the local driver hands mount(2): it reads exactly these keys (case-sensitively,
# refusing any other) and splits `o` at commas into flags and data.
LOCAL_OPTION_KEYS = frozenset({"type", "device", "o", "size"})
# `o` of a tmpfs volume that cannot reach anything on the host: sizes, ownership, flags
# that only take away. Anything else (`bind`, `remount`, …) turns the mount into more.
TMPFS_MOUNT_OPTIONS = frozenset(
    {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "noexec", "nosuid", "nodev"}
    | {"ro", "rw"}
)
BIND_MOUNT_OPTIONS = frozenset({"bind", "rbind", "ro", "rw", "noexec", "nosuid", "nodev"})
# Options of local volumes (with `allow_volume_options`) naming host directories.
PATH_MOUNT_OPTIONS = ("lowerdir", "upperdir", "workdir")
# Kubernetes' "safe" sysctls: namespaced, and unable to affect another container.
SAFE_SYSCTLS = (
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ping_group_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_fin_timeout",
)
# The namespace each family of namespaced sysctls lives in.
SYSCTL_NAMESPACES = {
    "NetworkMode": ("net.",),
    "IpcMode": ("kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue."),
}
# Driver options that attach a network to an interface of the host.
HOST_INTERFACE_OPTIONS = ("parent", "com.docker.network.bridge.name")
# How far `container:X` joins are followed before giving up (and refusing).
MAX_JOIN_DEPTH = 16
RUNC = {"", "runc", "io.containerd.runc.v2"}
_VERSION_PREFIX = re.compile(r"^/*(v\d+(\.\d+)?/)?")
MAX_DOCKERFILE = 1 << 20  # the builder refuses larger ones too
MAX_PASSWD = 1 << 20


class Policy(BaseModel):
    """The policy file (TOML). Unknown keys are refused so that a typo cannot relax it."""

    model_config = ConfigDict(extra="forbid")

    allow_privileged: bool = False
    allow_host_namespaces: bool = False
    bind_mount_prefixes: list[str] = Field(default_factory=list)
    allowed_capabilities: list[str] = Field(default_factory=list)
    allow_devices: bool = False
    allow_unconfined: bool = False
    allowed_registries: list[str] = Field(default_factory=list)
    exec_allow_root: bool = True
    exec_allow_privileged: bool = False
    # The docker-py fields (check_engine_fields): log drivers that stay on this host,
    # cgroup parents and volume drivers a container may name.
    allowed_log_drivers: list[str] = Field(
        default_factory=lambda: ["json-file", "local", "journald", "none"]
    )
    allowed_cgroup_parents: list[str] = Field(default_factory=list)
    allowed_volume_drivers: list[str] = Field(default_factory=lambda: [LOCAL_DRIVER])
    allow_volume_options: bool = False
    allowed_sysctls: list[str] = Field(default_factory=lambda: list(SAFE_SYSCTLS))
    allowed_network_drivers: list[str] = Field(default_factory=lambda: ["bridge", "overlay"])
    allowed_network_parents: list[str] = Field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Policy:
        with path.open("rb") as f:
            doc = tomllib.load(f)
        return cls.model_validate(doc.get("policy", doc))

    # -- the rules -------------------------------------------------------------------

    def check_container_config(self, config: Mapping[str, Any]) -> None:
        """POST containers/create: the whole create body."""
        image = _ci(config, "Image")
        if isinstance(image, str) and image:
            self.check_image(image)
        host = _ci(config, "HostConfig")
        if host is not None:
            self.check_host_config(_mapping(host, "HostConfig"))
        self.check_engine_fields(config, CONFIG_KEYS, "create body")

    def check_host_config(self, host: Mapping[str, Any], *, update: bool = False) -> None:
        if _truthy(_ci(host, "Privileged")) and not self.allow_privileged:
            refuse("allow_privileged", "privileged containers are not allowed")
        if not self.allow_host_namespaces:
            for key, what in NAMESPACE_FIELDS.items():
                value = _ci(host, key)
                if isinstance(value, str) and _is_host_mode(value):
                    refuse("allow_host_namespaces", f"{key}={value!r} shares the host's {what}")
        self.check_host_storage(host)
        self.check_sysctls(_mapping(_ci(host, "Sysctls") or {}, "Sysctls"), host)
        self.check_capabilities(_list(_ci(host, "CapAdd"), "CapAdd"))
        if not self.allow_devices:
            for key in ("Devices", "DeviceRequests", "DeviceCgroupRules"):
                if _list(_ci(host, key), key):
                    refuse("allow_devices", f"{key} gives the container host devices")
        if not self.allow_unconfined:
            for opt in _list(_ci(host, "SecurityOpt"), "SecurityOpt"):
                self.check_security_opt(str(opt))
            for key in ("MaskedPaths", "ReadonlyPaths"):
                if _ci(host, key) is not None:
                    refuse(
                        "allow_unconfined", f"{key} overrides the kernel paths masked by default"
                    )
        if not update:
            runtime = _ci(host, "Runtime")
            if isinstance(runtime, str) and runtime.strip().lower() not in RUNC:
                # Another runtime can be anything (a VM, or no isolation at all).
                refuse("allow_unconfined", f"Runtime {runtime!r} is not allowed")
        # Last: the rules above name what they refuse; this judges the rest.
        self.check_engine_fields(host, HOST_CONFIG_KEYS, "HostConfig")

    def check_engine_fields(self, doc: Mapping[str, Any], known: frozenset[str], what: str) -> None:
        """The keys docker-py's keywords reach, and every key the policy cannot judge.

        A key outside `known` is refused, not waved through: the engine grows fields
        (and Go's decoder takes any case), and one the policy has never seen may be the
        one that opens the host.
        """
        for key, value in doc.items():
            if value in (None, "", 0, [], {}, False):
                continue  # an engine default (inspect shows them all): asks for nothing
            if not isinstance(key, str) or engine_parse.go_json_key(key) not in known:
                refuse("unknown-field", f"{what} key {str(key)[:80]!r} is not judged by the policy")
        log = _ci(doc, "LogConfig")
        if log is not None:
            driver = str(_ci(_mapping(log, "LogConfig"), "Type") or "").strip().lower()
            if driver and driver not in {d.lower() for d in self.allowed_log_drivers}:
                # syslog, gelf, fluentd, splunk, awslogs, …: the daemon itself connects
                # to an address the caller names (host sockets, the network).
                refuse("allowed_log_drivers", f"log driver {driver!r} is not allowed")
        parent = _ci(doc, "CgroupParent")
        if isinstance(parent, str) and parent.strip() and parent not in self.allowed_cgroup_parents:
            # Another cgroup escapes the limits the engine sets, or joins another's.
            refuse("allowed_cgroup_parents", f"CgroupParent {parent!r} is not allowed")
        driver = _ci(doc, "VolumeDriver")
        if isinstance(driver, str) and driver.strip():
            self.check_volume_driver(driver, "VolumeDriver")
        for mount in _list(_ci(doc, "Mounts"), "Mounts"):
            options = _ci(_mapping(mount, "Mounts"), "VolumeOptions")
            config = _ci(_mapping(options or {}, "VolumeOptions"), "DriverConfig")
            name = _ci(_mapping(config or {}, "DriverConfig"), "Name")
            if isinstance(name, str) and name.strip():
                self.check_volume_driver(name, "Mounts DriverConfig")
        storage = _mapping(_ci(doc, "StorageOpt") or {}, "StorageOpt")
        for key in storage:
            if str(key).strip().lower() != "size":
                # `size` is a quota (it only limits); the others tune the storage driver.
                refuse("storage_opt", f"StorageOpt {key!r} is not allowed (only size)")
        if _truthy(_ci(doc, "OomKillDisable")) and not _ci(doc, "Memory"):
            # Without a memory limit, a container the OOM killer skips can take the host.
            refuse("oom_kill_disable", "OomKillDisable needs a memory limit")
        score = _ci(doc, "OomScoreAdj")
        if isinstance(score, int | float) and not isinstance(score, bool) and score < 0:
            refuse("oom_score_adj", f"OomScoreAdj {score} would make host processes die first")

    def check_service_spec(self, spec: Mapping[str, Any]) -> None:
        """POST services/create and services/{id}/update: the container policy applied
        to what every task of the service will be (privileged, host namespaces, binds,
        capabilities, devices, profiles, registries, log drivers), on every node."""
        self._known(spec, SERVICE_KEYS, "service spec")
        task = _mapping(_ci(spec, "TaskTemplate") or {}, "TaskTemplate")
        runtime = str(_ci(task, "Runtime") or "").strip().lower()
        if runtime not in ("", "container") or _ci(task, "PluginSpec") is not None:
            # `plugin` installs a managed plugin on every node: privileged by nature.
            refuse("allow_privileged", f"TaskTemplate Runtime {runtime!r} is not allowed")
        self._known(task, TASK_KEYS, "TaskTemplate")
        container = _mapping(_ci(task, "ContainerSpec") or {}, "ContainerSpec")
        self._known(container, SERVICE_CONTAINER_KEYS, "ContainerSpec")
        image = _ci(container, "Image")
        if isinstance(image, str) and image.strip():
            # Every node pulls it by this name (an id-looking one too).
            self.check_image_name(image.strip())
        for mount in _list(_ci(container, "Mounts"), "Mounts"):
            self.check_mount(_mapping(mount, "Mounts"))
        self.check_capabilities(_list(_ci(container, "CapabilityAdd"), "CapabilityAdd"))
        self.check_sysctls(_mapping(_ci(container, "Sysctls") or {}, "Sysctls"))
        isolation = str(_ci(container, "Isolation") or "").strip().lower()
        if isolation not in ("", "default"):
            refuse("allow_unconfined", f"Isolation {isolation!r} is not allowed")
        score = _ci(container, "OomScoreAdj")
        if isinstance(score, int | float) and not isinstance(score, bool) and score < 0:
            refuse("oom_score_adj", f"OomScoreAdj {score} would make host processes die first")
        self._check_privileges(_mapping(_ci(container, "Privileges") or {}, "Privileges"))
        if not self.allow_host_namespaces:
            nets = _list(_ci(task, "Networks"), "Networks") + _list(
                _ci(spec, "Networks"), "Networks"
            )
            for net in nets:
                target = str(_ci(_mapping(net, "Networks"), "Target") or "")
                if _is_host_mode(target):
                    refuse("allow_host_namespaces", "a service on the host network")
        resources = _mapping(_ci(task, "Resources") or {}, "Resources")
        reservations = _mapping(_ci(resources, "Reservations") or {}, "Reservations")
        if (
            _list(_ci(reservations, "GenericResources"), "GenericResources")
            and not self.allow_devices
        ):
            refuse("allow_devices", "GenericResources give the tasks host devices (GPUs)")
        log = _ci(task, "LogDriver")
        if log is not None:
            driver = str(_ci(_mapping(log, "LogDriver"), "Name") or "").strip().lower()
            if driver and driver not in {d.lower() for d in self.allowed_log_drivers}:
                refuse("allowed_log_drivers", f"log driver {driver!r} is not allowed")

    def _check_privileges(self, privileges: Mapping[str, Any]) -> None:
        self._known(privileges, PRIVILEGES_KEYS, "Privileges")
        if _ci(privileges, "CredentialSpec") is not None:
            refuse("allow_unconfined", "CredentialSpec (a Windows identity) is not allowed")
        if self.allow_unconfined:
            return
        selinux = _mapping(_ci(privileges, "SELinuxContext") or {}, "SELinuxContext")
        if _truthy(_ci(selinux, "Disable")):
            refuse("allow_unconfined", "SELinuxContext Disable is not allowed")
        for key in ("User", "Role"):
            if _ci(selinux, key):
                refuse("allow_unconfined", f"SELinuxContext {key} is not allowed")
        kind = _ci(selinux, "Type")
        if kind and str(kind).strip() not in engine_parse.LABEL_TYPES:
            refuse("allow_unconfined", f"SELinuxContext Type {kind!r} is not allowed")
        for key in ("Seccomp", "AppArmor"):
            profile = _mapping(_ci(privileges, key) or {}, key)
            mode = str(_ci(profile, "Mode") or "").strip().lower()
            if mode == "unconfined":
                refuse("allow_unconfined", f"{key} unconfined is not allowed")
            if mode == "custom" and key == "Seccomp":
                text = _ci(profile, "Profile")
                if isinstance(text, list):  # Go's []byte: base64 in JSON
                    refuse("allow_unconfined", "a Seccomp profile the policy cannot read")
                self.check_security_opt(f"seccomp={text or ''}")
            elif mode not in ("", "default"):
                refuse("allow_unconfined", f"{key} mode {mode!r} is not allowed")

    def _known(self, doc: Mapping[str, Any], known: frozenset[str], what: str) -> None:
        for key, value in doc.items():
            if value in (None, "", 0, [], {}, False):
                continue  # an engine default: asks for nothing
            if not isinstance(key, str) or engine_parse.go_json_key(key) not in known:
                refuse("unknown-field", f"{what} key {str(key)[:80]!r} is not judged by the policy")

    def check_volume_driver(self, name: str, what: str) -> None:
        if name.strip().lower() not in {d.lower() for d in self.allowed_volume_drivers}:
            refuse("allowed_volume_drivers", f"{what} {name!r} is not allowed")

    def check_host_storage(self, host: Mapping[str, Any]) -> None:
        """Binds, Mounts and the driver of the volumes a create makes on the fly."""
        driver = _ci(host, "VolumeDriver")
        if driver is not None and str(driver).strip():
            self.check_volume(driver, {}, "VolumeDriver")
        for bind in _list(_ci(host, "Binds"), "Binds"):
            if not isinstance(bind, str):
                refuse("bind_mount_prefixes", f"Binds entry {bind!r} is not a string")
            source = _bind_source(bind)
            if source is not None:
                self.check_bind_source(source, f"Binds {bind!r}")
        for mount in _list(_ci(host, "Mounts"), "Mounts"):
            self.check_mount(_mapping(mount, "Mounts"))

    def check_mount(self, mount: Mapping[str, Any]) -> None:
        kind = str(_ci(mount, "Type") or "").strip().lower()
        source = _ci(mount, "Source")
        if kind == "bind" or (kind == "" and isinstance(source, str) and "/" in source):
            self.check_bind_source(str(source or ""), f"Mounts source {source!r}")
        elif kind == "volume":
            # The options a volume made on the fly gets (an existing one is inspected).
            opts = _ci(_mapping(_ci(mount, "VolumeOptions") or {}, "VolumeOptions"), "DriverConfig")
            driver = _mapping(opts or {}, "DriverConfig")
            self.check_volume(
                _ci(driver, "Name"),
                _mapping(_ci(driver, "Options") or {}, "Options"),
                f"Mounts volume {source or '(anonymous)'!r}",
            )
        elif kind not in ("tmpfs", "npipe", "cluster", "image", ""):
            refuse("bind_mount_prefixes", f"mount type {kind!r} is not allowed")

    def check_volume(self, driver: Any, options: Any, what: str = "volume") -> None:
        """A volume as the engine mounts it: its driver, then that driver's options."""
        name = str(driver or "").strip() or LOCAL_DRIVER
        if name not in self.allowed_volume_drivers:
            allowed = ", ".join(self.allowed_volume_drivers) or "none"
            refuse("allowed_volume_drivers", f"{what}: driver {name!r} is not in {allowed}")
        opts = _mapping(options or {}, "volume options")
        if name == LOCAL_DRIVER:
            self.check_volume_options(opts, what)
        elif opts and not self.allow_volume_options:
            # A plugin's options mean whatever the plugin makes of them.
            refuse("allow_volume_options", f"{what}: options of driver {name!r} are not allowed")

    def check_volume_options(self, options: Mapping[str, Any], what: str = "volume") -> None:
        """Options of the local driver, which become a mount(2) on the host.

        Allowed: none, a tmpfs (`type=tmpfs` with size/mode/uid/gid-like `o=`), or a bind
        (`o=bind`) of an absolute path under `bind_mount_prefixes`. Anything else
        (`type=ext4,device=/dev/vda`, `type=overlay,o=lowerdir=/etc`, nfs, cifs, …) only
        with `allow_volume_options`, and even then no host path outside the prefixes.
        """
        if not options:
            return
        device = _ci(options, "device")
        kind = str(_ci(options, "type") or "")
        flags = _mount_options(str(_ci(options, "o") or ""))
        shown = ",".join(f"{k}={v}" for k, v in options.items())
        if kind.strip().lower() == "none" or {"bind", "rbind"} & {f.lower() for f in flags}:
            if not isinstance(device, str) or not device.strip().startswith("/"):
                # The engine's working directory would decide where a relative one points.
                refuse("bind_mount_prefixes", f"{what}: bind device {device!r} is not absolute")
            self.check_bind_source(device, f"{what}: bind device {device!r}")
            if set(options) <= LOCAL_OPTION_KEYS and set(flags) <= BIND_MOUNT_OPTIONS:
                return
        elif _plain_tmpfs(options, flags):
            return
        if not self.allow_volume_options:
            refuse(
                "allow_volume_options",
                f"{what}: driver options {shown!r} reach past a plain tmpfs or bind",
            )
        for key, value in flags.items():
            if key in PATH_MOUNT_OPTIONS:
                for part in value.split(":"):
                    self.check_bind_source(part, f"{what}: {key} {part!r}")
        if isinstance(device, str) and device.strip().startswith("/"):
            if device.strip().startswith("/dev/"):
                if not self.allow_devices:
                    refuse("allow_devices", f"{what}: device {device!r} mounts a host device")
            else:
                self.check_bind_source(device, f"{what}: device {device!r}")

    def check_bind_source(self, source: str, what: str) -> None:
        path = normalise_host_path(source)
        for sock in DOCKER_SOCKETS:
            if path == sock or path == os.path.realpath(sock):
                refuse("bind_mount_prefixes", f"{what}: the engine socket is never mountable")
        for prefix in self.bind_mount_prefixes:
            base = normalise_host_path(prefix)
            if path == base or path.startswith(base.rstrip("/") + "/"):
                check_unswappable(source, path, what)
                return
        allowed = ", ".join(self.bind_mount_prefixes) or "none"
        refuse("bind_mount_prefixes", f"{what} resolves to {path!r}, outside {allowed}")

    def check_sysctls(
        self, sysctls: Mapping[str, Any], host: Mapping[str, Any] | None = None
    ) -> None:
        """Each sysctl must match `allowed_sysctls` (`a/b` and `a.b` are one name to runc).

        A namespaced sysctl set in a namespace joined from another container
        (`NetworkMode: container:x` with `net.*`) changes that container: refused.
        """
        for key in sysctls:
            name = str(key).replace("/", ".")
            if not any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allowed_sysctls):
                refuse("allowed_sysctls", f"sysctl {key!r} is not allowed")
            for mode_key, prefixes in SYSCTL_NAMESPACES.items():
                mode = _ci(host or {}, mode_key)
                joined = isinstance(mode, str) and mode.strip().lower().startswith("container:")
                if joined and name.startswith(prefixes):
                    refuse("allowed_sysctls", f"sysctl {key!r} would change {mode.strip()!r}")

    def check_network_options(self, driver: Any, options: Mapping[str, Any], what: str) -> None:
        """A network's driver, and any host interface its options attach it to."""
        name = str(driver or "").strip() or "bridge"
        if name not in self.allowed_network_drivers:
            allowed = ", ".join(self.allowed_network_drivers) or "none"
            refuse("allowed_network_drivers", f"{what}: driver {name!r} is not in {allowed}")
        for key, value in options.items():
            if str(key).strip().lower() in HOST_INTERFACE_OPTIONS:
                iface = str(value)
                if not any(
                    fnmatch.fnmatchcase(iface, pattern) for pattern in self.allowed_network_parents
                ):
                    refuse(
                        "allowed_network_parents",
                        f"{what}: {key}={iface!r} attaches it to a host interface",
                    )

    def check_capabilities(self, caps: Iterable[Any]) -> None:
        allowed = {_cap(c) for c in self.allowed_capabilities}
        for cap in caps:
            name = _cap(str(cap))
            if name not in allowed and "ALL" not in allowed:
                refuse("allowed_capabilities", f"capability {cap!r} is not allowed")

    def check_security_opt(self, opt: str) -> None:
        """An option as the daemon's `parseSecurityOpt` reads it (`=` or `:`, a bare
        `disable`); a seccomp profile as Go decodes it (keys in any case)."""
        key, value = engine_parse.security_opt(opt.strip())
        key, text = key.strip().lower(), value.strip()
        lowered = text.lower()
        if key in ("seccomp", "apparmor", "systempaths") and lowered == "unconfined":
            refuse("allow_unconfined", f"security option {opt!r} is not allowed")
        if key == "apparmor" and lowered not in ("", "docker-default"):
            # Another profile is whatever the host loaded under that name.
            refuse("allow_unconfined", f"security option {opt!r}: only docker-default")
        if key == "label":
            kind, _, name = lowered.partition(":")
            if kind in ("disable", "user", "role") or (
                kind == "type" and name.strip() not in engine_parse.LABEL_TYPES
            ):
                refuse("allow_unconfined", f"security option {opt!r} is not allowed")
        if key == "seccomp" and text:
            try:
                profile = engine_parse.go_json(text)
            except ValueError:
                refuse("allow_unconfined", "the seccomp profile is not valid JSON")
            caps = {_cap(c) for c in self.allowed_capabilities}
            weakness = engine_parse.seccomp_weakness(profile, caps)
            if weakness is not None:
                refuse("allow_unconfined", f"the seccomp profile is not allowed: {weakness}")

    def check_image(self, ref: str) -> None:
        """The registry a reference names (an id names none: `check_image_origin`)."""
        if not self.allowed_registries or engine_parse.is_image_id(ref):
            return
        self.check_image_name(ref)

    def check_image_name(self, ref: str) -> None:
        """`ref` read as a name, as the engine does when it is not a local image (a
        short id the engine cannot find locally is pulled from Docker Hub)."""
        if not self.allowed_registries:
            return
        registry = image_registry(ref)
        if registry not in self.registries():
            refuse("allowed_registries", f"image {ref!r} is from {registry}, not allowed")

    def registries(self) -> set[str]:
        return {engine_parse.registry_host(r) for r in self.allowed_registries}

    def check_image_origin(self, ref: str, doc: Mapping[str, Any]) -> None:
        """A local image judged by where its content came from, whatever name it was
        asked by (an id, a digest, a tag an operator pointed at other content).

        Its digests say which registries hold that content: one must be allowed.
        Content no registry holds (built or loaded here) is judged by its tags: one
        must be in an allowed registry. No tag and no digest: refused.
        """
        if not self.allowed_registries:
            return
        allowed = self.registries()
        digests = [str(d) for d in doc.get("RepoDigests") or [] if "@" in str(d)]
        tags = [str(t) for t in doc.get("RepoTags") or [] if not str(t).startswith("<none>")]
        if digests:
            if any(image_registry(d) in allowed for d in digests):
                return
            came = ", ".join(sorted({image_registry(d) for d in digests}))
            refuse("allowed_registries", f"image {ref!r} came from {came}, not allowed")
        if any(image_registry(t) in allowed for t in tags):
            return
        named = ", ".join(tags) or "no tag and no digest"
        refuse("allowed_registries", f"image {ref!r} has {named}: no allowed registry")

    def check_exec(
        self, config: Mapping[str, Any], container_user: str | None, passwd: str | None = None
    ) -> None:
        """`passwd`: the container's /etc/passwd, for a user given by name (runc reads
        it: `toor` with uid 0 is root)."""
        if _truthy(_ci(config, "Privileged")) and not self.exec_allow_privileged:
            refuse("exec_allow_privileged", "privileged exec is not allowed")
        if not self.exec_allow_root:
            user = _ci(config, "User")
            user = str(user) if user else ""
            if not user.strip():
                user = container_user or ""
            name = engine_parse.user_parts(user.strip())[0].strip()
            uid = engine_parse.exec_uid(user, passwd)
            if uid == 0 or name.lower() == "root":
                shown = user.strip() or "the default user (root)"
                refuse("exec_allow_root", f"exec as {shown!r} runs as uid 0")

    def check_build(
        self, params: Mapping[str, Any], data: Any, dockerfile: str | None = None
    ) -> list[str]:
        """The build's query and Dockerfile; returns the images the Dockerfile uses (to
        be judged by their content, `check_image_origin`) after checking their names.

        `dockerfile`: its text when the caller read it (a spooled context); else it is
        read from `data` when that is the tar's bytes.
        """
        mode = _ci(params, "networkmode")
        if isinstance(mode, str) and _is_host_mode(mode) and not self.allow_host_namespaces:
            refuse("allow_host_namespaces", "a build on the host network is not allowed")
        for tag in _as_list(_json_param_list(_ci(params, "t"))):
            self.check_image_name(str(tag))  # a tag is a name, even one of hex letters
        if self.allowed_registries and _ci(params, "remote"):
            refuse("allowed_registries", "a remote build context makes the engine fetch it")
        if dockerfile is None and isinstance(data, bytes | bytearray):
            dockerfile = _dockerfile_from_tar(bytes(data), build_dockerfile_name(params))
        if dockerfile is not None:
            self.check_dockerfile(dockerfile)
        if not self.allowed_registries:
            return []
        if dockerfile is None:
            return refuse(  # type: ignore[no-any-return]
                "allowed_registries",
                f"the build context has no {build_dockerfile_name(params)!r} to check",
            )
        try:
            uses = image_uses(dockerfile, build_args(params))
        except Unreadable as exc:
            refuse("allowed_registries", f"the Dockerfile: {exc}")
        refs = [u.ref for u in uses]
        refs += [str(r) for r in _as_list(_json_param(_ci(params, "cachefrom")))]
        for use in uses:
            if not engine_parse.is_image_id(use.ref):
                self.check_image_name(use.ref)
        return refs

    def check_dockerfile(self, text: str) -> None:
        """`RUN --network=host` / `--security=insecure` (or a variable: a build arg)."""
        for match in re.finditer(r"--(network|security)\s*=\s*(\S+)", text, re.I):
            flag, shown = match.group(1).lower(), match.group(2).strip("\"'")
            value = shown.lower()
            if (
                flag == "network"
                and value not in ("default", "none")
                and not self.allow_host_namespaces
            ):
                refuse("allow_host_namespaces", f"Dockerfile RUN --network={shown}")
            if flag == "security" and value != "sandbox" and not self.allow_privileged:
                refuse("allow_privileged", f"Dockerfile RUN --security={shown}")


def refuse(rule: str, detail: str) -> Any:
    raise errors.PolicyViolation(f"{rule}: {detail}", rule=rule)


def normalise_host_path(source: str, *, resolve: bool = True) -> str:
    """A bind source as the host sees it: absolute, `..` and `//` folded, symlinks read.

    A relative source (`./x`, `../etc`, `x/y`) is resolved against `/` — the engine
    would refuse it or read it as a volume name; here it never slips past a prefix.
    `resolve=False` leaves symlinks alone (the path as the engine was given it).
    """
    text = source.strip()
    if not text.startswith("/"):
        text = "/" + text
    text = re.sub(r"/+", "/", text)
    path = posixpath.normpath(text)
    if resolve:
        with contextlib.suppress(OSError):
            path = os.path.realpath(path)
    return path if path == "/" else path.rstrip("/")


def check_unswappable(source: str, path: str, what: str) -> None:
    """No one but root (or moorage's own user) can swap a directory on the bind's way.

    Replacing a directory by a symlink takes write access to its parent. So every
    existing directory above the source — on the path as given and as resolved —
    must be owned by root or by moorage's user, and writable by no one else (a
    sticky `/tmp` is fine: its other users cannot rename what they do not own).
    """
    trusted = {0, os.geteuid()}
    for given in {normalise_host_path(source, resolve=False), path}:
        for above in _ancestors(given):
            try:
                st = os.lstat(above)
            except OSError:
                continue  # not there (yet): the engine makes it, as root
            if not stat.S_ISDIR(st.st_mode):
                continue  # a symlink on the way: its own directory is checked
            if st.st_uid not in trusted:
                refuse("bind_mount_prefixes", f"{what}: {above!r} above it is uid {st.st_uid}'s")
            if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
                refuse("bind_mount_prefixes", f"{what}: {above!r} above it is writable by others")
        # In a sticky directory the owner of an entry can still rename it.
        with contextlib.suppress(OSError):
            parent, own = os.lstat(posixpath.dirname(given) or "/"), os.lstat(given)
            if parent.st_mode & stat.S_ISVTX and own.st_uid not in trusted:
                refuse("bind_mount_prefixes", f"{what}: uid {own.st_uid}'s, in a sticky directory")


def _ancestors(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) for i in range(len(parts))]


def image_registry(ref: str) -> str:
    """The registry a reference points at (`docker.io` for Hub names)."""
    return engine_parse.image_registry(ref)


def _is_host_mode(value: str) -> bool:
    return value.strip().lower() == "host"


def _cap(name: str) -> str:
    upper = name.strip().upper()
    return upper.removeprefix("CAP_")


def _bind_source(bind: str) -> str | None:
    """`src:dst[:mode]`: a source with a `/` (or a `.`-start) is a host path.

    Anything else is a named volume (None), checked by its own driver options when
    it is created.
    """
    source = bind.split(":", 1)[0] if ":" in bind else bind
    if "/" not in source and not source.startswith(".") and source.strip():
        return None
    return source


def _mount_options(o: str) -> dict[str, str]:
    """`o=` as mount(8) reads it: comma-separated flags and `key=value` data."""
    out: dict[str, str] = {}
    for item in o.split(","):
        if item:
            key, _, value = item.partition("=")
            out[key] = value
    return out


def _plain_tmpfs(options: Mapping[str, Any], flags: Mapping[str, str]) -> bool:
    return (
        set(options) <= LOCAL_OPTION_KEYS
        and options.get("type") == "tmpfs"
        and options.get("device") in (None, "", "tmpfs")
        and set(flags) <= TMPFS_MOUNT_OPTIONS
    )


def _bind_writable(mode: str) -> bool:
    return "ro" not in {m.strip().lower() for m in mode.split(",")}


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _ci(doc: Mapping[str, Any], key: str) -> Any:
    """A key, in whatever case the caller wrote it (Go's JSON decoder ignores case, and
    folds the long s, U+017F, to s and the Kelvin sign to k: `Source` spelled with a
    long s is Source to the engine).

    Duplicates differing only by case are refused: which one the engine keeps is
    not ours to guess.
    """
    want = engine_parse.go_json_key(key)
    fold = engine_parse.go_json_key
    found = [v for k, v in doc.items() if isinstance(k, str) and fold(k) == want]
    if len(found) > 1:
        refuse("duplicate-keys", f"{key} is given {len(found)} times")
    return found[0] if found else None


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        refuse("malformed", f"{what} must be an object")
    mapping: Mapping[str, Any] = value
    return mapping


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        refuse("malformed", f"{what} must be a list")
    items: list[Any] = value
    return items


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def build_dockerfile_name(params: Mapping[str, Any]) -> str:
    return str(_ci(params, "dockerfile") or "Dockerfile")


def build_args(params: Mapping[str, Any]) -> dict[str, str | None]:
    """The `buildargs` query (a JSON object), as the builder receives it."""
    value = _json_param(_ci(params, "buildargs"))
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        refuse("malformed", "buildargs must be a JSON object")
    return {str(k): (None if v is None else str(v)) for k, v in value.items()}


def _json_param_list(value: Any) -> Any:
    """`t` may repeat (a list) or, from some clients, be one JSON-encoded list."""
    if isinstance(value, str) and value.startswith("["):
        return _json_param(value)
    return value


def _json_param(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            refuse("malformed", f"{value[:40]!r} is not JSON")
    return value


def _dockerfile_from_tar(data: bytes, name: str) -> str | None:
    return dockerfile_from_tarfile(io.BytesIO(data), name)


def dockerfile_from_tarfile(fileobj: IO[bytes], name: str) -> str | None:
    """The Dockerfile the engine would read from a context: the last entry of that
    name (extraction keeps the last), symlinks in the context followed, and the
    builder's fallback to `dockerfile` when the default `Dockerfile` is absent."""
    try:
        with tarfile.open(fileobj=fileobj, mode="r:*") as tar:
            members: dict[str, tarfile.TarInfo] = {}
            for entry in tar:
                members[_context_path(entry.name)] = entry
            wanted = [_context_path(name)]
            if name == "Dockerfile":
                wanted.append("dockerfile")
            for path in wanted:
                member: tarfile.TarInfo | None = members.get(path)
                for _ in range(16):  # a symlink chain, bounded
                    if member is None or not (member.issym() or member.islnk()):
                        break
                    target = member.linkname
                    if member.issym() and not target.startswith("/"):
                        target = posixpath.join(posixpath.dirname(path), target)
                    path = _context_path(target)
                    member = members.get(path)
                if member is not None and member.isfile():
                    f = tar.extractfile(member)
                    return f.read(MAX_DOCKERFILE).decode("utf-8", "replace") if f else None
    except (tarfile.TarError, OSError, EOFError):
        return None
    return None


def _context_path(name: str) -> str:
    """A path in the context, as the builder scopes it (`..` cannot leave it)."""
    path = posixpath.normpath("/" + name).lstrip("/")
    return path or "."


def _json_body(data: Any) -> Any:
    if data is None:
        return None
    if isinstance(data, Mapping | list):
        return data
    if isinstance(data, bytes | bytearray | str):
        text = data.decode("utf-8", "replace") if isinstance(data, bytes | bytearray) else data
        if text.lstrip()[:1] in ("{", "["):
            try:
                return json.loads(text)
            except ValueError:
                refuse("malformed", "the engine body is not valid JSON")
    return None


def _path(path: str) -> list[str]:
    return [p for p in _VERSION_PREFIX.sub("", path).split("?")[0].split("/") if p]


# Returns None, or the body to send instead (an exec pinned to the uid it was judged as).
Guard = Callable[[str, str, Mapping[str, Any] | None, Any], Awaitable[Any]]


def engine_guard(policy: Policy, engine: Engine) -> Guard:
    """The hook `Engine` calls before sending any non-GET request to the engine."""

    async def guard(method: str, path: str, params: Mapping[str, Any] | None, data: Any) -> Any:
        parts = _path(path)
        params = params or {}
        if _enters(parts) and method in ("GET", "HEAD", "PUT"):
            await check_entry(policy, engine, parts[1])
            return
        if method == "GET" and parts:
            check_fetch(policy, parts, params)
            return
        if method != "POST" or not parts:
            return
        if parts == ["containers", "create"]:
            body = _mapping(_json_body(data) or {}, "the create body")
            policy.check_container_config(body)
            host = _mapping(_ci(body, "HostConfig") or {}, "HostConfig")
            await check_joined(policy, engine, host)
            image = _ci(body, "Image")
            if isinstance(image, str) and image:
                await judge_image(policy, engine, image)
            binds = await check_named_volumes(policy, engine, host) + _host_binds(host)
            binds += await volumes_from_binds(policy, engine, host)
            if binds:
                await check_bind_nesting(engine, binds)
        elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "update":
            body = _json_body(data)
            policy.check_host_config(_mapping(body or {}, "the update body"), update=True)
        elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "start":
            body = _json_body(data)  # pre-1.24 engines took a HostConfig here
            if body:
                policy.check_host_config(_mapping(body, "the start body"))
            await check_before_start(policy, engine, parts[1])
        elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "restart":
            await check_before_start(policy, engine, parts[1])
        elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "attach":
            await check_entry(policy, engine, parts[1])
        elif parts == ["commit"]:
            await check_commit(policy, engine, params)
        elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "exec":
            body = _mapping(_json_body(data) or {}, "the exec body")
            await check_entry(policy, engine, parts[1])
            user, passwd = None, None
            if not policy.exec_allow_root:
                asked = str(_ci(body, "User") or "")
                if not asked.strip():
                    doc = await engine.json("GET", f"containers/{parts[1]}/json", kind="container")
                    user = str((doc.get("Config") or {}).get("User") or "")
                name = engine_parse.user_parts((asked.strip() or user or "").strip())[0]
                if engine_parse.go_atoi(name.strip()) is None and name.strip():
                    passwd = await container_passwd(engine, parts[1])
            policy.check_exec(body, user, passwd)
            if passwd is not None:
                return pinned_exec_body(body, asked.strip() or user or "", passwd)
        elif len(parts) == 3 and parts[0] == "networks" and parts[2] == "connect":
            if not policy.allow_host_namespaces:
                net = parts[1]
                if _is_host_mode(net):
                    refuse("allow_host_namespaces", "connecting to the host network")
                doc = await engine.json("GET", f"networks/{net}", kind="network")
                if str(doc.get("Driver", "")).lower() == "host":
                    refuse("allow_host_namespaces", "connecting to the host network")
        elif parts == ["volumes", "create"]:
            body = _mapping(_json_body(data) or {}, "the volume body")
            options = _mapping(_ci(body, "DriverOpts") or {}, "DriverOpts")
            policy.check_volume(_ci(body, "Driver"), options, f"volume {_ci(body, 'Name')!r}")
        elif parts == ["networks", "create"]:
            body = _mapping(_json_body(data) or {}, "the network body")
            await check_network_create(policy, engine, body)
        elif parts == ["build"]:
            dockerfile = None
            if isinstance(data, TarContext):
                dockerfile = await asyncio.to_thread(
                    data.read_tar, dockerfile_from_tarfile, build_dockerfile_name(params)
                )
            elif policy.allowed_registries and not isinstance(data, bytes | bytearray):
                refuse("allowed_registries", "a build context the policy cannot read")
            for ref in policy.check_build(params, data, dockerfile):
                await judge_image(policy, engine, ref, absent_is_name=True)
        elif parts == ["images", "create"]:
            image = _ci(params, "fromImage")
            if _ci(params, "fromSrc") not in (None, "", "-") and policy.allowed_registries:
                refuse("allowed_registries", "an import from a URL makes the engine fetch it")
            if image and not _ci(params, "fromSrc"):
                tag = _ci(params, "tag")
                policy.check_image_name(str(image))
                if tag:
                    policy.check_image_name(f"{image}:{tag}")
        elif len(parts) >= 3 and parts[0] == "images" and parts[-1] in ("push", "tag"):
            source = "/".join(parts[1:-1])
            if parts[-1] == "push":
                policy.check_image_name(source)
                tag = _ci(params, "tag")
                await judge_image(policy, engine, f"{source}:{tag}" if tag else source)
            else:
                if _ci(params, "repo"):
                    policy.check_image_name(str(_ci(params, "repo")))
                # The new name carries the source's content: judge where that came from.
                await judge_image(policy, engine, source)
        elif parts == ["auth"]:
            # A login makes the engine send credentials to that registry.
            login = _mapping(_json_body(data) or {}, "the auth body")
            server = str(_ci(login, "serveraddress") or "docker.io")
            address = re.sub(r"^[a-z]+://", "", server.strip(), flags=re.I).split("/")[0]
            if policy.allowed_registries and engine_parse.registry_host(address) not in (
                policy.registries()
            ):
                refuse("allowed_registries", f"a login to {server!r} is not allowed")
        elif parts == ["services", "create"] or (
            len(parts) == 3 and parts[0] == "services" and parts[2] == "update"
        ):
            body = _mapping(_json_body(data) or {}, "the service body")
            await check_service(policy, engine, body)

    return guard


async def check_service(policy: Policy, engine: Engine, body: Mapping[str, Any]) -> None:
    """A service spec (`Policy.check_service_spec`), then what it names on this engine:
    its volumes as they are (a node's own volumes are out of sight), and each network
    by its driver (`host` under another name is still the host's)."""
    policy.check_service_spec(body)
    task = _mapping(_ci(body, "TaskTemplate") or {}, "TaskTemplate")
    container = _mapping(_ci(task, "ContainerSpec") or {}, "ContainerSpec")
    await check_named_volumes(policy, engine, {"Mounts": _ci(container, "Mounts")})
    if policy.allow_host_namespaces:
        return
    for net in _list(_ci(task, "Networks"), "Networks") + _list(_ci(body, "Networks"), "Networks"):
        target = str(_ci(_mapping(net, "Networks"), "Target") or "").strip()
        if not target:
            continue
        try:
            doc = await engine.json("GET", f"networks/{quote(target, safe='')}", kind="network")
        except errors.NotFound:
            continue  # the engine refuses a network it does not have
        if str(doc.get("Driver", "")).lower() == "host":
            refuse("allow_host_namespaces", f"a service on the host network ({target!r})")


def pinned_exec_body(body: Mapping[str, Any], user: str, passwd: str) -> bytes | None:
    """The exec body with its user name replaced by the uid it was judged as.

    runc resolves a name when the exec *starts*, through the container's /etc/passwd,
    which the container itself may rewrite after the check (`bob` becoming uid 0): the
    engine is handed the number instead. The group part is kept as it was.
    """
    _, group = engine_parse.user_parts(user.strip())
    uid = engine_parse.exec_uid(user, passwd)
    if uid is None:
        return None  # the engine refuses a name it cannot find, as it would have
    pinned = f"{uid}:{group}" if ":" in user else str(uid)
    kept = {
        k: v
        for k, v in body.items()
        if not (isinstance(k, str) and engine_parse.go_json_key(k) == "user")
    }
    return json.dumps({**kept, "User": pinned}).encode()


def check_fetch(policy: Policy, parts: list[str], params: Mapping[str, Any]) -> None:
    """GETs that make the engine reach a registry: a distribution lookup, a search."""
    if parts[0] == "distribution" and len(parts) >= 3:
        policy.check_image_name("/".join(parts[1:-1]))
    elif parts[:2] == ["images", "search"]:
        term = str(_ci(params, "term") or "")
        policy.check_image_name(term if "/" in term else f"docker.io/{term}")


def guards_read(path: str) -> bool:
    """Whether a GET to `path` goes to the guard: it makes the engine fetch, or it
    reads a container's files (`_enters`)."""
    parts = _path(path)
    return parts[:1] == ["distribution"] or parts[:2] == ["images", "search"] or _enters(parts)


def _enters(parts: list[str]) -> bool:
    """A container's files read or written through its archive (GET, HEAD, PUT): the
    paths include its binds. (An export is its own layers only: not judged.)"""
    return len(parts) == 3 and parts[0] == "containers" and parts[2] == "archive"


async def check_commit(policy: Policy, engine: Engine, params: Mapping[str, Any]) -> None:
    """A commit names a new image and gives it the container's content: the name must
    be in an allowed registry, and the content (the container's image, plus what ran
    on it) must have come from one — else a commit launders an image as a tag would."""
    if not policy.allowed_registries:
        return
    repo = _ci(params, "repo")
    if repo:
        policy.check_image_name(str(repo))
    ref = str(_ci(params, "container") or "")
    if ref:
        doc = await _container(engine, ref)
        await judge_image(policy, engine, str(doc.get("Image") or ref))


@runtime_checkable
class TarContext(Protocol):
    """A build context kept (spooled) before it goes on, so that it can be read."""

    def read_tar(self, reader: Callable[[IO[bytes], str], T], name: str) -> T: ...


async def judge_image(
    policy: Policy, engine: Engine, ref: str, *, absent_is_name: bool = False
) -> None:
    """A local image by its content (`check_image_origin`); one the engine does not
    have is judged by its name when the engine would then pull it (`absent_is_name`:
    a build's FROM; a create does not pull, it fails)."""
    if not policy.allowed_registries:
        return
    try:
        doc = await engine.json("GET", f"images/{ref}/json", kind="image", ref=ref)
    except errors.NotFound:
        if absent_is_name:
            policy.check_image_name(ref)
        return
    policy.check_image_origin(ref, _mapping(doc or {}, "the image"))


async def container_passwd(engine: Engine, container: str) -> str | None:
    """The container's /etc/passwd, as runc reads it (symlinks followed in the
    container); None when it has none."""
    path = "/etc/passwd"
    for _ in range(8):
        try:
            async with engine.request(
                "GET",
                f"containers/{container}/archive",
                params={"path": path},
                kind="container",
                ref=container,
            ) as response:
                data = await response.content.read(MAX_PASSWD + 64 * 1024)
        except errors.NotFound:
            return None
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            member = tar.next()
            if member is None:
                return None
            if member.issym():
                target = member.linkname
                path = posixpath.normpath(
                    target
                    if target.startswith("/")
                    else posixpath.join(posixpath.dirname(path), target)
                )
                continue
            if not member.isfile() or member.size > MAX_PASSWD:
                refuse(
                    "exec_allow_root", f"{path} in the container cannot be read to resolve the user"
                )
            f = tar.extractfile(member)
            return f.read().decode("utf-8", "replace") if f else None
    return refuse(  # type: ignore[no-any-return]
        "exec_allow_root", "/etc/passwd in the container is a symlink chain"
    )


async def check_joined(policy: Policy, engine: Engine, host: Mapping[str, Any]) -> None:
    """Namespaces and volumes taken from another container carry what it has.

    `PidMode: container:x` joins x's pid namespace — the host's, if x was made with
    `PidMode: host` (outside moorage, or before the policy), or if x itself joined
    such a container: each chain is followed to its end. `VolumesFrom: x` inherits
    x's mounts (the engine lists inherited ones among x's own). Such a container is
    judged as if its settings were asked for here.
    """
    for key in NAMESPACE_FIELDS:
        value = _ci(host, key)
        if isinstance(value, str) and value.strip().lower().startswith("container:"):
            await _check_join_chain(policy, engine, key, value)
    for entry in _list(_ci(host, "VolumesFrom"), "VolumesFrom"):
        ref = str(entry).split(":", 1)[0].strip()
        doc = await _container(engine, ref)
        await check_container_mounts(policy, engine, doc, f"VolumesFrom {ref!r}")


async def volumes_from_binds(policy: Policy, engine: Engine, host: Mapping[str, Any]) -> list[Bind]:
    """The binds `VolumesFrom` hands the new container, in the mode it gets them
    (`x:ro` makes them read-only; `x:rw` cannot make a read-only one writable).

    A writable bind above another container's bind (the swap `check_bind_nesting`
    refuses) can come this way as well as by `Binds`.
    """
    binds: list[Bind] = []
    for entry in _list(_ci(host, "VolumesFrom"), "VolumesFrom"):
        ref, _, mode = str(entry).partition(":")
        doc = await _container(engine, ref.strip())
        inherited = await check_container_mounts(policy, engine, doc, f"VolumesFrom {ref!r}")
        for path, writable, what in inherited:
            if mode.strip():
                writable = writable and _bind_writable(mode)
            binds.append((path, writable, f"VolumesFrom {ref.strip()!r} {what}"))
    return binds


async def _check_join_chain(policy: Policy, engine: Engine, key: str, value: str) -> None:
    """`key=container:A`, A joined B's namespace, B joined C's…: judged by every link.

    The engine stores a join by container id, so a chain cannot be re-pointed by a
    rename; a cycle (made by removing and re-creating) holds no host namespace.
    """
    seen: set[str] = set()
    mode = value
    for depth in range(MAX_JOIN_DEPTH):
        ref = mode.strip().split(":", 1)[1].strip()
        doc = await _container(engine, ref)
        cid = str(doc.get("Id") or ref)
        if cid in seen:
            return
        seen.add(cid)
        other = doc.get("HostConfig") or {}
        name = str(doc.get("Name") or ref).lstrip("/")
        via = f"{key}={value!r}" + (f" (link {depth + 1}: {name})" if depth else "")
        if _truthy(other.get("Privileged")) and not policy.allow_privileged:
            refuse("allow_privileged", f"{via} joins privileged container {name!r}")
        joined = other.get(key)
        if not isinstance(joined, str):
            return
        if _is_host_mode(joined):
            if not policy.allow_host_namespaces:
                refuse("allow_host_namespaces", f"{via} joins the host's namespace")
            return
        if not joined.strip().lower().startswith("container:"):
            return
        mode = joined
    refuse(
        "allow_host_namespaces",
        f"{key}={value!r} joins a chain longer than {MAX_JOIN_DEPTH} containers",
    )


# A bind as moorage judges nesting: (host path resolved now, writable, what it is).
Bind = tuple[str, bool, str]


async def check_named_volumes(
    policy: Policy, engine: Engine, host: Mapping[str, Any]
) -> list[Bind]:
    """Every existing named volume a create mounts, judged by what it is on the engine.

    A volume made outside moorage (`docker volume create -o type=none -o o=bind -o
    device=/`) is mounted as it is, whatever the create asks; one that does not exist
    yet is made from the create's own options, already judged by `check_mount`.
    Gives the binds such volumes are (for `check_bind_nesting`).
    """
    named: list[tuple[str, bool, str]] = []
    for bind in _list(_ci(host, "Binds"), "Binds"):
        if isinstance(bind, str) and _bind_source(bind) is None:
            parts = bind.split(":")
            mode = parts[2] if len(parts) > 2 else ""
            named.append((parts[0].strip(), _bind_writable(mode), f"Binds {bind!r}"))
    for mount in _list(_ci(host, "Mounts"), "Mounts"):
        mount = _mapping(mount, "Mounts")
        source = _ci(mount, "Source")
        kind = str(_ci(mount, "Type") or "").strip().lower()
        if kind == "volume" and isinstance(source, str) and source.strip():
            writable = not _truthy(_ci(mount, "ReadOnly"))
            named.append((source.strip(), writable, f"Mounts volume {source!r}"))
    binds: list[Bind] = []
    for name, writable, what in named:
        doc = await _volume(engine, name)
        if doc is not None:
            policy.check_volume(doc.get("Driver"), doc.get("Options"), f"{what} (as it is)")
            binds.extend(_volume_bind(doc, writable, what))
    return binds


async def check_container_mounts(
    policy: Policy, engine: Engine, doc: Mapping[str, Any], what: str
) -> list[Bind]:
    """A container's mounts as the engine has them: binds resolved now, volumes inspected."""
    binds: list[Bind] = []
    for mount in doc.get("Mounts") or []:
        kind = str(mount.get("Type", "")).lower()
        if kind == "bind":
            source = str(mount.get("Source", ""))
            policy.check_bind_source(source, f"{what} bind {source!r}")
            binds.append((normalise_host_path(source), bool(mount.get("RW")), f"bind {source!r}"))
        elif kind == "volume" and mount.get("Name"):
            name = str(mount["Name"])
            vol = await _volume(engine, name)
            if vol is not None:
                shown = f"{what} volume {name!r}"
                policy.check_volume(vol.get("Driver"), vol.get("Options"), shown)
                binds.extend(_volume_bind(vol, bool(mount.get("RW")), f"volume {name!r}"))
    return binds


async def check_before_start(policy: Policy, engine: Engine, ref: str) -> None:
    """A start or restart, judged on the container as it is now.

    A bind source is a path: what it resolves to can change after the create was
    checked (a directory under an allowed prefix swapped for a symlink to `/`), and
    the engine resolves it again at every start. So every start and restart through
    moorage judges the container's binds, volumes and namespace joins again.
    """
    doc, binds = await check_container_as_it_is(policy, engine, ref)
    if binds:
        await check_bind_nesting(engine, binds, skip=str(doc.get("Id") or ""))


async def check_entry(policy: Policy, engine: Engine, ref: str) -> None:
    """An exec, attach, or archive read or write of a container: judged like
    a start, on the container as the engine has it.

    A container made outside moorage (or before the policy) may be privileged, share
    the host's pid namespace or bind `/etc`: an exec in it, or an archive `GET` of
    `/host/etc/shadow` or `PUT` into its bind, reaches the host as surely as creating
    it would. What moorage would not create or start, it does not enter either.
    """
    await check_container_as_it_is(policy, engine, ref)


async def check_container_as_it_is(
    policy: Policy, engine: Engine, ref: str
) -> tuple[dict[str, Any], list[Bind]]:
    """Privileged, host namespaces, joins and mounts of the container `ref` now."""
    doc = await _container(engine, ref)
    host = doc.get("HostConfig") or {}
    name = str(doc.get("Name") or ref).lstrip("/")
    if _truthy(host.get("Privileged")) and not policy.allow_privileged:
        refuse("allow_privileged", f"container {name!r} is privileged")
    if not policy.allow_host_namespaces:
        for key, what in NAMESPACE_FIELDS.items():
            value = host.get(key)
            # `CgroupnsMode: host` is what the engine fills in on cgroup v1 hosts.
            if key != "CgroupnsMode" and isinstance(value, str) and _is_host_mode(value):
                refuse("allow_host_namespaces", f"container {name!r} shares the host's {what}")
    await check_joined(policy, engine, {k: host[k] for k in NAMESPACE_FIELDS if host.get(k)})
    binds = await check_container_mounts(policy, engine, doc, f"container {name!r}")
    return doc, binds


async def check_bind_nesting(engine: Engine, binds: list[Bind], *, skip: str = "") -> None:
    """No bind below a directory some container can write, none writable above another's.

    Whoever can write the parent of a bind source can swap the source for a symlink
    between the check and the engine's mount (a race no re-check closes, and the
    engine's own restarts are never checked): so a bind is refused while any
    container (this one included) has a writable bind of a directory above it, and a
    writable bind while any container binds something below it.
    """
    mounted = await _mounted_binds(engine, skip=skip)
    everyone = mounted + [(path, writable, "this container") for path, writable, _ in binds]
    for path, _, what in binds:
        for other, writable, who in everyone:
            if writable and _strictly_below(path, other):
                refuse(
                    "bind_mount_prefixes",
                    f"{what}: {other!r} above it is writable in {who}, which could swap a "
                    "directory on its way for a symlink",
                )
    for path, writable, what in binds:
        for other, _, who in mounted if writable else []:
            if _strictly_below(other, path):
                refuse(
                    "bind_mount_prefixes",
                    f"{what} is writable, and {who} binds {other!r} below it",
                )


async def check_network_create(policy: Policy, engine: Engine, body: Mapping[str, Any]) -> None:
    driver = _ci(body, "Driver")
    policy.check_network_options(driver, _mapping(_ci(body, "Options") or {}, "Options"), "network")
    config = _ci(body, "ConfigFrom")
    ref = _ci(_mapping(config, "ConfigFrom"), "Network") if config is not None else None
    if isinstance(ref, str) and ref.strip():
        # The options (a macvlan's `parent`) come from a config-only network.
        doc = await engine.json("GET", f"networks/{quote(ref, safe='')}", kind="network", ref=ref)
        options = _mapping(doc.get("Options") or {}, "Options")
        policy.check_network_options(driver, options, f"network config from {ref!r}")


async def _container(engine: Engine, ref: str) -> dict[str, Any]:
    path = f"containers/{quote(ref, safe='')}/json"
    doc: dict[str, Any] = await engine.json("GET", path, kind="container", ref=ref)
    return doc


async def _volume(engine: Engine, name: str) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = await engine.json(
            "GET", f"volumes/{quote(name, safe='')}", kind="volume", ref=name
        )
    except errors.NotFound:
        return None
    return doc


def _volume_bind(
    doc: Mapping[str, Any], writable: bool, what: str, *, resolve: bool = True
) -> list[Bind]:
    """A local volume with `o=bind` is a bind of its device."""
    options = doc.get("Options") or {}
    if str(doc.get("Driver") or LOCAL_DRIVER) != LOCAL_DRIVER or not isinstance(options, dict):
        return []
    flags = _mount_options(str(options.get("o") or ""))
    device = options.get("device")
    if not isinstance(device, str) or not ({"bind", "rbind"} & {f.lower() for f in flags}):
        return []
    path = normalise_host_path(device, resolve=resolve)
    return [(path, writable and "ro" not in flags, what)]


async def _mounted_binds(engine: Engine, *, skip: str) -> list[Bind]:
    """Every bind of every container on the engine (but `skip`), by the engine's path.

    Not resolved: a running container holds the directory it was started on, and one
    whose source has since become a symlink is refused at its next start here.
    """
    containers = await engine.json("GET", "containers/json", params={"all": "1"})
    volumes: dict[str, dict[str, Any]] | None = None
    out: list[Bind] = []
    for c in containers or []:
        if c.get("Id") == skip:
            continue
        who = f"container {str((c.get('Names') or [c.get('Id')])[0]).lstrip('/')!r}"
        for m in c.get("Mounts") or []:
            kind = str(m.get("Type", "")).lower()
            if kind == "bind" and m.get("Source"):
                path = normalise_host_path(str(m["Source"]), resolve=False)
                out.append((path, bool(m.get("RW")), who))
            elif kind == "volume" and m.get("Name"):
                if volumes is None:
                    listed = await engine.json("GET", "volumes")
                    volumes = {str(v.get("Name")): v for v in (listed or {}).get("Volumes") or []}
                vol = volumes.get(str(m["Name"]))
                if vol is not None:
                    out.extend(_volume_bind(vol, bool(m.get("RW")), who, resolve=False))
    return out


def _host_binds(host: Mapping[str, Any]) -> list[Bind]:
    """The host paths a create body binds (already judged by `check_host_storage`)."""
    out: list[Bind] = []
    for bind in _list(_ci(host, "Binds"), "Binds"):
        source = _bind_source(str(bind))
        if source is not None:
            parts = str(bind).split(":")
            mode = parts[2] if len(parts) > 2 else ""
            out.append((normalise_host_path(source), _bind_writable(mode), f"Binds {bind!r}"))
    for mount in _list(_ci(host, "Mounts"), "Mounts"):
        mount = _mapping(mount, "Mounts")
        if str(_ci(mount, "Type") or "").strip().lower() == "bind":
            source = str(_ci(mount, "Source") or "")
            writable = not _truthy(_ci(mount, "ReadOnly"))
            out.append((normalise_host_path(source), writable, f"Mounts source {source!r}"))
        elif str(_ci(mount, "Type") or "").strip().lower() == "volume":
            opts = _ci(_mapping(_ci(mount, "VolumeOptions") or {}, "VolumeOptions"), "DriverConfig")
            options = _ci(_mapping(opts or {}, "DriverConfig"), "Options") or {}
            fake = {"Driver": LOCAL_DRIVER, "Options": options}
            out.extend(_volume_bind(fake, not _truthy(_ci(mount, "ReadOnly")), "Mounts volume"))
    return out


def _strictly_below(path: str, parent: str) -> bool:
    return path != parent and path.startswith(parent.rstrip("/") + "/")


def load_policy(path: Path | None) -> Policy | None:
    return Policy.load(path) if path is not None else None
