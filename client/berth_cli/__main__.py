"""`python -m berth_cli` is `berth`."""

from berth_cli.main import cli

cli(prog_name="berth")
