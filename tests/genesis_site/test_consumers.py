import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client

from genesis_site.asgi import application
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
    assert await ws.receive_json_from(timeout=2) == {"type": "tick", "seq": 7}
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
