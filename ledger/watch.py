"""`flask --app app watch`: each cluster kept live from Marathon's event stream.

One watcher per cluster holds its `WatchLease`; the other replicas stand by and take over
when it expires. The holder reads the cluster in full (a reconciliation), keeps that reading
in memory, applies each event to it (ledger/live.py) and writes it as the cluster's latest
snapshot after each batch (at most `debounce` seconds after the batch's first event):

- only tasks changed (and the latest row is still the one it wrote or read): that row is
  updated in place, with the new content hash;
- an app was added, removed or redefined: a new row, as a sync would store.

Either way the latest row's (id, content hash) changes, which is what the decoded-content
cache (ledger/snapshots.py) and the standing placement (ledger/standing.py) key on: every
reader in every process sees the new state at its next read, and no cache serves the old.

Deployments berth recorded are finished from `deployment_success` / `deployment_failed`,
with Marathon's own event time as `finished_at`. After every (re)connect, and every
`reconcile_seconds`, a full reading replaces the state, so nothing missed stays missed.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.clusters import find_cluster
from ledger.context import Context, in_transaction
from ledger.deployments import follow
from ledger.errors import LedgerError
from ledger.live import LiveState, marathon_time
from ledger.snapshots import latest_snapshot_row
from ledger.sync import (
    HOLDER,
    Reading,
    _prune,
    new_snapshot,
    read_cluster,
    snapshot_view,
    store_snapshot,
)
from ledger.upstream import Endpoints
from marathon.errors import ClusterError
from marathon.events import MarathonEvent, stream_events
from marathon.http import Credentials
from marathon.leader import LeaderEndpoint
from models import Cluster, Deployment, WatchLease
from models.base import utcnow

log = logging.getLogger("berth.watch")


@dataclass(frozen=True)
class WatchSettings:
    """How a watcher paces itself; app.py fills it from BERTH_WATCH_* variables."""

    reconcile_seconds: float = 300.0  # a full reading this often, and after every reconnect
    lease_seconds: float = 15.0  # a silent holder loses the cluster after this long
    debounce_seconds: float = 0.25  # a batch of events is written at most this long after
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    read_timeout_seconds: float = 60.0  # no byte (not even a keep-alive) for this long: dead


class LeaseLostError(LedgerError):
    title = "Watch lease lost"


# -- the lease ---------------------------------------------------------------------------


def _lease_row(session: Session, cluster_id: int) -> WatchLease:
    lease = session.get(WatchLease, cluster_id, with_for_update=True)
    if lease is None:
        lease = WatchLease(cluster_id=cluster_id, connected=False)
        session.add(lease)
        session.flush()
    return lease


def acquire_watch(ctx: Context, name: str, holder: str, ttl: timedelta) -> Endpoints | None:
    """Take or renew the cluster's watch; None while another holder's lease runs."""

    def work(session: Session) -> Endpoints | None:
        cluster = find_cluster(session, name)
        lease = _lease_row(session, cluster.id)
        now = utcnow()
        if lease.holder not in (None, holder) and lease.expires_at and lease.expires_at > now:
            return None
        if lease.holder != holder:
            lease.connected = False
        lease.holder, lease.expires_at = holder, now + ttl
        return Endpoints.of(cluster)

    return in_transaction(ctx, work)


def release_watch(ctx: Context, name: str, holder: str) -> None:
    def work(session: Session) -> None:
        cluster = session.scalar(select(Cluster).where(Cluster.name == name))
        if cluster is None:
            return
        lease = _lease_row(session, cluster.id)
        if lease.holder == holder:
            lease.holder, lease.expires_at, lease.connected = None, None, False

    in_transaction(ctx, work)


def _held(session: Session, name: str, holder: str) -> tuple[Cluster, WatchLease]:
    cluster = find_cluster(session, name)
    lease = _lease_row(session, cluster.id)
    if lease.holder != holder or lease.expires_at is None or lease.expires_at <= utcnow():
        raise LeaseLostError(f"the watch of cluster '{name}' is no longer held by {holder}")
    return cluster, lease


def mark(
    ctx: Context,
    name: str,
    holder: str,
    *,
    connected: bool | None = None,
    reconciled_at: datetime | None = None,
    ttl: timedelta | None = None,
) -> None:
    """Renew the held lease and note the stream's state; LeaseLostError when not held."""

    def work(session: Session) -> None:
        cluster, lease = _held(session, name, holder)
        now = utcnow()
        if ttl is not None:
            lease.expires_at = now + ttl
        if connected is not None:
            lease.connected = connected
        if reconciled_at is not None:
            lease.last_reconciled_at = reconciled_at
        if lease.connected:
            # a connected stream confirms the state it kept: nothing changed unsaid
            snap = latest_snapshot_row(session, cluster.id, content=False)
            if snap is not None and snap.confirmed_at < now:
                snap.confirmed_at = now

    in_transaction(ctx, work)


