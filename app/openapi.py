"""The OpenAPI document: what FastAPI makes, finished for the tools clients use.

`python -m app.openapi [--check] [PATH]` writes openapi/openapi.json (`--check`
exits 1 when the committed document differs from the app's). `install(app)` makes
`app.openapi()` serve the same finished document.

FastAPI's document is correct but generates badly; `finish()` rewrites it by rules,
so that a route or model added anywhere comes out the same way (tests/test_openapi.py
checks the rules on every operation, and runs Spectral, Redocly, openapi-typescript
with tsc and openapi-python-client with mypy in tests/test_spec_tools.py):

- `info.contact`, `info.license`, `servers` and the top-level `tags` (TAGS).
- Errors: one shared response per status in `components.responses` (a reference and
  a one-line description per operation instead of a copied block), the operation's
  codes in `x-moorage-problems`, `Problem.code` an enum of every code that exists
  (from the error classes), 401 on every secured operation, 403 on those that can
  refuse a valid caller (a role above viewer, a change that needs the CSRF header
  with a session cookie, a host a token may not use).
- Security: the CSRF header (`X-CSRF-Token`) is a security scheme required with the
  session cookie on changes, and a header parameter there; `Last-Event-ID` is a
  header parameter of every stream that resumes.
- Streams: every event's `data` is a component schema. Each stream's media type
  carries `x-moorage-events` (event name -> schema), and each stream has a component
  `<OperationId>Event`: a `oneOf` of frames `{event, id, data}` with a
  `discriminator` on `event`, named by the body's `contentSchema`. Why both: no
  generator reads text/event-stream as events (OpenAPI 3.1 cannot say "a sequence
  of these"; 3.2's `itemSchema` is read by none of the generators tested), so the
  body stays a string, which they all handle. What they all read is component
  schemas: openapi-typescript makes the union a discriminated TypeScript union
  (`switch (frame.event)` narrows `frame.data`), openapi-python-client and
  datamodel-code-generator make a class per frame and payload. `x-moorage-events`
  is the plain lookup for code that dispatches by event name (the generated Python
  client's test reads a stream with it). Pings are SSE comments (`: ping`), not
  events: they have no schema.
- Required: a schema both requests and answers use is split (`<Name>Input` for the
  requests). In an answer's schema every property is `required` (moorage never
  leaves a field out of a response; nullable ones are sent as null). In a
  request's schema, defaults move into the description: a `default` is
  documentation only, and openapi-typescript makes every property with one
  non-optional (its `defaultNonNullable`), so a minimal `{"image": ...}` would not
  type-check.
- Names: an inline enum becomes its own component `<Schema><Property>`; an inline
  property schema whose name a generator would derive from the property (`health`
  -> `Health`) and that is already a component's name is moved to
  `<Schema><Property>` too, so no generator renames a real schema (`Health2`).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

if TYPE_CHECKING:
    from fastapi import FastAPI

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"

SCHEMAS = "#/components/schemas/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
SSE_MEDIA_TYPE = "text/event-stream"
EVENTS_KEY = "x-moorage-events"
CODES_KEY = "x-moorage-codes"
PROBLEMS_KEY = "x-moorage-problems"

# Every tag an operation may carry, with what it groups. A route with a tag missing
# here fails tests/test_openapi.py.
TAGS: dict[str, str] = {
    "system": "Liveness and readiness probes, metrics, the engine's version, info and disk usage",
    "auth": "Browser sessions, stream tickets and the audit log",
    "containers": "Containers: create, run, inspect, change, their lifecycle, logs, "
    "health, stats, processes and files",
    "execs": "Commands run in a running container",
    "streams": "Server-Sent Event streams: logs, health, stats and engine events; "
    "resumable with `Last-Event-ID`",
    "images": "Images: list, pull, build, push, tag, load, export, prune",
    "volumes": "Volumes",
    "networks": "Networks, and connecting containers to them",
    "hosts": "The engines moorage serves, each a named host",
    "swarm": "The swarm this engine manages: join, leave, tokens",
    "nodes": "Swarm nodes",
    "services": "Swarm services, their scale, rollouts and logs",
    "tasks": "Swarm tasks",
    "secrets": "Swarm secrets (never returned)",
    "configs": "Swarm configs",
    "terminals": "Interactive terminals over WebSocket (exec and attach)",
    "alerts": "Alert rules, deliveries and the live alert stream",
    "audit": "The audit log of every change",
}

# Engine event types: the event names of /v1/events (`event: <type>`).
ENGINE_EVENT_TYPES = (
    "container",
    "image",
    "volume",
    "network",
    "daemon",
    "plugin",
    "service",
    "node",
    "secret",
    "config",
)

# Schemas whose fields are not all always present (the problem document's extension
# members), left as their models say.
SPARSE = frozenset({"Problem"})

_extra_models: dict[str, type[BaseModel]] = {}


def schema_ref(model: type[BaseModel]) -> dict[str, str]:
    """A reference to `model`'s component schema; the component is added to the spec
    even when no route's body or answer uses the model (stream events)."""
    known = _extra_models.setdefault(model.__name__, model)
    if known is not model:
        raise ValueError(f"two models named {model.__name__}: {known} and {model}")
    return {"$ref": SCHEMAS + model.__name__}


