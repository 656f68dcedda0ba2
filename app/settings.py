"""Settings: every option from `MOORAGE_*` environment variables or `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOORAGE_", env_file=".env", extra="ignore")

    # Serving
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"

    # The engine. DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH mean what they
    # mean to the docker CLI; MOORAGE_DOCKER_HOST wins over DOCKER_HOST.
    docker_host: str = Field(
        default="unix:///var/run/docker.sock",
        validation_alias=AliasChoices("MOORAGE_DOCKER_HOST", "DOCKER_HOST"),
    )
    docker_tls_verify: bool = Field(
        default=False,
        validation_alias=AliasChoices("MOORAGE_DOCKER_TLS_VERIFY", "DOCKER_TLS_VERIFY"),
    )
    docker_cert_path: Path | None = Field(
        default=None, validation_alias=AliasChoices("MOORAGE_DOCKER_CERT_PATH", "DOCKER_CERT_PATH")
    )
    # DOCKER_HOST=ssh://user@host[:port]: the client key and the known_hosts that must
    # list the host's key (default: ~/.ssh's keys and known_hosts, as the docker CLI).
    docker_ssh_key: Path | None = None
    docker_ssh_known_hosts: Path | None = None
    engine_pool_size: int = Field(default=100, ge=1, le=10_000)
    engine_connect_timeout: float = Field(default=5.0, gt=0)
    engine_timeout: float = Field(default=30.0, gt=0, description="Read timeout of short calls (s)")
    engine_retry_after: int = Field(default=5, ge=1, description="Retry-After on 503 (s)")
    run_max_timeout: float = Field(
        default=3600.0,
        gt=0,
        le=86_400,
        description="The longest `POST /v1/containers/run` waits for an exit (s); a "
        "caller's `timeout` above it is refused (422)",
    )
    ready_timeout: float = Field(
        default=2.0, gt=0, description="/readyz answers 503 when the engine is slower (s)"
    )
    shutdown_grace: int = Field(
        default=10, ge=0, description="On SIGTERM, how long in-flight requests may finish (s)"
    )

    # Requests
    max_body_bytes: int = Field(default=1 << 30, ge=1024, description="Largest request body")
    max_json_bytes: int = Field(default=1 << 20, ge=1024, description="Largest JSON body")
    body_timeout: float = Field(
        default=300.0,
        gt=0,
        description="A request's whole body must arrive within this long (s), else 408",
    )

    # Streams
    sse_ping_interval: float = Field(default=15.0, gt=0)
    sse_retry_ms: int = Field(default=3000, ge=0)
    sse_max_lifetime: float = Field(default=3600.0, gt=0)
    sse_queue_size: int = Field(default=100_000, ge=10)
    events_journal_size: int = Field(default=10_000, ge=256)
    swarm_logs_window: float = Field(
        default=0.1,
        ge=0,
        le=10,
        description="Seconds a service log line waits to be merged in time order with "
        "other tasks' lines (app/services/swarm_logs.py)",
    )
    health_journal_size: int = Field(
        default=10_000, ge=16, description="Health changes kept for resuming health streams"
    )
    stream_catch_up_reads: int = Field(
        default=8, ge=1, le=1000, description="Engine reads at once for subscribers catching up"
    )
    stream_logs_buffer_bytes: int = Field(
        default=4 << 20,
        ge=0,
        description="Newest log lines a followed container's hub keeps for new subscribers (bytes)",
    )
    stream_logs_look_back: float = Field(
        default=10.0,
        ge=0.5,
        le=3600,
        description="How far back (s) a container's log follow starts; younger containers "
        "are followed from their first line",
    )

    # Security (API.md "Security"; app/security.py, app/policy.py, app/audit.py)
    tokens_file: Path | None = Field(default=None, description="TOML file of [[tokens]]")
    policy_file: Path | None = Field(default=None, description="TOML policy; none: no policy")
    insecure_no_auth: bool = Field(
        default=False, description="Serve without tokens on any address (never in production)"
    )
    audit_db: str = Field(
        default="moorage-audit.sqlite3", description="SQLite path (or ':memory:') of the audit log"
    )
    audit_fail_closed: bool = Field(
        default=True, description="Refuse a change (503) when its audit row cannot be written"
    )
    audit_busy_timeout: float = Field(default=5.0, gt=0, description="SQLite lock wait (s)")
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins")
    ticket_ttl: float = Field(default=60.0, gt=0, le=3600, description="Stream ticket life (s)")
    session_ttl: float = Field(default=8 * 3600.0, gt=0, description="Browser session life (s)")
    session_secure_cookie: bool = Field(
        default=False, description="Mark the session cookie Secure (behind TLS)"
    )

    # Interactive terminals (API.md "Interactive terminals"; app/services/terminals.py)
    terminal_reattach_grace: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="A dropped terminal may reattach this long (s); then its processes end",
    )
    terminal_replay_bytes: int = Field(
        default=64 << 10, ge=0, le=16 << 20, description="Output a reattach receives first"
    )
    terminal_idle_timeout: float = Field(
        default=1800.0, ge=0, description="End a terminal with no input or output (s; 0: never)"
    )
    terminal_ping_interval: float = Field(
        default=20.0, gt=0, description="WebSocket keep-alive pings (s); a missed pong closes"
    )
    websocket: Literal["relay", "websockets-sansio", "websockets", "wsproto"] = Field(
        default="relay",
        description="`moorage serve`'s WebSocket implementation: relay (uvicorn's "
        "websockets-sansio with a direct lane for terminal bytes, app/ws_relay.py) or one "
        "of uvicorn's (websockets-sansio, websockets, wsproto): terminals work on all",
    )
    terminal_max_message: int = Field(
        default=1 << 20, ge=1024, description="Largest WebSocket message a client may send"
    )
    terminal_recordings: Path | None = Field(
        default=None, description="Record each terminal's output as asciicast v2 files here"
    )
    terminal_max_per_container: int = Field(default=16, ge=1, description="Terminals at once")
    terminal_max_total: int = Field(default=256, ge=1, description="Terminals at once, in all")

    # Several engines (API.md "Several engines (hosts)"; app/hosts.py)
    hosts_file: Path | None = Field(
        default=None, description="TOML file of [[hosts]]; none: one host `local` (DOCKER_HOST)"
    )
    host_probe_interval: float = Field(
        default=2.0, gt=0, le=60, description="How often an up host's engine is probed (s)"
    )
    host_probe_timeout: float = Field(
        default=2.0, gt=0, le=60, description="A probe slower than this marks the host down (s)"
    )
    hosts_sync_interval: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often each worker looks in the database for hosts another worker "
        "added, changed or removed (s)",
    )
    host_fanout_timeout: float = Field(
        default=3.0,
        gt=0,
        le=300,
        description="With host=*, a host slower than this is skipped (named in "
        "Moorage-Unavailable-Hosts) (s)",
    )
    host_retry_max: float = Field(
        default=4.0, gt=0, le=10, description="Longest wait between probes of a down host (s)"
    )

    # Notifications (API.md "Notifications"; app/alerts/). Rules, the outbox and the
    # tries live in the audit database.
    webhook_allow: list[str] = Field(
        default_factory=list,
        description="URL prefixes deliveries may go to (JSON list); empty: none allowed",
    )
    webhook_timeout: float = Field(default=10.0, gt=0, le=300, description="One try, in all (s)")
    webhook_max_age: float = Field(
        default=86_400.0, gt=0, description="A delivery is tried again until this old (s)"
    )
    webhook_backoff_base: float = Field(default=1.0, gt=0, description="First retry wait (s)")
    webhook_backoff_max: float = Field(default=600.0, gt=0, description="Longest retry wait (s)")
    webhook_concurrency: int = Field(default=16, ge=1, le=1000, description="Tries at once")
    webhook_max_response_bytes: int = Field(
        default=64 << 10, ge=0, description="Of a receiver's answer, at most this is read"
    )
    alerts_retention: float = Field(
        default=7 * 86_400.0, gt=0, description="Finished deliveries are kept this long (s)"
    )

    # The container state kept from events (app/state.py): lists and reads served
    # without asking the engine. Off: every list and read asks the engine.
    state_cache: bool = True
    state_resync_interval: float = Field(
        default=60.0, gt=0, description="Full re-list of containers every this many s"
    )
    access_log: bool = Field(default=False, description="uvicorn's per-request access log")


@lru_cache
def get_settings() -> Settings:
    return Settings()
