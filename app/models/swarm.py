"""Swarm: the cluster, its nodes, tasks, secrets and configs, and service log lines.

Services (their spec and its translation) are app/models/services.py.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from app.models.common import Labels, RequestBody, rfc3339

# The order of app/models/hosts.py: equal Literals (any order) share one schema.
NodeRole = Literal["manager", "worker"]
Availability = Literal["active", "pause", "drain"]
# Engine objects' names (secrets, configs): the engine's rule.
ObjectName = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9_.-]*[a-zA-Z0-9])?$"),
]
# `host[:port]`: an IP (IPv6 in brackets), a host name or an interface name (`eth0`).
Address = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        pattern=r"^(\[[0-9A-Fa-f:.%a-z]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(:\d{1,5})?$",
        examples=["10.77.0.1:2377"],
    ),
]
MAX_DATA = 500 * 1024  # the engine's own limit for a secret or config


def _version(doc: dict[str, Any]) -> int:
    return int((doc.get("Version") or {}).get("Index") or 0)


# -- the cluster ---------------------------------------------------------------------


class Swarm(BaseModel):
    """This host's place in a swarm. Outside one, `local_node_state` is `inactive` and
    the cluster fields are null (then `POST /v1/swarm/init` or `/join`)."""

    local_node_state: str = Field(
        description="inactive | pending | active | error | locked", examples=["active"]
    )
    node_id: str | None = None
    node_addr: str | None = None
    control_available: bool = Field(
        default=False, description="This host is a manager: the Swarm routes work on it"
    )
    cluster_id: str | None = None
    created: str | None = None
    updated: str | None = None
    nodes: int | None = None
    managers: int | None = None
    error: str | None = None
    attrs: dict[str, Any] = Field(
        default_factory=dict, description="The engine's swarm document, join tokens removed"
    )

    @classmethod
    def from_engine(cls, info: dict[str, Any], swarm: dict[str, Any] | None) -> Swarm:
        local = info.get("Swarm") or {}
        cluster = local.get("Cluster") or {}
        attrs = {k: v for k, v in (swarm or {}).items() if k != "JoinTokens"}
        return cls(
            local_node_state=str(local.get("LocalNodeState") or "inactive"),
            node_id=local.get("NodeID") or None,
            node_addr=local.get("NodeAddr") or None,
            control_available=bool(local.get("ControlAvailable")),
            cluster_id=(swarm or {}).get("ID") or cluster.get("ID") or None,
            created=rfc3339((swarm or cluster).get("CreatedAt")),
            updated=rfc3339((swarm or cluster).get("UpdatedAt")),
            nodes=local.get("Nodes"),
            managers=local.get("Managers"),
            error=local.get("Error") or None,
            attrs=attrs,
        )


class SwarmInit(RequestBody):
    """`docker swarm init`."""

    advertise_addr: Address | None = Field(
        default=None, description="Address (or interface) other nodes reach this one at"
    )
    listen_addr: Address = "0.0.0.0:2377"
    data_path_addr: Address | None = None
    default_addr_pool: Annotated[list[str], Field(max_length=64)] | None = Field(
        default=None,
        description="Subnets overlay networks are taken from",
        examples=[["10.96.0.0/12"]],
    )
    subnet_size: Annotated[int, Field(ge=1, le=32)] | None = None
    force_new_cluster: bool = False

    def to_engine(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ListenAddr": self.listen_addr,
            "ForceNewCluster": self.force_new_cluster,
        }
        if self.advertise_addr:
            body["AdvertiseAddr"] = self.advertise_addr
        if self.data_path_addr:
            body["DataPathAddr"] = self.data_path_addr
        if self.default_addr_pool:
            body["DefaultAddrPool"] = list(self.default_addr_pool)
        if self.subnet_size is not None:
            body["SubnetSize"] = self.subnet_size
        return body


class SwarmJoin(RequestBody):
    """`docker swarm join`."""

    remote_addrs: Annotated[list[Address], Field(min_length=1, max_length=16)] = Field(
        examples=[["10.77.0.1:2377"]]
    )
    join_token: Annotated[str, Field(min_length=1, max_length=256)]
    advertise_addr: Address | None = None
    listen_addr: Address = "0.0.0.0:2377"
    data_path_addr: Address | None = None

    def to_engine(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ListenAddr": self.listen_addr,
            "RemoteAddrs": list(self.remote_addrs),
            "JoinToken": self.join_token,
        }
        if self.advertise_addr:
            body["AdvertiseAddr"] = self.advertise_addr
        if self.data_path_addr:
            body["DataPathAddr"] = self.data_path_addr
        return body


class JoinTokens(BaseModel):
    """The tokens another engine joins with (admin only: a token is a key to the cluster)."""

    worker: str
    manager: str


# -- nodes ---------------------------------------------------------------------------


class Node(BaseModel):
    id: str
    hostname: str
    role: str
    availability: str
    state: str = Field(description="ready | down | unknown | disconnected")
    addr: str | None = None
    engine_version: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    leader: bool = False
    reachability: str | None = Field(default=None, description="Managers: reachable | unreachable")
    version: int = Field(description="The engine's version of the node object")
    created: str | None = None
    updated: str | None = None
    attrs: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_engine(cls, doc: dict[str, Any]) -> Node:
        spec = doc.get("Spec") or {}
        desc = doc.get("Description") or {}
        status = doc.get("Status") or {}
        manager = doc.get("ManagerStatus") or {}
        return cls(
            id=doc["ID"],
            hostname=str(desc.get("Hostname") or ""),
            role=str(spec.get("Role") or ""),
            availability=str(spec.get("Availability") or ""),
            state=str(status.get("State") or "unknown"),
            addr=status.get("Addr") or None,
            engine_version=(desc.get("Engine") or {}).get("EngineVersion"),
            labels=dict(spec.get("Labels") or {}),
            leader=bool(manager.get("Leader")),
            reachability=manager.get("Reachability"),
            version=_version(doc),
            created=rfc3339(doc.get("CreatedAt")),
            updated=rfc3339(doc.get("UpdatedAt")),
            attrs=doc,
        )


class NodeUpdate(RequestBody):
    """What changes; absent fields stay. `labels` replaces the node's labels."""

    availability: Availability | None = None
    role: NodeRole | None = None
    labels: Labels | None = None

    def apply(self, spec: dict[str, Any]) -> dict[str, Any]:
        out = dict(spec)
        if self.availability is not None:
            out["Availability"] = self.availability
        if self.role is not None:
            out["Role"] = self.role
        if self.labels is not None:
            out["Labels"] = dict(self.labels)
        return out


