"""What a delivery looks like on the wire: the body of each format, its headers, and
the signature (HMAC-SHA256 of the exact body bytes with the rule's secret)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

from app import __version__

SIGNATURE_HEADER = "X-Moorage-Signature"
DELIVERY_HEADER = "X-Moorage-Delivery"
DISCORD_MAX = 2000  # Discord refuses longer content


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def summary(alert: dict[str, Any]) -> str:
    """One line a person reads: what, where, why."""
    mark = "RESOLVED" if alert["state"] == "resolved" else "FIRING"
    container = alert.get("container") or {}
    where = f"{alert['host']}/{container['name']}" if container.get("name") else alert["host"]
    return f"[{mark}] {alert['rule']}: {where}: {alert['reason']}"


def render(fmt: str, alert: dict[str, Any], secret: str | None) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one try (the same bytes on every retry)."""
    headers = {"User-Agent": f"moorage/{__version__}", DELIVERY_HEADER: str(alert["id"])}
    text = summary(alert)
    if fmt == "slack":
        body = orjson.dumps({"text": text})
        headers["Content-Type"] = "application/json"
    elif fmt == "discord":
        body = orjson.dumps({"content": text[:DISCORD_MAX]})
        headers["Content-Type"] = "application/json"
    elif fmt == "ntfy":
        # ntfy publishes a plain body to its topic URL; the title and tags are headers.
        body = text.encode()
        headers["Content-Type"] = "text/plain; charset=utf-8"
        headers["Title"] = f"moorage: {alert['rule']}"[:200].encode("ascii", "replace").decode()
        headers["Tags"] = "white_check_mark" if alert["state"] == "resolved" else "warning"
    else:
        body = orjson.dumps(alert)
        headers["Content-Type"] = "application/json"
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    return body, headers
