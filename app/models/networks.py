"""Networks: the view (with the containers attached) and the request bodies."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from app.models.common import (
    NAME_PATTERN,
    Labels,
    RequestBody,
    check_prune_filters,
    endpoint_settings,
    ip_addresses,
    rfc3339,
)


class IPAMPool(BaseModel):
    subnet: str | None = Field(default=None, examples=["10.77.0.0/24"])
    gateway: str | None = Field(default=None, examples=["10.77.0.1"])
    ip_range: str | None = Field(default=None, examples=["10.77.0.128/25"])
    aux_addresses: dict[str, str] = Field(default_factory=dict)

    def to_engine(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.subnet:
            out["Subnet"] = self.subnet
        if self.gateway:
            out["Gateway"] = self.gateway
        if self.ip_range:
            out["IPRange"] = self.ip_range
        if self.aux_addresses:
            out["AuxiliaryAddresses"] = self.aux_addresses
        return out


class IPAM(BaseModel):
    driver: str = "default"
    pools: list[IPAMPool] = Field(default_factory=list)
    options: dict[str, str] = Field(default_factory=dict)

    def to_engine(self) -> dict[str, Any]:
        return {
            "Driver": self.driver,
            "Config": [p.to_engine() for p in self.pools],
            "Options": self.options,
        }

    @classmethod
    def from_engine(cls, doc: dict[str, Any] | None) -> IPAM:
        doc = doc or {}
        return cls(
            driver=str(doc.get("Driver") or "default"),
            pools=[
                IPAMPool(
                    subnet=c.get("Subnet"),
                    gateway=c.get("Gateway"),
                    ip_range=c.get("IPRange"),
                    aux_addresses=c.get("AuxiliaryAddresses") or {},
                )
                for c in doc.get("Config") or []
            ],
            options=doc.get("Options") or {},
        )


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Subnet = ipaddress.IPv4Network | ipaddress.IPv6Network


class IPAMPoolRequest(IPAMPool, RequestBody):
    """A pool as sent: checked here the way the engine's IPAM would, so that a bad or
    inconsistent address is a 422 naming the field, not the engine's 502. The engine
    refuses a pool without a subnet."""

    subnet: str = Field(examples=["10.77.0.0/24"])

    @field_validator("subnet", "ip_range")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError as exc:
                raise ValueError(f"{value[:80]!r} is not an address range (CIDR)") from exc
        return value

    @field_validator("gateway")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None:
            _address("gateway", value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        subnet = self.network()
        if self.gateway:
            _inside(subnet, _address("gateway", self.gateway), "gateway")
        if self.ip_range:
            ip_range = ipaddress.ip_network(self.ip_range, strict=False)
            if ip_range.version != subnet.version or not ip_range.subnet_of(subnet):  # type: ignore[arg-type]
                raise ValueError(f"ip_range: {self.ip_range} is not inside subnet {subnet}")
        for name, value in self.aux_addresses.items():
            _inside(subnet, _address(f"aux_addresses.{name}", value), f"aux_addresses.{name}")
        return self

    def network(self) -> Subnet:
        return ipaddress.ip_network(self.subnet, strict=False)


def _address(field: str, value: str) -> Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{field}: {value[:80]!r} is not an IP address") from None


def _inside(subnet: Subnet, address: Address, field: str) -> None:
    if address not in subnet:
        raise ValueError(f"{field}: {address} is not inside subnet {subnet}")


class IPAMRequest(IPAM, RequestBody):
    pools: list[IPAMPoolRequest] = Field(default_factory=list)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _no_overlap(self) -> Self:
        nets = [(i, p.network()) for i, p in enumerate(self.pools)]
        for i, a in nets:
            for j, b in nets:
                if i < j and a.version == b.version and a.overlaps(b):
                    raise ValueError(f"pools: subnet {a} (pool {i}) overlaps {b} (pool {j})")
        return self


class NetworkContainer(BaseModel):
    """A container attached to a network, with its addresses there (no prefix length)."""

    id: str
    name: str
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    mac_address: str | None = None


def _without_prefix(cidr: Any) -> str | None:
    return str(cidr).split("/", 1)[0] if cidr else None


class Network(BaseModel):
    """A network (docker-py `Network`), the engine document under `attrs`."""

    id: str
    name: str
    driver: str | None = None
    scope: str | None = None
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    created: str | None = None
    labels: Labels = Field(default_factory=dict)
    options: dict[str, str] = Field(default_factory=dict)
    ipam: IPAM = Field(default_factory=IPAM)
    containers: list[NetworkContainer] = Field(default_factory=list)
    attrs: dict[str, Any] = Field(default_factory=dict)
    host: str | None = Field(
        default=None, description="The host it is on (GET /v1/hosts)", examples=["local"]
    )

    @classmethod
    def from_engine(cls, doc: dict[str, Any]) -> Network:
        return cls(
            id=str(doc.get("Id") or ""),
            name=str(doc.get("Name") or ""),
            driver=doc.get("Driver"),
            scope=doc.get("Scope"),
            internal=bool(doc.get("Internal")),
            attachable=bool(doc.get("Attachable")),
            enable_ipv6=bool(doc.get("EnableIPv6")),
            created=rfc3339(doc.get("Created")),
            labels=doc.get("Labels") or {},
            options=doc.get("Options") or {},
            ipam=IPAM.from_engine(doc.get("IPAM")),
            containers=[
                NetworkContainer(
                    id=cid,
                    name=str(c.get("Name") or ""),
                    ipv4_address=_without_prefix(c.get("IPv4Address")),
                    ipv6_address=_without_prefix(c.get("IPv6Address")),
                    mac_address=c.get("MacAddress") or None,
                )
                for cid, c in (doc.get("Containers") or {}).items()
            ],
            attrs=doc,
        )


class NetworkCreate(RequestBody):
    name: str = Field(min_length=1, max_length=255, pattern=NAME_PATTERN)
    driver: str = Field(default="bridge", max_length=255)
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    labels: Labels = Field(default_factory=dict)
    options: dict[str, str] = Field(default_factory=dict, description="Driver options")
    ipam: IPAMRequest | None = None
    check_duplicate: bool = True
    scope: Literal["local", "swarm", "global"] | None = Field(
        default=None, description="docker-py `scope` (the driver's default when absent)"
    )
    ingress: bool = Field(default=False, description="The swarm's routing-mesh network")

    def to_engine(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Name": self.name,
            "Driver": self.driver,
            "Internal": self.internal,
            "Attachable": self.attachable,
            "EnableIPv6": self.enable_ipv6,
            "Labels": self.labels,
            "Options": self.options,
            "CheckDuplicate": self.check_duplicate,
        }
        if self.ipam is not None:
            out["IPAM"] = self.ipam.to_engine()
        if self.scope is not None:
            out["Scope"] = self.scope
        if self.ingress:
            out["Ingress"] = True
        return out


class NetworkConnect(RequestBody):
    container: str = Field(min_length=1, max_length=255)
    aliases: list[str] = Field(default_factory=list)
    ipv4_address: str | None = Field(default=None, examples=["10.77.0.10"])
    ipv6_address: str | None = None
    links: list[str] = Field(default_factory=list)
    driver_opt: dict[str, str] = Field(default_factory=dict)
    link_local_ips: list[str] = Field(default_factory=list, max_length=16)

    @field_validator("link_local_ips")
    @classmethod
    def _link_local(cls, value: list[str]) -> list[str]:
        ip_addresses(value)
        return value  # as given: connect has always passed the caller's spelling on

    def to_engine(self) -> dict[str, Any]:
        endpoint = endpoint_settings(
            aliases=self.aliases,
            links=self.links,
            driver_opt=self.driver_opt,
            ipv4_address=self.ipv4_address,
            ipv6_address=self.ipv6_address,
            link_local_ips=self.link_local_ips,
        )
        return {"Container": self.container, "EndpointConfig": endpoint}

    @model_validator(mode="after")
    def _addresses(self) -> Self:
        for field, value, version in (
            ("ipv4_address", self.ipv4_address, 4),
            ("ipv6_address", self.ipv6_address, 6),
        ):
            if value and _address(field, value).version != version:
                raise ValueError(f"{field}: {value!r} is not an IPv{version} address")
        return self


class NetworkDisconnect(RequestBody):
    container: str = Field(min_length=1, max_length=255)
    force: bool = False

    def to_engine(self) -> dict[str, Any]:
        return {"Container": self.container, "Force": self.force}


class NetworkPruneRequest(RequestBody):
    filters: Annotated[dict[str, str | list[str]], AfterValidator(check_prune_filters)] = Field(
        default_factory=dict,
        description="Engine prune filters: `label`, `until`",
        examples=[{"label": ["team=a"]}],
    )
