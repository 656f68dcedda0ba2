"""The rest of docker-py's `containers.run()` keywords, as request types.

`ContainerSpec` (app/models/containers.py) holds the fields; the shapes that need a
type of their own live here: log drivers, device requests (GPUs), block-I/O
throttles, extra hosts, and the networks attached at create. Each builds its own
engine fragment. docker-py passes some of these as the engine's PascalCase dicts
(`{"Path": "/dev/sda", "Rate": 1024}`): those keys are accepted as well.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import AliasChoices, BeforeValidator, Field, field_validator

from app.models.common import RequestBody, endpoint_settings, ip_addresses

MAC = Annotated[
    str, Field(pattern=r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$", examples=["02:42:ac:11:00:99"])
]
OptionText = Annotated[str, Field(max_length=4096, pattern=r"^[^\x00]*$")]
DevicePath = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^/[^\x00:]*$")]
HostName = Annotated[
    str, Field(min_length=1, max_length=253, pattern=r"^[a-zA-Z0-9_]([a-zA-Z0-9_.-]*)$")
]


def _alias(name: str) -> Any:
    """The snake_case name, or docker-py's PascalCase key for the same thing."""
    pascal = "".join(p.capitalize() for p in name.split("_"))
    return Field(validation_alias=AliasChoices(name, pascal))


class LogConfig(RequestBody):
    """docker-py `LogConfig(type=..., config={...})`: the log driver and its options."""

    type: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")] = (
        Field(validation_alias=AliasChoices("type", "Type"), examples=["json-file"])
    )
    config: Annotated[
        dict[Annotated[str, Field(max_length=256)], OptionText], Field(max_length=64)
    ] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("config", "Config"),
        examples=[{"max-size": "10m", "max-file": "3"}],
    )

    @field_validator("config", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        # docker-py callers write {"max-file": 3}; the engine wants strings.
        if isinstance(value, dict):
            return {k: str(v) if isinstance(v, int | float) else v for k, v in value.items()}
        return value

    def to_engine(self) -> dict[str, Any]:
        return {"Type": self.type, "Config": dict(self.config)}


class DeviceRequest(RequestBody):
    """docker-py `DeviceRequest`: GPUs and other devices a driver hands out."""

    driver: Annotated[str, Field(max_length=128)] = Field(
        default="", validation_alias=AliasChoices("driver", "Driver"), examples=["nvidia"]
    )
    count: Annotated[int, Field(ge=-1, le=1024)] = Field(
        default=0, validation_alias=AliasChoices("count", "Count"), description="-1: all"
    )
    device_ids: Annotated[list[Annotated[str, Field(max_length=256)]], Field(max_length=64)] = (
        Field(default_factory=list, validation_alias=AliasChoices("device_ids", "DeviceIDs"))
    )
    capabilities: Annotated[
        list[Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=16)]],
        Field(max_length=16),
    ] = Field(
        default_factory=list,
        validation_alias=AliasChoices("capabilities", "Capabilities"),
        examples=[[["gpu"]]],
    )
    options: Annotated[
        dict[Annotated[str, Field(max_length=256)], OptionText], Field(max_length=64)
    ] = Field(default_factory=dict, validation_alias=AliasChoices("options", "Options"))

    def to_engine(self) -> dict[str, Any]:
        return {
            "Driver": self.driver,
            "Count": self.count,
            "DeviceIDs": list(self.device_ids),
            "Capabilities": [list(c) for c in self.capabilities],
            "Options": dict(self.options),
        }


class WeightDevice(RequestBody):
    """`{"path": "/dev/sda", "weight": 300}` (or docker-py's `Path` / `Weight`)."""

    path: DevicePath = _alias("path")
    weight: Annotated[int, Field(ge=10, le=1000)] = _alias("weight")

    def to_engine(self) -> dict[str, Any]:
        return {"Path": self.path, "Weight": self.weight}


