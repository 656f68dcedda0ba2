"""`moorage exec -it <container> [cmd…]`: a terminal client for the WebSocket API.

Opens an interactive exec (`POST /v1/containers/{id}/exec`, `interactive: true`),
then relays this terminal both ways: raw mode with `-t`, the window size at start and
on every SIGWINCH, stdin EOF as the `eof` control frame (so `moorage exec -i box
sh -c 'cat > f' < file` works), and the process's exit code as its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import termios
import threading
import tty
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote


def _create(url: str, token: str | None, container: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/v1/containers/{quote(container, safe='')}/exec",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            doc: dict[str, Any] = json.load(response)
            return doc
    except urllib.error.HTTPError as exc:
        problem = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError):
            problem = json.loads(problem).get("detail", problem)
        raise SystemExit(f"moorage exec: {exc.code}: {problem}") from None


async def _relay(ws_url: str, token: str | None, use_tty: bool) -> int:
    import websockets

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    loop = asyncio.get_running_loop()
    code = 0
    async with websockets.connect(ws_url, additional_headers=headers, max_size=None) as ws:
        tasks: set[asyncio.Task[None]] = set()

        def resize() -> None:
            size = shutil.get_terminal_size()
            doc = {"type": "resize", "rows": size.lines, "cols": size.columns}
            task = loop.create_task(ws.send(json.dumps(doc)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        if use_tty:
            loop.add_signal_handler(signal.SIGWINCH, resize)

        def pump_stdin() -> None:
            # A thread: stdin may be a file, a pipe or a TTY; each chunk is sent before
            # the next is read, so a slow terminal slows the reader, not memory.
            try:
                while data := os.read(sys.stdin.fileno(), 65536):
                    asyncio.run_coroutine_threadsafe(ws.send(data), loop).result()
                eof = json.dumps({"type": "eof"})
                asyncio.run_coroutine_threadsafe(ws.send(eof), loop).result()
            except Exception:  # the socket closed (or the loop ended) first
                return

        # A daemon: at the end it may still wait in read() for a key nobody presses.
        threading.Thread(target=pump_stdin, daemon=True).start()
        try:
            async for msg in ws:
                if isinstance(msg, bytes):
                    out = sys.stdout.buffer
                    if not use_tty:
                        out = sys.stderr.buffer if msg[:1] == b"\x02" else sys.stdout.buffer
                        msg = msg[1:]
                    out.write(msg)
                    out.flush()
                    continue
                doc = json.loads(msg)
                if doc.get("type") == "exit":
                    code = int(doc.get("exit_code") or 0)
                elif doc.get("type") == "error":
                    print(f"\r\nmoorage: {doc.get('detail')}\r", file=sys.stderr)
        except websockets.ConnectionClosedError as exc:
            print(f"\r\nmoorage: the terminal closed: {exc}\r", file=sys.stderr)
            code = 255
    return code


def run(args: Any) -> int:
    url = args.url.rstrip("/")
    token = args.token or os.environ.get("MOORAGE_TOKEN")
    use_tty = args.tty and sys.stdin.isatty()
    body: dict[str, Any] = {"interactive": True, "tty": use_tty}
    if args.cmd:
        body["cmd"] = args.cmd
    if args.user:
        body["user"] = args.user
    if args.workdir:
        body["workdir"] = args.workdir
    if args.env:
        body["environment"] = args.env
    if use_tty:
        size = shutil.get_terminal_size()
        body["rows"], body["cols"] = size.lines, size.columns
    created = _create(url, token, args.container, body)
    ws_url = url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + created["ws"]
    saved = termios.tcgetattr(sys.stdin.fileno()) if use_tty else None
    try:
        if use_tty:
            tty.setraw(sys.stdin.fileno())
        code = asyncio.run(_relay(ws_url, token, use_tty))
    finally:
        if saved is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
    return code
