"""Swarm operations that take several engine calls: services read with their replica
counts and state, updates that carry the engine's version (and retry when another
writer got there first), references by name, nodes' updates.

The engine refuses a Swarm call on a host that is not a manager with a 503, which
app/engine.py turns into 409 `not-a-swarm-manager`.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from app import errors
from app.engine import Engine
from app.models.services import Replicas, Service, ServiceSpec
from app.models.swarm import Node, NodeUpdate, Swarm

# Attempts of a read-modify-write when another writer changed the object in between,
# each after a short random pause (writers that collided do not collide again in step).
UPDATE_ATTEMPTS = 10
RETRY_PAUSE = (0.01, 0.1)
_OUT_OF_SEQUENCE = "update out of sequence"
# Task states after which a task never runs again.
TERMINAL = frozenset({"complete", "shutdown", "failed", "rejected", "orphaned", "remove"})
FAILED = frozenset({"failed", "rejected"})


async def swarm_info(engine: Engine) -> Swarm:
    """This host's swarm state; the cluster document too when it is a manager."""
    info: dict[str, Any] = await engine.json("GET", "info")
    swarm = None
    if (info.get("Swarm") or {}).get("ControlAvailable"):
        swarm = await engine.json("GET", "swarm")
    return Swarm.from_engine(info, swarm)


async def init_or_join(engine: Engine, path: str, body: dict[str, Any]) -> Swarm:
    """`swarm/init` or `swarm/join`. What the engine answers 500 to here is what the
    caller gave it: an address it cannot parse, resolve or find an interface for, a
    token of the wrong shape (20.10 has a dozen such messages): 400, not 502."""
    try:
        await engine.json("POST", path, json=body, long=path == "swarm/join")
    except errors.EngineError as exc:
        if type(exc) is errors.EngineError:
            raise errors.BadRequest(f"The engine refused the {path}: {exc.detail}") from exc
        raise
    return await swarm_info(engine)


# -- services -------------------------------------------------------------------------


async def service_doc(engine: Engine, ref: str) -> dict[str, Any]:
    doc: dict[str, Any] = await engine.json("GET", f"services/{ref}", kind="service", ref=ref)
    return doc


async def _network_names(engine: Engine) -> dict[str, str]:
    nets: list[dict[str, Any]] = await engine.json(
        "GET", "networks", params={"filters": {"scope": ["swarm"]}}
    )
    return {n["Id"]: n["Name"] for n in nets or []}


def service_state(
    desired: int, running: int, tasks: list[dict[str, Any]]
) -> tuple[str, str | None]:
    """`running`, `converging`, `stopped`, or `rejected` with why: every slot whose
    tasks have ended last ended rejected or failed, and none runs."""
    if desired == 0:
        return "stopped", None
    if running >= desired:
        return "running", None
    latest: dict[Any, dict[str, Any]] = {}
    alive = False
    for task in tasks:
        state = str((task.get("Status") or {}).get("State") or "")
        if state in ("running", "starting"):
            alive = True
        if state not in TERMINAL:
            continue
        slot = task.get("Slot") or task.get("NodeID")
        seen = latest.get(slot)
        if seen is None or _stamp(task) > _stamp(seen):
            latest[slot] = task
    if (
        not alive
        and latest
        and all((t.get("Status") or {}).get("State") in FAILED for t in latest.values())
    ):
        newest = max(latest.values(), key=_stamp)
        status = newest.get("Status") or {}
        why = status.get("Err") or status.get("Message") or status.get("State")
        return "rejected", str(why)
    return "converging", None


def _stamp(task: dict[str, Any]) -> str:
    return str((task.get("Status") or {}).get("Timestamp") or task.get("UpdatedAt") or "")


async def list_services(
    engine: Engine, filters: Mapping[str, list[str]] | None = None
) -> list[Service]:
    """Services with their replica counts (the engine's `status=true`, API 1.41) and
    state, from one services call and one tasks call."""
    docs: list[dict[str, Any]] = await engine.json(
        "GET", "services", params={"filters": dict(filters or {}) or None, "status": True}
    )
    if not docs:
        return []
    tasks: list[dict[str, Any]] = await engine.json("GET", "tasks")
    by_service: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for task in tasks or []:
        by_service[str(task.get("ServiceID"))].append(task)
    names = await _network_names(engine)
    return [_view(doc, by_service[doc["ID"]], names) for doc in docs]


def _view(doc: dict[str, Any], tasks: list[dict[str, Any]], names: dict[str, str]) -> Service:
    status = doc.get("ServiceStatus") or {}
    # Running and meant to: the engine's RunningTasks also counts tasks still stopping
    # after a scale down or an update (for up to their stop grace period).
    running = sum(
        1
        for t in tasks
        if (t.get("Status") or {}).get("State") == "running" and t.get("DesiredState") == "running"
    )
    desired = status.get("DesiredTasks")
    if desired is None:
        mode = (doc.get("Spec") or {}).get("Mode") or {}
        desired = (mode.get("Replicated") or {}).get("Replicas") or 0
    replicas = Replicas(running=running, desired=int(desired))
    return Service.from_engine(doc, replicas, service_state(int(desired), running, tasks), names)


