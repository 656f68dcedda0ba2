"""Containers: the spec a caller sends (`ContainerSpec` → the engine's create payload)
and the views moorage answers (`Container` from inspect, `ContainerSummary` from list).

The translations here are pure functions of their input documents: no engine calls,
so they can be unit tested, and served later from a cache fed by engine events.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from app.models.common import (
    LABELS_MAX,
    NAME_PATTERN,
    Bytes,
    LabelKey,
    LabelValue,
    RequestBody,
    check_labels_size,
    check_prune_filters,
    rfc3339,
    shell_split,
    split_kv_list,
)
from app.models.container_options import (
    MAC,
    DeviceRequest,
    ExtraHosts,
    LogConfig,
    NetworkEndpoint,
    ThrottleDevice,
    WeightDevice,
)
from app.services.health import HealthStatus, health_report

# ---------------------------------------------------------------------------------------
# Value types with bounds: a bad value is a 422 naming the field.

MAX_ITEMS = 256
ShortText = Annotated[str, Field(min_length=1, max_length=1024)]
Arg = Annotated[str, Field(max_length=32_768)]
AbsPath = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^/[^\x00]*$")]
EnvKey = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\x00=]+$")]
EnvValue = Annotated[str, Field(max_length=32_768, pattern=r"^[^\x00]*$")]
ContainerName = Annotated[str, Field(min_length=1, max_length=128, pattern=NAME_PATTERN)]
NetworkName = Annotated[str, Field(min_length=1, max_length=255, pattern=NAME_PATTERN)]
Alias = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[a-zA-Z0-9][\w.-]*$")]
ImageRef = Annotated[
    str,
    Field(min_length=1, max_length=512, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._:/@+-]*$"),
]
HostPort = Annotated[int, Field(ge=1, le=65535)]
# Engine durations: 0 inherits the image's value, anything else is at least 1 ms.
Seconds = Annotated[float, Field(ge=0, le=31_536_000)]
Capability = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_]+$")]

# ---------------------------------------------------------------------------------------
# Parsers of the flexible forms docker-py accepts.


# `json_schema_input_type`: the spec shows every form a caller may send (a generated
# client must be able to send them), not only the parsed one.
Command = Annotated[
    list[Arg],
    Field(max_length=4096),
    BeforeValidator(
        shell_split,
        json_schema_input_type=Annotated[str, Field(max_length=65_536)]
        | Annotated[list[Arg], Field(max_length=4096)],
    ),
]


def _port_key(value: str) -> str:
    """`8000`, `8000/tcp`, `53/udp`: a container port, tcp when bare."""
    m = re.fullmatch(r"(\d{1,5})(?:/(tcp|udp|sctp))?", value)
    if not m or not 1 <= int(m.group(1)) <= 65535:
        raise ValueError(f"{value[:80]!r} is not a container port (PORT or PORT/tcp|udp|sctp)")
    return f"{int(m.group(1))}/{m.group(2) or 'tcp'}"


class PortBinding(RequestBody):
    """A host address and port; the long form of `8080` and `["127.0.0.1", 8080]`."""

    host_ip: str = Field(default="", description="Empty: every address")
    host_port: HostPort | None = Field(default=None, description="None: a random free port")

    @field_validator("host_ip")
    @classmethod
    def _ip(cls, value: str) -> str:
        if value:
            try:
                ipaddress.ip_address(value)
            except ValueError as exc:
                raise ValueError(f"{value[:80]!r} is not an IP address") from exc
        return value


_BINDING_FORMS = "a host port is a number, null, [host_ip, port] or {host_ip, host_port}"


def _binding(value: Any) -> Any:
    """`8080`, `null`, `["127.0.0.1", 8080]`, `["127.0.0.1", null]`, `{host_ip, host_port}`."""
    if value is None or isinstance(value, PortBinding):
        return value or PortBinding()
    if isinstance(value, bool):
        raise ValueError(_BINDING_FORMS)
    if isinstance(value, int):
        return {"host_port": value}
    if isinstance(value, dict):
        return value
    if isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], str):
        return {"host_ip": value[0], "host_port": value[1]}
    raise ValueError(_BINDING_FORMS)


PortKey = Annotated[str, AfterValidator(_port_key)]
Binding = Annotated[
    PortBinding,
    BeforeValidator(
        _binding,
        json_schema_input_type=HostPort | tuple[str, HostPort | None] | PortBinding | None,
    ),
]
PortMap = Annotated[dict[PortKey, Binding], Field(max_length=MAX_ITEMS)]


def _ports_as_list(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


VOLUME_MODE = re.compile(
    r"^(ro|rw|z|Z|nocopy|shared|slave|private|rshared|rslave|rprivate)"
    r"(,(ro|rw|z|Z|nocopy|shared|slave|private|rshared|rslave|rprivate))*$"
)
VOLUME_SOURCE = re.compile(r"^(/[^\x00:]*|[a-zA-Z0-9][a-zA-Z0-9_.-]*)$")


class VolumeBind(RequestBody):
    """docker-py's `{"src": {"bind": "/dst", "mode": "ro"}}` value."""

    bind: AbsPath
    mode: Annotated[str, Field(max_length=64, pattern=VOLUME_MODE.pattern)] = "rw"


