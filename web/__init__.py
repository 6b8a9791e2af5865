"""The server-rendered pages: Jinja2 templates, SVG charts made on the server, one local
stylesheet, no JavaScript and no build step. They sit beside api/ and call the same use
cases in ledger/."""

from __future__ import annotations

from flask import Flask

from web import operations  # noqa: F401 - its routes join the pages' blueprint
from web.pages import bp


def init_web(app: Flask) -> None:
    app.register_blueprint(bp)
