"""The operator's pages: drift per environment, who holds a port and a cluster's ports,
the audit log with filters, deployments with their status; a viewer reads them all, and
memory shows in one unit per table."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from tests.web.conftest import login
from tests.web.dataset import GROWN


def test_a_viewer_reads_drift_ports_audit_and_deployments(
    browser: FlaskClient, tokens: dict[str, str], shop: dict[str, Any], ops: Any, admin: Any
) -> None:
    deployed = admin.post(
        "/api/v1/deployments",
        json={"service": GROWN, "environment": "production", "image": "shop/order:2.0"},
    )
    assert deployed.status_code in (200, 201, 202), deployed.get_json()
    held = ops.get(f"/api/v1/environments/production/allocations/{GROWN}").get_json()["ports"]
    name, port = next(iter(held.items()))

    for url in ("/ports", "/audit", "/deployments", "/environments/production/drift"):
        assert browser.get(url).status_code == 302, url  # a login first
    login(browser, tokens["viewer"])

    drift = browser.get("/environments/production/drift")
    assert drift.status_code == 200
    page = drift.get_data(as_text=True)
    assert "Drift of environment production" in page and GROWN in page

    who = browser.get(f"/ports?port={port}").get_data(as_text=True)
    rows = re.findall(r"<tr><td>(\d+)</td><td><a [^>]+>([^<]+)</a></td>", who)
    assert rows == [(str(port), GROWN)], rows
    assert f"<td>{name}</td>" in who
    every = browser.get("/ports?cluster=shop").get_data(as_text=True)
    assert len(re.findall(r"<tr><td>\d+</td>", every)) > 10
    assert "Nobody holds port 31999" in browser.get("/ports?port=31999").get_data(as_text=True)
    assert "is not a port" in browser.get("/ports?port=99999").get_data(as_text=True)

    everything = browser.get("/audit").get_data(as_text=True)
    assert "allocation production/" + GROWN in everything
    narrowed = browser.get(
        f"/audit?entity_type=allocation&entity=production/{GROWN}&action=update"
    ).get_data(as_text=True)
    assert re.search(r"<p>1 event\.</p>", narrowed), narrowed[-1500:]
    by_actor = browser.get("/audit?actor=nobody-at-all").get_data(as_text=True)
    assert "<p>0 events.</p>" in by_actor
    future = browser.get("/audit?since=2999-01-01T00:00:00Z").get_data(as_text=True)
    assert "<p>0 events.</p>" in future
    bad = browser.get("/audit?since=yesterday")
    assert bad.status_code == 200 and 'class="error">since:' in bad.get_data(as_text=True)

    releases = browser.get("/deployments?environment=production").get_data(as_text=True)
    assert "shop/order:2.0" in releases
    status = re.search(r'<td class="status [a-z]*">([a-z]+)</td>', releases)
    assert status and status.group(1) in ("deploying", "succeeded")
    assert "No deployments match" in browser.get("/deployments?service=nothing").get_data(
        as_text=True
    )


def test_the_report_shows_memory_in_one_unit_per_table(
    browser: FlaskClient, tokens: dict[str, str], shop: dict[str, Any]
) -> None:
    login(browser, tokens["viewer"])
    page = browser.get("/reports/capacity?cluster=shop").get_data(as_text=True)
    tables = re.findall(r"<table.*?</table>", page, flags=re.S)
    assert tables
    for table in tables:
        units = set(re.findall(r"\d (MiB|GiB)\b", table))
        assert len(units) <= 1, (units, table[:300])
    assert any(re.search(r"\d (MiB|GiB)\b", table) for table in tables)  # memory is shown
    for chart in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        assert len(set(re.findall(r"\d (MiB|GiB)\b", chart))) <= 1


def test_a_services_page_charts_its_usage_against_the_allocation(
    app: Any, browser: FlaskClient, tokens: dict[str, str], shop: dict[str, Any], ops: Any
) -> None:
    from datetime import timedelta

    from sqlalchemy import select

    from models import Allocation, Environment, Service
    from models.base import utcnow
    from models.usage import UsageMinute

    allocated = ops.get(f"/api/v1/environments/production/allocations/{GROWN}").get_json()
    start = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=30)
    with app.extensions["berth"].sessions() as session:
        alloc_id = session.scalar(
            select(Allocation.id)
            .join(Service)
            .join(Environment)
            .where(Service.name == GROWN, Environment.name == "production")
        )
        session.add_all(
            UsageMinute(
                allocation_id=alloc_id,
                minute=start + timedelta(minutes=i),
                instances=2,
                cpu_instances=2 if i != 10 else 0,  # a minute without a rate: a gap
                cpu_mean=allocated["cpus"] * 0.3,
                cpu_max=allocated["cpus"] * 0.5,
                mem_mean=int(allocated["mem"] * 0.4) * 1024 * 1024,
                mem_max=int(allocated["mem"] * 0.6) * 1024 * 1024,
            )
            for i in range(20)
        )
        session.commit()
    login(browser, tokens["viewer"])
    page = browser.get(f"/services/{GROWN}").get_data(as_text=True)
    assert "Usage against the allocation" in page
    cpus = page[page.index('id="usage-production-cpus"') :].split("</svg>")[0]
    # the mean is drawn in two runs around the minute without a rate, not through zero
    assert cpus.count('class="line"') == 4  # mean and peak, each split by the gap
    assert 'class="allocated"' in cpus and f"allocated {allocated['cpus']:,.2f}" in cpus
    mem = page[page.index('id="usage-production-mem"') :].split("</svg>")[0]
    assert "MiB" in mem or "GiB" in mem
    # one unit per chart: GiB only when its largest figure (the allocation) reaches 10 GiB
    unit, other = ("GiB", "MiB") if allocated["mem"] >= 10 * 1024 else ("MiB", "GiB")
    assert unit in mem and other not in mem, mem[:400]
