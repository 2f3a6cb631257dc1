"""Personal API tokens: create (the secret is returned once), look up by secret, revoke.

The secret is `pss_` + 43 URL-safe characters (32 random bytes). Only its SHA-256 is stored:
the secret has full entropy, so a fast hash protects it as well as a slow one would, and the
lookup by digest is one indexed query per request.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.models import ApiToken

PREFIX = "pss_"
# last_used_at is written at most this often per token, so a busy script does not write a row per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_ACTIVE_PER_USER = 20


class TokenError(ValueError):
    """A token that cannot be created, with a message for the user."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(*, user, name: str) -> tuple[ApiToken, str]:
    """A new active token and its secret (shown to the user once, never stored)."""
    name = name.strip()
    if not name:
        raise TokenError("Name the token, e.g. after the script or machine that will use it.")
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_ACTIVE_PER_USER:
        raise TokenError(f"You have {MAX_ACTIVE_PER_USER} active tokens; revoke one you no longer use first.")
    secret = PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user, name=name, prefix=secret[: len(PREFIX) + 6], digest=digest(secret)
            )
    except IntegrityError:
        raise TokenError(f"You already have an active token named “{name}”.") from None
    return token, secret


def authenticate(secret: str, *, now=None) -> ApiToken | None:
    """The active token with this secret (its user fetched with it), or None. Notes the time of use."""
    if not secret.startswith(PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=digest(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def revoke(*, token: ApiToken, by) -> bool:
    """Revoke the token (its owner, or an admin); False if it was already revoked."""
    return bool(
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now(), revoked_by=by)
    )
