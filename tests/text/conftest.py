"""The text normalisation tests are pure Python: nothing here touches Django, its settings or a database.

The project-wide autouse fixture ``_check_backend`` (tests/conftest.py) asks Django's connection
which backend is in use; it is replaced here so that these tests also run with
``pytest tests/text -p no:django``.
"""

import pytest


@pytest.fixture(autouse=True)
def _check_backend():
    """No database here, so no backend to check."""
