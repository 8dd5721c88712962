"""Schemathesis over the REST API: requests generated from the app's OpenAPI schema (drf-spectacular's, as
`manage.py spectacular` writes it), sent in process through Django's WSGI application, signed in as a
superuser (a DRF token) and, for the ingest endpoint, as a gateway (a gateway token). No answer may be a
server error, and in the soak run every status code must be one the schema documents."""

from dataclasses import dataclass

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from hypothesis import settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from telemetry.services import gateway_token_create
from tests.factories import UserFactory, build_site
from tests.reliability.fuzzing import fuzz_settings

# Every request commits on its own, as in production: a failed query must not abort the test's transaction
# and turn every later request into an error.
pytestmark = pytest.mark.django_db(transaction=True)

QUICK_EXAMPLES_PER_OPERATION = 25
SOAK_EXAMPLES_PER_OPERATION = 1000


@dataclass(frozen=True)
class Credentials:
    user_token: str
    gateway_token: str

    def headers_for(self, operation):
        """The Authorization header for one operation: the gateway token where the schema asks for it."""
        security = operation.definition.raw.get("security", [])
        schemes = {name for requirement in security for name in requirement}
        if "gatewayToken" in schemes:
            return {"Authorization": f"Bearer {self.gateway_token}"}
        return {"Authorization": f"Token {self.user_token}"}


@pytest.fixture
def credentials():
    """A site with cases installed (so lookups can find something), a superuser and a gateway of the site."""
    site = build_site(docks=4)
    admin = UserFactory(is_staff=True, is_superuser=True)
    return Credentials(
        user_token=Token.objects.create(user=admin).key,
        gateway_token=gateway_token_create(site=site, name="schemathesis")[1],
    )


@pytest.fixture(scope="session")
def app():
    return get_wsgi_application()


OPENAPI = SchemaGenerator().get_schema(request=None, public=True)
schema = schemathesis.openapi.from_dict(OPENAPI)
# The quick run in `make test` skips the coverage phase's systematic boundary cases: the soak run has them.
quick_schema = schemathesis.openapi.from_dict(
    OPENAPI, config=schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}})
)


@quick_schema.parametrize()
@settings(fuzz_settings, max_examples=QUICK_EXAMPLES_PER_OPERATION)
def test_no_request_is_answered_with_a_server_error(case, credentials, app):
    case.call_and_validate(
        app=app, headers=credentials.headers_for(case.operation), checks=[not_a_server_error]
    )


@pytest.mark.soak
@schema.parametrize()
@settings(fuzz_settings, max_examples=SOAK_EXAMPLES_PER_OPERATION)
def test_every_answer_is_documented_and_none_is_a_server_error(case, credentials, app):
    case.call_and_validate(
        app=app,
        headers=credentials.headers_for(case.operation),
        checks=[not_a_server_error, status_code_conformance],
    )
