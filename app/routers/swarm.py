"""Swarm routes: the cluster, nodes, secrets and configs (services: app/routers/services.py).

On a host that is not a manager the engine's refusal is 409 `not-a-swarm-manager`;
`GET /v1/swarm` answers there too (`local_node_state`), so that init and join can follow.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app import errors
from app.engine import EngineDep
from app.models.common import check_ref, label_filters
from app.models.swarm import (
    Config,
    ConfigCreate,
    JoinTokens,
    Node,
    NodeUpdate,
    Secret,
    SecretCreate,
    Swarm,
    SwarmInit,
    SwarmJoin,
)
from app.services import swarm

router = APIRouter()

_MANAGER = errors.NotASwarmManager
Labels = Annotated[list[str] | None, Query(description="`key` or `key=value`, repeatable")]


@router.get("/v1/swarm", tags=["swarm"], responses=errors.problem_responses())
async def swarm_get(engine: EngineDep) -> Swarm:
    """This host's swarm: the cluster when it is a manager, else its local state."""
    return await swarm.swarm_info(engine)


@router.post(
    "/v1/swarm/init",
    tags=["swarm"],
    responses=errors.problem_responses(errors.BadRequest, errors.Conflict),
)
async def swarm_init(body: SwarmInit, engine: EngineDep) -> Swarm:
    """Make this host the first manager of a new swarm (409 when it is in one)."""
    return await swarm.init_or_join(engine, "swarm/init", body.to_engine())


@router.post(
    "/v1/swarm/join",
    tags=["swarm"],
    responses=errors.problem_responses(errors.BadRequest, errors.Conflict, errors.Timeout),
)
async def swarm_join(body: SwarmJoin, engine: EngineDep) -> Swarm:
    """Join this host to a swarm with a worker or manager token."""
    return await swarm.init_or_join(engine, "swarm/join", body.to_engine())


@router.post(
    "/v1/swarm/leave",
    tags=["swarm"],
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors.problem_responses(errors.Conflict),
)
async def swarm_leave(engine: EngineDep, force: bool = False) -> None:
    """Leave the swarm (`force` for the last manager: the cluster is lost)."""
    await engine.json("POST", "swarm/leave", params={"force": force}, long=True)


@router.get("/v1/swarm/join-tokens", tags=["swarm"], responses=errors.problem_responses(_MANAGER))
async def swarm_join_tokens(engine: EngineDep) -> JoinTokens:
    """The worker and manager join tokens (admin)."""
    doc: dict[str, Any] = await engine.json("GET", "swarm")
    tokens = doc.get("JoinTokens") or {}
    return JoinTokens(
        worker=str(tokens.get("Worker") or ""), manager=str(tokens.get("Manager") or "")
    )


# -- nodes ----------------------------------------------------------------------------


@router.get("/v1/nodes", tags=["nodes"], responses=errors.problem_responses(_MANAGER))
async def nodes_list(
    engine: EngineDep,
    label: Labels = None,
    role: Annotated[str | None, Query(pattern="^(worker|manager)$")] = None,
) -> list[Node]:
    """The swarm's nodes."""
    filters: dict[str, list[str]] = {}
    if labels := label_filters(label):
        filters["node.label"] = labels
    if role:
        filters["role"] = [role]
    docs: list[dict[str, Any]] = await engine.json(
        "GET", "nodes", params={"filters": filters or None}
    )
    return [Node.from_engine(d) for d in docs or []]


@router.get(
    "/v1/nodes/{id}",
    tags=["nodes"],
    responses=errors.problem_responses(errors.NodeNotFound, _MANAGER),
)
async def nodes_get(id: str, engine: EngineDep) -> Node:
    """One node (by id or hostname)."""
    check_ref(id)
    return Node.from_engine(await engine.json("GET", f"nodes/{id}", kind="node", ref=id))


@router.patch(
    "/v1/nodes/{id}",
    tags=["nodes"],
    responses=errors.problem_responses(errors.NodeNotFound, _MANAGER),
)
async def nodes_update(id: str, body: NodeUpdate, engine: EngineDep) -> Node:
    """Change a node's availability (active, pause, drain), role or labels."""
    check_ref(id)
    return await swarm.update_node(engine, id, body)


