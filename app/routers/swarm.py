"""Swarm routes: the cluster, nodes, secrets and configs (services: app/routers/services.py).

On a host that is not a manager the engine's refusal is 409 `not-a-swarm-manager`;
`GET /v1/swarm` answers there too (`local_node_state`), so that init and join can follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

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
    _DataCreate,
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
#
# The two are the same four routes over a different engine path and model: one factory.


class _StoredObject(Protocol):
    @classmethod
    def from_engine(cls, doc: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class _ObjectRoutes:
    kind: Literal["secret", "config"]
    model: type[_StoredObject]
    create: type[_DataCreate]
    not_found: type[errors.ProblemError]
    list_doc: str
    create_doc: str
    get_doc: str
    delete_doc: str


def _name_filters(name: str | None, label: list[str] | None) -> dict[str, list[str]] | None:
    filters: dict[str, list[str]] = {}
    if name:
        filters["name"] = [name]
    if labels := label_filters(label):
        filters["label"] = labels
    return filters or None


def _add_object_routes(spec: _ObjectRoutes) -> None:
    """List, create, get and delete of one kind, named `<kind>s_<action>` (the
    operation ids the roles and the audit know)."""
    kind, plural, model = spec.kind, f"{spec.kind}s", spec.model

    async def list_(engine: EngineDep, name: str | None = None, label: Labels = None) -> Any:
        docs = await engine.json("GET", plural, params={"filters": _name_filters(name, label)})
        return [model.from_engine(d) for d in docs or []]

    async def create(body: Any, engine: EngineDep) -> Any:
        created = await engine.json("POST", f"{plural}/create", json=body.to_engine())
        return model.from_engine(await engine.json("GET", f"{plural}/{created['ID']}", kind=kind))

    # The body's model differs by kind: given to FastAPI through the annotation it reads.
    create.__annotations__["body"] = spec.create

    async def get(id: str, engine: EngineDep) -> Any:
        check_ref(id)
        return model.from_engine(await engine.json("GET", f"{plural}/{id}", kind=kind, ref=id))

    async def delete(id: str, engine: EngineDep) -> None:
        check_ref(id)
        await engine.json("DELETE", f"{plural}/{id}", kind=kind, ref=id)

    def add(
        path: str,
        endpoint: Callable[..., Any],
        method: str,
        action: str,
        doc: str,
        problems: tuple[type[errors.ProblemError], ...] = (),
        **route: Any,
    ) -> None:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            name=f"{plural}_{action}",
            description=doc,
            responses=errors.problem_responses(*problems, _MANAGER),
            tags=[plural],
            **route,
        )

    many, one = f"/v1/{plural}", f"/v1/{plural}/{{id}}"
    add(many, list_, "GET", "list", spec.list_doc, response_model=list[model])  # type: ignore[valid-type]
    add(
        many,
        create,
        "POST",
        "create",
        spec.create_doc,
        (errors.NameInUse,),
        response_model=model,
        status_code=status.HTTP_201_CREATED,
    )
    add(one, get, "GET", "get", spec.get_doc, (spec.not_found,), response_model=model)
    add(
        one,
        delete,
        "DELETE",
        "delete",
        spec.delete_doc,
        (spec.not_found, errors.InUse),
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
    )


_add_object_routes(
    _ObjectRoutes(
        kind="secret",
        model=Secret,
        create=SecretCreate,
        not_found=errors.SecretNotFound,
        list_doc="Secrets (never their data).",
        create_doc="Create a secret; `data` (base64) is given once and never returned.",
        get_doc="One secret (by id or name), without its data.",
        delete_doc="Remove a secret (409 in-use while a service uses it).",
    )
)
_add_object_routes(
    _ObjectRoutes(
        kind="config",
        model=Config,
        create=ConfigCreate,
        not_found=errors.ConfigNotFound,
        list_doc="Configs.",
        create_doc="Create a config from `data` (base64).",
        get_doc="One config (by id or name), with its data.",
        delete_doc="Remove a config (409 in-use while a service uses it).",
    )
)
