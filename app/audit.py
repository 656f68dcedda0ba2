"""The audit log: every change, who made it, on what, and how it ended.

A change (any non-GET route) is written twice: its *intent* before the route runs
(in the `authorize` dependency, app/security.py) and its *outcome* (status) when the
response is done (`AuditMiddleware`). With `audit_fail_closed` (the default) a failed
intent write refuses the change with 503 `audit-unavailable` before the engine is
asked anything.

Refused changes are written too, with `outcome = "refused"`: no or bad credentials
(401, actor `unauthenticated`), a too-low role or a CSRF failure (403, `reason`
`forbidden` / `csrf`), a policy violation (403, `reason` `policy-violation` and the
policy `rule`). A WebSocket handshake (a terminal) that is denied is written the same
way, whatever its cause (`origin` for a page of another origin, a used ticket, the
role, the policy on an attach, a terminal that has ended); an accepted one writes its
own session row (app/services/terminals.py). Every finished row has an outcome: `ok`
(< 400), `refused`, or `failed` (any other problem; `reason` is its code). Summaries
never hold a secret (app/redaction.py: by key, by value, by command flag).

Storage: SQLite (stdlib `sqlite3`, in a worker thread), WAL mode, so several worker
processes of one host can share one file; or PostgreSQL (`MOORAGE_AUDIT_DB=
postgresql://…`, asyncpg) for several replicas. The store owns the process's one
connection (SQLite) or pool (PostgreSQL) to that database: alerting's tables live in
it too and go through `call` / `pool` (app/alerts/store.py), never a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
from fastapi import Request
from fastapi.requests import HTTPConnection
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import errors

if TYPE_CHECKING:
    from app.security import Identity

log = logging.getLogger("moorage.audit")

T = TypeVar("T")

Outcome = Literal["ok", "refused", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "refused", "failed")
UNAUTHENTICATED = "unauthenticated"  # the actor of a request refused for its credentials

SUMMARY_MAX = 4000
# Body fields that are secrets whatever their names or shapes (by path).
SECRET_BODY_FIELDS: dict[str, tuple[str, ...]] = {"/v1/secrets": ("data",)}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuditUnavailable(errors.ProblemError):
    status, code, title = 503, "audit-unavailable", "The audit log cannot be written"


class AuditEntry(BaseModel):
    """One row of the audit log."""

    id: int
    time: str
    actor: str
    role: str
    action: str
    target: str
    method: str
    path: str
    summary: dict[str, Any]
    status: int | None
    source: str | None
    outcome: Outcome | None = Field(
        default=None, description="ok, refused (401/403: credentials, role, CSRF, policy), failed"
    )
    reason: str | None = Field(default=None, description="The problem's code (or `csrf`)")
    rule: str | None = Field(default=None, description="The policy rule that refused it")
    host: str | None = Field(
        default=None, description="The host (engine) it was made on; several: comma-separated"
    )


@dataclass
class Record:
    actor: str
    role: str
    action: str
    target: str
    method: str
    path: str
    summary: dict[str, Any]
    source: str | None
    ts: float = field(default_factory=time.time)
    status: int | None = None
    id: int | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    rule: str | None = None
    host: str | None = None

    def judge(self, status: int, problem: errors.ProblemError | None) -> None:
        """The outcome of a finished request, from its status and its problem."""
        self.status = status
        if status < 400:
            self.outcome, self.reason, self.rule = "ok", None, None
            return
        self.reason = (problem.audit_reason or problem.code) if problem else None
        rule = problem.extra.get("rule") if problem else None
        self.rule = str(rule) if rule is not None else None
        refused = status == 401 or (
            status == 403
            and (problem is None or isinstance(problem, errors.Forbidden))
            and not isinstance(problem, errors.RegistryDenied)  # the registry said no
        )
        self.outcome = "refused" if refused else "failed"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    ts      REAL    NOT NULL,
    actor   TEXT    NOT NULL,
    role    TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    method  TEXT    NOT NULL,
    path    TEXT    NOT NULL,
    summary TEXT    NOT NULL,
    status  INTEGER,
    source  TEXT,
    outcome TEXT,
    reason  TEXT,
    rule    TEXT,
    host    TEXT
);
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts);
CREATE INDEX IF NOT EXISTS audit_actor ON audit (actor, ts);
CREATE TABLE IF NOT EXISTS auth_state (
    key     TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS hosts (
    name    TEXT PRIMARY KEY,
    spec    TEXT NOT NULL,
    created REAL NOT NULL
);
-- One row: counts every change of `hosts`, polled by each worker (app/hosts.py).
CREATE TABLE IF NOT EXISTS hosts_revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
"""