# ---------------------------------------------------------------------------------------
# Walking


def _refs(node: Any) -> Iterator[str]:
    """The component schema names `node` refers to, directly."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMAS):
            yield ref[len(SCHEMAS) :]
        for key, value in node.items():
            if not key.startswith("x-"):
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _closure(schemas: dict[str, Any], roots: Iterator[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        todo.extend(_refs(schemas[name]))
    return seen


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options"}:
                yield path, method, op


def _pascal(text: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", text) if p)


# ---------------------------------------------------------------------------------------
# The rules


def _info(spec: dict[str, Any]) -> None:
    spec["info"]["contact"] = {"name": "moorage maintainers"}
    spec["info"]["license"] = {"name": "Apache-2.0", "identifier": "Apache-2.0"}
    # Relative: the moorage that serves this document (`/docs` tries calls on it).
    spec["servers"] = [{"url": "/", "description": "The moorage that serves this document"}]
    used = sorted({t for _, _, op in operations(spec) for t in op.get("tags", [])})
    spec["tags"] = [{"name": t, "description": TAGS.get(t, t)} for t in used]


def _status_name(status: int) -> str:
    return _pascal(HTTPStatus(status).phrase)


def _problems(spec: dict[str, Any]) -> None:
    """Error responses as shared components; 401/403 where they can happen."""
    from app import errors
    from app.security import CSRF_HEADER, Role

    classes = errors.problem_classes()
    by_status: dict[int, list[type[errors.ProblemError]]] = {}
    for cls in classes:
        by_status.setdefault(cls.status, []).append(cls)
    schemas = spec["components"]["schemas"]
    problem = schemas["Problem"]
    problem["properties"]["code"]["enum"] = sorted(c.code for c in classes)
    problem["required"] = ["type", "title", "status", "detail", "instance", "code"]
    used: set[int] = set()
    for _, method, op in operations(spec):
        responses: dict[str, Any] = op.get("responses", {})
        codes: dict[str, list[str]] = {}
        # Middleware answers these before (or instead of) any route, GET /healthz too:
        # BodyLimit an oversized body, ShutdownCut a request the shutdown cut short.
        for status, code in (("413", "payload-too-large"), ("503", "shutting-down")):
            entry = responses.setdefault(status, {CODES_KEY: []})
            if code not in entry.setdefault(CODES_KEY, []):
                entry[CODES_KEY].append(code)
        on_host = any(
            p.get("name") == "host" and p.get("in") == "query" for p in op.get("parameters", [])
        )
        if on_host:
            # `?host=` names a host moorage does not know: app/hosts.py, before any route.
            entry = responses.setdefault("404", {CODES_KEY: []})
            if "host-not-found" not in entry.setdefault(CODES_KEY, []):
                entry[CODES_KEY].append("host-not-found")
        secured = bool(op.get("security"))
        if secured:
            responses.setdefault("401", {CODES_KEY: ["unauthorized"]})
            role = op.get("x-moorage-role", "admin")
            unsafe = method not in {"get", "head", "options"}
            if Role[role] > Role.viewer or unsafe or on_host:
                entry = responses.setdefault("403", {CODES_KEY: []})
                if "forbidden" not in entry.setdefault(CODES_KEY, []):
                    entry[CODES_KEY].insert(0, "forbidden")
        for status, response in list(responses.items()):
            if not status.isdigit() or int(status) < 400:
                continue
            if "Problem" not in json.dumps(
                response.get("content", {PROBLEM_MEDIA_TYPE: "Problem"})
            ):
                continue  # an error answer of its own shape: left as the route says
            found = response.get(CODES_KEY) or [c.code for c in by_status.get(int(status), [])]
            group = [c for c in classes if c.code in found]
            codes[status] = [c.code for c in group]
            used.add(int(status))
            responses[status] = {
                "$ref": f"#/components/responses/{_status_name(int(status))}",
                "description": errors.problem_description(group),
            }
        if codes:
            op[PROBLEMS_KEY] = dict(sorted(codes.items()))
    headers = {
        401: {"WWW-Authenticate": "The scheme to use: `Bearer`"},
        503: {"Retry-After": "Seconds to wait before trying again"},
    }
    components = spec["components"].setdefault("responses", {})
    for number in sorted(used):
        shared: dict[str, Any] = {
            "description": errors.problem_description(by_status[number]),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": SCHEMAS + "Problem"}}},
        }
        if number in headers:
            shared["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in headers[number].items()
            }
        components[_status_name(number)] = shared
    # The session cookie alone does not make a change: the CSRF header must come too.
    spec["components"].setdefault("securitySchemes", {})["csrf"] = {
        "type": "apiKey",
        "in": "header",
        "name": CSRF_HEADER,
        "description": "The `csrf` value of POST /v1/auth/session; with the session "
        "cookie, every change needs it",
    }
    spec["components"].setdefault("parameters", {})["CsrfToken"] = {
        "name": CSRF_HEADER,
        "in": "header",
        "required": False,
        "description": "With the session cookie: the `csrf` value of POST /v1/auth/session",
        "schema": {"type": "string"},
    }
    for _, method, op in operations(spec):
        if method in {"get", "head", "options"}:
            continue
        security = op.get("security") or []
        if {"session": []} in security:
            op["security"] = [
                {"session": [], "csrf": []} if s == {"session": []} else s for s in security
            ]
            op.setdefault("parameters", []).append({"$ref": "#/components/parameters/CsrfToken"})


def _resume_header(spec: dict[str, Any]) -> None:
    """`Last-Event-ID` as a header wherever `?last_event_id=` resumes a stream."""
    spec["components"].setdefault("parameters", {})["LastEventId"] = {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": "Resume after this event id (what EventSource sends on reconnect); "
        "`?last_event_id=` does the same for clients that cannot set headers",
        "schema": {"type": "string"},
    }
    for _, _, op in operations(spec):
        params = op.get("parameters", [])
        if any(p.get("name") == "last_event_id" and p.get("in") == "query" for p in params):
            params.append({"$ref": "#/components/parameters/LastEventId"})


def _event_schemas(spec: dict[str, Any]) -> None:
    """Component schemas of event payloads, frames and each stream's union."""
    schemas = spec["components"]["schemas"]
    models = [(m, "serialization") for _, m in sorted(_extra_models.items())]
    if models:
        _, doc = models_json_schema(models, ref_template=SCHEMAS + "{model}")  # type: ignore[arg-type]
        for name, schema in doc.get("$defs", {}).items():
            schemas.setdefault(name, schema)
    streams: list[tuple[str, dict[str, Any]]] = []  # (operationId, its SSE media type)
    names_of: dict[str, set[str]] = {}
    for _, _, op in operations(spec):
        for response in op.get("responses", {}).values():
            media = response.get("content", {}).get(SSE_MEDIA_TYPE)
            if media is None or EVENTS_KEY not in media:
                continue
            streams.append((op["operationId"], media))
            for event, ref in media[EVENTS_KEY].items():
                names_of.setdefault(ref["$ref"][len(SCHEMAS) :], set()).add(event)
    for payload, names in names_of.items():
        ordered = sorted(names)
        name_schema: dict[str, Any] = (
            {"type": "string", "const": ordered[0]}
            if len(ordered) == 1
            else {"type": "string", "enum": ordered}
        )
        schemas[f"{payload}Frame"] = {
            "type": "object",
            "title": f"{payload}Frame",
            "description": f"One Server-Sent Event whose `data` is a {payload} (JSON)",
            "properties": {
                "event": name_schema,
                "id": {"type": "string", "description": "`id:`, to resume after"},
                "data": {"$ref": SCHEMAS + payload},
            },
            "required": ["event", "data"],
        }
    for op_id, media in streams:
        events = media[EVENTS_KEY]
        frames = sorted({ref["$ref"][len(SCHEMAS) :] + "Frame" for ref in events.values()})
        name = f"{_pascal(op_id)}Event"
        schemas[name] = {
            "title": name,
            "description": f"An event of {op_id}'s stream, by its name",
            "oneOf": [{"$ref": SCHEMAS + f} for f in frames],
            "discriminator": {
                "propertyName": "event",
                "mapping": {
                    ev: SCHEMAS + ref["$ref"][len(SCHEMAS) :] + "Frame"
                    for ev, ref in sorted(events.items())
                },
            },
        }
        # The body is text (what every generator handles); decoded, a sequence of frames.
        media["schema"] = {
            "type": "string",
            "description": f"Server-Sent Events; each one a {name}",
            "contentMediaType": SSE_MEDIA_TYPE,
            "contentSchema": {"type": "array", "items": {"$ref": SCHEMAS + name}},
        }


