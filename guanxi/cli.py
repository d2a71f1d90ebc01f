"""The `guanxi` command: a thin wrapper around Django management commands.

guanxi up          migrate, create an admin, load demo data if empty, run web + worker
guanxi serve       run the web server (waitress)
guanxi worker      run the background worker (Huey consumer)
guanxi demo        load demo data (--customers N)
guanxi createadmin create an administrator
guanxi <any Django management command>
"""

from __future__ import annotations

import os
import sys

ALIASES = {"worker": "run_huey"}


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ALIASES:
        args[0] = ALIASES[args[0]]
    if not args:
        print(__doc__)
        return
    from django.core.management import execute_from_command_line

    execute_from_command_line(["guanxi", *args])


if __name__ == "__main__":
    main()
