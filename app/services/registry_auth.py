"""Image references and registry credentials.

moorage builds `X-Registry-Auth` itself: aiodocker takes the text before the first
`/` as the registry, which is wrong for `nginx` (it raises) and for Docker Hub's
`user/repo` (it picks server `user`). The rule the docker CLI uses (distribution's
reference parser): the first component names a registry only when it holds a `.`
or a `:` or is `localhost`; otherwise the image lives on Docker Hub.

Credentials are used for one engine call and never stored or logged: the
`RegistryAuth` model keeps them in `SecretStr`, whose repr is masked.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

import orjson

from app import errors
from app.models.images import RegistryAuth

DOCKER_HUB = "docker.io"
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"

# name[:tag][@digest]; name = [registry/]path, lowercase path components.
_REFERENCE_RE = re.compile(
    r"^(?P<name>[a-zA-Z0-9][a-zA-Z0-9._:/-]*?)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}))?$"
)


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed image reference: `registry/path:tag@digest` (registry may be implied)."""

    repository: str  # as written, without tag or digest
    tag: str | None
    digest: str | None

    @property
    def registry(self) -> str:
        return registry_of(self.repository)


def parse_reference(ref: str, loc: tuple[str, ...] = ("body", "image")) -> Reference:
    """Split `host:port/team/app:1.0@sha256:…` into repository, tag and digest."""
    m = _REFERENCE_RE.match(ref)
    if not m or "//" in ref or ref.endswith("/") or ".." in ref or not _valid_name(m["name"]):
        raise errors.ValidationFailed.field(list(loc), f"{ref[:200]!r} is not an image reference")
    return Reference(m.group("name"), m.group("tag"), m.group("digest"))


_HOST_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9-]+)*(?::\d{1,5})?$"
)
_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


def _valid_name(name: str) -> bool:
    """The distribution spec's name: an optional `host[:port]/`, then lowercase components,
    255 characters at most."""
    if len(name) > 255:
        return False
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _HOST_RE.match(first):
            return False
        name = rest
    return all(_COMPONENT_RE.match(part) for part in name.split("/"))


def registry_of(repository: str) -> str:
    """The registry host a repository lives on (`docker.io` for Hub names)."""
    first, sep, _ = repository.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def encode_auth(auth: RegistryAuth | None, registry: str) -> str:
    """The `X-Registry-Auth` header value (base64url JSON; `{}` for no credentials)."""
    doc: dict[str, str] = {}
    if auth is not None:
        server = auth.serveraddress or (DOCKER_HUB_SERVER if registry == DOCKER_HUB else registry)
        if auth.identitytoken is not None:
            doc["identitytoken"] = auth.identitytoken.get_secret_value()
        if auth.username is not None:
            doc["username"] = auth.username
        if auth.password is not None:
            doc["password"] = auth.password.get_secret_value()
        doc["serveraddress"] = server
    return base64.urlsafe_b64encode(orjson.dumps(doc)).decode("ascii")


_AUTH_FAILURE = re.compile(
    r"no basic auth credentials|unauthorized|authentication required|"
    r"incorrect username or password|requested access to the resource is denied",
    re.I,
)


def is_auth_failure(message: str) -> bool:
    return bool(_AUTH_FAILURE.search(message))


# The engine's words (Go's net/http and net) for a registry it could not talk to at all.
_UNREACHABLE = re.compile(
    r"dial tcp|dial udp|no such host|connection refused|network is unreachable"
    r"|no route to host|i/o timeout|tls handshake timeout|connection reset by peer"
    r"|context deadline exceeded|client\.timeout exceeded|server gave http response to https"
    r"|x509: |tls: ",
    re.I,
)


def is_unreachable(message: str) -> bool:
    return bool(_UNREACHABLE.search(message))


def registry_unreachable(
    registry: str | None, message: str, **extra: Any
) -> errors.RegistryUnreachable:
    """502 registry-unreachable naming the registry (a failure beyond the engine); with
    no registry given, the one the engine's message names (`Get "https://host/v2/"`)."""
    if registry is None:
        m = re.search(r"https?://([^/\"\s]+)", message)
        registry = m.group(1) if m else "unknown"
    return errors.RegistryUnreachable(
        f"Registry {registry} cannot be reached: {message}", registry=registry, **extra
    )


def registry_denied(
    registry: str, message: str, auth: RegistryAuth | None
) -> errors.RegistryDenied:
    """403 registry-denied naming the registry; the engine's message, scrubbed."""
    given = "the credentials given" if auth is not None else "no credentials"
    return errors.RegistryDenied(
        f"Registry {registry} refused {given}: {scrub(message, auth)}", registry=registry
    )


def scrub(text: str, auth: RegistryAuth | None) -> str:
    """Remove any secret of `auth` from a message (engines never echo them; be sure)."""
    if auth is None:
        return text
    for secret in (auth.password, auth.identitytoken):
        if secret is not None and secret.get_secret_value():
            text = text.replace(secret.get_secret_value(), "***")
    return text
