"""Swarm services: `ServiceSpec` in moorage's names, both ways.

`ServiceSpec.apply(doc)` writes the fields the caller *set* onto an engine service spec:
onto `{}` for a create, onto the service's current spec for a PATCH (so a PATCH of one
field changes that field only, and the caller never sends the spec back).
`spec_from_engine` reads an engine spec back into moorage's names (`Service.spec`).

Durations are seconds (the engine's nanoseconds never show), memory bytes or `"512m"`,
CPUs a float (the engine's NanoCPUs). Secrets and configs are named; the engine's ids
are filled in by app/services/swarm.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from app.models.common import Bytes, LabelKey, LabelValue, RequestBody, rfc3339, split_kv_list
from app.models.containers import (
    AbsPath,
    Alias,
    Arg,
    Capability,
    Command,
    EnvKey,
    EnvValue,
    Healthcheck,
    ImageRef,
    Mount,
)

NS = 1_000_000_000
MIN_MEMORY = 4 << 20
Duration = Annotated[float, Field(ge=0, le=31_536_000, description="seconds")]
Cpus = Annotated[float, Field(gt=0, le=4096)]
ServiceName = Annotated[
    str, Field(min_length=1, max_length=63, pattern=r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$")
]
Constraint = Annotated[
    str, Field(min_length=3, max_length=512, pattern=r"^[^\x00]*(==|!=)[^\x00]*$")
]
_KV = Annotated[
    dict[EnvKey, EnvValue],
    Field(max_length=1024),
    BeforeValidator(split_kv_list, json_schema_input_type=dict[EnvKey, EnvValue] | list[str]),
]
_Labels = Annotated[
    dict[LabelKey, LabelValue],
    Field(max_length=1024),
    BeforeValidator(split_kv_list, json_schema_input_type=dict[LabelKey, LabelValue] | list[str]),
]


class SpecPart(RequestBody):
    """A part of `ServiceSpec`. Services answer with their spec too: one schema for both
    directions (the request's, where `memory` may be `"512m"`), split by app/openapi.py."""

    model_config = ConfigDict(
        extra="forbid", str_max_length=65_536, json_schema_mode_override="validation"
    )


class ServiceMount(Mount):
    """A mount of each task (docker-py `Mount`)."""

    model_config = SpecPart.model_config


class ServiceHealthcheck(Healthcheck):
    """A health check of each task; durations in seconds."""

    model_config = SpecPart.model_config


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * NS)


def _s(ns: Any) -> float | None:
    return None if ns in (None, "") else int(ns) / NS


class ServicePort(SpecPart):
    """A published port. No IPVS here: `mode: host` publishes on the task's node."""

    target: Annotated[int, Field(ge=1, le=65535)]
    published: Annotated[int, Field(ge=1, le=65535)] | None = None
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    mode: Literal["ingress", "host"] = "ingress"

    def to_engine(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Protocol": self.protocol,
            "TargetPort": self.target,
            "PublishMode": self.mode,
        }
        if self.published is not None:
            out["PublishedPort"] = self.published
        return out


class ServiceNetwork(SpecPart):
    target: Annotated[str, Field(min_length=1, max_length=255)] = Field(
        description="Network name or id"
    )
    aliases: Annotated[list[Alias], Field(max_length=64)] = Field(default_factory=list)


