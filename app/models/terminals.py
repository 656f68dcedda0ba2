"""Interactive terminals: what opening one answers, and a resize."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.models.common import RequestBody


class TerminalCreated(BaseModel):
    """An interactive exec, created and not yet started: open `ws` to run it."""

    exec_id: str
    ws: str = Field(
        description="The WebSocket path that starts it (`GET`, upgrade); within "
        "`MOORAGE_TERMINAL_REATTACH_GRACE` seconds, or the exec is dropped",
        examples=["/v1/execs/4f1c…/ws"],
    )
    tty: bool
    cmd: list[str] = Field(description="What runs (the shell chosen when none was given)")


class TerminalSize(RequestBody):
    """A terminal's size in character cells."""

    rows: int = Field(ge=1, le=1000)
    cols: int = Field(ge=1, le=1000)