_NEW_COLUMNS = ("outcome", "reason", "rule", "host")
_COLUMNS = "id, ts, actor, role, action, target, method, path, summary, status, source, outcome,"
_COLUMNS += " reason, rule, host"


class AuditStore:
    """The SQLite audit store; every call runs in a thread, one connection, one lock."""

    kind = "sqlite"

    def __init__(self, path: str, busy_timeout: float = 5.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        db = sqlite3.connect(
            self.path, timeout=self.busy_timeout, check_same_thread=False, isolation_level=None
        )
        if self.path != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        # Logs made before outcomes were recorded (SQLite has no ADD COLUMN IF NOT EXISTS).
        have = {row[1] for row in db.execute("PRAGMA table_info(audit)")}
        for column in _NEW_COLUMNS:
            if column not in have:
                db.execute(f"ALTER TABLE audit ADD COLUMN {column} TEXT")
        db.execute("CREATE INDEX IF NOT EXISTS audit_outcome ON audit (outcome, id)")
        self._db = db

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        # Under the lock the writes take: a write in flight at shutdown finishes first
        # (closing under a running statement crashed the interpreter); any later call
        # finds the store closed ("not open").
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                db.close()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.OperationalError("the audit store is not open")
        return self._db

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn(connection)` in a worker thread, alone on the connection: how the other
        tables of this database (alerting's) share it."""

        def run() -> T:
            with self._lock:
                return fn(self._conn())

        return await asyncio.to_thread(run)

    async def add(self, rec: Record) -> int:
        summary = json.dumps(rec.summary, default=str)
        row = (
            rec.ts,
            rec.actor,
            rec.role,
            rec.action,
            rec.target,
            rec.method,
            rec.path,
            summary,
            rec.status,
            rec.source,
            rec.outcome,
            rec.reason,
            rec.rule,
            rec.host,
        )

        def write() -> int:
            with self._lock:
                cur = self._conn().execute(
                    "INSERT INTO audit (ts, actor, role, action, target, method, path, summary,"
                    " status, source, outcome, reason, rule, host)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                return int(cur.lastrowid or 0)

        return await asyncio.to_thread(write)

    async def finish(self, rec: Record, summary: dict[str, Any] | None = None) -> None:
        """The outcome; `summary` (a terminal session's end) replaces the row's summary."""
        text = None if summary is None else json.dumps(summary, default=str)
        args = (rec.status, rec.outcome, rec.reason, rec.rule, text, rec.id)

        def write() -> None:
            with self._lock:
                self._conn().execute(
                    "UPDATE audit SET status = ?, outcome = ?, reason = ?, rule = ?,"
                    " summary = COALESCE(?, summary) WHERE id = ?",
                    args,
                )

        await asyncio.to_thread(write)

    async def query(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: float | None = None,
        until: float | None = None,
        before: int | None = None,
        outcome: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        where, args = _filters(lambda n: "?", actor, action, target, since, until, before, outcome)
        sql = f"SELECT {_COLUMNS} FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)

        def read() -> list[tuple[Any, ...]]:
            with self._lock:
                return list(self._conn().execute(sql, args))

        rows = await asyncio.to_thread(read)
        return [_entry(r) for r in rows]

    # -- tickets and sessions (app/security.py) -------------------------------------

    async def state_put(self, key: str, payload: dict[str, Any], expires: float) -> None:
        text = json.dumps(payload)

        def write() -> None:
            with self._lock:
                db = self._conn()
                db.execute("DELETE FROM auth_state WHERE expires < ?", (time.time(),))
                db.execute(
                    "INSERT OR REPLACE INTO auth_state (key, payload, expires) VALUES (?, ?, ?)",
                    (key, text, expires),
                )

        await asyncio.to_thread(write)

    async def state_get(self, key: str) -> dict[str, Any] | None:
        def read() -> tuple[Any, ...] | None:
            with self._lock:
                row: tuple[Any, ...] | None = (
                    self._conn()
                    .execute("SELECT payload, expires FROM auth_state WHERE key = ?", (key,))
                    .fetchone()
                )
                return row

        return _state(await asyncio.to_thread(read))

    async def state_take(self, key: str) -> dict[str, Any] | None:
        """Read and delete at once: a second taker finds nothing."""

        def take() -> tuple[Any, ...] | None:
            with self._lock:
                row: tuple[Any, ...] | None = (
                    self._conn()
                    .execute(
                        "DELETE FROM auth_state WHERE key = ? RETURNING payload, expires", (key,)
                    )
                    .fetchone()
                )
                return row

        return _state(await asyncio.to_thread(take))

    async def state_delete(self, key: str) -> None:
        def write() -> None:
            with self._lock:
                self._conn().execute("DELETE FROM auth_state WHERE key = ?", (key,))

        await asyncio.to_thread(write)

    # -- hosts added through the API (app/hosts.py) ---------------------------------

    async def hosts_load(self) -> list[dict[str, Any]]:
        def read() -> list[tuple[Any, ...]]:
            with self._lock:
                return list(self._conn().execute("SELECT spec FROM hosts ORDER BY created"))

        return [json.loads(r[0]) for r in await asyncio.to_thread(read)]

    async def host_put(self, name: str, spec: dict[str, Any]) -> None:
        row = (name, json.dumps(spec), time.time())

        def write() -> None:
            with self._lock:
                db = self._conn()
                with _transaction(db):
                    db.execute(
                        "INSERT INTO hosts (name, spec, created) VALUES (?, ?, ?)"
                        " ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
                        row,
                    )
                    db.execute(_SQLITE_BUMP)

        await asyncio.to_thread(write)

    async def host_delete(self, name: str) -> None:
        def write() -> None:
            with self._lock:
                db = self._conn()
                with _transaction(db):
                    db.execute("DELETE FROM hosts WHERE name = ?", (name,))
                    db.execute(_SQLITE_BUMP)

        await asyncio.to_thread(write)

    async def hosts_revision(self) -> int:
        """The count of changes of the hosts table (0: none yet): one row's read."""

        def read() -> int:
            with self._lock:
                row = self._conn().execute("SELECT n FROM hosts_revision").fetchone()
                return int(row[0]) if row else 0

        return await asyncio.to_thread(read)


_SQLITE_BUMP = (
    "INSERT INTO hosts_revision (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1"
)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """A change and its revision in one SQLite transaction (the connection autocommits)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _state(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    doc: dict[str, Any] = json.loads(row[0])
    doc["expires"] = float(row[1])
    return doc


def _filters(
    placeholder: Any,
    actor: str | None,
    action: str | None,
    target: str | None,
    since: float | None,
    until: float | None,
    before: int | None,
    outcome: str | None = None,
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    for clause, value in (
        ("actor = {}", actor),
        ("action = {}", action),
        ("target = {}", target),
        ("ts >= {}", since),
        ("ts <= {}", until),
        ("id < {}", before),
        ("outcome = {}", outcome),
    ):
        if value is not None:
            args.append(value)
            where.append(clause.format(placeholder(len(args))))
    return where, args


_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS moorage_audit (
    id      BIGSERIAL PRIMARY KEY,
    ts      DOUBLE PRECISION NOT NULL,
    actor   TEXT    NOT NULL,
    role    TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    method  TEXT    NOT NULL,
    path    TEXT    NOT NULL,
    summary TEXT    NOT NULL,
    status  INTEGER,
    source  TEXT,
    outcome TEXT,
    reason  TEXT,
    rule    TEXT,
    host    TEXT
);
-- Logs made before outcomes (and hosts) were recorded.
ALTER TABLE moorage_audit ADD COLUMN IF NOT EXISTS outcome TEXT;
ALTER TABLE moorage_audit ADD COLUMN IF NOT EXISTS reason TEXT;
ALTER TABLE moorage_audit ADD COLUMN IF NOT EXISTS rule TEXT;
ALTER TABLE moorage_audit ADD COLUMN IF NOT EXISTS host TEXT;
CREATE INDEX IF NOT EXISTS moorage_audit_ts ON moorage_audit (ts);
CREATE INDEX IF NOT EXISTS moorage_audit_actor ON moorage_audit (actor, ts);
CREATE INDEX IF NOT EXISTS moorage_audit_outcome ON moorage_audit (outcome, id);
CREATE TABLE IF NOT EXISTS moorage_auth_state (
    key     TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    expires DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS moorage_hosts (
    name    TEXT PRIMARY KEY,
    spec    TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
-- One row: counts every change of moorage_hosts, polled by each replica (app/hosts.py).
CREATE TABLE IF NOT EXISTS moorage_hosts_revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT  NOT NULL
);
"""


class PostgresAuditStore:
    """The PostgreSQL audit store (asyncpg pool), for several replicas sharing one log."""

    kind = "postgresql"

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._pool: Any = None

    async def open(self) -> None:
        import asyncpg

        # The process's one pool, alerting's tables included (app/alerts/store.py).
        self._pool = await asyncpg.create_pool(
            self.url, min_size=1, max_size=15, command_timeout=self.timeout
        )
        await self.create_schema(_PG_SCHEMA, 7277317)

    async def create_schema(self, sql: str, lock: int) -> None:
        """`sql` (CREATE … IF NOT EXISTS) under the advisory lock `lock`: replicas
        starting together do not race; one creates the tables, the others wait."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
            await conn.execute(sql)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> Any:
        """The asyncpg pool (shared with alerting's store)."""
        if self._pool is None:
            raise RuntimeError("the audit store is not open")
        return self._pool

    def _p(self) -> Any:
        return self.pool

    async def add(self, rec: Record) -> int:
        row_id = await self._p().fetchval(
            "INSERT INTO moorage_audit (ts, actor, role, action, target, method, path, summary,"
            " status, source, outcome, reason, rule, host)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
            rec.ts,
            rec.actor,
            rec.role,
            rec.action,
            rec.target,
            rec.method,
            rec.path,
            json.dumps(rec.summary, default=str),
            rec.status,
            rec.source,
            rec.outcome,
            rec.reason,
            rec.rule,
            rec.host,
        )
        return int(row_id)

    async def finish(self, rec: Record, summary: dict[str, Any] | None = None) -> None:
        text = None if summary is None else json.dumps(summary, default=str)
        await self._p().execute(
            "UPDATE moorage_audit SET status = $1, outcome = $2, reason = $3, rule = $4,"
            " summary = COALESCE($6, summary) WHERE id = $5",
            rec.status,
            rec.outcome,
            rec.reason,
            rec.rule,
            rec.id,
            text,
        )

    async def query(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: float | None = None,
        until: float | None = None,
        before: int | None = None,
        outcome: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        where, args = _filters(
            lambda n: f"${n}", actor, action, target, since, until, before, outcome
        )
        sql = f"SELECT {_COLUMNS} FROM moorage_audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        args.append(limit)
        sql += f" ORDER BY id DESC LIMIT ${len(args)}"
        rows = await self._p().fetch(sql, *args)
        return [_entry(tuple(r)) for r in rows]

    async def state_put(self, key: str, payload: dict[str, Any], expires: float) -> None:
        pool = self._p()
        await pool.execute("DELETE FROM moorage_auth_state WHERE expires < $1", time.time())
        await pool.execute(
            "INSERT INTO moorage_auth_state (key, payload, expires) VALUES ($1, $2, $3)"
            " ON CONFLICT (key) DO UPDATE SET payload = $2, expires = $3",
            key,
            json.dumps(payload),
            expires,
        )

    async def state_get(self, key: str) -> dict[str, Any] | None:
        row = await self._p().fetchrow(
            "SELECT payload, expires FROM moorage_auth_state WHERE key = $1", key
        )
        return _state(tuple(row) if row is not None else None)

    async def state_take(self, key: str) -> dict[str, Any] | None:
        row = await self._p().fetchrow(
            "DELETE FROM moorage_auth_state WHERE key = $1 RETURNING payload, expires", key
        )
        return _state(tuple(row) if row is not None else None)

    async def state_delete(self, key: str) -> None:
        await self._p().execute("DELETE FROM moorage_auth_state WHERE key = $1", key)

    async def hosts_load(self) -> list[dict[str, Any]]:
        rows = await self._p().fetch("SELECT spec FROM moorage_hosts ORDER BY created")
        return [json.loads(r[0]) for r in rows]

    async def host_put(self, name: str, spec: dict[str, Any]) -> None:
        async with self._p().acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO moorage_hosts (name, spec, created) VALUES ($1, $2, $3)"
                " ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
                name,
                json.dumps(spec),
                time.time(),
            )
            await conn.execute(_PG_BUMP)

    async def host_delete(self, name: str) -> None:
        async with self._p().acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM moorage_hosts WHERE name = $1", name)
            await conn.execute(_PG_BUMP)

    async def hosts_revision(self) -> int:
        """The count of changes of moorage_hosts (0: none yet): one row's read."""
        n = await self._p().fetchval("SELECT n FROM moorage_hosts_revision")
        return int(n or 0)


_PG_BUMP = (
    "INSERT INTO moorage_hosts_revision (id, n) VALUES (1, 1)"
    " ON CONFLICT (id) DO UPDATE SET n = moorage_hosts_revision.n + 1"
)


AuditBackend = AuditStore | PostgresAuditStore


def open_store(url: str, timeout: float = 5.0) -> AuditBackend:
    """The store a `MOORAGE_AUDIT_DB` value names: a PostgreSQL URL, or a SQLite path."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresAuditStore(url, timeout)
    return AuditStore(url, timeout)


def _entry(r: tuple[Any, ...]) -> AuditEntry:
    return AuditEntry(
        id=r[0],
        time=_iso(r[1]),
        actor=r[2],
        role=r[3],
        action=r[4],
        target=r[5],
        method=r[6],
        path=r[7],
        summary=json.loads(r[8]),
        status=r[9],
        source=r[10],
        outcome=r[11],
        reason=r[12],
        rule=r[13],
        host=r[14],
    )


# -- building records --------------------------------------------------------------------


def _summary(request: HTTPConnection) -> dict[str, Any]:
    """What was asked, secrets removed; uploads by their size only (never buffered)."""
    from app.redaction import redact

    out: dict[str, Any] = {}
    if request.query_params:
        out["query"] = redact(dict(request.query_params))
    ctype = request.headers.get("content-type", "")
    body: bytes | None = getattr(request, "_body", None)  # read already by FastAPI for JSON
    if body is not None and "json" in ctype:
        try:
            out["body"] = redact(json.loads(body))
        except ValueError:
            out["body_bytes"] = len(body)
        hidden = SECRET_BODY_FIELDS.get(request.url.path, ())
        if isinstance(out.get("body"), dict):
            for key in hidden:
                if key in out["body"]:
                    out["body"][key] = "***"
    elif body is not None:
        out["body_bytes"] = len(body)
    elif request.headers.get("content-length"):
        out["body_bytes"] = int(request.headers["content-length"] or 0)
        out["content_type"] = ctype
    text = json.dumps(out, default=str)
    if len(text) > SUMMARY_MAX:
        return {"truncated": text[:SUMMARY_MAX]}
    return out


def _target(request: HTTPConnection, summary: dict[str, Any]) -> str:
    if request.path_params:
        return "/".join(str(v) for v in request.path_params.values())
    for part in ("body", "query"):
        doc = summary.get(part)
        if isinstance(doc, dict):
            for key in ("name", "image", "repository", "container", "tag", "t"):
                if isinstance(doc.get(key), str):
                    return str(doc[key])
    return ""


def _record(request: HTTPConnection, identity: Identity | None, action: str) -> Record:
    summary = _summary(request)
    return Record(
        actor=identity.name if identity is not None else UNAUTHENTICATED,
        role=identity.role.name if identity is not None else "none",
        action=action,
        target=_target(request, summary),
        method=str(request.scope.get("method", "GET")),  # a WebSocket handshake is a GET
        path=request.url.path,
        summary=summary,
        source=request.client.host if request.client else None,
        host=_host(request),
    )


def _host(request: HTTPConnection) -> str | None:
    """The host a change is made on: those `?host=` names, else the default host (for
    operations on an engine); the one a /v1/hosts/{host} change is about."""
    from app.security import takes_host

    if not takes_host(request.scope.get("route")):
        value = (
            request.path_params.get("host") if request.url.path.startswith("/v1/hosts") else None
        )
        return str(value) if value is not None else None
    names = request.query_params.getlist("host")
    if names:
        return ",".join(names)
    hosts = getattr(request.app.state, "hosts", None)
    return hosts.default.name if hosts is not None else None


async def begin(request: Request, identity: Identity, action: str) -> None:
    """Write the intent of a change before its route runs (fail closed if configured)."""
    if request.method in SAFE_METHODS:
        return
    store: AuditBackend | None = getattr(request.app.state, "audit", None)
    if store is None:
        return
    rec = _record(request, identity, action)
    request.state.audit = rec
    try:
        rec.id = await store.add(rec)
    except Exception as exc:
        if request.app.state.settings.audit_fail_closed:
            log.error("audit write failed, change refused: %s", exc)
            raise AuditUnavailable(
                "The audit log cannot be written, so the change was not made"
            ) from exc
        log.error("audit write failed, change allowed (audit_fail_closed=false): %s", exc)


def note_refused(request: HTTPConnection, identity: Identity | None, action: str) -> None:
    """A change (or a WebSocket handshake) refused for its credentials (no identity),
    its origin or its role: written, with its status and outcome, when the response is
    done. Nothing of the body is read."""
    if request.scope["type"] == "websocket" or request.scope.get("method") not in SAFE_METHODS:
        request.state.audit = _record(request, identity, action)


async def stream_outcome(request: Request, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A streamed change (SSE pull, push, build, exec) answers 200 before it ends: a
    failure inside the stream becomes the audited outcome (the problem's status)."""
    try:
        async for chunk in body:
            yield chunk
    except errors.ProblemError as exc:
        request.state.audit_outcome = exc.status
        request.state.problem = exc
        raise
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()


class AuditMiddleware:
    """Writes the outcome (status) of every audited request when its response is done."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            rec: Record | None = state.get("audit")
            status = state.get("audit_outcome", status)
            app = scope.get("app")
            store: AuditBackend | None = getattr(getattr(app, "state", None), "audit", None)
            if rec is not None and store is not None:
                rec.judge(status, state.get("problem"))
                try:
                    # Shielded: a client that goes away mid-stream still gets its outcome.
                    with anyio.CancelScope(shield=True):
                        if rec.id is not None:
                            await store.finish(rec)
                        else:
                            await store.add(rec)
                except Exception as exc:
                    log.error("audit outcome write failed (%s %s): %s", rec.action, status, exc)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A denied handshake is a refused (or failed) attempt to open a terminal: one
        row, as for a change. Denied = answered with an HTTP response (the problem
        handler's) or closed before it was accepted (uvicorn answers 403)."""
        state: dict[str, Any] = scope.setdefault("state", {})
        accepted = False
        denied: int | None = None

        async def watch(message: Message) -> None:
            nonlocal accepted, denied
            kind = message["type"]
            if kind == "websocket.accept":
                accepted = True
            elif kind == "websocket.http.response.start":
                denied = int(message["status"])
            elif kind == "websocket.close" and not accepted and denied is None:
                denied = 403
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if denied is not None:
                await _write_denied(scope, state, denied)


async def _write_denied(scope: Scope, state: dict[str, Any], status: int) -> None:
    app = scope.get("app")
    store: AuditBackend | None = getattr(getattr(app, "state", None), "audit", None)
    if store is None:
        return
    rec: Record | None = state.get("audit")
    if rec is None:  # refused past authentication (policy, limits, an ended terminal)
        route = scope.get("route")
        action = str(getattr(route, "name", "") or "websocket")
        rec = _record(HTTPConnection(scope), state.get("identity"), action)
    rec.judge(status, state.get("problem"))
    try:
        with anyio.CancelScope(shield=True):
            await store.add(rec)
    except Exception as exc:
        log.error("audit write of a denied handshake failed (%s %s): %s", rec.action, status, exc)
