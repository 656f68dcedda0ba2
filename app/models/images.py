"""Images: the view, and the bodies of pull, push, tag, prune and build."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, SecretStr, model_validator

from app.models.common import Bytes, Labels, Pruned, RequestBody, check_prune_filters
from app.models.container_options import ExtraHosts


class Image(BaseModel):
    """An image (docker-py `Image`): typed core fields, the engine document in `attrs`."""

    id: str = Field(examples=["sha256:5b0d…"])
    short_id: str = Field(examples=["sha256:5b0d59026729"])
    tags: list[str] = Field(default_factory=list, examples=[["alpine:3.20"]])
    digests: list[str] = Field(default_factory=list)
    created: str | None = None
    size: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    architecture: str | None = None
    os: str | None = None
    attrs: dict[str, Any] = Field(default_factory=dict)
    host: str | None = Field(
        default=None, description="The host it is on (GET /v1/hosts)", examples=["local"]
    )

    @classmethod
    def from_engine(cls, doc: dict[str, Any]) -> Image:
        """From an inspect document, or a summary of the image list."""
        from app.models.common import rfc3339

        image_id = str(doc.get("Id") or doc.get("ID") or "")
        config = doc.get("Config") or {}
        labels = config.get("Labels") if "Config" in doc else doc.get("Labels")
        tags = [t for t in doc.get("RepoTags") or [] if t != "<none>:<none>"]
        digests = [d for d in doc.get("RepoDigests") or [] if d != "<none>@<none>"]
        return cls(
            id=image_id,
            short_id=image_id[:19] if image_id.startswith("sha256:") else image_id[:12],
            tags=tags,
            digests=digests,
            created=rfc3339(doc.get("Created")),
            size=int(doc.get("Size") or 0),
            labels=labels or {},
            architecture=doc.get("Architecture"),
            os=doc.get("Os"),
            attrs=doc,
        )


class ImageLayer(BaseModel):
    """One line of `docker history`."""

    id: str = Field(description="Layer image id, or `<missing>` for layers of pulled images")
    created: str | None = None
    created_by: str = ""
    tags: list[str] = Field(default_factory=list)
    size: int = 0
    comment: str = ""

    @classmethod
    def from_engine(cls, doc: dict[str, Any]) -> ImageLayer:
        from app.models.common import rfc3339

        return cls(
            id=str(doc.get("Id") or ""),
            created=rfc3339(doc.get("Created")),
            created_by=str(doc.get("CreatedBy") or ""),
            tags=list(doc.get("Tags") or []),
            size=int(doc.get("Size") or 0),
            comment=str(doc.get("Comment") or ""),
        )


class RegistryAuth(RequestBody):
    """Registry credentials for one call; never stored, logged or echoed."""

    username: str | None = None
    password: SecretStr | None = None
    serveraddress: str | None = Field(
        default=None, description="The registry; derived from the image name when absent"
    )
    identitytoken: SecretStr | None = None

    @model_validator(mode="after")
    def _some_credentials(self) -> RegistryAuth:
        if self.identitytoken is None and self.username is None:
            raise ValueError("give username and password, or identitytoken")
        return self


# A tag, the engine's grammar (distribution/reference): checked here, since a bad one
# reaches the engine only inside a 200 progress stream.
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"


class PullRequest(RequestBody):
    image: str = Field(min_length=1, max_length=512, examples=["alpine:3.20"])
    tag: str | None = Field(
        default=None,
        max_length=128,
        pattern=TAG_PATTERN,
        description="Default: the tag in `image`, else `latest`",
    )
    platform: str | None = Field(
        default=None,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+){0,2}$",
        examples=["linux/amd64"],
    )
    all_tags: bool = Field(
        default=False, description="Every tag of the repository (the answer is then a list)"
    )
    auth: RegistryAuth | None = None


class PushRequest(RequestBody):
    repository: str = Field(min_length=1, max_length=512, examples=["127.0.0.1:5000/team/app"])
    tag: str | None = Field(
        default=None, max_length=128, pattern=TAG_PATTERN, description="Default: every tag"
    )
    auth: RegistryAuth | None = None


class PushResult(BaseModel):
    repository: str
    tag: str | None = None
    digest: str | None = None
    size: int | None = None


class TagRequest(RequestBody):
    repository: str = Field(min_length=1, max_length=512, examples=["registry.local:5000/team/app"])
    tag: str = Field(default="latest", min_length=1, max_length=128, pattern=TAG_PATTERN)


Filters = dict[str, str | bool | list[str]]


class ImagePruneRequest(RequestBody):
    dangling: bool = Field(
        default=True, description="Only untagged images (false: every image no container uses)"
    )
    filters: Annotated[Filters, AfterValidator(check_prune_filters)] = Field(
        default_factory=dict,
        description="Engine prune filters: `until`, `label` (str or list)",
        examples=[{"label": ["team=a"], "until": "24h"}],
    )


class ImagesPruned(Pruned):
    untagged: list[str] = Field(default_factory=list)


class ContainerLimits(RequestBody):
    """docker-py's build `container_limits`: the limits of each RUN step's container."""

    memory: Bytes | None = None
    memswap: Bytes | Literal[-1] | None = None
    cpushares: Annotated[int, Field(ge=0, le=262_144)] | None = None
    cpusetcpus: (
        Annotated[str, Field(max_length=256, pattern=r"^\d+(-\d+)?(,\d+(-\d+)?)*$")] | None
    ) = None
    cpuperiod: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    cpuquota: Annotated[int, Field(ge=-1, le=1 << 40)] | None = None

    def to_params(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class BuildOptions(BaseModel):
    """What both build forms share."""

    tag: str | list[str] | None = Field(default=None, examples=["app:1.0"])
    target: str | None = None
    buildargs: dict[str, str] = Field(default_factory=dict)
    labels: Labels = Field(default_factory=dict)
    nocache: bool = False
    pull: bool = False
    rm: bool = True
    forcerm: bool = False
    platform: str | None = None
    network: str | None = Field(default=None, description="Network mode of RUN steps")
    cache_from: list[Annotated[str, Field(min_length=1, max_length=512)]] = Field(
        default_factory=list, description="Images whose layers may be reused"
    )
    shmsize: Bytes | None = Field(
        default=None, description="/dev/shm of RUN steps", examples=["64m"]
    )
    extra_hosts: ExtraHosts | None = Field(
        default=None, description='RUN steps\' /etc/hosts: `{"name": "ip"}` or `["name:ip"]`'
    )
    container_limits: ContainerLimits | None = None
    squash: bool = Field(
        default=False,
        description="Squash the new layers into one (the engine must run experimental)",
    )
    quiet: bool = Field(default=False, description="Only the image id in the output")

    def tags(self) -> list[str]:
        if self.tag is None:
            return []
        return [self.tag] if isinstance(self.tag, str) else list(self.tag)


class BuildSpec(BuildOptions, RequestBody):
    """A small build as JSON: the Dockerfile text and the files it uses."""

    dockerfile: str = Field(
        min_length=1, examples=['FROM alpine:3.20\nCOPY app.sh /\nCMD ["/app.sh"]\n']
    )
    files: dict[str, str] = Field(
        default_factory=dict,
        description="Context files: relative path → text",
        examples=[{"app.sh": "#!/bin/sh\necho hi\n"}],
    )


class BuildResult(BaseModel):
    image: str = Field(description="The built image's id")
    tags: list[str] = Field(default_factory=list)
    logs: str = Field(description="The build output")


class LoadResult(BaseModel):
    images: list[Image]


class DistributionRequest(RequestBody):
    image: str = Field(min_length=1, max_length=512, examples=["alpine:3.20"])
    auth: RegistryAuth | None = None


class Platform(BaseModel):
    architecture: str | None = None
    os: str | None = None
    variant: str | None = None


class RegistryData(BaseModel):
    """What the registry says of a reference, without pulling (docker-py `RegistryData`)."""

    image: str
    digest: str
    media_type: str | None = None
    size: int | None = None
    platforms: list[Platform] = Field(default_factory=list)


class SearchResult(BaseModel):
    """One hit of the registry's search (docker-py `images.search`)."""

    name: str
    description: str = ""
    star_count: int = 0
    is_official: bool = False
    is_automated: bool = False

    @classmethod
    def from_engine(cls, doc: dict[str, Any]) -> SearchResult:
        return cls(
            name=str(doc.get("name") or ""),
            description=str(doc.get("description") or ""),
            star_count=int(doc.get("star_count") or 0),
            is_official=bool(doc.get("is_official")),
            is_automated=bool(doc.get("is_automated")),
        )


