"""Schemathesis against /api/schema/ (SPEC §10), in-process through Django's WSGI handler:
every documented operation, generated requests (valid and invalid), as an admin bot. No
server error, every status, content type, header and body as documented. Bounded examples
per operation keep the suite fast; raise GENESIS_SCHEMATHESIS_EXAMPLES for a deeper run."""

import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from genesis_site.services import bot_token_create
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import unpaced_policy
from tests.trading.factories import OrderFactory, StrategyFactory, TradingAccountFactory

AUTH: dict[str, str] = {}
EXAMPLES = int(os.environ.get("GENESIS_SCHEMATHESIS_EXAMPLES", "3"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(db):
    user = UserFactory(role="admin", username="schemathesis-admin")
    account = TradingAccountFactory(members=[user])
    StrategyFactory(account=account)
    OrderFactory(account=account)
    unpaced_policy(account)
    raw = bot_token_create(name="schemathesis", user=user, days=1)
    headers = {"Authorization": f"Bearer {raw}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/", WSGIHandler(), headers={**headers, "Accept": "application/vnd.oai.openapi+json"}
    )
    AUTH.update(headers)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_honours_its_schema(case):
    case.cookies = {}  # the bot token, not a generated (empty) session, authenticates
    case.call_and_validate(headers=AUTH, checks=CHECKS)
