"""The security policy: what a create / run / update / exec / connect / build may ask.

The policy looks at the *engine* payloads, at the one chokepoint every engine call
passes (`Engine.guard`, called from aiodocker's `_do_query`), so every request form a
route accepts (`mounts`, both `volumes` forms, raw engine bodies, aiodocker's own
helpers) is checked in the shape the engine will act on. A refusal raises
`PolicyViolation` (403 `policy-violation`) whose detail names the rule.

Without `MOORAGE_POLICY_FILE` there is no policy (API.md: "a policy, configured");
with a file, absent keys take the defaults below (the strict ones).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import re
import tarfile
import tomllib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from app import errors

if TYPE_CHECKING:
    from app.engine import Engine

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
ROOT_USERS = {"", "root", "0"}
RUNC = {"", "runc", "io.containerd.runc.v2"}
_VERSION_PREFIX = re.compile(r"^/*(v\d+(\.\d+)?/)?")


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

    def check_host_config(self, host: Mapping[str, Any], *, update: bool = False) -> None:
        if _truthy(_ci(host, "Privileged")) and not self.allow_privileged:
            refuse("allow_privileged", "privileged containers are not allowed")
        if not self.allow_host_namespaces:
            for key, what in NAMESPACE_FIELDS.items():
                value = _ci(host, key)
                if isinstance(value, str) and _is_host_mode(value):
                    refuse("allow_host_namespaces", f"{key}={value!r} shares the host's {what}")
        for bind in _list(_ci(host, "Binds"), "Binds"):
            if not isinstance(bind, str):
                refuse("bind_mount_prefixes", f"Binds entry {bind!r} is not a string")
            source = _bind_source(bind)
            if source is not None:
                self.check_bind_source(source, f"Binds {bind!r}")
        for mount in _list(_ci(host, "Mounts"), "Mounts"):
            self.check_mount(_mapping(mount, "Mounts"))
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

    def check_mount(self, mount: Mapping[str, Any]) -> None:
        kind = str(_ci(mount, "Type") or "").strip().lower()
        source = _ci(mount, "Source")
        if kind == "bind" or (kind == "" and isinstance(source, str) and "/" in source):
            self.check_bind_source(str(source or ""), f"Mounts source {source!r}")
        elif kind == "volume":
            # A volume of the local driver with o=bind is a bind mount in disguise.
            opts = _ci(_mapping(_ci(mount, "VolumeOptions") or {}, "VolumeOptions"), "DriverConfig")
            driver = _mapping(opts or {}, "DriverConfig")
            self.check_volume_options(_mapping(_ci(driver, "Options") or {}, "Options"))
        elif kind not in ("tmpfs", "npipe", "cluster", "image", ""):
            refuse("bind_mount_prefixes", f"mount type {kind!r} is not allowed")

    def check_volume_options(self, options: Mapping[str, Any]) -> None:
        """A volume whose driver options bind a host path (`o=bind`, `device=/etc`)."""
        device = _ci(options, "device")
        o = str(_ci(options, "o") or "")
        kind = str(_ci(options, "type") or "")
        binds = "bind" in o or kind in ("none", "")
        if isinstance(device, str) and binds and device.startswith(("/", ".")):
            self.check_bind_source(device, f"volume device {device!r}")

    def check_bind_source(self, source: str, what: str) -> None:
        path = normalise_host_path(source)
        for sock in DOCKER_SOCKETS:
            if path == sock or path == os.path.realpath(sock):
                refuse("bind_mount_prefixes", f"{what}: the engine socket is never mountable")
        for prefix in self.bind_mount_prefixes:
            base = normalise_host_path(prefix)
            if path == base or path.startswith(base.rstrip("/") + "/"):
                return
        allowed = ", ".join(self.bind_mount_prefixes) or "none"
        refuse("bind_mount_prefixes", f"{what} resolves to {path!r}, outside {allowed}")

    def check_capabilities(self, caps: Iterable[Any]) -> None:
        allowed = {_cap(c) for c in self.allowed_capabilities}
        for cap in caps:
            name = _cap(str(cap))
            if name not in allowed and "ALL" not in allowed:
                refuse("allowed_capabilities", f"capability {cap!r} is not allowed")

    def check_security_opt(self, opt: str) -> None:
        text = opt.strip()
        key, sep, value = text.partition("=")
        if not sep:
            key, _, value = text.partition(":")
        key, value = key.strip().lower(), value.strip()
        lowered = value.lower()
        if key in ("seccomp", "apparmor", "systempaths") and lowered == "unconfined":
            refuse("allow_unconfined", f"security option {opt!r} is not allowed")
        if key == "label" and lowered in ("disable", "disabled"):
            refuse("allow_unconfined", f"security option {opt!r} is not allowed")
        if key == "seccomp" and value.startswith("{"):
            try:
                profile = json.loads(value)
            except ValueError:
                refuse("allow_unconfined", "the seccomp profile is not valid JSON")
            if str(profile.get("defaultAction", "")).upper() in (
                "SCMP_ACT_ALLOW",
                "SCMP_ACT_LOG",
            ):
                refuse("allow_unconfined", "a seccomp profile that allows by default")

    def check_image(self, ref: str) -> None:
        if not self.allowed_registries or ref.startswith("sha256:") or _is_image_id(ref):
            return
        registry = image_registry(ref)
        allowed = {_registry(r) for r in self.allowed_registries}
        if registry not in allowed:
            refuse("allowed_registries", f"image {ref!r} is from {registry}, not allowed")

    def check_exec(self, config: Mapping[str, Any], container_user: str | None) -> None:
        if _truthy(_ci(config, "Privileged")) and not self.exec_allow_privileged:
            refuse("exec_allow_privileged", "privileged exec is not allowed")
        if not self.exec_allow_root:
            user = _ci(config, "User")
            user = str(user).strip() if user else ""
            if not user:
                user = (container_user or "").strip()
            name = user.split(":", 1)[0].strip().lower()
            if name in ROOT_USERS or (name.isdigit() and int(name) == 0):
                refuse("exec_allow_root", f"exec as {user or 'the default user (root)'!r}")

    def check_build(self, params: Mapping[str, Any], data: Any) -> None:
        mode = _ci(params, "networkmode")
        if isinstance(mode, str) and _is_host_mode(mode) and not self.allow_host_namespaces:
            refuse("allow_host_namespaces", "a build on the host network is not allowed")
        for tag in _as_list(_ci(params, "t")):
            self.check_image(str(tag))
        if isinstance(data, bytes | bytearray):
            dockerfile = str(_ci(params, "dockerfile") or "Dockerfile")
            text = _dockerfile_from_tar(bytes(data), dockerfile)
            if text is not None:
                self.check_dockerfile(text)

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


def normalise_host_path(source: str) -> str:
    """A bind source as the host sees it: absolute, `..` and `//` folded, symlinks read.

    A relative source (`./x`, `../etc`, `x/y`) is resolved against `/` — the engine
    would refuse it or read it as a volume name; here it never slips past a prefix.
    """
    text = source.strip()
    if not text.startswith("/"):
        text = "/" + text
    text = re.sub(r"/+", "/", text)
    path = posixpath.normpath(text)
    with contextlib.suppress(OSError):
        path = os.path.realpath(path)
    return path if path == "/" else path.rstrip("/")


def image_registry(ref: str) -> str:
    """The registry a reference points at (`docker.io` for Hub names)."""
    name = ref.strip().lower()
    first, sep, _ = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return _registry(first)
    return "docker.io"


def _registry(name: str) -> str:
    host = name.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def _is_image_id(ref: str) -> bool:
    return re.fullmatch(r"[0-9a-f]{12}|[0-9a-f]{64}", ref) is not None


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


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _ci(doc: Mapping[str, Any], key: str) -> Any:
    """A key, in whatever case the caller wrote it (Go's JSON decoder ignores case).

    Duplicates differing only by case are refused: which one the engine keeps is
    not ours to guess.
    """
    found = [v for k, v in doc.items() if isinstance(k, str) and k.lower() == key.lower()]
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


def _dockerfile_from_tar(data: bytes, name: str) -> str | None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            wanted = posixpath.normpath(name.lstrip("./") or "Dockerfile")
            for member in tar.getmembers():
                if posixpath.normpath(member.name.lstrip("./")) == wanted and member.isfile():
                    f = tar.extractfile(member)
                    return f.read().decode("utf-8", "replace") if f else None
    except (tarfile.TarError, OSError, EOFError):
        return None
    return None


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


Guard = Callable[[str, str, Mapping[str, Any] | None, Any], Awaitable[None]]


def engine_guard(policy: Policy, engine: Engine) -> Guard:
    """The hook `Engine` calls before sending any non-GET request to the engine."""

    async def guard(method: str, path: str, params: Mapping[str, Any] | None, data: Any) -> None:
        parts = _path(path)
        params = params or {}
        if method != "POST" or not parts:
            return
        if parts == ["containers", "create"]:
            body = _mapping(_json_body(data) or {}, "the create body")
            policy.check_container_config(body)
            host = _mapping(_ci(body, "HostConfig") or {}, "HostConfig")
            await check_joined(policy, engine, host)
        elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "update":
            body = _json_body(data)
            policy.check_host_config(_mapping(body or {}, "the update body"), update=True)
        elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "start":
            body = _json_body(data)  # pre-1.24 engines took a HostConfig here
            if body:
                policy.check_host_config(_mapping(body, "the start body"))
        elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "exec":
            body = _mapping(_json_body(data) or {}, "the exec body")
            user = None
            if not policy.exec_allow_root and not _ci(body, "User"):
                doc = await engine.json("GET", f"containers/{parts[1]}/json", kind="container")
                user = str((doc.get("Config") or {}).get("User") or "")
            policy.check_exec(body, user)
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
            policy.check_volume_options(_mapping(_ci(body, "DriverOpts") or {}, "DriverOpts"))
        elif parts == ["build"]:
            policy.check_build(params, data)
        elif parts == ["images", "create"]:
            image = _ci(params, "fromImage")
            if image and not _ci(params, "fromSrc"):
                policy.check_image(str(image))
        elif len(parts) >= 3 and parts[0] == "images" and parts[-1] in ("push", "tag"):
            if parts[-1] == "push":
                policy.check_image("/".join(parts[1:-1]))
            elif _ci(params, "repo"):
                policy.check_image(str(_ci(params, "repo")))
        elif parts[:1] == ["services"] and parts[-1] in ("create", "update"):
            body = _mapping(_json_body(data) or {}, "the service body")
            spec = _mapping(
                _ci(_mapping(_ci(body, "TaskTemplate") or {}, "TaskTemplate"), "ContainerSpec")
                or {},
                "ContainerSpec",
            )
            if _ci(spec, "Image"):
                policy.check_image(str(_ci(spec, "Image")))
            for mount in _list(_ci(spec, "Mounts"), "Mounts"):
                self_mount = _mapping(mount, "Mounts")
                policy.check_mount(self_mount)
            policy.check_capabilities(_list(_ci(spec, "CapabilityAdd"), "CapabilityAdd"))

    return guard


async def check_joined(policy: Policy, engine: Engine, host: Mapping[str, Any]) -> None:
    """Namespaces and volumes taken from another container carry what it has.

    `PidMode: container:x` joins x's pid namespace — the host's, if x was made with
    `PidMode: host` (outside moorage, or before the policy); `VolumesFrom: x` inherits
    x's bind mounts. Such a container is judged as if its settings were asked for here.
    """
    for key in NAMESPACE_FIELDS:
        value = _ci(host, key)
        if isinstance(value, str) and value.strip().lower().startswith("container:"):
            ref = value.strip().split(":", 1)[1]
            doc = await engine.json("GET", f"containers/{ref}/json", kind="container", ref=ref)
            other = doc.get("HostConfig") or {}
            if _truthy(other.get("Privileged")) and not policy.allow_privileged:
                refuse("allow_privileged", f"{key}={value!r} joins a privileged container")
            joined = other.get(key)
            if (
                isinstance(joined, str)
                and _is_host_mode(joined)
                and not policy.allow_host_namespaces
            ):
                refuse("allow_host_namespaces", f"{key}={value!r} joins the host's namespace")
    for entry in _list(_ci(host, "VolumesFrom"), "VolumesFrom"):
        ref = str(entry).split(":", 1)[0]
        doc = await engine.json("GET", f"containers/{ref}/json", kind="container", ref=ref)
        for mount in doc.get("Mounts") or []:
            if str(mount.get("Type", "")).lower() == "bind":
                policy.check_bind_source(
                    str(mount.get("Source", "")),
                    f"VolumesFrom {ref!r} bind {mount.get('Source')!r}",
                )


def load_policy(path: Path | None) -> Policy | None:
    return Policy.load(path) if path is not None else None
