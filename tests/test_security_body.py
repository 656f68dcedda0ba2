"""Bodies after credentials, and bodies that take too long, against a real uvicorn.

A caller without (or with bad) credentials is answered 401 from the headers, before
moorage reads a byte of the body: a 300 MB upload is never taken in (the server's
memory does not grow; the connection is closed on it). A body trickled in slowly is
cut off after `MOORAGE_BODY_TIMEOUT` with 408 `request-timeout`, and nothing is made.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import conftest
from tests.conftest import LiveServer
from tests.test_security import TOKENS, write_tokens

pytestmark = pytest.mark.engine

BIG = 300 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    tmp = tmp_path_factory.mktemp("body-first")
    db = tmp / "audit.sqlite3"
    env = {
        "MOORAGE_TOKENS_FILE": str(write_tokens(tmp / "tokens.toml")),
        "MOORAGE_AUDIT_DB": str(db),
        "MOORAGE_BODY_TIMEOUT": "2",
    }
    srv = LiveServer(env=env).start()
    yield srv, db
    srv.stop()


def _rss(srv: LiveServer) -> int:
    assert srv.proc is not None
    for line in Path(f"/proc/{srv.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) << 10
    raise AssertionError("no VmRSS")


def _head(srv: LiveServer, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{srv.port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response (status, headers, body) off a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def _send_big(sock: socket.socket, total: int) -> int:
    """Send up to `total` bytes of body until the server stops taking them; the count."""
    piece = b"\0" * (1 << 20)
    sent = 0
    sock.settimeout(5)
    try:
        while sent < total:
            sent += sock.send(piece[: total - sent])
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    return sent


def _audit_rows(db: Path, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The finished audit rows that match; written just after the response, so the
    first look may come too early."""
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(db) as conn:
            conn.row_factory = sqlite3.Row
            rows = [dict(r) for r in conn.execute("SELECT * FROM audit ORDER BY id")]
        found = [r for r in rows if r["status"] is not None and match(r)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


# An upload route (reads its body as a stream) and a JSON route, sent a non-JSON body
# (which FastAPI reads whole, under the 1 GiB upload limit, before any dependency).
@pytest.mark.parametrize(
    ("path", "action"),
    [("/v1/images/load", "images_load"), ("/v1/containers", "containers_create")],
    ids=["upload", "json-route"],
)
@pytest.mark.parametrize("expect", [True, False], ids=["expect-100-continue", "no-expect"])
@pytest.mark.parametrize(
    "auth",
    [None, "Bearer mrg_not-a-token-00000000000000000000000", f"Bearer {TOKENS['viewer']}"],
    ids=["no-credentials", "bad-token", "viewer-on-admin-route"],
)
def test_refused_before_the_body_is_read(
    server: tuple[LiveServer, Path], expect: bool, auth: str | None, path: str, action: str
) -> None:
    srv, db = server
    mark = uuid.uuid4().hex[:8]
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(BIG)}
    if expect:
        headers["Expect"] = "100-continue"
    if auth:
        headers["Authorization"] = auth
    rss_before = _rss(srv)
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(_head(srv, f"{path}?mark={mark}", headers))
        if expect:
            # The client waits for `100 Continue`: it gets the refusal instead.
            status, got, body = _response(sock)
            sent = 0
        else:
            sent = _send_big(sock, BIG)
            status, got, body = _response(sock)
        assert status == (403 if auth and "viewer" in auth else 401)
        assert got["content-type"] == "application/problem+json"
        assert got["connection"] == "close"
        assert json.loads(body)["code"] in ("unauthorized", "forbidden")
        sock.settimeout(5)
        assert sock.recv(1) == b""  # the server closed the connection on the body
    assert sent < BIG  # the server stopped taking the body
    assert _rss(srv) - rss_before < 50 << 20
    # The refusal is in the audit log, by who asked (nothing of the body read).
    (row,) = _audit_rows(db, lambda r: r["action"] == action and mark in r["summary"])
    assert row["outcome"] == "refused"
    assert row["status"] == status
    assert row["actor"] == ("viewer-bot" if auth and "viewer" in auth else "unauthenticated")
    assert row["reason"] == ("forbidden" if status == 403 else "unauthorized")
    assert "mrg_" not in str(row)


def test_a_trickled_json_body_is_cut_with_408(server: tuple[LiveServer, Path]) -> None:
    srv, _ = server
    name = f"mt-slow-{uuid.uuid4().hex[:6]}"
    spec = json.dumps(
        {"image": conftest.TEST_IMAGE, "name": name, "labels": conftest.test_labels()}
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(spec)),
        "Authorization": f"Bearer {TOKENS['admin']}",
    }
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(_head(srv, "/v1/containers", headers))
        sock.settimeout(0.3)
        status = None
        for byte in spec[:-1]:  # never the last byte: only the deadline ends it
            sock.sendall(bytes([byte]))
            try:
                status, got, body = _response(sock)
                break
            except TimeoutError:
                continue
        assert status == 408
        problem = json.loads(body)
        assert problem["code"] == "request-timeout"
        assert got["connection"] == "close"
    assert not conftest.exists("container", name)


def test_a_trickled_upload_is_cut_with_408(server: tuple[LiveServer, Path]) -> None:
    srv, _ = server
    headers = {
        "Content-Type": "application/x-tar",
        "Transfer-Encoding": "chunked",
        "Authorization": f"Bearer {TOKENS['admin']}",
    }
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(_head(srv, "/v1/images/load", headers))
        sock.settimeout(0.3)
        status = None
        deadline = time.monotonic() + 60
        while status is None and time.monotonic() < deadline:
            try:
                sock.sendall(b"200\r\n" + b"\0" * 512 + b"\r\n")  # one tar block at a time
                status, _, body = _response(sock)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        assert status == 408
        assert json.loads(body)["code"] == "request-timeout"


def test_authorized_large_json_content_type_still_413(server: tuple[LiveServer, Path]) -> None:
    """With credentials the size limit still applies, from the announced length."""
    srv, _ = server
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(BIG),
        "Authorization": f"Bearer {TOKENS['admin']}",
        "Expect": "100-continue",
    }
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(_head(srv, "/v1/containers", headers))
        status, _, body = _response(sock)
    assert status == 413
    assert json.loads(body)["code"] == "payload-too-large"
