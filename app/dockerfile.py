"""The images a Dockerfile makes the engine use, found as the builder finds them.

`FROM` of every stage, `COPY --from=` / `ADD --from=` and `RUN --mount=from=` name
images; a name that is an earlier stage (`AS name`, compared without case; a number
for `--from`) or `scratch` is not one. Words go through the builder's own word
processing: parser directives (`# escape=`), line continuations with comments in
between, instructions in any case, quotes, and `$VAR` / `${VAR}` / `${VAR:-x}` /
`${VAR:+x}` with the ARGs before the first FROM (their defaults, overridden by the
call's build args) — and, for `--from` values, the stage's own ARG and ENV.

Where the builder could read a word in a way this cannot tell (another `${…}` form,
an unmatched quote), `Unreadable` is raised: the policy refuses rather than guesses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.engine_parse import go_atoi

WHITESPACE = re.compile(r"[\t\v\f\r ]+")  # the parser's, not Python's (no NBSP etc.)
DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Unreadable(ValueError):
    """A Dockerfile word whose value cannot be told without running the builder."""


@dataclass
class ImageUse:
    """One image a build would use: what names it, and the reference."""

    where: str
    ref: str


@dataclass
class _Stage:
    args: dict[str, str] = field(default_factory=dict)


def directives(text: str) -> dict[str, str]:
    """The parser directives at the top (`# syntax=`, `# escape=`), lower-case keys."""
    found: dict[str, str] = {}
    for line in _lines(text):
        m = DIRECTIVE.match(line.strip()) if line.strip() else None
        if m is None:
            break
        found.setdefault(m.group(1).lower(), m.group(2))
    return found


def _lines(text: str) -> list[str]:
    """Lines as the parser's scanner cuts them: at `\n` only (a trailing `\r` dropped),
    after a leading byte-order mark."""
    return [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]


def _split_command(line: str) -> tuple[str, str]:
    parts = WHITESPACE.split(line.strip(), maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def logical_lines(text: str, escape: str) -> list[str]:
    """Instructions, continuations joined; comment and blank lines inside skipped."""
    out: list[str] = []
    pending: list[str] | None = None
    for raw in _lines(text):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        line = raw.rstrip()
        continued = line.endswith(escape)
        if continued:
            line = line[: -len(escape)]
        if pending is None:
            pending = []
        pending.append(line)
        if not continued:
            out.append("".join(pending))
            pending = None
    if pending:
        out.append("".join(pending))
    return out


def process_word(word: str, env: Mapping[str, str], escape: str) -> str:
    """The builder's shell-word processing: quotes removed, escapes and variables."""
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        c = word[i]
        if c == "'":
            end = word.find("'", i + 1)
            if end < 0:
                raise Unreadable(f"unmatched quote in {word!r}")
            out.append(word[i + 1 : end])
            i = end + 1
        elif c == '"':
            i += 1
            while i < n and word[i] != '"':
                if word[i] == escape and i + 1 < n and word[i + 1] in ('"', "$", escape):
                    out.append(word[i + 1])
                    i += 2
                elif word[i] == "$":
                    text, i = _variable(word, i, env, escape)
                    out.append(text)
                else:
                    out.append(word[i])
                    i += 1
            if i >= n:
                raise Unreadable(f"unmatched quote in {word!r}")
            i += 1
        elif c == escape:
            if i + 1 < n:
                out.append(word[i + 1])
            i += 2
        elif c == "$":
            text, i = _variable(word, i, env, escape)
            out.append(text)
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _variable(word: str, i: int, env: Mapping[str, str], escape: str) -> tuple[str, int]:
    """`$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME:+alternative}` at word[i]."""
    if i + 1 < len(word) and word[i + 1] == "{":
        end = _closing_brace(word, i + 2)
        body = word[i + 2 : end]
        m = VAR_NAME.match(body)
        if m is None:
            raise Unreadable(f"cannot read ${{{body}}}")
        name, rest = m.group(0), body[m.end() :]
        value = env.get(name)
        if rest == "":
            return value or "", end + 1
        if rest.startswith(":-"):
            inner = process_word(rest[2:], env, escape)
            return (value if value else inner), end + 1
        if rest.startswith(":+"):
            inner = process_word(rest[2:], env, escape)
            return (inner if value else ""), end + 1
        raise Unreadable(f"cannot read ${{{body}}}: only :- and :+ are understood")
    m = VAR_NAME.match(word, i + 1)
    if m is None:
        return "$", i + 1
    return env.get(m.group(0)) or "", m.end()


