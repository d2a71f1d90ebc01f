"""Worker tasks of the public pool (Huey)."""
