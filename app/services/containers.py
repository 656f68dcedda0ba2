"""Container lifecycle calls that need several engine calls with branching:
create-then-start with rollback, run to completion, wait with a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from app import errors
from app.engine import Engine
from app.models.common import Pruned
from app.models.containers import (
    Container,
    ContainerConfig,
    ContainerSpec,
    ContainerUpdate,
    PruneFilterKey,
    RunResult,
    RunSpec,
    WaitResult,
)
from app.models.images import PullRequest
from app.services import images
from app.services.logs import FrameParser

log = logging.getLogger("moorage.containers")

# Output kept per stream by run (the rest is cut, and the cut is said).
MAX_OUTPUT = 8 << 20

# Start failures the engine reports as 500 although the request is the cause.
_START_FAILURES: list[tuple[re.Pattern[str], type[errors.ProblemError]]] = [
    (re.compile(r"port is already allocated|address already in use", re.I), errors.Conflict),
    (
        re.compile(
            r"executable file not found|no such file or directory|permission denied"
            r"|not a directory|invalid argument|OCI runtime create failed",
            re.I,
        ),
        errors.BadRequest,
    ),
]


# Create refusals the engine answers with 500 though the request asked for what this
# engine cannot do (a storage quota without xfs pquota, an unknown runtime or log driver).
_CREATE_FAILURES = re.compile(
    r"storage-opt|unknown runtime|logging driver|log driver|not supported|invalid|unknown",
    re.I,
)


def _start_problem(exc: errors.ProblemError) -> errors.ProblemError:
    """A failed start, as the problem whose cause it names."""
    if isinstance(exc, errors.EngineError):
        for pattern, cls in _START_FAILURES:
            if pattern.search(exc.detail):
                return cls(f"The container could not start: {exc.detail}")
    return exc


async def pull_image(engine: Engine, ref: str) -> None:
    """Pull an image for a create (the images service's pull, to completion)."""
    try:
        await images.pull_image(engine, PullRequest(image=ref))
    except errors.ProblemError as exc:
        # Policy refusals and bad references keep their own detail (the rule first).
        if ref in exc.detail or isinstance(exc, errors.Forbidden | errors.ValidationFailed):
            raise
        raise type(exc)(f"Pulling {ref} failed: {exc.detail}", **exc.extra) from exc


async def image_present(engine: Engine, ref: str) -> bool:
    try:
        await engine.json("GET", f"images/{ref}/json", kind="image", ref=ref)
    except errors.NotFound:
        return False
    return True


async def ensure_image(engine: Engine, ref: str, policy: str) -> None:
    """Apply the pull policy: `missing` pulls if absent, `always` pulls, `never` never."""
    if policy == "always":
        await pull_image(engine, ref)
        return
    if await image_present(engine, ref):
        return
    if policy == "never":
        raise errors.ImageNotFound(f"Image {ref} is not present and pull is 'never'")
    await pull_image(engine, ref)


async def prune(engine: Engine, filters: dict[PruneFilterKey, list[str]] | None) -> Pruned:
    doc: dict[str, Any] = await engine.json(
        "POST", "containers/prune", params={"filters": dict(filters or {}) or None}, long=True
    )
    return Pruned(
        deleted=doc.get("ContainersDeleted") or [],
        space_reclaimed=int(doc.get("SpaceReclaimed") or 0),
    )


async def inspect(engine: Engine, ref: str) -> dict[str, Any]:
    doc: dict[str, Any] = await engine.json(
        "GET", f"containers/{ref}/json", kind="container", ref=ref
    )
    return doc


async def get(engine: Engine, ref: str) -> Container:
    return Container.from_inspect(await inspect(engine, ref))


async def remove(engine: Engine, ref: str, *, force: bool = True, volumes: bool = True) -> None:
    await engine.json(
        "DELETE",
        f"containers/{ref}",
        params={"force": force, "v": volumes},
        kind="container",
        ref=ref,
    )


async def _create(
    engine: Engine, spec: ContainerConfig, payload: dict[str, Any]
) -> tuple[str, list[str]]:
    """Create; gives the id and the engine's warnings (settings it discarded)."""
    await ensure_image(engine, spec.image, spec.pull)
    try:
        created: dict[str, Any] = await engine.json(
            "POST",
            "containers/create",
            params=spec.create_params() or None,
            json=payload,
            kind="image",
            ref=spec.image,
        )
    except errors.EngineError as exc:
        if _CREATE_FAILURES.search(exc.detail):
            raise errors.BadRequest(f"The engine refused the container: {exc.detail}") from exc
        raise
    cid = str(created["Id"])
    try:
        await _connect_extra(engine, cid, spec)
    except BaseException:
        await _remove_quietly(engine, cid)
        raise
    return cid, [str(w) for w in created.get("Warnings") or []]


async def _connect_extra(engine: Engine, cid: str, spec: ContainerConfig) -> None:
    """API 1.41 takes one network at create: the others are connected before the start."""
    for net in spec.extra_networks():
        await connect(engine, net.name, cid, net.to_engine())


async def connect(engine: Engine, network: str, cid: str, endpoint: dict[str, Any]) -> None:
    """Attach the container to one more network with its `EndpointSettings`."""
    await engine.json(
        "POST",
        f"networks/{network}/connect",
        json={"Container": cid, "EndpointConfig": endpoint},
        kind="network",
        ref=network,
    )


async def _remove_quietly(engine: Engine, cid: str) -> None:
    # Shielded: a caller that goes away mid-create must not leave a half-made container.
    try:
        await asyncio.shield(remove(engine, cid))
    except errors.ProblemError as exc:
        log.warning("could not remove container %s after a failed create: %s", cid, exc)


async def _start(engine: Engine, ref: str) -> None:
    """Start (already running is fine: the engine answers 304)."""
    try:
        await engine.json("POST", f"containers/{ref}/start", kind="container", ref=ref)
    except errors.ProblemError as exc:
        raise _start_problem(exc) from exc


async def start(engine: Engine, ref: str) -> Container:
    await _start(engine, ref)
    return await get(engine, ref)


async def _start_or_remove(engine: Engine, cid: str) -> None:
    """Start a container just created; if it cannot start, it is removed."""
    try:
        await _start(engine, cid)
    except BaseException:
        await _remove_quietly(engine, cid)
        raise


async def create(engine: Engine, spec: ContainerSpec) -> Container:
    """Create and (unless `start` is false) start; atomic from the caller's view."""
    cid, warnings = await _create(engine, spec, spec.to_engine())
    if not spec.start:
        container = await get(engine, cid)
    else:
        # With auto_remove a quick process can be gone before it is read: keep its
        # created state to answer with.
        before = await inspect(engine, cid) if spec.auto_remove else None
        await _start_or_remove(engine, cid)
        try:
            container = await get(engine, cid)
        except errors.ContainerNotFound:
            if before is None:
                raise
            container = Container.from_inspect(before)
            container.status = "removed"
    container.warnings = warnings
    return container


async def stop(engine: Engine, ref: str, *, within: int | None) -> Container:
    """SIGTERM, then SIGKILL after `within` seconds (already stopped is fine)."""
    await engine.json(
        "POST", f"containers/{ref}/stop", params={"t": within}, long=True, kind="container"
    )
    return await get(engine, ref)


async def restart(engine: Engine, ref: str, *, within: int | None) -> Container:
    try:
        await engine.json(
            "POST", f"containers/{ref}/restart", params={"t": within}, long=True, kind="container"
        )
    except errors.ProblemError as exc:
        raise _start_problem(exc) from exc
    return await get(engine, ref)


async def signal(engine: Engine, ref: str, action: str, **params: Any) -> Container:
    """kill / pause / unpause, then the container as it is now."""
    await engine.json("POST", f"containers/{ref}/{action}", params=params, kind="container")
    return await get(engine, ref)


async def wait(
    engine: Engine, ref: str, *, within: float | None, condition: str = "not-running"
) -> WaitResult:
    """Wait for the container to stop; past `timeout` it is left running (504)."""
    try:
        async with asyncio.timeout(within):
            doc: dict[str, Any] = await engine.json(
                "POST",
                f"containers/{ref}/wait",
                params={"condition": condition},
                long=True,
                kind="container",
                ref=ref,
            )
    except TimeoutError as exc:
        raise errors.Timeout(
            f"Container {ref} did not stop within {within:g} s; it was left as it is, still running"
        ) from exc
    err = doc.get("Error") or {}
    return WaitResult(status_code=int(doc.get("StatusCode", -1)), error=err.get("Message") or None)


async def output(engine: Engine, cid: str, *, tty: bool) -> tuple[str, str]:
    """The container's whole stdout and stderr, kept apart."""
    parts: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
    cut: set[str] = set()
    parser = FrameParser(tty=tty)
    async with engine.request(
        "GET",
        f"containers/{cid}/logs",
        params={"stdout": True, "stderr": True},
        long=True,
        kind="container",
        ref=cid,
    ) as resp:
        async for chunk in resp.content.iter_any():
            for stream, payload in parser.feed(chunk):
                buf = parts.get(stream)
                if buf is None:
                    continue
                room = MAX_OUTPUT - len(buf)
                if len(payload) > room:
                    cut.add(stream)
                buf.extend(payload[: max(room, 0)])
    out = {k: v.decode("utf-8", "replace") for k, v in parts.items()}
    for stream in cut:
        out[stream] += f"\n[moorage: {stream} cut at {MAX_OUTPUT} bytes]\n"
    return out["stdout"], out["stderr"]


async def run(
    engine: Engine,
    spec: RunSpec,
    *,
    max_timeout: float,
    client_gone: Callable[[], Awaitable[None]] | None = None,
) -> RunResult:
    """Create, start, wait for the exit, collect the output, remove (unless told not).

    The wait is bounded: by the caller's `timeout`, else by `max_timeout` (a `timeout`
    above it is refused). When `client_gone()` returns first, nobody will read the
    result: the wait stops, and a container that was to be removed is killed and removed
    at once (one to keep is left as it is, as on a timeout)."""
    if spec.timeout is not None and spec.timeout > max_timeout:
        raise errors.ValidationFailed.field(
            ["body", "timeout"],
            f"at most {max_timeout:g} s (MOORAGE_RUN_MAX_TIMEOUT); got {spec.timeout:g}",
        )
    within = spec.timeout if spec.timeout is not None else max_timeout
    payload = spec.to_engine()
    # moorage removes the container itself, after reading its output.
    payload["HostConfig"].pop("AutoRemove", None)
    keep = not (spec.remove or spec.auto_remove)
    cid, _ = await _create(engine, spec, payload)
    began = time.monotonic()
    await _start_or_remove(engine, cid)
    try:
        result = await _wait_unless_gone(engine, cid, within, client_gone)
    except errors.Timeout as exc:
        raise errors.Timeout(
            f"Container {cid[:12]} did not exit within {within:g} s; "
            "it was left as it is, still running",
            container_id=cid,
        ) from exc
    except errors.ClientGone:
        if keep:
            raise errors.ClientGone(
                f"The client went away before container {cid[:12]} exited; it was left "
                "as it is (remove=false)",
                container_id=cid,
            ) from None
        # Shielded: the request may be cancelled next, the removal must still happen.
        with contextlib.suppress(errors.NotFound):
            await asyncio.shield(remove(engine, cid))
        raise errors.ClientGone(
            f"The client went away before container {cid[:12]} exited; it was killed and removed",
            container_id=cid,
        ) from None
    duration = time.monotonic() - began
    try:
        stdout, stderr = await output(engine, cid, tty=spec.tty)
    finally:
        if not keep:
            with contextlib.suppress(errors.NotFound):
                await remove(engine, cid)
    if spec.check and result.status_code != 0:
        raise errors.ContainerError(
            f"Container {cid[:12]} exited with status {result.status_code}",
            exit_status=result.status_code,
            stderr=stderr,
            container_id=cid,
        )
    return RunResult(
        exit_code=result.status_code,
        stdout=stdout,
        stderr=stderr,
        duration_s=round(duration, 6),
        container_id=cid,
    )


async def _wait_unless_gone(
    engine: Engine,
    cid: str,
    within: float,
    client_gone: Callable[[], Awaitable[None]] | None,
) -> WaitResult:
    """`wait`, unless `client_gone()` returns first (then ClientGone)."""
    if client_gone is None:
        return await wait(engine, cid, within=within)
    waiting = asyncio.ensure_future(wait(engine, cid, within=within))
    gone = asyncio.ensure_future(client_gone())
    try:
        await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiting, gone):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, errors.ProblemError):
                    await task
    if gone.done() and not gone.cancelled():
        gone.exception()  # retrieved: a receive that failed is a client gone too
    if waiting.done() and not waiting.cancelled():
        return waiting.result()  # an exit that came with the disconnect still counts
    raise errors.ClientGone("The client went away")


