"""Archives (docker cp): tar bodies streamed both ways, never held in memory.

Out: the engine's tar body is handed to the client chunk by chunk. In: the request
body is handed to the engine chunk by chunk, after its first 512 bytes are checked
to be a tar header (or a compressed stream the engine unpacks), since the engine
answers a non-tar with a 500.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import AsyncIterator
from typing import Any

from app import errors
from app.engine import Engine
from app.models.container_io import PathStat

TAR_BLOCK = 512
_TAR_FAILURE = re.compile(r"\btar\b|unexpected eof")
# Compressed tar streams the engine unpacks on PUT (gzip, bzip2, xz, zstd).
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


def check_tar_head(head: bytes) -> None:
    """Refuse (400) a body whose start is neither a tar header nor a compressed stream."""
    if not head:
        raise errors.BadRequest("The body is empty; expected a tar archive")
    if head.startswith(_COMPRESSED_MAGIC):
        return
    if len(head) < TAR_BLOCK:
        raise errors.BadRequest(f"The body ({len(head)} bytes) is too short to be a tar archive")
    if not head[:TAR_BLOCK].strip(b"\0"):
        return  # an empty archive: zero blocks
    try:
        tarfile.TarInfo.frombuf(head[:TAR_BLOCK], "utf-8", "surrogateescape")
    except tarfile.HeaderError as exc:
        raise errors.BadRequest(f"The body is not a tar archive: {exc}") from exc


class Upload:
    """A request body as the engine's upload: its head checked, the rest streamed.

    Failures while reading the client's body (the body limit, a client gone) would
    reach us wrapped by aiohttp as connection errors; keep the original to report.
    """

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self._body = body
        self._head = b""
        self.error: BaseException | None = None

    async def read_head(self) -> None:
        head = bytearray()
        async for chunk in self._body:
            head.extend(chunk)
            if len(head) >= TAR_BLOCK:
                break
        self._head = bytes(head)
        check_tar_head(self._head)

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self._head
        try:
            async for chunk in self._body:
                if chunk:
                    yield chunk
        except BaseException as exc:
            self.error = exc
            raise


async def put_archive(
    engine: Engine,
    container: str,
    path: str,
    body: AsyncIterator[bytes],
    *,
    no_overwrite_dir_non_dir: bool = False,
    copy_uid_gid: bool = False,
) -> None:
    """Extract a tar (streamed from `body`) into `path` in the container."""
    upload = Upload(body)
    await upload.read_head()
    params: dict[str, Any] = {
        "path": path,
        "noOverwriteDirNonDir": no_overwrite_dir_non_dir,
        "copyUIDGID": copy_uid_gid,
    }
    try:
        async with engine.request(
            "PUT",
            f"containers/{container}/archive",
            params=params,
            data=upload.chunks(),
            headers={"Content-Type": "application/x-tar"},
            long=True,
        ):
            pass
    except errors.ProblemError as exc:
        if isinstance(upload.error, errors.ProblemError):
            raise upload.error from exc
        if upload.error is not None:
            raise errors.BadRequest(f"The request body could not be read: {upload.error}") from exc
        if isinstance(exc, errors.EngineError):
            detail = exc.detail.lower()
            # Older engines (20.10) answer 500 where newer ones answer 403 or 400.
            if "read-only" in detail:
                raise errors.Conflict(exc.detail) from exc
            if _TAR_FAILURE.search(detail):
                raise errors.BadRequest(
                    f"The body is not a valid tar archive: {exc.detail}"
                ) from exc
        raise


async def stat_path(engine: Engine, container: str, path: str) -> PathStat:
    """Stat a path in the container (HEAD archive: no tar is made)."""
    # A HEAD error has no body to say what is missing (and aiodocker fails to parse
    # the empty error), so ask about the container first.
    await engine.json("GET", f"containers/{container}/json", kind="container", ref=container)
    try:
        async with engine.request(
            "HEAD", f"containers/{container}/archive", params={"path": path}
        ) as response:
            header = response.headers.get("X-Docker-Container-Path-Stat")
    except (errors.NotFound, ValueError):
        raise errors.NotFound(f"Could not find the file {path} in container {container}") from None
    stat = PathStat.from_header(header)
    if stat is None:
        raise errors.EngineError("The engine sent no path stat")
    return stat
