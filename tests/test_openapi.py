"""The committed spec is the app's, and every operation follows the spec's rules
(app/openapi.py): a route added anywhere that breaks one fails here, by name."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError

from app import errors
from app.openapi import (
    DEFAULT_PATH,
    EVENTS_KEY,
    PROBLEMS_KEY,
    TAGS,
    finish,
    operations,
    render,
)
from app.openapi import _extra_models as event_models
from app.security import CSRF_HEADER

SSE = "text/event-stream"
SCHEMAS = "#/components/schemas/"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(render())
    return doc


def resolve(spec: dict[str, Any], ref: str) -> Any:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_committed_spec_matches_the_app(spec: dict[str, Any]) -> None:
    committed = DEFAULT_PATH.read_text()
    assert json.loads(committed) == spec, (
        "openapi/openapi.json is stale: run `make openapi-write` and commit it"
    )


def test_operation_ids_are_resource_action(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids))
    for op_id in ids:
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", op_id), op_id


def test_info_servers_and_tags(spec: dict[str, Any]) -> None:
    assert spec["info"]["license"]["identifier"] == "Apache-2.0"
    assert spec["info"]["contact"]["name"]
    assert spec["servers"][0]["url"]
    used = {t for _, _, op in operations(spec) for t in op.get("tags", [])}
    missing = sorted(used - set(TAGS))
    assert missing == [], f"tags with no description in app/openapi.py TAGS: {missing}"
    assert {t["name"] for t in spec["tags"]} == used
    for _, _, op in operations(spec):
        # Exactly one: with an operation under two tags, Swagger UI 5 (/docs) draws the
        # first tag's section and nothing after it.
        assert len(op.get("tags", [])) == 1, f"{op['operationId']}: tags {op.get('tags')}"


def test_every_secured_operation_documents_401_and_403(spec: dict[str, Any]) -> None:
    for _, method, op in operations(spec):
        op_id, responses = op["operationId"], op["responses"]
        if not op.get("security"):
            assert op_id in {"healthz", "readyz"}, f"{op_id} is public"
            continue
        assert "401" in responses, f"{op_id}: no 401"
        may_refuse = (
            op["x-moorage-role"] != "viewer"
            or method not in {"get", "head"}
            # a token's host scope (`?host=`; not the path of /v1/hosts/{host})
            or any(
                p.get("name") == "host" and p.get("in") == "query" for p in op.get("parameters", [])
            )
        )
        if may_refuse:
            assert "403" in responses, f"{op_id}: no 403 (role {op['x-moorage-role']})"
            assert "forbidden" in op[PROBLEMS_KEY]["403"], op_id


def test_error_responses_are_shared_components(spec: dict[str, Any]) -> None:
    shared = spec["components"]["responses"]
    for _, _, op in operations(spec):
        op_id = op["operationId"]
        for status, response in op["responses"].items():
            if int(status) < 400:
                assert "$ref" not in response, (op_id, status)
                continue
            assert set(response) == {"$ref", "description"}, (op_id, status)
            assert resolve(spec, response["$ref"]) is shared[response["$ref"].split("/")[-1]]
            assert op[PROBLEMS_KEY][status], (op_id, status)
        assert set(op.get(PROBLEMS_KEY, {})) == {s for s in op["responses"] if int(s) >= 400}
    assert shared["Unauthorized"]["headers"]["WWW-Authenticate"]
    assert shared["ServiceUnavailable"]["headers"]["Retry-After"]


def test_problem_code_lists_every_code_that_exists(spec: dict[str, Any]) -> None:
    code = resolve(spec, spec["components"]["schemas"]["Problem"]["properties"]["code"]["$ref"])
    assert code["enum"] == sorted(c.code for c in errors.problem_classes())
    assert {"container-not-found", "slow-consumer", "validation-error"} <= set(code["enum"])
    every = set(code["enum"])
    for _, _, op in operations(spec):
        for codes in op.get(PROBLEMS_KEY, {}).values():
            assert set(codes) <= every, op["operationId"]


def test_changes_model_the_csrf_header(spec: dict[str, Any]) -> None:
    assert spec["components"]["securitySchemes"]["csrf"]["name"] == CSRF_HEADER
    for _, method, op in operations(spec):
        if method in {"get", "head"} or not op.get("security"):
            continue
        assert {"session": [], "csrf": []} in op["security"], op["operationId"]
        assert {"session": []} not in op["security"], op["operationId"]
        params = [resolve(spec, p["$ref"]) if "$ref" in p else p for p in op["parameters"]]
        assert any(p["name"] == CSRF_HEADER and p["in"] == "header" for p in params)


def stream_media(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for _, _, op in operations(spec):
        for response in op["responses"].values():
            if SSE in response.get("content", {}):
                out.append((op["operationId"], response["content"][SSE]))
    return out


def test_streams_are_typed_events_not_bare_strings(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    streams = stream_media(spec)
    assert len(streams) >= 10
    for op_id, media in streams:
        events = media.get(EVENTS_KEY)
        assert events, f"{op_id}: a stream without {EVENTS_KEY} (pass events= to sse_doc)"
        assert set(events) - {"end", "error"}, f"{op_id}: which events does it send?"
        assert events["error"] == {"$ref": SCHEMAS + "Problem"}
        for name, ref in events.items():
            assert ref["$ref"].removeprefix(SCHEMAS) in schemas, (op_id, name)
        union = media["schema"]["contentSchema"]["items"]["$ref"].removeprefix(SCHEMAS)
        mapping = schemas[union]["discriminator"]["mapping"]
        assert set(mapping) == set(events), op_id
        for name, frame in mapping.items():
            data = resolve(spec, frame)["properties"]["data"]
            assert data == events[name], (op_id, name)


def sse_frames(text: str) -> list[tuple[str, str]]:
    """(event, data) of each event in an SSE text."""
    frames = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            frames.append((fields.get("event", "message"), fields["data"]))
    return frames


def test_stream_examples_are_valid_events(spec: dict[str, Any]) -> None:
    """Every `data:` of a stream's example is JSON its event's schema accepts."""
    for op_id, media in stream_media(spec):
        frames = sse_frames(media["example"])
        assert frames, op_id
        for event, data in frames:
            ref = media[EVENTS_KEY].get(event)
            assert ref is not None, f"{op_id}: example event {event!r} is not declared"
            model: type[BaseModel] = event_models[ref["$ref"].removeprefix(SCHEMAS)]
            try:
                model.model_validate_json(data)
            except ValidationError as exc:
                pytest.fail(f"{op_id}: example {event} is not a {model.__name__}: {exc}")


def test_event_schemas_have_valid_json_examples(spec: dict[str, Any]) -> None:
    for name, model in event_models.items():
        for example in spec["components"]["schemas"][name].get("examples", []):
            model.model_validate(example)


def test_streams_that_resume_take_last_event_id(spec: dict[str, Any]) -> None:
    for _, _, op in operations(spec):
        params = op.get("parameters", [])
        if any(p.get("name") == "last_event_id" for p in params):
            assert {"$ref": "#/components/parameters/LastEventId"} in params, op["operationId"]
    header = spec["components"]["parameters"]["LastEventId"]
    assert (header["in"], header["name"]) == ("header", "Last-Event-ID")


def reach(spec: dict[str, Any], roots: list[Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith(SCHEMAS) and ref[len(SCHEMAS) :] not in seen:
                seen.add(ref[len(SCHEMAS) :])
                todo.append(resolve(spec, ref))
            todo.extend(v for k, v in node.items() if not k.startswith("x-"))
        elif isinstance(node, list):
            todo.extend(node)
    return seen


def test_required_fields_follow_the_direction(spec: dict[str, Any]) -> None:
    """Answers: every field is required (always sent). Requests: nothing with a
    default is required, and no property carries `default` (see app/openapi.py)."""
    schemas = spec["components"]["schemas"]
    ins = reach(spec, [op.get("requestBody", {}) for _, _, op in operations(spec)])
    ins |= reach(spec, [op.get("parameters", []) for _, _, op in operations(spec)])
    outs = reach(
        spec,
        [
            m
            for _, _, op in operations(spec)
            for r in op["responses"].values()
            for t, m in r.get("content", {}).items()
            if t != SSE
        ],
    )
    both = sorted(ins & outs)
    assert both == [], f"schemas used by requests and answers alike: {both}"
    for name in outs - {"Problem"}:
        props = schemas[name].get("properties", {})
        assert sorted(schemas[name].get("required", [])) == sorted(props), name
    for name in ins:
        for prop, sub in schemas[name].get("properties", {}).items():
            assert "default" not in sub, f"{name}.{prop}"
    minimal = schemas["ContainerSpec"]["required"]
    assert minimal == ["image"]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def pascal(text: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", text) if p)


def test_names_generate_cleanly(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name, schema in schemas.items():
        assert not name[-1].isdigit(), f"numbered schema name {name}"
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), f"schema name {name!r}"
        for prop, sub in schema.get("properties", {}).items():
            # openapi-python-client names a local after the class: `processes = cls(...)`.
            assert prop != snake(name), f"{name}.{prop}: property named like its class"
            variants = [sub, *sub.get("anyOf", []), sub.get("items", {})]
            for v in variants:
                assert len(v.get("enum", [])) <= 1, f"{name}.{prop}: inline enum"
            if "$ref" in sub:
                continue
            derived = {pascal(prop), pascal(prop.removesuffix("s"))} & set(schemas)
            inline_object = any(v.get("type") == "object" and "properties" in v for v in variants)
            assert not (derived and inline_object), f"{name}.{prop} would shadow {derived}"


class Thing(BaseModel):
    name: str
    size: int = 1


def test_finish_splits_a_schema_requests_and_answers_share() -> None:
    """A model used as body and answer: the answer's has every field required, the
    request's copy (`<Name>Input`) keeps its defaults optional."""
    app = FastAPI()

    @app.post("/things", responses=errors.problem_responses())
    async def things_create(thing: Thing) -> Thing:
        return thing

    doc = finish(app.openapi())
    schemas = doc["components"]["schemas"]
    assert schemas["Thing"]["required"] == ["name", "size"]
    assert schemas["ThingInput"]["required"] == ["name"]
    assert "default" not in schemas["ThingInput"]["properties"]["size"]
    body = doc["paths"]["/things"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": SCHEMAS + "ThingInput"}
    answer = doc["paths"]["/things"]["post"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"] == {"$ref": SCHEMAS + "Thing"}
    assert doc["paths"]["/things"]["post"]["responses"]["422"]["$ref"].endswith(
        "/UnprocessableEntity"
    )