class BuildCachePruneRequest(RequestBody):
    """docker-py `images.prune_builds(filters, keep_storage, all)`."""

    all: bool = Field(default=False, description="Every cache record, not only dangling ones")
    keep_storage: Bytes | None = Field(default=None, description="Bytes of cache to keep")
    filters: dict[str, str | bool | list[str]] = Field(
        default_factory=dict,
        description="Engine build-cache filters: `until`, `id`, `parent`, `type`, "
        "`description`, `inuse`, `shared`, `private`",
    )


class BuildCachePruned(Pruned):
    """The cache records removed (`deleted`) and the bytes freed."""


class LoginRequest(RequestBody):
    """docker-py `client.login(username, password, email, registry)`; checked against
    the registry by the engine and never stored."""

    username: str = Field(min_length=1, max_length=512)
    password: SecretStr = Field(min_length=1, max_length=4096)
    email: str | None = Field(default=None, max_length=512, description="Ignored by registries")
    registry: str | None = Field(
        default=None,
        max_length=512,
        description="The registry (default Docker Hub)",
        examples=["registry.example.com:5000"],
    )


class LoginResult(BaseModel):
    status: str = Field(examples=["Login Succeeded"])
    identity_token: str | None = Field(
        default=None, description="A token the registry gave instead of a password (if any)"
    )
