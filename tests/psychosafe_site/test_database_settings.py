"""SQLite is configured so that the web process and a worker can write at once."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'studio.sqlite3'}",
        PSYCHOSAFE_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="psychosafe_site.settings",
        **extra,
    )
    return env


WRITER = textwrap.dedent(
    """
    import sys, django
    django.setup()
    from django.db import transaction
    from annotation.models import Resource
    import datetime
    name = sys.argv[1]
    for i in range(int(sys.argv[2])):
        with transaction.atomic():
            count = Resource.objects.count()  # read, then write: the lock-upgrade pattern
            Resource.objects.create(key=f"{name}-{i}", name=f"{name} {count}", locale="en-US", channel="web",
                                    url="https://example.org", verified_on=datetime.date(2026, 1, 1))
    print("done", name)
    """
)


@pytest.mark.sqlite
def test_sqlite_uses_wal_and_immediate_transactions(tmp_path):
    env = _env(tmp_path)
    code = (
        "import django; django.setup(); from django.db import connection; c = connection.cursor();"
        "print(c.execute('PRAGMA journal_mode').fetchone()[0], c.execute('PRAGMA busy_timeout').fetchone()[0],"
        " connection.transaction_mode)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "30000", "IMMEDIATE"]


@pytest.mark.sqlite
@pytest.mark.slow
def test_concurrent_writers_never_see_database_is_locked(tmp_path):
    env = _env(tmp_path)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"w{n}", "60"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "database is locked" not in err
    count = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from annotation.models import Resource;"
            "print(Resource.objects.filter(key__startswith='w').count())",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert count.stdout.strip() == "240"
