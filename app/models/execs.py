"""Exec: run a command in a running container."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

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
    """What to run, and how (docker-py `exec_run`)."""

    cmd: Command = Field(examples=[["sh", "-c", "echo hello"], "ls -l /"])
    environment: KeyValues | None = Field(default=None, examples=[{"K": "V"}, ["K=V"]])
    workdir: str | None = None
    user: str | None = Field(default=None, examples=["nobody", "1000:1000"])
    privileged: bool = False
    tty: bool = False
    detach: bool = Field(default=False, description="Start it and answer 202 at once")
    demux: bool = Field(default=False, description="Keep stdout and stderr apart")

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
