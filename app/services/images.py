"""Images: pull, push and build as progress generators, plus the tar plumbing.

The engine reports pull, push and build failures *inside* a 200 JSON-lines body, so
each is written as an async generator of `StreamEvent`s — `progress` ({id, status,
current, total}), `log` (a build output line), and a last `done` carrying the
result — that raises a `ProblemError` for an in-band failure. The blocking routes
consume them (`pull_image`, `push_image`, `build_image`); the SSE routes relay the
same generators, event for event (`sse_events`).

Build contexts and image tarballs are streamed to the engine chunk by chunk, never
read whole; only the JSON build form makes its (small, bounded) tar in memory.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import tarfile
import tempfile
import time
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from pathlib import PurePosixPath
from typing import IO, Any, NamedTuple, TypeVar

import aiohttp
import orjson

from app import errors
from app.engine import Engine
from app.models.images import (
    BuildCachePruned,
    BuildCachePruneRequest,
    BuildOptions,
    BuildResult,
    BuildSpec,
    DistributionRequest,
    Filters,
    Image,
    ImagesPruned,
    Platform,
    PullRequest,
    PushRequest,
    PushResult,
    RegistryAuth,
    RegistryData,
)
from app.services.registry_auth import (
    encode_auth,
    is_auth_failure,
    is_unreachable,
    parse_reference,
    registry_denied,
    registry_of,
    registry_unreachable,
    scrub,
)
from app.streams import encode

log = logging.getLogger("moorage.images")

MAX_LINE = 1 << 20  # one progress line (a build step may print a lot on one line)
MAX_LOG = 1 << 20  # build output kept for the problem document / result (the tail)
TAR_BLOCK = 512


class StreamEvent(NamedTuple):
    """One event of a progress stream: `progress`, `log` or `done`."""

    event: str
    data: dict[str, Any]


ProgressStream = AsyncGenerator[StreamEvent, None]
T = TypeVar("T")


# --- references -----------------------------------------------------------------

_IMAGE_REF_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._:/@+-]{0,511}$")


def check_image_ref(ref: str) -> str:
    """An image reference from a path: name, name:tag, host:port/a/b:t, name@sha256:…, id."""
    if not _IMAGE_REF_RE.match(ref) or ".." in ref or "//" in ref or ref.endswith("/"):
        raise errors.ValidationFailed.field(
            ["path", "ref"], f"{ref[:80]!r} is not an image reference or id"
        )
    return ref


# --- the engine's JSON-lines progress bodies ------------------------------------


async def json_lines(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """The documents of a JSON-lines body, in any chunking."""
    buf = bytearray()
    async for chunk in response.content.iter_any():
        buf.extend(chunk)
        start = 0
        while (nl := buf.find(b"\n", start)) >= 0:
            line = bytes(buf[start:nl]).strip()
            start = nl + 1
            if line:
                yield _parse_line(line)
        del buf[:start]
        if len(buf) > MAX_LINE:
            raise errors.EngineError("The engine sent a progress line over 1 MiB")
    if buf.strip():
        yield _parse_line(bytes(buf).strip())


def _parse_line(line: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return {"stream": line.decode("utf-8", "replace") + "\n"}
    return doc if isinstance(doc, dict) else {"stream": f"{doc}\n"}


def in_band_error(doc: dict[str, Any]) -> str | None:
    """The failure message a progress document carries, if any."""
    if "error" in doc or "errorDetail" in doc:
        detail = doc.get("errorDetail") or {}
        return str(doc.get("error") or detail.get("message") or "unknown error")
    return None


def progress(doc: dict[str, Any]) -> StreamEvent:
    detail = doc.get("progressDetail") or {}
    return StreamEvent(
        "progress",
        {
            "id": doc.get("id"),
            "status": doc.get("status"),
            "current": detail.get("current"),
            "total": detail.get("total"),
        },
    )


_NOT_FOUND = re.compile(
    r"not found|manifest unknown|does not exist|no such image|repository .* not found", re.I
)


def registry_failure(
    message: str, registry: str, auth: RegistryAuth | None, ref: str
) -> errors.ProblemError:
    """What a pull/push failure means to the caller (the secret never in it)."""
    message = scrub(message, auth)
    if is_auth_failure(message):
        return registry_denied(registry, message, auth)
    if is_unreachable(message):
        return registry_unreachable(registry, message)
    if _NOT_FOUND.search(message):
        return errors.ImageNotFound(f"Image {ref!r} not found: {message}")
    return errors.EngineError(f"{registry}: {message}")


def engine_failure(
    exc: errors.ProblemError, registry: str, auth: RegistryAuth | None, ref: str
) -> errors.ProblemError:
    """A pull/push refused by the engine, as the registry's failure it stands for (a
    problem already about the registry or the image stays as it is)."""
    if isinstance(exc, errors.RegistryDenied | errors.ImageNotFound):
        return exc
    if isinstance(exc, errors.NotFound | errors.EngineError | errors.BadRequest):
        return registry_failure(exc.detail, registry, auth, ref)
    return exc


# --- pull and push ---------------------------------------------------------------


_BAD_PLATFORM = re.compile(
    r"unknown operating system or architecture|invalid platform|platform specifier", re.I
)


def pull_target(req: PullRequest) -> tuple[dict[str, Any], str]:
    """Engine query for `POST /images/create`, and the reference the result will have."""
    ref = parse_reference(req.image)
    if req.all_tags:
        if req.tag or ref.tag or ref.digest:
            raise errors.ValidationFailed.field(
                ["body", "all_tags"], "all_tags pulls every tag: give the repository alone"
            )
        return {"fromImage": ref.repository, "platform": req.platform}, ref.repository
    if ref.digest and not req.tag:
        return {"fromImage": f"{ref.repository}@{ref.digest}", "platform": req.platform}, (
            f"{ref.repository}@{ref.digest}"
        )
    tag = req.tag or ref.tag or "latest"
    return {"fromImage": ref.repository, "tag": tag, "platform": req.platform}, (
        f"{ref.repository}:{tag}"
    )


async def pull(engine: Engine, req: PullRequest) -> AsyncGenerator[StreamEvent, None]:
    """Pull an image: progress events, then `done` with the `Image`."""
    params, wanted = pull_target(req)
    registry = registry_of(parse_reference(req.image).repository)
    headers = {"X-Registry-Auth": encode_auth(req.auth, registry)}
    try:
        async with engine.request(
            "POST", "images/create", params=params, headers=headers, long=True, kind="image"
        ) as response:
            async for doc in json_lines(response):
                if (message := in_band_error(doc)) is not None:
                    raise registry_failure(message, registry, req.auth, wanted)
                yield progress(doc)
    except errors.ProblemError as exc:
        if req.platform and _BAD_PLATFORM.search(exc.detail):
            raise errors.ValidationFailed.field(["body", "platform"], exc.detail) from None
        failure = engine_failure(exc, registry, req.auth, wanted)
        if failure is exc:
            raise
        raise failure from None
    if req.all_tags:
        found = await list_images(engine, {"reference": [wanted]})
        # SSE `done` data is an object: `{"images": [...]}`.
        yield StreamEvent("done", {"images": [i.model_dump(mode="json") for i in found]})
        return
    image = await get_image(engine, wanted)
    yield StreamEvent("done", image.model_dump(mode="json"))


async def list_images(engine: Engine, filters: dict[str, list[str]]) -> list[Image]:
    docs: list[dict[str, Any]] = await engine.json(
        "GET", "images/json", params={"filters": filters or None}
    )
    return [Image.from_engine(d) for d in docs or []]


async def push(engine: Engine, req: PushRequest) -> AsyncGenerator[StreamEvent, None]:
    """Push a repository (one tag, or all): progress events, then `done` (`PushResult`)."""
    ref = parse_reference(req.repository, ("body", "repository"))
    if ref.digest:
        raise errors.ValidationFailed.field(["body", "repository"], "push a tag, not a digest")
    tag = req.tag or ref.tag
    registry = registry_of(ref.repository)
    headers = {"X-Registry-Auth": encode_auth(req.auth, registry)}
    result: dict[str, Any] = {"repository": ref.repository, "tag": tag}
    wanted = f"{ref.repository}:{tag}" if tag else ref.repository
    try:
        async with engine.request(
            "POST",
            f"images/{ref.repository}/push",
            params={"tag": tag},
            headers=headers,
            long=True,
            kind="image",
        ) as response:
            async for doc in json_lines(response):
                if (message := in_band_error(doc)) is not None:
                    raise registry_failure(message, registry, req.auth, wanted)
                aux = doc.get("aux")
                if isinstance(aux, dict) and "Digest" in aux:
                    result.update(tag=aux.get("Tag"), digest=aux["Digest"], size=aux.get("Size"))
                    continue
                yield progress(doc)
    except errors.ProblemError as exc:
        failure = engine_failure(exc, registry, req.auth, wanted)
        if failure is exc:
            raise
        raise failure from None
    yield StreamEvent("done", PushResult.model_validate(result).model_dump(mode="json"))


async def registry_data(engine: Engine, req: DistributionRequest) -> RegistryData:
    """The manifest digest and platforms of a reference, asked of its registry."""
    ref = parse_reference(req.image)
    registry = registry_of(ref.repository)
    headers = {"X-Registry-Auth": encode_auth(req.auth, registry)}
    try:
        doc: dict[str, Any] = await engine.json(
            "GET", f"distribution/{req.image}/json", headers=headers, kind="image", ref=req.image
        )
    except (errors.NotFound, errors.EngineError, errors.BadRequest) as exc:
        raise registry_failure(exc.detail, registry, req.auth, req.image) from None
    descriptor = doc.get("Descriptor") or {}
    return RegistryData(
        image=req.image,
        digest=str(descriptor.get("digest") or ""),
        media_type=descriptor.get("mediaType"),
        size=descriptor.get("size"),
        platforms=[Platform.model_validate(p) for p in doc.get("Platforms") or []],
    )


async def sse_events(events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
    """A progress stream as SSE: `progress`, `log` and the last `done`, each its own
    event; a failure raises on (the SSE wrapper sends it as `event: error`)."""
    try:
        async for ev in events:
            yield encode(ev.event, ev.data)
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


async def pull_image(engine: Engine, req: PullRequest) -> Image:
    """Pull one tag to completion."""
    result = await pull_images(engine, req.model_copy(update={"all_tags": False}))
    assert isinstance(result, Image)
    return result


async def pull_images(engine: Engine, req: PullRequest) -> Image | list[Image]:
    """Pull to completion: the image, or with `all_tags` every image of the repository."""
    async with aclosing(pull(engine, req)) as events:
        async for ev in events:
            if ev.event == "done":
                if req.all_tags:
                    return [Image.model_validate(d) for d in ev.data["images"]]
                return Image.model_validate(ev.data)
    raise errors.EngineError("The pull ended without a result")  # pragma: no cover


async def push_image(engine: Engine, req: PushRequest) -> PushResult:
    """Push to completion."""
    async with aclosing(push(engine, req)) as events:
        async for ev in events:
            if ev.event == "done":
                return PushResult.model_validate(ev.data)
    raise errors.EngineError("The push ended without a result")  # pragma: no cover


# --- build -----------------------------------------------------------------------


def build_params(options: BuildOptions, dockerfile: str | None) -> dict[str, Any]:
    """The engine's `POST /build` query (API 1.41, legacy builder)."""
    tags = options.tags()
    return {
        "t": tags[0] if tags else None,
        "dockerfile": dockerfile,
        "target": options.target,
        "buildargs": options.buildargs or None,
        "labels": options.labels or None,
        "nocache": options.nocache,
        "pull": options.pull,
        "rm": options.rm,
        "forcerm": options.forcerm,
        "platform": options.platform,
        "networkmode": options.network,
        "cachefrom": options.cache_from or None,
        "shmsize": options.shmsize,
        "squash": options.squash or None,
        "q": options.quiet or None,
        **(options.container_limits.to_params() if options.container_limits else {}),
    }


