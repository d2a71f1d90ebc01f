"""Worker tasks for customer import (Huey)."""
