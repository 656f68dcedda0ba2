"""Where alerting keeps what must outlive the process: rules, the state of each
(rule, container) pair, the outbox of deliveries and every try.

The same database as the audit log (`MOORAGE_AUDIT_DB`), through the audit store's
connection or pool (one per process): a SQLite file shared by the worker processes of
one host, or PostgreSQL shared by replicas. Two things make the
replicas agree without talking to each other:

    raise     deciding whether an alert goes out (throttle, firing → resolved) and
              putting it in the outbox is one transaction on the pair's state row
              (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT … FOR UPDATE), and an alert
              of one occurrence has one id (INSERT … DO NOTHING): two replicas that
              saw the same engine event raise it once.
    claim     a sender leases due rows (SQLite: under its write lock; PostgreSQL:
              FOR UPDATE SKIP LOCKED); a lease left by a process that died runs out
              and another sender takes the row, with the same id.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from app.audit import AuditBackend, AuditStore, PostgresAuditStore
from app.models.alerts import AlertState

T = TypeVar("T")

_TABLES = """
CREATE TABLE IF NOT EXISTS moorage_alert_rules (
    id      TEXT PRIMARY KEY,
    doc     TEXT NOT NULL,
    secret  TEXT,
    created {real} NOT NULL,
    updated {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS moorage_alert_state (
    rule_id   TEXT NOT NULL,
    key       TEXT NOT NULL,
    firing    INTEGER NOT NULL,
    notified  INTEGER NOT NULL,
    last_sent {real},
    PRIMARY KEY (rule_id, key)
);
CREATE TABLE IF NOT EXISTS moorage_alert_outbox (
    id          TEXT PRIMARY KEY,
    rule_id     TEXT NOT NULL,
    url         TEXT NOT NULL,
    format      TEXT NOT NULL,
    secret      TEXT,
    alert       TEXT NOT NULL,
    created     {real} NOT NULL,
    next_try    {real},
    tries       INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL,
    lease_until {real} NOT NULL DEFAULT 0,
    owner       TEXT
);
CREATE INDEX IF NOT EXISTS moorage_alert_outbox_due ON moorage_alert_outbox (status, next_try);
CREATE INDEX IF NOT EXISTS moorage_alert_outbox_created ON moorage_alert_outbox (created);
CREATE TABLE IF NOT EXISTS moorage_alert_attempts (
    id          {serial},
    delivery_id TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    ts          {real} NOT NULL,
    status      TEXT NOT NULL,
    code        INTEGER,
    error       TEXT,
    duration    {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS moorage_alert_attempts_delivery
    ON moorage_alert_attempts (delivery_id, attempt);
"""
SQLITE_SCHEMA = _TABLES.format(real="REAL", serial="INTEGER PRIMARY KEY AUTOINCREMENT")
PG_SCHEMA = _TABLES.format(real="DOUBLE PRECISION", serial="BIGSERIAL PRIMARY KEY")

_OUTBOX = "id, rule_id, url, format, secret, alert, created, next_try, tries, status"


@dataclass
class StoredRule:
    id: str
    doc: dict[str, Any]  # the rule as given, without its secret
    secret: str | None
    created: float
    updated: float


@dataclass
class PairState:
    """What the store knows of one (rule, container): firing now, and whether this
    episode's firing went out (a resolved follows only a firing that did)."""

    firing: bool = False
    notified: bool = False
    last_sent: float | None = None


@dataclass
class Raise:
    """An alert to raise: its id, the pair's key, and the delivery snapshot."""

    id: str
    rule_id: str
    key: str
    state: AlertState
    instant: bool  # an occurrence (event, log line): no firing → resolved episode
    throttle: float
    url: str
    format: str
    secret: str | None
    alert: dict[str, Any]
    now: float
    # Taken by this process as it is written (its sender has a free slot for it): no
    # claim needed; another process may claim it once the lease has run out.
    owner: str | None = None
    lease_until: float = 0.0


@dataclass
class OutboxRow:
    id: str
    rule_id: str
    url: str
    format: str
    secret: str | None
    alert: dict[str, Any]
    created: float
    next_try: float | None
    tries: int
    status: str

    @classmethod
    def new(cls, r: Raise) -> OutboxRow:
        """The row `r` writes, as the outbox then holds it."""
        return cls(r.id, r.rule_id, r.url, r.format, r.secret, r.alert, r.now, r.now, 0, "pending")

    @classmethod
    def of(cls, r: Any) -> OutboxRow:
        return cls(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8], r[9])


def decide(prev: PairState, r: Raise) -> tuple[bool, PairState]:
    """Whether the alert goes out, and the pair's state after it (the throttle and
    the firing → resolved rules, in one place)."""
    if r.state == "resolved":
        if not prev.firing:
            return False, prev
        return prev.notified, PairState(False, False, prev.last_sent)
    if prev.firing and not r.instant:
        return False, prev  # firing already: a condition fires once per episode
    if prev.last_sent is not None and r.now - prev.last_sent < r.throttle:
        return False, PairState(not r.instant, False, prev.last_sent)
    return True, PairState(not r.instant, True, r.now)


class SqliteAlertStore:
    """The SQLite dialect, on the audit store's one connection (app/audit.py `call`:
    a worker thread, alone on it): the same file is never opened twice."""

    kind = "sqlite"

    def __init__(self, audit: AuditStore) -> None:
        self.audit = audit
        self._writes: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await self.audit.call(lambda db: db.executescript(SQLITE_SCHEMA))

    async def close(self) -> None:
        pass  # the connection is the audit store's, closed with it

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self.audit.call(lambda db: _relaxed(db, fn))

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return await self._call(lambda db: list(db.execute(sql, args)))

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._call(lambda db: db.execute(sql, args).rowcount)

    async def execute_all(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Several statements in one transaction."""

        def run(db: sqlite3.Connection) -> None:
            for sql, args in statements:
                db.execute(sql, args)

        await self._write(run)

    async def raise_alert(self, r: Raise) -> bool:
        return await self._write(functools.partial(_raise_sync, r=r))

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn` in one transaction with every other write waiting meanwhile: a burst of
        alerts (or of tries) is a few commits and thread hops, not one of each."""
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._writes.append((fn, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="moorage-alerts-write")
        result: T = await done
        return result

    async def _flush(self) -> None:
        while self._writes:
            batch, self._writes = self._writes, []
            try:
                results = await self._call(functools.partial(_in_one, [fn for fn, _ in batch]))
            except asyncio.CancelledError:
                for _, done in batch:
                    done.cancel()
                raise
            except Exception as exc:
                results = [exc] * len(batch)
            for (_, done), result in zip(batch, results, strict=True):
                if done.done():
                    continue
                if isinstance(result, Exception):
                    done.set_exception(result)
                else:
                    done.set_result(result)

    async def claim(self, owner: str, now: float, lease: float, limit: int) -> list[OutboxRow]:
        rows = await self.fetch(
            "UPDATE moorage_alert_outbox SET lease_until = ?, owner = ? WHERE id IN ("
            " SELECT id FROM moorage_alert_outbox WHERE status = 'pending' AND next_try <= ?"
            " AND lease_until <= ? ORDER BY next_try LIMIT ?)"
            f" RETURNING {_OUTBOX}",
            now + lease,
            owner,
            now,
            now,
            limit,
        )
        return [OutboxRow.of(r) for r in rows]


def _relaxed(db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """`fn` with the WAL synced at checkpoints only (synchronous=NORMAL), then the
    connection's own setting again (the audit log's, which keeps FULL). An alert's
    commit is in the WAL before it returns (a killed process loses nothing) without
    an fsync each: a burst of alerts is not a burst of disk flushes. Only a crash of
    the machine may lose the last ones."""
    level = db.execute("PRAGMA synchronous").fetchone()[0]
    db.execute("PRAGMA synchronous=NORMAL")
    try:
        return fn(db)
    finally:
        db.execute(f"PRAGMA synchronous={int(level)}")


def _in_one(fns: list[Callable[[sqlite3.Connection], Any]], db: sqlite3.Connection) -> list[Any]:
    """Each of `fns` in its own savepoint (one failing leaves the others: its result is
    its exception), all in one transaction (other processes' writes wait at its BEGIN)."""
    results: list[Any] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for fn in fns:
            db.execute("SAVEPOINT one")
            try:
                results.append(fn(db))
            except sqlite3.Error as exc:
                db.execute("ROLLBACK TO one")
                results.append(exc)
            db.execute("RELEASE one")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return results


def _raise_sync(db: sqlite3.Connection, r: Raise) -> bool:
    row = db.execute(
        "SELECT firing, notified, last_sent FROM moorage_alert_state WHERE rule_id = ? AND key = ?",
        (r.rule_id, r.key),
    ).fetchone()
    prev = PairState(bool(row[0]), bool(row[1]), row[2]) if row else PairState()
    send, new = decide(prev, r)
    db.execute(
        "INSERT INTO moorage_alert_state (rule_id, key, firing, notified, last_sent)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (rule_id, key) DO UPDATE SET"
        " firing = excluded.firing, notified = excluded.notified, last_sent = excluded.last_sent",
        (r.rule_id, r.key, int(new.firing), int(new.notified), new.last_sent),
    )
    if not send:
        return False
    cur = db.execute(
        f"INSERT INTO moorage_alert_outbox ({_OUTBOX}, lease_until, owner)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 'pending', ?, ?) ON CONFLICT (id) DO NOTHING",
        (*_outbox_values(r), r.lease_until, r.owner),
    )
    return cur.rowcount > 0


def _outbox_values(r: Raise) -> tuple[Any, ...]:
    """The first eight of `_OUTBOX`'s columns of a new row (tries 0, status pending)."""
    return (r.id, r.rule_id, r.url, r.format, r.secret, json.dumps(r.alert), r.now, r.now)


def _pg(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$n`."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))


class PostgresAlertStore:
    """The PostgreSQL dialect, on the audit store's pool (one pool per process), for
    replicas sharing one outbox."""

    kind = "postgresql"

    def __init__(self, audit: PostgresAuditStore) -> None:
        self.audit = audit

    async def open(self) -> None:
        await self.audit.create_schema(PG_SCHEMA, 7277318)

    async def close(self) -> None:
        pass  # the pool is the audit store's, closed with it

    def _p(self) -> Any:
        return self.audit.pool

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self._p().fetch(_pg(sql), *args)]

    async def execute(self, sql: str, *args: Any) -> int:
        status: str = await self._p().execute(_pg(sql), *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def execute_all(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        async with self._p().acquire() as conn, conn.transaction():
            for sql, args in statements:
                await conn.execute(_pg(sql), *args)

    async def raise_alert(self, r: Raise) -> bool:
        async with self._p().acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO moorage_alert_state (rule_id, key, firing, notified)"
                " VALUES ($1, $2, 0, 0) ON CONFLICT (rule_id, key) DO NOTHING",
                r.rule_id,
                r.key,
            )
            row = await conn.fetchrow(
                "SELECT firing, notified, last_sent FROM moorage_alert_state"
                " WHERE rule_id = $1 AND key = $2 FOR UPDATE",
                r.rule_id,
                r.key,
            )
            prev = PairState(bool(row[0]), bool(row[1]), row[2])
            send, new = decide(prev, r)
            await conn.execute(
                "UPDATE moorage_alert_state SET firing = $3, notified = $4, last_sent = $5"
                " WHERE rule_id = $1 AND key = $2",
                r.rule_id,
                r.key,
                int(new.firing),
                int(new.notified),
                new.last_sent,
            )
            if not send:
                return False
            status: str = await conn.execute(
                f"INSERT INTO moorage_alert_outbox ({_OUTBOX}, lease_until, owner) VALUES ($1,"
                " $2, $3, $4, $5, $6, $7, $8, 0, 'pending', $9, $10) ON CONFLICT (id) DO NOTHING",
                *_outbox_values(r),
                r.lease_until,
                r.owner,
            )
            return status.endswith(" 1")

    async def claim(self, owner: str, now: float, lease: float, limit: int) -> list[OutboxRow]:
        rows = await self.fetch(
            "UPDATE moorage_alert_outbox SET lease_until = ?, owner = ? WHERE id IN ("
            " SELECT id FROM moorage_alert_outbox WHERE status = 'pending' AND next_try <= ?"
            " AND lease_until <= ? ORDER BY next_try LIMIT ? FOR UPDATE SKIP LOCKED)"
            f" RETURNING {_OUTBOX}",
            now + lease,
            owner,
            now,
            now,
            limit,
        )
        return [OutboxRow.of(r) for r in rows]


AlertBackend = SqliteAlertStore | PostgresAlertStore


def open_alert_store(audit: AuditBackend) -> AlertBackend:
    """Alerting's tables in the audit store's database, on its connection or pool."""
    if isinstance(audit, PostgresAuditStore):
        return PostgresAlertStore(audit)
    return SqliteAlertStore(audit)


class AlertStore:
    """What alerting asks of its database, in either dialect."""

    def __init__(self, db: AlertBackend) -> None:
        self.db = db

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    # -- rules ---------------------------------------------------------------------

    async def rules(self) -> list[StoredRule]:
        rows = await self.db.fetch(
            "SELECT id, doc, secret, created, updated FROM moorage_alert_rules ORDER BY created"
        )
        return [StoredRule(r[0], json.loads(r[1]), r[2], r[3], r[4]) for r in rows]

    async def rule(self, rule_id: str) -> StoredRule | None:
        rows = await self.db.fetch(
            "SELECT id, doc, secret, created, updated FROM moorage_alert_rules WHERE id = ?",
            rule_id,
        )
        return StoredRule(rows[0][0], json.loads(rows[0][1]), *rows[0][2:]) if rows else None

    async def add_rule(self, rule: StoredRule) -> None:
        await self.db.execute(
            "INSERT INTO moorage_alert_rules (id, doc, secret, created, updated)"
            " VALUES (?, ?, ?, ?, ?)",
            rule.id,
            json.dumps(rule.doc),
            rule.secret,
            rule.created,
            rule.updated,
        )

    async def save_rule(self, rule: StoredRule) -> None:
        await self.db.execute(
            "UPDATE moorage_alert_rules SET doc = ?, secret = ?, updated = ? WHERE id = ?",
            json.dumps(rule.doc),
            rule.secret,
            rule.updated,
            rule.id,
        )
        # A changed condition starts afresh: no episode of the old one is left open.
        await self.db.execute("DELETE FROM moorage_alert_state WHERE rule_id = ?", rule.id)

    async def delete_rule(self, rule_id: str) -> bool:
        n = await self.db.execute("DELETE FROM moorage_alert_rules WHERE id = ?", rule_id)
        await self.db.execute("DELETE FROM moorage_alert_state WHERE rule_id = ?", rule_id)
        # What it raised and could not deliver yet is not tried any more.
        await self.db.execute(
            "UPDATE moorage_alert_outbox SET status = 'expired', next_try = NULL"
            " WHERE rule_id = ? AND status = 'pending'",
            rule_id,
        )
        return n > 0

    # -- the outbox ----------------------------------------------------------------

    async def raise_alert(self, r: Raise) -> bool:
        return await self.db.raise_alert(r)

    async def enqueue(self, r: Raise) -> None:
        """Into the outbox with no throttle and no state (a test delivery)."""
        await self.db.execute(
            f"INSERT INTO moorage_alert_outbox ({_OUTBOX}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0,"
            " 'pending')",
            *_outbox_values(r),
        )

    async def claim(self, owner: str, now: float, lease: float, limit: int) -> list[OutboxRow]:
        return await self.db.claim(owner, now, lease, limit)

    async def record_try(
        self,
        row: OutboxRow,
        *,
        ts: float,
        delivered: bool,
        code: int | None,
        error: str | None,
        duration: float,
        next_try: float | None,
    ) -> None:
        """One try, and the row's next step: delivered, again at `next_try`, or expired."""
        attempt = row.tries + 1
        status = "delivered" if delivered else ("pending" if next_try is not None else "expired")
        # One transaction: a try costs one commit (a burst of deliveries is one of tries).
        await self.db.execute_all(
            [
                (
                    "INSERT INTO moorage_alert_attempts (delivery_id, attempt, ts, status, code,"
                    " error, duration) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        row.id,
                        attempt,
                        ts,
                        "delivered" if delivered else "failed",
                        code,
                        error,
                        duration,
                    ),
                ),
                (
                    "UPDATE moorage_alert_outbox SET tries = ?, status = ?, next_try = ?,"
                    " lease_until = 0 WHERE id = ?",
                    (attempt, status, None if delivered else next_try, row.id),
                ),
            ]
        )

    async def deliveries(
        self, rule_id: str | None, status: str | None, limit: int
    ) -> list[tuple[OutboxRow, list[tuple[Any, ...]]]]:
        where, args = [], []
        if rule_id is not None:
            where.append("rule_id = ?")
            args.append(rule_id)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        sql = f"SELECT {_OUTBOX} FROM moorage_alert_outbox"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC LIMIT ?"
        rows = [OutboxRow.of(r) for r in await self.db.fetch(sql, *args, limit)]
        if not rows:
            return []
        marks = ", ".join("?" for _ in rows)
        tries = await self.db.fetch(
            "SELECT delivery_id, attempt, ts, status, code, error, duration"
            f" FROM moorage_alert_attempts WHERE delivery_id IN ({marks}) ORDER BY attempt",
            *(r.id for r in rows),
        )
        by_id: dict[str, list[tuple[Any, ...]]] = {}
        for t in tries:
            by_id.setdefault(t[0], []).append(t)
        return [(r, by_id.get(r.id, [])) for r in rows]

    async def alerts_after(self, created: float, limit: int) -> list[OutboxRow]:
        """Alerts raised after `created` (for a resuming stream), oldest first."""
        rows = await self.db.fetch(
            f"SELECT {_OUTBOX} FROM moorage_alert_outbox WHERE created > ?"
            " ORDER BY created LIMIT ?",
            created,
            limit,
        )
        return [OutboxRow.of(r) for r in rows]

    async def prune(self, before: float) -> None:
        """Forget finished deliveries raised before `before`."""
        await self.db.execute(
            "DELETE FROM moorage_alert_attempts WHERE delivery_id IN (SELECT id FROM"
            " moorage_alert_outbox WHERE created < ? AND status != 'pending')",
            before,
        )
        await self.db.execute(
            "DELETE FROM moorage_alert_outbox WHERE created < ? AND status != 'pending'", before
        )