def build_path(options: BuildOptions) -> str:
    """`build`, with one `extrahosts` value per host in its query: the engine reads the
    repeated parameter, and query params (a mapping) cannot repeat a key."""
    if not options.extra_hosts:
        return "build"
    return "build?" + urllib.parse.urlencode([("extrahosts", h) for h in options.extra_hosts])


async def check_squash(engine: Engine, options: BuildOptions) -> None:
    """`squash` needs an engine running with experimental features: say so up front."""
    if not options.squash:
        return
    info: dict[str, Any] = await engine.json("GET", "info")
    if not info.get("ExperimentalBuild"):
        raise errors.ValidationFailed.field(
            ["squash"],
            "this engine does not run with experimental features (dockerd --experimental), "
            "which squash needs",
        )


async def prune_builds(engine: Engine, req: BuildCachePruneRequest) -> BuildCachePruned:
    """Remove build cache (docker-py `images.prune_builds`)."""
    doc: dict[str, Any] = await engine.json(
        "POST",
        "build/prune",
        params={
            "all": req.all or None,
            "keep-storage": req.keep_storage,
            "filters": engine_filters(req.filters) or None,
        },
        long=True,
    )
    return BuildCachePruned(
        deleted=list(doc.get("CachesDeleted") or []),
        space_reclaimed=int(doc.get("SpaceReclaimed") or 0),
    )


