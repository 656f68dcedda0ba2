"""Where an engine is and how to reach it: the part of a host that transports read.

A `Target` is plain data (no connection): the hosts file and the hosts table build
one per host, `Settings` builds the one of `DOCKER_HOST`, and `Engine` turns it into
an aiodocker client (app/engine.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.settings import Settings

# A host's name (API.md "Several engines"): it travels in `?host=`, metrics labels and
# audit rows as it is, so nothing in it needs escaping.
HOST_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A TCP engine's certificates (PEM files); `verify` checks the server's."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    verify: bool = True


@dataclass(frozen=True, slots=True)
class SshFiles:
    """An SSH engine's client key and the known_hosts that must list its host key."""

    key: Path | None = None
    known_hosts: Path | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """`unix://…`, `tcp://…` / `https://…` (with `tls`) or `ssh://user@host[:port]`."""

    url: str
    tls: TlsFiles | None = None
    ssh: SshFiles | None = None


def target_from_settings(settings: Settings) -> Target:
    """The engine of `DOCKER_HOST`, TLS from `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH`,
    SSH files from `MOORAGE_DOCKER_SSH_KEY` / `MOORAGE_DOCKER_SSH_KNOWN_HOSTS`."""
    if settings.docker_host.startswith("ssh://"):
        ssh = SshFiles(key=settings.docker_ssh_key, known_hosts=settings.docker_ssh_known_hosts)
        return Target(url=settings.docker_host, ssh=ssh)
    tls = None
    if settings.docker_tls_verify or settings.docker_cert_path is not None:
        certs = settings.docker_cert_path
        tls = TlsFiles(
            ca=certs / "ca.pem" if certs is not None else None,
            cert=certs / "cert.pem" if certs is not None else None,
            key=certs / "key.pem" if certs is not None else None,
            verify=settings.docker_tls_verify,
        )
    return Target(url=settings.docker_host, tls=tls)
