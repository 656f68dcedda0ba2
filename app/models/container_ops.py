"""Bodies and answers of the container operations docker-py and Watchtower users reach
for: commit, changes (`diff`), recreate and image-update."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from app.models.common import RequestBody
from app.models.images import RegistryAuth

Repository = Annotated[
    str, Field(min_length=1, max_length=512, pattern=r"^[a-z0-9][a-z0-9._:/-]*$")
]
Tag = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w][\w.-]*$")]
# Dockerfile instructions commit may apply (the engine's list).
CHANGE_INSTRUCTIONS = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)


class CommitRequest(RequestBody):
    """docker-py `Container.commit(repository, tag, message, author, changes, pause)`."""

    repository: Repository | None = Field(default=None, examples=["team/app"])
    tag: Tag | None = Field(default=None, examples=["snapshot"])
    message: Annotated[str, Field(max_length=4096)] | None = None
    author: Annotated[str, Field(max_length=256)] | None = None
    changes: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=4096)]], Field(max_length=64)]
        | None
    ) = Field(default=None, examples=[["ENV DEBUG=1", 'CMD ["sh"]']])
    pause: bool = Field(default=True, description="Pause the container while it is committed")

    @field_validator("changes", mode="before")
    @classmethod
    def _lines(cls, value: Any) -> Any:
        # docker-py takes one string (lines) or a list.
        return [ln for ln in value.splitlines() if ln.strip()] if isinstance(value, str) else value

    @field_validator("changes")
    @classmethod
    def _instructions(cls, value: list[str] | None) -> list[str] | None:
        for line in value or []:
            words = line.split(None, 1)
            if not words:
                raise ValueError("a change is a Dockerfile instruction, not blank")
            word = words[0].upper()
            if word not in CHANGE_INSTRUCTIONS:
                raise ValueError(
                    f"{word[:40]!r} is not an instruction commit applies "
                    f"({', '.join(CHANGE_INSTRUCTIONS)})"
                )
        return value

    def to_params(self, container: str) -> dict[str, Any]:
        return {
            "container": container,
            "repo": self.repository,
            "tag": self.tag,
            "comment": self.message,
            "author": self.author,
            # The engine joins its `changes` values with newlines: one value says it all.
            "changes": "\n".join(self.changes) if self.changes else None,
            "pause": self.pause,
        }


ChangeKind = Literal["modified", "added", "deleted"]
_KINDS: dict[int, ChangeKind] = {0: "modified", 1: "added", 2: "deleted"}


class Change(BaseModel):
    """One filesystem change (docker-py `diff()`; the engine's Kind 0/1/2)."""

    path: str
    kind: ChangeKind

    @classmethod
    def from_engine(cls, doc: dict[str, Any]) -> Change:
        return cls(
            path=str(doc.get("Path") or ""), kind=_KINDS.get(int(doc.get("Kind", 0)), "modified")
        )


class RecreateRequest(RequestBody):
    """The same container on a newer image: name, config, networks and volumes kept."""

    pull: bool = Field(default=True, description="Pull the image first")
    image: (
        Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[a-zA-Z0-9][\w.:/@+-]*$")]
        | None
    ) = Field(default=None, description="Another reference (default: the container's own)")
    auth: RegistryAuth | None = None


class RecreateResult(BaseModel):
    id: str = Field(description="The new container's id")
    name: str
    image: str
    image_id: str
    previous_id: str
    previous_image_id: str | None = None
    running: bool


class ImageUpdate(BaseModel):
    """Is a newer image behind the container's tag (Watchtower's question)?"""

    image: str = Field(description="The reference the container was created from")
    current_digest: str | None = Field(
        default=None,
        description="The registry digest of the container's image (None: never pulled)",
    )
    registry_digest: str
    update_available: bool
