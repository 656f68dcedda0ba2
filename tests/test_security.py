"""Tokens, roles, tickets, sessions, loopback-only mode, headers, CORS, the CLI."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from app import cli
from app.redaction import redact, redact_query
from app.security import (
    CSRF_HEADER,
    SESSION_COOKIE,
    Security,
    hash_token,
    load_tokens,
)
from app.settings import Settings
from tests.conftest import in_process

TOKENS = {
    "viewer": "mrg_viewer-Secret-0000000000000000000000001",
    "operator": "mrg_operator-Secret-00000000000000000000002",
    "admin": "mrg_admin-Secret-000000000000000000000000003",
}
EXPIRED = "mrg_expired-Secret-0000000000000000000000004"


def write_tokens(path: Path) -> Path:
    blocks = [
        f'[[tokens]]\nname = "{role}-bot"\nrole = "{role}"\nsha256 = "{hash_token(tok)}"\n'
        for role, tok in TOKENS.items()
    ]
    blocks.append(
        f'[[tokens]]\nname = "old-bot"\nrole = "admin"\nsha256 = "{hash_token(EXPIRED)}"\n'
        'expires = "2020-01-01T00:00:00Z"\n'
    )
    path.write_text("\n".join(blocks))
    return path


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def add_test_routes(app: FastAPI) -> None:
    """A stream route (named like a real one, so it takes the viewer role) for tickets."""

    async def health_stream(id: str) -> PlainTextResponse:
        return PlainTextResponse(f"stream {id}", media_type="text/event-stream")

    app.add_api_route(
        "/v1/_test/{id}/stream",
        health_stream,
        methods=["GET"],
        name="health_stream",
        include_in_schema=False,  # the real health_stream owns the operation id
    )

    async def containers_logs_stream(id: str) -> PlainTextResponse:
        return PlainTextResponse(f"logs {id}", media_type="text/event-stream")

    app.add_api_route(
        "/v1/_test/{id}/admin-stream",
        containers_logs_stream,
        methods=["GET"],
        name="zz_unclassified_stream",
        include_in_schema=False,
    )


@asynccontextmanager
async def app_client(
    settings: Settings,
    client: tuple[str, int] = ("127.0.0.1", 5555),
    setup: Callable[[FastAPI], None] | None = None,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app in process, asked from `client` (httpx's default 5 s timeout)."""
    async with in_process(settings, peer=client, client_timeout=5, setup=setup) as pair:
        yield pair


@pytest.fixture(scope="module")
def tokens_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tokens(tmp_path_factory.mktemp("tokens") / "tokens.toml")


@pytest.fixture(scope="module")
def secure_settings(tokens_file: Path) -> Settings:
    return Settings(tokens_file=tokens_file, audit_db=":memory:")


@pytest.fixture(scope="module")
async def secure(secure_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with app_client(secure_settings, setup=add_test_routes) as pair:
        yield pair


@pytest.fixture
def sclient(secure: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return secure[1]


# -- tokens ----------------------------------------------------------------------------


async def test_no_token_is_401_with_www_authenticate(sclient: httpx.AsyncClient) -> None:
    r = await sclient.get("/v1/system/ping")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "unauthorized"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer mrg_nope",
        f"Bearer {EXPIRED}",
        f"Basic {TOKENS['admin']}",
        "Bearer ",
        f"Bearer {TOKENS['admin']}x",
        f"Bearer {TOKENS['admin'].upper()}",
    ],
    ids=["unknown", "expired", "basic", "empty", "suffix", "case"],
)
async def test_bad_tokens_are_401(sclient: httpx.AsyncClient, header: str) -> None:
    r = await sclient.get("/v1/auth/whatever-not-a-route-is-404-anyway")
    assert r.status_code == 404
    r = await sclient.post("/v1/auth/tickets", headers={"Authorization": header}, json={})
    assert r.status_code == 401
    assert TOKENS["admin"] not in r.text
    assert EXPIRED not in r.text


