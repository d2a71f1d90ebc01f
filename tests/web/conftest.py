"""Browser fixtures live in tests/conftest.py (one Playwright session per run); `login` is re-exported."""

from tests.conftest import login  # noqa: F401
