"""Worker tasks of the notification centre (Huey)."""