class ThrottleDevice(RequestBody):
    """`{"path": "/dev/sda", "rate": 1048576}` (or `Path` / `Rate`): bytes or ops per second."""

    path: DevicePath = _alias("path")
    rate: Annotated[int, Field(ge=0, le=1 << 50)] = _alias("rate")

    def to_engine(self) -> dict[str, Any]:
        return {"Path": self.path, "Rate": self.rate}


def _host_address(value: str) -> str:
    if value == "host-gateway":
        return value
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise ValueError(f"{value[:80]!r} is neither an IP address nor host-gateway") from exc


def extra_hosts(value: Any) -> Any:
    """docker-py's `{"name": "ip"}` or `["name:ip"]` → `["name:ip"]` (IPv6 keeps its
    colons: the name ends at the first one). `host-gateway` is the engine's own
    address on the default bridge (API 1.41 knows it)."""
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = []
        for item in value:
            if not isinstance(item, str) or ":" not in item:
                raise ValueError("an extra host is NAME:ADDRESS")
            name, _, addr = item.partition(":")
            pairs.append((name, addr))
    else:
        return value
    out = []
    for name, addr in pairs:
        if not isinstance(name, str) or not re.fullmatch(
            r"[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,252}", name
        ):
            raise ValueError(f"{str(name)[:80]!r} is not a host name")
        if not isinstance(addr, str):
            raise ValueError(f"the address of {name!r} must be a string")
        out.append(f"{name}:{_host_address(addr)}")
    return out


ExtraHosts = Annotated[
    list[Annotated[str, Field(max_length=512)]],
    Field(max_length=256),
    BeforeValidator(
        extra_hosts,
        json_schema_input_type=Annotated[dict[HostName, str], Field(max_length=256)]
        | Annotated[list[Annotated[str, Field(max_length=512)]], Field(max_length=256)],
    ),
]


def _ip_of(value: str | None, version: int) -> str | None:
    if value is None:
        return None
    try:
        addr = ipaddress.ip_address(value)
    except ValueError as exc:
        raise ValueError(f"{value[:80]!r} is not an IP address") from exc
    if addr.version != version:
        raise ValueError(f"{value!r} is not an IPv{version} address")
    return str(addr)


class NetworkEndpoint(RequestBody):
    """One network to attach at create, with its aliases and static addresses."""

    name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[a-zA-Z0-9][\w.-]*$")]
    aliases: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[a-zA-Z0-9][\w.-]*$")]],
        Field(max_length=64),
    ] = Field(default_factory=list)
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    mac_address: MAC | None = Field(
        default=None,
        description="Only on the primary network: API 1.41 ignores a MAC given on connect",
    )
    link_local_ips: Annotated[list[str], Field(max_length=16)] = Field(default_factory=list)
    links: Annotated[list[Annotated[str, Field(max_length=512)]], Field(max_length=64)] = Field(
        default_factory=list, description="Legacy links on this network (`name:alias`)"
    )
    driver_opt: Annotated[
        dict[Annotated[str, Field(max_length=256)], OptionText], Field(max_length=64)
    ] = Field(default_factory=dict)

    @field_validator("ipv4_address")
    @classmethod
    def _v4(cls, value: str | None) -> str | None:
        return _ip_of(value, 4)

    @field_validator("link_local_ips")
    @classmethod
    def _link_local(cls, value: list[str]) -> list[str]:
        return ip_addresses(value)

    @field_validator("ipv6_address")
    @classmethod
    def _v6(cls, value: str | None) -> str | None:
        return _ip_of(value, 6)

    def to_engine(self) -> dict[str, Any]:
        """The network's `EndpointSettings` at create."""
        return endpoint_settings(
            aliases=self.aliases,
            links=self.links,
            driver_opt=self.driver_opt,
            ipv4_address=self.ipv4_address,
            ipv6_address=self.ipv6_address,
            link_local_ips=self.link_local_ips,
            mac_address=self.mac_address,
        )
