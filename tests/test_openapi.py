from __future__ import annotations

import json

from app.openapi import DEFAULT_PATH, render


def test_committed_spec_matches_the_app() -> None:
    committed = DEFAULT_PATH.read_text()
    assert json.loads(committed) == json.loads(render()), (
        "openapi/openapi.json is stale: run `python -m app.openapi` and commit it"
    )


def test_operation_ids_are_resource_action() -> None:
    spec = json.loads(render())
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    for op_id in ids:
        assert op_id.islower(), op_id
        assert " " not in op_id, op_id
