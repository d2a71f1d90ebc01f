"""Worker tasks of lead assignment (Huey)."""
