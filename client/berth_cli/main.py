"""The `berth` command: berth's API for people at a terminal and for pipelines.

Exit codes, the same for every command: 0 done; 1 the answer is "no" (a deploy failed or
timed out, nobody holds the port); 2 berth refused the request (4xx, e.g. 409 when it
does not fit, a dry run too: its reasons are printed); 3 berth could not be reached, or
kept answering 5xx, after the retries.
Shell completion: eval "$(_BERTH_COMPLETE=bash_source berth)".
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import click

from berth_cli import __version__
from berth_cli.http import Berth, BerthError, Refused, from_env
from berth_cli.output import cell, emit_json, pairs, table

F = TypeVar("F", bound=Callable[..., Any])
OUTPUT = click.Choice(["table", "json"])
FINISHED = ("succeeded", "failed")


class BerthGroup(click.Group):
    """Turns berth's answers into messages and exit codes, once for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Refused as exc:
            for line in exc.lines():
                click.echo(line, err=True)
            if ctx.meta.get("berth.output") == "json":
                emit_json(exc.problem)
            ctx.exit(exc.exit_code)
        except BerthError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


def with_output(fn: F) -> F:
    """--output table|json on a command (default: BERTH_OUTPUT, else table)."""

    def remember(ctx: click.Context, _: click.Parameter, value: str) -> str:
        ctx.meta["berth.output"] = value
        return value

    option = click.option(
        "--output",
        "-o",
        type=OUTPUT,
        default="table",
        envvar="BERTH_OUTPUT",
        show_default=True,
        callback=remember,
        help="a table for people, or berth's JSON for scripts",
    )
    return option(fn)  # type: ignore[no-any-return]


def server() -> Berth:
    berth = click.get_current_context().find_object(Berth)
    assert berth is not None  # the group puts it there
    return berth