# -- tasks ---------------------------------------------------------------------------


class Task(BaseModel):
    id: str
    service_id: str
    slot: int | None = Field(default=None, description="Replicated services; null for global")
    node_id: str | None = None
    container_id: str | None = None
    state: str = Field(examples=["running"])
    desired_state: str = Field(examples=["running"])
    message: str | None = None
    error: str | None = Field(default=None, description="Why the task failed or was rejected")
    exit_code: int | None = None
    image: str | None = None
    created: str | None = None
    updated: str | None = None
    attrs: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_engine(cls, doc: dict[str, Any]) -> Task:
        status = doc.get("Status") or {}
        container = status.get("ContainerStatus") or {}
        spec = (doc.get("Spec") or {}).get("ContainerSpec") or {}
        return cls(
            id=doc["ID"],
            service_id=str(doc.get("ServiceID") or ""),
            slot=doc.get("Slot"),
            node_id=doc.get("NodeID") or None,
            container_id=container.get("ContainerID") or None,
            state=str(status.get("State") or ""),
            desired_state=str(doc.get("DesiredState") or ""),
            message=status.get("Message") or None,
            error=status.get("Err") or None,
            exit_code=container.get("ExitCode") if container.get("ContainerID") else None,
            image=spec.get("Image"),
            created=rfc3339(doc.get("CreatedAt")),
            updated=rfc3339(doc.get("UpdatedAt")),
            attrs=doc,
        )


# -- secrets and configs ---------------------------------------------------------------


class _DataCreate(RequestBody):
    name: ObjectName
    data: Annotated[str, Field(max_length=(MAX_DATA * 4) // 3 + 4)] = Field(
        description="The content, base64 (given once)", examples=["aHVudGVyMg=="]
    )
    labels: Labels = Field(default_factory=dict)

    @field_validator("data")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("data is not base64") from exc
        if len(raw) > MAX_DATA:
            raise ValueError(f"data is over {MAX_DATA} bytes")
        return value

    def to_engine(self) -> dict[str, Any]:
        return {"Name": self.name, "Labels": dict(self.labels), "Data": self.data}


class SecretCreate(_DataCreate):
    """A secret: its data is given here once and never returned."""


class ConfigCreate(_DataCreate):
    """A config: data that is not secret (returned on inspect)."""


class Secret(BaseModel):
    """A secret; its data is never returned (the engine does not give it either)."""

    id: str
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    created: str | None = None
    updated: str | None = None
    version: int

    @classmethod
    def from_engine(cls, doc: dict[str, Any]) -> Secret:
        spec = doc.get("Spec") or {}
        return cls(
            id=doc["ID"],
            name=str(spec.get("Name") or ""),
            labels=dict(spec.get("Labels") or {}),
            created=rfc3339(doc.get("CreatedAt")),
            updated=rfc3339(doc.get("UpdatedAt")),
            version=_version(doc),
        )


class Config(Secret):
    """A config, with its data (base64)."""

    data: str = ""

    @classmethod
    def from_engine(cls, doc: dict[str, Any]) -> Config:
        base = Secret.from_engine(doc).model_dump()
        return cls(**base, data=str((doc.get("Spec") or {}).get("Data") or ""))


class Created(BaseModel):
    """The id of what was made."""

    id: str


# -- service logs ---------------------------------------------------------------------


class ServiceLogEvent(BaseModel):
    """One line of a service's (or a task's) logs, with where it came from: the `data`
    of a stream's `event: log` (its position is the event's `id`)."""

    task_id: str
    slot: int | None = None
    node_id: str | None = None
    container_id: str | None = None
    stream: Literal["stdout", "stderr"]
    ts: str = Field(examples=["2025-11-30T17:27:03.123456789Z"])
    line: str


class ServiceLogLine(ServiceLogEvent):
    """A line of the history, with its position in the merged order: `id`
    (`<ts_ns>-<task_id>-<seq>`, see app/services/swarm_logs.py), the stream's event id."""

    id: str = Field(examples=["1764523623123456789-idhxsrkcr57s1x3zb9jg6pb2v-0"])
