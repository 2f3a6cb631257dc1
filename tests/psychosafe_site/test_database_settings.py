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


def _settings(tmp_path, code, **extra):
    env = {k: v for k, v in _env(tmp_path).items() if not k.startswith(("DATABASE_POOL", "CACHE_URL"))}
    env.update(extra)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); from django.conf import settings; {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_postgresql_connections_are_pooled_only_when_asked(tmp_path):
    url = "postgres://studio@127.0.0.1:5432/psychosafe"
    show = "d = settings.DATABASES['default']; print(d.get('OPTIONS', {}).get('pool'), d['CONN_MAX_AGE'])"
    plain = _settings(tmp_path, show, DATABASE_URL=url)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.split() == ["None", "0"]
    pooled = _settings(tmp_path, show, DATABASE_URL=url, DATABASE_POOL="1", DATABASE_POOL_MAX_SIZE="6")
    assert pooled.returncode == 0, pooled.stderr
    assert pooled.stdout.strip() == "{'min_size': 2, 'max_size': 6, 'timeout': 10} 0"
    both = _settings(tmp_path, show, DATABASE_URL=url, DATABASE_POOL="1", DATABASE_CONN_MAX_AGE="60")
    assert both.returncode != 0 and "DATABASE_POOL=1 replaces DATABASE_CONN_MAX_AGE" in both.stderr


def test_an_unknown_cache_url_is_refused_by_name(tmp_path):
    result = _settings(tmp_path, "print(settings.CACHES)", CACHE_URL="memcached://x")
    assert result.returncode != 0 and "CACHE_URL='memcached://x'" in result.stderr
    redis = _settings(tmp_path, "print(settings.CACHES['default']['BACKEND'])", CACHE_URL="redis://127.0.0.1:6379/4")
    assert redis.stdout.strip() == "django.core.cache.backends.redis.RedisCache"
