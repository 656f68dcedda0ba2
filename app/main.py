"""The application: lifespan, routers, error handlers, middleware."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from app import __version__, errors
from app.engine import Engine
from app.middleware import BodyLimit, ShutdownCut
from app.routers import ROUTERS
from app.services.events import EventBus
from app.settings import Settings, get_settings

log = logging.getLogger("moorage")

DESCRIPTION = """\
An async REST + Server-Sent Events API for the Docker Engine.

Errors are RFC 9457 problem documents (`application/problem+json`) with a stable
`code`. Durations in request bodies are seconds. Streams are `text/event-stream`.
"""


def operation_id(route: APIRoute) -> str:
    """Stable, readable operation ids: the handler's name, `{resource}_{action}`."""
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = Engine(settings)
        bus = EventBus(engine, journal_size=settings.events_journal_size)
        app.state.engine = engine
        app.state.events = bus
        log.info("moorage %s: engine at %s", __version__, settings.docker_host)
        await bus.start()
        try:
            yield
        finally:
            await bus.stop()
            await engine.close()

    app = FastAPI(
        title="moorage",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        separate_input_output_schemas=True,
    )
    app.state.settings = settings
    errors.install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, max_json_bytes=settings.max_json_bytes
    )
    app.add_middleware(ShutdownCut, retry_after=settings.engine_retry_after)
    return app


app = create_app()
