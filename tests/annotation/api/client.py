"""An API client per persona: a token in the Authorization header, like a script would send."""

from django.core.cache import cache
from rest_framework.test import APIClient

from annotation.api import tokens


def token_client(user, name="tests"):
    _, secret = tokens.create_token(user=user, name=name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def reset_throttles():
    cache.clear()
