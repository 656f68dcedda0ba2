"""Container input/output: log lines, processes, archive path stats."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from app import errors

# Go's os.FileMode type bits, as the engine sends them in a path stat.
_MODE_DIR = 1 << 31
_MODE_SYMLINK = 1 << 27
_MODE_PERM = 0o7777


class LogEntry(BaseModel):
    """One log line (an NDJSON line of `containers_logs`)."""

    stream: Literal["stdout", "stderr", "stdin"]
    ts: str | None = Field(default=None, examples=["2024-05-01T12:00:00.123456789Z"])
    line: str


class ProcessTable(BaseModel):
    """`docker top`: the `ps` column titles and one row of strings per process."""

    titles: list[str]
    processes: list[list[str]]


class PathStat(BaseModel):
    """A path in a container, as the engine stats it for `docker cp`."""

    name: str
    size: int
    mode: int = Field(description="Go os.FileMode bits, type bits included")
    permissions: str = Field(examples=["0644"], description="Permission bits, octal")
    is_dir: bool
    is_symlink: bool
    mtime: str | None = None
    link_target: str = ""

    @classmethod
    def from_header(cls, value: str | None) -> PathStat | None:
        """The engine's `X-Docker-Container-Path-Stat` header (base64 JSON)."""
        if not value:
            return None
        try:
            doc: dict[str, Any] = json.loads(base64.b64decode(value))
            mode = int(doc.get("mode") or 0)
            return cls(
                name=str(doc.get("name") or ""),
                size=int(doc.get("size") or 0),
                mode=mode,
                permissions=f"{mode & _MODE_PERM:04o}",
                is_dir=bool(mode & _MODE_DIR),
                is_symlink=bool(mode & _MODE_SYMLINK),
                mtime=doc.get("mtime") or None,
                link_target=str(doc.get("linkTarget") or ""),
            )
        except (binascii.Error, ValueError, TypeError, AttributeError) as exc:
            raise errors.EngineError(f"The engine sent an unreadable path stat: {exc}") from exc

    def header(self) -> str:
        """As the `X-Moorage-Path-Stat` response header: JSON, ASCII only."""
        return json.dumps(self.model_dump(), ensure_ascii=True, separators=(",", ":"))


def check_container_path(value: str) -> str:
    """A path inside a container, from a query: bounded, no NUL."""
    if not value or len(value) > 4096 or "\x00" in value:
        raise errors.ValidationFailed.field(["query", "path"], "a path of 1 to 4096 characters")
    return value
