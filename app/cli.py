"""`moorage serve`: run the service."""

from __future__ import annotations

import argparse
import os
import sys


def _best(module: str, fallback: str) -> str:
    """uvloop / httptools when installed (uvicorn[standard]), else uvicorn's choice."""
    import importlib.util

    return module if importlib.util.find_spec(module) is not None else fallback


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    # Flags win over the environment; the app reads settings from the environment,
    # also in worker processes.
    for flag, env in (
        ("host", "MOORAGE_HOST"),
        ("port", "MOORAGE_PORT"),
        ("docker_host", "MOORAGE_DOCKER_HOST"),
        ("workers", "MOORAGE_WORKERS"),
        ("log_level", "MOORAGE_LOG_LEVEL"),
    ):
        value = getattr(args, flag)
        if value is not None:
            os.environ[env] = str(value)

    if args.insecure_no_auth:
        os.environ["MOORAGE_INSECURE_NO_AUTH"] = "1"

    from app.security import load_tokens
    from app.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    tokens = load_tokens(settings.tokens_file)
    if not tokens and not settings.insecure_no_auth and not _loopback_host(settings.host):
        print(
            f"moorage: refusing to listen on {settings.host} without tokens: whoever reaches a"
            " Docker API is root on its host. Set MOORAGE_TOKENS_FILE (see `moorage token"
            " create`), listen on 127.0.0.1, or pass --insecure-no-auth.",
            file=sys.stderr,
        )
        return 2
    if not tokens:
        print(
            "moorage: WARNING: no tokens configured; serving loopback clients only"
            if not settings.insecure_no_auth
            else "moorage: WARNING: --insecure-no-auth: anyone who reaches this port is root",
            file=sys.stderr,
        )
    if settings.workers > 1:
        # A terminal is a hijacked engine connection held by one process: the exec's
        # POST and its WebSocket (and any reattach) may reach different workers.
        print(
            f"moorage: WARNING: {settings.workers} workers: interactive terminals may fail"
            " (404 terminal-not-found) when the socket reaches another worker than the one"
            " that created it; run terminals on a one-worker instance (README: Terminals)",
            file=sys.stderr,
        )
    uvicorn.run(
        "app.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        loop=_best("uvloop", "auto"),
        http=_best("httptools", "auto"),
        access_log=settings.access_log,
        proxy_headers=False,
        timeout_graceful_shutdown=settings.shutdown_grace,
        # relay: uvicorn's websockets-sansio with a direct lane for terminal bytes
        # (app/ws_relay.py); every other socket is served exactly as by that one.
        ws="app.ws_relay:RelayProtocol" if settings.websocket == "relay" else settings.websocket,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.terminal_ping_interval,
        ws_ping_timeout=settings.terminal_ping_interval,
        ws_max_size=settings.terminal_max_message,
    )
    return 0


def _loopback_host(host: str) -> bool:
    from app.security import is_loopback

    return host == "localhost" or is_loopback(host)


def _token_create(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from app.security import hash_token, new_token

    expires = ""
    if args.expires:
        try:
            when = datetime.fromisoformat(args.expires.replace("Z", "+00:00"))
        except ValueError:
            print(f"moorage: --expires {args.expires!r} is not an RFC 3339 time", file=sys.stderr)
            return 2
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        expires = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    token = new_token()
    print(f"token (shown once, keep it secret): {token}")
    print()
    print("# paste into the tokens file (MOORAGE_TOKENS_FILE):")
    print("[[tokens]]")
    print(f'name = "{args.name}"')
    print(f'role = "{args.role}"')
    print(f'sha256 = "{hash_token(token)}"')
    if expires:
        print(f'expires = "{expires}"')
    return 0


def _exec(args: argparse.Namespace) -> int:
    from app.terminal_client import run

    return run(args)


def port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0-65535)")
    return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="moorage", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=port, help="port (default 8000)")
    serve.add_argument("--docker-host", help="engine address (default: DOCKER_HOST or the socket)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument(
        "--log-level",
        type=str.lower,
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="debug, info, warning, error (default info)",
    )
    serve.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="allow a non-loopback --host without tokens (anyone who reaches it is root)",
    )
    serve.set_defaults(func=_serve)
    exe = sub.add_parser("exec", help="a terminal in a container (like docker exec -it)")
    exe.add_argument("-i", "--interactive", action="store_true", help="keep stdin (always on)")
    exe.add_argument("-t", "--tty", action="store_true", help="a TTY (when stdin is one)")
    exe.add_argument("-u", "--user", help="user[:group] to run as")
    exe.add_argument("-w", "--workdir", help="working directory")
    exe.add_argument("-e", "--env", action="append", help="K=V (repeatable)")
    exe.add_argument(
        "--url",
        default=os.environ.get("MOORAGE_URL", "http://127.0.0.1:8000"),
        help="moorage's address (MOORAGE_URL)",
    )
    exe.add_argument("--token", help="API token (default: MOORAGE_TOKEN)")
    exe.add_argument("container")
    exe.add_argument("cmd", nargs=argparse.REMAINDER, help="command (default: bash, else sh)")
    exe.set_defaults(func=_exec)
    token = sub.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="print a new random token and its block")
    create.add_argument("--name", required=True, help="who uses it (shown in the audit log)")
    create.add_argument("--role", required=True, choices=["viewer", "operator", "admin"])
    create.add_argument("--expires", help="RFC 3339 time, e.g. 2027-06-30T00:00:00Z")
    create.set_defaults(func=_token_create)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
