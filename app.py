"""berth's app factory, configuration and command-line commands."""

from __future__ import annotations

import getpass
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from allocator.right_sizing import RightSizingSettings
from api import init_api
from api.logs import configure_logging, init_request_log
from ledger.context import Context, Settings, UsageSettings
from models.session import database_url_from_env, make_engine, make_session_factory
from web import init_web

ROOT = Path(__file__).resolve().parent


def _env_number(name: str, default: float, kind: type[int] | type[float]) -> Any:
    """A BERTH_* number, its default when unset or empty; a value that is no number stops
    the start with the variable named, not a bare ValueError from deep in the config."""
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return kind(value)
    except ValueError:
        raise ValueError(
            f"{name} must be {'a whole number' if kind is int else 'a number'}, not {value!r}"
        ) from None


def _env_int(name: str, default: int) -> int:
    return int(_env_number(name, default, int))


def _env_float(name: str, default: float) -> float:
    return float(_env_number(name, default, float))


class Config:
    """Everything configurable, read from BERTH_* environment variables; tests pass overrides."""

    def __init__(self) -> None:
        self.DATABASE_URL = database_url_from_env()
        self.PORT_QUARANTINE_SECONDS = _env_int("BERTH_PORT_QUARANTINE_SECONDS", 600)
        self.MAX_CONTENT_LENGTH = _env_int("BERTH_MAX_BODY_BYTES", 1024 * 1024)
        # test-only: "off" leaves the (cluster, port) unique constraint as the only guard;
        # create_app refuses it unless TESTING is set (only the tests' own config sets it)
        self.CLUSTER_LOCK = os.environ.get("BERTH_CLUSTER_LOCK", "on") != "off"
        self.WRITE_RETRIES = _env_int("BERTH_WRITE_RETRIES", 8)
        self.LOG_LEVEL = os.environ.get("BERTH_LOG_LEVEL", "INFO")
        # json (one object a line), text, or auto: text on a terminal, json otherwise
        self.LOG_FORMAT = os.environ.get("BERTH_LOG_FORMAT", "auto")
        # seconds to wait for Marathon or Mesos to answer (connecting takes at most 3 s)
        self.CLUSTER_TIMEOUT_SECONDS = _env_float("BERTH_CLUSTER_TIMEOUT_SECONDS", 10)
        self.SNAPSHOT_RETENTION_DAYS = _env_float("BERTH_SNAPSHOT_RETENTION_DAYS", 7)
        self.SNAPSHOT_MAX_AGE_SECONDS = _env_int("BERTH_SNAPSHOT_MAX_AGE_SECONDS", 300)
        # how long a verdict may search (re-packing, exact search) when a change has no
        # room in the standing placement
        self.FIT_BUDGET_SECONDS = _env_float("BERTH_FIT_BUDGET_SECONDS", 2)
        # how long a plan's exact search may take in all to prove that one agent fewer
        # (or a cheaper mix of machines) does not do
        self.PLAN_BUDGET_SECONDS = _env_float("BERTH_PLAN_BUDGET_SECONDS", 5)
        # `flask --app app watch`: a full reading this often (and after every reconnect),
        # how long a silent watcher keeps its cluster, how long a batch of events may wait,
        # and the cap of the reconnect backoff
        self.WATCH_RECONCILE_SECONDS = _env_float("BERTH_WATCH_RECONCILE_SECONDS", 300)
        self.WATCH_LEASE_SECONDS = _env_float("BERTH_WATCH_LEASE_SECONDS", 15)
        self.WATCH_DEBOUNCE_SECONDS = _env_float("BERTH_WATCH_DEBOUNCE_SECONDS", 0.25)
        self.WATCH_BACKOFF_MAX_SECONDS = _env_float("BERTH_WATCH_BACKOFF_MAX_SECONDS", 30)
        # usage sampled from the agents' /monitor/statistics (ledger/usage.py): a round this
        # often, so many agents at once, a timeout per agent; retention of the minute points
        # and hourly aggregates; "off" samples nowhere
        self.USAGE_SAMPLING = os.environ.get("BERTH_USAGE_SAMPLING", "on") != "off"
        self.USAGE_INTERVAL_SECONDS = _env_float("BERTH_USAGE_INTERVAL_SECONDS", 60)
        self.USAGE_CONCURRENCY = _env_int("BERTH_USAGE_CONCURRENCY", 32)
        self.USAGE_AGENT_TIMEOUT_SECONDS = _env_float("BERTH_USAGE_AGENT_TIMEOUT_SECONDS", 3)
        self.USAGE_MINUTE_RETENTION_HOURS = _env_float("BERTH_USAGE_MINUTE_RETENTION_HOURS", 48)
        self.USAGE_HOUR_RETENTION_DAYS = _env_float("BERTH_USAGE_HOUR_RETENTION_DAYS", 60)
        # right-sizing (allocator/right_sizing.py): margin, percentile, floors, windows,
        # hours before any recommendation and for full confidence, the JVM's non-heap memory
        self.RIGHT_SIZING_MARGIN = _env_float("BERTH_RIGHT_SIZING_MARGIN", 0.15)
        self.RIGHT_SIZING_CPU_PERCENTILE = _env_float("BERTH_RIGHT_SIZING_CPU_PERCENTILE", 0.9)
        self.RIGHT_SIZING_CPU_FLOOR = _env_float("BERTH_RIGHT_SIZING_CPU_FLOOR", 0.025)
        self.RIGHT_SIZING_MEM_FLOOR_MIB = _env_float("BERTH_RIGHT_SIZING_MEM_FLOOR_MIB", 250)
        self.RIGHT_SIZING_CPU_WINDOW_HOURS = _env_float("BERTH_RIGHT_SIZING_CPU_WINDOW_HOURS", 48)
        self.RIGHT_SIZING_MEMORY_WINDOW_DAYS = _env_float(
            "BERTH_RIGHT_SIZING_MEMORY_WINDOW_DAYS", 8
        )
        self.RIGHT_SIZING_MIN_HOURS = _env_float("BERTH_RIGHT_SIZING_MIN_HOURS", 1)
        self.RIGHT_SIZING_FULL_CONFIDENCE_HOURS = _env_float(
            "BERTH_RIGHT_SIZING_FULL_CONFIDENCE_HOURS", 24
        )
        self.RIGHT_SIZING_JVM_OVERHEAD_MIB = _env_float("BERTH_RIGHT_SIZING_JVM_OVERHEAD_MIB", 128)
        # PostgreSQL: how long a write waits for a busy cluster's lock (then 503, nothing
        # saved), and how long any statement may run
        self.DB_LOCK_TIMEOUT_SECONDS = _env_float("BERTH_DB_LOCK_TIMEOUT_SECONDS", 5)
        self.DB_STATEMENT_TIMEOUT_SECONDS = _env_float("BERTH_DB_STATEMENT_TIMEOUT_SECONDS", 60)
        # /metrics wants this bearer token when set; unset, it is open (api/metrics.py)
        self.METRICS_TOKEN = os.environ.get("BERTH_METRICS_TOKEN", "")
        # signs the web pages' session cookie; unset: one kept in var/secret-key (the demo)
        self.SECRET_KEY = os.environ.get("BERTH_SECRET_KEY") or None
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = os.environ.get("BERTH_SECURE_COOKIES", "off") == "on"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k.isupper()}


