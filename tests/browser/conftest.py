"""Fixtures every browser test module may use (helpers: ui_harness.py)."""

from __future__ import annotations

import pytest

from tests.browser.ui_harness import Tokens


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    """One token of each role, for a module whose server is `served(..., signed_in=True)`."""
    return Tokens()