async def test_valid_token_passes(sclient: httpx.AsyncClient) -> None:
    r = await sclient.post("/v1/auth/tickets", headers=bearer("viewer"), json={})
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "viewer"


async def test_public_probes(sclient: httpx.AsyncClient) -> None:
    assert (await sclient.get("/healthz")).status_code == 200
    assert (await sclient.get("/openapi.json")).status_code == 200


def test_tokens_file_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text('[[tokens]]\nname = "x"\nrole = "root"\nsha256 = "00"\n')
    with pytest.raises(ValueError, match="role"):
        load_tokens(bad)
    dup = tmp_path / "d.toml"
    line = f'[[tokens]]\nname = "x"\nrole = "viewer"\nsha256 = "{"a" * 64}"\n'
    dup.write_text(line + line)
    with pytest.raises(ValueError, match="unique"):
        load_tokens(dup)


def test_check_token_compares_every_entry(secure_settings: Settings) -> None:
    security = Security(secure_settings)
    identity = security.check_token(TOKENS["operator"])
    assert identity is not None
    assert (identity.name, identity.role.name) == ("operator-bot", "operator")
    assert security.check_token(EXPIRED) is None
    assert security.check_token("") is None


# -- no tokens: loopback only ------------------------------------------------------------


async def test_no_tokens_serves_loopback_only() -> None:
    settings = Settings(audit_db=":memory:")
    async with app_client(settings, client=("127.0.0.1", 1)) as (_, c):
        assert (await c.get("/v1/auth/whoami-404")).status_code == 404
        r = await c.post("/v1/auth/tickets", json={})
        assert r.status_code == 201
        assert r.json()["role"] == "admin"
    async with app_client(settings, client=("::1", 1)) as (_, c):
        assert (await c.post("/v1/auth/tickets", json={})).status_code == 201
    async with app_client(settings, client=("10.1.2.3", 1)) as (_, c):
        r = await c.post("/v1/auth/tickets", json={})
        assert r.status_code == 403
        assert "loopback" in r.json()["detail"]
        assert (await c.get("/healthz")).status_code == 200


async def test_insecure_no_auth_serves_anyone() -> None:
    settings = Settings(audit_db=":memory:", insecure_no_auth=True)
    async with app_client(settings, client=("10.1.2.3", 1)) as (_, c):
        assert (await c.post("/v1/auth/tickets", json={})).status_code == 201


async def test_no_tokens_warns_at_start(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="moorage"):
        async with app_client(Settings(audit_db=":memory:")):
            pass
    assert "loopback" in caplog.text


# -- tickets ---------------------------------------------------------------------------


async def _ticket(c: httpx.AsyncClient, role: str = "viewer", **body: Any) -> str:
    r = await c.post("/v1/auth/tickets", headers=bearer(role), json=body)
    assert r.status_code == 201, r.text
    ticket: str = r.json()["ticket"]
    return ticket


async def test_ticket_opens_one_stream_once(sclient: httpx.AsyncClient) -> None:
    ticket = await _ticket(sclient)
    r = await sclient.get(f"/v1/_test/a/stream?ticket={ticket}")
    assert r.status_code == 200
    assert r.text == "stream a"
    r = await sclient.get(f"/v1/_test/a/stream?ticket={ticket}")
    assert r.status_code == 401
    assert ticket not in r.text


async def test_forged_ticket(sclient: httpx.AsyncClient) -> None:
    ticket = await _ticket(sclient)
    for forged in ("tkt_forged", ticket[:-1] + ("A" if ticket[-1] != "A" else "B"), ""):
        r = await sclient.get("/v1/_test/a/stream", params={"ticket": forged})
        assert r.status_code == 401


