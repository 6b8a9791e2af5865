"""Marathon's event bus: what `GET /v2/events` streams as Server-Sent Events.

The simulator publishes an event whenever its state changes the way Marathon's
would (an app posted, a deployment started, stepped, finished or failed, a task
staged, running, killed or failed, a health check flipped), with the payloads
of Marathon's event stream: `eventType` and Marathon's own `timestamp` are added
to every one. Each subscriber (one SSE connection) has a queue of its own, so a
slow reader never holds up the simulator; publishing happens under the
simulator's lock, so every subscriber sees events in one order.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

# The client of the API request being served, for `api_post_event`: (clientIp, uri).
API_ORIGIN: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "api_origin", default=None
)

# What a subscriber's queue holds besides events: the stream is to be cut.
DROP = object()


class Subscriber:
    """One attached event stream: its filter, its queue, and where it came in."""

    def __init__(self, sub_id: int, event_types: frozenset[str], port: int) -> None:
        self.id = sub_id
        self.event_types = event_types
        self.port = port
        self.queue: queue.Queue[tuple[str, str] | object] = queue.Queue()

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class EventBus:
    """Fans events out to the attached streams; thread-safe."""

    def __init__(self, now: Callable[[], float], stamp: Callable[[float], str]) -> None:
        self._now = now
        self._stamp = stamp
        self._lock = threading.Lock()
        self._subscribers: dict[int, Subscriber] = {}
        self._ids = itertools.count(1)
        self.published = 0

    def subscribe(self, event_types: Iterable[str] = (), port: int = 0) -> Subscriber:
        with self._lock:
            sub = Subscriber(next(self._ids), frozenset(event_types), port)
            self._subscribers[sub.id] = sub
            return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.pop(sub.id, None)

    @property
    def subscribers(self) -> list[Subscriber]:
        with self._lock:
            return list(self._subscribers.values())

    def event(self, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The event as Marathon serialises it: its fields, then eventType and timestamp."""
        return {**payload, "eventType": event_type, "timestamp": self._stamp(self._now())}

    def publish(
        self, event_type: str, payload: dict[str, Any] | Callable[[], dict[str, Any]]
    ) -> None:
        """Send one event to every stream that wants it.

        `payload` may be a function, so that costly payloads (a deployment plan
        holds groups) are only built when somebody listens.
        """
        targets = [s for s in self.subscribers if s.wants(event_type)]
        self.published += 1
        if not targets:
            return
        body = payload() if callable(payload) else payload
        data = json.dumps(self.event(event_type, body), separators=(",", ":"))
        for sub in targets:
            sub.queue.put((event_type, data))

    def drop(self, port: int | None = None) -> int:
        """Cut the streams (those attached through `port`, or all): the fault of a
        dropped event stream, a leader change, a server shutting down."""
        with self._lock:
            subs = [s for s in self._subscribers.values() if port is None or s.port == port]
            for sub in subs:
                self._subscribers.pop(sub.id, None)
        for sub in subs:
            sub.queue.put(DROP)
        return len(subs)
