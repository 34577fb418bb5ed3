import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client

from compliance.services import Actor
from genesis_site.asgi import application
from risk.services.stops import trading_halt, trading_release
from tests.genesis_site.factories import UserFactory
from tests.trading.factories import TradingAccountFactory
from trading.live import account_event_publish

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest_asyncio.fixture(autouse=True)
async def close_thread_connections():
    # The consumer's ORM calls run on asgiref's executor thread; close that thread's
    # connection so the test database can be dropped at the end of the session.
    yield
    await database_sync_to_async(connections.close_all)()


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def communicator(account_id: int, *, cookie: bytes | None, origin: bytes | None = b"http://localhost"):
    headers = [(b"host", b"localhost")]
    if origin:
        headers.append((b"origin", origin))
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/accounts/{account_id}/", headers=headers)


@database_sync_to_async
def member_and_account():
    user = UserFactory()
    return user, TradingAccountFactory(members=[user]), session_cookie(user)


async def test_a_member_joins_the_account_group_and_receives_server_events():
    _user, account, cookie = await member_and_account()
    ws = communicator(account.pk, cookie=cookie)
    connected, _ = await ws.connect()
    assert connected
    await database_sync_to_async(account_event_publish)(account_id=account.pk, event={"type": "tick", "seq": 7})
    # the stream number is the account's, taken when the event is sent, not the sender's
    assert await ws.receive_json_from(timeout=2) == {"type": "tick", "seq": 1}
    await ws.send_json_to({"type": "halt"})
    assert (await ws.receive_json_from(timeout=2))["type"] == "error"
    await ws.disconnect()


async def test_an_anonymous_handshake_is_refused():
    _, account, _ = await member_and_account()
    connected, _ = await communicator(account.pk, cookie=None).connect()
    assert not connected


@pytest.mark.parametrize("origin", [b"http://evil.example", None])
async def test_a_foreign_or_missing_origin_is_refused(origin):
    _, account, cookie = await member_and_account()
    connected, _ = await communicator(account.pk, cookie=cookie, origin=origin).connect()
    assert not connected


async def test_a_user_cannot_join_another_accounts_group():
    _, _, cookie = await member_and_account()
    other = await database_sync_to_async(TradingAccountFactory)()
    connected, _ = await communicator(other.pk, cookie=cookie).connect()
    assert not connected


async def test_every_event_carries_the_next_stream_number_including_service_changes():
    user, account, cookie = await member_and_account()
    ws = communicator(account.pk, cookie=cookie)
    assert (await ws.connect())[0]

    @database_sync_to_async
    def halt_and_release():
        actor = Actor.from_user(user)
        trading_halt(account_id=account.pk, actor=actor, reason="drill")
        trading_release(account_id=account.pk, actor=actor, reason="drill over")

    await halt_and_release()
    events = [await ws.receive_json_from(timeout=2) for _ in range(3)]
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert {e["type"] for e in events} == {"stop", "alert"}  # halt, its kill-switch alert, release
    assert events[-1] == {"type": "stop", "stop_level": "none", "seq": 3}
    stored = await database_sync_to_async(lambda: type(account).objects.get(pk=account.pk).stream_seq)()
    assert stored == 3
    await ws.disconnect()


async def test_a_member_of_one_account_hears_nothing_of_another():
    _user, account, cookie = await member_and_account()
    other = await database_sync_to_async(TradingAccountFactory)()
    ws = communicator(account.pk, cookie=cookie)
    assert (await ws.connect())[0]
    await database_sync_to_async(account_event_publish)(account_id=other.pk, event={"type": "tick"})
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()