async def _rename(engine: Engine, cid: str, name: str) -> None:
    await engine.json(
        "POST", f"containers/{cid}/rename", params={"name": name}, kind="container", ref=cid
    )


async def update(engine: Engine, ref: str, change: ContainerUpdate) -> Container:
    """Rename, then change limits / restart policy live; all or nothing."""
    doc = await inspect(engine, ref)
    cid, old_name = str(doc["Id"]), str(doc.get("Name") or "").lstrip("/")
    body = change.to_engine()
    current = doc.get("HostConfig") or {}
    swap, memory = int(current.get("MemorySwap") or 0), int(current.get("Memory") or 0)
    if "Memory" in body and "MemorySwap" not in body and body["Memory"] > 0:
        # Keep the swap allowance the container had: the engine refuses a memory limit
        # above the old memory+swap total, and refuses one on a container that had no
        # limit at all unless swap is given too (as `docker update --memory` does).
        body["MemorySwap"] = body["Memory"] + max(swap - memory, 0) if swap > 0 else -1
    renamed = change.name is not None and change.name.lstrip("/") != old_name
    if renamed and change.name is not None:
        await _rename(engine, cid, change.name)
    if body:
        try:
            await engine.json(
                "POST", f"containers/{cid}/update", json=body, kind="container", ref=ref
            )
        except errors.ProblemError as exc:
            if renamed:  # the update failed: undo the rename, so nothing changed
                try:
                    await asyncio.shield(_rename(engine, cid, old_name))
                except errors.ProblemError as undo:
                    log.warning("could not rename %s back to %s: %s", cid, old_name, undo)
            if isinstance(exc, errors.EngineError):
                # The engine answers 500 to limits it cannot apply: the request is the cause.
                raise errors.BadRequest(f"The engine refused the update: {exc.detail}") from exc
            raise
    return await get(engine, cid)
