"""Stats: the engine's raw sample into the figures `docker stats` shows."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class StatsSample(BaseModel):
    container_id: str
    name: str
    read: str | None = None
    cpu_percent: float
    online_cpus: int
    memory_usage: int
    memory_limit: int
    memory_percent: float
    network_rx_bytes: int
    network_tx_bytes: int
    block_read_bytes: int
    block_write_bytes: int
    pids: int


def _cpu_percent(doc: dict[str, Any]) -> tuple[float, int]:
    cpu = doc.get("cpu_stats") or {}
    pre = doc.get("precpu_stats") or {}
    usage = (cpu.get("cpu_usage") or {}).get("total_usage", 0)
    pre_usage = (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system = cpu.get("system_cpu_usage", 0) or 0
    pre_system = pre.get("system_cpu_usage", 0) or 0
    online = (
        cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    )
    cpu_delta = usage - pre_usage
    system_delta = system - pre_system
    if cpu_delta > 0 and system_delta > 0:
        return cpu_delta / system_delta * online * 100.0, online
    return 0.0, online


def _memory_usage(mem: dict[str, Any]) -> int:
    # As the docker CLI: usage minus page cache (cgroup v1 total_inactive_file,
    # cgroup v2 inactive_file).
    usage = int(mem.get("usage") or 0)
    stats = mem.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        if key in stats and stats[key] < usage:
            return usage - int(stats[key])
    return usage


def compute_sample(doc: dict[str, Any], container_id: str = "") -> StatsSample:
    """`docker stats` figures from one `/containers/{id}/stats` document."""
    cpu_percent, online = _cpu_percent(doc)
    mem = doc.get("memory_stats") or {}
    usage = _memory_usage(mem)
    limit = int(mem.get("limit") or 0)
    nets = (doc.get("networks") or {}).values()
    blkio = (doc.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    return StatsSample(
        container_id=doc.get("id") or container_id,
        name=str(doc.get("name") or "").lstrip("/"),
        read=doc.get("read"),
        cpu_percent=round(cpu_percent, 3),
        online_cpus=online,
        memory_usage=usage,
        memory_limit=limit,
        memory_percent=round(usage / limit * 100.0, 3) if limit else 0.0,
        network_rx_bytes=sum(int(n.get("rx_bytes") or 0) for n in nets),
        network_tx_bytes=sum(int(n.get("tx_bytes") or 0) for n in nets),
        block_read_bytes=sum(
            int(b.get("value") or 0) for b in blkio if str(b.get("op")).lower() == "read"
        ),
        block_write_bytes=sum(
            int(b.get("value") or 0) for b in blkio if str(b.get("op")).lower() == "write"
        ),
        pids=int((doc.get("pids_stats") or {}).get("current") or 0),
    )