# -- writing the live state --------------------------------------------------------------


def store_live(
    ctx: Context,
    name: str,
    holder: str,
    reading: Reading,
    *,
    base_hash: str | None,
    definitions: bool,
    last_event_at: datetime | None,
) -> dict[str, Any]:
    """Write the kept state as the latest snapshot (see the module's docstring)."""

    def work(session: Session) -> dict[str, Any]:
        cluster, lease = _held(session, name, holder)
        now = utcnow()
        digest = reading.digest()
        latest = latest_snapshot_row(session, cluster.id, content=False)
        if latest is not None and latest.content_hash == digest:
            latest.confirmed_at = max(latest.confirmed_at, now)
        elif latest is not None and not definitions and latest.content_hash == base_hash:
            latest.agents, latest.apps = reading.agents, reading.apps
            latest.content_hash, latest.confirmed_at = digest, now
        else:
            latest = new_snapshot(cluster.id, reading, digest, now)
            session.add(latest)
            session.flush()
            _prune(ctx, session, cluster.id, latest.id, now)
        if last_event_at is not None:
            lease.last_event_at = max(last_event_at, lease.last_event_at or last_event_at)
        lease.last_applied_at = now
        session.flush()
        return snapshot_view(latest, name, now)

    return in_transaction(ctx, work)


def finish_deployments(
    ctx: Context, name: str, finished: dict[str, tuple[str, datetime | None]]
) -> list[int]:
    """Record berth's releases whose Marathon deployment finished; their ids."""
    if not finished:
        return []

    def work(session: Session) -> list[int]:
        cluster = find_cluster(session, name)
        rows = session.scalars(
            select(Deployment).where(
                Deployment.cluster_id == cluster.id,
                Deployment.status.in_(("deploying", "pending")),
                Deployment.marathon_deployment_id.in_(list(finished)),
            )
        )
        done = []
        for d in rows:
            status, when = finished[str(d.marathon_deployment_id)]
            d.status, d.finished_at = status, when or utcnow()
            d.error = (
                None
                if status == "succeeded"
                else f"Marathon reported deployment {d.marathon_deployment_id} failed"
            )
            done.append(d.id)
        return done

    return in_transaction(ctx, work)


def _unfinished(ctx: Context, name: str) -> list[int]:
    def work(session: Session) -> list[int]:
        cluster = find_cluster(session, name)
        return list(
            session.scalars(
                select(Deployment.id).where(
                    Deployment.cluster_id == cluster.id, Deployment.status == "deploying"
                )
            )
        )

    return in_transaction(ctx, work)


def _executor(ctx: Context, name: str) -> tuple[float, float]:
    def work(session: Session) -> tuple[float, float]:
        cluster = find_cluster(session, name)
        return float(cluster.executor_cpus), float(cluster.executor_mem)

    return in_transaction(ctx, work)


# -- the watcher -------------------------------------------------------------------------


class _Disconnected(Exception):
    pass


