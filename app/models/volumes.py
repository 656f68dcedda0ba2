"""Volumes: the view and the create / prune bodies."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from app.models.common import NAME_PATTERN, Labels, RequestBody, check_prune_filters, rfc3339


class Volume(BaseModel):
    """A volume (docker-py `Volume`), the engine document under `attrs`."""

    name: str
    driver: str = "local"
    mountpoint: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    scope: str = "local"
    options: dict[str, str] = Field(default_factory=dict)
    created: str | None = None
    attrs: dict[str, Any] = Field(default_factory=dict)
    host: str | None = Field(
        default=None, description="The host it is on (GET /v1/hosts)", examples=["local"]
    )

    @classmethod
    def from_engine(cls, doc: dict[str, Any]) -> Volume:
        return cls(
            name=str(doc.get("Name") or ""),
            driver=str(doc.get("Driver") or "local"),
            mountpoint=doc.get("Mountpoint"),
            labels=doc.get("Labels") or {},
            scope=str(doc.get("Scope") or "local"),
            options=doc.get("Options") or {},
            created=rfc3339(doc.get("CreatedAt")),
            attrs=doc,
        )


class VolumeCreate(RequestBody):
    name: str | None = Field(
        default=None, max_length=255, pattern=NAME_PATTERN, description="Default: a random name"
    )
    driver: str = Field(default="local", max_length=255)
    driver_opts: dict[str, str] = Field(
        default_factory=dict, examples=[{"type": "tmpfs", "device": "tmpfs", "o": "size=64m"}]
    )
    labels: Labels = Field(default_factory=dict)

    def to_engine(self) -> dict[str, Any]:
        return {
            "Name": self.name or "",
            "Driver": self.driver,
            "DriverOpts": self.driver_opts,
            "Labels": self.labels,
        }


class VolumePruneRequest(RequestBody):
    filters: Annotated[dict[str, str | list[str]], AfterValidator(check_prune_filters)] = Field(
        default_factory=dict,
        description="Engine prune filters, e.g. `label` (str or list)",
        examples=[{"label": ["team=a"]}],
    )
