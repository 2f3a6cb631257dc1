"""Typed readers for environment variables.

Each reader fails loudly with ImproperlyConfigured naming the variable and the bad value,
so a typo in production stops the process at start-up instead of misbehaving later.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# Values that must never sign sessions in production: Django's project-template
# placeholder style, empty-ish strings and the ones people paste from tutorials.
KNOWN_INSECURE_KEYS = {
    "changeme",
    "change-me",
    "secret",
    "secret-key",
    "your-secret-key",
    "insecure",
    "django-insecure",
    "dev",
    "development",
    "psychosafe",
}
MIN_SECRET_KEY_LENGTH = 50
# A 64-character hex key (`openssl rand -hex 32`) uses all 16 digits; ten is far below any random key.
MIN_SECRET_KEY_DISTINCT_CHARACTERS = 10


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool | None) -> bool:
    """A boolean; with `default=None` the variable is required."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ImproperlyConfigured(f"{name} is not set; set it explicitly to 1 or 0.")
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    return Path(raw).expanduser().resolve() if raw else default


def validate_secret_key(key: str | None, *, source: str = "SECRET_KEY") -> str:
    """Return `key` if it is fit to sign production sessions, else raise."""
    if not key:
        raise ImproperlyConfigured(
            f"{source} is missing: set it to a random string of {MIN_SECRET_KEY_LENGTH}+ characters."
        )
    if key.strip().lower() in KNOWN_INSECURE_KEYS or key.startswith("django-insecure"):
        raise ImproperlyConfigured(f"{source} is a known default; generate a new one.")
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ImproperlyConfigured(
            f"{source} is too short ({len(key)} characters); use {MIN_SECRET_KEY_LENGTH}+ random characters."
        )
    if len(set(key)) < MIN_SECRET_KEY_DISTINCT_CHARACTERS or _repeats_a_pattern(key):
        raise ImproperlyConfigured(
            f"{source} is too simple ({len(set(key))} distinct characters or a repeating pattern); use "
            f"{MIN_SECRET_KEY_LENGTH}+ random characters, e.g. from "
            "`python -c 'import secrets; print(secrets.token_urlsafe(64))'`."
        )
    return key


def _repeats_a_pattern(key: str) -> bool:
    """True when the key is mostly a short unit repeated: its three-character windows mostly recur.

    A random key of 50+ characters repeats hardly any window; `"abcdefghijkl" * 5` repeats all but 12.
    """
    windows = [key[i : i + 3] for i in range(len(key) - 2)]
    return len(set(windows)) < len(windows) / 2


def validate_allowed_hosts(hosts: list[str], *, source: str = "ALLOWED_HOSTS") -> list[str]:
    """Return `hosts` if fit for production: at least one, and no wildcard that accepts any Host header."""
    if not hosts:
        raise ImproperlyConfigured(f"{source} must be set when DEBUG is off (comma-separated host names).")
    wildcards = [host for host in hosts if "*" in host]
    if wildcards:
        raise ImproperlyConfigured(
            f"{source} contains {', '.join(map(repr, wildcards))} when DEBUG is off; list the host names "
            "the studio answers to (a leading dot, e.g. .example.org, matches subdomains)."
        )
    return hosts


def development_secret_key(path: Path) -> str:
    """Read the development key from `path`, generating it once on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(64)
    # O_EXCL: two processes starting at once must not write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