class ServiceLimits(SpecPart):
    cpus: Cpus | None = None
    memory: Bytes | None = Field(default=None, description="Bytes or `512m`; at least 4 MiB")

    @field_validator("memory")
    @classmethod
    def _at_least_4m(cls, value: int | None) -> int | None:
        if value is not None and value < MIN_MEMORY:
            raise ValueError("must be at least 4 MiB (the engine's minimum)")
        return value

    def to_engine(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.cpus is not None:
            out["NanoCPUs"] = round(self.cpus * NS)
        if self.memory is not None:
            out["MemoryBytes"] = self.memory
        return out


class ServiceResources(SpecPart):
    limits: ServiceLimits | None = None
    reservations: ServiceLimits | None = None

    def to_engine(self) -> dict[str, Any]:
        return {
            "Limits": self.limits.to_engine() if self.limits else {},
            "Reservations": self.reservations.to_engine() if self.reservations else {},
        }


class ServiceRestartPolicy(SpecPart):
    condition: Literal["none", "on-failure", "any"] = "any"
    delay: Duration | None = None
    max_attempts: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    window: Duration | None = None

    def to_engine(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Condition": self.condition}
        if self.delay is not None:
            out["Delay"] = _ns(self.delay)
        if self.max_attempts is not None:
            out["MaxAttempts"] = self.max_attempts
        if self.window is not None:
            out["Window"] = _ns(self.window)
        return out


class ServiceUpdateConfig(SpecPart):
    """How a rollout (or a rollback) proceeds. `failure_action: rollback` is for updates."""

    parallelism: Annotated[int, Field(ge=0, le=1_000_000)] = 1
    delay: Duration | None = None
    failure_action: Literal["continue", "pause", "rollback"] = "pause"
    monitor: Duration | None = None
    max_failure_ratio: Annotated[float, Field(ge=0, le=1)] = 0
    order: Literal["stop-first", "start-first"] = "stop-first"

    def to_engine(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Parallelism": self.parallelism,
            "FailureAction": self.failure_action,
            "MaxFailureRatio": self.max_failure_ratio,
            "Order": self.order,
        }
        if self.delay is not None:
            out["Delay"] = _ns(self.delay)
        if self.monitor is not None:
            out["Monitor"] = _ns(self.monitor)
        return out


class ServiceFile(SpecPart):
    """A secret or config given to the task as a file, by name."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    target: Annotated[str, Field(min_length=1, max_length=4096)] | None = Field(
        default=None,
        description="File name (secrets: under /run/secrets/) or an absolute path (configs); "
        "default the name",
    )
    uid: Annotated[str, Field(max_length=32, pattern=r"^\d+$")] = "0"
    gid: Annotated[str, Field(max_length=32, pattern=r"^\d+$")] = "0"
    mode: Annotated[int, Field(ge=0, le=0o777)] = Field(default=0o444, description="0o444 = 292")

    def to_engine(self, kind: Literal["Secret", "Config"]) -> dict[str, Any]:
        return {
            f"{kind}Name": self.name,
            "File": {
                "Name": self.target or self.name,
                "UID": self.uid,
                "GID": self.gid,
                "Mode": self.mode,
            },
        }


class ServiceSpec(SpecPart):
    """A service (only `image` is required). `replicas` or `mode: "global"`."""

    name: ServiceName | None = None
    image: ImageRef | None = Field(default=None, examples=["registry.local:5000/web:1.0"])
    command: Command | None = Field(default=None, description="Replaces the image's entrypoint")
    args: Command | None = Field(default=None, description="Arguments (the image's CMD)")
    environment: _KV | None = None
    labels: _Labels | None = Field(default=None, description="The service's labels")
    container_labels: _Labels | None = Field(default=None, description="Each task container's")
    mode: Literal["replicated", "global"] | None = None
    replicas: Annotated[int, Field(ge=0, le=100_000)] | None = None
    ports: Annotated[list[ServicePort], Field(max_length=256)] | None = None
    mounts: Annotated[list[ServiceMount], Field(max_length=256)] | None = None
    networks: Annotated[list[ServiceNetwork], Field(max_length=64)] | None = None
    constraints: Annotated[list[Constraint], Field(max_length=64)] | None = Field(
        default=None, examples=[["node.role==worker"]]
    )
    placement_preferences: (
        Annotated[list[Annotated[str, Field(max_length=512)]], Field(max_length=16)] | None
    ) = Field(default=None, description="Spread descriptors", examples=[["node.labels.zone"]])
    max_replicas_per_node: Annotated[int, Field(ge=0, le=100_000)] | None = None
    resources: ServiceResources | None = None
    restart_policy: ServiceRestartPolicy | None = None
    update_config: ServiceUpdateConfig | None = None
    rollback_config: ServiceUpdateConfig | None = None
    healthcheck: ServiceHealthcheck | None = None
    secrets: Annotated[list[ServiceFile], Field(max_length=256)] | None = None
    configs: Annotated[list[ServiceFile], Field(max_length=256)] | None = None
    user: Annotated[str, Field(max_length=256)] | None = None
    workdir: AbsPath | None = None
    hostname: Annotated[str, Field(max_length=255)] | None = None
    endpoint_mode: Literal["vip", "dnsrr"] | None = Field(
        default=None, description="No IPVS on some kernels: `dnsrr` works everywhere"
    )
    stop_grace_period: Duration | None = None
    stop_signal: Annotated[str, Field(max_length=32)] | None = None
    init: bool | None = None
    read_only: bool | None = None
    tty: bool | None = None
    cap_add: Annotated[list[Capability], Field(max_length=64)] | None = None
    cap_drop: Annotated[list[Capability], Field(max_length=64)] | None = None
    sysctls: (
        Annotated[dict[Annotated[str, Field(max_length=256)], Arg], Field(max_length=64)] | None
    ) = None

    @model_validator(mode="after")
    def _one_mode(self) -> ServiceSpec:
        if self.mode == "global" and self.replicas is not None:
            raise ValueError("a global service has no replicas")
        if self.rollback_config is not None and self.rollback_config.failure_action == "rollback":
            raise ValueError("rollback_config.failure_action: continue or pause")
        return self

    def apply(self, doc: dict[str, Any]) -> dict[str, Any]:
        """`doc` (an engine service spec) with the fields set here written onto it."""
        out: dict[str, Any] = _copy(doc)
        task = out.setdefault("TaskTemplate", {})
        container = task.setdefault("ContainerSpec", {})
        for field in self.model_fields_set:
            _APPLY[field](self, out, task, container)
        return out


class ServiceCreate(ServiceSpec):
    """A new service: `image` is required."""

    image: ImageRef = Field(examples=["registry.local:5000/web:1.0"])


def _copy(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _copy(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_copy(v) for v in doc]
    return doc


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    """Set, or remove when the caller cleared it (null)."""
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value


Applier = Callable[[ServiceSpec, dict[str, Any], dict[str, Any], dict[str, Any]], None]


def _container(key: str, convert: Callable[[Any], Any] = lambda v: v) -> Applier:
    def apply(
        spec: ServiceSpec, out: dict[str, Any], task: dict[str, Any], c: dict[str, Any]
    ) -> None:
        _put(
            c,
            key,
            None
            if getattr(spec, _FIELD_OF[key]) is None
            else convert(getattr(spec, _FIELD_OF[key])),
        )

    return apply


_FIELD_OF = {
    "Image": "image",
    "Command": "command",
    "Args": "args",
    "Env": "environment",
    "Labels": "container_labels",
    "Mounts": "mounts",
    "User": "user",
    "Dir": "workdir",
    "Hostname": "hostname",
    "Healthcheck": "healthcheck",
    "StopGracePeriod": "stop_grace_period",
    "StopSignal": "stop_signal",
    "Init": "init",
    "ReadOnly": "read_only",
    "TTY": "tty",
    "CapabilityAdd": "cap_add",
    "CapabilityDrop": "cap_drop",
    "Sysctls": "sysctls",
    "Secrets": "secrets",
    "Configs": "configs",
}


def _mode(spec: ServiceSpec, out: dict[str, Any], task: dict[str, Any], c: dict[str, Any]) -> None:
    if spec.mode == "global":
        out["Mode"] = {"Global": {}}
    elif spec.mode == "replicated" and "Replicated" not in (out.get("Mode") or {}):
        out["Mode"] = {"Replicated": {"Replicas": 1 if spec.replicas is None else spec.replicas}}


def _replicas(
    spec: ServiceSpec, out: dict[str, Any], task: dict[str, Any], c: dict[str, Any]
) -> None:
    if spec.replicas is None:
        return
    if "Global" in (out.get("Mode") or {}) and spec.mode != "replicated":
        raise ValueError("a global service has no replicas")
    out["Mode"] = {"Replicated": {"Replicas": spec.replicas}}


def _placement(key: str) -> Applier:
    def apply(
        spec: ServiceSpec, out: dict[str, Any], task: dict[str, Any], c: dict[str, Any]
    ) -> None:
        placement = task.setdefault("Placement", {})
        if key == "Constraints":
            _put(placement, key, None if spec.constraints is None else list(spec.constraints))
        elif key == "Preferences":
            prefs = spec.placement_preferences
            _put(
                placement,
                key,
                None if prefs is None else [{"Spread": {"SpreadDescriptor": p}} for p in prefs],
            )
        else:
            _put(placement, key, spec.max_replicas_per_node)

    return apply


def _endpoint(key: str) -> Applier:
    def apply(
        spec: ServiceSpec, out: dict[str, Any], task: dict[str, Any], c: dict[str, Any]
    ) -> None:
        endpoint = out.setdefault("EndpointSpec", {})
        if key == "Ports":
            _put(endpoint, key, None if spec.ports is None else [p.to_engine() for p in spec.ports])
        else:
            _put(endpoint, key, spec.endpoint_mode)

    return apply


def _task(key: str, value: Callable[[ServiceSpec], Any]) -> Applier:
    def apply(
        spec: ServiceSpec, out: dict[str, Any], task: dict[str, Any], c: dict[str, Any]
    ) -> None:
        _put(task, key, value(spec))

    return apply


def _top(key: str, value: Callable[[ServiceSpec], Any]) -> Applier:
    def apply(
        spec: ServiceSpec, out: dict[str, Any], task: dict[str, Any], c: dict[str, Any]
    ) -> None:
        _put(out, key, value(spec))

    return apply


def _refs(kind: Literal["Secret", "Config"]) -> Callable[[Any], Any]:
    return lambda refs: [r.to_engine(kind) for r in refs]


_APPLY: dict[str, Applier] = {
    "name": _top("Name", lambda s: s.name),
    "labels": _top("Labels", lambda s: None if s.labels is None else dict(s.labels)),
    "image": _container("Image"),
    "command": _container("Command", list),
    "args": _container("Args", list),
    "environment": _container("Env", lambda env: [f"{k}={v}" for k, v in env.items()]),
    "container_labels": _container("Labels", dict),
    "mounts": _container("Mounts", lambda ms: [m.to_engine() for m in ms]),
    "user": _container("User"),
    "workdir": _container("Dir"),
    "hostname": _container("Hostname"),
    "healthcheck": _container("Healthcheck", lambda h: h.to_engine()),
    "stop_grace_period": _container("StopGracePeriod", _ns),
    "stop_signal": _container("StopSignal"),
    "init": _container("Init"),
    "read_only": _container("ReadOnly"),
    "tty": _container("TTY"),
    "cap_add": _container("CapabilityAdd", list),
    "cap_drop": _container("CapabilityDrop", list),
    "sysctls": _container("Sysctls", dict),
    "secrets": _container("Secrets", _refs("Secret")),
    "configs": _container("Configs", _refs("Config")),
    "mode": _mode,
    "replicas": _replicas,
    "ports": _endpoint("Ports"),
    "endpoint_mode": _endpoint("Mode"),
    "constraints": _placement("Constraints"),
    "placement_preferences": _placement("Preferences"),
    "max_replicas_per_node": _placement("MaxReplicas"),
    "networks": _task(
        "Networks",
        lambda s: (
            None
            if s.networks is None
            else [{"Target": n.target, "Aliases": list(n.aliases)} for n in s.networks]
        ),
    ),
    "resources": _task(
        "Resources", lambda s: None if s.resources is None else s.resources.to_engine()
    ),
    "restart_policy": _task(
        "RestartPolicy",
        lambda s: None if s.restart_policy is None else s.restart_policy.to_engine(),
    ),
    "update_config": _top(
        "UpdateConfig", lambda s: None if s.update_config is None else s.update_config.to_engine()
    ),
    "rollback_config": _top(
        "RollbackConfig",
        lambda s: None if s.rollback_config is None else s.rollback_config.to_engine(),
    ),
}
assert set(_APPLY) == set(ServiceSpec.model_fields), set(ServiceSpec.model_fields) ^ set(_APPLY)


# -- back into moorage's names ------------------------------------------------------------


def _limits(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    if not doc:
        return None
    out: dict[str, Any] = {}
    if doc.get("NanoCPUs"):
        out["cpus"] = int(doc["NanoCPUs"]) / NS
    if doc.get("MemoryBytes"):
        out["memory"] = int(doc["MemoryBytes"])
    return out or None


def _update_config(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    if not doc:
        return None
    return {
        "parallelism": int(doc.get("Parallelism") or 0),
        "delay": _s(doc.get("Delay")),
        "failure_action": doc.get("FailureAction") or "pause",
        "monitor": _s(doc.get("Monitor")),
        "max_failure_ratio": float(doc.get("MaxFailureRatio") or 0),
        "order": doc.get("Order") or "stop-first",
    }


def _file_refs(refs: list[dict[str, Any]] | None, kind: str) -> list[dict[str, Any]] | None:
    if refs is None:
        return None
    out = []
    for ref in refs:
        file = ref.get("File") or {}
        name = str(ref.get(f"{kind}Name") or ref.get(f"{kind}ID") or "")
        out.append(
            {
                "name": name,
                "target": file.get("Name") or None,
                "uid": str(file.get("UID") or "0"),
                "gid": str(file.get("GID") or "0"),
                "mode": int(file["Mode"]) if file.get("Mode") is not None else 0o444,
            }
        )
    return out


def _healthcheck(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    if not doc or not doc.get("Test"):
        return None
    out: dict[str, Any] = {"test": list(doc["Test"])}
    for key, field in (
        ("Interval", "interval"),
        ("Timeout", "timeout"),
        ("StartPeriod", "start_period"),
    ):
        if doc.get(key):
            out[field] = _s(doc[key])
    if doc.get("Retries") is not None:
        out["retries"] = int(doc["Retries"])
    return out


def _mount(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": str(doc.get("Type") or "volume"),
        "target": doc.get("Target"),
        "read_only": bool(doc.get("ReadOnly")),
    }
    if doc.get("Source"):
        out["source"] = doc["Source"]
    if (doc.get("BindOptions") or {}).get("Propagation"):
        out["propagation"] = doc["BindOptions"]["Propagation"]
    volume = doc.get("VolumeOptions") or {}
    if volume.get("NoCopy"):
        out["no_copy"] = True
    if volume.get("Labels"):
        out["labels"] = dict(volume["Labels"])
    if (volume.get("DriverConfig") or {}).get("Name"):
        config = volume["DriverConfig"]
        out["driver_config"] = {
            "name": config["Name"],
            "options": dict(config.get("Options") or {}),
        }
    tmpfs = doc.get("TmpfsOptions") or {}
    if tmpfs.get("SizeBytes"):
        out["tmpfs_size"] = int(tmpfs["SizeBytes"])
    if tmpfs.get("Mode"):
        out["tmpfs_mode"] = int(tmpfs["Mode"])
    return out


def spec_from_engine(doc: dict[str, Any], networks: dict[str, str] | None = None) -> ServiceSpec:
    """An engine service spec in moorage's names (`networks`: id → name, to show names)."""
    task = doc.get("TaskTemplate") or {}
    c = task.get("ContainerSpec") or {}
    placement = task.get("Placement") or {}
    endpoint = doc.get("EndpointSpec") or {}
    mode = doc.get("Mode") or {}
    resources = task.get("Resources") or {}
    restart = task.get("RestartPolicy")
    env = [e for e in c.get("Env") or [] if "=" in e]
    names = networks or {}
    fields: dict[str, Any] = {
        "name": doc.get("Name"),
        "image": c.get("Image"),
        "command": c.get("Command"),
        "args": c.get("Args"),
        "environment": dict(e.split("=", 1) for e in env) if c.get("Env") else None,
        "labels": dict(doc.get("Labels") or {}),
        "container_labels": dict(c["Labels"]) if c.get("Labels") else None,
        "mode": "global" if "Global" in mode else "replicated",
        "replicas": (mode.get("Replicated") or {}).get("Replicas")
        if "Replicated" in mode
        else None,
        "ports": [
            {
                "target": p["TargetPort"],
                "published": p.get("PublishedPort") or None,
                "protocol": p.get("Protocol") or "tcp",
                "mode": p.get("PublishMode") or "ingress",
            }
            for p in endpoint.get("Ports") or []
        ]
        or None,
        "mounts": [_mount(m) for m in c.get("Mounts") or []] or None,
        "networks": [
            {
                "target": names.get(n.get("Target", ""), n.get("Target")),
                "aliases": list(n.get("Aliases") or []),
            }
            for n in task.get("Networks") or []
        ]
        or None,
        "constraints": list(placement["Constraints"]) if placement.get("Constraints") else None,
        "placement_preferences": [
            (p.get("Spread") or {}).get("SpreadDescriptor", "")
            for p in placement.get("Preferences") or []
        ]
        or None,
        "max_replicas_per_node": placement.get("MaxReplicas") or None,
        "resources": (
            {
                "limits": _limits(resources.get("Limits")),
                "reservations": _limits(resources.get("Reservations")),
            }
            if _limits(resources.get("Limits")) or _limits(resources.get("Reservations"))
            else None
        ),
        "restart_policy": (
            {
                "condition": restart.get("Condition") or "any",
                "delay": _s(restart.get("Delay")),
                "max_attempts": restart.get("MaxAttempts"),
                "window": _s(restart.get("Window")),
            }
            if restart
            else None
        ),
        "update_config": _update_config(doc.get("UpdateConfig")),
        "rollback_config": _update_config(doc.get("RollbackConfig")),
        "healthcheck": _healthcheck(c.get("Healthcheck")),
        "secrets": _file_refs(c.get("Secrets"), "Secret"),
        "configs": _file_refs(c.get("Configs"), "Config"),
        "user": c.get("User") or None,
        "workdir": c.get("Dir") or None,
        "hostname": c.get("Hostname") or None,
        "endpoint_mode": endpoint.get("Mode") or None,
        "stop_grace_period": _s(c.get("StopGracePeriod")),
        "stop_signal": c.get("StopSignal") or None,
        "init": c.get("Init"),
        "read_only": c.get("ReadOnly") or None,
        "tty": c.get("TTY") or None,
        "cap_add": c.get("CapabilityAdd") or None,
        "cap_drop": c.get("CapabilityDrop") or None,
        "sysctls": c.get("Sysctls") or None,
    }
    if fields["rollback_config"] and fields["rollback_config"]["failure_action"] == "rollback":
        fields["rollback_config"]["failure_action"] = "pause"
    return ServiceSpec.model_validate({k: v for k, v in fields.items() if v is not None})


# -- the service as read ---------------------------------------------------------------


class Replicas(BaseModel):
    running: int = Field(description="Tasks running now")
    desired: int = Field(description="Tasks the service asks for (global: one per eligible node)")


class PublishedPort(BaseModel):
    target: int
    published: int | None = None
    protocol: str = "tcp"
    mode: str = "ingress"


class UpdateStatus(BaseModel):
    state: str = Field(
        description="updating | paused | completed | rollback_started | rollback_paused | "
        "rollback_completed"
    )
    message: str | None = None
    started_at: str | None = None
    completed_at: str | None = None


class Service(BaseModel):
    id: str
    name: str
    image: str | None = None
    mode: Literal["replicated", "global"]
    replicas: Replicas
    state: Literal["running", "converging", "rejected", "stopped"] = Field(
        description="rejected: no task can run (every recent one rejected or failed; "
        "`state_message` says why, e.g. a missing image)"
    )
    state_message: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    ports: list[PublishedPort] = Field(default_factory=list)
    update_status: UpdateStatus | None = None
    version: int = Field(description="The engine's version of the service (moorage sends it back)")
    created: str | None = None
    updated: str | None = None
    spec: ServiceSpec = Field(description="The spec, in moorage's names")
    previous_spec: ServiceSpec | None = Field(
        default=None, description="What a rollback returns to"
    )
    attrs: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_engine(
        cls,
        doc: dict[str, Any],
        replicas: Replicas,
        state: tuple[str, str | None],
        networks: dict[str, str] | None = None,
    ) -> Service:
        spec = doc.get("Spec") or {}
        mode = spec.get("Mode") or {}
        update = doc.get("UpdateStatus")
        ports = ((doc.get("Endpoint") or {}).get("Ports")) or (
            (spec.get("EndpointSpec") or {}).get("Ports") or []
        )
        previous = doc.get("PreviousSpec")
        return cls(
            id=doc["ID"],
            name=str(spec.get("Name") or ""),
            image=((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image"),
            mode="global" if "Global" in mode else "replicated",
            replicas=replicas,
            state=state[0],
            state_message=state[1],
            labels=dict(spec.get("Labels") or {}),
            ports=[
                PublishedPort(
                    target=p["TargetPort"],
                    published=p.get("PublishedPort") or None,
                    protocol=p.get("Protocol") or "tcp",
                    mode=p.get("PublishMode") or "ingress",
                )
                for p in ports
            ],
            update_status=(
                UpdateStatus(
                    state=str(update.get("State") or ""),
                    message=update.get("Message") or None,
                    started_at=rfc3339(update.get("StartedAt")),
                    completed_at=rfc3339(update.get("CompletedAt")),
                )
                if update
                else None
            ),
            version=int((doc.get("Version") or {}).get("Index") or 0),
            created=rfc3339(doc.get("CreatedAt")),
            updated=rfc3339(doc.get("UpdatedAt")),
            spec=spec_from_engine(spec, networks),
            previous_spec=spec_from_engine(previous, networks) if previous else None,
            attrs=doc,
        )


class ScaleRequest(RequestBody):
    replicas: Annotated[int, Field(ge=0, le=100_000)]
