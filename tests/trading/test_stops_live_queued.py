"""The kill switch of a LIVE account answers once the stop commits; its cancels (then a
flatten's exits) go to the exchange after the commit, through the `risk.stop_enforce_live`
task (SPEC R6, §9 "kill switch POST p99 <= 50 ms; no order after <= 100 ms", §10). The real
ccxt client against the exchange emulator on loopback; the account's stored credentials, as
a worker uses them."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import Actor
from risk.services import trading_halt
from risk.tasks import stop_enforce_live_task
from tests.genesis_site.api_cases import client_for
from tests.genesis_site.factories import UserFactory
from tests.trading.conftest import API_KEY, SECRET
from tests.trading.factories import StrategyFactory
from tests.trading.test_engine_live import order_actions, rising_market
from tests.trading.test_stops_live import remote, resting_buy
from trading.models import Order, StopLevel
from trading.services.credentials import credential_store
from trading.services.engine import engine_tick, live_exchange_session
from trading.services.live_orders import order_submit_live
from trading.tasks import reconcile_task

pytestmark = pytest.mark.django_db
OPS = Actor("user", "ops")


@pytest.fixture
def session(emulator, live_account, settings):
    """The account's own exchange session (stored credentials, the emulator's URL): what the
    task, the tick and reconciliation use."""
    settings.GENESIS_EXCHANGE_URL = emulator.url
    credential_store(account=live_account, api_key=API_KEY, secret=SECRET, actor=Actor.system("test"))
    return live_exchange_session(account_id=live_account.pk)


def cancels_sent(emulator) -> int:
    return emulator.state.requests.count(("DELETE", "order"))


def test_the_halt_answers_before_any_cancel_and_the_cancels_follow_its_commit(
    emulator, live_account, session, django_capture_on_commit_callbacks
):
    user = UserFactory(role="admin")
    live_account.members.add(user)
    orders = [resting_buy(live_account, session, f"gen-q-{i}") for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(user).post("/api/v1/stops/halt", {"reason": "incident"}, format="json")
        # The answer is out; the stop is in force; nothing has reached the exchange yet.
        assert response.status_code == 200, response.content
        assert response.json() == {
            "account": live_account.pk,
            "stop_level": "halt",
            "stop_reason": "incident",
            "cancelled_orders": 0,
            "cancel_on_exchange": 3,
        }
        assert cancels_sent(emulator) == 0
        assert [remote(emulator, o.idempotency_key)["status"] for o in orders] == ["NEW"] * 3
        assert not Order.objects.filter(status="cancelled").exists()
    assert len(callbacks) >= 1
    assert cancels_sent(emulator) == 3
    assert [remote(emulator, o.idempotency_key)["status"] for o in orders] == ["CANCELED"] * 3
    halt = AuditEvent.objects.get(action="stop.halt")
    assert halt.payload["cancel_on_exchange"] == 3
    for order in orders:
        order.refresh_from_db()
        assert order.status == "cancelled"
        assert [a for a, _ in order_actions(order)] == ["order.new", "order.submitted", "order.cancelled"]
    cancelled = AuditEvent.objects.filter(action="order.cancelled")
    assert all(e.sequence > halt.sequence and e.payload["reason"] == "halt: incident" for e in cancelled)
    assert {e.actor for e in cancelled} == {user.username}
    assert audit_chain_verify().ok


def test_a_redelivered_cancel_task_sends_nothing_twice(emulator, live_account, session):
    order = resting_buy(live_account, session, "gen-twice")
    trading_halt(account_id=live_account.pk, actor=OPS, reason="drill")  # its task is not run here
    args = (live_account.pk, OPS.type, OPS.name, "halt: drill", [], "")
    stop_enforce_live_task.apply(args=args, throw=True)
    stop_enforce_live_task.apply(args=args, throw=True)  # a worker died after the cancel: redelivered
    assert cancels_sent(emulator) == 1
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert AuditEvent.objects.filter(action="order.cancelled").count() == 1


def test_a_lost_cancel_task_is_made_good_by_the_next_tick_which_places_nothing(emulator, live_account, session):
    """The halt committed, its task never ran (broker lost it, every worker died): the halted
    account's next tick cancels the order, and no new order goes out although the strategy
    would enter on this market."""
    StrategyFactory(account=live_account)
    order = resting_buy(live_account, session, "gen-lost-1")
    trading_halt(account_id=live_account.pk, actor=OPS, reason="drill")
    rising_market(emulator)
    posts = emulator.state.requests.count(("POST", "order"))

    result = engine_tick(account_id=live_account.pk)
    assert result.orders == []
    assert emulator.state.requests.count(("POST", "order")) == posts
    assert remote(emulator, "gen-lost-1")["status"] == "CANCELED"
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert list(Order.objects.filter(account=live_account).values_list("idempotency_key", flat=True)) == ["gen-lost-1"]


def test_a_lost_cancel_task_is_made_good_by_reconciliation(emulator, live_account, session):
    order = resting_buy(live_account, session, "gen-lost-2")
    trading_halt(account_id=live_account.pk, actor=OPS, reason="drill")
    reconcile_task.apply(args=(live_account.pk,), throw=True)
    assert remote(emulator, "gen-lost-2")["status"] == "CANCELED"
    order.refresh_from_db()
    assert order.status == "cancelled"


def test_no_order_is_placed_once_the_halt_answered_even_before_its_cancels(emulator, live_account, session):
    trading_halt(account_id=live_account.pk, actor=OPS, reason="drill")  # cancels not run yet
    placed = order_submit_live(
        account=live_account,
        exchange=session,
        symbol="BTC/USDT",
        side="buy",
        amount=Decimal("0.001"),
        idempotency_key="gen-after",
        actor=OPS,
    )
    assert placed.status == "cancelled" and placed.reject_reason.startswith("not sent: halt")
    assert emulator.state.orders_with_client_id("gen-after") == []


def test_a_queued_flatten_answers_with_its_counts_then_cancels_and_sells(
    emulator, live_account, session, django_capture_on_commit_callbacks
):
    user = UserFactory(role="admin")
    live_account.members.add(user)
    bought = order_submit_live(
        account=live_account,
        exchange=session,
        symbol="BTC/USDT",
        side="buy",
        amount=Decimal("0.001"),
        idempotency_key="gen-entry",
        actor=OPS,
    )
    assert bought.status == "filled"
    resting = resting_buy(live_account, session, "gen-rest")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post("/api/v1/stops/flatten", {"reason": "end of day"}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["stop_level"], body["cancel_on_exchange"], body["exit_orders"]) == ("flatten", 1, 1)
        assert (body["cancelled_orders"], body["closed_positions"]) == (0, 0)
        (exit_order,) = Order.objects.filter(account=live_account, idempotency_key__startswith="flat-")
        assert (
            exit_order.status == "submitted" and emulator.state.orders_with_client_id(exit_order.idempotency_key) == []
        )
    resting.refresh_from_db()
    exit_order.refresh_from_db()
    assert resting.status == "cancelled" and remote(emulator, "gen-rest")["status"] == "CANCELED"
    assert exit_order.status == "filled" and remote(emulator, exit_order.idempotency_key)["status"] == "FILLED"
    live_account.refresh_from_db()
    assert live_account.stop_level == StopLevel.FLATTEN
    assert audit_chain_verify().ok


def test_the_command_waits_for_the_exchange_unless_told_not_to(emulator, live_account, session):
    resting_buy(live_account, session, "gen-cli")
    out = StringIO()
    call_command("trading_stop", "halt", live_account.name, "--reason", "incident", "--no-wait", stdout=out)
    assert out.getvalue().splitlines() == ["cancelling 1 orders on the exchange (queued)", f"{live_account.name}: halt"]
    assert remote(emulator, "gen-cli")["status"] == "NEW"  # the commit callbacks of this test never run
    out = StringIO()
    call_command("trading_stop", "halt", live_account.name, "--reason", "incident", stdout=out)
    assert out.getvalue().splitlines() == ["cancelled 1 orders on the exchange", f"{live_account.name}: halt"]
    assert remote(emulator, "gen-cli")["status"] == "CANCELED"
