"""Interactive terminals: sessions that outlive their WebSocket, and never their processes.

    Terminals   the registry (`app.state.terminals`): limits, lookup, shutdown
    Terminal    one session: the hijacked engine connection, the replay ring, at most
                one client socket at a time, the grace and idle timers, the audit row

An exec terminal's life: created (`POST …/exec` with `interactive`) → started by its
first WebSocket → *detached* when that socket drops (any close but 1000) → reattached
within `terminal_reattach_grace` (the client first gets the last
`terminal_replay_bytes` of output again) or ended. Ending kills the exec's whole
process tree (app/services/reaper.py: by its marker variable and by its session):
a TTY exec does not end when its connection closes, and a shell's background jobs
are re-parented to the container's PID 1 (ENGINE-NOTES).

An attach terminal is one socket on the container's main process: closing it only
drops the engine connection (the container runs on).

Frames (API.md): binary = bytes (client → stdin; server → output; without a TTY
each output frame starts with one channel byte, 1 stdout / 2 stderr); text = JSON
control: in `resize`, `eof`, `close`; out `ready` (first), `exit` (last).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

import orjson
from starlette.websockets import WebSocket, WebSocketState

from app import errors
from app.audit import AuditBackend, Record
from app.engine import Engine, Hijacked
from app.engine import Kind as EngineKind
from app.models.execs import ExecSpec
from app.models.terminals import TerminalCreated
from app.services import execs, reaper
from app.services.reaper import MARKER
from app.services.recordings import Recording
from app.settings import Settings
from app.ws_relay import RelayProtocol, relay_of

log = logging.getLogger("moorage.terminals")

# Close codes: 1000 is the client's "I am done" (the process ends at once); others
# (1001 going away, 1006 dropped) detach and leave the grace to reattach.
CLOSE_NORMAL = 1000
CLOSE_IDLE = 4000
CLOSE_REPLACED = 4001
CLOSE_ENDED = 4002
DEFAULT_SIZE = (24, 80)
# Output queued for the pump past this pauses the engine's side (as aiodocker's queue did).
PENDING_LIMIT = 2**16
# Where a shell usually is; the first that exists is the default command.
SHELLS = ("/bin/bash", "/usr/bin/bash", "/usr/local/bin/bash", "/bin/sh", "/usr/bin/sh")


class TooManyTerminals(errors.ProblemError):
    status, code, title = 429, "too-many-terminals", "Too many terminals"


class TerminalNotFound(errors.NotFound):
    status, code, title = 404, "terminal-not-found", "No such terminal"


Kind = Literal["exec", "attach"]


class Terminal:
    """One interactive session (see the module docstring)."""

    def __init__(
        self,
        hub: Terminals,
        engine: Engine,
        *,
        kind: Kind,
        key: str,
        container: str,
        cmd: list[str],
        tty: bool,
        user: str | None,
        marker: str | None,
        size: tuple[int, int] | None,
    ) -> None:
        self.hub = hub
        self.engine = engine
        self.kind = kind
        self.key = key
        self.container = container
        self.cmd = cmd
        self.tty = tty
        self.user = user
        self.marker = marker
        self.session: reaper.SessionRef | None = None  # learnt after the start, if here
        self.size = size or DEFAULT_SIZE
        self.ws: WebSocket | None = None
        self.conn: Hijacked | None = None
        self.exit_code: int | None = None
        self.done = asyncio.Event()  # the process ended (or the attach stream did)
        self.ended = False  # ended by moorage: reaped, forgotten
        self._replay: deque[tuple[int, bytes]] = deque()
        self._replay_size = 0
        self._replay_limit = hub.settings.terminal_replay_bytes
        # The socket's direct lane (app/ws_relay.py) while one is served through it:
        # a keystroke then goes data_received -> engine write, its echo engine read ->
        # socket write, with no task in between. Output that cannot go that way (no
        # lane, a recording, or earlier output still queued) waits in `_pending` for
        # the pump, with the engine's reading paused meanwhile.
        self._relay: RelayProtocol | None = None
        self._pending: deque[tuple[int, bytes]] = deque()
        self._pending_size = 0
        self._wake = asyncio.Event()
        self._output_ended = False
        self._held = False  # the engine's reading paused while the client's side is full
        self._send_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._grace: asyncio.Task[None] | None = None
        self._last = time.monotonic()
        self._audit_id: int | None = None
        self._audit_rec: Record | None = None
        self.recording: Recording | None = None
        self._audit: dict[str, Any] = {}
        self.ended_by = ""

    # -- the client's socket ----------------------------------------------------------

    async def prepare(self, actor: Record) -> None:
        """Before the handshake is accepted: start the process on the first socket (an
        engine refusal is then still an HTTP problem), refuse an ended terminal."""
        async with self._start_lock:  # two sockets at once start it once
            if self.ended:
                raise TerminalNotFound(f"The terminal {self.key!r} has ended")
            if self.conn is None:
                await self._start(actor)

    async def serve(self, ws: WebSocket) -> None:
        """Run one accepted socket until it closes; the session may outlive it."""
        previous = self.ws
        self._cancel_grace()
        if previous is not None:
            self.ws = None
            self._unrelay()
            await _close(previous, CLOSE_REPLACED, "another connection took this terminal")
        try:
            async with self._send_lock:
                # Under the pump's lock: every output frame is sent once, in order,
                # whether it came before (replay) or after this socket.
                self.ws = ws
                ready = {"type": "ready", "tty": self.tty, "channels": not self.tty}
                await ws.send_text(orjson.dumps(ready).decode())
                for channel, data in list(self._replay):
                    await ws.send_bytes(self._frame(channel, data))
                relay = relay_of(ws.scope)
                if relay is not None and self.ws is ws:
                    self._relay = relay
                    relay.attach(self._on_input)
        except Exception:  # dropped during the replay: a drop like any other
            log.debug("terminal %s: replay failed", self.key, exc_info=True)
            self._detached(ws)
            return
        if self.done.is_set():
            await self._send_exit(ws)
            self._forget()
            return
        code = await self._read(ws)
        if code == CLOSE_NORMAL and self.ws is ws and not self.done.is_set():
            self.ws = None
            self._unrelay()
            await self.end("client closed")
        else:
            self._detached(ws)

    def _detached(self, ws: WebSocket) -> None:
        """The socket is gone without asking to end: the grace to reattach begins."""
        if self.ws is not ws:
            return  # replaced by a newer connection, or ended
        self.ws = None
        self._unrelay()
        if self.done.is_set():
            return
        if self.kind == "attach":
            self._spawn(self.end("client closed"))
            return
        self._grace = asyncio.create_task(self._expire(self.hub.settings.terminal_reattach_grace))

    async def _read(self, ws: WebSocket) -> int:
        """Client → stdin and controls, one message at a time (a fast sender waits in
        its own socket buffers); the close code."""
        assert self.conn is not None
        while True:
            try:
                msg = await ws.receive()
            except (RuntimeError, OSError):
                return 1006
            if msg["type"] == "websocket.disconnect":
                return int(msg.get("code") or 1006)
            self._last = time.monotonic()
            data = msg.get("bytes")
            # A control completes before later stdin (a resize before `stty size`): off
            # the direct lane meanwhile, later frames queue behind it (app/ws_relay.py).
            relay = self._relay if data is None else None
            if relay is not None:
                relay.attach(None)
            try:
                if data is not None:
                    await self.conn.write(data)
                elif msg.get("text") is not None and await self._control(ws, str(msg["text"])):
                    return CLOSE_NORMAL
            except (errors.ProblemError, RuntimeError, OSError) as exc:
                # The process's side is closed (it ended): its exit frame follows.
                log.info("terminal %s: stdin failed: %s", self.key, exc)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10):
                        await self.done.wait()
                return CLOSE_NORMAL
            finally:
                if relay is not None and self._relay is relay:
                    relay.attach(self._on_input)

    async def _control(self, ws: WebSocket, text: str) -> bool:
        """One control message; True when the client asks to end the terminal."""
        try:
            doc = orjson.loads(text)
            kind = doc.get("type") if isinstance(doc, dict) else None
        except orjson.JSONDecodeError:
            kind = None
        if kind == "resize":
            try:
                rows, cols = int(doc["rows"]), int(doc["cols"])
            except (KeyError, TypeError, ValueError):
                rows = cols = 0
            if 1 <= rows <= 1000 and 1 <= cols <= 1000:
                await self.resize(rows, cols, quiet=True)
                return False
        elif kind == "eof":
            assert self.conn is not None
            self.conn.write_eof()
            return False
        elif kind == "close":
            return True
        await self._send_json(
            ws,
            {
                "type": "error",
                "detail": 'a control frame is {"type": "resize", "rows": R, "cols": C}, '
                '{"type": "eof"} or {"type": "close"}',
            },
        )
        return False

    # -- the engine side --------------------------------------------------------------

    async def _start(self, actor: Record) -> None:
        if self.kind == "exec":
            self.conn = await self.engine.hijack(
                f"exec/{self.key}/start",
                tty=self.tty,
                json={"Detach": False, "Tty": self.tty},
                kind="exec",
                ref=self.key,
            )
        else:
            self.conn = await self.engine.hijack(
                f"containers/{self.container}/attach",
                tty=self.tty,
                params={
                    "stream": True,
                    "stdin": True,
                    "stdout": True,
                    "stderr": True,
                    "logs": self.hub.attach_logs.pop(self.key, False),
                },
                kind="container",
                ref=self.container,
            )
        if self.tty:
            # API 1.41 cannot size an exec at start: right after the upgrade, before any
            # stdin, so that a shell never starts at 0x0.
            await self.resize(*self.size, quiet=True)
        folder = self.hub.settings.terminal_recordings
        if folder is not None:
            try:
                self.recording = await Recording.open(
                    folder, self.key[:16], size=self.size, command=self.cmd
                )
            except OSError as exc:
                log.error("terminal %s: cannot record: %s", self.key, exc)
        await self._audit_start(actor)
        await self.conn.direct(self._on_output, self._on_output_end)
        self._spawn(self._pump())
        if self.kind == "exec":
            self._spawn(self._learn_session())
        if self.hub.settings.terminal_idle_timeout > 0:
            self._spawn(self._idle_watch(self.hub.settings.terminal_idle_timeout))

    async def resize(self, rows: int, cols: int, *, quiet: bool = False) -> None:
        self.size = (rows, cols)
        if self.recording is not None:
            self.recording.resize(rows, cols)
        kind: EngineKind
        if self.kind == "exec":
            path, kind, ref = f"exec/{self.key}/resize", "exec", self.key
        else:
            path, kind, ref = f"containers/{self.container}/resize", "container", self.container
        try:
            await self.engine.json("POST", path, params={"h": rows, "w": cols}, kind=kind, ref=ref)
        except errors.ProblemError:
            # A command that ended at once cannot be resized any more (engine 500).
            if not quiet:
                raise

    # The direct lane, both ways (called from the transports' data_received).

    def _on_input(self, data: bytes) -> bool:
        """Client bytes to stdin; False leaves them to `_read` (the engine's side is
        closed: it handles that)."""
        self._last = time.monotonic()
        relay, conn = self._relay, self.conn
        assert conn is not None
        try:
            if not conn.write_now(data) and relay is not None:
                # The engine's socket is full: stop reading the client until it drains.
                relay.pause_sink()
                self._spawn(self._resume_sink(relay))
        except (RuntimeError, OSError):
            return False
        return True

    async def _resume_sink(self, relay: RelayProtocol) -> None:
        assert self.conn is not None
        try:
            await self.conn.drained()
        except (errors.ProblemError, RuntimeError, OSError):
            pass  # ended: the output's end closes the socket
        finally:
            relay.resume_sink()

    def _on_output(self, channel: int, data: bytes) -> None:
        self._last = time.monotonic()
        relay = self._relay
        if relay is not None and not self._pending and self.recording is None:
            self._remember(channel, data)
            if relay.send_now(self._frame(channel, data)) and not relay.writable.is_set():
                # The client's socket is full: the engine waits until it drains.
                self._hold(relay)
            return  # not sent: the socket is closing, its reader detaches
        self._pending.append((channel, data))
        self._pending_size += len(data)
        if self._pending_size > PENDING_LIMIT and self.conn is not None:
            self.conn.pause_reading()  # the engine holds the rest
        self._wake.set()

    def _on_output_end(self, exc: BaseException | None) -> None:
        if exc is not None:
            log.info("terminal %s: output ended: %s", self.key, exc)
        self._output_ended = True
        self._wake.set()

    def _hold(self, relay: RelayProtocol) -> None:
        if self._held:
            return
        assert self.conn is not None
        self._held = True
        self.conn.pause_reading()
        self._spawn(self._release(relay))

    async def _release(self, relay: RelayProtocol) -> None:
        await relay.writable.wait()  # set again on resume_writing and on connection_lost
        self._held = False
        self._resume_engine()

    def _resume_engine(self) -> None:
        if not self._held and not self._pending and self.conn is not None:
            self.conn.resume_reading()

    def _unrelay(self) -> None:
        relay, self._relay = self._relay, None
        if relay is not None:
            relay.attach(None)
            relay.resume_sink()  # the ASGI way reads on its own terms
            if self._held:
                self._held = False
                self._resume_engine()

    async def _pump(self) -> None:
        """Output the direct lane did not take → the replay ring and the client, one
        message at a time: a client that stops reading stops this, and the engine
        waits (its reading stays paused while a message is pending)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                channel, data = self._pending[0]
                if self.recording is not None:
                    await self.recording.output(data)
                async with self._send_lock:
                    self._remember(channel, data)
                    ws = self.ws
                    if ws is not None:
                        try:
                            await ws.send_bytes(self._frame(channel, data))
                        except Exception:  # gone: its reader sees the close and detaches
                            log.debug("terminal %s: send failed", self.key, exc_info=True)
                self._pending.popleft()
                self._pending_size -= len(data)
            self._resume_engine()
            if self._output_ended:
                break
        assert self.conn is not None
        self.exit_code = await self._exit_code()
        self.done.set()
        if self.recording is not None:
            await self.recording.close()
        if self.kind == "exec":
            await self._reap()  # what the shell left running in the background
        self.conn.close()
        await self._audit_end()
        ws = self.ws
        if ws is not None:
            await self._send_exit(ws)
            self._forget()
        elif not self.ended:
            # Kept for a reattach to learn the exit code, then forgotten.
            self._grace = asyncio.create_task(
                self._expire(self.hub.settings.terminal_reattach_grace)
            )

    async def _exit_code(self) -> int | None:
        try:
            if self.kind == "exec":
                return await execs.exit_code(self.engine, self.key)
            doc = await self.engine.json(
                "GET", f"containers/{self.container}/json", kind="container"
            )
            state = doc.get("State") or {}
            return None if state.get("Running") else int(state.get("ExitCode", 0))
        except errors.ProblemError:
            return None

    def _remember(self, channel: int, data: bytes) -> None:
        limit = self._replay_limit
        if len(data) > limit:
            data = data[-limit:] if limit else b""
        self._replay.append((channel, data))
        self._replay_size += len(data)
        while self._replay_size > limit and self._replay:
            _, old = self._replay.popleft()
            self._replay_size -= len(old)

    # -- ending -----------------------------------------------------------------------

    async def end(self, reason: str, code: int = CLOSE_NORMAL) -> None:
        """End the session: kill its processes, close its socket, forget it."""
        if self.ended:
            return
        self.ended = True
        self.ended_by = self.ended_by or reason
        self._cancel_grace()
        # The socket hears why (idle, shutdown), not the exit the kill causes.
        ws, self.ws = self.ws, None
        self._unrelay()
        if self.conn is not None and not self.done.is_set():
            if self.kind == "exec":
                await self._reap()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):
                        await self.done.wait()
            self.conn.close()
        if ws is not None:
            await _close(ws, code, reason)
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        if not self.done.is_set():
            if self.recording is not None:
                await self.recording.close()
            await self._audit_end()
            self.done.set()
        self._forget()

    async def _expire(self, after: float) -> None:
        await asyncio.sleep(after)
        self._grace = None
        if self.ws is None:
            await self.end("reattach grace expired")

    async def _idle_watch(self, limit: float) -> None:
        while not self.done.is_set():
            left = self._last + limit - time.monotonic()
            if left <= 0:
                await self.end("idle timeout", CLOSE_IDLE)
                return
            await asyncio.sleep(left)

    async def _learn_session(self) -> None:
        """The exec's session, while its process runs: from this machine's /proc when
        moorage shares the engine's pid namespace (then ending needs no exec)."""
        assert self.marker is not None
        for _ in range(20):
            try:
                pid = (await execs.exec_state(self.engine, self.key)).pid or 0
            except errors.ProblemError:
                return
            if pid > 0:
                break
            await asyncio.sleep(0.05)  # started, not yet running
        else:
            return
        found = reaper.find_session(pid, self.marker)
        if found is not None and not self.done.is_set():
            self.session = found

    async def _reap(self) -> None:
        """Kill the terminal's whole process tree (app/services/reaper.py)."""
        if self.marker is None:
            return
        if self.session is not None:
            await asyncio.to_thread(reaper.kill_on_host, self.marker, self.session)
            return
        spec = ExecSpec(cmd=["sh", "-c", reaper.REAPER, self.marker], user=self.user)
        try:
            exec_id = await execs.exec_create(self.engine, self.container, spec)
            await execs.collect(execs.exec_attached(self.engine, exec_id, tty=False), demux=False)
            return
        except errors.ProblemError as exc:
            if isinstance(exc, errors.ContainerNotRunning | errors.ContainerNotFound):
                return  # nothing runs there any more
            log.warning("terminal %s: in-container reaper failed: %s", self.key, exc)
        killed = await asyncio.to_thread(reaper.kill_on_host, self.marker, None)
        if not killed:
            log.warning("terminal %s: its processes could not be ended", self.key)

    def _cancel_grace(self) -> None:
        if self._grace is not None and self._grace is not asyncio.current_task():
            self._grace.cancel()
        self._grace = None

    def _forget(self) -> None:
        self.ended = True
        self.hub.forget(self)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- frames -----------------------------------------------------------------------

    def _frame(self, channel: int, data: bytes) -> bytes:
        return data if self.tty else bytes((2 if channel == 2 else 1,)) + data

    async def _send_json(self, ws: WebSocket, doc: dict[str, Any]) -> None:
        async with self._send_lock:
            await ws.send_text(orjson.dumps(doc).decode())

    async def _send_exit(self, ws: WebSocket) -> None:
        with contextlib.suppress(Exception):
            await self._send_json(ws, {"type": "exit", "exit_code": self.exit_code})
        await _close(ws, CLOSE_NORMAL, "exited")

    # -- audit ------------------------------------------------------------------------

    async def _audit_start(self, actor: Record) -> None:
        store = self.hub.audit()
        if store is None:
            return
        self._audit = {
            "kind": self.kind,
            "exec_id": self.key if self.kind == "exec" else None,
            "container": self.container,
            "cmd": self.cmd,
            "tty": self.tty,
            "user": self.user,
            "start": _iso(time.time()),
            "recording": str(self.recording.path) if self.recording else None,
        }
        actor.summary = self._audit
        actor.target = self.container
        try:
            self._audit_id = await store.add(actor)
            self._audit_rec = actor
        except Exception as exc:
            log.error("terminal %s: audit write failed: %s", self.key, exc)

    async def _audit_end(self) -> None:
        store = self.hub.audit()
        if store is None or self._audit_id is None:
            return
        row_id, self._audit_id = self._audit_id, None
        summary = {
            **self._audit,
            "end": _iso(time.time()),
            "exit_code": self.exit_code,
            "ended_by": self.ended_by or "process exited",
        }
        try:
            rec = self._audit_rec
            assert rec is not None  # written with the id
            rec.id = row_id
            rec.judge(200, None)
            await store.finish(rec, summary)
        except Exception as exc:
            log.error("terminal %s: audit end write failed: %s", self.key, exc)


