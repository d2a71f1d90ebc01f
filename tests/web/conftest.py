"""Browser fixtures live in tests/conftest.py (one Playwright session per run); `login` is re-exported."""

import pytest

from tests.conftest import login  # noqa: F401


@pytest.fixture
def world(org):
    """Something on every main page (see tests/web/pages.py)."""
    from tests.web.pages import build_world

    return build_world(org)
