"""Secrets out of what moorage writes down: the audit log's summaries, access logs.

Three nets, each for what the others miss:

    by key     a value under a secret-looking key (`password`, `DB_TOKEN`, `auth`, …),
               in an object or a `KEY=VALUE` string (environment lists, build args)
    by value   a secret by its shape, wherever it is: a URL's credentials
               (`postgres://u:pw@db`), tokens with a known prefix (GitHub, GitLab,
               Slack, AWS, JWT, moorage's own), PEM private keys, `Bearer …`
    by flag    a command's `--password=…`, `--token …`, `-p pw`, `-ppw`

Build arguments are secrets by convention (`NPM_TOKEN`, `PIP_INDEX_URL` with a
password): their values are hidden whatever their names, in a JSON body or in the
`buildargs` query (a JSON object in a string).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

REDACTED = "***"

SECRET_KEY = re.compile(
    r"pass(word|wd)?|pwd|token|secret|auth|credential|api[_-]?key|ticket|private[_-]?key"
    r"|cookie|session|signature|(?:^|[_.-])(?:pat|dsn|key)$",
    re.I,
)
# Keys whose values are all hidden, whatever their names.
_HIDE_VALUES = frozenset({"buildargs", "build_args", "buildArgs"})
# Keys whose values are commands: flags are looked at.
_COMMAND_KEYS = frozenset({"command", "cmd", "entrypoint", "args", "test", "shell"})

# Every pattern runs on every string of a summary, which a caller chooses: each is
# anchored on a literal or a word start and bounded, so that none can backtrack over a
# long string (a 64 KiB value must cost a scan, not a square).
_SCHEME = r"\b[a-z][a-z0-9+.-]{0,30}://"
_VALUE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM blocks (private keys, certificates with keys): the whole block, or to the end.
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,20}-----.*?"
            r"(?:-----END [A-Z0-9 ]{0,60}-----|\Z)",
            re.S,
        ),
        REDACTED,
    ),
    # A URL's userinfo: `scheme://user:password@` keeps the user, `scheme://token@` not.
    (re.compile(rf"(?P<pre>{_SCHEME}[^:/@\s]{{0,256}}:)[^@/\s]{{0,1024}}@", re.I), r"\g<pre>***@"),
    (re.compile(rf"(?P<pre>{_SCHEME})[^:/@\s]{{1,1024}}@", re.I), r"\g<pre>***@"),
    # Tokens by their published shapes.
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"\b(?:mrg|tkt)_[A-Za-z0-9_-]{16,}"), REDACTED),
    (
        re.compile(r"\b(?P<pre>(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=-]{8,}", re.I),
        r"\g<pre>***",
    ),
)

_FLAG = (
    r"--?(?:[a-z0-9]{1,20}[-_]){0,4}"
    r"(?:password|passwd|pass|pwd|token|secret|api[-_]?key|credentials?)"
)
_FLAG_RE = re.compile(rf"^{_FLAG}$", re.I)
# In a command string: `--password=x`, `--token x`, `-p x` / `-px` (mysql's spelling).
_FLAG_TEXT = re.compile(rf"(?P<flag>(?<![\w-]){_FLAG})(?P<sep>=|\s+)(?!-)\S+", re.I)
_SHORT_P = re.compile(r"(?P<flag>(?<![\w-])-p)(?P<sep>\s*)(?!-)(?=\S)[^\s]+")

_QUERY_SECRET = re.compile(
    r"(?P<key>(?:^|[?&;\s])(?:ticket|token|access_token|password|secret)=)(?P<value>[^&\s\"']*)",
    re.I,
)


def redact_text(text: str) -> str:
    """A string with every secret-shaped part hidden."""
    for pattern, repl in _VALUE_PATTERNS:
        if pattern.pattern.startswith("-----") and "-----BEGIN" not in text:
            continue
        text = pattern.sub(repl, text)
    return text


def _redact_command_text(text: str) -> str:
    text = _FLAG_TEXT.sub(lambda m: m.group("flag") + m.group("sep") + REDACTED, text)
    return _SHORT_P.sub(lambda m: m.group("flag") + m.group("sep") + REDACTED, text)


def _redact_args(args: list[Any], depth: int) -> list[Any]:
    """A command as a list: a secret flag's value (`--password=x`, or the next item)."""
    out: list[Any] = []
    hide_next = False
    for arg in args:
        if not isinstance(arg, str):
            out.append(redact(arg, depth + 1))
            continue
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        flag, eq, _value = arg.partition("=")
        if _FLAG_RE.match(flag):
            if eq:
                out.append(f"{flag}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        if arg == "-p":
            out.append(arg)
            hide_next = True
            continue
        if arg.startswith("-p") and len(arg) > 2 and not arg.startswith("-p="):
            out.append("-p" + REDACTED)
            continue
        out.append(_redact_command_text(redact_string(arg)))
    return out


def redact_string(value: str) -> str:
    """A string: `KEY=VALUE` with a secret key hidden, then secrets by shape."""
    if "=" in value:
        key, _, _rest = value.partition("=")
        if SECRET_KEY.search(key) and " " not in key:
            return f"{key}={REDACTED}"
    return redact_text(value)


def _hide_values(value: Any) -> Any:
    """Build arguments: every value hidden, the names kept."""
    if isinstance(value, dict):
        return {k: REDACTED for k in value}
    if isinstance(value, str):
        try:
            doc = json.loads(value)
        except ValueError:
            return REDACTED
        if isinstance(doc, dict):
            return json.dumps({k: REDACTED for k in doc})
        return REDACTED
    if isinstance(value, list):
        return [f"{str(v).partition('=')[0]}={REDACTED}" for v in value]
    return REDACTED


def redact(value: Any, depth: int = 0, key: str = "") -> Any:
    """A JSON value with every secret hidden: by key, by shape, by flag."""
    if depth > 20:
        return REDACTED
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            name = str(k)
            if SECRET_KEY.search(name):
                out[k] = REDACTED
            elif name in _HIDE_VALUES:
                out[k] = _hide_values(v)
            else:
                out[k] = redact(v, depth + 1, name)
        return out
    if isinstance(value, list):
        if key.lower() in _COMMAND_KEYS:
            return _redact_args(value, depth)
        return [redact(v, depth + 1) for v in value]
    if isinstance(value, str):
        text = redact_string(value)
        if key.lower() in _COMMAND_KEYS:
            text = _redact_command_text(text)
        return text
    return value


def redact_query(text: str) -> str:
    """`?ticket=abc&x=1` → `?ticket=***&x=1`, and secrets by shape (for log lines)."""
    return redact_text(_QUERY_SECRET.sub(lambda m: m.group("key") + REDACTED, text))


class RedactQueryFilter(logging.Filter):
    """Hides ticket/token values in uvicorn's access log (it prints the query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_query(a) if isinstance(a, str) and "=" in a else a for a in record.args
            )
        elif isinstance(record.msg, str) and "=" in record.msg and not record.args:
            record.msg = redact_query(record.msg)
        return True


def install_log_redaction() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn", "moorage"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryFilter) for f in logger.filters):
            logger.addFilter(RedactQueryFilter())