def _closing_brace(word: str, start: int) -> int:
    depth = 1
    for j in range(start, len(word)):
        if word[j] == "{":
            depth += 1
        elif word[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    raise Unreadable(f"unmatched brace in {word!r}")


def _split_flags(rest: str) -> tuple[list[str], list[str]]:
    """`--flag=value …` words, then the others (the builder stops at the first non-flag)."""
    words = [w for w in WHITESPACE.split(rest.strip()) if w]
    flags: list[str] = []
    while words and words[0].startswith("--"):
        flags.append(words.pop(0))
    return flags, words


def _assignments(rest: str, escape: str, env: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """`ARG a=1 b` / `ENV a=1 b=2` / legacy `ENV a 1`: (name, raw value or None)."""
    words = [w for w in WHITESPACE.split(rest.strip()) if w]
    if not words:
        return []
    if "=" not in words[0]:
        name, value = _split_command(rest)
        return [(name, value.strip() or None)]
    out: list[tuple[str, str | None]] = []
    for word in words:
        name, sep, value = word.partition("=")
        out.append((name, process_word(value, env, escape) if sep else None))
    return out


def image_uses(text: str, buildargs: Mapping[str, str | None]) -> list[ImageUse]:
    """Every image the Dockerfile names (not stages, not `scratch`), resolved.

    Read twice, and both readings count: with the builder's rule (a build arg is
    seen only where an ARG declares it) and with every build arg visible everywhere
    (the builder predefines some, `HTTP_PROXY` and the like) — a word that reads one
    way or the other is judged both ways.
    """
    uses: list[ImageUse] = []
    for loose in (False, True):
        for use in _image_uses(text, buildargs, loose=loose):
            if use not in uses:
                uses.append(use)
    return uses


def _image_uses(text: str, buildargs: Mapping[str, str | None], *, loose: bool) -> list[ImageUse]:
    given_args = {k: v for k, v in buildargs.items() if v is not None} if loose else {}
    found = directives(text)
    escape = "`" if found.get("escape") == "`" else "\\"
    uses: list[ImageUse] = []
    if "syntax" in found:
        uses.append(ImageUse("# syntax=", found["syntax"].strip()))
    meta: dict[str, str] = dict(given_args)
    stages: list[str] = []  # stage names (lower-case; "" when unnamed)
    stage: _Stage | None = None
    for line in logical_lines(text, escape):
        word, rest = _split_command(line)
        instruction = word.lower()
        if instruction == "onbuild":
            # The trigger runs in a later build; the image it names is judged now.
            word, rest = _split_command(rest)
            instruction = word.lower()
        if instruction == "arg":
            target = meta if stage is None else stage.args
            env = {**meta, **target}
            for name, value in _assignments(rest, escape, env):
                given = buildargs.get(name)
                if given is not None:
                    target[name] = given
                elif value is not None:
                    target[name] = process_word(value, env, escape)
                elif stage is not None and name in meta:
                    target[name] = meta[name]  # `ARG X` in a stage takes the global X
                else:
                    target.pop(name, None)
        elif instruction == "env" and stage is not None:
            for name, value in _assignments(rest, escape, {**meta, **stage.args}):
                stage.args[name] = value or ""
        elif instruction == "from":
            flags, words = _split_flags(rest)
            if not words:
                raise Unreadable("FROM without an image")
            ref = process_word(words[0], meta, escape)
            _check_word(ref, "FROM")
            if ref.lower() not in stages and ref != "scratch":
                uses.append(ImageUse("FROM", ref))
            name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""
            stages.append(name)
            stage = _Stage(dict(given_args))
        elif instruction in ("copy", "add", "run"):
            env = {**meta, **(stage.args if stage else {})}
            flags, _ = _split_flags(rest)
            for flag in flags:
                key, _, value = flag[2:].partition("=")
                key = key.lower()
                if key == "from" and instruction != "run":
                    named: str | None = process_word(value, env, escape)
                elif key == "mount" and instruction == "run":
                    named = _mount_from(process_word(value, env, escape))
                else:
                    continue
                if named is None or named == "" or go_atoi(named) is not None:
                    continue
                ref = named
                _check_word(ref, f"{word.upper()} --{key}")
                if ref.lower() not in stages and ref != "scratch":
                    uses.append(ImageUse(f"{word.upper()} --{key}", ref))
    return uses


def _mount_from(spec: str) -> str | None:
    """`type=cache,from=img,target=/x`: the `from` of a RUN --mount (BuildKit's form)."""
    for part in spec.split(","):
        key, _, value = part.partition("=")
        if key.strip().lower() == "from":
            return value.strip()
    return None


def _check_word(ref: str, where: str) -> None:
    if not ref or any(c.isspace() or c in "$\"'`\\{}" for c in ref):
        raise Unreadable(f"{where} {ref!r} is not a reference the policy can read")
