"""Fuzzing: schemathesis against openapi/openapi.json, every operation.

Every schemathesis phase, over every operation of the committed spec (new routes are
picked up as they land): `examples` (the spec's own), `coverage` (boundaries and each
constraint broken in turn), `fuzzing` (generated, valid and invalid: every generation
mode), each operation on its own; and `stateful` (sequences that follow the links
schemathesis infers between operations: create, then read, change, delete what was
made). Against:

- engine present: a real uvicorn against the PRIVATE engine (whatever the fuzzer
  manages to create, prune or delete there never touches the shared engine; the
  private engine is cleared afterwards). No 500, no 502 but `registry-unreachable`
  (no registry can be reached from here), every response as documented.
- engine away: a real uvicorn whose engine socket does not exist. Only 503 and 504
  among the 5xx, every response as documented. (Per operation; a stateful run needs
  something to be made first. No coverage phase: its cases are answered by validation,
  before any engine call, the same with the engine present, where they run.)

Excluded, by name: nothing. Every operation runs in every phase (with the engine
present); destructive ones (prune, delete) are safe because the engine is private.

Checked: the status codes (5xx by hand, the rest as documented), content types,
response bodies and headers against the spec. Not checked: whether every schema-valid
input is accepted (a 422 for a semantic rule the schema cannot say is fine) nor the
answers to methods a path does not declare.

Bounded: MOORAGE_FUZZ_EXAMPLES generated examples per operation (default 6; the
examples and coverage phases add their own, a few dozen at most per operation), and
MOORAGE_FUZZ_STATEFUL runs of at most 10 steps each (default 15); derandomized (the
same inputs every run), no example database on disk.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response

from tests.conftest import ROOT, LiveServer
from tests.engine_harness import shared_private_engine

pytestmark = [pytest.mark.engine, pytest.mark.slow]

# Tar bodies (archives, build contexts) are generated as the binary they are documented
# as; they will rarely be valid tars, which is the point.
schemathesis.serializer.alias("application/x-tar", "application/octet-stream")

# 6 an operation keeps the whole module near four minutes over ~65 operations (the
# engine takes seconds on some inputs, e.g. looking for a volume plugin that does not
# exist); raise them for a deeper run.
EXAMPLES = int(os.environ.get("MOORAGE_FUZZ_EXAMPLES", "6"))
STATEFUL_RUNS = int(os.environ.get("MOORAGE_FUZZ_STATEFUL", "15"))
STATEFUL_STEPS = 10
PHASES = ["examples", "coverage", "fuzzing", "stateful"]
CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {
            **{phase: {"enabled": True} for phase in PHASES},
            "stateful": {"enabled": True, "max-steps": STATEFUL_STEPS},
        },
        "generation": {"mode": "all"},
    }
)
SCHEMA = schemathesis.openapi.from_path(ROOT / "openapi" / "openapi.json", config=CONFIG)
# With the engine away, the same but the coverage phase: its cases (boundaries, each
# constraint broken in turn) are answered by validation, before any engine call, as
# with the engine present; and schemathesis builds them while collecting (~45 s a test
# function on this machine).
SCHEMA_AWAY = schemathesis.openapi.from_path(
    ROOT / "openapi" / "openapi.json",
    config=SchemathesisConfig.from_dict(
        {
            "phases": {
                **{phase: {"enabled": phase != "coverage"} for phase in PHASES},
                "stateful": {"enabled": False},
            },
            "generation": {"mode": "all"},
        }
    ),
)
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


class Target:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()
        self.server.stop()


@pytest.fixture(scope="module")
def with_engine(request: pytest.FixtureRequest) -> Iterator[Target]:
    engine = shared_private_engine(request.config)
    engine.ensure_running()
    # A short read timeout: some inputs keep the engine busy for seconds (looking for a
    # volume or network plugin that does not exist); those answer 504 sooner.
    target = Target(
        LiveServer(env={"MOORAGE_DOCKER_HOST": engine.url, "MOORAGE_ENGINE_TIMEOUT": "3"}).start(
            wait_ready=True
        )
    )
    try:
        yield target
    finally:
        target.close()
        engine.clear()
        engine.start()  # reloads the test image, should the fuzzer have deleted it


@pytest.fixture(scope="module")
def engine_away() -> Iterator[Target]:
    nowhere = f"unix:///tmp/moorage-fuzz-{os.getpid()}-nowhere/docker.sock"
    target = Target(LiveServer(env={"MOORAGE_DOCKER_HOST": nowhere}).start())
    try:
        yield target
    finally:
        target.close()


def send(case: Any, target: Target) -> tuple[Any, bool]:
    """One call, and whether it answered a stream. A stream (text/event-stream) is
    checked at its headers and closed, its body left empty: it would never end
    otherwise. Any other body is read whole."""
    kwargs = case.as_transport_kwargs(base_url=target.server.url)
    response = target.session.request(**kwargs, timeout=60, stream=True)
    stream = response.headers.get("content-type", "").startswith("text/event-stream")
    if stream:
        response._content = b""
        response.close()
        assert response.status_code == 200, describe(case, response)
    else:
        _ = response.content
        response.close()
    return response, stream


def call(case: Any, target: Target) -> Any:
    response, stream = send(case, target)
    return None if stream else response


def describe(case: Any, response: Any) -> str:
    return f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:500]}"


# With the engine present, the only 5xx allowed: the documented 504 (`wait`/`run`/`stop`
# outliving the timeout the fuzzer gave, or an engine slower than the read timeout),
# and 502 `registry-unreachable`: no registry can be reached from here.
def allowed_with_engine(response: Any) -> bool:
    if response.status_code < 500 or response.status_code == 504:
        return True
    return response.status_code == 502 and problem_code(response) == "registry-unreachable"


def problem_code(response: Any) -> str | None:
    try:
        code = response.json().get("code")
    except ValueError:
        return None
    return str(code) if code is not None else None


@SCHEMA.parametrize()
@FUZZ_SETTINGS
def test_fuzz_with_engine(case: Any, with_engine: Target) -> None:
    response = call(case, with_engine)
    if response is None:
        return
    assert allowed_with_engine(response), describe(case, response)
    case.validate_response(response, checks=CHECKS)


@SCHEMA_AWAY.parametrize()
@FUZZ_SETTINGS
def test_fuzz_engine_away(case: Any, engine_away: Target) -> None:
    response = call(case, engine_away)
    if response is None:
        return
    assert response.status_code < 500 or response.status_code in (503, 504), describe(
        case, response
    )
    if response.status_code == 503 and response.json().get("code") in (
        "engine-unavailable",
        "host-unavailable",
    ):
        assert "retry-after" in {k.lower() for k in response.headers}
    case.validate_response(response, checks=CHECKS)


def test_fuzz_stateful(with_engine: Target) -> None:
    """Sequences of calls along the links between operations (what one answers, the
    next one takes: a container created, then started, read, exec'd into, removed)."""
    made: list[str] = []
    problems: list[str] = []

    class Workflow(SCHEMA.as_state_machine()):  # type: ignore[misc]
        def call(self, case: Any, **kwargs: Any) -> Response:
            made.append(case.operation.label)
            response, _ = send(case, with_engine)
            return Response.from_requests(response, verify=False)

        def validate_response(self, response: Response, case: Any, **kwargs: Any) -> None:
            where = f"{case.method} {case.formatted_path} → {response.status_code}: "
            body = response.content[:500].decode("utf-8", "replace")
            unreachable = b'"code":"registry-unreachable"' in response.content.replace(b" ", b"")
            ok = response.status_code < 500 or response.status_code == 504
            if not (ok or (response.status_code == 502 and unreachable)):
                problems.append(where + body)
                raise AssertionError(where + body)
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:
                problems.append(where + str(exc)[:500])
                raise

    # A live engine answers differently when Hypothesis replays a sequence (a list that
    # was empty is not, a container is gone), so a replay can diverge (Flaky): as
    # schemathesis's own runner does, that is not a failure. What the checks found
    # before it is, below.
    with contextlib.suppress(hypothesis.errors.Flaky):
        Workflow.run(
            settings=settings(
                FUZZ_SETTINGS, max_examples=STATEFUL_RUNS, stateful_step_count=STATEFUL_STEPS
            )
        )
    assert not problems, problems
    # It did walk: many calls, and more than the first operation of each run.
    assert len(made) > STATEFUL_RUNS, made
    assert len(set(made)) > 5, sorted(set(made))
