"""The permission matrix through the API (SPEC S1): every role x every write action. An allowed
role gets its 2xx and the database changes; any other gets 403 and the database is unchanged."""

import pytest

from genesis_site.roles import ACTIONS, GRANTS, ROLES
from tests.genesis_site.api_cases import CASES, POLICY, World, client_for
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory

pytestmark = pytest.mark.django_db


def test_every_dangerous_action_has_a_case():
    assert {case.action for case in CASES} == set(ACTIONS)


@pytest.fixture
def world(settings, tmp_path):
    settings.GENESIS_REPLAY_DIR = tmp_path / "replay"
    account = TradingAccountFactory()
    strategy = StrategyFactory(account=account)
    active_policy(account, content=POLICY)
    return World(account=account, strategy=strategy)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_role_may_do_exactly_its_granted_actions(world, role, case):
    user = UserFactory(role=role)
    world.account.members.add(user)
    response, before, after = case.run(client_for(user), world)
    if case.action in GRANTS[role]:
        assert response.status_code == case.status, response.json()
        assert after != before, f"{case.name}: allowed for {role} but nothing changed"
    else:
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "permission_denied"
        assert after == before, f"{case.name}: refused for {role} but the database changed"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_anonymous_gets_401_or_403_and_changes_nothing(world, case):
    response, before, after = case.run(client_for(None), world)
    assert response.status_code in (401, 403)
    assert after == before


@pytest.mark.parametrize("case", [c for c in CASES if c.account_scoped], ids=lambda c: c.name)
def test_an_admin_who_is_not_a_member_cannot_touch_the_account(world, case):
    user = UserFactory(role="admin")
    response, before, after = case.run(client_for(user), world)
    assert response.status_code in (400, 404), response.content
    assert after == before
