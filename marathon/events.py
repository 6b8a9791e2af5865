"""Marathon's event stream (`GET /v2/events`, Server-Sent Events) as parsed events.

The SSE framing is sseclient-py's, over requests' streaming response: berth only decodes
each event's JSON. The stream never ends on its own; a read timeout longer than Marathon's
keep-alive comments tells a dead connection from a quiet cluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import requests
import sseclient

from marathon.errors import ClusterError, ClusterProtocolError
from marathon.http import Credentials, HttpEndpoint

# the events the watcher applies; asking only for them spares both sides the rest
WATCHED_EVENTS = (
    "event_stream_attached",
    "status_update_event",
    "api_post_event",
    "deployment_info",
    "deployment_step_success",
    "deployment_success",
    "deployment_failed",
    "app_terminated_event",
)


@dataclass(frozen=True)
class MarathonEvent:
    type: str
    body: dict[str, Any]


class EventStreamClosed(ClusterError):
    """The stream ended or broke; the caller reconnects (and reconciles)."""


def stream_events(
    url: str,
    *,
    event_types: Sequence[str] = WATCHED_EVENTS,
    credentials: Credentials | None = None,
    timeout: tuple[float, float] = (3.05, 30.0),
    session: requests.Session | None = None,
) -> Iterator[MarathonEvent]:
    """Yield Marathon's events until the stream breaks, then raise EventStreamClosed.

    Connecting errors are the client's usual typed ones (unreachable, 4xx/5xx).
    """
    endpoint = HttpEndpoint(
        url, session=session or requests.Session(), timeout=timeout, credentials=credentials
    )
    response = endpoint.request(
        "GET",
        "/v2/events",
        params={"event_type": list(event_types)} if event_types else None,
        headers={"Accept": "text/event-stream"},
        stream=True,
    )
    with closing(response):
        client = sseclient.SSEClient(response.iter_content(chunk_size=None))
        try:
            for event in client.events():
                if not event.data:
                    continue
                try:
                    body = json.loads(event.data)
                except ValueError as exc:
                    raise ClusterProtocolError(
                        f"an event of {url} is not JSON: {event.data[:200]!r}", url=url
                    ) from exc
                if not isinstance(body, dict):
                    continue
                kind = event.event if event.event != "message" else body.get("eventType", "")
                yield MarathonEvent(str(kind or body.get("eventType", "")), body)
        except requests.RequestException as exc:
            raise EventStreamClosed(f"the event stream of {url} broke: {exc}", url=url) from exc
    raise EventStreamClosed(f"the event stream of {url} ended", url=url)
