"""Run the studio for a demo: the web server and one Celery worker, stopped together by Ctrl-C."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from annotation import seeding


class Command(BaseCommand):
    help = "Start the web server and a Celery worker (both queues); Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args, addr, **options):
        python = sys.executable
        # Quick-cycle defaults in the Retrain form (a CPU and the demo model); see settings.DEMO.
        env = {**os.environ, "PSYCHOSAFE_DEMO": "1"}
        web = subprocess.Popen([python, "manage.py", "runserver", addr, "--noreload"], env=env)
        worker = subprocess.Popen(
            [
                python,
                "-m",
                "celery",
                "-A",
                "psychosafe_site",
                "worker",
                "-Q",
                f"{settings.DEFAULT_QUEUE},{settings.GPU_QUEUE}",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--hostname",
                "demo@%h",
                "--beat",
                "--schedule",
                str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
            env=env,
        )
        children = [web, worker]
        self._announce(addr)

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            self.stderr.write("A child process exited; stopping the demo.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping the web server and the worker...")
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
        return None

    def _announce(self, addr: str) -> None:
        lines = [
            "",
            f"PsychoSafe Studio is running at http://{addr}/",
            f"Broker: {settings.CELERY_BROKER_URL.split('@')[-1]}   Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}",
            "Demo logins (username / password):",
        ]
        lines += [
            f"  {row['role']:<9} {row['username']:<10} / {row['password']}"
            for row in seeding.read_seed("demo_users.json")
        ]
        lines += ["Press Ctrl-C to stop.", ""]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))