def _roots(spec: dict[str, Any], side: str) -> Iterator[str]:
    for _, _, op in operations(spec):
        if side == "in":
            yield from _refs(op.get("requestBody", {}))
            yield from _refs(op.get("parameters", []))
            continue
        for response in op.get("responses", {}).values():
            for media_type, media in response.get("content", {}).items():
                if media_type != SSE_MEDIA_TYPE:
                    yield from _refs(media)


def _rewrite_refs(node: Any, names: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref[len(SCHEMAS) :] in names:
            node["$ref"] = SCHEMAS + names[ref[len(SCHEMAS) :]]
        for key, value in node.items():
            if not key.startswith("x-"):
                _rewrite_refs(value, names)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, names)


def _split_directions(spec: dict[str, Any]) -> None:
    """A schema both requests and answers use gets a copy `<Name>Input` for the
    requests, so that each side can follow its own rule below."""
    schemas = spec["components"]["schemas"]
    both = _closure(schemas, _roots(spec, "out")) & _closure(schemas, _roots(spec, "in"))
    names = {name: f"{name}Input" for name in sorted(both - SPARSE)}
    if not names:
        return
    for name, copy_name in names.items():
        if copy_name in schemas:
            raise ValueError(f"cannot split {name}: {copy_name} exists")
        schemas[copy_name] = {**copy.deepcopy(schemas[name]), "title": copy_name}
    inputs = _closure(schemas, _roots(spec, "in")) - set(names)
    for name in inputs | set(names.values()):
        _rewrite_refs(schemas[name], names)
    for _, _, op in operations(spec):
        _rewrite_refs(op.get("requestBody", {}), names)
        _rewrite_refs(op.get("parameters", []), names)


