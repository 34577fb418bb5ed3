"""Schemathesis against /api/schema/ (SPEC §10), in-process through Django's WSGI handler:
every documented operation, generated requests (valid and invalid), as an admin bot. No
server error, every status, content type, header and body as documented. Bounded examples
per operation keep the suite fast; raise GENESIS_SCHEMATHESIS_EXAMPLES for a deeper run."""

import os

import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import PositiveDataAcceptanceConfig
from schemathesis.config._checks import POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES

from genesis_site.services import bot_token_create
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import unpaced_policy
from tests.trading.factories import OrderFactory, StrategyFactory, TradingAccountFactory

AUTH: dict[str, str] = {}
EXAMPLES = int(os.environ.get("GENESIS_SCHEMATHESIS_EXAMPLES", "3"))


@pytest.fixture
def wsgi_inside_the_test_transaction():
    """Django closes a connection whose autocommit differs from its settings when a request
    starts or ends; inside the test's transaction that would close it under the test (on
    PostgreSQL). The test client unhooks the same handler for the same reason."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(db, wsgi_inside_the_test_transaction):
    user = UserFactory(role="admin", username="schemathesis-admin")
    account = TradingAccountFactory(members=[user])
    StrategyFactory(account=account)
    OrderFactory(account=account)
    unpaced_policy(account)
    raw = bot_token_create(name="schemathesis", user=user, days=1)
    headers = {"Authorization": f"Bearer {raw}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/",
        wsgi_inside_the_test_transaction,
        headers={**headers, "Accept": "application/vnd.oai.openapi+json"},
    )
    # 400 is for requests that break the schema; a well-formed request refused by a rule the
    # schema cannot state (an unknown market, a policy rule, a range running backwards) is a
    # documented 422 (genesis_site.domain_errors.Unprocessable), so valid data may meet it.
    schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig.from_dict(
        {"expected-statuses": [*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "422"]}
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
    # The `ignored_auth` check sends bad tokens on purpose; the failed-auth throttle would then
    # answer later cases 429. Each case starts from an empty throttle cache instead.
    cache.clear()
    case.call_and_validate(headers=AUTH)  # every check schemathesis has
