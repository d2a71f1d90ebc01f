import os

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the web application with waitress (GUANXI_HOST / GUANXI_PORT, default 127.0.0.1:8000)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("GUANXI_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("GUANXI_PORT", "8000")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("GUANXI_WEB_THREADS", "8")))

    def handle(self, *args, host, port, threads, **options):
        from waitress import serve

        from guanxi.wsgi import application

        self.stdout.write(f"Guanxi CRM on http://{host}:{port}/  (Ctrl+C to stop)")
        serve(application, host=host, port=port, threads=threads, ident="guanxi")