class Terminals:
    """Every terminal of this process, by exec id (attach terminals by a made-up key)."""

    def __init__(self, settings: Settings, audit: Callable[[], AuditBackend | None]) -> None:
        self.settings = settings
        self.audit = audit
        self.by_key: dict[str, Terminal] = {}
        # attach terminals asked for the container's earlier output (`?logs=true`)
        self.attach_logs: dict[str, bool] = {}

    def _admit(self, container: str) -> None:
        if len(self.by_key) >= self.settings.terminal_max_total:
            raise TooManyTerminals(
                f"{len(self.by_key)} terminals are open (MOORAGE_TERMINAL_MAX_TOTAL)"
            )
        here = sum(1 for t in self.by_key.values() if t.container == container)
        if here >= self.settings.terminal_max_per_container:
            raise TooManyTerminals(
                f"{here} terminals are open on this container (MOORAGE_TERMINAL_MAX_PER_CONTAINER)"
            )

    async def open_exec(
        self, engine: Engine, container: str, spec: ExecSpec, host: str | None = None
    ) -> TerminalCreated:
        """Create an interactive exec (the policy sees it at the engine chokepoint);
        `host`, when the caller named one, goes into the socket's path."""
        ref = await _container_id(engine, container)
        self._admit(ref)
        cmd = spec.cmd or [await best_shell(engine, ref)]
        marker = secrets.token_hex(16)
        env = {**(spec.environment or {}), MARKER: marker}
        if spec.tty:
            env.setdefault("TERM", "xterm-256color")
        create = spec.model_copy(update={"cmd": cmd, "environment": env})
        exec_id = await execs.exec_create(engine, ref, create)
        size = (spec.rows or DEFAULT_SIZE[0], spec.cols or DEFAULT_SIZE[1])
        term = Terminal(
            self,
            engine,
            kind="exec",
            key=exec_id,
            container=ref,
            cmd=cmd,
            tty=spec.tty,
            user=spec.user,
            marker=marker,
            size=size,
        )
        self.by_key[exec_id] = term
        # Never started: dropped (nothing runs yet) when no socket comes in time.
        term._grace = asyncio.create_task(term._expire(self.settings.terminal_reattach_grace))
        # The socket names the host the exec is on (an exec id means nothing elsewhere).
        ws = f"/v1/execs/{exec_id}/ws" + (f"?host={host}" if host is not None else "")
        return TerminalCreated(exec_id=exec_id, ws=ws, tty=spec.tty, cmd=cmd)

    def get(self, exec_id: str, engine: Engine) -> Terminal:
        """The open exec terminal `exec_id` on `engine`'s host; 404 otherwise."""
        term = self.by_key.get(exec_id)
        if term is None or term.kind != "exec" or term.ended or term.engine is not engine:
            raise TerminalNotFound(
                f"No open terminal {exec_id!r} here (created with interactive: true, "
                "within the reattach grace)"
            )
        return term

    async def open_attach(
        self, engine: Engine, container: str, *, logs: bool, size: tuple[int, int] | None
    ) -> Terminal:
        doc = await engine.json("GET", f"containers/{container}/json", kind="container")
        ref = str(doc["Id"])
        if not (doc.get("State") or {}).get("Running"):
            raise errors.ContainerNotRunning(f"Container {container!r} is not running")
        self._admit(ref)
        config = doc.get("Config") or {}
        key = f"attach-{secrets.token_hex(8)}"
        term = Terminal(
            self,
            engine,
            kind="attach",
            key=key,
            container=ref,
            cmd=[str(c) for c in (doc.get("Path"), *(doc.get("Args") or [])) if c],
            tty=bool(config.get("Tty")),
            user=None,
            marker=None,
            size=size,
        )
        self.attach_logs[key] = logs
        self.by_key[key] = term
        return term

    def forget(self, term: Terminal) -> None:
        if self.by_key.get(term.key) is term:
            del self.by_key[term.key]
        self.attach_logs.pop(term.key, None)

    async def resize_exec(self, engine: Engine, exec_id: str, rows: int, cols: int) -> None:
        term = self.by_key.get(exec_id)
        if term is not None and term.engine is engine:
            await term.resize(rows, cols)
            return
        await engine.json(
            "POST", f"exec/{exec_id}/resize", params={"h": rows, "w": cols}, kind="exec"
        )

    async def close(self) -> None:
        """Shutdown: end every terminal (and its processes)."""
        await asyncio.gather(
            *(t.end("moorage shut down", 1001) for t in list(self.by_key.values())),
            return_exceptions=True,
        )


async def best_shell(engine: Engine, container: str) -> str:
    """bash if the container has it, else sh (asked by file, starting nothing)."""
    for path in SHELLS:
        try:
            async with engine.request(
                "HEAD", f"containers/{container}/archive", params={"path": path}
            ) as response:
                if response.status == 200:
                    return path
        except (errors.NotFound, ValueError):
            # aiodocker parses an error's body as JSON: a HEAD's 404 has none.
            continue
    raise errors.ValidationFailed.field(
        ["body", "cmd"], "the container has no bash or sh: give a cmd"
    )


async def _container_id(engine: Engine, ref: str) -> str:
    doc = await engine.json("GET", f"containers/{ref}/json", kind="container", ref=ref)
    return str(doc["Id"])


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    if ws.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(Exception):
            await ws.close(code, reason)


def _iso(ts: float) -> str:
    from app.audit import _iso as iso

    return iso(ts)
