"""Container operations beyond the lifecycle: commit, changes, export, recreate on a
newer image (all or nothing), and whether a newer image is behind the tag."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from app import errors
from app.engine import Engine
from app.models.container_ops import (
    Change,
    CommitRequest,
    ImageUpdate,
    RecreateRequest,
    RecreateResult,
)
from app.models.images import DistributionRequest, Image, PullRequest, RegistryAuth
from app.services import containers, images
from app.services.registry_auth import parse_reference, registry_denied, registry_of

log = logging.getLogger("moorage.containers")


async def commit(engine: Engine, ref: str, req: CommitRequest) -> Image:
    """docker commit: the container's filesystem (and the changes) as a new image."""
    doc = await containers.inspect(engine, ref)
    made: dict[str, Any] = await engine.json(
        "POST", "commit", params=req.to_params(str(doc["Id"])), long=True, kind="container", ref=ref
    )
    return await images.get_image(engine, str(made["Id"]))


async def changes(engine: Engine, ref: str) -> list[Change]:
    docs = await engine.json("GET", f"containers/{ref}/changes", kind="container", ref=ref)
    return [Change.from_engine(d) for d in docs or []]


def export_chunks(engine: Engine, ref: str) -> AsyncIterator[bytes]:
    """The container's filesystem as a tar, chunk by chunk (never all in memory)."""
    return engine.chunks(f"containers/{ref}/export", kind="container", ref=ref)


# --- image-update -------------------------------------------------------------------


def _tag_of(doc: dict[str, Any]) -> str:
    ref = str((doc.get("Config") or {}).get("Image") or "")
    if not ref or ref.startswith("sha256:") or "@" in ref:
        raise errors.Conflict(
            f"Container {str(doc.get('Name', '')).lstrip('/')} was created from {ref!r}, "
            "not from a tag: there is no newer image to look for"
        )
    return ref


def _repository(ref: str) -> str:
    return parse_reference(ref, ("path", "id")).repository


async def image_update(engine: Engine, ref: str, auth: RegistryAuth | None) -> ImageUpdate:
    """The digest the container's image has locally against the registry's for its tag."""
    doc = await containers.inspect(engine, ref)
    tag = _tag_of(doc)
    try:
        remote = await images.registry_data(engine, DistributionRequest(image=tag, auth=auth))
    except errors.RegistryDenied as exc:
        registry = registry_of(_repository(tag))
        if registry in exc.detail:
            raise
        raise registry_denied(registry, exc.detail, auth) from None
    local = await images.get_image(engine, str(doc["Image"]))
    repo = _repository(tag)
    digests = [d.split("@", 1)[1] for d in local.digests if _repository(d.split("@", 1)[0]) == repo]
    return ImageUpdate(
        image=tag,
        current_digest=digests[0] if digests else None,
        registry_digest=remote.digest,
        update_available=remote.digest not in digests,
    )


# --- recreate -----------------------------------------------------------------------

# HostConfig keys whose inspect value is the engine's default and asks for nothing.
_EMPTY: tuple[Any, ...] = (None, "", 0, [], {}, False)


