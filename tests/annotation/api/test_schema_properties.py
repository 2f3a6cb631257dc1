"""Property-based tests generated from the OpenAPI schema (Schemathesis), bounded for CI: a few
examples per operation, no deadline. Every response must be a non-5xx that matches the schema
(status code documented, body and problem details as described)."""

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from annotation import roles
from tests.annotation.api.client import reset_throttles
from tests.catalog import ensure_catalog
from tests.personas import make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
# Hypothesis keeps caches (constants, examples) in a folder of its own: under var/, not the checkout's root.
set_hypothesis_home_dir(str(django_settings.VAR_DIR / "hypothesis"))

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = WSGIHandler()
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def keep_test_connection():
    """WSGIHandler closes the database connection after each request (Django's test client does not)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def superuser_token(keep_test_connection):
    from annotation.api import tokens

    roles.ensure_role_groups()
    ensure_catalog()
    reset_throttles()
    user = make_user("schemathesis", is_superuser=True, is_staff=True)
    return tokens.create_token(user=user, name="schemathesis")[1]


@schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_no_input_gets_a_server_error_or_a_response_outside_the_schema(case, superuser_token):
    reset_throttles()
    case.call_and_validate(headers={"Authorization": f"Bearer {superuser_token}"}, checks=CHECKS)
