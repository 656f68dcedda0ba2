"""Where hosts come from: MOORAGE_HOSTS_FILE (TOML), and the hosts kept in moorage's
database (added through the API). Both give `HostSpec`s (app/models/hosts.py),
turned here into the `HostConfig`s that app/hosts.py opens.

    [[hosts]]
    name = "local"
    url = "unix:///var/run/docker.sock"
    default = true

    [[hosts]]
    name = "edge-1"
    url = "tcp://10.0.0.5:2376"
    tls = { ca = "certs/ca.pem", cert = "certs/cert.pem", key = "certs/key.pem" }
    labels = { site = "paris" }

    [[hosts]]
    name = "edge-2"
    url = "ssh://moorage@10.0.0.6"
    ssh = { key = "keys/id_ed25519", known_hosts = "keys/known_hosts" }
    disabled = true
    policy = "policies/edge.toml"   # its own policy, instead of MOORAGE_POLICY_FILE

Relative paths are read from the hosts file's directory. A file that does not parse,
names a host twice, or has two defaults stops moorage at start (a half-read hosts
file would silently drop engines).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from app.models.hosts import HostSpec
from app.targets import SshFiles, Target, TlsFiles

Source = Literal["env", "file", "api"]


@dataclass(frozen=True, slots=True)
class HostConfig:
    """A host as configured: where its engine is and how it is listed."""

    name: str
    target: Target
    default: bool = False
    disabled: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    # Its own policy file (instead of MOORAGE_POLICY_FILE); None: the global one.
    policy: Path | None = None
    source: Source = "env"  # env (DOCKER_HOST), file (MOORAGE_HOSTS_FILE) or api (database)


class HostsFileError(ValueError):
    """The hosts file cannot be used (moorage does not start)."""


def _path(value: str | None, base: Path | None) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() or base is None else base / path


def to_config(spec: HostSpec, source: Source, base: Path | None = None) -> HostConfig:
    """A host's spec as the plain data its engine is made from."""
    tls = ssh = None
    if spec.tls is not None:
        tls = TlsFiles(
            ca=_path(spec.tls.ca, base),
            cert=_path(spec.tls.cert, base),
            key=_path(spec.tls.key, base),
            verify=spec.tls.verify,
        )
    if spec.ssh is not None:
        ssh = SshFiles(key=_path(spec.ssh.key, base), known_hosts=_path(spec.ssh.known_hosts, base))
    return HostConfig(
        name=spec.name,
        target=Target(url=spec.url, tls=tls, ssh=ssh),
        default=spec.default,
        disabled=spec.disabled,
        labels=dict(spec.labels),
        policy=_path(spec.policy, base),
        source=source,
    )


def read_hosts_file(path: Path) -> list[HostSpec]:
    """The `[[hosts]]` of a hosts file, checked (HostsFileError says what is wrong)."""
    try:
        doc: dict[str, Any] = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise HostsFileError(f"{path}: {exc}") from exc
    extra = set(doc) - {"hosts"}
    if extra:
        raise HostsFileError(f"{path}: unknown table(s) {', '.join(sorted(extra))}")
    tables = doc.get("hosts")
    if not isinstance(tables, list) or not tables:
        raise HostsFileError(f"{path}: no [[hosts]] table")
    specs: list[HostSpec] = []
    for i, table in enumerate(tables):
        try:
            specs.append(HostSpec.model_validate(table))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'host'}: {e['msg']}" for e in exc.errors()
            )
            raise HostsFileError(f"{path}: hosts[{i}]: {problems}") from exc
    check_hosts(specs, str(path))
    return specs


def check_hosts(specs: list[HostSpec], where: str) -> None:
    """One name per host, at most one default."""
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise HostsFileError(f"{where}: host {spec.name!r} is named twice")
        seen.add(spec.name)
    defaults = [s.name for s in specs if s.default]
    if len(defaults) > 1:
        raise HostsFileError(f"{where}: more than one default host: {', '.join(defaults)}")


def file_configs(path: Path) -> list[HostConfig]:
    return [to_config(spec, "file", path.parent) for spec in read_hosts_file(path)]