@router.delete(
    "/v1/nodes/{id}",
    tags=["nodes"],
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors.problem_responses(errors.NodeNotFound, errors.Conflict, _MANAGER),
)
async def nodes_delete(id: str, engine: EngineDep, force: bool = False) -> None:
    """Remove a node from the swarm (a node still up needs `force`)."""
    check_ref(id)
    await engine.json("DELETE", f"nodes/{id}", params={"force": force}, kind="node", ref=id)


# -- secrets and configs ------------------------------------------------------------------


def _name_filters(name: str | None, label: list[str] | None) -> dict[str, list[str]] | None:
    filters: dict[str, list[str]] = {}
    if name:
        filters["name"] = [name]
    if labels := label_filters(label):
        filters["label"] = labels
    return filters or None


@router.get("/v1/secrets", tags=["secrets"], responses=errors.problem_responses(_MANAGER))
async def secrets_list(
    engine: EngineDep, name: str | None = None, label: Labels = None
) -> list[Secret]:
    """Secrets (never their data)."""
    docs = await engine.json("GET", "secrets", params={"filters": _name_filters(name, label)})
    return [Secret.from_engine(d) for d in docs or []]


@router.post(
    "/v1/secrets",
    tags=["secrets"],
    status_code=status.HTTP_201_CREATED,
    responses=errors.problem_responses(errors.NameInUse, _MANAGER),
)
async def secrets_create(body: SecretCreate, engine: EngineDep) -> Secret:
    """Create a secret; `data` (base64) is given once and never returned."""
    created = await engine.json("POST", "secrets/create", json=body.to_engine())
    doc = await engine.json("GET", f"secrets/{created['ID']}", kind="secret")
    return Secret.from_engine(doc)


@router.get(
    "/v1/secrets/{id}",
    tags=["secrets"],
    responses=errors.problem_responses(errors.SecretNotFound, _MANAGER),
)
async def secrets_get(id: str, engine: EngineDep) -> Secret:
    """One secret (by id or name), without its data."""
    check_ref(id)
    return Secret.from_engine(await engine.json("GET", f"secrets/{id}", kind="secret", ref=id))


@router.delete(
    "/v1/secrets/{id}",
    tags=["secrets"],
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors.problem_responses(errors.SecretNotFound, errors.InUse, _MANAGER),
)
async def secrets_delete(id: str, engine: EngineDep) -> None:
    """Remove a secret (409 in-use while a service uses it)."""
    check_ref(id)
    await engine.json("DELETE", f"secrets/{id}", kind="secret", ref=id)


@router.get("/v1/configs", tags=["configs"], responses=errors.problem_responses(_MANAGER))
async def configs_list(
    engine: EngineDep, name: str | None = None, label: Labels = None
) -> list[Config]:
    """Configs."""
    docs = await engine.json("GET", "configs", params={"filters": _name_filters(name, label)})
    return [Config.from_engine(d) for d in docs or []]


@router.post(
    "/v1/configs",
    tags=["configs"],
    status_code=status.HTTP_201_CREATED,
    responses=errors.problem_responses(errors.NameInUse, _MANAGER),
)
async def configs_create(body: ConfigCreate, engine: EngineDep) -> Config:
    """Create a config from `data` (base64)."""
    created = await engine.json("POST", "configs/create", json=body.to_engine())
    doc = await engine.json("GET", f"configs/{created['ID']}", kind="config")
    return Config.from_engine(doc)


@router.get(
    "/v1/configs/{id}",
    tags=["configs"],
    responses=errors.problem_responses(errors.ConfigNotFound, _MANAGER),
)
async def configs_get(id: str, engine: EngineDep) -> Config:
    """One config (by id or name), with its data."""
    check_ref(id)
    return Config.from_engine(await engine.json("GET", f"configs/{id}", kind="config", ref=id))


@router.delete(
    "/v1/configs/{id}",
    tags=["configs"],
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors.problem_responses(errors.ConfigNotFound, errors.InUse, _MANAGER),
)
async def configs_delete(id: str, engine: EngineDep) -> None:
    """Remove a config (409 in-use while a service uses it)."""
    check_ref(id)
    await engine.json("DELETE", f"configs/{id}", kind="config", ref=id)
