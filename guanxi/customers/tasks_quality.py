"""Worker tasks for duplicate detection and data quality (Huey)."""
