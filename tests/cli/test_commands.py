"""Every `berth` command against berth under gunicorn and the simulator, through click's
CliRunner in this process and over real HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import requests

from simulator import Simulator, serve
from tests import factories as f
from tests.cli.conftest import Berth, ok

IMAGE = "registry.local/shop/order-service:1.0"


def test_allocations_ports_render_and_the_if_match_dance(
    berth: Berth, admin: Any, ops: Any
) -> None:
    with serve(Simulator(agents=6, seed=5)) as sim:  # 2 instances, doubled while deploying
        f.synced_world(admin, sim.url)
        made = ok(berth("alloc", "set", "production", "order-service", "--cpus", "0.5"), 2)
        assert "give --cpus and --mem" in made.output  # a new allocation needs both
        made = ok(
            berth(
                "alloc",
                "set",
                "production",
                "order-service",
                "--cpus",
                "0.5",
                "--mem",
                "512",
                "--instances",
                "2",
                "--constraint",
                "hostname:UNIQUE",
            )
        )
        assert "fits" in made.stdout and "http=31000" in made.stdout
        got = json.loads(
            ok(berth("alloc", "get", "production", "order-service", "-o", "json")).stdout
        )
        assert got["instances"] == 2 and got["constraints"] == [["hostname", "UNIQUE"]]
        # only what is given changes; the rest (constraints, ports) stays
        ok(berth("alloc", "set", "production", "order-service", "--mem", "768"))
        got = json.loads(
            ok(berth("alloc", "get", "production", "order-service", "-o", "json")).stdout
        )
        assert (got["mem"], got["instances"], got["ports"]) == (
            768,
            2,
            {"http": 31000, "dubbo": 31001},
        )
        assert got["constraints"] == [["hostname", "UNIQUE"]] and got["version"] == 2
        # a dry run shows the verdict and saves nothing; one that does not fit is refused
        dry = ok(
            berth("alloc", "set", "production", "order-service", "--instances", "1", "--dry-run")
        )
        assert "dry run: nothing saved" in dry.stdout and "fit" in dry.stdout
        too_big = berth(
            "alloc",
            "set",
            "production",
            "order-service",
            "--instances",
            "4",
            "--dry-run",
            "-o",
            "json",
        )
        assert too_big.exit_code == 2, too_big.output  # UNIQUE, doubled, on six agents
        assert "Does not fit" in too_big.stderr and json.loads(too_big.stdout)["status"] == 409
        assert (
            json.loads(
                ok(berth("alloc", "get", "production", "order-service", "-o", "json")).stdout
            )["instances"]
            == 2
        )
        # 422 from berth: its reasons per field, exit 2
        bad = ok(berth("alloc", "set", "production", "order-service", "--mem", "1"), 2)
        assert "berth refused (422" in bad.stderr and "mem:" in bad.stderr
        # If-Match: someone changes the allocation between the client's read and write
        original_put = requests.Session.request
        raced = {"done": False}

        def racing(self: requests.Session, method: str, url: str, **kw: Any) -> Any:
            if method == "PUT" and not raced["done"]:
                raced["done"] = True
                f.allocate(ops, cpus=0.25, mem=512, instances=2)  # another writer wins
            return original_put(self, method, url, **kw)

        requests.Session.request = racing  # type: ignore[method-assign]
        try:
            stale = ok(berth("alloc", "set", "production", "order-service", "--cpus", "1"), 2)
        finally:
            requests.Session.request = original_put  # type: ignore[method-assign]
        assert "changed since it was read" in stale.stderr and "test-ops" in stale.stderr
        assert (
            json.loads(
                ok(berth("alloc", "get", "production", "order-service", "-o", "json")).stdout
            )["cpus"]
            == 0.25
        )

        table = ok(berth("ports", "--cluster", "east")).stdout
        assert "31000" in table and "order-service" in table and "PORT" in table
        every = json.loads(ok(berth("ports", "-o", "json")).stdout)
        assert {(p["port"], p["port_name"]) for p in every} >= {(31000, "http"), (31001, "dubbo")}
        who = ok(berth("ports", "who", "31001", "--cluster", "east")).stdout
        assert "order-service" in who and "dubbo" in who
        nobody = ok(berth("ports", "who", "31500"), 1)
        assert "nobody holds port 31500" in nobody.stdout

        rendered = json.loads(
            ok(berth("render", "production", "order-service", "--image", IMAGE)).stdout
        )
        assert rendered["id"] == "/production/order-service"
        assert rendered["container"]["docker"]["image"] == IMAGE

        gone = ok(berth("alloc", "rm", "production", "order-service"))
        assert "deleted production/order-service" in gone.stdout
        assert (
            "has no allocation" in ok(berth("alloc", "rm", "production", "order-service"), 2).stderr
        )
        assert "berth refused (404" in ok(berth("alloc", "get", "production", "nope"), 2).stderr


def test_deploy_wait_succeeds_rolls_back_and_is_refused(
    berth: Berth, admin: Any, ops: Any, tokens: dict[str, str]
) -> None:
    with serve(Simulator(agents=6, seed=5)) as sim:
        f.synced_world(admin, sim.url)
        pipeline = Berth(berth.url, tokens["pipeline"])
        # refused: no allocation yet → 2, with berth's reasons
        refused = ok(pipeline("deploy", "order-service", "production", IMAGE, "--wait"), 2)
        assert "berth refused (4" in refused.stderr and "order-service" in refused.stderr
        assert f.allocate(ops, instances=2).status_code == 201
        done = ok(
            pipeline("deploy", "order-service", "production", IMAGE, "--wait", "--interval", "0.1"),
            0,
        )
        assert "succeeded" in done.stderr and IMAGE in done.stderr
        first = int(done.stderr.split("release ", 1)[1].split(":", 1)[0])
        second = ok(
            pipeline(
                "deploy",
                "order-service",
                "production",
                IMAGE.replace("1.0", "2.0"),
                "--wait",
                "--interval",
                "0.1",
                "-o",
                "json",
            )
        )
        assert json.loads(second.stdout)["status"] == "succeeded"
        back = ok(
            pipeline("rollback", "order-service", "production", "--wait", "--interval", "0.1")
        )
        assert "succeeded" in back.stderr and IMAGE in back.stderr
        shown = json.loads(ok(pipeline("deployment", str(first), "-o", "json")).stdout)
        assert shown["status"] == "succeeded"
        # a viewer may not deploy: 403 is a refusal too
        assert ok(Berth(berth.url, tokens["viewer"])("rollback", str(first)), 2)
        # a bad image is 422, field by field
        bad = ok(pipeline("deploy", "order-service", "production", "not an image"), 2)
        assert "image" in bad.stderr


def test_deploy_wait_shows_progress_and_exits_1_when_the_deploy_fails(
    berth: Berth, admin: Any, ops: Any, tokens: dict[str, str]
) -> None:
    slow = Simulator(agents=6, seed=5, deploy_seconds=60)
    with serve(slow) as sim:
        f.synced_world(admin, sim.url)
        assert f.allocate(ops, instances=2).status_code == 201

        def cancel_when_running() -> None:
            """Marathon's deployment is cancelled (reverted) while berth's client waits."""
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                running = requests.get(f"{sim.url}/v2/deployments", timeout=5).json()
                if running:
                    time.sleep(0.6)  # let the client show a step or two first
                    requests.delete(f"{sim.url}/v2/deployments/{running[0]['id']}", timeout=5)
                    return
                time.sleep(0.05)

        canceller = threading.Thread(target=cancel_when_running)
        canceller.start()
        pipeline = Berth(berth.url, tokens["pipeline"])
        failed = pipeline(
            "deploy", "order-service", "production", IMAGE, "--wait", "--interval", "0.2"
        )
        canceller.join()
        assert failed.exit_code == 1, failed.output
        assert "step 1/1" in failed.stderr or "instances running" in failed.stderr, failed.stderr
        assert " deploying: " in failed.stderr and " failed: " in failed.stderr, failed.stderr
        assert "failed:" in failed.stderr


def test_deploy_exits_3_when_berth_cannot_be_reached(tokens: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    started = time.monotonic()
    result = Berth(closed, tokens["pipeline"])(
        "deploy", "order-service", "production", IMAGE, "--wait"
    )
    assert result.exit_code == 3, result.output
    assert "cannot be reached" in result.stderr and "Connection refused" in result.stderr
    assert time.monotonic() - started < 5  # two quick retries, then the verdict


def test_plans_reservations_drift_report_and_tokens(
    berth: Berth, admin: Any, ops: Any, tokens: dict[str, str]
) -> None:
    with serve(f.three_racks()) as sim:
        f.synced_world(admin, sim.url)
        f.service(ops, "storefront", [], team="shop")  # no host ports: agents may be shared
        no_surge = {"minimum_health_capacity": 0.5, "maximum_over_capacity": 0}
        storefront = f.allocate(
            ops, svc="storefront", cpus=2.4, instances=2, upgrade_strategy=no_surge
        )
        assert storefront.status_code == 201, storefront.get_json()
        window = ("2031-11-11T00:00:00+00:00", "2031-11-12T00:00:00+00:00")
        shown = ok(
            berth("plan", "production", "--scale", "storefront=2", "--window", *window)
        ).stdout
        assert "extra agents" in shown and "storefront" in shown and "proven" in shown
        raw = json.loads(
            ok(
                berth(
                    "plan",
                    "production",
                    "--scale",
                    "storefront=2",
                    "--window",
                    *window,
                    "--shape",
                    "small=4/8192@1",
                    "--shape",
                    "big=16/32768/100000@3.5",
                    "--json",
                )
            ).stdout
        )
        assert raw["extra_agents"] == 1 and raw["mix"]["shapes"]
        assert (
            "SHAPE"
            in ok(
                berth(
                    "plan",
                    "production",
                    "--scale",
                    "storefront=2",
                    "--window",
                    *window,
                    "--shape",
                    "small=4/8192@1",
                )
            ).stdout
        )
        assert (
            "NAME=CPUS/MEM"
            in ok(berth("plan", "production", "--scale", "x=2", "--shape", "bad"), 2).output
        )
        # the plan's reserve does not fit (it needs an agent more): berth's 409, exit 2
        refused = ok(berth("reserve", "--plan", str(raw["id"])), 2)
        assert "berth refused (409" in refused.stderr
        plain = ok(
            berth(
                "reserve",
                "--cluster",
                "east",
                "--count",
                "2",
                "--cpus",
                "0.5",
                "--mem",
                "256",
                "--from",
                window[0],
                "--to",
                window[1],
                "--reason",
                "promotion",
            )
        ).stdout
        assert "promotion" in plain and "east" in plain
        listed = json.loads(ok(berth("reservations", "--cluster", "east", "-o", "json")).stdout)
        assert [r["reason"] for r in listed] == ["promotion"]
        assert "promotion" in ok(berth("reservations")).stdout

        drift = ok(berth("drift", "production")).stdout
        assert "in sync" in drift and "missing" in drift  # allocated, never deployed
        assert json.loads(ok(berth("drift", "production", "-o", "json")).stdout)["in_sync"] is False

        report = ok(berth("report", "--cluster", "east")).stdout
        assert "totals" in report and "MiB" in report and "active agents" in report
        csv = ok(berth("report", "--cluster", "east", "--csv")).stdout
        assert csv.splitlines()[0].startswith("line,") or "," in csv.splitlines()[0]
        assert csv.splitlines()[0].startswith("scope,cluster,line,name,environment,team,")
        assert len(csv.splitlines()) > 1 and all(",east," in r for r in csv.splitlines()[1:])
        assert ok(berth("report"), 2).output  # exactly one scope

        boss = Berth(berth.url, tokens["admin"])
        made = ok(boss("token", "create", "--name", "jenkins", "--role", "pipeline"))
        secret = made.stdout.strip()
        assert secret.startswith("berth_") and "not shown again" in made.stderr
        whoami = requests.get(
            f"{berth.url}/api/v1/clusters", headers={"Authorization": f"Bearer {secret}"}, timeout=5
        )
        assert whoami.status_code == 200
        listing = ok(boss("token", "list")).stdout
        assert "jenkins" in listing and secret not in listing
        assert "berth refused (403" in ok(berth("token", "list"), 2).stderr  # ops is not admin
        ok(boss("token", "revoke", "jenkins"))
        assert (
            requests.get(
                f"{berth.url}/api/v1/clusters",
                headers={"Authorization": f"Bearer {secret}"},
                timeout=5,
            ).status_code
            == 401
        )
        rows = json.loads(ok(boss("token", "list", "-o", "json")).stdout)
        assert next(r for r in rows if r["name"] == "jenkins")["revoked_at"]
        assert ok(boss("token", "revoke", "jenkins"), 2)
