"""Streamed downloads: a tar (container export, image save, `docker cp` out) as a file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

TAR = "application/x-tar"
OCTET = "application/octet-stream"
BINARY = {"schema": {"type": "string", "format": "binary"}}


def tar_media_type(request: Request) -> str:
    """`application/x-tar`, unless the client accepts only `application/octet-stream`."""
    accept = request.headers.get("accept", "")
    return OCTET if OCTET in accept and TAR not in accept else TAR


def tar_response_doc(description: str) -> dict[str, Any]:
    """The OpenAPI 200 of a tar download, in either media type."""
    return {"content": {OCTET: BINARY, TAR: BINARY}, "description": description}


def tar_download(request: Request, chunks: AsyncIterator[bytes], name: str) -> StreamingResponse:
    """The tar streamed as an attachment named `<name>.tar`."""
    return StreamingResponse(
        chunks,
        media_type=tar_media_type(request),
        headers={"Content-Disposition": f'attachment; filename="{name}.tar"'},
    )