def _required(spec: dict[str, Any]) -> None:
    _split_directions(spec)
    schemas = spec["components"]["schemas"]
    outputs = _closure(schemas, _roots(spec, "out")) - SPARSE
    inputs = _closure(schemas, _roots(spec, "in"))
    for name in outputs - inputs:
        schema = schemas[name]
        if "properties" in schema:
            schema["required"] = list(schema["properties"])
    for name in inputs - outputs:
        for prop in schemas[name].get("properties", {}).values():
            if "default" in prop:
                default = json.dumps(prop.pop("default"), ensure_ascii=False)
                text = prop.get("description", "").rstrip()
                sep = " " if text.endswith(".") else (". " if text else "")
                prop["description"] = f"{text}{sep}Default: `{default}`."


def _is_enum(schema: Any) -> bool:
    return isinstance(schema, dict) and len(schema.get("enum", ())) > 1


def _named_inline(schema: Any) -> bool:
    """Would a generator make a class of its own for this inline schema?"""
    if not isinstance(schema, dict) or "$ref" in schema:
        return False
    if _is_enum(schema) or (schema.get("type") == "object" and "properties" in schema):
        return True
    parts = [*schema.get("anyOf", ()), *schema.get("oneOf", ())]
    if "items" in schema:
        parts.append(schema["items"])
    return any(_named_inline(p) or (len(p) > 1 and "type" in p and "$ref" not in p) for p in parts)


