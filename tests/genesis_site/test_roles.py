import pytest

from genesis_site.roles import ACTIONS, GRANTS, ROLES, user_may
from tests.genesis_site.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ROLES)
def test_each_role_holds_exactly_its_granted_actions(role):
    user = UserFactory(role=role)
    allowed = {action for action in ACTIONS if user_may(user, action)}
    assert allowed == set(GRANTS[role])


def test_dangerous_actions_are_not_granted_to_viewers_or_compliance():
    for role in ("viewer", "compliance_officer", "legal"):
        assert not any(user_may(UserFactory(role=role), action) for action in ACTIONS)


def test_only_admins_switch_the_trading_mode_and_operators_cannot_release_a_halt():
    assert [role for role in ROLES if "change_mode" in GRANTS[role]] == ["admin"]
    operator = UserFactory(role="operator")
    assert user_may(operator, "halt") and not user_may(operator, "release")


def test_anonymous_may_nothing():
    from django.contrib.auth.models import AnonymousUser

    assert not any(user_may(AnonymousUser(), action) for action in ACTIONS)