async def test_expired_ticket(
    secure: tuple[FastAPI, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    _app, c = secure
    ticket = await _ticket(c)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    r = await c.get(f"/v1/_test/a/stream?ticket={ticket}")
    assert r.status_code == 401


async def test_ticket_path_scope(sclient: httpx.AsyncClient) -> None:
    ticket = await _ticket(sclient, path="/v1/_test/a")
    assert (await sclient.get(f"/v1/_test/ab/stream?ticket={ticket}")).status_code == 401
    ticket = await _ticket(sclient, path="/v1/_test/a")
    assert (await sclient.get(f"/v1/_test/b/stream?ticket={ticket}")).status_code == 401
    ticket = await _ticket(sclient, path="/v1/_test/a/")
    assert (await sclient.get(f"/v1/_test/a/stream?ticket={ticket}")).status_code == 200


@pytest.mark.parametrize("path", ["/v1/_test/a/../b", "/etc", "v1/x", "/v1//x"])
async def test_ticket_path_must_be_clean(sclient: httpx.AsyncClient, path: str) -> None:
    r = await sclient.post("/v1/auth/tickets", headers=bearer("viewer"), json={"path": path})
    assert r.status_code == 422


async def test_ticket_is_for_streams_only(sclient: httpx.AsyncClient) -> None:
    ticket = await _ticket(sclient, role="admin")
    r = await sclient.get(f"/v1/system/ping?ticket={ticket}")
    assert r.status_code == 401
    ticket = await _ticket(sclient, role="admin")
    r = await sclient.post(f"/v1/auth/tickets?ticket={ticket}", json={})
    assert r.status_code == 401


async def test_ticket_carries_the_role(sclient: httpx.AsyncClient) -> None:
    ticket = await _ticket(sclient, role="viewer")
    r = await sclient.get(f"/v1/_test/a/admin-stream?ticket={ticket}")
    assert r.status_code == 403
    ticket = await _ticket(sclient, role="admin")
    r = await sclient.get(f"/v1/_test/a/admin-stream?ticket={ticket}")
    assert r.status_code == 200


# -- sessions --------------------------------------------------------------------------


async def test_session_cookie_and_csrf(secure_settings: Settings) -> None:
    async with app_client(secure_settings, setup=add_test_routes) as (_, c):
        r = await c.post("/v1/auth/session", headers=bearer("operator"))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["role"] == "operator"
        cookie = r.headers["set-cookie"]
        assert f"{SESSION_COOKIE}=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert r.headers["cache-control"] == "no-store"
        assert TOKENS["operator"] not in r.text
        # reads and streams with the cookie alone
        assert (await c.get("/v1/_test/a/stream")).status_code == 200
        # a change with the cookie needs the CSRF header
        r = await c.post("/v1/auth/tickets", json={})
        assert r.status_code == 403
        assert CSRF_HEADER in r.json()["detail"]
        r = await c.post("/v1/auth/tickets", json={}, headers={CSRF_HEADER: "wrong"})
        assert r.status_code == 403
        r = await c.post("/v1/auth/tickets", json={}, headers={CSRF_HEADER: body["csrf_token"]})
        assert r.status_code == 201
        assert r.json()["role"] == "operator"
        # a session cannot open another session
        r = await c.post("/v1/auth/session", headers={CSRF_HEADER: body["csrf_token"]})
        assert r.status_code == 403
        # close it: the cookie no longer works
        old = c.cookies.get(SESSION_COOKIE)
        r = await c.delete("/v1/auth/session", headers={CSRF_HEADER: body["csrf_token"]})
        assert r.status_code == 204
        c.cookies.set(SESSION_COOKIE, old or "")
        assert (await c.get("/v1/_test/a/stream")).status_code == 401


async def test_forged_session_cookie(secure_settings: Settings) -> None:
    async with app_client(secure_settings, setup=add_test_routes) as (_, c):
        c.cookies.set(SESSION_COOKIE, "forged")
        assert (await c.get("/v1/_test/a/stream")).status_code == 401


# -- headers, CORS ---------------------------------------------------------------------


async def test_security_headers(sclient: httpx.AsyncClient) -> None:
    for r in (await sclient.get("/healthz"), await sclient.get("/v1/system/ping")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in r.headers["content-security-policy"]
    docs = await sclient.get("/docs")
    assert "content-security-policy" not in docs.headers


async def test_cors(tokens_file: Path) -> None:
    settings = Settings(
        tokens_file=tokens_file, audit_db=":memory:", cors_origins=["https://ui.example"]
    )
    async with app_client(settings) as (_, c):
        pre = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,x-csrf-token",
        }
        r = await c.options("/v1/auth/tickets", headers={"Origin": "https://ui.example", **pre})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://ui.example"
        assert r.headers["access-control-allow-credentials"] == "true"
        r = await c.options("/v1/auth/tickets", headers={"Origin": "https://evil.example", **pre})
        assert "access-control-allow-origin" not in r.headers
    async with app_client(Settings(tokens_file=tokens_file, audit_db=":memory:")) as (_, c):
        r = await c.get("/healthz", headers={"Origin": "https://ui.example"})
        assert "access-control-allow-origin" not in r.headers


# -- redaction -------------------------------------------------------------------------


def test_redact() -> None:
    doc = {
        "image": "app",
        "auth": {"username": "u", "password": "p4ss"},
        "environment": ["DB_PASSWORD=hunter2", "MODE=x"],
        "nested": [{"identitytoken": "tok"}, {"api_key": "k"}],
        "Env": {"SECRET_KEY": "s"},
    }
    out = redact(doc)
    text = str(out)
    for secret in ("p4ss", "hunter2", "tok'", "'k'", "'s'"):
        assert secret not in text
    assert out["image"] == "app"
    assert "MODE=x" in out["environment"]


def test_redact_by_value_keeps_what_is_not_a_secret() -> None:
    kept = [
        "https://example.com:8080/path?q=1",
        "registry.local:5000/app@sha256:" + "a" * 64,
        "user@example.com",
        "MODE=prod",
        "eyJ-not-a-jwt",
        "ghp_short",
    ]
    assert redact(kept) == kept
    # Ports and `-p` outside a command are not flags.
    assert redact({"ports": {"80": 8080}, "name": "-p"}) == {"ports": {"80": 8080}, "name": "-p"}
    assert redact({"command": "nc -l -p 8080"}) == {"command": "nc -l -p ***"}  # over-careful
    assert redact({"entrypoint": ["app", "--api-key", "k1", "--db-password=k2", "--verbose"]}) == {
        "entrypoint": ["app", "--api-key", "***", "--db-password=***", "--verbose"]
    }
    assert redact("ssh://git:pw@host/r") == "ssh://git:***@host/r"
    assert redact("https://tok3n@host/r") == "https://***@host/r"


def test_redact_query() -> None:
    line = '127.0.0.1:1 - "GET /v1/events?ticket=tkt_abc&type=container HTTP/1.1" 200'
    assert "tkt_abc" not in redact_query(line)
    assert "type=container" in redact_query(line)
    assert "tkt_x" not in redact_query("/x?a=1&TICKET=tkt_x")
    line = '"POST /v1/images/build?remote=https://u:pw-9@git.example/r HTTP/1.1" 200'
    assert "pw-9" not in redact_query(line)


# -- CLI -------------------------------------------------------------------------------


def test_cli_token_create(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert (
        cli.main(
            [
                "token",
                "create",
                "--name",
                "ci-bot",
                "--role",
                "operator",
                "--expires",
                "2027-06-30T00:00:00Z",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    token = out.split("token (shown once, keep it secret): ", 1)[1].split()[0]
    block = out[out.index("[[tokens]]") :]
    path = tmp_path / "tokens.toml"
    path.write_text(block)
    (entry,) = load_tokens(path)
    assert entry.name == "ci-bot"
    assert entry.role == "operator"
    assert entry.expires is not None
    assert entry.expires.year == 2027
    identity = Security(Settings(tokens_file=path)).check_token(token)
    assert identity is not None
    assert identity.name == "ci-bot"
    assert cli.main(["token", "create", "--name", "x", "--role", "viewer"]) == 0
    assert "expires" not in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["token", "create", "--name", "x", "--role", "root"])


def test_cli_refuses_public_host_without_tokens(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    started: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(k))
    from app.settings import get_settings

    # cli.main writes MOORAGE_* into os.environ: make monkeypatch restore them.
    for var in ("MOORAGE_TOKENS_FILE", "MOORAGE_INSECURE_NO_AUTH", "MOORAGE_HOST"):
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    monkeypatch.setattr(get_settings, "cache_clear", get_settings.cache_clear)
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 2
    assert "refusing" in capsys.readouterr().err
    assert started == []
    assert cli.main(["serve", "--host", "127.0.0.1"]) == 0
    assert "loopback clients only" in capsys.readouterr().err
    assert cli.main(["serve", "--host", "0.0.0.0", "--insecure-no-auth"]) == 0
    assert len(started) == 2
    get_settings.cache_clear()


async def test_tickets_and_sessions_are_shared_by_workers(
    tokens_file: Path, tmp_path: Path
) -> None:
    """Two worker processes share the audit database, and so tickets and sessions."""
    settings = Settings(tokens_file=tokens_file, audit_db=str(tmp_path / "shared.sqlite3"))
    async with (
        app_client(settings, setup=add_test_routes) as (_, one),
        app_client(settings, setup=add_test_routes) as (_, two),
    ):
        ticket = await _ticket(one)
        assert (await two.get(f"/v1/_test/a/stream?ticket={ticket}")).status_code == 200
        assert (await one.get(f"/v1/_test/a/stream?ticket={ticket}")).status_code == 401
        r = await one.post("/v1/auth/session", headers=bearer("viewer"))
        two.cookies.set(SESSION_COOKIE, r.cookies[SESSION_COOKIE])
        assert (await two.get("/v1/_test/a/stream")).status_code == 200


@pytest.mark.parametrize(
    ("headers", "base", "status"),
    [
        ({"Origin": "http://evil.example"}, "http://127.0.0.1:8000", 403),
        ({"Origin": "null"}, "http://127.0.0.1:8000", 403),
        ({"Sec-Fetch-Site": "same-origin"}, "http://rebound.evil.example:8000", 403),
        ({"Origin": "http://rebound.evil.example:8000"}, "http://rebound.evil.example:8000", 403),
        ({"Origin": "http://localhost:8000"}, "http://localhost:8000", 201),
        ({"Sec-Fetch-Site": "same-origin"}, "http://127.0.0.1:8000", 201),
        ({}, "http://anything.example", 201),  # not a browser
    ],
    ids=[
        "cross-site",
        "null-origin",
        "dns-rebinding",
        "rebinding-with-origin",
        "local-page",
        "local-fetch",
        "script",
    ],
)
async def test_loopback_mode_refuses_foreign_browser_pages(
    headers: dict[str, str], base: str, status: int
) -> None:
    async with app_client(Settings(audit_db=":memory:")) as (_, c):
        r = await c.post(base + "/v1/auth/tickets", json={}, headers=headers)
        assert r.status_code == status, r.text


def test_redaction_is_linear_in_what_the_caller_sends() -> None:
    """Strings shaped to make a backtracking pattern take quadratic time: each must be a
    scan (this test would hang otherwise; a 64 KiB body once held a request a minute)."""
    for text in (
        "a" * 1_000_000,
        "a:" * 300_000,
        "a." * 300_000,
        "x://" + "a" * 500_000,
        "--a-" * 200_000,
        "-----BEGIN " + "A " * 300_000,
        "eyJ" + "a" * 500_000,
        "K=" + "a" * 500_000,
    ):
        assert len(redact({"command": [text, text], "v": text})["v"]) >= 3
