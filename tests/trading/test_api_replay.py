"""POST /api/v1/accounts/{id}/replay (SPEC T1b, O2): the account_replay command's service through
the API, permission-checked (change_mode; the matrix in tests/genesis_site checks every role),
audited, and refusing a bad file by name and line with nothing changed."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from compliance.models import AuditEvent
from tests.genesis_site.factories import UserFactory
from tests.risk.factories import active_policy
from tests.trading.factories import TradingAccountFactory
from tests.trading.test_engine_replay import rising_csv
from trading.models import TradingAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(settings, tmp_path):
    settings.GENESIS_REPLAY_DIR = tmp_path / "replay"
    settings.GENESIS_REPLAY_DIR.mkdir()
    return settings.GENESIS_REPLAY_DIR


@pytest.fixture
def desk():
    user = UserFactory(role="admin", username="desk-admin")
    account = TradingAccountFactory(members=[user], symbols=["BTC/USDT", "ETH/USDT"], feed_cursor=7)
    active_policy(account)
    client = APIClient()
    client.force_login(user)
    return client, account


def post(client, account, body):
    return client.post(f"/api/v1/accounts/{account.pk}/replay", body, format="json")


def unchanged(account) -> bool:
    account.refresh_from_db()
    return (
        account.replay_files == {}
        and account.feed_cursor == 7
        and not AuditEvent.objects.filter(action="account.market_data_changed").exists()
    )


def test_an_admin_sets_a_replay_and_it_is_audited(desk, root):
    client, account = desk
    rising_csv(root / "btc.csv")
    response = post(client, account, {"files": {"BTC/USDT": "btc.csv"}, "speed": "60", "reason": "rerun the crash"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["replay_files"] == {"BTC/USDT": str((root / "btc.csv").resolve())}
    assert body["replay_speed"] == "60" and body["replay_started_at"] is not None
    account.refresh_from_db()
    assert account.replay_files == {"BTC/USDT": str((root / "btc.csv").resolve())}
    assert account.replay_speed == Decimal("60") and account.feed_cursor == 0
    event = AuditEvent.objects.get(action="account.market_data_changed")
    assert event.actor == "desk-admin"
    assert event.payload["reason"] == "rerun the crash" and event.payload["speed"] == "60"

    back = post(client, account, {"files": {}, "reason": "back to the scenario"})
    assert back.status_code == 200, back.json()
    assert back.json()["replay_files"] == {} and back.json()["replay_started_at"] is None
    assert AuditEvent.objects.filter(action="account.market_data_changed").count() == 2


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"BTC/USDT": "bad.csv"}, "replay_files: BTC/USDT: bad.csv: line 3: close must be positive, got 0"),
        ({"BTC/USDT": "nope.csv"}, "replay_files: BTC/USDT: nope.csv does not exist or is not a file"),
        ({"BTC/USDT": "../outside.csv"}, "replay_files: BTC/USDT: ../outside.csv is outside the replay directory"),
        ({"BTC/USDT": "/etc/hosts"}, "replay_files: BTC/USDT: /etc/hosts is outside the replay directory"),
        ({"SOL/USDT": "btc.csv"}, "replay_files: SOL/USDT is not an account symbol (BTC/USDT, ETH/USDT)"),
        ({"BTC/USDT": "x" * 300 + ".csv"}, "cannot be a file"),
    ],
)
def test_a_bad_file_is_refused_by_name_and_line_and_nothing_changes(desk, root, files, message):
    client, account = desk
    rising_csv(root / "btc.csv")
    rising_csv(root.parent / "outside.csv")
    (root / "bad.csv").write_text("timestamp,open,high,low,close,volume\n1,1,2,0.5,1.5,3\n2,1,2,0.5,0,3\n")
    response = post(client, account, {"files": files, "speed": "0", "reason": "replay"})
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert error["code"] == "market_data_invalid" and message in error["message"]
    assert "replay_files" in error["fields"]
    assert unchanged(account)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"files": {"BTC/USDT": "btc.csv"}, "speed": "-1", "reason": "x"}, "speed"),
        ({"files": {"BTC/USDT": "btc.csv"}, "speed": "fast", "reason": "x"}, "speed"),
        ({"files": {"BTC/USDT": "btc.csv"}, "speed": 60, "reason": "x"}, "speed"),
        ({"files": ["btc.csv"], "speed": "0", "reason": "x"}, "files"),
        ({"files": {"BTC/USDT": 1}, "speed": "0", "reason": "x"}, "files.BTC/USDT"),
        ({"files": {"BTC/USDT": "a\x00.csv"}, "speed": "0", "reason": "x"}, "files.BTC/USDT"),
        ({"files": {"BTC/USDT": "btc.csv"}, "speed": "0"}, "reason"),
        ({"files": {"BTC/USDT": "btc.csv"}, "speed": "0", "reason": "  "}, "reason"),
    ],
)
def test_malformed_input_is_a_400_naming_the_field(desk, root, body, field):
    client, account = desk
    rising_csv(root / "btc.csv")
    response = post(client, account, body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert unchanged(account)


def test_a_viewer_and_a_stranger_change_nothing(desk, root):
    _, account = desk
    rising_csv(root / "btc.csv")
    body = {"files": {"BTC/USDT": "btc.csv"}, "speed": "0", "reason": "x"}
    viewer = UserFactory(role="viewer")
    account.members.add(viewer)
    client = APIClient()
    client.force_login(viewer)
    assert post(client, account, body).status_code == 403
    stranger = APIClient()
    stranger.force_login(UserFactory(role="admin"))
    assert post(stranger, account, body).status_code == 404
    assert unchanged(account)
    assert TradingAccount.objects.get(pk=account.pk).replay_speed == 0


def test_the_schema_documents_the_replay_action(desk):
    client, _ = desk
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/accounts/{id}/replay"]["post"]
    assert {"200", "400", "403", "404", "422"} <= set(operation["responses"])
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][ref]["required"]) == {"files", "reason"}