_BUILT = re.compile(r"Successfully built ([0-9a-f]{12,64})")
# A quiet build (`q=1`) prints only the image id.
_QUIET_ID = re.compile(r"^(sha256:[0-9a-f]{64})\s*$", re.M)


class _BuildLog:
    """The build output: split into lines, the tail kept for the result."""

    def __init__(self) -> None:
        self._partial = ""
        self._kept: list[str] = []
        self._size = 0

    def feed(self, text: str) -> list[str]:
        text = self._partial + text
        *lines, self._partial = text.split("\n")
        for line in lines:
            self._keep(line)
        return lines

    def flush(self) -> list[str]:
        rest, self._partial = self._partial, ""
        if rest:
            self._keep(rest)
            return [rest]
        return []

    def _keep(self, line: str) -> None:
        self._kept.append(line)
        self._size += len(line) + 1
        while self._size > MAX_LOG and len(self._kept) > 1:
            self._size -= len(self._kept.pop(0)) + 1

    @property
    def text(self) -> str:
        return "".join(f"{line}\n" for line in self._kept)


async def build(
    engine: Engine,
    context: Upload | bytes,
    options: BuildOptions,
    dockerfile: str | None = None,
) -> AsyncGenerator[StreamEvent, None]:
    """Build from a tar context: `log` lines (and `progress` of base pulls), then `done`
    with `{image, tags}`; an in-band failure raises 422 build-failed carrying the log."""
    for tag in options.tags():
        parse_reference(tag, ("tag",))
    await check_squash(engine, options)
    output = _BuildLog()
    image_id: str | None = None
    try:
        async with engine.request(
            "POST",
            build_path(options),
            params=build_params(options, dockerfile),
            data=context,
            headers={"Content-Type": "application/x-tar"},
            long=True,
        ) as response:
            async for doc in json_lines(response):
                if (message := in_band_error(doc)) is not None:
                    for line in output.flush():
                        yield StreamEvent("log", {"line": line})
                    text = output.text + message + "\n"
                    if is_unreachable(message):  # a base image's registry, not the build
                        raise registry_unreachable(None, message, log=text)
                    raise errors.BuildFailed(message, log=text)
                if isinstance(doc.get("stream"), str):
                    for line in output.feed(doc["stream"]):
                        yield StreamEvent("log", {"line": line})
                elif isinstance(doc.get("aux"), dict) and doc["aux"].get("ID"):
                    image_id = str(doc["aux"]["ID"])
                elif "status" in doc:
                    yield progress(doc)
    except Exception as exc:
        if (failure := upload_failure(context)) is not None:
            raise failure from None
        if isinstance(exc, errors.RegistryUnreachable):
            raise
        if isinstance(exc, errors.BadRequest | errors.EngineError | errors.NotFound):
            # The engine refused before building (no Dockerfile, bad context, bad option).
            raise errors.BuildFailed(exc.detail, log=output.text + exc.detail + "\n") from None
        raise
    finally:
        if isinstance(context, SpooledUpload):
            context.close()
    for line in output.flush():
        yield StreamEvent("log", {"line": line})
    if image_id is None and (m := _BUILT.search(output.text) or _QUIET_ID.search(output.text)):
        image_id = m.group(1)
    if image_id is None:
        raise errors.BuildFailed("The build produced no image", log=output.text)
    tags = options.tags()
    for extra in tags[1:]:
        await tag_image(engine, image_id, extra)
    yield StreamEvent("done", {"image": image_id, "tags": tags})


