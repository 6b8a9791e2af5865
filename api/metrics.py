"""GET /metrics: Prometheus' text format; capacity gauges computed at scrape time, and
request counts and latencies by route template.

Under gunicorn every worker counts its own requests; with PROMETHEUS_MULTIPROC_DIR set
(before the workers start) prometheus_client keeps the counts in files there and a scrape,
whichever worker answers it, sums them over all workers.

Access: open by default, as Prometheus scrapes usually are; with BERTH_METRICS_TOKEN set, a
scrape must send `Authorization: Bearer <that token>` (Prometheus' `authorization`
setting). Berth's API tokens are not used here, so a scraper holds no ledger role.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from werkzeug.exceptions import Unauthorized

from api.request_context import ledger_context
from ledger.errors import DatabaseUnavailableError
from ledger.metrics import LEVELS, Figures, capacity_figures
from ledger.usage import SamplingFigures, UsageFigures, usage_figures

log = logging.getLogger(__name__)

MIB = 1024 * 1024
UNMATCHED = "(unmatched)"  # requests no route answers: one label value, not one per path

blp = Blueprint("metrics", __name__)

REQUESTS = Counter(
    "berth_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "berth_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

# (metric suffix, help, unit factor) per resource; memory and disk are MiB in the ledger
_RESOURCES = (
    ("cpus", "cpus", "cpus", 1),
    ("mem", "memory_bytes", "memory in bytes", MIB),
    ("disk", "disk_bytes", "disk in bytes", MIB),
)
_KINDS = (
    ("total", "what the active agents offer berth's role"),
    ("allocated", "allocated to this scope's services (executor overhead included)"),
    ("reserved", "held by reservations active now"),
    (
        "free",
        "the cluster's room left: totals less every allocation, reservation, the surge "
        "of the largest deploys and the headroom kept (the same in every scope of a cluster)",
    ),
)


class CapacityCollector(Collector):
    """Reads the ledger at every scrape (see ledger/metrics.py for what is cached)."""

    def __init__(self, figures: list[Figures], unsynced: list[str]) -> None:
        self.figures, self.unsynced = figures, unsynced

    def collect(self) -> Iterator[Metric]:
        clusters = [f for f in self.figures if f.environment is None]
        envs = [f for f in self.figures if f.environment is not None]
        for scope, rows, labels in (
            ("cluster", clusters, ["cluster"]),
            ("environment", envs, ["cluster", "environment"]),
        ):
            for kind, why in _KINDS:
                if kind == "total" and scope == "environment":
                    continue  # an environment's total is its cluster's
                for key, suffix, what, factor in _RESOURCES:
                    gauge = GaugeMetricFamily(
                        f"berth_{scope}_{kind}_{suffix}", f"{what}: {why}", labels=labels
                    )
                    for f in rows:
                        values: dict[str, float] = getattr(f, "totals" if kind == "total" else kind)
                        gauge.add_metric(_labels(f, scope), values[key] * factor)
                    yield gauge
            unplaceable = GaugeMetricFamily(
                f"berth_{scope}_unplaceable_instances",
                "instances (and deploy surge) that cannot be placed on the agents now or "
                "in a reservation window to come",
                labels=labels,
            )
            for f in rows:
                unplaceable.add_metric(_labels(f, scope), f.unplaceable)
            yield unplaceable
        age = GaugeMetricFamily(
            "berth_cluster_snapshot_age_seconds",
            "age of the snapshot the capacity figures come from (sync to refresh it)",
            labels=["cluster"],
        )
        synced = GaugeMetricFamily(
            "berth_cluster_synced",
            "1 when the cluster has a snapshot, 0 when never synced",
            labels=["cluster"],
        )
        level = GaugeMetricFamily(
            "berth_cluster_fit_level",
            "1 for the level the cluster's verdict reaches (fits, fits_after_moves, "
            "does_not_fit, not_proven), 0 for the others",
            labels=["cluster", "level"],
        )
        moves = GaugeMetricFamily(
            "berth_cluster_moves_pending",
            "running tasks that must move before Marathon can place what the ledger holds",
            labels=["cluster"],
        )
        event_age = GaugeMetricFamily(
            "berth_cluster_last_event_age_seconds",
            "seconds since the last Marathon event the watcher applied (absent when none)",
            labels=["cluster"],
        )
        watching = GaugeMetricFamily(
            "berth_cluster_watching",
            "1 when a watcher holds the cluster with Marathon's event stream attached",
            labels=["cluster"],
        )
        for f in clusters:
            age.add_metric([f.cluster], f.snapshot_age_seconds)
            watching.add_metric([f.cluster], 1 if f.watching else 0)
            if f.last_event_age_seconds is not None:
                event_age.add_metric([f.cluster], f.last_event_age_seconds)
            synced.add_metric([f.cluster], 1)
            for name in LEVELS:
                level.add_metric([f.cluster, name], 1 if f.level == name else 0)
            moves.add_metric([f.cluster], f.moves)
        for name in self.unsynced:
            synced.add_metric([name], 0)
        yield age
        yield event_age
        yield watching
        yield synced
        yield level
        yield moves


class UsageCollector(Collector):
    """Usage sampled from the agents (ledger/usage.py): what each environment's tasks use
    now, what their allocations ask beyond it, and each cluster's last sampling round."""

    def __init__(self, figures: list[UsageFigures], rounds: list[SamplingFigures]) -> None:
        self.figures, self.rounds = figures, rounds

    def collect(self) -> Iterator[Metric]:
        labels = ["cluster", "environment"]
        for attr, name, what in (
            ("cpus_used", "berth_environment_cpus_used", "cpus the tasks use (last minute)"),
            ("mem_used_bytes", "berth_environment_mem_used_bytes", "resident memory of the tasks"),
            ("cpus_wasted", "berth_environment_cpus_wasted", "cpus allocated and not used"),
            (
                "mem_wasted_bytes",
                "berth_environment_mem_wasted_bytes",
                "memory allocated and not resident",
            ),
            (
                "allocations_measured",
                "berth_environment_allocations_measured",
                "allocations with usage in the last rounds",
            ),
        ):
            gauge = GaugeMetricFamily(name, what, labels=labels)
            for f in self.figures:
                gauge.add_metric([f.cluster, f.environment], getattr(f, attr))
            yield gauge
        for attr, name, what in (
            ("agents", "berth_usage_agents", "active agents the last sampling round asked"),
            (
                "agents_unreachable",
                "berth_usage_agents_unreachable",
                "agents the last sampling round skipped (no answer, an error, no address)",
            ),
            (
                "executors_unattributed",
                "berth_usage_executors_unattributed",
                "executors of no allocation in the last round",
            ),
            ("seconds", "berth_usage_round_seconds", "wall time of the last sampling round"),
            ("age_seconds", "berth_usage_sample_age_seconds", "age of the last sampling round"),
        ):
            gauge = GaugeMetricFamily(name, what, labels=["cluster"])
            for r in self.rounds:
                gauge.add_metric([r.cluster], getattr(r, attr))
            yield gauge


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


