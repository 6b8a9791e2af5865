"""GET /v2/events: Marathon's event stream over real HTTP, payloads as in the reference."""

from __future__ import annotations

import re
import threading

import requests

from simulator import ServerHandle, Simulator, serve
from tests.simulator.conftest import Http, sleeper
from tests.simulator.sse import EventStream

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
STATUS_FIELDS = {
    "slaveId", "taskId", "taskStatus", "message", "appId", "host", "ports", "version",
    "eventType", "timestamp",
}  # fmt: skip


def test_a_deploy_streams_attached_post_info_running_and_success_in_order(
    server: ServerHandle, http: Http
) -> None:
    stream = EventStream(server.url + "/v2/events")
    try:
        assert stream.response.headers["Content-Type"].startswith("text/event-stream")
        attached = stream.next()
        assert attached.event == "event_stream_attached"
        assert attached.data["remoteAddress"] == "127.0.0.1"
        assert STAMP.fullmatch(attached.data["timestamp"])
        assert http.post("/v2/apps", json=sleeper("/web", instances=2)).status_code == 201
        frames = stream.until("deployment_success")
    finally:
        stream.close()
    kinds = [f.event for f in frames]
    assert kinds[0] == "api_post_event" and kinds[-1] == "deployment_success"
    assert kinds.index("api_post_event") < kinds.index("deployment_info")
    assert kinds.index("deployment_info") < kinds.index("status_update_event")
    posted = frames[kinds.index("api_post_event")].data
    assert posted["uri"] == "/v2/apps" and posted["appDefinition"]["id"] == "/web"
    assert posted["appDefinition"]["instances"] == 2 and posted["clientIp"] == "127.0.0.1"
    info = frames[kinds.index("deployment_info")].data
    plan = info["plan"]
    assert plan["steps"] == [
        {"actions": [{"action": "StartApplication", "app": "/web"}]},
        {"actions": [{"action": "ScaleApplication", "app": "/web"}]},
    ]
    assert info["currentStep"] == plan["steps"][0]
    assert [a["id"] for a in plan["target"]["apps"]] == ["/web"] and plan["original"]["apps"] == []
    updates = [f.data for f in frames if f.event == "status_update_event"]
    running = [u for u in updates if u["taskStatus"] == "TASK_RUNNING"]
    assert len(running) == 2
    assert [u["taskStatus"] for u in updates] == ["TASK_STAGING", "TASK_RUNNING"] * 2
    tasks = http.get("/v2/apps/web/tasks").json()["tasks"]
    by_id = {t["id"]: t for t in tasks}
    for update in running:
        assert STATUS_FIELDS <= set(update)
        task = by_id[update["taskId"]]
        assert update["slaveId"] == task["slaveId"] and update["host"] == task["host"]
        assert update["ports"] == task["ports"] and update["appId"] == "/web"
        assert update["version"] == task["version"] and STAMP.fullmatch(update["timestamp"])
    success = frames[-1].data
    assert success["id"] == plan["id"] == info["plan"]["id"]
    assert success["eventType"] == "deployment_success"
    assert "deployment_step_success" in kinds


def test_event_type_filters_repeatable(server: ServerHandle, http: Http) -> None:
    stream = EventStream(
        server.url + "/v2/events",
        params=[("event_type", "deployment_success"), ("event_type", "status_update_event")],
    )
    try:
        assert stream.next().event == "event_stream_attached"
        http.post("/v2/apps", json=sleeper("/one"))
        frames = stream.until("deployment_success")
    finally:
        stream.close()
    assert {f.event for f in frames} == {"status_update_event", "deployment_success"}


def test_without_the_accept_header_it_is_405_as_in_marathon(server: ServerHandle) -> None:
    response = requests.get(server.url + "/v2/events", timeout=5)
    assert response.status_code == 405 and "HTTP ERROR: 405" in response.text