class Berth:
    """The app's handle on the database: sessions and ledger settings."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self.settings = settings

    def context(self, actor: str = "system", request_id: str = "") -> Context:
        return Context(self.sessions, actor=actor, request_id=request_id, settings=self.settings)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(Config().as_dict())
    if test_config:
        app.config.from_mapping(test_config)
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    if not app.config["CLUSTER_LOCK"] and not app.testing:
        raise RuntimeError(
            "BERTH_CLUSTER_LOCK=off is a test-only setting (it lets concurrent writers race "
            "for host ports); it is refused outside the test suite"
        )
    settings = Settings(
        port_quarantine=timedelta(seconds=app.config["PORT_QUARANTINE_SECONDS"]),
        cluster_lock=bool(app.config["CLUSTER_LOCK"]),
        retries=int(app.config["WRITE_RETRIES"]),
        cluster_timeout=(3.05, float(app.config["CLUSTER_TIMEOUT_SECONDS"])),
        snapshot_max_age=timedelta(seconds=app.config["SNAPSHOT_MAX_AGE_SECONDS"]),
        snapshot_retention=timedelta(days=app.config["SNAPSHOT_RETENTION_DAYS"]),
        fit_budget=max(0.1, float(app.config["FIT_BUDGET_SECONDS"])),
        plan_budget=max(0.0, float(app.config["PLAN_BUDGET_SECONDS"])),
        usage=_usage_settings(app.config),
    )
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retry chatter is ours to report
    app.json.sort_keys = False  # keep ports in the service's order: {"http": …, "dubbo": …}
    engine = make_engine(
        app.config["DATABASE_URL"],
        lock_timeout=app.config["DB_LOCK_TIMEOUT_SECONDS"],
        statement_timeout=app.config["DB_STATEMENT_TIMEOUT_SECONDS"],
    )
    app.extensions["berth"] = Berth(engine, settings)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _local_secret_key(ROOT / "var" / "secret-key")
    init_request_log(app)  # first: its clock starts before, and its line ends after, all else
    init_api(app)
    init_web(app)
    _register_cli(app)
    return app


def _usage_settings(config: Any) -> UsageSettings:
    c = config
    timeout = max(0.1, float(c["USAGE_AGENT_TIMEOUT_SECONDS"]))
    return UsageSettings(
        interval_seconds=max(1.0, float(c["USAGE_INTERVAL_SECONDS"])),
        concurrency=max(1, int(c["USAGE_CONCURRENCY"])),
        agent_timeout=(min(2.0, timeout), timeout),
        minute_retention=timedelta(hours=float(c["USAGE_MINUTE_RETENTION_HOURS"])),
        hour_retention=timedelta(days=float(c["USAGE_HOUR_RETENTION_DAYS"])),
        cpu_window=timedelta(hours=float(c["RIGHT_SIZING_CPU_WINDOW_HOURS"])),
        memory_window=timedelta(days=float(c["RIGHT_SIZING_MEMORY_WINDOW_DAYS"])),
        right_sizing=RightSizingSettings(
            margin=max(0.0, float(c["RIGHT_SIZING_MARGIN"])),
            cpu_percentile=min(1.0, max(0.0, float(c["RIGHT_SIZING_CPU_PERCENTILE"]))),
            cpu_floor=max(0.001, float(c["RIGHT_SIZING_CPU_FLOOR"])),
            mem_floor_mib=max(32.0, float(c["RIGHT_SIZING_MEM_FLOOR_MIB"])),
            min_hours=max(0.0, float(c["RIGHT_SIZING_MIN_HOURS"])),
            full_confidence_hours=max(0.1, float(c["RIGHT_SIZING_FULL_CONFIDENCE_HOURS"])),
            jvm_overhead_mib=max(0.0, float(c["RIGHT_SIZING_JVM_OVERHEAD_MIB"])),
        ),
    )


def _local_secret_key(path: Path) -> str:
    """A key made once and kept in a file that only this user reads, so that every worker
    (and a restart) signs sessions alike; set BERTH_SECRET_KEY in production instead."""
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # written aside, then linked in whole: a worker starting alongside never reads half
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        draft.write_text(secrets.token_urlsafe(48) + "\n")
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def upgrade_database(url: str) -> None:
    """alembic upgrade head on `url`: the only way berth's schema is made."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig(str(ROOT / "alembic.ini"))
    cfg.attributes["configure_logger"] = False
    engine = make_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    engine.dispose()