async def get_service(engine: Engine, ref: str) -> Service:
    doc = await service_doc(engine, ref)
    docs: list[dict[str, Any]] = await engine.json(
        "GET", "services", params={"filters": {"id": [doc["ID"]]}, "status": True}
    )
    doc = next((d for d in docs or [] if d["ID"] == doc["ID"]), doc)
    tasks: list[dict[str, Any]] = await engine.json(
        "GET", "tasks", params={"filters": {"service": [doc["ID"]]}}
    )
    return _view(doc, tasks or [], await _network_names(engine))


async def resolve_references(engine: Engine, spec: dict[str, Any]) -> dict[str, Any]:
    """Secrets and configs named in the spec get the engine's ids (a missing one is a
    422 naming the field; nothing is created)."""
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    for kind, field in (("Secret", "secrets"), ("Config", "configs")):
        refs = container.get(f"{kind}s") or []
        if not any(not r.get(f"{kind}ID") for r in refs):
            continue
        docs: list[dict[str, Any]] = await engine.json("GET", f"{kind.lower()}s")
        ids = {str((d.get("Spec") or {}).get("Name")): d["ID"] for d in docs or []}
        for i, ref in enumerate(refs):
            if ref.get(f"{kind}ID"):
                continue
            name = str(ref.get(f"{kind}Name") or "")
            if name not in ids:
                raise errors.ValidationFailed.field(
                    ["body", field, i, "name"], f"no {kind.lower()} named {name!r}"
                )
            ref[f"{kind}ID"] = ids[name]
    return spec


async def create_service(engine: Engine, spec: ServiceSpec) -> Service:
    body = await resolve_references(engine, spec.apply({}))
    created: dict[str, Any] = await engine.json("POST", "services/create", json=body)
    return await get_service(engine, str(created["ID"]))


async def update_service(
    engine: Engine,
    ref: str,
    change: Callable[[dict[str, Any]], dict[str, Any]],
    params: Mapping[str, Any] | None = None,
) -> Service:
    """Read the service, change its spec, send it with the version read; when another
    writer updated it in between (the engine: out of sequence), read it again."""
    for _ in range(UPDATE_ATTEMPTS):
        doc = await service_doc(engine, ref)
        spec = await resolve_references(engine, change(doc.get("Spec") or {}))
        version = int((doc.get("Version") or {}).get("Index") or 0)
        try:
            await engine.json(
                "POST",
                f"services/{doc['ID']}/update",
                params={"version": version, **(params or {})},
                json=spec,
                kind="service",
                ref=ref,
            )
        except errors.EngineError as exc:
            if _OUT_OF_SEQUENCE not in exc.detail:
                raise
            await _pause()
            continue
        except errors.BadRequest as exc:
            if "does not have a previous spec" in exc.detail:
                raise errors.Conflict(
                    f"Service {ref!r} has no previous spec to roll back to"
                ) from exc
            raise
        return await get_service(engine, doc["ID"])
    raise errors.Conflict(f"Service {ref!r} kept changing under {UPDATE_ATTEMPTS} tries; try again")


def patch(change: ServiceSpec) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def apply(spec: dict[str, Any]) -> dict[str, Any]:
        try:
            return change.apply(spec)
        except ValueError as exc:  # a field that does not fit the service as it is
            raise errors.ValidationFailed.field(["body"], str(exc)) from exc

    return apply


def scale(replicas: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def apply(spec: dict[str, Any]) -> dict[str, Any]:
        if "Global" in (spec.get("Mode") or {}):
            raise errors.Conflict("A global service runs one task per node: it cannot be scaled")
        return {**spec, "Mode": {"Replicated": {"Replicas": replicas}}}

    return apply


def force_redeploy(spec: dict[str, Any]) -> dict[str, Any]:
    """The same spec with a new ForceUpdate: every task is replaced (a new rollout)."""
    task = dict(spec.get("TaskTemplate") or {})
    task["ForceUpdate"] = int(task.get("ForceUpdate") or 0) + 1
    return {**spec, "TaskTemplate": task}


def unchanged(spec: dict[str, Any]) -> dict[str, Any]:
    return spec


# -- nodes ----------------------------------------------------------------------------


async def update_node(engine: Engine, ref: str, change: NodeUpdate) -> Node:
    for _ in range(UPDATE_ATTEMPTS):
        doc: dict[str, Any] = await engine.json("GET", f"nodes/{ref}", kind="node", ref=ref)
        version = int((doc.get("Version") or {}).get("Index") or 0)
        try:
            await engine.json(
                "POST",
                f"nodes/{doc['ID']}/update",
                params={"version": version},
                json=change.apply(doc.get("Spec") or {}),
                kind="node",
                ref=ref,
            )
        except errors.EngineError as exc:
            if _OUT_OF_SEQUENCE not in exc.detail:
                raise
            await _pause()
            continue
        fresh: dict[str, Any] = await engine.json("GET", f"nodes/{doc['ID']}", kind="node")
        return Node.from_engine(fresh)
    raise errors.Conflict(f"Node {ref!r} kept changing under {UPDATE_ATTEMPTS} tries; try again")


async def _pause() -> None:
    await asyncio.sleep(random.uniform(*RETRY_PAUSE))