def _bind_string(value: str) -> str:
    """`src:/dst[:mode]`: a volume name or absolute host path, a target, a mode."""
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"{value[:80]!r} is not SOURCE:TARGET[:MODE]")
    src, dst = parts[0], parts[1]
    if not VOLUME_SOURCE.match(src):
        raise ValueError(f"{src[:80]!r} is neither a volume name nor an absolute path")
    if not dst.startswith("/"):
        raise ValueError(f"target {dst[:80]!r} is not an absolute path")
    if len(parts) == 3 and not VOLUME_MODE.match(parts[2]):
        raise ValueError(f"mode {parts[2][:40]!r} is not ro, rw, z, Z, nocopy or a propagation")
    return value


def _tmpfs(value: Any) -> Any:
    """`{"/run": "size=64m"}` or `["/run:size=64m", "/tmp"]` → a dict."""
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            if not isinstance(item, str):
                raise ValueError("a tmpfs entry is PATH[:OPTIONS]")
            path, _, opts = item.partition(":")
            out[path] = opts
        return out
    return value


def _seconds_to_ns(value: float | None) -> int | None:
    return None if value is None else round(value * 1_000_000_000)


# ---------------------------------------------------------------------------------------
# The spec.

_KVList = Annotated[list[Annotated[str, Field(max_length=65_536)]], Field(max_length=1024)]
_TmpfsOptions = Annotated[str, Field(max_length=1024, pattern=r"^[^\x00]*$")]


class DriverConfig(RequestBody):
    """docker-py `DriverConfig`: the volume driver of a volume mount, and its options."""

    name: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        validation_alias=AliasChoices("name", "Name")
    )
    options: Annotated[
        dict[Annotated[str, Field(max_length=256)], LabelValue], Field(max_length=64)
    ] = Field(default_factory=dict, validation_alias=AliasChoices("options", "Options"))


Propagation = Literal["private", "rprivate", "shared", "rshared", "slave", "rslave"]


class Mount(RequestBody):
    """docker-py `Mount`, every option: each belongs to one type (a 422 says which)."""

    type: Literal["volume", "bind", "tmpfs"]
    source: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    target: AbsPath
    read_only: bool = False
    consistency: Literal["default", "consistent", "cached", "delegated"] | None = None
    propagation: Propagation | None = Field(default=None, description="bind mounts")
    no_copy: bool = Field(default=False, description="volume mounts: do not copy the image's files")
    labels: Annotated[dict[LabelKey, LabelValue], Field(max_length=256)] | None = Field(
        default=None, description="volume mounts: labels of a volume this creates"
    )
    driver_config: DriverConfig | None = Field(default=None, description="volume mounts")
    tmpfs_size: Bytes | None = Field(default=None, description="tmpfs mounts: bytes or `64m`")
    tmpfs_mode: Annotated[int, Field(ge=0, le=0o7777)] | None = Field(
        default=None, description="tmpfs mounts: the mode as a number (0o1777 = 1023)"
    )

    @model_validator(mode="after")
    def _source_fits_type(self) -> Mount:
        if self.type == "bind" and (self.source is None or not self.source.startswith("/")):
            raise ValueError("a bind mount needs an absolute host path as source")
        if (
            self.type == "volume"
            and self.source is not None
            and (not VOLUME_SOURCE.match(self.source) or self.source.startswith("/"))
        ):
            raise ValueError(f"{self.source[:80]!r} is not a volume name")
        if self.type == "tmpfs" and self.source is not None:
            raise ValueError("a tmpfs mount takes no source")
        owners = {
            "propagation": ("bind", self.propagation is not None),
            "no_copy": ("volume", self.no_copy),
            "labels": ("volume", self.labels is not None),
            "driver_config": ("volume", self.driver_config is not None),
            "tmpfs_size": ("tmpfs", self.tmpfs_size is not None),
            "tmpfs_mode": ("tmpfs", self.tmpfs_mode is not None),
        }
        for option, (kind, given) in owners.items():
            if given and self.type != kind:
                raise ValueError(f"{option} is an option of {kind} mounts, not {self.type}")
        return self

    def to_engine(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Type": self.type, "Target": self.target, "ReadOnly": self.read_only}
        if self.source is not None:
            out["Source"] = self.source
        if self.consistency is not None:
            out["Consistency"] = self.consistency
        if self.propagation is not None:
            out["BindOptions"] = {"Propagation": self.propagation}
        volume: dict[str, Any] = {}
        if self.no_copy:
            volume["NoCopy"] = True
        if self.labels is not None:
            volume["Labels"] = dict(self.labels)
        if self.driver_config is not None:
            volume["DriverConfig"] = {
                "Name": self.driver_config.name,
                "Options": dict(self.driver_config.options),
            }
        if volume:
            out["VolumeOptions"] = volume
        tmpfs: dict[str, Any] = {}
        if self.tmpfs_size is not None:
            tmpfs["SizeBytes"] = self.tmpfs_size
        if self.tmpfs_mode is not None:
            tmpfs["Mode"] = self.tmpfs_mode
        if tmpfs:
            out["TmpfsOptions"] = tmpfs
        return out


class RestartPolicy(RequestBody):
    name: Literal["no", "always", "unless-stopped", "on-failure"] = "no"
    maximum_retry_count: Annotated[int, Field(ge=0, le=10_000)] = 0

    def to_engine(self) -> dict[str, Any]:
        return {"Name": self.name, "MaximumRetryCount": self.maximum_retry_count}


class Healthcheck(RequestBody):
    """A health check; durations in seconds (0 inherits the image's, else ≥ 1 ms)."""

    test: Annotated[list[Arg], Field(min_length=1, max_length=256)] | Arg
    interval: Seconds | None = None
    timeout: Seconds | None = None
    retries: Annotated[int, Field(ge=0, le=10_000)] | None = None
    start_period: Seconds | None = None

    @field_validator("interval", "timeout", "start_period")
    @classmethod
    def _at_least_a_millisecond(cls, value: float | None) -> float | None:
        if value is not None and 0 < value < 0.001:
            raise ValueError("must be 0 (inherit) or at least 0.001 s")
        return value

    def to_engine(self) -> dict[str, Any]:
        if isinstance(self.test, str):
            test = ["CMD-SHELL", self.test]
        elif self.test[0] in ("NONE", "CMD", "CMD-SHELL"):
            test = list(self.test)
        else:
            test = ["CMD", *self.test]
        out: dict[str, Any] = {"Test": test}
        for key, value in (
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
        ):
            if value is not None:
                out[key] = _seconds_to_ns(value)
        if self.retries is not None:
            out["Retries"] = self.retries
        return out


class Ulimit(RequestBody):
    name: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z]+$")]
    soft: Annotated[int, Field(ge=-1, le=1 << 62)]
    hard: Annotated[int, Field(ge=-1, le=1 << 62)]

    @model_validator(mode="after")
    def _soft_below_hard(self) -> Ulimit:
        if self.hard != -1 and (self.soft == -1 or self.soft > self.hard):
            raise ValueError("soft must not exceed hard")
        return self


