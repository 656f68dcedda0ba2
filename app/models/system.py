"""System: liveness, readiness, ping, version, info, disk usage."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.models.common import EngineView


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class EngineSummary(BaseModel):
    version: str | None = None
    api_version: str | None = None
    os: str | None = None
    arch: str | None = None


HostState = Literal["up", "down", "connecting", "disabled"]


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    engine: EngineSummary = Field(description="The default host's engine")
    hosts: dict[str, HostState] = Field(
        default_factory=dict,
        description="Every host's state, as moorage last saw it (GET /v1/hosts): "
        "readiness is the default host's alone, so one host down does not take "
        "moorage out of a load balancer",
    )


class Ping(BaseModel):
    ok: bool
    api_version: str = Field(examples=["1.41"])


class EngineVersion(EngineView):
    version: str
    api_version: str
    min_api_version: str | None = Field(default=None, validation_alias="MinAPIVersion")
    os: str | None = None
    arch: str | None = None
    kernel_version: str | None = None
    go_version: str | None = None
    git_commit: str | None = None
    build_time: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, validation_alias="raw")


class Info(EngineView):
    id: str | None = Field(default=None, validation_alias="ID")
    name: str | None = None
    server_version: str | None = None
    containers: int = 0
    containers_running: int = 0
    containers_paused: int = 0
    containers_stopped: int = 0
    images: int = 0
    driver: str | None = None
    docker_root_dir: str | None = None
    operating_system: str | None = None
    os_type: str | None = None
    architecture: str | None = None
    kernel_version: str | None = None
    ncpu: int = Field(default=0, validation_alias="NCPU")
    mem_total: int = 0
    cgroup_driver: str | None = None
    cgroup_version: str | None = None
    swarm_state: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, validation_alias="raw")


class DiskUsageItem(BaseModel):
    count: int
    active: int
    size: int
    reclaimable: int


class DiskUsage(BaseModel):
    images: DiskUsageItem
    containers: DiskUsageItem
    volumes: DiskUsageItem
    build_cache: DiskUsageItem
    layers_size: int = 0
    raw: dict[str, Any] = Field(default_factory=dict)


def _usage(items: list[dict[str, Any]], size_key: str, active: Any) -> DiskUsageItem:
    sizes = [int(i.get(size_key) or 0) for i in items]
    used = [bool(active(i)) for i in items]
    return DiskUsageItem(
        count=len(items),
        active=sum(used),
        size=sum(s for s in sizes if s > 0),
        reclaimable=sum(s for s, u in zip(sizes, used, strict=True) if not u and s > 0),
    )


def disk_usage(doc: dict[str, Any]) -> DiskUsage:
    """`docker system df` figures from the engine's `/system/df` document."""
    images = doc.get("Images") or []
    containers = doc.get("Containers") or []
    volumes = doc.get("Volumes") or []
    cache = doc.get("BuildCache") or []
    return DiskUsage(
        images=_usage(images, "Size", lambda i: (i.get("Containers") or 0) > 0),
        containers=_usage(containers, "SizeRw", lambda c: c.get("State") == "running"),
        volumes=DiskUsageItem(
            count=len(volumes),
            active=sum(1 for v in volumes if (v.get("UsageData") or {}).get("RefCount", 0) > 0),
            size=sum(max((v.get("UsageData") or {}).get("Size", 0), 0) for v in volumes),
            reclaimable=sum(
                max((v.get("UsageData") or {}).get("Size", 0), 0)
                for v in volumes
                if (v.get("UsageData") or {}).get("RefCount", 0) == 0
            ),
        ),
        build_cache=_usage(cache, "Size", lambda b: b.get("InUse")),
        layers_size=int(doc.get("LayersSize") or 0),
        raw=doc,
    )
