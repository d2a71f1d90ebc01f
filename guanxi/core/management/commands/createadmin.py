import getpass

from django.core.management.base import BaseCommand, CommandError

from guanxi.core.bootstrap import create_admin
from guanxi.core.models import User


class Command(BaseCommand):
    help = "Create an administrator (prompts for a password unless --password or --random-password)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password")
        parser.add_argument("--random-password", action="store_true")

    def handle(self, *args, username, password, random_password, **options):
        if User.objects.filter(username=username).exists():
            raise CommandError(f"user {username!r} already exists")
        if not password and not random_password:
            password = getpass.getpass("Password: ")
            if not password:
                raise CommandError("empty password")
        user, password = create_admin(username, password or None)
        self.stdout.write(self.style.SUCCESS(f"Administrator created: {user.username} / {password}"))