async def build_image(
    engine: Engine,
    context: Upload | bytes,
    options: BuildOptions,
    dockerfile: str | None = None,
) -> BuildResult:
    """Build to completion: the image id, its tags and the whole output."""
    lines: list[str] = []
    async with aclosing(build(engine, context, options, dockerfile)) as events:
        async for ev in events:
            if ev.event == "log":
                lines.append(ev.data["line"])
            elif ev.event == "done":
                return BuildResult(
                    image=ev.data["image"], tags=ev.data["tags"], logs="\n".join(lines) + "\n"
                )
    raise errors.EngineError("The build ended without a result")  # pragma: no cover


JSON_DOCKERFILE = "Dockerfile"


def context_tar(spec: BuildSpec) -> bytes:
    """The tar context of the JSON build form (small: bounded by the JSON body limit)."""
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        entries = {JSON_DOCKERFILE: spec.dockerfile}
        for path, text in spec.files.items():
            clean = PurePosixPath(path)
            if clean.is_absolute() or ".." in clean.parts or not path.strip() or path.endswith("/"):
                raise errors.ValidationFailed.field(
                    ["body", "files", path], "a file path must be relative, without '..'"
                )
            if str(clean) == JSON_DOCKERFILE:
                raise errors.ValidationFailed.field(
                    ["body", "files", path], "the Dockerfile comes from `dockerfile`"
                )
            entries[str(clean)] = text
        for path, text in entries.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), int(now), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# --- tar bodies ------------------------------------------------------------------


