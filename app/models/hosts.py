"""Hosts: what GET /v1/hosts answers, and the bodies that add or change a host."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.models.common import RequestBody
from app.models.system import HostState
from app.targets import HOST_NAME_PATTERN

HostName = Annotated[str, StringConstraints(pattern=HOST_NAME_PATTERN)]
Labels = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=128)],
        Annotated[str, StringConstraints(max_length=1024)],
    ],
    Field(max_length=64),
]
# A file on moorage's machine (certificates, keys, known_hosts).
FilePath = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]
URL_SCHEMES = ("unix://", "tcp://", "http://", "https://", "ssh://")


class TlsSpec(RequestBody):
    """A TCP engine's TLS files (PEM); `verify` checks the engine's certificate."""

    ca: FilePath | None = None
    cert: FilePath | None = None
    key: FilePath | None = None
    verify: bool = True


class SshSpec(RequestBody):
    """An SSH engine's client key and the known_hosts file that must list its host key
    (there is no blind trust)."""

    key: FilePath | None = None
    known_hosts: FilePath = Field(description="Required: the host key is always checked")


_URL = Field(
    max_length=2048,
    description="`unix:///path`, `tcp://host:port` (with `tls`: TLS), `https://…`, "
    "`ssh://user@host[:port]`",
)


class HostSpec(RequestBody):
    """A host: POST /v1/hosts, and one `[[hosts]]` table of MOORAGE_HOSTS_FILE."""

    name: HostName = Field(description="`^[a-z0-9][a-z0-9-]{0,62}$`")
    url: str = _URL
    default: bool = Field(default=False, description="The host of requests without `host`")
    disabled: bool = Field(default=False, description="Listed, never contacted")
    labels: Labels = Field(default_factory=dict)
    tls: TlsSpec | None = None
    ssh: SshSpec | None = None
    policy: FilePath | None = Field(
        default=None,
        description="This host's own policy file (TOML, as MOORAGE_POLICY_FILE), used "
        "instead of MOORAGE_POLICY_FILE on it",
    )

    @model_validator(mode="after")
    def _transport(self) -> HostSpec:
        url = self.url
        scheme, sep, rest = url.partition("://")
        if not sep or f"{scheme}://" not in URL_SCHEMES or not rest.strip("/"):
            raise ValueError(f"url: use one of {', '.join(URL_SCHEMES)}")
        if ":" in rest.split("/", 1)[0].rpartition("@")[0]:
            raise ValueError("url: no password in the url (SSH takes a key: `ssh.key`)")
        if self.tls is not None and scheme not in ("tcp", "https"):
            raise ValueError("tls: only for a tcp:// or https:// url")
        if self.ssh is not None and scheme != "ssh":
            raise ValueError("ssh: only for an ssh:// url")
        if scheme == "ssh" and self.ssh is None:
            raise ValueError("ssh: an ssh:// host needs `ssh = {known_hosts, key}`")
        return self


class HostChange(RequestBody):
    """PATCH /v1/hosts/{host}: the fields to change (the name stays); `tls` / `ssh`
    given replace the old ones, `null` removes them."""

    url: str | None = Field(default=None, max_length=2048)
    default: bool | None = None
    disabled: bool | None = None
    labels: Labels | None = None
    tls: TlsSpec | None = None
    ssh: SshSpec | None = None
    policy: FilePath | None = None


class HostSwarm(BaseModel):
    node_id: str
    role: Literal["manager", "worker"]
    cluster_id: str | None = None


class HostContainers(BaseModel):
    running: int
    total: int


class Host(BaseModel):
    """A host as moorage last saw it (never waits on its engine)."""

    name: str
    url: str = Field(description="Where its engine is (no credentials)")
    default: bool
    state: HostState = Field(
        description="up, down (moorage cannot reach it: its operations answer 503 "
        "host-unavailable at once), connecting (not probed yet), disabled"
    )
    version: str | None = Field(default=None, description="The engine's version")
    api_version: str | None = Field(default=None, description="The API version moorage speaks")
    swarm: HostSwarm | None = Field(default=None, description="Null outside a swarm")
    containers: HostContainers | None = None
    last_seen: str | None = Field(default=None, description="The engine's last answer (RFC 3339)")
    error: str | None = Field(default=None, description="Why it is down")
    labels: dict[str, str]
    disabled: bool
    source: Literal["env", "file", "api"] = Field(
        description="env (DOCKER_HOST), file (MOORAGE_HOSTS_FILE: read-only here) or api"
    )
    since: str = Field(description="When `state` last changed (RFC 3339)")
