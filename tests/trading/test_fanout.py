import asyncio

import pytest
from channels.layers import InMemoryChannelLayer

from trading import fanout

pytestmark = pytest.mark.asyncio
GROUP = "account-fanout-test"


def event(n: int) -> dict:
    return {"type": "account.event", "text": f'{{"seq":{n}}}'}


class Socket:
    """An ASGI send that records frames; while `gate` is unset, sends wait on it, like a
    socket whose client stopped reading."""

    def __init__(self, blocked: bool = False):
        self.frames: list[str] = []
        self.closed_with: int | None = None
        self.gate = asyncio.Event()
        if not blocked:
            self.gate.set()

    async def send(self, message):
        assert self.closed_with is None, "nothing may be sent after the close"
        await self.gate.wait()
        if message["type"] == "websocket.close":
            self.closed_with = message["code"]
        else:
            assert message["type"] == "websocket.send"
            self.frames.append(message["text"])


async def until(predicate, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.001)


async def test_a_socket_that_blocks_holds_up_no_other_and_then_gets_its_events_in_order():
    layer = InMemoryChannelLayer()
    stuck, live = Socket(blocked=True), Socket()
    for key, socket in (("stuck", stuck), ("live", live)):
        await fanout.join(layer, GROUP, key, socket.send)
        fanout.opened(GROUP, key)
    for n in range(1, 4):
        await layer.group_send(GROUP, event(n))
    await until(lambda: len(live.frames) == 3)
    assert live.frames == ['{"seq":1}', '{"seq":2}', '{"seq":3}']
    assert stuck.frames == []
    stuck.gate.set()
    await until(lambda: len(stuck.frames) == 3)
    assert stuck.frames == live.frames
    await layer.group_send(GROUP, event(4))
    await until(lambda: len(stuck.frames) == 4 and len(live.frames) == 4)
    for key in ("stuck", "live"):
        await fanout.leave(GROUP, key)


async def test_events_before_the_handshake_is_accepted_are_held_until_it_is():
    layer = InMemoryChannelLayer()
    socket = Socket()
    await fanout.join(layer, GROUP, "one", socket.send)
    await layer.group_send(GROUP, event(1))
    await asyncio.sleep(0.05)
    assert socket.frames == []  # not accepted yet: nothing may go out
    fanout.opened(GROUP, "one")
    await until(lambda: socket.frames == ['{"seq":1}'])
    await layer.group_send(GROUP, event(2))
    await until(lambda: socket.frames == ['{"seq":1}', '{"seq":2}'])
    await fanout.leave(GROUP, "one")


async def test_the_last_socket_leaving_ends_the_subscription_and_a_new_one_starts_again():
    layer = InMemoryChannelLayer()
    first, second = Socket(), Socket()
    await fanout.join(layer, GROUP, "first", first.send)
    await fanout.join(layer, GROUP, "second", second.send)
    assert len(layer.groups[GROUP]) == 1  # one subscription for the process, not one per socket
    await fanout.leave(GROUP, "first")
    assert GROUP in layer.groups
    await fanout.leave(GROUP, "second")
    assert GROUP not in layer.groups
    again = Socket()
    await fanout.join(layer, GROUP, "again", again.send)
    fanout.opened(GROUP, "again")
    await layer.group_send(GROUP, event(5))
    await until(lambda: again.frames == ['{"seq":5}'])
    assert first.frames == second.frames == []
    await fanout.leave(GROUP, "again")


async def test_a_socket_too_far_behind_is_closed_and_its_events_dropped_while_the_others_get_them_all(monkeypatch):
    monkeypatch.setattr(fanout, "BACKLOG_LIMIT", 5)
    layer = InMemoryChannelLayer()
    stuck, live = Socket(blocked=True), Socket()
    for key, socket in (("stuck", stuck), ("live", live)):
        await fanout.join(layer, GROUP, key, socket.send)
        fanout.opened(GROUP, key)
    for n in range(1, 301):
        await layer.group_send(GROUP, event(n))
        await asyncio.sleep(0)
    await until(lambda: len(live.frames) == 300)
    assert live.frames == [f'{{"seq":{n}}}' for n in range(1, 301)]
    assert stuck.closed_with is None  # its first frame is still being sent: the close waits for it
    stuck.gate.set()
    await until(lambda: stuck.closed_with is not None)
    # The frame in flight went out, then the close; the 299 events behind it were not kept.
    assert stuck.frames == ['{"seq":1}']
    assert stuck.closed_with == fanout.CLOSE_TOO_SLOW
    await layer.group_send(GROUP, event(301))
    await until(lambda: len(live.frames) == 301)
    await asyncio.sleep(0.01)
    assert stuck.frames == ['{"seq":1}']
    for key in ("stuck", "live"):
        await fanout.leave(GROUP, key)
    assert GROUP not in layer.groups


async def test_a_socket_that_keeps_up_is_never_closed_however_many_events_come():
    layer = InMemoryChannelLayer()
    socket = Socket()
    await fanout.join(layer, GROUP, "one", socket.send)
    fanout.opened(GROUP, "one")
    for n in range(1, 3 * fanout.BACKLOG_LIMIT):
        await layer.group_send(GROUP, event(n))
        await until(lambda n=n: len(socket.frames) == n)
    assert socket.closed_with is None
    await fanout.leave(GROUP, "one")
