"""A small Server-Sent Events reader for the tests: real HTTP, frames parsed by hand."""

from __future__ import annotations

import json
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any

import requests

END = object()


@dataclass
class Frame:
    """One SSE frame: an event (with its JSON) or a comment line (a keep-alive)."""

    event: str | None
    data: Any
    comment: bool = False


class EventStream:
    """Attaches to `url` (/v2/events) and collects its frames in a background thread."""

    def __init__(self, url: str, params: Any = None, timeout: float = 10.0) -> None:
        self.response = requests.get(
            url,
            params=params,
            headers={"Accept": "text/event-stream"},
            stream=True,
            timeout=timeout,
        )
        self.frames: queue.Queue[Frame | object] = queue.Queue()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        event: str | None = None
        data: list[str] = []
        try:
            for raw in self.response.iter_lines(chunk_size=1, decode_unicode=True):
                if raw.startswith(":"):
                    self.frames.put(Frame(None, None, comment=True))
                elif raw.startswith("event:"):
                    event = raw.partition(":")[2].strip()
                elif raw.startswith("data:"):
                    data.append(raw.partition(":")[2].strip())
                elif raw == "" and (event or data):
                    self.frames.put(Frame(event, json.loads("\n".join(data))))
                    event, data = None, []
        except Exception as exc:  # noqa: BLE001 - a cut stream ends here
            self.error = exc
        self.frames.put(END)

    def next(self, timeout: float = 5.0, comments: bool = False) -> Frame:
        """The next event (keep-alive comments skipped unless `comments`)."""
        while True:
            frame = self.frames.get(timeout=timeout)
            if frame is END:
                raise EOFError("the event stream ended")
            assert isinstance(frame, Frame)
            if comments or not frame.comment:
                return frame

    def until(self, event_type: str, timeout: float = 5.0) -> list[Frame]:
        """Every event up to and including the first of `event_type`."""
        seen = []
        while True:
            frame = self.next(timeout)
            seen.append(frame)
            if frame.event == event_type:
                return seen

    def ended(self, timeout: float = 5.0) -> bool:
        """Whether the stream ends within `timeout` (frames before the end are skipped)."""
        try:
            while self.frames.get(timeout=timeout) is not END:
                pass
        except queue.Empty:
            return False
        return True

    def close(self) -> None:
        """Shut the socket first: closing a response another thread reads waits for it."""
        try:
            sock = self.response.raw._fp.fp.raw._sock  # http.client's socket under urllib3
            sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass
        self.response.close()