class Resources(RequestBody):
    """Limits; sizes in bytes or `512m`-style strings."""

    cpus: Annotated[float, Field(gt=0, le=1024)] | None = None
    memory: Bytes | None = None
    memory_swap: Bytes | Literal[-1] | None = None
    memory_reservation: Bytes | None = None
    pids_limit: Annotated[int, Field(ge=-1, le=4_194_304)] | None = None
    cpu_shares: Annotated[int, Field(ge=0, le=262_144)] | None = None
    cpuset_cpus: (
        Annotated[str, Field(max_length=256, pattern=r"^\d+(-\d+)?(,\d+(-\d+)?)*$")] | None
    ) = None
    blkio_weight: Annotated[int, Field(ge=0, le=1000)] | None = None
    ulimits: Annotated[list[Ulimit], Field(max_length=64)] | None = None
    cpu_period: Annotated[int, Field(ge=0, le=1_000_000)] | None = Field(
        default=None, description="µs of the CFS period (1000-1000000; 0: the default)"
    )
    cpu_quota: Annotated[int, Field(ge=-1, le=1 << 40)] | None = Field(
        default=None, description="µs of CPU per period (-1: none)"
    )
    cpuset_mems: (
        Annotated[str, Field(max_length=256, pattern=r"^\d+(-\d+)?(,\d+(-\d+)?)*$")] | None
    ) = None
    cpu_rt_period: Annotated[int, Field(ge=0, le=1_000_000)] | None = Field(
        default=None, description="µs of the real-time period"
    )
    cpu_rt_runtime: Annotated[int, Field(ge=-1, le=1_000_000)] | None = Field(
        default=None, description="µs of real-time runtime per period"
    )
    mem_swappiness: Annotated[int, Field(ge=-1, le=100)] | None = None
    blkio_weight_device: Annotated[list[WeightDevice], Field(max_length=64)] | None = None
    device_read_bps: Annotated[list[ThrottleDevice], Field(max_length=64)] | None = None
    device_read_iops: Annotated[list[ThrottleDevice], Field(max_length=64)] | None = None
    device_write_bps: Annotated[list[ThrottleDevice], Field(max_length=64)] | None = None
    device_write_iops: Annotated[list[ThrottleDevice], Field(max_length=64)] | None = None

    @field_validator("cpu_period", "cpu_rt_period")
    @classmethod
    def _period(cls, value: int | None) -> int | None:
        if value and value < 1000:
            raise ValueError("must be 0 or between 1000 and 1000000 µs")
        return value

    @field_validator("memory")
    @classmethod
    def _engine_minimum(cls, value: int | None) -> int | None:
        if value and value < 6 * 1024 * 1024:
            raise ValueError("the engine's minimum memory limit is 6m")
        return value

    @field_validator("blkio_weight")
    @classmethod
    def _blkio_range(cls, value: int | None) -> int | None:
        if value and value < 10:
            raise ValueError("must be 0 or between 10 and 1000")
        return value

    def to_engine(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.cpus is not None:
            out["NanoCpus"] = round(self.cpus * 1_000_000_000)
        for key, value in (
            ("Memory", self.memory),
            ("MemorySwap", self.memory_swap),
            ("MemoryReservation", self.memory_reservation),
            ("PidsLimit", self.pids_limit),
            ("CpuShares", self.cpu_shares),
            ("CpusetCpus", self.cpuset_cpus),
            ("BlkioWeight", self.blkio_weight),
            ("CpuPeriod", self.cpu_period),
            ("CpuQuota", self.cpu_quota),
            ("CpusetMems", self.cpuset_mems),
            ("CpuRealtimePeriod", self.cpu_rt_period),
            ("CpuRealtimeRuntime", self.cpu_rt_runtime),
            ("MemorySwappiness", self.mem_swappiness),
        ):
            if value is not None:
                out[key] = value
        if self.ulimits is not None:
            out["Ulimits"] = [
                {"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in self.ulimits
            ]
        if self.blkio_weight_device is not None:
            out["BlkioWeightDevice"] = [d.to_engine() for d in self.blkio_weight_device]
        for key, devices in (
            ("BlkioDeviceReadBps", self.device_read_bps),
            ("BlkioDeviceReadIOps", self.device_read_iops),
            ("BlkioDeviceWriteBps", self.device_write_bps),
            ("BlkioDeviceWriteIOps", self.device_write_iops),
        ):
            if devices is not None:
                out[key] = [d.to_engine() for d in devices]
        return out


class Device(RequestBody):
    path_on_host: AbsPath
    path_in_container: AbsPath | None = None
    cgroup_permissions: Annotated[str, Field(pattern=r"^[rwm]{1,3}$")] = "rwm"


def _device(value: Any) -> Any:
    """`/dev/x[:/dev/y[:rwm]]` → a Device."""
    if isinstance(value, str):
        parts = value.split(":")
        if not 1 <= len(parts) <= 3:
            raise ValueError(f"{value[:80]!r} is not HOST[:CONTAINER[:PERMISSIONS]]")
        out: dict[str, Any] = {"path_on_host": parts[0]}
        if len(parts) > 1:
            out["path_in_container"] = parts[1]
        if len(parts) > 2:
            out["cgroup_permissions"] = parts[2]
        return out
    return value


ModeRef = r"container:[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}"


class Security(RequestBody):
    privileged: bool | None = None
    read_only: bool | None = None
    cap_add: Annotated[list[Capability], Field(max_length=64)] | None = None
    cap_drop: Annotated[list[Capability], Field(max_length=64)] | None = None
    security_opt: Annotated[list[ShortText], Field(max_length=32)] | None = None
    no_new_privileges: bool | None = None
    userns_mode: Literal["host", ""] | None = None
    pid_mode: Annotated[str, Field(pattern=rf"^(host|{ModeRef})$")] | None = None
    ipc_mode: (
        Annotated[str, Field(pattern=rf"^(none|private|shareable|host|{ModeRef})$")] | None
    ) = None
    devices: (
        Annotated[
            list[
                Annotated[
                    Device,
                    BeforeValidator(
                        _device,
                        json_schema_input_type=Annotated[str, Field(max_length=8192)] | Device,
                    ),
                ]
            ],
            Field(max_length=64),
        ]
        | None
    ) = None
    sysctls: (
        Annotated[
            dict[
                Annotated[str, Field(max_length=256, pattern=r"^[a-zA-Z0-9_.\-/]+$")],
                Annotated[str, Field(max_length=1024)],
            ],
            Field(max_length=64),
        ]
        | None
    ) = None

    def to_engine(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.privileged is not None:
            out["Privileged"] = self.privileged
        if self.read_only is not None:
            out["ReadonlyRootfs"] = self.read_only
        if self.cap_add is not None:
            out["CapAdd"] = list(self.cap_add)
        if self.cap_drop is not None:
            out["CapDrop"] = list(self.cap_drop)
        opts = list(self.security_opt or [])
        if self.no_new_privileges:
            opts.append("no-new-privileges:true")
        if opts:
            out["SecurityOpt"] = opts
        for key, value in (
            ("UsernsMode", self.userns_mode),
            ("PidMode", self.pid_mode),
            ("IpcMode", self.ipc_mode),
        ):
            if value is not None:
                out[key] = value
        if self.devices is not None:
            out["Devices"] = [
                {
                    "PathOnHost": d.path_on_host,
                    "PathInContainer": d.path_in_container or d.path_on_host,
                    "CgroupPermissions": d.cgroup_permissions,
                }
                for d in self.devices
            ]
        if self.sysctls is not None:
            out["Sysctls"] = dict(self.sysctls)
        return out


class ContainerConfig(RequestBody):
    """The container's configuration (shared by create and run)."""

    image: ImageRef = Field(examples=["alpine:3.20"])
    command: Command | None = Field(default=None, examples=[["sh", "-c", "echo hi"]])
    entrypoint: Command | None = None
    name: ContainerName | None = None
    environment: (
        Annotated[
            dict[EnvKey, EnvValue],
            Field(max_length=1024),
            BeforeValidator(
                split_kv_list,
                json_schema_input_type=Annotated[dict[EnvKey, EnvValue], Field(max_length=1024)]
                | _KVList,
            ),
        ]
        | None
    ) = Field(default=None, examples=[{"LOG_LEVEL": "debug"}])
    labels: (
        Annotated[
            dict[LabelKey, LabelValue],
            Field(max_length=LABELS_MAX),
            BeforeValidator(
                split_kv_list,
                json_schema_input_type=Annotated[
                    dict[LabelKey, LabelValue], Field(max_length=LABELS_MAX)
                ]
                | _KVList,
            ),
            AfterValidator(check_labels_size),
        ]
        | None
    ) = None
    ports: (
        Annotated[
            list[PortMap],
            Field(max_length=MAX_ITEMS),
            BeforeValidator(
                _ports_as_list,
                json_schema_input_type=PortMap | Annotated[list[PortMap], Field(max_length=256)],
            ),
        ]
        | None
    ) = Field(default=None, examples=[{"8000/tcp": ["127.0.0.1", 8080]}])
    mounts: Annotated[list[Mount], Field(max_length=MAX_ITEMS)] | None = None
    volumes: (
        Annotated[dict[Annotated[str, Field(max_length=4096)], VolumeBind], Field(max_length=256)]
        | Annotated[
            list[Annotated[str, Field(max_length=8192), AfterValidator(_bind_string)]],
            Field(max_length=MAX_ITEMS),
        ]
        | None
    ) = None
    network: NetworkName | Annotated[str, Field(max_length=300, pattern=rf"^{ModeRef}$")] | None = (
        Field(
            default=None,
            description="A network (name or id), `none`, `host`, or `container:<id>` to join "
            "another container's network namespace (docker-py `network` / `network_mode`)",
        )
    )
    network_aliases: Annotated[list[Alias], Field(max_length=64)] | None = None
    networks: Annotated[list[NetworkEndpoint], Field(min_length=1, max_length=32)] | None = Field(
        default=None,
        description="Several networks, each with aliases and static addresses; the first "
        "(or `network`) is the primary one, the others are connected before the start",
    )
    hostname: (
        Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9.-]*$")]
        | None
    ) = None
    user: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00\s]+$")] | None = None
    working_dir: AbsPath | None = None
    init: bool | None = None
    tty: bool = False
    auto_remove: bool = False
    restart_policy: RestartPolicy | None = None
    healthcheck: Healthcheck | None = None
    resources: Resources | None = None
    security: Security | None = None
    tmpfs: (
        Annotated[
            dict[AbsPath, _TmpfsOptions],
            Field(max_length=64),
            BeforeValidator(
                _tmpfs,
                json_schema_input_type=Annotated[dict[AbsPath, _TmpfsOptions], Field(max_length=64)]
                | Annotated[list[Annotated[str, Field(max_length=4096)]], Field(max_length=64)],
            ),
        ]
        | None
    ) = None
    pull: Literal["missing", "always", "never"] = Field(
        default="missing",
        description="missing: pull only when absent; always: pull first; never: 404 if absent",
    )
    # -- the rest of docker-py's keywords, under its names ---------------------------
    dns: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=16)] | None = None
    dns_search: (
        Annotated[list[Annotated[str, Field(max_length=253)]], Field(max_length=16)] | None
    ) = None
    dns_opt: Annotated[list[Annotated[str, Field(max_length=256)]], Field(max_length=16)] | None = (
        None
    )
    extra_hosts: ExtraHosts | None = Field(
        default=None,
        description='`{"name": "ip"}` or `["name:ip"]`; `host-gateway` is the host',
        examples=[{"db.local": "10.0.0.5", "host.docker.internal": "host-gateway"}],
    )
    shm_size: Bytes | None = Field(default=None, examples=["64m"])
    stop_signal: (
        Annotated[str, Field(max_length=16, pattern=r"^(SIG)?[A-Z0-9+-]+$|^\d{1,2}$")] | None
    ) = None
    stop_timeout: Annotated[int, Field(ge=0, le=3600)] | None = Field(
        default=None, description="Seconds a stop waits before SIGKILL"
    )
    log_config: LogConfig | None = None
    device_requests: Annotated[list[DeviceRequest], Field(max_length=16)] | None = None
    runtime: Annotated[str, Field(max_length=128, pattern=r"^[a-zA-Z0-9][\w.-]*$")] | None = None
    platform: (
        Annotated[str, Field(max_length=64, pattern=r"^[a-z0-9_]+(/[a-z0-9_]+){0,2}$")] | None
    ) = Field(default=None, examples=["linux/amd64"])
    mac_address: MAC | None = None
    domainname: (
        Annotated[str, Field(max_length=253, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9.-]*$")] | None
    ) = None
    group_add: (
        Annotated[
            list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.-]+$")]],
            Field(max_length=64),
        ]
        | None
    ) = None
    stdin_open: bool | None = None
    network_disabled: bool | None = None
    publish_all_ports: bool | None = None
    volumes_from: (
        Annotated[
            list[Annotated[str, Field(max_length=300, pattern=r"^[a-zA-Z0-9][\w.-]*(:(ro|rw))?$")]],
            Field(max_length=64),
        ]
        | None
    ) = Field(default=None, description="Containers whose volumes to mount (`name[:ro|rw]`)")
    volume_driver: Annotated[str, Field(max_length=128, pattern=r"^[\w.:/-]+$")] | None = None
    cgroup_parent: Annotated[str, Field(max_length=1024, pattern=r"^[^\x00]+$")] | None = None
    cgroupns: Literal["private", "host"] | None = None
    uts_mode: Literal["host", ""] | None = None
    storage_opt: (
        Annotated[
            dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=256)]],
            Field(max_length=16),
        ]
        | None
    ) = Field(default=None, examples=[{"size": "1G"}])
    oom_kill_disable: bool | None = None
    oom_score_adj: Annotated[int, Field(ge=-1000, le=1000)] | None = None
    device_cgroup_rules: (
        Annotated[
            list[
                Annotated[
                    str, Field(max_length=64, pattern=r"^[abc] (\d+|\*):(\d+|\*) [rwm]{1,3}$")
                ]
            ],
            Field(max_length=64),
        ]
        | None
    ) = Field(default=None, examples=[["c 1:3 mr"]])

    @field_validator("volumes")
    @classmethod
    def _volume_sources(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for src in value:
                if not VOLUME_SOURCE.match(src):
                    raise ValueError(f"{src[:80]!r} is neither a volume name nor an absolute path")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ContainerConfig:
        if self.auto_remove and self.restart_policy and self.restart_policy.name != "no":
            raise ValueError("auto_remove cannot be combined with a restart policy")
        if self.network_aliases and not self.network:
            raise ValueError("network_aliases need a network")
        joined = self.network is not None and self.network.startswith("container:")
        if self.networks:
            names = [n.name for n in self.networks]
            if len(set(names)) != len(names):
                raise ValueError("networks: each network at most once")
            if joined or self.network in ("host", "none"):
                raise ValueError(f"networks cannot be combined with network {self.network!r}")
            if self.network is not None and self.network not in names:
                raise ValueError("network must be one of networks (it is the primary one)")
            if self.network_aliases:
                raise ValueError("with networks, give the aliases in each network")
            primary = self.network or names[0]
            if any(n.mac_address for n in self.networks if n.name != primary):
                # API 1.41 takes the MAC from the config, for the primary network only,
                # and ignores one given on connect: refused rather than dropped.
                raise ValueError("a mac_address can be set on the primary network only")
            if self.mac_address and any(n.mac_address for n in self.networks):
                raise ValueError("give the MAC either in mac_address or in networks")
        if joined and (self.network_aliases or self.hostname or self.ports or self.mac_address):
            raise ValueError(
                "a container joining another's network (container:<id>) takes no "
                "hostname, ports, mac_address or network_aliases: they are the other's"
            )
        return self

    def primary_network(self) -> NetworkEndpoint | None:
        """The network the container is created on (the others are connected after)."""
        if not self.networks:
            return None
        wanted = self.network or self.networks[0].name
        return next(n for n in self.networks if n.name == wanted)

    def extra_networks(self) -> list[NetworkEndpoint]:
        """The networks API 1.41 cannot take at create: connected before the start."""
        primary = self.primary_network()
        return [n for n in self.networks or [] if n is not primary]

    def create_params(self) -> dict[str, Any]:
        """The query of `POST /containers/create`."""
        return {k: v for k, v in (("name", self.name), ("platform", self.platform)) if v}

    def binds(self) -> list[str]:
        if isinstance(self.volumes, dict):
            return [f"{src}:{v.bind}:{v.mode}" for src, v in self.volumes.items()]
        return list(self.volumes or [])

    def to_engine(self) -> dict[str, Any]:
        """The engine's `POST /containers/create` body."""
        host: dict[str, Any] = {}
        body: dict[str, Any] = {"Image": self.image, "Tty": self.tty, "HostConfig": host}
        if self.command is not None:
            body["Cmd"] = list(self.command)
        if self.entrypoint is not None:
            body["Entrypoint"] = list(self.entrypoint)
        if self.environment is not None:
            body["Env"] = [f"{k}={v}" for k, v in self.environment.items()]
        if self.labels is not None:
            body["Labels"] = dict(self.labels)
        if self.hostname is not None:
            body["Hostname"] = self.hostname
        if self.user is not None:
            body["User"] = self.user
        if self.working_dir is not None:
            body["WorkingDir"] = self.working_dir
        if self.healthcheck is not None:
            body["Healthcheck"] = self.healthcheck.to_engine()
        if self.ports:
            exposed: dict[str, dict[str, Any]] = {}
            bindings: dict[str, list[dict[str, str]]] = {}
            for pmap in self.ports:
                for port, binding in pmap.items():
                    exposed[port] = {}
                    bindings.setdefault(port, []).append(
                        {
                            "HostIp": binding.host_ip,
                            "HostPort": "" if binding.host_port is None else str(binding.host_port),
                        }
                    )
            body["ExposedPorts"] = exposed
            host["PortBindings"] = bindings
        if self.mounts:
            host["Mounts"] = [m.to_engine() for m in self.mounts]
        if self.volumes:
            host["Binds"] = self.binds()
        if self.tmpfs is not None:
            host["Tmpfs"] = dict(self.tmpfs)
        primary = self.primary_network()
        if primary is not None:
            host["NetworkMode"] = primary.name
            endpoint = primary.to_engine()
            if primary.mac_address:
                # API 1.41 reads the MAC of the first network from the config only.
                body["MacAddress"] = primary.mac_address
            body["NetworkingConfig"] = {"EndpointsConfig": {primary.name: endpoint}}
        elif self.network is not None:
            host["NetworkMode"] = self.network
            if not self.network.startswith("container:"):
                endpoint = {}
                if self.network_aliases:
                    endpoint["Aliases"] = list(self.network_aliases)
                body["NetworkingConfig"] = {"EndpointsConfig": {self.network: endpoint}}
        self._docker_py_fields(body, host)
        if self.init is not None:
            host["Init"] = self.init
        if self.auto_remove:
            host["AutoRemove"] = True
        if self.restart_policy is not None:
            host["RestartPolicy"] = self.restart_policy.to_engine()
        if self.resources is not None:
            host.update(self.resources.to_engine())
        if self.security is not None:
            host.update(self.security.to_engine())
        return body

    def _docker_py_fields(self, body: dict[str, Any], host: dict[str, Any]) -> None:
        """The rest of docker-py's keywords: config-level, then HostConfig."""
        for key, value in (
            ("Domainname", self.domainname),
            ("MacAddress", self.mac_address),
            ("OpenStdin", self.stdin_open),
            ("NetworkDisabled", self.network_disabled),
            ("StopSignal", self.stop_signal),
            ("StopTimeout", self.stop_timeout),
        ):
            if value is not None:
                body[key] = value
        for key, items in (
            ("Dns", self.dns),
            ("DnsSearch", self.dns_search),
            ("DnsOptions", self.dns_opt),
            ("ExtraHosts", self.extra_hosts),
            ("GroupAdd", self.group_add),
            ("VolumesFrom", self.volumes_from),
            ("DeviceCgroupRules", self.device_cgroup_rules),
        ):
            if items is not None:
                host[key] = list(items)
        for key, scalar in (
            ("ShmSize", self.shm_size),
            ("Runtime", self.runtime),
            ("PublishAllPorts", self.publish_all_ports),
            ("VolumeDriver", self.volume_driver),
            ("CgroupParent", self.cgroup_parent),
            ("CgroupnsMode", self.cgroupns),
            ("UTSMode", self.uts_mode),
            ("OomKillDisable", self.oom_kill_disable),
            ("OomScoreAdj", self.oom_score_adj),
        ):
            if scalar is not None:
                host[key] = scalar
        if self.storage_opt is not None:
            host["StorageOpt"] = dict(self.storage_opt)
        if self.log_config is not None:
            host["LogConfig"] = self.log_config.to_engine()
        if self.device_requests is not None:
            host["DeviceRequests"] = [d.to_engine() for d in self.device_requests]


class ContainerSpec(ContainerConfig):
    """What to create: only `image` is required. Durations are seconds."""

    start: bool = Field(default=True, description="false: only create")


class RunSpec(ContainerConfig):
    """A container run to completion: its spec, plus how to wait and what to keep."""

    timeout: Annotated[float, Field(gt=0, le=86_400)] | None = Field(
        default=None,
        description="Seconds to wait for the exit (none: as long as the service allows, "
        "`MOORAGE_RUN_MAX_TIMEOUT`, 3600 s by default; more than that is refused with 422). "
        "Past it: 504 `timeout`, and the container is left as it is, still running",
    )
    remove: bool = Field(
        default=True,
        description="Remove the container once its output is read. Also what happens when "
        "the client goes away before the exit: with `remove` the container is killed and "
        "removed; without, it is left as it is",
    )
    check: bool = False


class RunResult(BaseModel):
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    container_id: str


class ContainerUpdate(RequestBody):
    """Rename, and change limits or the restart policy of a live container.

    As with `docker update`, a limit of 0 leaves that limit as it is; a new `memory`
    without `memory_swap` keeps the swap allowance the container had.
    """

    name: ContainerName | None = None
    resources: Resources | None = None
    restart_policy: RestartPolicy | None = None

    def to_engine(self) -> dict[str, Any]:
        """The engine's `POST /containers/{id}/update` body (empty: nothing to update)."""
        out: dict[str, Any] = {}
        if self.resources is not None:
            out.update(self.resources.to_engine())
        if self.restart_policy is not None:
            out["RestartPolicy"] = self.restart_policy.to_engine()
        return out


PruneFilterKey = Literal["label", "label!", "until"]


class PruneFilters(RequestBody):
    filters: Annotated[
        dict[
            PruneFilterKey,
            Annotated[list[Annotated[str, Field(max_length=1024)]], Field(max_length=64)],
        ]
        | None,
        AfterValidator(check_prune_filters),
    ] = Field(default=None, examples=[{"label": ["team=web"], "until": ["24h"]}])


class WaitResult(BaseModel):
    status_code: int
    error: str | None = None


# ---------------------------------------------------------------------------------------
# Views.


class PortMapping(BaseModel):
    container_port: int
    protocol: str
    host_ip: str | None = None
    host_port: int | None = None


class MountView(BaseModel):
    type: str | None = None
    name: str | None = None
    source: str | None = None
    destination: str
    driver: str | None = None
    mode: str | None = None
    read_only: bool = False


class NetworkAttachment(BaseModel):
    network_id: str | None = None
    ip_address: str | None = None
    gateway: str | None = None
    mac_address: str | None = None
    aliases: list[str] = []


def _ports_from_inspect(ports: dict[str, Any] | None) -> list[PortMapping]:
    out: list[PortMapping] = []
    for key, bindings in (ports or {}).items():
        port, _, proto = key.partition("/")
        for b in bindings or [None]:
            host_port = (b or {}).get("HostPort")
            out.append(
                PortMapping(
                    container_port=int(port),
                    protocol=proto or "tcp",
                    host_ip=(b or {}).get("HostIp") or None,
                    host_port=int(host_port) if host_port else None,
                )
            )
    return out


class Container(BaseModel):
    id: str
    short_id: str
    name: str
    image: str | None = Field(description="The image reference the container was created from")
    image_id: str | None = None
    command: str = Field(description="The process: path and arguments")
    status: str = Field(
        examples=["running"],
        description="The engine's state (created, running, paused, restarting, exited, dead); "
        "`removed` when an auto_remove container was gone before it could be read",
    )
    health: HealthStatus = "none"
    exit_code: int | None = Field(default=None, description="Set once the container has exited")
    created: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    labels: dict[str, str] = {}
    ports: list[PortMapping] = []
    mounts: list[MountView] = []
    networks: dict[str, NetworkAttachment] = {}
    restart_count: int = 0
    warnings: list[str] = Field(
        default_factory=list,
        description="On create: the engine's warnings (e.g. a limit this kernel discards)",
    )
    attrs: dict[str, Any] = Field(default_factory=dict, description="The engine's inspect document")

    @classmethod
    def from_inspect(cls, doc: dict[str, Any]) -> Container:
        state = doc.get("State") or {}
        config = doc.get("Config") or {}
        net = doc.get("NetworkSettings") or {}
        status = str(state.get("Status") or "unknown")
        exited = status in ("exited", "dead")
        return cls(
            id=doc["Id"],
            short_id=doc["Id"][:12],
            name=str(doc.get("Name") or "").lstrip("/"),
            image=config.get("Image"),
            image_id=doc.get("Image"),
            # Quoted as `docker ps` (and ContainerSummary.command) shows it.
            command=shlex.join([str(doc["Path"]), *(doc.get("Args") or [])])
            if doc.get("Path")
            else "",
            status=status,
            health=health_report(doc).status,
            exit_code=state.get("ExitCode") if exited else None,
            created=rfc3339(doc.get("Created")),
            started_at=rfc3339(state.get("StartedAt")),
            finished_at=rfc3339(state.get("FinishedAt")),
            labels=config.get("Labels") or {},
            ports=_ports_from_inspect(net.get("Ports")),
            mounts=[
                MountView(
                    type=m.get("Type"),
                    name=m.get("Name"),
                    source=m.get("Source"),
                    destination=m.get("Destination") or "",
                    driver=m.get("Driver"),
                    mode=m.get("Mode"),
                    read_only=not m.get("RW", True),
                )
                for m in doc.get("Mounts") or []
            ],
            networks={
                name: NetworkAttachment(
                    network_id=n.get("NetworkID") or None,
                    ip_address=n.get("IPAddress") or None,
                    gateway=n.get("Gateway") or None,
                    mac_address=n.get("MacAddress") or None,
                    aliases=n.get("Aliases") or [],
                )
                for name, n in (net.get("Networks") or {}).items()
            },
            restart_count=int(doc.get("RestartCount") or 0),
            attrs=doc,
        )


_LIST_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")


def _health_from_status(text: str) -> HealthStatus:
    m = _LIST_HEALTH.search(text)
    if not m:
        return "none"
    found = m.group(1)
    return (
        "starting"
        if found == "health: starting"
        else "healthy"
        if found == "healthy"
        else "unhealthy"
    )


class ContainerSummary(BaseModel):
    id: str
    short_id: str
    name: str
    image: str | None = None
    command: str = ""
    status: str = Field(examples=["Up 3 minutes (healthy)"], description="As docker ps says it")
    state: str = Field(examples=["running"])
    health: HealthStatus = "none"
    created: str | None = None
    labels: dict[str, str] = {}
    ports: list[PortMapping] = []
    host: str | None = Field(
        default=None, description="The host it is on (GET /v1/hosts)", examples=["local"]
    )

    @classmethod
    def from_list(cls, doc: dict[str, Any]) -> ContainerSummary:
        names = doc.get("Names") or []
        status = str(doc.get("Status") or "")
        return cls(
            id=doc["Id"],
            short_id=doc["Id"][:12],
            name=str(names[0]).lstrip("/") if names else "",
            image=doc.get("Image"),
            command=str(doc.get("Command") or ""),
            status=status,
            state=str(doc.get("State") or ""),
            health=_health_from_status(status),
            created=rfc3339(doc.get("Created")),
            labels=doc.get("Labels") or {},
            ports=[
                PortMapping(
                    container_port=int(p.get("PrivatePort") or 0),
                    protocol=str(p.get("Type") or "tcp"),
                    host_ip=p.get("IP") or None,
                    host_port=p.get("PublicPort"),
                )
                for p in doc.get("Ports") or []
            ],
        )