def _labels(f: Figures, scope: str) -> list[str]:
    return [f.cluster] if scope == "cluster" else [f.cluster, f.environment or ""]


def _check_scraper() -> None:
    expected = current_app.config.get("METRICS_TOKEN") or ""
    if not expected:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), expected):
        exc = Unauthorized("send 'Authorization: Bearer <BERTH_METRICS_TOKEN>' to scrape /metrics")
        exc.data = {"headers": {"WWW-Authenticate": 'Bearer realm="berth-metrics"'}}  # type: ignore[attr-defined]
        raise exc


@blp.route("/metrics")
def metrics() -> Response:
    """Prometheus text exposition: request metrics (all workers) and capacity gauges."""
    _check_scraper()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        requests_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(requests_registry)  # type: ignore[no-untyped-call]
    else:
        requests_registry = REGISTRY
    up = GaugeMetricFamily(
        "berth_capacity_up", "1 when the capacity gauges could be read from the database"
    )
    capacity = CollectorRegistry()
    try:
        capacity.register(CapacityCollector(*capacity_figures(ledger_context())))
        capacity.register(UsageCollector(*usage_figures(ledger_context())))
        up.add_metric([], 1)
    except DatabaseUnavailableError as exc:
        # the request metrics are still worth a scrape; the gauge says what is missing
        log.warning("capacity gauges left out of /metrics: %s", exc.detail)
        up.add_metric([], 0)
    capacity.register(_Fixed([up]))
    body = generate_latest(requests_registry) + generate_latest(capacity)
    return Response(body, mimetype=None, content_type=CONTENT_TYPE_LATEST)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _count(response: Response) -> Response:
    rule = request.url_rule
    route = rule.rule if rule is not None else UNMATCHED
    REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
    return response


def init_metrics(app: Flask) -> None:
    # first of all before_request hooks, so that the time of a refused request counts too
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.after_request(_count)
    app.register_blueprint(blp)
