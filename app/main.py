"""The application: lifespan, routers, error handlers, middleware."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from app import __version__, errors, ui
from app import openapi as spec
from app.alerts.service import Alerting, app_hosts
from app.alerts.store import AlertStore, open_alert_store
from app.audit import AuditMiddleware, open_store
from app.hosts import HostRegistry
from app.metrics import Metrics, MetricsMiddleware
from app.middleware import BodyLimit, HotReads, ShutdownCut
from app.redaction import install_log_redaction
from app.routers import HOT_READS, ROUTERS
from app.routers.terminals import document_websockets
from app.security import (
    CSRF_HEADER,
    AuthenticateFirst,
    Security,
    SecurityHeaders,
    authorize,
    document_security,
)
from app.services.terminals import Terminals
from app.settings import Settings, get_settings
from app.state import STALE_HEADER

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
    install_log_redaction()
    security = Security(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        audit = open_store(settings.audit_db, settings.audit_busy_timeout)
        await audit.open()
        app.state.audit = audit
        security.attach(audit)
        hosts = HostRegistry.from_settings(settings)
        await hosts.open(audit)  # the hosts added through the API are kept with the audit
        app.state.hosts = hosts
        # The default host's parts under their old names, for code that is not
        # host-aware yet (it then always works on the default host).
        local = hosts.default
        app.state.engine = local.engine
        app.state.events = local.events
        app.state.health = local.health
        app.state.containers = local.containers
        app.state.hubs = local.hubs
        for host in hosts.all():
            log.info("moorage %s: host %s: engine at %s", __version__, host.name, host.engine.url)
        if not security.enabled and not settings.insecure_no_auth:
            log.warning("no tokens configured (MOORAGE_TOKENS_FILE): serving loopback clients only")
        elif not security.enabled:
            log.warning("--insecure-no-auth: ANYONE who reaches this port is root on the host")
        if local.engine.guard is None:
            log.warning("no policy (MOORAGE_POLICY_FILE): create/exec/build are not checked")
        app.state.terminals = Terminals(settings, lambda: getattr(app.state, "audit", None))
        # After the hosts: the evaluators follow their journals, buses and hubs.
        alerts = app.state.alerts = Alerting(
            settings,
            AlertStore(open_alert_store(audit)),
            lambda: app_hosts(app.state),
        )
        await alerts.start()
        await ui.warm(app)  # the first visitor does not wait for the routes to be built
        # What start-up made lives as long as the process: out of the collector's way,
        # so that full collections (which pause every stream) stay short; and fewer,
        # larger young collections (a busy fan-out allocates fast, mostly acyclic).
        # Fan-out, 1,000 subscribers: p99 lag 251-289 ms -> 168-196 ms.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)
        try:
            yield
        finally:
            await alerts.stop()
            await app.state.terminals.close()
            await hosts.close()
            await audit.close()

    app = FastAPI(
        title="moorage",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # /docs on local Swagger UI assets (app/ui.py); ReDoc would load from a CDN.
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
        separate_input_output_schemas=True,
        # Every route gets authentication, its role check and its audit record here,
        # by its operationId (app/security.py ROLES), without its router knowing.
        dependencies=[Depends(authorize)],
    )
    app.state.settings = settings
    app.state.security = security
    errors.install_error_handlers(app)
    for router in ROUTERS:
        for route in router.routes:
            # A route's one-line docstring is its OpenAPI summary.
            if isinstance(route, APIRoute) and not route.summary and route.description:
                route.summary = route.description.strip().splitlines()[0].rstrip(".")
        app.include_router(router)
    ui.install(app)  # /, /ui and /docs: pages, not API operations
    # Innermost: a hot read is counted, audited, limited and given headers like any other.
    app.add_middleware(HotReads, reads=HOT_READS, authorize=authorize)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        max_json_bytes=settings.max_json_bytes,
        timeout=settings.body_timeout,
    )
    # Credentials before the body (and before its size limit): a refusal reads nothing.
    app.add_middleware(AuthenticateFirst)
    # Outside both: refusals are audited and counted as well.
    app.add_middleware(AuditMiddleware)
    app.state.metrics = Metrics()
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    document_security(app)
    document_websockets(app)
    spec.install(app)  # the document finished for generators (app/openapi.py)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", CSRF_HEADER, "Last-Event-ID"],
            expose_headers=["Link", "Retry-After", "Location", STALE_HEADER],
        )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ShutdownCut, retry_after=settings.engine_retry_after)
    return app


app = create_app()
