"""The pages. Every one needs a login (an ops network tool must not show its inventory to
whoever reaches it); a login is an API token checked as the API checks it, kept in the
signed session cookie only as its hash and checked again on every request, so revoking
the token ends the session. Every POST carries a CSRF token."""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from marshmallow import ValidationError as SchemaError
from werkzeug.exceptions import Forbidden, HTTPException
from wtforms.validators import ValidationError

from api.errors import RETRY_AFTER_SECONDS, STATUS
from api.plans import PlanIn
from api.reports import csv_response
from api.schemas import ReservationIn
from ledger import plans, reports, reservations, usage
from ledger.context import Context
from ledger.environments import get_environment, list_environments
from ledger.errors import LedgerError, in_words
from ledger.service_sheet import service_sheet
from ledger.tokens import Caller, authenticate, authenticate_digest, hash_token
from web import charts
from web.forms import LoginForm, PlanForm, ReservationForm

log = logging.getLogger(__name__)

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)
OPEN = {"web.login", "web.static"}


def _context() -> Context:
    caller: Caller | None = g.get("caller")
    return current_app.extensions["berth"].context(
        actor=caller.name if caller else "anonymous", request_id=g.get("request_id", "")
    )


@bp.before_request
def _guard() -> Response | None:
    """CSRF for every POST, then the login; the login form itself is CSRF-checked too."""
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError as exc:
            raise CSRFError(str(exc)) from exc
    if request.endpoint in OPEN:
        return None
    digest = session.get("token_digest")
    caller = authenticate_digest(_context(), digest) if isinstance(digest, str) else None
    if caller is None:
        session.pop("token_digest", None)
        return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    g.caller = caller
    return None


def require(role: str) -> None:
    caller: Caller = g.caller
    if not caller.may(role):
        raise Forbidden(
            f"this needs the role '{role}'; you are logged in as '{caller.name}' ({caller.role})"
        )


@bp.app_template_global()
def csrf_token() -> str:
    return str(generate_csrf())


@bp.app_template_filter("age")
def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


@bp.app_template_filter("mib")
def _mib(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1024:,.1f} GiB" if abs(value) >= 10240 else f"{value:,.0f} MiB"


@bp.app_template_global()
def mem_unit(values: list[float | None]) -> str:
    """The one unit (MiB or GiB) of a table's memory column, chosen from all its figures."""
    return charts.display_unit("MiB", [v for v in values if v is not None])


@bp.app_template_filter("mem")
def _mem(value: float | None, unit: str) -> str:
    return "–" if value is None else charts.fmt(value, unit)


