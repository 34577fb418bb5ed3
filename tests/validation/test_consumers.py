import pytest
from channels.db import database_sync_to_async

from tests.genesis_site.factories import UserFactory
from tests.genesis_site.test_consumers import close_thread_connections, session_cookie  # noqa: F401
from validation.live import run_event_publish

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def communicator(cookie):
    from channels.testing import WebsocketCommunicator

    from genesis_site.asgi import application

    headers = [(b"host", b"localhost"), (b"origin", b"http://localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, "/ws/validation/", headers=headers)


@database_sync_to_async
def cookie_for(role):
    user = UserFactory(role=role)
    if role:
        # Transactional tests flush the rows the permission migration created; grant again
        # what validation/migrations/0003 grants every role.
        from django.contrib.auth.models import Group, Permission

        view = Permission.objects.get(content_type__app_label="validation", codename="view_validationrun")
        Group.objects.get(name=role).permissions.add(view)
    return session_cookie(user)


async def test_a_user_who_may_view_runs_receives_progress_events():
    ws = communicator(await cookie_for("viewer"))
    connected, _ = await ws.connect()
    assert connected
    await database_sync_to_async(run_event_publish)(run_id=3, event={"type": "check", "run": 3, "name": "strategy"})
    assert await ws.receive_json_from(timeout=2) == {"type": "check", "run": 3, "name": "strategy"}
    await ws.disconnect()


async def test_anonymous_or_roleless_users_are_refused():
    connected, _ = await communicator(None).connect()
    assert not connected
    connected, _ = await communicator(await cookie_for(None)).connect()
    assert not connected
