"""The rest of the Marathon surface: filters, embeds, versions, concurrent clients."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from simulator import Simulator
from tests.simulator.conftest import Http, sleeper


def test_ping_is_plain_text_and_unknown_paths_are_json_404(http: Http) -> None:
    pong = http.get("/ping")
    assert (pong.text, pong.headers["Content-Type"].split(";")[0]) == ("pong", "text/plain")
    missing = http.get("/v2/nothing")
    assert missing.status_code == 404 and "message" in missing.json()


def test_the_id_filter_keeps_ids_containing_the_value_as_marathon_does(http: Http) -> None:
    for app_id in ("/prod/cart", "/test/cart", "/other/prod-tools"):
        http.post("/v2/apps", json=sleeper(app_id))
    ids = [a["id"] for a in http.get("/v2/apps", params={"id": "/prod"}).json()["apps"]]
    assert ids == ["/other/prod-tools", "/prod/cart"]
    ids = [a["id"] for a in http.get("/v2/apps", params={"id": "/prod/"}).json()["apps"]]
    assert ids == ["/prod/cart"]
    group = http.get("/v2/apps/prod/*").json()["*"]
    assert [a["id"] for a in group] == ["/prod/cart"]


def test_label_and_cmd_filters(http: Http) -> None:
    http.post("/v2/apps", json=sleeper("/a", labels={"team": "orders"}))
    http.post("/v2/apps", json=sleeper("/b", cmd="java -jar b.jar", labels={"team": "ops"}))
    by_label = http.get("/v2/apps", params={"label": "team==orders"}).json()["apps"]
    assert [a["id"] for a in by_label] == ["/a"]
    by_cmd = http.get("/v2/apps", params={"cmd": "java"}).json()["apps"]
    assert [a["id"] for a in by_cmd] == ["/b"]


def test_embeds_add_tasks_and_readiness_and_counts_are_always_there(http: Http) -> None:
    http.post("/v2/apps", json=sleeper("/a", instances=2))
    plain = http.get("/v2/apps").json()["apps"][0]
    assert "tasks" not in plain and plain["tasksRunning"] == 2 and plain["deployments"] == []
    params = [("embed", "apps.tasks"), ("embed", "apps.readiness")]
    embedded = http.get("/v2/apps", params=params).json()["apps"][0]
    assert len(embedded["tasks"]) == 2 and embedded["readinessCheckResults"] == []


def test_versions_are_listed_newest_first(http: Http) -> None:
    first = http.put("/v2/apps/a", json=sleeper("/a")).json()["version"]
    second = http.put("/v2/apps/a", json={"instances": 2}).json()["version"]
    assert http.get("/v2/apps/a/versions").json() == {"versions": [second, first]}
    assert http.get("/v2/apps/nope/versions").status_code == 404


def test_concurrent_clients_never_double_book_an_agent(sim: Simulator, http: Http) -> None:
    def deploy(index: int) -> int:
        app = sleeper(
            f"/load/app-{index}",
            instances=3,
            cpus=0.4,
            portDefinitions=[{"port": 31100 + index % 5}],
            requirePorts=True,
        )
        return http.post("/v2/apps", json=app).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(deploy, range(20))) == {201}
    tasks = http.get("/v2/tasks").json()["tasks"]
    per_agent_port = Counter((t["slaveId"], t["ports"][0]) for t in tasks)
    assert max(per_agent_port.values()) == 1
    agents = http.get("/master/slaves").json()["slaves"]
    used = sum(a["used_resources"]["cpus"] for a in agents)
    assert round(used, 3) == round(len(tasks) * 0.5, 3)
    for agent in agents:
        assert agent["used_resources"]["cpus"] <= agent["unreserved_resources"]["cpus"]
