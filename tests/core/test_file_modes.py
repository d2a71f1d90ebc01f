"""Hole (issue 9 §8): the SQLite database and the SQLite queue file were created world-readable.

The old settings only `mkdir`ed the data dir and let SQLite create `guanxi.sqlite3` and
`queue.sqlite3` with the process umask (0644 on a usual system), although the database holds
password hashes and customer data. Now every file the embedded default creates in the data dir
(database, its WAL/SHM files, queue, secret key) is 0600 from the first moment."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import django
django.setup()
from django.db import connection
from huey.contrib.djhuey import HUEY
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE probe (id integer)")
    cursor.execute("INSERT INTO probe VALUES (1)")
HUEY.storage.enqueue(b"probe")
assert HUEY.storage.queue_size() == 1
"""


def test_embedded_default_creates_private_files(tmp_path):
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
    env.update(
        GUANXI_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="guanxi.settings", PYTHONPATH=os.getcwd()
    )
    subprocess.run([sys.executable, "-c", SCRIPT], env=env, check=True, timeout=120, umask=0o022)
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in Path(data_dir).iterdir() if p.is_file()}
    assert {"guanxi.sqlite3", "queue.sqlite3", "secret_key"} <= set(files), files
    loose = {name: oct(mode) for name, mode in files.items() if mode & 0o077}
    assert loose == {}, f"readable by others: {loose}"
    assert stat.S_IMODE(data_dir.stat().st_mode) & 0o077 == 0


@pytest.mark.parametrize("name", ["guanxi.sqlite3", "queue.sqlite3"])
def test_existing_files_are_left_as_they_are(tmp_path, name):
    """An operator's own mode on an existing file is not changed (nor is the file truncated)."""
    from guanxi.settings import _private_file

    path = tmp_path / name
    path.write_bytes(b"x")
    path.chmod(0o640)
    _private_file(path)
    assert (path.read_bytes(), stat.S_IMODE(path.stat().st_mode)) == (b"x", 0o640)
