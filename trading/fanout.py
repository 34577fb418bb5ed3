"""Per-process fan-out of account events to the dashboards connected to this server process.

Each account's dashboards used to hold one channel-layer channel each: the layer put every
event into 200 queues, and Channels woke 200 consumer tasks (a queue get, a message decode, a
new task and an `asyncio.wait` each) before each sent its frame; ~20 us a dashboard, more than
the send itself (bench/websocket.py). Here one layer channel per account group and process
joins the group; one task receives each event once and hands the pre-encoded text to every
local dashboard's socket in one pass.

A socket whose send would wait (the client stopped reading and the server's write buffer is
full) must not hold up the others: each send runs up to its first suspension in the pass;
only a send that suspends is finished in a task of its own, and that dashboard's later events
queue behind it, so every dashboard still gets its events in order."""

import asyncio
import logging
import weakref
from collections import deque

logger = logging.getLogger(__name__)


class _Member:
    __slots__ = ("backlog", "send", "task")

    def __init__(self, send):
        self.send = send  # the ASGI send of one socket
        # Events waiting behind a send that suspended, or for the socket to be accepted.
        self.backlog: deque[str] | None = deque()
        self.task: asyncio.Task | None = None  # the one finishing a suspended send


class _Hub:
    def __init__(self, layer, group: str):
        self.layer, self.group = layer, group
        self.members: dict[object, _Member] = {}
        self.channel: str | None = None
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        try:
            self.channel = await self.layer.new_channel()
            await self.layer.group_add(self.group, self.channel)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                self.ready.cancel()
            else:
                self.ready.set_exception(exc)
                self.ready.exception()  # marked retrieved: the joiner that started it raises it
            raise
        self.task = asyncio.ensure_future(self._receive())
        self.ready.set_result(None)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.channel is not None:
            await self.layer.group_discard(self.group, self.channel)

    async def _receive(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except Exception:  # the layer lost Redis: keep the dashboards' subscription alive
                logger.exception("account group receive failed", extra={"group": self.group})
                await asyncio.sleep(1)
                continue
            text = message.get("text")
            if message.get("type") != "account.event" or not isinstance(text, str):
                logger.warning("unexpected message on an account group", extra={"group": self.group})
                continue
            for member in list(self.members.values()):
                _deliver(member, text)


def _deliver(member: _Member, text: str) -> None:
    if member.backlog is not None:  # an earlier event of this socket is still being sent
        member.backlog.append(text)
        return
    pending = _send_eagerly(member.send, {"type": "websocket.send", "text": text})
    if pending is not None:
        member.backlog = deque()
        member.task = asyncio.ensure_future(_drain(member, pending))


def _send_eagerly(send, message: dict):
    """Run `send(message)` up to its first suspension right here. Returns None when it
    finished (the socket took the frame: the usual case), else the coroutine and what it
    waits on, to be finished by `_drain`. An error (socket gone) is dropped: that socket's
    own disconnect removes it."""
    coro = send(message)
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    except Exception:
        return None
    return coro, waiting_on


async def _drain(member: _Member, pending) -> None:
    try:
        if pending is not None:
            await _finish(*pending)
        while member.backlog:
            coro = member.send({"type": "websocket.send", "text": member.backlog.popleft()})
            await coro
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: S110 - the socket is gone; its disconnect removes it
        pass
    finally:
        member.backlog, member.task = None, None


async def _finish(coro, waiting_on) -> None:
    """Go on with a coroutine that suspended on `waiting_on` outside a task (what Python
    3.12's eager tasks do; this runs on 3.11)."""
    while True:
        try:
            if waiting_on is None:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            else:
                # What a Task does with a future its coroutine yields: clear the flag the
                # first `await` set, or awaiting the future again raises RuntimeError.
                waiting_on._asyncio_future_blocking = False
                await waiting_on
        except BaseException as exc:
            try:
                waiting_on = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                waiting_on = coro.send(None)
            except StopIteration:
                return


# Hubs belong to the event loop that runs them (tests run several loops in one process).
_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Hub]]" = weakref.WeakKeyDictionary()


async def join(layer, group: str, key, send) -> None:
    """Take the group's events for `send` (one socket's ASGI send) from now on; they are held
    until `opened` (the handshake must be accepted first), as the layer's queue held them."""
    hubs = _hubs.setdefault(asyncio.get_running_loop(), {})
    hub = hubs.get(group)
    if hub is None:
        hub = hubs[group] = _Hub(layer, group)
        try:
            await hub.start()
        except BaseException:
            if hubs.get(group) is hub:
                del hubs[group]
            raise
    else:
        await asyncio.shield(hub.ready)
    hub.members[key] = _Member(send)


def opened(group: str, key) -> None:
    """The socket is accepted: send what was held for it, then the events as they come."""
    hub = _hubs.get(asyncio.get_running_loop(), {}).get(group)
    member = hub.members.get(key) if hub else None
    if member is None or member.backlog is None:
        return
    if member.backlog:
        member.task = asyncio.ensure_future(_drain(member, None))
    else:
        member.backlog = None


async def leave(group: str, key) -> None:
    hubs = _hubs.get(asyncio.get_running_loop(), {})
    hub = hubs.get(group)
    member = hub.members.pop(key, None) if hub else None
    if member is not None and member.task is not None:
        member.task.cancel()
    if member is None or hub.members:
        return
    del hubs[group]  # at once, so a dashboard joining meanwhile starts a new hub
    await hub.stop()