def _register_cli(app: Flask) -> None:
    from ledger import tokens
    from ledger.errors import LedgerError

    def ctx() -> Context:
        berth: Berth = app.extensions["berth"]
        return berth.context(actor=f"cli:{getpass.getuser()}")

    @app.cli.group("token")
    def token() -> None:
        """Create, list and revoke API tokens."""

    @token.command("create")
    @click.option("--name", required=True, help="who or what uses the token, e.g. jenkins")
    @click.option(
        "--role", required=True, type=click.Choice(["viewer", "pipeline", "ops", "admin"])
    )
    def token_create(name: str, role: str) -> None:
        """Print a new token, alone on stdout; it is not shown again."""
        try:
            click.echo(tokens.create_token(ctx(), name, role))
        except LedgerError as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(1)

    @token.command("revoke")
    @click.option("--name", required=True)
    def token_revoke(name: str) -> None:
        try:
            tokens.revoke_token(ctx(), name)
        except LedgerError as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(1)
        click.echo(f"revoked {name}", err=True)

    @token.command("list")
    def token_list() -> None:
        for t in tokens.list_tokens(ctx()):
            state = "revoked" if t["revoked_at"] else "active"
            click.echo(f"{t['name']}\t{t['role']}\t{state}\t{t['created_at']}")

    @app.cli.command("sync")
    @click.option("--cluster", "names", multiple=True, help="a cluster; default: all of them")
    @click.option("--every", type=float, default=None, help="keep syncing every N seconds")
    def sync_command(names: tuple[str, ...], every: float | None) -> None:
        """Read Mesos and Marathon into snapshots, once or as a long-running process."""
        import time

        from ledger import clusters as cluster_cases
        from ledger.errors import NotFoundError
        from ledger.sync import latest_snapshot, sync_cluster

        def _age(name: str) -> float:
            try:
                return float(latest_snapshot(ctx(), name)["age_seconds"])
            except NotFoundError:
                return float("inf")

        def run_once() -> bool:
            ok = True
            targets = names or tuple(c["name"] for c in cluster_cases.list_clusters(ctx()))
            for name in targets:
                try:
                    if every is not None and _age(name) < every / 2:
                        continue  # another syncer (or an API call) has just read it
                    result = sync_cluster(ctx(), name)
                except LedgerError as exc:
                    click.echo(f"{name}: {exc.detail}", err=True)
                    ok = False
                    continue
                except Exception:  # noqa: BLE001 - a long-running syncer must survive a round
                    logging.getLogger("berth.sync").exception("syncing %s failed", name)
                    ok = False
                    continue
                click.echo(
                    f"{name}: {result['agent_count']} agents, {result['app_count']} apps, "
                    f"{result['task_count']} tasks ({'new' if result['changed'] else 'unchanged'})",
                    err=True,
                )
            return ok

        if every is None:
            sys.exit(0 if run_once() else 1)
        if app.config["USAGE_SAMPLING"]:
            # usage too, at its own interval, for the clusters no watcher holds
            import threading

            from ledger.usage import start_sampling

            sampled = list(names) or [c["name"] for c in cluster_cases.list_clusters(ctx())]
            start_sampling(ctx(), sampled, threading.Event(), unless_watched=True)
        while True:  # runs until stopped; a failed round is retried at the next tick
            started = time.monotonic()
            try:
                run_once()
            except LedgerError as exc:  # the database itself is away: try again later
                click.echo(f"sync round failed: {exc.detail}", err=True)
            time.sleep(max(1.0, every - (time.monotonic() - started)))

    @app.cli.command("watch")
    @click.option("--cluster", "names", multiple=True, help="a cluster; default: all of them")
    def watch_command(names: tuple[str, ...]) -> None:
        """Keep clusters live from Marathon's event stream; one active watcher per cluster
        (a lease in the database), the others stand by. Runs until stopped."""
        import signal
        import threading
        import time

        from ledger import clusters as cluster_cases
        from ledger.watch import WatchSettings, watch_clusters

        settings = WatchSettings(
            reconcile_seconds=max(1.0, float(app.config["WATCH_RECONCILE_SECONDS"])),
            lease_seconds=max(1.0, float(app.config["WATCH_LEASE_SECONDS"])),
            debounce_seconds=max(0.0, float(app.config["WATCH_DEBOUNCE_SECONDS"])),
            backoff_max_seconds=max(0.5, float(app.config["WATCH_BACKOFF_MAX_SECONDS"])),
        )
        targets = list(names) or [c["name"] for c in cluster_cases.list_clusters(ctx())]
        if not targets:
            click.echo("no clusters to watch", err=True)
            sys.exit(1)
        stop = threading.Event()
        # SIGTERM (supervisors, run-demo) lets go of the leases, so a standby takes over now
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        watch_clusters(
            ctx(), targets, settings, stop, sample_usage=bool(app.config["USAGE_SAMPLING"])
        )
        click.echo(f"watching {', '.join(targets)}", err=True)
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            stop.set()
        time.sleep(0.5)  # the watchers release their leases

    @app.cli.command("import-marathon")
    @click.option("--cluster", required=True)
    @click.option("--environment", required=True)
    @click.option("--group", default=None, help="Marathon group; default: the environment's")
    def import_command(cluster: str, environment: str, group: str | None) -> None:
        """Take the running apps of a Marathon group into the ledger (idempotent)."""
        from ledger.importer import import_marathon

        try:
            report = import_marathon(ctx(), cluster, environment, group)
        except LedgerError as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(1)
        click.echo(
            f"{report.group} -> {environment}: {report.apps} apps, "
            f"{len(report.services_created)} services and "
            f"{len(report.allocations_created)} allocations created, "
            f"{len(report.unchanged)} unchanged, {len(report.differing)} differing, "
            f"{len(report.conflicts)} conflicts",
            err=True,
        )
        for c in report.conflicts:
            click.echo(f"  conflict {c['app']} [{c['kind']}]: {c['detail']}", err=True)
        for entity in report.differing:
            click.echo(f"  differs from the ledger (left as it is): {entity}", err=True)

    @app.cli.command("export")
    @click.option("--environment", required=True)
    @click.argument("directory", type=click.Path(file_okay=False))
    def export_command(environment: str, directory: str) -> None:
        """Write one Marathon app definition per service of an environment (git-friendly)."""
        from ledger.app_definitions import export_environment

        try:
            files = export_environment(ctx(), environment)
        except LedgerError as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(1)
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (target / name).write_text(text, encoding="utf-8")
        click.echo(f"{len(files)} definitions written to {target}", err=True)

    @app.cli.command("import-templates")
    @click.option("--environment", required=True)
    @click.argument("directory", type=click.Path(exists=True, file_okay=False))
    def import_templates_command(environment: str, directory: str) -> None:
        """Read a tree of Marathon app JSON files (image placeholders allowed) into the ledger."""
        import json

        from ledger.importer import import_definitions

        definitions, unreadable = [], []
        for path in sorted(Path(directory).rglob("*.json")):
            try:
                body = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                unreadable.append(f"{path}: {exc}")
                continue
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                definitions.append(body)
            else:
                unreadable.append(f"{path}: not a Marathon app definition with an id")
        try:
            report = import_definitions(ctx(), environment, definitions, directory)
        except LedgerError as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(1)
        click.echo(
            f"{directory} -> {environment}: {report.apps} apps, "
            f"{len(report.services_created)} services and "
            f"{len(report.allocations_created)} allocations created, "
            f"{len(report.unchanged)} unchanged, {len(report.differing)} differing, "
            f"{len(report.conflicts) + len(unreadable)} conflicts",
            err=True,
        )
        for line in unreadable:
            click.echo(f"  unreadable {line}", err=True)
        for c in report.conflicts:
            click.echo(f"  conflict {c['app']} [{c['kind']}]: {c['detail']}", err=True)
        for entity in report.differing:
            click.echo(f"  differs from the ledger (left as it is): {entity}", err=True)

    @app.cli.command("self-definition")
    @click.option("--image", default=os.environ.get("BERTH_IMAGE", "berth:latest"))
    @click.option("--instances", type=click.IntRange(min=1), default=2, show_default=True)
    @click.option("--id", "app_id", default="/berth", show_default=True, help="Marathon app id")
    @click.option("--secret-prefix", default="berth", show_default=True, help="secret store folder")
    @click.option("--env", "env", multiple=True, help="a plain setting KEY=VALUE (repeatable)")
    def self_definition(
        image: str, instances: int, app_id: str, secret_prefix: str, env: tuple[str, ...]
    ) -> None:
        """Print berth's own Marathon app definition (health check on /readyz, $PORT0,
        secrets from the store); exits 1 when berth's own check of Marathon's rules fails."""
        import json

        from marathon.self_definition import berth_app_definition
        from marathon.validation import findings

        settings = dict(item.partition("=")[::2] for item in env)
        definition = berth_app_definition(
            image, app_id=app_id, instances=instances, secret_prefix=secret_prefix, env=settings
        )
        problems = findings(definition)
        for problem in problems:
            click.echo(f"invalid: {problem.where or '(definition)'}: {problem.message}", err=True)
        click.echo(json.dumps(definition, indent=2))
        sys.exit(1 if problems else 0)

    @app.cli.command("migrate")
    def migrate() -> None:
        """Bring the database schema to the newest migration."""
        upgrade_database(app.config["DATABASE_URL"])
        click.echo("database is at the newest migration", err=True)

    @app.cli.command("demo")
    @click.option("--token-file", default=str(ROOT / "var" / "demo-admin.token"))
    @click.option(
        "--usage-history-hours",
        type=float,
        default=0.0,
        help="sample this many past hours of usage first (simulators started --clock-behind)",
    )
    def demo(token_file: str, usage_history_hours: float) -> None:
        """Migrate, load the demo data (once) and write an admin token to --token-file."""
        from ledger.demo import load_demo, usage_history

        upgrade_database(app.config["DATABASE_URL"])
        summary = load_demo(ctx())
        click.echo(summary, err=True)
        if usage_history_hours > 0:
            click.echo(usage_history(ctx(), usage_history_hours) or "usage kept", err=True)
        path = Path(token_file)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            if any(
                t["name"] == "demo-admin" and not t["revoked_at"] for t in tokens.list_tokens(ctx())
            ):
                tokens.revoke_token(ctx(), "demo-admin")  # its file is gone: issue a new one
            secret = tokens.create_token(ctx(), "demo-admin", "admin")
            path.write_text(secret + "\n")
            path.chmod(0o600)
        click.echo(f"admin token for the demo: {path}", err=True)
