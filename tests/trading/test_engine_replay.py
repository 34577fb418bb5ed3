"""SPEC T1: an account whose market data is the replay of OHLCV files, at any speed."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from compliance.models import AuditEvent
from compliance.services import Actor
from tests.risk.factories import active_policy
from tests.trading.factories import StrategyFactory, TradingAccountFactory
from trading.models import Candle, Order, TradingAccount
from trading.replay import MarketDataInvalid
from trading.services.accounts import account_replay_set
from trading.services.engine import engine_tick

pytestmark = pytest.mark.django_db
OPS = Actor.system("test")
T0 = 1_700_000_000_000
ROWS = 60


def rising_csv(path, rows=ROWS):
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(rows):
        close = Decimal(60_000 + 30 * i)
        lines.append(f"{T0 + i * 60_000},{close - 30},{close + 5},{close - 35},{close},12.5")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def account():
    account = TradingAccountFactory(symbols=["BTC/USDT"], feed_cursor=0)
    StrategyFactory(account=account)
    active_policy(account)
    return account


def test_an_account_ticks_through_its_replay_file_then_stops(account, tmp_path):
    path = rising_csv(tmp_path / "btc.csv")
    account_replay_set(account_id=account.pk, files={"BTC/USDT": str(path)}, speed=0, actor=OPS, reason="replay")
    ticks = 0
    while engine_tick(account_id=account.pk) is not None:
        ticks += 1
        assert ticks < ROWS
    account.refresh_from_db()
    assert ticks == ROWS - 1 and account.feed_cursor == ROWS - 1
    closes = (
        Candle.objects.filter(source="replay:btc", symbol="BTC/USDT").order_by("ts").values_list("close", flat=True)
    )
    assert list(closes) == [Decimal(60_000 + 30 * i) for i in range(1, ROWS)]  # index 0 is history
    order = Order.objects.get(account=account)  # the rising file makes the crossover enter once
    assert order.side == "buy" and order.status == "filled"
    assert AuditEvent.objects.get(action="account.market_data_changed").payload["to"] == {"BTC/USDT": str(path)}


def test_a_ccxt_json_file_replays_at_its_speed(account, tmp_path):
    path = tmp_path / "btc.json"
    path.write_text(json.dumps([[T0 + i * 60_000, 100 + i, 101 + i, 99 + i, 100.5 + i, 10] for i in range(30)]))
    account_replay_set(account_id=account.pk, files={"BTC/USDT": str(path)}, speed="60", actor=OPS, reason="x60")
    # 10 s of real time at 60x is 10 one-minute candles.
    TradingAccount.objects.filter(pk=account.pk).update(replay_started_at=timezone.now() - timedelta(seconds=10.5))
    result = engine_tick(account_id=account.pk)
    account.refresh_from_db()
    assert account.feed_cursor == 10 and result.marks == {"BTC/USDT": Decimal("110.5")}
    assert engine_tick(account_id=account.pk) is None  # the next candle is not due yet
    TradingAccount.objects.filter(pk=account.pk).update(replay_started_at=timezone.now() - timedelta(hours=1))
    engine_tick(account_id=account.pk)
    account.refresh_from_db()
    assert account.feed_cursor == 29  # the file's last candle; nothing after it
    assert engine_tick(account_id=account.pk) is None


def test_on_the_candle_clock_a_replay_takes_every_candle_and_stamps_its_time(account, tmp_path):
    path = rising_csv(tmp_path / "btc.csv")
    account_replay_set(account_id=account.pk, files={"BTC/USDT": str(path)}, speed="60", actor=OPS, reason="x60")
    # Its speed is a wall-clock notion: a probe ticking on the candle clock takes each candle.
    for cursor in range(1, 6):
        result = engine_tick(account_id=account.pk, candle_clock=True)
        assert result.marks == {"BTC/USDT": Decimal(60_000 + 30 * cursor)}
    account.refresh_from_db()
    candle_time = datetime.fromtimestamp((T0 + 5 * 60_000) / 1000, tz=UTC)
    assert account.feed_cursor == 5 and account.last_tick_at == candle_time


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("timestamp,open,high,low,close,volume\n1,1,2,0.5,1.5,1\n2,1,2,0.5,abc,1\n", "csv", "line 3: close is not"),
        ("[[1, 1, 2, 0.5, 1.5, 1],\n [2, 1, 2]]", "json", "line 2: expected 6 fields"),
        ("a,b\n", "csv", "line 1: header must be"),
    ],
)
def test_a_malformed_file_is_refused_with_its_line_and_nothing_changes(account, tmp_path, content, suffix, message):
    path = tmp_path / f"bad.{suffix}"
    path.write_text(content)
    with pytest.raises(MarketDataInvalid, match=message):
        account_replay_set(account_id=account.pk, files={"BTC/USDT": str(path)}, speed=0, actor=OPS, reason="x")
    account.refresh_from_db()
    assert account.replay_files == {} and account.feed_cursor == 0
    assert not AuditEvent.objects.filter(action="account.market_data_changed").exists()


def test_missing_files_other_symbols_bad_speeds_and_the_admin_form_are_refused(account, tmp_path):
    good = str(rising_csv(tmp_path / "btc.csv"))
    cases = [
        ({"BTC/USDT": str(tmp_path / "nope.csv")}, 0, "does not exist"),
        ({"ETH/USDT": good}, 0, "ETH/USDT is not an account symbol"),
        ({"BTC/USDT": good}, -1, "replay_speed: must be 0"),
        ({"BTC/USDT": good}, "fast", "replay_speed: 'fast' is not a number"),
    ]
    for files, speed, message in cases:
        with pytest.raises(MarketDataInvalid, match=message):
            account_replay_set(account_id=account.pk, files=files, speed=speed, actor=OPS, reason="x")
    (tmp_path / "bad.csv").write_text("timestamp,open,high,low,close,volume\n1,1,2,0.5,1.5,-3\n")
    account.replay_files = {"BTC/USDT": str(tmp_path / "bad.csv")}
    with pytest.raises(ValidationError, match="line 2: volume must not be negative"):
        account.full_clean()


def test_an_empty_replay_returns_the_account_to_its_scenario(account, tmp_path):
    path = rising_csv(tmp_path / "btc.csv")
    account_replay_set(account_id=account.pk, files={"BTC/USDT": str(path)}, speed=0, actor=OPS, reason="replay")
    account_replay_set(account_id=account.pk, files={}, speed=0, actor=OPS, reason="back")
    engine_tick(account_id=account.pk)
    assert Candle.objects.filter(source__startswith="scenario:bull").exists()


def test_a_replay_file_gone_after_it_was_checked_raises_an_alert_and_ticks_nothing(account, tmp_path):
    from risk.models import Alert

    path = rising_csv(tmp_path / "btc.csv")
    account_replay_set(account_id=account.pk, files={"BTC/USDT": str(path)}, speed=0, actor=OPS, reason="replay")
    path.unlink()
    assert engine_tick(account_id=account.pk) is None
    alert = Alert.objects.get(account=account, type="bad_tick")
    assert "cannot read" in alert.message
    account.refresh_from_db()
    assert account.feed_cursor == 0


def test_the_command_sets_the_replay_and_refuses_a_bad_file(account, tmp_path, capsys):
    from django.core.management import CommandError, call_command

    good = rising_csv(tmp_path / "btc.csv")
    call_command("account_replay", account.name, "--file", f"BTC/USDT={good}", "--speed", "60", "--reason", "r")
    assert f"{account.name}: BTC/USDT={good} at speed 60" in capsys.readouterr().out
    (tmp_path / "bad.csv").write_text("timestamp,open,high,low,close,volume\n1,1,2,0.5,1.5,1\n1,1,2,0.5,1.5,1\n")
    with pytest.raises(CommandError, match=r"line 3: timestamp .* is not after the previous row's"):
        call_command("account_replay", account.name, "--file", f"BTC/USDT={tmp_path / 'bad.csv'}", "--reason", "r")