@bp.app_template_filter("cores")
def _cores(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def _safe_next(target: str | None) -> str:
    """Only a path on this site: a login must not bounce anyone to another host."""
    if not target:
        return url_for("web.index")
    parts = urlsplit(target)
    # browsers read "/\\host" as "//host": a backslash anywhere is refused as well
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.index")
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return url_for("web.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    error = None
    if request.method == "POST" and form.validate():
        token = form.token.data.strip()
        caller = authenticate(_context(), token)
        if caller is not None:
            session.clear()  # a fresh session: nothing of before the login carries over
            session["token_digest"] = hash_token(token)
            return redirect(_safe_next(request.args.get("next")))
        error = "that token is unknown or revoked"
    status = 401 if request.method == "POST" else 200
    return render_template("login.html", form=form, error=error), status


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    if request.method == "POST":
        session.clear()
        return redirect(url_for("web.login"))
    return render_template("logout.html")


@bp.route("/")
def index() -> Any:
    clusters = reports.overview(_context())
    bars = {}
    for c in clusters:
        if not c["synced"]:
            continue
        rows = [(c["name"], c)] + [
            (f"{c['name']} / {e['name']}", e) for e in c["environments"] if "allocated" in e
        ]
        for r in ("cpus", "mem"):
            bars[(c["name"], r)] = charts.stacked_bars(
                f"overview-{c['name']}-{r}",
                f"{r} of cluster {c['name']}: allocated, reserved, free",
                [
                    (
                        label,
                        [
                            charts.Segment("allocated", "allocated", fig["allocated"][r]),
                            charts.Segment("reserved", "reserved", fig["reserved"][r]),
                            charts.Segment("free", "free", max(fig["free"][r], 0.0)),
                        ],
                    )
                    for label, fig in rows
                ],
                "MiB" if r == "mem" else "cores",
            )
    return render_template("index.html", clusters=clusters, bars=bars)


@bp.route("/environments/<name>")
def environment(name: str) -> Any:
    env = get_environment(_context(), name)
    report = reports.capacity_report(_context(), environment=name)
    return render_template(
        "environment.html", name=name, env=env, report=report, charts=_charts(report)
    )


@bp.route("/services/<name>")
def service(name: str) -> Any:
    sheet = service_sheet(_context(), name)
    return render_template("service.html", sheet=sheet, usage=_usage_charts(sheet))


def _usage_charts(sheet: dict[str, Any]) -> list[dict[str, Any]]:
    """Per environment with sampled usage: cpus and memory per instance over the last 6
    hours (minute points; else the last 7 days of hours), against the allocation."""
    out = []
    for line in sheet["environments"]:
        a = line["allocation"]
        env, svc = a["environment"], sheet["service"]["name"]
        series = usage.allocation_usage(_context(), env, svc)
        cpu_of, mem_of = ("cpus_mean", "cpus_max"), ("mem_mean_mib", "mem_max_mib")
        if not series["points"]:
            series = usage.allocation_usage(_context(), env, svc, step="hour")
            cpu_of, mem_of = ("cpus_p50", "cpus_max"), ("mem_p99_mib", "mem_max_mib")
        if not series["points"]:
            continue
        stamp = "%H:%M" if series["step"] == "minute" else "%m-%d %H:00"

        key = f"usage-{env}"
        out.append(
            {
                "environment": env,
                "step": series["step"],
                "cpus": charts.usage_over_time(
                    f"{key}-cpus",
                    f"{svc} in {env}: cpus per instance",
                    _points(series, stamp, cpu_of),
                    a["cpus"],
                    "",
                ),
                "mem": charts.usage_over_time(
                    f"{key}-mem",
                    f"{svc} in {env}: memory per instance",
                    _points(series, stamp, mem_of),
                    a["mem"],
                    "MiB",
                ),
            }
        )
    return out


def _points(
    series: dict[str, Any], stamp: str, keys: tuple[str, str]
) -> list[tuple[str, float | None, float | None]]:
    return [(p["at"].strftime(stamp), p.get(keys[0]), p.get(keys[1])) for p in series["points"]]


def _reservation_form() -> ReservationForm:
    form = ReservationForm()
    envs = list_environments(_context())
    form.environment.choices = [(e["name"], f"{e['name']} ({e['cluster']})") for e in envs]
    return form


@bp.route("/reservations", methods=["GET", "POST"])
def reservation_list() -> Any:
    form = _reservation_form()
    error, status = None, 200
    if request.method == "POST":
        require("ops")
        if form.validate():
            try:  # the API's schema has the last word, so both refuse alike
                data = ReservationIn().load(form.as_reservation())
                reservations.create_reservation(_context(), data)
                return redirect(url_for("web.reservation_list"))
            except SchemaError as exc:
                error, status = in_words(exc.normalized_messages()), 422
            except LedgerError as exc:
                error, status = exc.detail, _status(exc)
        else:
            status = 422
    held = reservations.list_reservations(_context())
    return (
        render_template(
            "reservations.html",
            reservations=held,
            form=form,
            error=error,
            may_change=g.caller.may("ops"),
        ),
        status,
    )


@bp.route("/reservations/<int(max=2147483647):reservation_id>/delete", methods=["POST"])
def reservation_delete(reservation_id: int) -> Any:
    require("ops")
    reservations.delete_reservation(_context(), reservation_id)
    return redirect(url_for("web.reservation_list"))


def _plan_form() -> PlanForm:
    form = PlanForm()
    form.environment.choices = [(e["name"], e["name"]) for e in list_environments(_context())]
    return form


@bp.route("/plans", methods=["GET", "POST"])
def plan_list() -> Any:
    form = _plan_form()
    errors: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        require("ops")
        if form.validate():
            try:
                view = plans.create_plan(_context(), PlanIn().load(form.as_plan()))
                return redirect(url_for("web.plan", plan_id=view["id"]))
            except SchemaError as exc:
                errors = exc.normalized_messages()
                status = 422
            except LedgerError as exc:
                errors = {"plan": exc.detail}
                status = _status(exc)
        else:
            status = 422
    rows, total = plans.list_plans(_context(), limit=100)
    return (
        render_template(
            "plans.html",
            plans=rows,
            total=total,
            form=form,
            errors=errors,
            may_change=g.caller.may("ops"),
        ),
        status,
    )


@bp.route("/plans/<int(max=2147483647):plan_id>")
def plan(plan_id: int) -> Any:
    view = plans.get_plan(_context(), plan_id)
    return render_template("plan.html", plan=view, may_change=g.caller.may("ops"))


@bp.route("/plans/<int(max=2147483647):plan_id>/reserve", methods=["POST"])
def plan_reserve(plan_id: int) -> Any:
    require("ops")
    plans.reserve_plan(_context(), plan_id)
    return redirect(url_for("web.reservation_list"))


def _scope_args() -> dict[str, str]:
    return {k: v for k in reports.SCOPES if (v := request.args.get(k, "").strip())}


def _service_label(line: dict[str, Any], section: dict[str, Any]) -> str:
    """The environment is named only where the section spans several."""
    if len({v["environment"] for v in section["services"]}) == 1:
        return str(line["service"])
    return f"{line['service']} ({line['environment']})"


def _charts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The charts of each cluster section of a report."""
    out = []
    for k, s in enumerate(report["clusters"]):
        section: dict[str, Any] = {"cluster": s["cluster"]}
        for r, unit in (("cpus", "cores"), ("mem", "MiB")):
            section[f"agents_{r}"] = charts.stacked_bars(
                f"agents-{k}-{r}",
                f"{r} per agent of cluster {s['cluster']}",
                [
                    (
                        a["hostname"],
                        [
                            charts.Segment("allocated", "allocated", a["allocated"][r]),
                            charts.Segment("reserved", "reserved", a["reserved"][r]),
                            charts.Segment("held", "held by others", max(a["held"][r], 0.0)),
                            charts.Segment("free", "free", max(a["free"][r], 0.0)),
                        ],
                    )
                    for a in s["agents"]
                ],
                unit,
                overlay=[charts.Segment("used", "used (Mesos)", a["used"][r]) for a in s["agents"]],
            )
            section[f"teams_{r}"] = charts.stacked_bars(
                f"teams-{k}-{r}",
                f"{r} allocated per team on cluster {s['cluster']}",
                [(t["team"], [charts.Segment("allocated", "allocated", t[r])]) for t in s["teams"]],
                unit,
            )
            section[f"headroom_{r}"] = charts.headroom_area(
                f"headroom-{k}-{r}",
                f"free {r} per day for the next {report['days']} days on cluster {s['cluster']}",
                [(d["day"], d["free"][r], d["reserved"][r]) for d in s["headroom"]],
                unit,
            )
            section[f"services_{r}"] = charts.paired_bars(
                f"services-{k}-{r}",
                f"{r} allocated and used per service on cluster {s['cluster']}",
                [(_service_label(v, s), v["allocated"][r], v["used"][r]) for v in s["services"]],
                unit,
            )
        out.append(section)
    return out


@bp.route("/reports/capacity")
def capacity_report() -> Any:
    args = _scope_args()
    if not args:
        clusters = reports.overview(_context())
        return render_template("report_pick.html", clusters=clusters)
    report = reports.capacity_report(_context(), **args)
    return render_template("report.html", report=report, charts=_charts(report), csv_args=args)


@bp.route("/reports/capacity.csv")
def capacity_report_csv() -> Any:
    return csv_response(reports.capacity_report(_context(), **_scope_args()))


def _status(exc: LedgerError) -> int:
    return next(code for cls, code in STATUS if isinstance(exc, cls))


@bp.errorhandler(LedgerError)
def _ledger_error(exc: LedgerError) -> Any:
    status = _status(exc)
    page = render_template("error.html", status=status, title=exc.title, detail=exc.detail)
    # as the API does: a cluster or the database away for a moment says when to come back
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
    return page, status, headers


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> Any:
    detail = f"{exc.description} Reload the page and try again; nothing was changed."
    return render_template("error.html", status=400, title="Form expired", detail=detail), 400


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    return render_template(
        "error.html", status=status, title=exc.name, detail=exc.description
    ), status


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Any:
    ref = g.get("request_id") or uuid.uuid4().hex
    log.exception("unhandled error in %s %s (%s)", request.method, request.path, ref)
    detail = f"An unexpected error; it has been logged under {ref}."
    return render_template("error.html", status=500, title="Internal error", detail=detail), 500
