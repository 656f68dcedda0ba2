"""Exec: run a command in a running container."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from app.models.common import EngineView, KeyValues, RequestBody, shell_split

Command = Annotated[
    list[str],
    Field(min_length=1),
    BeforeValidator(
        shell_split,
        json_schema_input_type=Annotated[str, Field(min_length=1)]
        | Annotated[list[str], Field(min_length=1)],
    ),
]


class ExecSpec(RequestBody):
    """What to run, and how (docker-py `exec_run`; `interactive`: `docker exec -it`)."""

    cmd: Command | None = Field(
        default=None,
        examples=[["sh", "-c", "echo hello"], "ls -l /"],
        description="Required, except with `interactive` (default: bash if there, else sh)",
    )
    environment: KeyValues | None = Field(default=None, examples=[{"K": "V"}, ["K=V"]])
    workdir: str | None = None
    user: str | None = Field(default=None, examples=["nobody", "1000:1000"])
    privileged: bool = False
    tty: bool = False
    detach: bool = Field(default=False, description="Start it and answer 202 at once")
    demux: bool = Field(default=False, description="Keep stdout and stderr apart")
    interactive: bool = Field(
        default=False,
        description="A terminal: answer 201 `{exec_id, ws}` and run it over the WebSocket "
        "`ws` (stdin, resize); see the API's Interactive terminals",
    )
    rows: int | None = Field(default=None, ge=1, le=1000, description="Initial TTY height")
    cols: int | None = Field(default=None, ge=1, le=1000, description="Initial TTY width")

    @model_validator(mode="after")
    def _needs_cmd(self) -> ExecSpec:
        if self.cmd is None and not self.interactive:
            raise ValueError("cmd is required (it may be left out only with interactive)")
        if self.interactive and self.detach:
            raise ValueError("interactive and detach exclude each other")
        return self

    def to_engine(self) -> dict[str, Any]:
        """The engine's exec create body."""
        attach = not self.detach
        body: dict[str, Any] = {
            "Cmd": self.cmd,
            "AttachStdout": attach,
            "AttachStderr": attach,
            "Tty": self.tty,
            "Privileged": self.privileged,
        }
        if self.interactive:
            body["AttachStdin"] = True
        if self.environment:
            body["Env"] = [f"{k}={v}" for k, v in self.environment.items()]
        if self.workdir:
            body["WorkingDir"] = self.workdir
        if self.user:
            body["User"] = self.user
        return body


class ExecOutput(BaseModel):
    """An attached exec's result: stdout and stderr together, in order."""

    exit_code: int
    output: str
    truncated: bool = Field(default=False, description="Output past 16 MiB was dropped")


class ExecDemuxOutput(BaseModel):
    """An attached exec's result with `demux`: stdout and stderr apart."""

    exit_code: int
    stdout: str
    stderr: str
    truncated: bool = Field(default=False, description="Output past 16 MiB was dropped")


class ExecStarted(BaseModel):
    """A detached exec: read its state at `GET /v1/execs/{exec_id}`."""

    exec_id: str


class ExecProcess(BaseModel):
    entrypoint: str | None = None
    arguments: list[str] = Field(default_factory=list)
    tty: bool = False
    privileged: bool = False
    user: str | None = None


class ExecState(EngineView):
    """An exec instance's state."""

    id: str = Field(validation_alias="ID")
    container_id: str = Field(validation_alias="ContainerID")
    running: bool
    exit_code: int | None = None
    pid: int | None = None
    open_stdin: bool = False
    open_stdout: bool = False
    open_stderr: bool = False
    can_remove: bool = False
    process_config: ExecProcess | None = None
