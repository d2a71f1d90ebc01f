"""Worker tasks of the follow-up engine (Huey)."""
