"""moorage with a second host, for tests of `host=` on a private engine.

`MOORAGE_TEST_SECOND_HOST=<name>=<url>` adds that host next to `local` (the default,
from DOCKER_HOST) until hosts can be configured by file (hosts phase 2).

    python -m uvicorn tests.two_hosts_app:app --ws websockets-sansio
"""

from __future__ import annotations

import os

from app.hosts import LOCAL, HostConfig, HostRegistry
from app.main import create_app
from app.settings import Settings
from app.targets import Target, target_from_settings


def _from_settings(cls: type[HostRegistry], settings: Settings) -> HostRegistry:
    name, _, url = os.environ["MOORAGE_TEST_SECOND_HOST"].partition("=")
    local = HostConfig(LOCAL, target_from_settings(settings), default=True)
    return cls(settings, [local, HostConfig(name, Target(url=url))])


HostRegistry.from_settings = classmethod(_from_settings)  # type: ignore[method-assign,assignment]
app = create_app()
