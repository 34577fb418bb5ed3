import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from compliance.exceptions import SignOffRefused
from compliance.models import AuditEvent, SignOff
from compliance.selectors import audit_chain_verify, signoffs_current, signoffs_missing
from compliance.services import signoff_record
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import TradingAccountFactory

pytestmark = pytest.mark.django_db
ROLES = ["legal", "compliance", "risk", "operations"]


@pytest.fixture
def account():
    account = TradingAccountFactory()
    active_policy(account)
    return account


def sign(account, user, role, decision="approve", comment="reviewed", ref="decision-1"):
    return signoff_record(
        account=account, subject="go_live", subject_ref=ref, role=role, decision=decision, comment=comment, user=user
    )


def subject(account, **kw):
    return {
        "account_id": account.pk,
        "subject": "go_live",
        "subject_ref": "decision-1",
        "config_hash": account.config_versions.get(is_active=True).sha256,
        **kw,
    }


@pytest.mark.parametrize(
    ("group", "role"),
    [("legal", "legal"), ("compliance_officer", "compliance"), ("risk_manager", "risk"), ("operator", "operations")],
)
def test_each_role_signs_as_itself_bound_to_the_active_config_and_audited(account, group, role):
    user = UserFactory(role=group)
    signoff = sign(account, user, role)
    assert signoff.config_hash == account.config_versions.get(is_active=True).sha256
    event = AuditEvent.objects.get(action="signoff.approve")
    assert (event.actor, event.payload["role"], event.config_hash) == (user.username, role, signoff.config_hash)
    assert audit_chain_verify().ok


@pytest.mark.parametrize("role", ["legal", "risk", "operations"])
def test_a_compliance_officer_cannot_sign_as_another_role(account, role):
    officer = UserFactory(role="compliance_officer")
    with pytest.raises(PermissionDenied, match=f"may not sign off as {role}"):
        sign(account, officer, role)
    assert not SignOff.objects.exists() and not AuditEvent.objects.filter(action__startswith="signoff").exists()


def test_an_admin_may_sign_in_every_role(account):
    admin = UserFactory(role="admin")
    for role in ROLES:
        sign(account, admin, role)
    assert signoffs_missing(required_roles=ROLES, **subject(account)) == []


def test_the_latest_sign_off_of_a_role_counts_and_the_history_is_kept(account):
    legal = UserFactory(role="legal")
    sign(account, legal, "legal", decision="reject", comment="terms not final")
    assert signoffs_missing(required_roles=["legal"], **subject(account)) == ["legal"]
    sign(account, legal, "legal", decision="approve", comment="terms signed")
    assert signoffs_current(**subject(account))["legal"].comment == "terms signed"
    assert signoffs_missing(required_roles=["legal"], **subject(account)) == []
    assert SignOff.objects.count() == 2


def test_a_new_config_version_needs_new_sign_offs(account):
    legal = UserFactory(role="legal")
    sign(account, legal, "legal")
    active_policy(account, content="max_open_positions: 2\n", reason="tighter")
    assert signoffs_missing(required_roles=["legal"], **subject(account)) == ["legal"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"comment": "  "}, "comment: a comment is required"),
        ({"decision": "maybe"}, "decision: 'maybe' is not one of approve, reject"),
    ],
)
def test_bad_sign_offs_are_refused_naming_the_field(account, kwargs, message):
    with pytest.raises(SignOffRefused, match=message):
        sign(account, UserFactory(role="admin"), "legal", **kwargs)
    assert not SignOff.objects.exists()


def test_no_active_configuration_means_nothing_to_sign():
    bare = TradingAccountFactory()
    with pytest.raises(SignOffRefused, match="no active configuration"):
        sign(bare, UserFactory(role="admin"), "legal")


def admin_client(group):
    user = UserFactory(role=group)
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return user, client


def test_compliance_officers_sign_off_in_admin_and_see_filters_and_history(account):
    user, client = admin_client("compliance_officer")
    form = {
        "account": account.pk,
        "subject": "go_live",
        "subject_ref": "decision-1",
        "role": "compliance",
        "decision": "approve",
        "comment": "checklist complete",
    }
    response = client.post("/admin/compliance/signoff/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    signoff = SignOff.objects.get()
    assert (signoff.signed_by, signoff.role) == (user, "compliance")
    page = client.get("/admin/compliance/signoff/?role__exact=compliance&q=checklist")
    assert page.status_code == 200 and "decision-1" in page.content.decode()
    assert client.get(f"/admin/compliance/signoff/{signoff.pk}/change/").status_code == 200  # view only
    assert client.post(f"/admin/compliance/signoff/{signoff.pk}/delete/").status_code == 403


def test_admin_refuses_a_sign_off_in_a_role_the_user_does_not_hold(account):
    _, client = admin_client("compliance_officer")
    form = {
        "account": account.pk,
        "subject": "go_live",
        "subject_ref": "decision-1",
        "role": "legal",
        "decision": "approve",
        "comment": "not mine to sign",
    }
    response = client.post("/admin/compliance/signoff/add/", form)
    assert response.status_code == 200 and "may not sign off as legal" in response.content.decode()
    assert not SignOff.objects.exists()


def test_audit_events_and_config_versions_are_read_only_in_admin(account):
    _, client = admin_client("compliance_officer")
    assert client.get("/admin/compliance/auditevent/").status_code == 200
    event = AuditEvent.objects.first()
    response = client.post(f"/admin/compliance/auditevent/{event.pk}/change/", {"actor": "mallory"})
    assert response.status_code == 403


def test_compliance_officers_read_config_versions_and_validation_runs_in_admin(account):
    _, client = admin_client("compliance_officer")
    version = account.config_versions.get()
    assert client.get("/admin/risk/configversion/").status_code == 200
    assert client.get(f"/admin/risk/configversion/{version.pk}/change/").status_code == 200
    assert client.post(f"/admin/risk/configversion/{version.pk}/change/", {"content": "x"}).status_code == 403
    assert client.get("/admin/validation/validationrun/").status_code == 200
    assert client.get("/admin/compliance/purge/").status_code == 200