def _key_value(pairs_: tuple[str, ...], what: str, convert: Callable[[str], Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in pairs_:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{item}': give {what} as KEY=VALUE")
        try:
            out[key] = convert(value)
        except ValueError as exc:
            raise click.BadParameter(f"'{item}': {exc}") from exc
    return out


def _constraints(given: tuple[str, ...]) -> list[list[str]]:
    """hostname:UNIQUE, rack:GROUP_BY:3 → Marathon's [field, operator, value?]."""
    return [c.split(":", 2) for c in given]


# --- the group ------------------------------------------------------------------------


@click.group(cls=BerthGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="BERTH_URL", help="berth's address  [env: BERTH_URL]")
@click.option("--token", envvar="BERTH_TOKEN", help="a bearer token  [env: BERTH_TOKEN]")
@click.option(
    "--retries",
    type=click.IntRange(0, 20),
    envvar="BERTH_RETRIES",
    help="tries again on 502/503/504 and refused connections  [env: BERTH_RETRIES; 5]",
)
@click.version_option(__version__, prog_name="berth")
@click.pass_context
def cli(ctx: click.Context, url: str | None, token: str | None, retries: int | None) -> None:
    """berth from a terminal or a pipeline: allocations, host ports, renders, deploys,
    plans, reservations, drift, reports and tokens.

    \b
    Configure with BERTH_URL and BERTH_TOKEN (or --url/--token).
    Exit codes: 0 done, 1 failed or "no" (deploy failed, port free),
    2 berth refused (4xx), 3 berth unreachable or 5xx after the retries.
    Completion: eval "$(_BERTH_COMPLETE=bash_source berth)" (zsh_source, fish_source).
    """
    ctx.obj = from_env(url, token, retries)


# --- alloc ----------------------------------------------------------------------------


@cli.group()
def alloc() -> None:
    """A service's allocation in an environment: get, set, rm."""


ALLOCATION_FIELDS = ("cpus", "mem", "disk", "instances", "network", "constraints")
CARRIED = ALLOCATION_FIELDS + ("upgrade_strategy", "overrides")


def _show_allocation(a: dict[str, Any]) -> None:
    keys = ("environment", "service", "cluster") + ALLOCATION_FIELDS
    keys += ("ports", "version", "updated_by", "updated_at")
    pairs((k, a.get(k)) for k in keys if k in a)
    fit = a.get("fit")
    if isinstance(fit, dict):
        verdict = fit.get("level") or ("fits" if fit.get("fits") else "does not fit")
        pairs([("fit", verdict)])
        if fit.get("why") and not fit.get("fits"):
            pairs([("why", fit["why"])])


def _allocation_path(env: str, service: str) -> str:
    return f"/environments/{env}/allocations/{service}"


def _read_allocation(env: str, service: str) -> tuple[dict[str, Any] | None, str | None]:
    """The allocation and its ETag, or (None, None) when there is none yet."""
    response = server().call("GET", _allocation_path(env, service), expect=(200, 404))
    if response.status_code == 404:
        return None, None
    return response.json(), response.headers.get("ETag")


def _stale(env: str, service: str) -> Refused:
    """412: say who changed it in between; the caller runs the command again."""
    now, _ = _read_allocation(env, service)
    if now is None:
        detail = f"{env}/{service} was deleted since it was read; nothing saved"
    else:
        detail = (
            f"{env}/{service} changed since it was read (now version {now.get('version')}, "
            f"by {now.get('updated_by')} at {now.get('updated_at')}); nothing saved, run "
            "the command again on the new version"
        )
    return Refused(412, {"title": "Precondition Failed", "detail": detail})


@alloc.command("get")
@click.argument("env")
@click.argument("service")
@with_output
def alloc_get(env: str, service: str, output: str) -> None:
    """Show SERVICE's allocation in ENV."""
    allocation = server().json("GET", _allocation_path(env, service))
    emit_json(allocation) if output == "json" else _show_allocation(allocation)


@alloc.command("set")
@click.argument("env")
@click.argument("service")
@click.option("--cpus", type=float, help="cpus per instance")
@click.option("--mem", type=int, help="MiB per instance")
@click.option("--disk", type=int, help="MiB per instance")
@click.option("--instances", type=int)
@click.option("--network", type=click.Choice(["host", "bridge"]))
@click.option(
    "--constraint",
    "constraints",
    multiple=True,
    help="FIELD:OPERATOR[:VALUE], e.g. hostname:UNIQUE; replaces the constraints",
)
@click.option("--no-constraints", is_flag=True, help="drop every constraint")
@click.option("--port", "ports", multiple=True, help="NAME=PORT: ask for a host port")
@click.option("--dry-run", is_flag=True, help="show berth's verdict, save nothing")
@click.option("--force", is_flag=True, help="admin: save even when it does not fit")
@with_output
def alloc_set(
    env: str,
    service: str,
    cpus: float | None,
    mem: int | None,
    disk: int | None,
    instances: int | None,
    network: str | None,
    constraints: tuple[str, ...],
    no_constraints: bool,
    ports: tuple[str, ...],
    dry_run: bool,
    force: bool,
    output: str,
) -> None:
    """Create or change SERVICE's allocation in ENV; what is not given stays as it is.

    The current allocation is read first and written with its ETag in If-Match, so a
    change made in between is never overwritten (berth answers 412; exit 2)."""
    current, etag = _read_allocation(env, service)
    body: dict[str, Any] = {k: current[k] for k in CARRIED if current and k in current}
    given = {"cpus": cpus, "mem": mem, "disk": disk, "instances": instances, "network": network}
    body.update({k: v for k, v in given.items() if v is not None})
    if constraints or no_constraints:
        body["constraints"] = _constraints(constraints)
    if ports:
        body["ports"] = _key_value(ports, "a port", int)
    if current is None and ("cpus" not in body or "mem" not in body):
        raise click.UsageError(f"{env}/{service} has no allocation yet: give --cpus and --mem")
    params = {"dry_run": "true"} if dry_run else {}
    if force:
        params["force"] = "true"
    headers = {"If-Match": etag} if etag else {}
    try:
        response = server().call(
            "PUT", _allocation_path(env, service), json=body, params=params, headers=headers
        )
    except Refused as exc:
        if exc.status == 412:
            raise _stale(env, service) from exc
        raise
    result = response.json()
    if output == "json":
        emit_json(result)
    else:
        if dry_run:
            click.echo("dry run: nothing saved")
        _show_allocation(result)


@alloc.command("rm")
@click.argument("env")
@click.argument("service")
@click.option("--dry-run", is_flag=True, help="check that it could be deleted, delete nothing")
@with_output
def alloc_rm(env: str, service: str, dry_run: bool, output: str) -> None:
    """Delete SERVICE's allocation in ENV (its host ports wait out a quarantine)."""
    current, etag = _read_allocation(env, service)
    if current is None:
        raise Refused(404, {"title": "Not Found", "detail": f"{env}/{service} has no allocation"})
    try:
        server().call(
            "DELETE",
            _allocation_path(env, service),
            params={"dry_run": "true"} if dry_run else {},
            headers={"If-Match": etag} if etag else {},
        )
    except Refused as exc:
        if exc.status == 412:
            raise _stale(env, service) from exc
        raise
    done = {"environment": env, "service": service, "deleted": not dry_run, "dry_run": dry_run}
    if output == "json":
        emit_json(done)
    else:
        click.echo(f"{'would delete' if dry_run else 'deleted'} {env}/{service}")


# --- ports ----------------------------------------------------------------------------


def _cluster_ports(cluster: str | None) -> list[dict[str, Any]]:
    names = [cluster] if cluster else [c["name"] for c in server().json("GET", "/clusters")]
    rows = []
    for name in names:
        answer = server().json("GET", f"/clusters/{name}/ports")
        rows.extend({"cluster": name, **p} for p in answer.get("ports", []))
    return rows


PORT_COLUMNS = ("cluster", "port", "service", "environment", "port_name", "state")


@cli.group(invoke_without_command=True)
@click.option("--cluster", help="one cluster; default: every cluster")
@with_output
@click.pass_context
def ports(ctx: click.Context, cluster: str | None, output: str) -> None:
    """The host ports in use (and in quarantine); `ports who PORT` names the holder."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _cluster_ports(cluster)
    if output == "json":
        emit_json(rows)
    else:
        table(([r.get(c) for c in PORT_COLUMNS] for r in rows), PORT_COLUMNS)


@ports.command("who")
@click.argument("port", type=click.IntRange(1, 65535))
@click.option("--cluster", help="one cluster; default: every cluster")
@with_output
@click.pass_context
def ports_who(ctx: click.Context, port: int, cluster: str | None, output: str) -> None:
    """Who holds host PORT (exit 1 when nobody does)."""
    if cluster is None and ctx.parent is not None:
        cluster = ctx.parent.params.get("cluster")  # `berth ports --cluster C who N`
    rows = [r for r in _cluster_ports(cluster) if r.get("port") == port]
    if output == "json":
        emit_json(rows)
    elif rows:
        table(([r.get(c) for c in PORT_COLUMNS] for r in rows), PORT_COLUMNS)
    else:
        click.echo(f"nobody holds port {port}" + (f" in {cluster}" if cluster else ""))
    if not rows:
        sys.exit(1)


# --- render, deploy, rollback -------------------------------------------------------------


@cli.command()
@click.argument("env")
@click.argument("service")
@click.option("--image", required=True, help="REPO:TAG of the build")
@with_output
def render(env: str, service: str, image: str, output: str) -> None:
    """Print the Marathon app definition berth would deploy (JSON either way)."""
    emit_json(
        server().json("GET", _allocation_path(env, service) + "/marathon", params={"image": image})
    )


def _progress_line(release: dict[str, Any]) -> str:
    """e.g. 'deploying: step 1/2, 1/2 instances running, 1 healthy'."""
    progress = release.get("progress") or {}
    parts = [str(release.get("status"))]
    if progress.get("steps"):
        parts.append(f"step {progress.get('step')}/{progress.get('steps')}")
    if "instances" in progress:
        parts.append(
            f"{progress.get('tasks_running', 0)}/{progress['instances']} instances running"
        )
        parts.append(f"{progress.get('tasks_healthy', 0)} healthy")
    if release.get("observed") is False:
        parts.append(f"Marathon not answering: {release.get('observation_error')}")
    return parts[0] + (": " + ", ".join(parts[1:]) if len(parts) > 1 else "")


def _follow(release: dict[str, Any], timeout: float, interval: float, output: str) -> None:
    """Ask berth about the release until it has finished (or `timeout`), showing each new
    state on stderr; exit 0 when it succeeded, 1 when it failed or is still running."""
    rid = release["id"]
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        line = _progress_line(release)
        if line != last:
            click.echo(f"release {rid} {line}", err=True)
            last = line
        if release.get("status") in FINISHED or time.monotonic() >= deadline:
            break
        time.sleep(interval)
        release = server().json("GET", f"/deployments/{rid}")
    if output == "json":
        emit_json(release)
    status = release.get("status")
    if status == "succeeded":
        click.echo(
            f"release {rid} succeeded: {release.get('app_id')} runs {release.get('image')}",
            err=True,
        )
        return
    if status == "failed":
        click.echo(f"release {rid} failed: {release.get('error') or 'no reason given'}", err=True)
    else:
        click.echo(
            f"release {rid} still {status} after {timeout:g} s; follow it with "
            f"'berth deployment {rid}'",
            err=True,
        )
    sys.exit(1)


def _started(
    release: dict[str, Any], wait: bool, timeout: float, interval: float, output: str
) -> None:
    click.echo(
        f"release {release['id']}: {release.get('app_id')} {release.get('image')} "
        f"(Marathon deployment {release.get('marathon_deployment_id')})",
        err=True,
    )
    if wait:
        _follow(release, timeout, interval, output)
    elif output == "json":
        emit_json(release)
    else:
        click.echo(release["id"])
        if release.get("status") == "failed":
            sys.exit(1)


def wait_options(fn: F) -> F:
    fn = click.option(
        "--interval",
        type=click.FloatRange(0.05, 60),
        default=2.0,
        show_default=True,
        help="seconds between two questions to berth",
    )(fn)
    fn = click.option(
        "--timeout",
        type=click.FloatRange(0),
        default=600.0,
        show_default=True,
        help="with --wait: give up (exit 1) after this many seconds",
    )(fn)
    fn = click.option("--wait", is_flag=True, help="follow the deploy until it ends")(fn)
    return fn


@cli.command()
@click.argument("service")
@click.argument("env")
@click.argument("image")
@wait_options
@click.option("--build-url", envvar="BUILD_URL", help="[env: BUILD_URL]")
@click.option("--git-sha", envvar="GIT_COMMIT", help="[env: GIT_COMMIT]")
@click.option("--force", is_flag=True, help="admin: deploy even when it does not fit")
@with_output
def deploy(
    service: str,
    env: str,
    image: str,
    wait: bool,
    timeout: float,
    interval: float,
    build_url: str | None,
    git_sha: str | None,
    force: bool,
    output: str,
) -> None:
    """Deploy IMAGE of SERVICE to ENV through berth (and Marathon).

    \b
    Exit codes: 0 the deploy succeeded (without --wait: berth started it),
    1 it failed or --timeout passed, 2 berth refused it (its reasons are printed),
    3 berth could not be reached after the retries."""
    body = {"service": service, "environment": env, "image": image}
    if build_url:
        body["build_url"] = build_url
    if git_sha:
        body["git_sha"] = git_sha
    release = server().json(
        "POST", "/deployments", json=body, params={"force": "true"} if force else {}
    )
    _started(release, wait, timeout, interval, output)


@cli.command()
@click.argument("target")
@click.argument("env", required=False)
@wait_options
@click.option("--force", is_flag=True, help="admin: roll back even when it does not fit")
@with_output
def rollback(
    target: str,
    env: str | None,
    wait: bool,
    timeout: float,
    interval: float,
    force: bool,
    output: str,
) -> None:
    """Deploy again the last good config before a release: TARGET is a RELEASE_ID, or a
    SERVICE with its ENV (its latest release). Exit codes as for deploy."""
    if env is None:
        if not target.isdigit():
            raise click.UsageError("give a RELEASE_ID, or a SERVICE and its ENV")
        release_id = int(target)
    else:
        latest = server().json(
            "GET", "/deployments", params={"service": target, "environment": env, "limit": 1}
        )
        if not latest:
            raise Refused(
                404, {"title": "Not Found", "detail": f"{env}/{target} was never deployed"}
            )
        release_id = int(latest[0]["id"])
    release = server().json(
        "POST", f"/deployments/{release_id}/rollback", params={"force": "true"} if force else {}
    )
    _started(release, wait, timeout, interval, output)


@cli.command()
@click.argument("release_id", type=int)
@wait_options
@with_output
def deployment(release_id: int, wait: bool, timeout: float, interval: float, output: str) -> None:
    """Show a release (and with --wait, follow it as deploy --wait does)."""
    release = server().json("GET", f"/deployments/{release_id}")
    if wait:
        _follow(release, timeout, interval, output)
        return
    if output == "json":
        emit_json(release)
        return
    keys = ("id", "service", "environment", "image", "status", "error", "actor", "created_at")
    pairs([(k, release.get(k)) for k in keys] + [("progress", _progress_line(release))])


# --- plans and reservations --------------------------------------------------------------


def _when(text: str) -> str:
    """An ISO-8601 time; a time without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"'{text}' is not an ISO-8601 time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat()


def _shape(text: str) -> dict[str, Any]:
    """NAME=CPUS/MEM[/DISK]@COST, e.g. m5.4xlarge=16/65536@0.77."""
    name, _, rest = text.partition("=")
    sizes, _, cost = rest.partition("@")
    numbers = sizes.split("/")
    if not name or not cost or len(numbers) not in (2, 3):
        raise click.BadParameter(f"'{text}': give NAME=CPUS/MEM[/DISK]@COST")
    try:
        shape = {
            "name": name,
            "cpus": float(numbers[0]),
            "mem": float(numbers[1]),
            "cost": float(cost),
        }
        if len(numbers) == 3:
            shape["disk"] = float(numbers[2])
    except ValueError as exc:
        raise click.BadParameter(f"'{text}': {exc}") from exc
    return shape


def _show_plan(plan: dict[str, Any]) -> None:
    pairs(
        [
            ("plan", plan.get("id")),
            ("environment", f"{plan.get('environment')} (cluster {plan.get('cluster')})"),
            ("window", f"{plan.get('starts_at')} .. {plan.get('ends_at')}"),
            ("fits as it is", plan.get("fits")),
            ("extra agents", plan.get("extra_agents")),
            ("proven", plan.get("proven")),
            ("instances", f"{plan.get('instances_before')} -> {plan.get('instances_after')}"),
            ("advice", plan.get("advice")),
        ]
    )
    services = plan.get("services") or []
    if services:
        click.echo()
        columns = ("service", "factor", "source", "instances_before", "instances_after", "added")
        table(
            ([s.get(c) for c in columns] for s in services),
            ("service", "factor", "source", "before", "after", "added"),
        )
    mix = plan.get("mix")
    if isinstance(mix, dict) and mix.get("shapes") is not None:
        click.echo()
        table(
            (
                [s.get("name"), s.get("count"), s.get("cpus"), s.get("mem"), s.get("cost")]
                for s in mix["shapes"]
            ),
            ("shape", "count", "cpus", "mem", "cost"),
        )
        pairs([("mix cost", mix.get("cost")), ("mix proven cheapest", mix.get("proven"))])


@cli.command()
@click.argument("env")
@click.option(
    "--scale",
    "scale",
    multiple=True,
    required=True,
    help="KEY=FACTOR; KEY: service, team:T or tag:T",
)
@click.option("--propagate", is_flag=True, help="carry the load to the services called")
@click.option(
    "--window", nargs=2, metavar="FROM TO", help="ISO-8601 times; default: the next 24 hours"
)
@click.option(
    "--shape",
    "shapes",
    multiple=True,
    help="NAME=CPUS/MEM[/DISK]@COST: machines that can be bought",
)
@click.option("--json", "as_json", is_flag=True, help="berth's answer as it is (= --output json)")
@with_output
def plan(
    env: str,
    scale: tuple[str, ...],
    propagate: bool,
    window: tuple[str, str] | None,
    shapes: tuple[str, ...],
    as_json: bool,
    output: str,
) -> None:
    """What-if: scale services in ENV; does it fit, and how many agents to add."""
    if window:
        starts, ends = _when(window[0]), _when(window[1])
    else:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        starts, ends = now.isoformat(), (now + timedelta(days=1)).isoformat()
    body: dict[str, Any] = {
        "environment": env,
        "scale": _key_value(scale, "a scale", float),
        "propagate": propagate,
        "window": [starts, ends],
    }
    if shapes:
        body["agent_shapes"] = [_shape(s) for s in shapes]
    answer = server().json("POST", "/plans", json=body)
    emit_json(answer) if as_json or output == "json" else _show_plan(answer)


RESERVATION_COLUMNS = (
    "id",
    "cluster",
    "environment",
    "service",
    "count",
    "cpus",
    "mem",
    "starts_at",
    "ends_at",
    "state",
    "reason",
)


def _show_reservations(rows: list[dict[str, Any]]) -> None:
    table(([r.get(c) for c in RESERVATION_COLUMNS] for r in rows), RESERVATION_COLUMNS)


@cli.command()
@click.option("--plan", "plan_id", type=int, help="reserve what this plan adds, for its window")
@click.option("--cluster")
@click.option("--environment")
@click.option("--service", help="the slots are more instances of its allocation")
@click.option("--count", type=int)
@click.option("--cpus", type=float)
@click.option("--mem", type=int, help="MiB")
@click.option("--disk", type=int, default=0, show_default=True, help="MiB")
@click.option("--constraint", "constraints", multiple=True, help="FIELD:OPERATOR[:VALUE]")
@click.option("--from", "starts", help="ISO-8601 start")
@click.option("--to", "ends", help="ISO-8601 end (exclusive)")
@click.option("--reason")
@click.option("--dry-run", is_flag=True)
@click.option("--force", is_flag=True, help="admin: reserve even when it does not fit")
@with_output
def reserve(
    plan_id: int | None,
    cluster: str | None,
    environment: str | None,
    service: str | None,
    count: int | None,
    cpus: float | None,
    mem: int | None,
    disk: int,
    constraints: tuple[str, ...],
    starts: str | None,
    ends: str | None,
    reason: str | None,
    dry_run: bool,
    force: bool,
    output: str,
) -> None:
    """Hold capacity: a plan's added instances (--plan ID), or plain slots
    (--cluster or --environment, --count --cpus --mem --from --to --reason)."""
    params = {"force": "true"} if force else {}
    if plan_id is not None:
        answer = server().json("POST", f"/plans/{plan_id}/reserve", params=params)
        rows = answer.get("reservations", [])
    else:
        missing = [
            n
            for n, v in (
                ("--count", count),
                ("--cpus", cpus),
                ("--mem", mem),
                ("--from", starts),
                ("--to", ends),
                ("--reason", reason),
            )
            if v is None
        ]
        if missing or not (cluster or environment):
            raise click.UsageError(
                "give --plan ID, or --cluster/--environment with "
                + ", ".join(missing or ["--count …"])
            )
        body: dict[str, Any] = {
            "count": count,
            "cpus": cpus,
            "mem": mem,
            "disk": disk,
            "starts_at": _when(str(starts)),
            "ends_at": _when(str(ends)),
            "reason": reason,
        }
        body.update(
            {
                k: v
                for k, v in (
                    ("cluster", cluster),
                    ("environment", environment),
                    ("service", service),
                )
                if v
            }
        )
        if constraints:
            body["constraints"] = _constraints(constraints)
        if dry_run:
            params["dry_run"] = "true"
        answer = server().json("POST", "/reservations", json=body, params=params)
        rows = [answer]
    if output == "json":
        emit_json(answer)
    else:
        if dry_run:
            click.echo("dry run: nothing saved")
        _show_reservations(rows)


@cli.command()
@click.option("--cluster")
@click.option("--environment")
@click.option("--all", "include_expired", is_flag=True, help="also those that have ended")
@with_output
def reservations(
    cluster: str | None, environment: str | None, include_expired: bool, output: str
) -> None:
    """Reservations that have not ended."""
    params: dict[str, Any] = {
        k: v for k, v in (("cluster", cluster), ("environment", environment)) if v
    }
    if include_expired:
        params["include_expired"] = "true"
    rows = server().json("GET", "/reservations", params=params)
    emit_json(rows) if output == "json" else _show_reservations(rows)


# --- drift, report ---------------------------------------------------------------------


@cli.command()
@click.argument("env")
@click.option("--refresh", is_flag=True, help="sync the cluster first when its snapshot is old")
@with_output
def drift(env: str, refresh: bool, output: str) -> None:
    """What runs in ENV against what the ledger says: drifted, missing, unmanaged apps."""
    answer = server().json(
        "GET", f"/environments/{env}/drift", params={"refresh": "true"} if refresh else {}
    )
    if output == "json":
        emit_json(answer)
        return
    summary = answer.get("summary") or {}
    pairs([("environment", env), ("in sync", answer.get("in_sync"))] + list(summary.items()))
    rows: list[list[Any]] = []
    for app in answer.get("drifted") or []:
        for d in app.get("differences") or []:
            rows.append(
                ["drifted", app.get("service"), d.get("field"), d.get("ledger"), d.get("running")]
            )
    for app in answer.get("missing") or []:
        rows.append(["missing", app.get("service"), "instances", app.get("instances"), None])
    for app in answer.get("unmanaged") or []:
        rows.append(["unmanaged", app.get("app_id"), "instances", None, app.get("instances")])
    if rows:
        click.echo()
        table(rows, ("kind", "service", "field", "ledger", "running"))


@cli.command()
@click.option("--cluster")
@click.option("--environment")
@click.option("--team")
@click.option("--csv", "as_csv", is_flag=True, help="berth's CSV, one row per agent and service")
@with_output
def report(
    cluster: str | None, environment: str | None, team: str | None, as_csv: bool, output: str
) -> None:
    """The capacity report of one cluster, environment or team."""
    params: dict[str, Any] = {
        k: v for k, v in (("cluster", cluster), ("environment", environment), ("team", team)) if v
    }
    if len(params) != 1:
        raise click.UsageError("give exactly one of --cluster, --environment, --team")
    if as_csv:
        text = server().call("GET", "/reports/capacity", params={**params, "format": "csv"}).text
        click.echo(text, nl=not text.endswith("\n"))
        return
    answer = server().json("GET", "/reports/capacity", params=params)
    if output == "json":
        emit_json(answer)
        return
    rows = []
    for section in answer.get("clusters") or []:
        for what in ("totals", "allocated", "reserved", "used", "free"):
            figures = section.get(what) or {}
            rows.append(
                [section.get("cluster"), what, figures.get("cpus"), _mib(figures.get("mem"))]
            )
    table(rows, ("cluster", "", "cpus", "mem"))
    for section in answer.get("clusters") or []:
        click.echo(
            f"{section.get('cluster')}: {section.get('agents_active')} active agents, "
            f"fits: {cell(section.get('fits'))}"
        )


def _mib(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.0f} MiB"


# --- tokens -----------------------------------------------------------------------------


@cli.group()
def token() -> None:
    """API tokens (admin): create, list, revoke."""


TOKEN_COLUMNS = ("id", "name", "role", "created_at", "revoked_at")


@token.command("create")
@click.option("--name", required=True, help="who or what uses it, e.g. jenkins")
@click.option("--role", required=True, type=click.Choice(["viewer", "pipeline", "ops", "admin"]))
@with_output
def token_create(name: str, role: str, output: str) -> None:
    """Make a token; its secret is printed once, alone on stdout (table output)."""
    made = server().json("POST", "/tokens", json={"name": name, "role": role})
    if output == "json":
        emit_json(made)
        return
    click.echo(
        f"token {made['name']} ({made['role']}, id {made['id']}); it is not shown again:", err=True
    )
    click.echo(made["token"])


@token.command("list")
@with_output
def token_list(output: str) -> None:
    """Every token, active and revoked (never a secret)."""
    rows = server().json("GET", "/tokens")
    emit_json(rows) if output == "json" else table(
        ([r.get(c) for c in TOKEN_COLUMNS] for r in rows), TOKEN_COLUMNS
    )


@token.command("revoke")
@click.argument("token_ref", metavar="NAME_OR_ID")
@with_output
def token_revoke(token_ref: str, output: str) -> None:
    """Revoke a token by its name or id; it stops working at once."""
    rows = server().json("GET", "/tokens")
    active = [r for r in rows if r.get("revoked_at") is None]
    match = [r for r in active if str(r.get("id")) == token_ref or r.get("name") == token_ref]
    if not match:
        raise Refused(
            404, {"title": "Not Found", "detail": f"there is no active token '{token_ref}'"}
        )
    server().call("DELETE", f"/tokens/{match[0]['id']}")
    if output == "json":
        emit_json({"id": match[0]["id"], "name": match[0]["name"], "revoked": True})
    else:
        click.echo(f"revoked {match[0]['name']} (id {match[0]['id']})")


def main() -> None:
    cli(prog_name="berth")


if __name__ == "__main__":
    main()
