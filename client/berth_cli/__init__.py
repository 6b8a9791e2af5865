"""berth's command-line client (`berth`), talking to berth over HTTP with a token.

It needs click and requests only, so that a laptop or a build agent installs it without
any of the server's dependencies."""

__version__ = "1.0.0"
