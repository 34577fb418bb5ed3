"""Per-process fan-out of account events to the dashboards connected to this server process.

Each account's dashboards used to hold one channel-layer channel each: the layer put every
event into 200 queues, and Channels woke 200 consumer tasks (a queue get, a message decode, a
new task and an `asyncio.wait` each) before each sent its frame; ~20 us a dashboard, more than
the send itself (bench/websocket.py). Here one layer channel per account group and process
joins the group; one task receives each event once and appends the pre-encoded text to every
local dashboard's queue in one pass.

Each dashboard has one writer task that sends its queue in order, so a socket whose send waits
(the client stopped reading and the server's write buffer is full) holds up no other and its
own events stay in order. Its queue is bounded: a dashboard more than `BACKLOG_LIMIT` events
behind is closed (`CLOSE_TOO_SLOW`) and its events dropped, instead of memory growing without
bound; the page reconnects and re-syncs from the database by sequence number (static/js/live.js).
Waking a writer per socket costs ~1.4 us of CPU per socket and event more than running each send
inline up to its first suspension, which on Python 3.11 (no eager tasks) needed asyncio
internals to finish a send that did suspend (bench/README.md)."""

import asyncio
import logging
import weakref
from collections import deque

logger = logging.getLogger(__name__)

BACKLOG_LIMIT = 100  # events queued for one socket, ~1 KB each, before it is closed
CLOSE_TOO_SLOW = 4008  # private-use close code: too far behind, reconnect and re-sync


class _Member:
    __slots__ = ("backlog", "send", "wakeup", "writer")

    def __init__(self, send):
        self.send = send  # the ASGI send of one socket
        # Events not yet handed to the socket; None once it is closed for falling behind.
        self.backlog: deque[str] | None = deque()
        self.wakeup: asyncio.Future | None = None  # set while the writer waits for events
        self.writer: asyncio.Task | None = None  # started once the socket is accepted


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
            for member in self.members.values():
                _deliver(member, text)


def _deliver(member: _Member, text: str) -> None:
    backlog = member.backlog
    if backlog is None:  # closed for falling behind; its disconnect removes it
        return
    if len(backlog) >= BACKLOG_LIMIT:
        # Drop what it has not taken; its writer closes it after the frame it is sending.
        member.backlog = None
        logger.warning("dashboard socket closed: more than %d events behind", BACKLOG_LIMIT)
    else:
        backlog.append(text)
    wakeup = member.wakeup
    if wakeup is not None:
        member.wakeup = None
        if not wakeup.done():  # cancelled with its writer
            wakeup.set_result(None)


async def _write(member: _Member) -> None:
    """Hand the socket its events one by one, in order; wait for more when there are none."""
    loop = asyncio.get_running_loop()
    send = member.send
    try:
        while True:
            backlog = member.backlog
            if backlog is None:
                await _close(send)
                return
            if backlog:
                await send({"type": "websocket.send", "text": backlog.popleft()})
            else:
                member.wakeup = loop.create_future()
                await member.wakeup
    except Exception:  # the socket is gone; its disconnect removes it
        member.backlog = None


async def _close(send) -> None:
    # Like any send, this waits for room in the socket's write buffer: a peer that never reads
    # again keeps only what that buffer already holds (uvicorn's high-water mark), nothing more.
    try:
        await send({"type": "websocket.close", "code": CLOSE_TOO_SLOW, "reason": "too far behind: re-sync"})
    except Exception:  # noqa: S110 - the socket is gone already
        pass


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
    if member is not None and member.writer is None:
        member.writer = asyncio.ensure_future(_write(member))


async def leave(group: str, key) -> None:
    hubs = _hubs.get(asyncio.get_running_loop(), {})
    hub = hubs.get(group)
    member = hub.members.pop(key, None) if hub else None
    if member is not None and member.writer is not None:
        member.writer.cancel()
    if member is None or hub.members:
        return
    del hubs[group]  # at once, so a dashboard joining meanwhile starts a new hub
    await hub.stop()
