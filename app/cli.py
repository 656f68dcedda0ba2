"""`moorage serve`: run the service."""

from __future__ import annotations

import argparse
import os
import sys


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

    from app.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    uvicorn.run(
        "app.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        loop="auto",
        http="auto",
        proxy_headers=False,
        timeout_graceful_shutdown=settings.shutdown_grace,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="moorage", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--docker-host", help="engine address (default: DOCKER_HOST or the socket)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--log-level", help="debug, info, warning, error")
    serve.set_defaults(func=_serve)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