def _names(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name in sorted(schemas):
        schema = schemas[name]
        for prop, sub in list(schema.get("properties", {}).items()):
            derived = {_pascal(prop), _pascal(prop.removesuffix("s"))}
            variants = sub.get("anyOf", []) if isinstance(sub, dict) else []
            target = f"{name}{_pascal(prop)}"
            if _is_enum(sub) or (derived & set(schemas) and _named_inline(sub)):
                hoisted, keep = sub, {}
            elif any(_is_enum(v) for v in variants):
                # `Literal[...] | None`: the enum is the component, null stays here.
                hoisted = next(v for v in variants if _is_enum(v))
                keep = {k: v for k, v in sub.items() if k != "anyOf"}
                keep["anyOf"] = [
                    {"$ref": SCHEMAS + target} if v is hoisted else v for v in variants
                ]
            else:
                continue
            if target in schemas:
                raise ValueError(f"cannot name {name}.{prop}: {target} exists")
            moved = copy.deepcopy(hoisted)
            moved["title"] = target
            schemas[target] = moved
            if keep:
                schema["properties"][prop] = keep
            else:
                ref: dict[str, Any] = {"$ref": SCHEMAS + target}
                for k in ("description", "default", "examples"):
                    if k in sub:
                        ref[k] = sub[k]
                        moved.pop(k, None)
                schema["properties"][prop] = ref


def _tuples(node: Any) -> None:
    """A tuple (`prefixItems`) gets `items`: any of its members (`maxItems` already
    bounds it). Linters want `items` beside every array, and generators that do not
    read `prefixItems` then still type the members."""
    if isinstance(node, dict):
        if "prefixItems" in node and "items" not in node:
            members: list[Any] = []
            for item in node["prefixItems"]:
                for one in item.get("anyOf", [item]):
                    if one not in members:
                        members.append(one)
            node["items"] = members[0] if len(members) == 1 else {"anyOf": members}
        for value in node.values():
            _tuples(value)
    elif isinstance(node, list):
        for value in node:
            _tuples(value)


def _strip_codes(spec: dict[str, Any]) -> None:
    for _, _, op in operations(spec):
        for response in op.get("responses", {}).values():
            response.pop(CODES_KEY, None)


def finish(spec: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document, by the rules above (in place; returns it)."""
    _info(spec)
    _event_schemas(spec)
    _problems(spec)
    _resume_header(spec)
    _names(spec)
    _required(spec)
    _strip_codes(spec)
    _tuples(spec["components"])
    spec["components"]["schemas"] = dict(sorted(spec["components"]["schemas"].items()))
    return spec


def install(app: FastAPI) -> None:
    """`app.openapi()` serves the finished document (made once)."""
    build = app.openapi
    done: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not done:
            done.append(finish(build()))
            app.openapi_schema = done[0]
        return done[0]

    app.openapi = openapi  # type: ignore[method-assign]


def render() -> str:
    from app.main import create_app

    spec: dict[str, Any] = create_app().openapi()
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.openapi")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.path.exists() or args.path.read_text() != text:
            print(f"{args.path} is stale: run `python -m app.openapi`", file=sys.stderr)
            return 1
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(text)
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