def _without_image_defaults(config: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """The container's config minus what it only had from its old image, so that the
    new image's defaults (command, environment, labels, ports, …) take their place —
    what the caller set is kept (Watchtower does the same)."""
    out = dict(config)
    for key in ("Cmd", "Entrypoint", "WorkingDir", "User", "Healthcheck", "StopSignal", "Shell"):
        if key in out and out[key] == image.get(key):
            out.pop(key)
    if out.get("Env"):
        inherited = set(image.get("Env") or [])
        out["Env"] = [e for e in out["Env"] if e not in inherited]
    if out.get("Labels"):
        inherited_labels = image.get("Labels") or {}
        out["Labels"] = {k: v for k, v in out["Labels"].items() if inherited_labels.get(k) != v}
    for key in ("ExposedPorts", "Volumes"):
        if out.get(key):
            out[key] = {k: v for k, v in out[key].items() if k not in (image.get(key) or {})}
    return {k: v for k, v in out.items() if v not in _EMPTY or k == "Tty"}


def _host_config(doc: dict[str, Any]) -> dict[str, Any]:
    """The container's HostConfig, with its anonymous volumes named so the new one
    mounts the same data (named volumes and binds are already in it)."""
    host = {k: v for k, v in (doc.get("HostConfig") or {}).items() if v not in _EMPTY}
    # Inspect shows the engine's default masked paths; asking for them again is asking
    # to override them (the policy refuses that): the new container gets the defaults.
    host.pop("MaskedPaths", None)
    host.pop("ReadonlyPaths", None)
    binds = list(host.get("Binds") or [])
    mounts = [m for m in host.get("Mounts") or [] if m.get("Source") or m.get("Type") != "volume"]
    covered = {b.split(":")[1] for b in binds if b.count(":") >= 1}
    covered |= {m.get("Target") for m in mounts}
    for m in doc.get("Mounts") or []:
        if m.get("Type") == "volume" and m.get("Destination") not in covered and m.get("Name"):
            binds.append(f"{m['Name']}:{m['Destination']}{'' if m.get('RW', True) else ':ro'}")
    if binds:
        host["Binds"] = binds
    if mounts:
        host["Mounts"] = mounts
    else:
        host.pop("Mounts", None)
    return host


def _endpoints(doc: dict[str, Any], short_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Each network with the settings that were asked for (aliases, static addresses)."""
    out = []
    for name, ep in ((doc.get("NetworkSettings") or {}).get("Networks") or {}).items():
        settings: dict[str, Any] = {}
        aliases = [a for a in ep.get("Aliases") or [] if a != short_id]
        if aliases:
            settings["Aliases"] = aliases
        if ep.get("IPAMConfig"):
            settings["IPAMConfig"] = ep["IPAMConfig"]
        for key in ("Links", "DriverOpts"):
            if ep.get(key):
                settings[key] = ep[key]
        out.append((name, settings))
    return out


def recreate_payload(
    doc: dict[str, Any], old_image: dict[str, Any], image: str, cgroupns_default: str
) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The create body of the same container on `image`, and the networks to connect."""
    short_id = str(doc["Id"])[:12]
    config = dict(doc.get("Config") or {})
    if config.get("Hostname") == short_id:
        config.pop("Hostname")  # the engine's default: the new one gets its own id
    body = _without_image_defaults(config, old_image.get("Config") or {})
    body["Image"] = image
    host = _host_config(doc)
    if host.get("CgroupnsMode") == cgroupns_default:
        # The engine's default (`host` on cgroup v1): asked again it reads as a request
        # for the host's namespace, which a policy refuses.
        host.pop("CgroupnsMode")
    body["HostConfig"] = host
    mode = str(host.get("NetworkMode") or "default")
    networks = _endpoints(doc, short_id)
    if mode.startswith("container:") or mode in ("host", "none"):
        return body, []
    primary = next((n for n in networks if n[0] == mode), networks[0] if networks else None)
    if primary is not None:
        body["NetworkingConfig"] = {"EndpointsConfig": {primary[0]: primary[1]}}
    return body, [n for n in networks if n is not primary]


async def _rename(engine: Engine, cid: str, name: str) -> None:
    await engine.json(
        "POST", f"containers/{cid}/rename", params={"name": name}, kind="container", ref=cid
    )


async def recreate(engine: Engine, ref: str, req: RecreateRequest) -> RecreateResult:
    """Stop and set aside the old container, make the new one in its place; if the new
    one cannot be made or started, it is removed and the old one is put back as it was."""
    doc = await containers.inspect(engine, ref)
    old_id, name = str(doc["Id"]), str(doc.get("Name") or "").lstrip("/")
    if (doc.get("HostConfig") or {}).get("AutoRemove"):
        raise errors.Conflict(
            f"Container {name} is removed when it stops (auto_remove): it cannot be "
            "recreated all or nothing"
        )
    image = req.image or str((doc.get("Config") or {}).get("Image") or "")
    if req.pull:
        await images.pull_image(engine, PullRequest(image=image, auth=req.auth))
    old_image: dict[str, Any] = await engine.json(
        "GET", f"images/{doc['Image']}/json", kind="image", ref=str(doc["Image"])
    )
    info: dict[str, Any] = await engine.json("GET", "info")
    cgroupns_default = "private" if str(info.get("CgroupVersion")) == "2" else "host"
    body, extra = recreate_payload(doc, old_image, image, cgroupns_default)
    running = bool((doc.get("State") or {}).get("Running"))
    aside = f"{name}-moorage-old-{old_id[:12]}"
    if engine.guard is not None:
        # Ask the policy before the old one is touched: a refusal costs no downtime.
        await engine.guard("POST", "containers/create", {"name": name}, body)

    if running:
        await containers.stop(engine, old_id, within=None)
    await _rename(engine, old_id, aside)
    new_id: str | None = None
    try:
        made: dict[str, Any] = await engine.json(
            "POST", "containers/create", params={"name": name}, json=body, kind="image", ref=image
        )
        new_id = str(made["Id"])
        for net, settings in extra:
            await containers.connect(engine, net, new_id, settings)
        if running:
            await containers.start(engine, new_id)
    except BaseException:
        await asyncio.shield(_put_back(engine, new_id, old_id, name, running))
        raise
    with contextlib.suppress(errors.NotFound):
        # The old one's volumes stay: the new one mounts them.
        await containers.remove(engine, old_id, force=True, volumes=False)
    new = await containers.inspect(engine, new_id)
    return RecreateResult(
        id=new_id,
        name=name,
        image=image,
        image_id=str(new.get("Image") or ""),
        previous_id=old_id,
        previous_image_id=str(doc.get("Image") or "") or None,
        running=bool((new.get("State") or {}).get("Running")),
    )


async def _put_back(
    engine: Engine, new_id: str | None, old_id: str, name: str, running: bool
) -> None:
    """Undo a recreate that failed: the new container gone, the old one as it was."""
    try:
        if new_id is not None:
            await containers.remove(engine, new_id, force=True, volumes=False)
        await _rename(engine, old_id, name)
        if running:
            await containers.start(engine, old_id)
    except errors.ProblemError as exc:
        log.error("recreate of %s failed and could not be undone: %s", name, exc)
