"""Shared model pieces: engine views (PascalCase in, snake_case out), request bodies
that refuse unknown fields, and the small value types every resource uses."""

from __future__ import annotations

import ipaddress
import math
import re
import shlex
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)
from pydantic.alias_generators import to_pascal

from app import errors


class EngineView(BaseModel):
    """A response model read from an engine document (PascalCase keys)."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_pascal),
        populate_by_name=True,
        extra="ignore",
    )


class RequestBody(BaseModel):
    """A request body: unknown fields are refused, so a typo is never ignored."""

    model_config = ConfigDict(extra="forbid", str_max_length=65_536)


class Pruned(BaseModel):
    """What a prune removed."""

    deleted: list[str] = Field(default_factory=list)
    space_reclaimed: int = 0


# Names of containers, volumes, networks: the engine's own rule.
NAME_PATTERN = r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
_NAME_RE = re.compile(NAME_PATTERN)
# An id, short id or name in a path: no slash, no NUL, no "..", bounded.
_REF_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")


def check_ref(value: str, what: str = "id") -> str:
    """A container/volume/network/exec reference taken from a path, checked."""
    if not _REF_RE.match(value) or ".." in value:
        raise errors.ValidationFailed.field(
            ["path", what], f"{value[:80]!r} is not a valid id or name"
        )
    return value


def rfc3339(value: Any) -> str | None:
    """An engine time (RFC 3339 with ns, or unix seconds) as RFC 3339 UTC."""
    if value in (None, "", 0, "0001-01-01T00:00:00Z"):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC).isoformat().replace("+00:00", "Z")
    return str(value)


_MAX_SECONDS = 253402300799.0  # 9999-12-31T23:59:59Z, the last RFC 3339 time


def _parse_time(value: Any) -> float:
    """A `since`/`until` query: unix seconds (float) or RFC 3339."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # float() also reads "inf", "nan" and "1e400": no time (a 500 once, from int()).
        if not math.isfinite(seconds) or abs(seconds) > _MAX_SECONDS:
            raise ValueError(f"{text[:40]!r} is not a time in unix seconds")
        return seconds
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{text!r} is neither unix seconds nor an RFC 3339 time") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


_UNIX_NS_RE = re.compile(r"^(\d+)(?:\.(\d{1,9}))?$")
_RFC3339_FRACTION_RE = re.compile(r"^(.+T\d\d:\d\d:\d\d)\.(\d+)(.*)$")


def engine_time(value: str | float | None) -> str | None:
    """Render a time for the engine's `since`/`until`: `sec.nnnnnnnnn`.

    Exact to the nanosecond for `sec.nnnnnnnnn` and RFC 3339 strings (a float would
    round the engine's own log timestamps off by some hundred nanoseconds).
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        m = _UNIX_NS_RE.match(text)
        if m:
            return f"{m.group(1)}.{(m.group(2) or '').ljust(9, '0')}"
        m = _RFC3339_FRACTION_RE.match(text)
        if m:
            try:
                whole = int(_parse_time(m.group(1) + m.group(3)))
            except ValueError as exc:
                raise errors.ValidationFailed.field(["query"], str(exc)) from exc
            return f"{whole}.{m.group(2)[:9].ljust(9, '0')}"
    try:
        seconds = _parse_time(value)
    except ValueError as exc:
        raise errors.ValidationFailed.field(["query"], str(exc)) from exc
    return f"{seconds:.9f}"


# The engine's `until` (moby `timetypes.GetTimestamp`): a Go duration ("24h", "1h30m"),
# unix seconds ("1700000000.5"), or an RFC 3339 date or time, zone optional.
_GO_DURATION = re.compile(r"^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$")
_UNIX_SECONDS = re.compile(r"^\d{1,18}(?:\.\d{1,9})?$")
_DATE_TIME = re.compile(
    r"^\d{4}-\d\d-\d\d(?:T\d\d(?::\d\d(?::\d\d(?:\.\d{1,9})?)?)?)?(?:[zZ]|[+-]\d\d:\d\d)?$"
)


def check_until(value: str) -> str:
    """A prune filter's `until`, as the engine will read it; else ValueError (the engine
    answers a value it cannot parse with a 500)."""
    if _GO_DURATION.match(value) or _UNIX_SECONDS.match(value):
        return value
    if _DATE_TIME.match(value):
        body = re.sub(r"([zZ]|[+-]\d\d:\d\d)$", "", value)
        zone = value[len(body) :]
        date, _, clock = body.partition("T")
        hh_mm_ss = ([*clock.split(".")[0].split(":"), "00", "00"])[:3]
        text = date + ("T" + ":".join(hh_mm_ss) if clock else "")
        try:
            datetime.fromisoformat(text + ("+00:00" if zone in ("z", "Z") else zone))
        except ValueError:
            pass
        else:
            return value
    raise ValueError(
        f"until: {value[:80]!r} is neither a duration (24h, 90m), unix seconds nor an RFC 3339 time"
    )


def check_prune_filters(filters: Any) -> Any:
    """Prune filters with their `until` values checked (str or list, as sent)."""
    if isinstance(filters, dict) and "until" in filters:
        until = filters["until"]
        for value in until if isinstance(until, list) else [until]:
            if isinstance(value, str):
                check_until(value)
    return filters


def label_filters(labels: list[str] | None) -> list[str]:
    """`label` query values (`key` or `key=value`), checked."""
    out = []
    for label in labels or []:
        key = label.split("=", 1)[0]
        if not key or len(label) > 1024 or "\x00" in label:
            raise errors.ValidationFailed.field(["query", "label"], f"bad label filter {label!r}")
        out.append(label)
    return out


def split_kv_list(value: Any) -> Any:
    """Accept `{"K": "V"}` or `["K=V", ...]`; give a dict."""
    if isinstance(value, list):
        out: dict[str, str] = {}
        for item in value:
            if not isinstance(item, str) or "=" not in item:
                raise ValueError(f"{str(item)[:80]!r} is not KEY=VALUE")
            k, v = item.split("=", 1)
            out[k] = v
        return out
    return value


def shell_split(value: Any) -> Any:
    """A command given as a string is split the way docker-py does (shlex; no shell runs it)."""
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split the command: {exc}") from exc
    return value


def ip_addresses(values: list[str]) -> list[str]:
    """Each value's canonical spelling; a ValueError names the first that is no IP address."""
    out = []
    for ip in values:
        try:
            out.append(str(ipaddress.ip_address(ip)))
        except ValueError as exc:
            raise ValueError(f"{ip[:80]!r} is not an IP address") from exc
    return out