def looks_like_tar(head: bytes) -> bool:
    """A tar (checked by its first header's checksum) or a compressed stream."""
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")):
        return True
    if len(head) < TAR_BLOCK:
        return False
    block = head[:TAR_BLOCK]
    if block == bytes(TAR_BLOCK):
        return True  # an empty archive (end-of-archive blocks)
    try:
        stored = int(block[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    signed = sum((b - 256 if b > 127 else b) for b in block[:148] + block[156:]) + 8 * 32
    return stored in (unsigned, signed)


class Upload:
    """An uploaded body on its way to the engine.

    When the upload fails on our side (the body limit, the client going away), aiohttp
    reports it as a broken engine connection; `failure` says what really happened.
    """

    def __init__(self, head: bytes, chunks: AsyncIterator[bytes], what: str) -> None:
        self._head = head
        self._chunks = chunks
        self.what = what
        self.error: BaseException | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._head
        try:
            async for chunk in self._chunks:
                if chunk:
                    yield chunk
        except Exception as exc:
            self.error = exc
            raise

    @property
    def failure(self) -> errors.ProblemError | None:
        if self.error is None:
            return None
        if isinstance(self.error, errors.ProblemError):
            return self.error
        return errors.BadRequest(f"The {self.what} upload was cut short ({self.error!r})")


class SpooledUpload(Upload):
    """An upload kept whole in a temporary file (on disk: memory stays bounded) before
    it goes on, so that the policy can read the Dockerfile a streamed context holds
    and judge every FROM in it (`app.policy.TarContext`). The body limit still bounds
    it: the middleware cuts the stream while it is spooled."""

    CHUNK = 1 << 16

    def __init__(self, file: IO[bytes], what: str) -> None:
        super().__init__(b"", _no_chunks(), what)
        self._file = file

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self._file.seek(0)
        while chunk := await asyncio.to_thread(self._file.read, self.CHUNK):
            yield chunk

    def read_tar(self, reader: Callable[[IO[bytes], str], T], name: str) -> T:
        self._file.seek(0)
        return reader(self._file, name)

    def close(self) -> None:
        self._file.close()


async def _no_chunks() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover


async def spool(upload: Upload) -> SpooledUpload:
    """Read an upload to its end into a temporary file (413 past the body limit)."""
    file = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the SpooledUpload
    try:
        async for chunk in upload:
            await asyncio.to_thread(file.write, chunk)
    except Exception:
        file.close()
        if (failure := upload.failure) is not None:
            raise failure from None
        raise
    return SpooledUpload(file, upload.what)


def upload_failure(body: object) -> errors.ProblemError | None:
    return body.failure if isinstance(body, Upload) else None


async def tar_stream(chunks: AsyncIterator[bytes], what: str) -> Upload:
    """Check that an uploaded body is a tar (400 if not), then stream it on.

    Reads only the first block before answering; the rest flows through.
    """
    head = bytearray()
    async for chunk in chunks:
        head.extend(chunk)
        if len(head) >= TAR_BLOCK:
            break
    if not head:
        raise errors.BadRequest(f"The {what} is empty: send a tar archive")
    if not looks_like_tar(bytes(head)):
        raise errors.BadRequest(f"The {what} is not a tar archive")
    return Upload(bytes(head), chunks, what)


# --- simple calls ------------------------------------------------------------------


async def get_image(engine: Engine, ref: str) -> Image:
    doc: dict[str, Any] = await engine.json("GET", f"images/{ref}/json", kind="image", ref=ref)
    return Image.from_engine(doc)


async def tag_image(engine: Engine, ref: str, target: str) -> None:
    """Tag `ref` as `target` (`repo[:tag]`)."""
    parsed = parse_reference(target, ("body", "repository"))
    if parsed.digest:
        raise errors.ValidationFailed.field(["body", "tag"], "a tag cannot carry a digest")
    await engine.json(
        "POST",
        f"images/{ref}/tag",
        params={"repo": parsed.repository, "tag": parsed.tag or "latest"},
        kind="image",
        ref=ref,
    )


_IN_USE = re.compile(r"is using|being used|in use", re.I)


async def delete_image(engine: Engine, ref: str, *, force: bool, noprune: bool) -> None:
    try:
        await engine.json(
            "DELETE",
            f"images/{ref}",
            params={"force": force, "noprune": noprune},
            kind="image",
            ref=ref,
        )
    except errors.Conflict as exc:
        if _IN_USE.search(exc.detail) and not isinstance(exc, errors.InUse):
            raise errors.InUse(exc.detail) from None
        raise


def engine_filters(filters: Filters) -> dict[str, list[str]]:
    """`{"label": "a=b", "dangling": true}` → the engine's `{"label": ["a=b"], …}`."""
    out: dict[str, list[str]] = {}
    for key, value in filters.items():
        if isinstance(value, bool):
            out[key] = ["true" if value else "false"]
        elif isinstance(value, str):
            out[key] = [value]
        else:
            out[key] = [str(v) for v in value]
    return out


async def prune_images(engine: Engine, dangling: bool, filters: Filters) -> ImagesPruned:
    flt = engine_filters(filters)
    flt.setdefault("dangling", ["true" if dangling else "false"])
    doc = await engine.json("POST", "images/prune", params={"filters": flt}, long=True) or {}
    removed = doc.get("ImagesDeleted") or []
    return ImagesPruned(
        deleted=[str(d["Deleted"]) for d in removed if d.get("Deleted")],
        untagged=[str(d["Untagged"]) for d in removed if d.get("Untagged")],
        space_reclaimed=int(doc.get("SpaceReclaimed") or 0),
    )


_LOADED = re.compile(r"Loaded image(?: ID)?: (\S+)")


async def load_images(engine: Engine, body: Upload) -> list[Image]:
    """`docker load`: stream the tarball in, give the images it held."""
    refs: list[str] = []
    try:
        async with engine.request(
            "POST",
            "images/load",
            params={"quiet": True},
            data=body,
            headers={"Content-Type": "application/x-tar"},
            long=True,
        ) as response:
            async for doc in json_lines(response):
                if (message := in_band_error(doc)) is not None:
                    raise errors.BadRequest(f"The engine could not load the archive: {message}")
                for m in _LOADED.finditer(str(doc.get("stream") or "")):
                    refs.append(m.group(1))
    except Exception:
        if (failure := upload_failure(body)) is not None:
            raise failure from None
        raise
    return [await get_image(engine, ref) for ref in refs]


def export_chunks(engine: Engine, ref: str) -> AsyncIterator[bytes]:
    """`docker save` of one image, chunk by chunk."""
    return engine.chunks(f"images/{ref}/get", kind="image", ref=ref)
