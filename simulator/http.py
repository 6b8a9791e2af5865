"""What the three HTTP faces share: the server's place in the cluster and JSON answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from simulator.errors import InvalidJson
from simulator.state import Simulator
from simulator.validation import Problem


@dataclass
class ServerContext:
    """One HTTP server's view: the shared simulator, its own address and the leader's."""

    sim: Simulator
    own: str = ""
    leader: str = ""

    @property
    def is_leader(self) -> bool:
        return self.own == self.leader

    @property
    def leader_url(self) -> str:
        return f"http://{self.leader}"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def read_json(request: Request) -> Any:
    """The request body as JSON, or Marathon's 400 "Invalid JSON"."""
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidJson([Problem("/", f"Invalid UTF-8: {exc}", syntax=True)]) from exc
    except json.JSONDecodeError as exc:
        message = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise InvalidJson([Problem("/", message, syntax=True)]) from exc


def flag(request: Request, name: str, default: bool = False) -> bool:
    value = request.args.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("true", "1", "yes", "")
