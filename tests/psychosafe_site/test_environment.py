"""Settings read from the environment fail loudly on bad values."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from psychosafe_site import environment

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP"


def test_env_bool_accepts_common_spellings(monkeypatch):
    for raw, expected in [("1", True), ("yes", True), ("ON", True), ("0", False), ("false", False), ("off", False)]:
        monkeypatch.setenv("FLAG", raw)
        assert environment.env_bool("FLAG", not expected) is expected


def test_env_bool_rejects_anything_else_naming_the_variable(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG='maybe'"):
        environment.env_bool("FLAG", True)


def test_env_int_rejects_non_integers_and_values_below_minimum(monkeypatch):
    monkeypatch.setenv("N", "twelve")
    with pytest.raises(ImproperlyConfigured, match="N='twelve' is not an integer"):
        environment.env_int("N", 1)
    monkeypatch.setenv("N", "-3")
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        environment.env_int("N", 1, minimum=0)


def test_env_list_splits_and_strips(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example , b.example,, ")
    assert environment.env_list("HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.delenv("HOSTS")
    assert environment.env_list("HOSTS", ["x"]) == ["x"]


@pytest.mark.parametrize(
    "key, message",
    [
        (None, "missing"),
        ("", "missing"),
        ("changeme", "known default"),
        ("django-insecure-abc", "known default"),
        ("short-but-random-9f8e", "too short"),
        ("a" * 60, "too simple"),
        ("abcde" * 12, "too simple"),
        ("abcdefghijkl" * 5, "repeating pattern"),
    ],
)
def test_secret_key_validation_refuses_weak_keys(key, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        environment.validate_secret_key(key)


def test_secret_key_validation_accepts_a_long_random_key():
    assert environment.validate_secret_key(GOOD_KEY) == GOOD_KEY


def test_secret_key_validation_accepts_generated_keys_of_either_usual_kind():
    for _ in range(200):
        for key in (secrets.token_urlsafe(64), secrets.token_hex(32)):
            assert environment.validate_secret_key(key) == key


def test_env_bool_without_a_default_requires_the_variable(monkeypatch):
    monkeypatch.delenv("FLAG", raising=False)
    with pytest.raises(ImproperlyConfigured, match="FLAG is not set"):
        environment.env_bool("FLAG", None)
    monkeypatch.setenv("FLAG", "0")
    assert environment.env_bool("FLAG", None) is False


@pytest.mark.parametrize("hosts", [["*"], ["studio.example.org", "*"], ["*.example.org"]])
def test_allowed_hosts_validation_refuses_wildcards(hosts):
    with pytest.raises(ImproperlyConfigured, match="ALLOWED_HOSTS contains"):
        environment.validate_allowed_hosts(hosts)


def test_development_secret_key_is_generated_once_and_reused(tmp_path):
    path = tmp_path / "var" / "secret_key"
    first = environment.development_secret_key(path)
    assert len(first) >= 50
    assert environment.development_secret_key(path) == first
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def _load_settings(*, outside_pytest=False, show=("DEBUG",), **env) -> subprocess.CompletedProcess:
    """Load the settings in a fresh process and print `show`; `outside_pytest` drops PYTEST_VERSION."""
    dropped = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"} | ({"PYTEST_VERSION"} if outside_pytest else set())
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    base.update(env)
    code = (
        "import django; django.setup(); from django.conf import settings;"
        f"print('loaded', *(getattr(settings, name) for name in {list(show)!r}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "psychosafe_site.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("secret", [None, "changeme", "too-short"])
def test_app_refuses_to_start_without_a_proper_secret_key_when_debug_is_off(secret):
    env = {"DEBUG": "0", "ALLOWED_HOSTS": "studio.example.org"}
    if secret is not None:
        env["SECRET_KEY"] = secret
    result = _load_settings(**env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.parametrize("command", [["-c", "import django; django.setup()"], ["manage.py", "check"]])
def test_app_refuses_to_start_when_debug_is_not_set(command):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "PYTEST_VERSION"}}
    env["DJANGO_SETTINGS_MODULE"] = "psychosafe_site.settings"
    result = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "DEBUG is not set" in result.stderr


def test_debug_set_explicitly_starts_outside_pytest():
    result = _load_settings(outside_pytest=True, DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert "loaded True" in result.stdout


def test_under_pytest_debug_defaults_to_on():
    result = _load_settings()
    assert result.returncode == 0, result.stderr
    assert "loaded True" in result.stdout


@pytest.mark.parametrize("secret", ["abcde" * 12, "0123456789ab" * 5])
def test_app_refuses_a_low_entropy_secret_key_when_debug_is_off(secret):
    result = _load_settings(outside_pytest=True, DEBUG="0", ALLOWED_HOSTS="studio.example.org", SECRET_KEY=secret)
    assert result.returncode != 0
    assert "SECRET_KEY is too simple" in result.stderr


@pytest.mark.parametrize("hosts", ["*", "studio.example.org,*"])
def test_app_refuses_a_wildcard_allowed_host_when_debug_is_off(hosts):
    result = _load_settings(outside_pytest=True, DEBUG="0", SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS=hosts)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS contains '*'" in result.stderr


def test_a_wildcard_allowed_host_is_fine_in_development():
    result = _load_settings(DEBUG="1", ALLOWED_HOSTS="*", show=["ALLOWED_HOSTS"])
    assert result.returncode == 0, result.stderr
    assert "loaded ['*']" in result.stdout


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, "5 0:15:00 0 3600 43200"),
        (
            {"AXES_FAILURE_LIMIT": "3", "AXES_COOLOFF_MINUTES": "60", "PSYCHOSAFE_TRUSTED_PROXIES": "1"},
            "3 1:00:00 1 3600 43200",
        ),
        ({"AXES_COOLOFF_MINUTES": "0"}, "5 None 0 3600 43200"),
        ({"PSYCHOSAFE_SESSION_IDLE_MINUTES": "15", "PSYCHOSAFE_SESSION_MAX_HOURS": "8"}, "5 0:15:00 0 900 28800"),
    ],
)
def test_lockout_and_session_limits_come_from_the_environment(env, expected):
    shown = ["AXES_FAILURE_LIMIT", "AXES_COOLOFF_TIME", "TRUSTED_PROXIES", "SESSION_IDLE_SECONDS", "SESSION_COOKIE_AGE"]
    result = _load_settings(DEBUG="1", show=shown, **env)
    assert result.returncode == 0, result.stderr
    assert f"loaded {expected}" in result.stdout


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"AXES_FAILURE_LIMIT": "0"}, "AXES_FAILURE_LIMIT=0 is below the minimum"),
        ({"PSYCHOSAFE_TRUSTED_PROXIES": "-1"}, "PSYCHOSAFE_TRUSTED_PROXIES=-1"),
        ({"PSYCHOSAFE_SESSION_IDLE_MINUTES": "an hour"}, "PSYCHOSAFE_SESSION_IDLE_MINUTES='an hour'"),
    ],
)
def test_bad_lockout_and_session_values_stop_the_app(env, fragment):
    result = _load_settings(**env)
    assert result.returncode != 0
    assert fragment in result.stderr


def test_app_starts_with_production_settings():
    result = _load_settings(DEBUG="0", SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="studio.example.org")
    assert result.returncode == 0, result.stderr
    assert "loaded False" in result.stdout


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"DEBUG": "perhaps"}, "DEBUG='perhaps'"),
        ({"CELERY_BROKER_URL": "kafka://x"}, "CELERY_BROKER_URL"),
        ({"DATABASE_URL": "nosuchdb://x"}, "DATABASE_URL"),
        ({"CSRF_TRUSTED_ORIGINS": "studio.example.org"}, "CSRF_TRUSTED_ORIGINS"),
        ({"PSYCHOSAFE_GENERATION_BACKEND": "onnx"}, "PSYCHOSAFE_GENERATION_BACKEND"),
    ],
)
def test_bad_values_stop_the_app_with_the_variable_named(env, fragment):
    result = _load_settings(**env)
    assert result.returncode != 0
    assert fragment in result.stderr


def test_deploy_check_passes_with_production_variables(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(
        DEBUG="0",
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="studio.example.org",
        CSRF_TRUSTED_ORIGINS="https://studio.example.org",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_check_fails_on_development_settings():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