def endpoint_settings(
    *,
    aliases: list[str],
    links: list[str],
    driver_opt: dict[str, str],
    ipv4_address: str | None,
    ipv6_address: str | None,
    link_local_ips: list[str],
    mac_address: str | None = None,
) -> dict[str, Any]:
    """A network's `EndpointSettings`, as create's EndpointsConfig and connect both send it."""
    out: dict[str, Any] = {}
    if aliases:
        out["Aliases"] = list(aliases)
    if links:
        out["Links"] = list(links)
    if driver_opt:
        out["DriverOpts"] = dict(driver_opt)
    ipam: dict[str, Any] = {
        k: v for k, v in (("IPv4Address", ipv4_address), ("IPv6Address", ipv6_address)) if v
    }
    if link_local_ips:
        ipam["LinkLocalIPs"] = list(link_local_ips)
    if ipam:
        out["IPAMConfig"] = ipam
    if mac_address:
        out["MacAddress"] = mac_address
    return out


# Labels: the engine puts an object's labels into each of its events (and a container's
# image labels into the container's), so their size is bounded here, where they are
# made. An event line over app/services/events.py MAX_EVENT_LINE (512 KiB) would
# otherwise reach the event reader.
LABELS_MAX = 1024  # labels on one object
LABELS_MAX_BYTES = 64 << 10  # keys and values together (UTF-8)
LabelKey = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\x00=]+$")]
LabelValue = Annotated[str, Field(max_length=4096, pattern=r"^[^\x00]*$")]


def check_labels_size(labels: dict[str, str]) -> dict[str, str]:
    size = sum(len(k.encode()) + len(v.encode()) for k, v in labels.items())
    if size > LABELS_MAX_BYTES:
        raise ValueError(
            f"labels are {size} bytes in all; at most {LABELS_MAX_BYTES} (keys and values)"
        )
    return labels


_LabelMap = Annotated[dict[LabelKey, LabelValue], Field(max_length=LABELS_MAX)]
# A labels object, bounded (422 naming the field).
Labels = Annotated[_LabelMap, AfterValidator(check_labels_size)]

# `json_schema_input_type`: the spec shows every form a caller may send (generated
# clients must be able to send the short forms), not only the parsed one.
KeyValues = Annotated[
    dict[str, str],
    BeforeValidator(split_kv_list, json_schema_input_type=dict[str, str] | list[str]),
]

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_bytes(value: Any) -> Any:
    """`512m`, `1g`, `1024` or an int: bytes, as the docker CLI reads sizes."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if not m:
            raise ValueError(f"{value!r} is not a size (bytes, or a number with b, k, m, g, t)")
        return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    raise ValueError(f"{value!r} is not a size")


_SIZE = Annotated[int, Field(ge=0, le=1 << 50)]
_SIZE_TEXT = Annotated[
    str, Field(pattern=r"^\s*\d+(\.\d+)?\s*[bBkKmMgGtT]?([iI]?[bB])?\s*$", examples=["512m"])
]
Bytes = Annotated[_SIZE, BeforeValidator(parse_bytes, json_schema_input_type=_SIZE | _SIZE_TEXT)]