class Watcher:
    """Watches one cluster while it holds the lease; stands by otherwise. `run` returns when
    `stop` is set."""

    def __init__(
        self,
        ctx: Context,
        cluster: str,
        settings: WatchSettings | None = None,
        holder: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.cluster = cluster
        self.settings = settings or WatchSettings()
        self.holder = holder or f"{HOLDER}:{uuid.uuid4().hex[:6]}"
        self.ttl = timedelta(seconds=self.settings.lease_seconds)
        self.active = threading.Event()  # set while this watcher holds the cluster
        self.events_applied = 0
        self.reconciliations = 0
        # Marathon deployment id → (status, when): finished plans, kept a while for a
        # release whose id berth records only after the event came (the PUT's answer raced)
        self._finished: OrderedDict[str, tuple[str, datetime | None]] = OrderedDict()

    # the outer loop: lease, connect, back off --------------------------------------------

    def run(self, stop: threading.Event) -> None:
        failures = 0
        try:
            while not stop.is_set():
                try:
                    endpoints = acquire_watch(self.ctx, self.cluster, self.holder, self.ttl)
                except LedgerError as exc:
                    log.warning("%s: cannot take the watch lease: %s", self.cluster, exc.detail)
                    endpoints = None
                if endpoints is None:
                    self.active.clear()
                    stop.wait(self.settings.lease_seconds / 3)
                    continue
                self.active.set()
                try:
                    if self._watch(endpoints, stop):
                        failures = 0
                except LeaseLostError:
                    log.warning("%s: lost the watch lease; standing by", self.cluster)
                    self.active.clear()
                    continue
                except (_Disconnected, ClusterError, LedgerError) as exc:
                    log.warning("%s: watching stopped: %s", self.cluster, exc)
                except Exception:  # noqa: BLE001 - a long-running watcher must survive
                    log.exception("%s: watching failed", self.cluster)
                failures += 1
                delay = min(
                    self.settings.backoff_max_seconds,
                    self.settings.backoff_initial_seconds * 2 ** (failures - 1),
                )
                self._quietly_disconnected()
                stop.wait(delay * random.uniform(0.8, 1.0))
        finally:
            self.active.clear()
            try:
                release_watch(self.ctx, self.cluster, self.holder)
            except LedgerError:
                pass

    def _quietly_disconnected(self) -> None:
        try:
            mark(self.ctx, self.cluster, self.holder, connected=False, ttl=self.ttl)
        except LedgerError:
            pass

    # one connection ----------------------------------------------------------------------

    def _reader(
        self, endpoints: Endpoints, out: queue.Queue[Any], cancelled: threading.Event
    ) -> None:
        url = endpoints.marathon_url
        try:
            # with several Marathon instances, the stream is the leader's (a follower
            # would proxy it, but may be the one that is gone); asked again on reconnect
            endpoint = endpoints.marathon(self.ctx).endpoint
            url = endpoint.base_url
            for event in stream_events(
                url,
                credentials=Credentials.from_env(endpoints.credentials_env),
                timeout=(3.05, self.settings.read_timeout_seconds),
            ):
                if cancelled.is_set():
                    return
                out.put(event)
        except Exception as exc:  # noqa: BLE001 - handed to the watching thread
            self._forget_leader(endpoints, url)
            out.put(exc)
        else:
            self._forget_leader(endpoints, url)
            out.put(_Disconnected("the event stream ended"))

    def _forget_leader(self, endpoints: Endpoints, url: str) -> None:
        """A stream that ends may mean the leader moved (Marathon ends every stream when it
        does): the next connection asks the instances who leads now."""
        endpoint = endpoints.marathon(self.ctx).endpoint
        if isinstance(endpoint, LeaderEndpoint):
            endpoint.forget(url)

    def _reconcile(self, endpoints: Endpoints) -> tuple[LiveState, str]:
        reading = read_cluster(self.ctx, endpoints)
        store_snapshot(self.ctx, self.cluster, reading)
        self.reconciliations += 1
        mark(self.ctx, self.cluster, self.holder, reconciled_at=utcnow(), ttl=self.ttl)
        for release in _unfinished(self.ctx, self.cluster):
            try:
                follow(self.ctx, release)  # finished while nobody listened: judge it now
            except LedgerError as exc:
                log.info("%s: release %s not followed: %s", self.cluster, release, exc.detail)
        return LiveState.of(reading, _executor(self.ctx, self.cluster)), reading.digest()

    def _watch(self, endpoints: Endpoints, stop: threading.Event) -> bool:
        """Watch until the stream breaks (raises) or `stop`; True when it was attached."""
        events: queue.Queue[Any] = queue.Queue()
        cancelled = threading.Event()
        threading.Thread(
            target=self._reader,
            args=(endpoints, events, cancelled),
            name=f"watch-{self.cluster}-reader",
            daemon=True,
        ).start()
        try:
            first = events.get(timeout=self.settings.read_timeout_seconds)
            if isinstance(first, Exception):
                raise first
            # attached: whatever happens from now on is queued, so a full reading now
            # misses nothing; events that it already holds apply again harmlessly
            state, base = self._reconcile(endpoints)
            mark(self.ctx, self.cluster, self.holder, connected=True, ttl=self.ttl)
            log.info("%s: watching Marathon's events", self.cluster)
            self._loop(endpoints, state, base, events, stop)
            return True
        finally:
            cancelled.set()

    def _loop(
        self,
        endpoints: Endpoints,
        state: LiveState,
        base: str,
        events: queue.Queue[Any],
        stop: threading.Event,
    ) -> None:
        s = self.settings
        renew_every = s.lease_seconds / 3
        next_renew = time.monotonic() + renew_every
        next_reconcile = time.monotonic() + s.reconcile_seconds
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_reconcile:
                state, base = self._reconcile(endpoints)
                next_reconcile = now + s.reconcile_seconds
            if now >= next_renew:
                mark(self.ctx, self.cluster, self.holder, ttl=self.ttl)
                self._settle_finished()
                next_renew = now + renew_every
            try:
                item = events.get(timeout=max(0.05, min(next_renew, next_reconcile) - now))
            except queue.Empty:
                continue
            batch = [item]
            deadline = time.monotonic() + s.debounce_seconds
            while time.monotonic() < deadline:
                try:
                    batch.append(events.get(timeout=min(0.02, deadline - time.monotonic())))
                except queue.Empty:
                    break  # quiet: write now rather than wait out the whole debounce
            base = self._apply(state, base, batch)

    def _apply(self, state: LiveState, base: str, batch: list[Any]) -> str:
        changed = definitions = False
        last_at: datetime | None = None
        finished: dict[str, tuple[str, datetime | None]] = {}
        failure: Exception | None = None
        for item in batch:
            if isinstance(item, Exception):
                failure = item
                break
            assert isinstance(item, MarathonEvent)
            result = state.apply(item.type, item.body)
            self.events_applied += 1
            changed |= result.changed
            definitions |= result.definitions
            if result.finished is not None:
                plan_id, status, when = result.finished
                finished[plan_id] = (status, when)
            at = marathon_time(item.body.get("timestamp"))
            if at is not None and (last_at is None or at > last_at):
                last_at = at
        if changed or last_at is not None:
            reading = state.reading(utcnow())
            store_live(
                self.ctx,
                self.cluster,
                self.holder,
                reading,
                base_hash=base,
                definitions=definitions,
                last_event_at=last_at,
            )
            base = reading.digest()
        if finished:
            for plan_id, outcome in finished.items():
                self._finished[plan_id] = outcome
            while len(self._finished) > 1000:
                self._finished.popitem(last=False)
            finish_deployments(self.ctx, self.cluster, finished)
        if failure is not None:
            raise failure
        return base

    def _settle_finished(self) -> None:
        """Releases whose deployment id berth recorded after the plan's event came."""
        if self._finished:
            finish_deployments(self.ctx, self.cluster, dict(self._finished))


def watch_clusters(
    ctx: Context,
    names: list[str],
    settings: WatchSettings,
    stop: threading.Event,
    *,
    sample_usage: bool = False,
) -> list[Watcher]:
    """Start one watcher thread per cluster; they run until `stop` is set. With
    `sample_usage`, each cluster's agents are also sampled (ledger/usage.py) while its
    watcher holds the lease, so one replica samples a cluster, as one watches it."""
    watchers = [Watcher(ctx, name, settings) for name in names]
    for w in watchers:
        threading.Thread(target=w.run, args=(stop,), name=f"watch-{w.cluster}", daemon=True).start()
    if sample_usage:
        from ledger.usage import start_sampling

        start_sampling(ctx, names, stop, active={w.cluster: w.active for w in watchers})
    return watchers