def test_keep_alive_comments_and_many_subscribers(sim: Simulator) -> None:
    with serve(sim, event_keepalive=0.2) as server:
        streams = [EventStream(server.url + "/v2/events") for _ in range(6)]
        try:
            for stream in streams:
                assert stream.next().event == "event_stream_attached"
            # other requests are served while six streams hold their connections
            assert Http(server.url).get("/v2/apps").status_code == 200
            for stream in streams:
                assert stream.next(timeout=3, comments=True).comment
            Http(server.url).post("/v2/apps", json=sleeper("/many"))
            for stream in streams:
                assert stream.until("deployment_success")[-1].data["plan"]["steps"]
        finally:
            for stream in streams:
                stream.close()


def test_control_changes_emit_what_marathon_would(server: ServerHandle, http: Http) -> None:
    http.post("/v2/apps", json=sleeper("/svc", instances=1))
    task = http.get("/v2/apps/svc/tasks").json()["tasks"][0]
    stream = EventStream(server.url + "/v2/events", params={"event_type": "status_update_event"})
    try:
        stream.next()
        assert http.post(f"/_sim/tasks/{task['id']}/fail").status_code == 200
        failed, staging, running = stream.next(), stream.next(), stream.next()
        assert failed.data["taskStatus"] == "TASK_FAILED" and failed.data["taskId"] == task["id"]
        assert staging.data["taskStatus"] == "TASK_STAGING"
        assert running.data["taskStatus"] == "TASK_RUNNING"
        replacement = running.data
        assert http.delete(f"/_sim/agents/{replacement['slaveId']}").status_code == 200
        lost = stream.next()
        assert (
            lost.data["taskStatus"] == "TASK_LOST" and lost.data["taskId"] == replacement["taskId"]
        )
        assert stream.next().data["taskStatus"] == "TASK_STAGING"
        assert stream.next().data["taskStatus"] == "TASK_RUNNING"
        assert http.put("/v2/apps/svc", json={"instances": 0}).status_code == 200
        assert stream.next().data["taskStatus"] == "TASK_KILLED"
    finally:
        stream.close()


def test_a_failed_deploy_and_a_stopped_app(sim: Simulator) -> None:
    slow = Simulator(agents=2, seed=5, deploy_seconds=60)
    with serve(slow) as server:
        http = Http(server.url)
        stream = EventStream(server.url + "/v2/events")
        try:
            stream.next()
            http.post("/v2/apps", json=sleeper("/slow"))
            http.put("/v2/apps/slow", json={"cmd": "sleep 2000"})
            deployment = http.get("/v2/deployments").json()[0]["id"]
            assert http.post(f"/_sim/deployments/{deployment}/fail").status_code == 200
            frames = stream.until("deployment_failed")
            assert frames[-1].data["id"] == deployment
            assert frames[-1].data["plan"]["steps"][0]["actions"][0]["app"] == "/slow"
            http.delete("/v2/apps/slow?force=true")
            kinds = [f.event for f in stream.until("app_terminated_event")]
            assert "status_update_event" in kinds
        finally:
            stream.close()


def test_the_dropped_stream_fault_cuts_every_stream_and_reconnecting_works(
    server: ServerHandle, http: Http
) -> None:
    streams = [EventStream(server.url + "/v2/events") for _ in range(3)]
    for stream in streams:
        stream.next()
    assert http.post("/_sim/events/drop").json() == {"dropped": 3}
    for stream in streams:
        assert stream.ended()
        assert stream.error is not None  # cut, not a clean end
        stream.close()
    again = EventStream(server.url + "/v2/events")
    try:
        assert again.next().event == "event_stream_attached"
        http.post("/v2/apps", json=sleeper("/after"))
        assert again.until("deployment_success")
    finally:
        again.close()


def test_shutdown_ends_the_streams(sim: Simulator) -> None:
    server = serve(sim)
    stream = EventStream(server.url + "/v2/events")
    stream.next()
    done = threading.Event()
    threading.Thread(target=lambda: (server.shutdown(), done.set()), daemon=True).start()
    assert done.wait(10)
    assert stream.ended()
    stream.close()
