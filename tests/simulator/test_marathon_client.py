"""Marathon as a client library sees it: the requests marathon-python 0.13 sends.

That library appends absolute ids to `/v2/apps/` (`/v2/apps//lib/x`), sends its
JSON as a string with `Content-Type: application/json` and its flags as Python
booleans (`?force=False`), and uses restart, task killing and the group API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from simulator import ServerHandle, Simulator, serve
from simulator.__main__ import parse_args
from simulator.errors import LOCKED
from tests.simulator.conftest import TIMEOUT, Clock, Http, reference, sleeper
from tests.simulator.test_fidelity import TASK_ABSENT, mismatches

SAME_ID = "Groups and Applications may not have the same identifier."
DEPLOY_SECONDS = 60


class Library:
    """Requests shaped like marathon-python's `MarathonClient._do_request`."""

    HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def __call__(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> requests.Response:
        data = json.dumps(body) if body is not None else None
        return self.session.request(
            method,
            self.base_url + path,
            params=params,
            data=data,
            headers=self.HEADERS,
            timeout=TIMEOUT,
        )


@pytest.fixture
def lib(server: ServerHandle) -> Library:
    return Library(server.url)


@pytest.fixture
def slow(clock: Clock) -> Iterator[tuple[Simulator, Library]]:
    sim = Simulator(agents=4, seed=2, deploy_seconds=DEPLOY_SECONDS, now=clock)
    with serve(sim) as server:
        yield sim, Library(server.url)


def task_ids(lib: Library, app_id: str) -> set[str]:
    return {t["id"] for t in lib("GET", f"/v2/apps/{app_id}/tasks").json()["tasks"]}


def instances(lib: Library, app_id: str) -> int:
    return lib("GET", f"/v2/apps/{app_id}").json()["app"]["instances"]


def deployment_result(response: requests.Response) -> bool:
    body = response.json()
    return (
        response.status_code == 200
        and set(body) == {"deploymentId", "version"}
        and response.headers["Marathon-Deployment-Id"] == body["deploymentId"]
    )


# --- 1. ids in paths: empty segments vanish -------------------------------------------------


def test_doubled_and_trailing_slashes_name_the_same_app(lib: Library) -> None:
    assert lib("POST", "/v2/apps", body=sleeper("/lib/x", instances=2)).status_code == 201
    for path in ("/v2/apps//lib/x", "/v2/apps/lib/x", "/v2/apps/lib/x/", "/v2/apps//lib//x/"):
        response = lib("GET", path, params={"embed": ["app.tasks"]})
        assert response.status_code == 200, path
        assert response.json()["app"]["id"] == "/lib/x"
    assert len(task_ids(lib, "/lib/x")) == 2  # /v2/apps//lib/x/tasks
    assert lib("GET", "/v2/apps//lib/x/tasks/").status_code == 200
    versions = lib("GET", "/v2/apps//lib/x/versions").json()["versions"]
    assert len(versions) == 1
    put = lib("PUT", "/v2/apps//lib/x", params={"force": False}, body={"instances": 3})
    assert deployment_result(put)
    assert instances(lib, "/lib/x") == 3
    assert deployment_result(lib("POST", "/v2/apps//lib/x/restart", params={"force": False}))
    assert deployment_result(lib("DELETE", "/v2/apps//lib/x/", params={"force": False}))
    assert lib("GET", "/v2/apps//lib/x").status_code == 404


def test_merging_slashes_leaves_the_mesos_redirect_alone(
    sim: Simulator, server: ServerHandle
) -> None:
    with serve(sim, leader=server) as follower:
        response = Http(follower.url).get("/master/redirect", allow_redirects=False)
        assert response.headers["Location"] == f"//{server.address}"
        assert Http(follower.url).get("//v2//info").json()["elected"] is False


def test_the_sub_resource_wins_over_an_app_id_ending_in_its_name(lib: Library) -> None:
    lib("POST", "/v2/apps", body=sleeper("/lib/sleeper", instances=2))
    lib("POST", "/v2/apps", body=sleeper("/lib/tasks"))  # a legal app id
    # DELETE …/tasks kills the tasks of /lib/sleeper; it does not delete an app
    killed = lib("DELETE", "/v2/apps//lib/sleeper/tasks", params={"scale": False})
    assert killed.status_code == 200 and len(killed.json()["tasks"]) == 2
    assert instances(lib, "/lib/sleeper") == 2
    # /v2/apps/lib/tasks are the tasks of an app /lib, which does not exist
    missing = lib("GET", "/v2/apps/lib/tasks")
    assert (missing.status_code, missing.json()) == (404, {"message": "App '/lib' does not exist"})
    # …so the app /lib/tasks is out of reach by path except through the listing
    assert lib("PUT", "/v2/apps/lib/tasks", body={"instances": 2}).status_code == 405
    assert "/lib/tasks" in [a["id"] for a in lib("GET", "/v2/apps").json()["apps"]]
    not_allowed = lib("GET", "/v2/apps/lib/sleeper/restart")
    assert not_allowed.status_code == 405 and "POST" in not_allowed.headers["Allow"]
    # versions of an app whose id ends in tasks
    assert lib("GET", "/v2/apps/lib/tasks/versions").status_code == 200


# --- 2. restart, killing tasks, versions ---------------------------------------------------


def test_restart_replaces_every_task_in_a_new_version(lib: Library) -> None:
    lib("POST", "/v2/apps", body=sleeper("/lib/x", instances=3))
    before = task_ids(lib, "/lib/x")
    restarted = lib("POST", "/v2/apps//lib/x/restart", params={"force": False})
    assert deployment_result(restarted)
    after = lib("GET", "/v2/apps//lib/x").json()["app"]
    assert after["version"] == restarted.json()["version"]
    assert after["versionInfo"]["lastConfigChangeAt"] == after["version"]
    assert len(after["tasks"]) == 3 and not before & {t["id"] for t in after["tasks"]}
    assert all(t["version"] == after["version"] for t in after["tasks"])
    missing = lib("POST", "/v2/apps//nope/restart")
    assert missing.status_code == 404
    assert missing.json() == {"message": "App '/nope' does not exist"}


def test_restart_is_a_deployment_that_locks_and_can_be_forced(
    slow: tuple[Simulator, Library], clock: Clock
) -> None:
    sim, lib = slow
    lib("POST", "/v2/apps", body=sleeper("/lib/x", instances=2))
    clock.advance(DEPLOY_SECONDS)
    old = task_ids(lib, "/lib/x")
    first = lib("POST", "/v2/apps//lib/x/restart").json()["deploymentId"]
    # the rolling restart starts new tasks next to the old ones until the deploy is done
    assert len(task_ids(lib, "/lib/x")) == 4
    locked = lib("POST", "/v2/apps//lib/x/restart", params={"force": False})
    assert locked.status_code == 409
    assert locked.json() == {"message": LOCKED, "deployments": [{"id": first}]}
    forced = lib("POST", "/v2/apps//lib/x/restart", params={"force": True})
    assert deployment_result(forced)
    clock.advance(DEPLOY_SECONDS)
    assert lib("GET", "/v2/deployments").json() == []
    assert len(task_ids(lib, "/lib/x")) == 2 and not old & task_ids(lib, "/lib/x")


def test_killing_tasks_without_scale_restarts_them(lib: Library) -> None:
    lib("POST", "/v2/apps", body=sleeper("/lib/x", instances=3))
    before = task_ids(lib, "/lib/x")
    killed = lib("DELETE", "/v2/apps//lib/x/tasks", params={"scale": False, "wipe": False})
    assert killed.status_code == 200
    body = killed.json()
    assert {t["id"] for t in body["tasks"]} == before
    assert (
        mismatches(reference("marathon/raml/v2/examples/app_tasks.json"), body, absent=TASK_ABSENT)
        == []
    )
    after = task_ids(lib, "/lib/x")
    assert len(after) == 3 and not before & after
    assert instances(lib, "/lib/x") == 3
    assert lib("GET", "/v2/deployments").json() == []  # no deployment without scale


def test_killing_tasks_of_one_host(lib: Library) -> None:
    lib(
        "POST",
        "/v2/apps",
        body=sleeper("/lib/x", instances=4, constraints=[["hostname", "UNIQUE"]]),
    )
    tasks = lib("GET", "/v2/apps//lib/x/tasks").json()["tasks"]
    host = tasks[0]["host"]
    killed = lib("DELETE", "/v2/apps//lib/x/tasks", params={"host": host, "scale": True})
    assert deployment_result(killed)
    assert instances(lib, "/lib/x") == 3
    left = lib("GET", "/v2/apps//lib/x/tasks").json()["tasks"]
    assert sorted(t["id"] for t in left) == sorted(t["id"] for t in tasks if t["host"] != host)
    nobody = lib("DELETE", "/v2/apps//lib/x/tasks", params={"host": "elsewhere"})
    assert nobody.json() == {"tasks": []}
    both = lib("DELETE", "/v2/apps//lib/x/tasks", params={"scale": True, "wipe": True})
    assert both.status_code == 400
    assert both.json() == {"message": "You cannot use scale and wipe at the same time."}
    assert lib("DELETE", "/v2/apps//nope/tasks").status_code == 404


def test_killing_one_task(lib: Library) -> None:
    lib("POST", "/v2/apps", body=sleeper("/lib/x", instances=3))
    first, second, _ = sorted(task_ids(lib, "/lib/x"))
    killed = lib("DELETE", f"/v2/apps//lib/x/tasks/{first}", params={"scale": False})
    assert killed.status_code == 200
    assert killed.json()["task"]["id"] == first and killed.json()["task"]["appId"] == "/lib/x"
    assert (
        mismatches(
            reference("marathon/raml/v2/examples/app_task.json"),
            killed.json(),
            absent={"/task/region", "/task/zone"},
        )
        == []
    )
    assert first not in task_ids(lib, "/lib/x") and len(task_ids(lib, "/lib/x")) == 3
    scaled = lib("DELETE", f"/v2/apps//lib/x/tasks/{second}", params={"scale": True})
    assert deployment_result(scaled)
    assert instances(lib, "/lib/x") == 2 and second not in task_ids(lib, "/lib/x")
    gone = lib("DELETE", f"/v2/apps//lib/x/tasks/{first}")
    assert (gone.status_code, gone.json()) == (404, {"message": f"Task '{first}' does not exist"})


def test_killing_given_tasks_across_apps(lib: Library) -> None:
    lib("POST", "/v2/apps", body=sleeper("/a", instances=2))
    lib("POST", "/v2/apps", body=sleeper("/b/c", instances=2))
    a, b = sorted(task_ids(lib, "/a"))[0], sorted(task_ids(lib, "/b/c"))[0]
    killed = lib("POST", "/v2/tasks/delete", params={"scale": False}, body={"ids": [a, b]})
    assert killed.status_code == 200
    assert {t["id"] for t in killed.json()["tasks"]} == {a, b}
    assert len(task_ids(lib, "/a")) == len(task_ids(lib, "/b/c")) == 2  # replaced
    a, b = sorted(task_ids(lib, "/a"))[0], sorted(task_ids(lib, "/b/c"))[0]
    gone = "a.00000000-0000-4000-8000-000000000000"  # well formed, long gone: passed over
    scaled = lib("POST", "/v2/tasks/delete", params={"scale": True}, body={"ids": [a, b, gone]})
    assert deployment_result(scaled)
    assert instances(lib, "/a") == instances(lib, "/b/c") == 1
    assert a not in task_ids(lib, "/a") and b not in task_ids(lib, "/b/c")
    invalid = lib("POST", "/v2/tasks/delete", body={"ids": ["garbage"]})
    assert (invalid.status_code, invalid.json()) == (400, {"message": "Invalid task id 'garbage'."})
    assert lib("POST", "/v2/tasks/delete", body={"id": [a]}).status_code == 400


def test_killing_with_scale_is_a_deployment_that_respects_locks(
    slow: tuple[Simulator, Library],
) -> None:
    sim, lib = slow
    lib("POST", "/v2/apps", body=sleeper("/lib/x", instances=2))  # deploying
    task = sorted(task_ids(lib, "/lib/x"))[0]
    locked = lib("DELETE", f"/v2/apps//lib/x/tasks/{task}", params={"scale": True})
    assert locked.status_code == 409
    locked = lib("POST", "/v2/tasks/delete", params={"scale": True}, body={"ids": [task]})
    assert locked.status_code == 409
    assert task in task_ids(lib, "/lib/x")
    # killing without scale is no deployment: Marathon does it during one
    assert lib("DELETE", f"/v2/apps//lib/x/tasks/{task}").status_code == 200
    forced = lib(
        "POST",
        "/v2/tasks/delete",
        params={"scale": True, "force": True},
        body={"ids": sorted(task_ids(lib, "/lib/x"))[:1]},
    )
    assert deployment_result(forced) and instances(lib, "/lib/x") == 1


def test_an_old_version_of_an_app(lib: Library) -> None:
    first = lib("PUT", "/v2/apps//lib/x", body=sleeper("/lib/x")).json()["version"]
    lib("PUT", "/v2/apps//lib/x", body={"instances": 2, "cmd": "sleep 5"})
    versions = lib("GET", "/v2/apps//lib/x/versions").json()["versions"]
    assert len(versions) == 2 and versions[-1] == first
    old = lib("GET", f"/v2/apps//lib/x/versions/{first}")
    assert old.status_code == 200
    body = old.json()
    assert (body["id"], body["instances"], body["cmd"], body["version"]) == (
        "/lib/x",
        1,
        "sleep 1000",
        first,
    )
    missing = lib("GET", "/v2/apps//lib/x/versions/2001-01-01T00:00:00.000Z")
    assert missing.status_code == 404
    assert missing.json() == {
        "message": "App '/lib/x' does not exist in version 2001-01-01T00:00:00.000Z"
    }


# --- 2. groups -------------------------------------------------------------------------------


def test_the_root_group_is_a_tree_of_groups_and_apps(lib: Library) -> None:
    lib("POST", "/v2/apps", body=sleeper("/top"))
    lib("POST", "/v2/apps", body=sleeper("/tools/oauth-server"))
    lib("POST", "/v2/apps", body=sleeper("/tools/docker/registry"))
    root = lib("GET", "/v2/groups").json()
    assert set(root) == {"id", "apps", "groups", "pods", "dependencies", "version"}
    assert root["id"] == "/" and [a["id"] for a in root["apps"]] == ["/top"]
    tools = root["groups"][0]
    assert tools["id"] == "/tools" and [a["id"] for a in tools["apps"]] == ["/tools/oauth-server"]
    assert [g["id"] for g in tools["groups"]] == ["/tools/docker"]
    assert "tasks" not in tools["apps"][0] and "version" in tools["apps"][0]
    # the reference group's apps are in the pre-1.5 syntax: only their type is compared
    ref = reference("marathon/raml/v2/examples/group.json")
    opaque = {"/apps", "/groups[]/apps", "/groups[]/groups[]/apps"}
    assert mismatches(ref, root, opaque=opaque) == []
    one = lib("GET", "/v2/groups//tools/docker/").json()
    assert one["id"] == "/tools/docker" and one["apps"][0]["id"] == "/tools/docker/registry"
    embedded = lib("GET", "/v2/groups/tools", params={"embed": ["group.apps", "group.apps.tasks"]})
    assert "groups" not in embedded.json() and len(embedded.json()["apps"][0]["tasks"]) == 1
    missing = lib("GET", "/v2/groups//nope")
    assert (missing.status_code, missing.json()) == (
        404,
        {"message": "Group '/nope' does not exist"},
    )
    assert root["version"] in lib("GET", "/v2/groups/versions").json()


def test_creating_a_group_that_exists_is_a_conflict(lib: Library) -> None:
    created = lib("POST", "/v2/groups", body={"id": "/web", "apps": [sleeper("front")]})
    assert created.status_code == 201 and instances(lib, "/web/front") == 1
    again = lib("POST", "/v2/groups", body={"id": "/web"})
    assert again.status_code == 409
    assert again.json() == {
        "message": "Group /web is already created. Use PUT to change this group."
    }
    root = lib("POST", "/v2/groups", body={"id": "/"})
    assert root.json() == {"message": "Group / is already created. Use PUT to change this group."}
    app = lib("POST", "/v2/groups", body={"id": "/web/front"})
    assert (app.status_code, app.json()) == (
        409,
        {"message": "An app with the path /web/front already exists."},
    )
    outside = lib("POST", "/v2/groups", body={"id": "/shop", "apps": [sleeper("/elsewhere")]})
    assert outside.status_code == 422
    assert outside.json()["details"] == [
        {
            "path": "/apps(0)/id",
            "errors": ["identifier /elsewhere is not child of /shop. Hint: use relative paths."],
        }
    ]


def test_a_group_can_be_scaled(lib: Library) -> None:
    lib(
        "POST",
        "/v2/groups",
        body={
            "id": "/web",
            "apps": [sleeper("a", instances=2), sleeper("b")],
            "groups": [{"id": "inner", "apps": [sleeper("c", instances=3)]}],
        },
    )
    scaled = lib("PUT", "/v2/groups//web", body={"scaleBy": 1.5})
    assert deployment_result(scaled)
    assert [instances(lib, a) for a in ("/web/a", "/web/b", "/web/inner/c")] == [3, 2, 5]
    assert len(task_ids(lib, "/web/inner/c")) == 5
    bad = lib("PUT", "/v2/groups//web", body={"scaleBy": -1})
    assert bad.status_code == 422


def test_a_group_update_replaces_what_it_names_and_keeps_the_rest(lib: Library) -> None:
    lib(
        "POST",
        "/v2/groups",
        body={
            "id": "/web",
            "apps": [sleeper("a"), sleeper("b")],
            "groups": [{"id": "inner", "apps": [sleeper("c")]}],
        },
    )
    group = lib("GET", "/v2/groups//web").json()
    untouched = {a["id"]: a["version"] for a in group["apps"]}
    # the group as read back (with its `"pods": []`), one app changed
    group["apps"][0]["instances"] = 3
    group.pop("version")
    updated = lib("PUT", "/v2/groups//web", params={"force": False}, body=group)
    assert deployment_result(updated)
    assert instances(lib, "/web/a") == 3
    assert (
        lib("GET", "/v2/apps//web/b").json()["app"]["version"] == untouched["/web/b"]
    )  # unchanged
    # `apps` names the apps of the group: those left out are stopped; `groups` left out stay
    lib("PUT", "/v2/groups//web", body={"apps": [sleeper("a", instances=3)]})
    assert [a["id"] for a in lib("GET", "/v2/apps").json()["apps"]] == ["/web/a", "/web/inner/c"]
    # a PUT of a group that is not there creates it
    created = lib("PUT", "/v2/groups/fresh", body={"apps": [sleeper("d")]})
    assert deployment_result(created) and instances(lib, "/fresh/d") == 1


def test_deleting_a_group_stops_its_apps(slow: tuple[Simulator, Library], clock: Clock) -> None:
    sim, lib = slow
    lib(
        "POST",
        "/v2/groups",
        body={
            "id": "/web",
            "apps": [sleeper("a")],
            "groups": [{"id": "inner", "apps": [sleeper("c")]}],
        },
    )
    lib("POST", "/v2/apps", body=sleeper("/webshop"))  # shares a prefix, not the group
    locked = lib("DELETE", "/v2/groups//web", params={"force": False})
    assert locked.status_code == 409 and locked.json()["message"] == LOCKED
    deleted = lib("DELETE", "/v2/groups//web", params={"force": True})
    assert deployment_result(deleted)
    assert [a["id"] for a in lib("GET", "/v2/apps").json()["apps"]] == ["/webshop"]
    assert lib("GET", "/v2/groups/web").status_code == 404
    assert lib("GET", "/v2/groups/web/inner").status_code == 404
    assert sim.tasks and all(t.app_id == "/webshop" for t in sim.tasks.values())
    assert lib("DELETE", "/v2/groups//web").status_code == 404


# --- 3. an id is either an app or a group -----------------------------------------------


def test_an_app_cannot_lie_below_an_app_nor_be_a_group(lib: Library) -> None:
    lib("POST", "/v2/apps", body=sleeper("/x/app"))
    for app_id in ("/x/app/sub", "/x"):  # below an app; the group of an app
        for method, path in (("POST", "/v2/apps"), ("PUT", f"/v2/apps/{app_id}")):
            response = lib(method, path, body=sleeper(app_id))
            assert response.status_code == 422, (method, app_id)
            assert response.json() == {
                "message": "Object is not valid",
                "details": [{"path": "/", "errors": [SAME_ID]}],
            }
    grouped = lib(
        "POST", "/v2/groups", body={"id": "/y", "apps": [sleeper("a")], "groups": [{"id": "a"}]}
    )
    assert grouped.status_code == 422 and grouped.json()["details"][0]["errors"] == [SAME_ID]
    below = lib("POST", "/v2/groups", body={"id": "/x/app/more", "apps": [sleeper("b")]})
    assert below.status_code == 422
    assert [a["id"] for a in lib("GET", "/v2/apps").json()["apps"]] == ["/x/app"]


def test_groups_outlive_their_apps_as_in_marathon(lib: Library) -> None:
    lib("POST", "/v2/apps", body=sleeper("/x/y/app"))
    lib("DELETE", "/v2/apps//x/y/app")
    assert lib("GET", "/v2/groups//x/y").json()["apps"] == []
    assert lib("POST", "/v2/apps", body=sleeper("/x/y")).status_code == 422
    lib("DELETE", "/v2/groups//x/y")
    assert lib("POST", "/v2/apps", body=sleeper("/x/y")).status_code == 201


# --- 4, 5. the command line and seeds ----------------------------------------------------


def test_agent_counts_must_not_be_negative(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--agents", "-1"])
    assert "must not be negative" in capsys.readouterr().err
    assert parse_args(["--agents", "0"]).agents == 0
    with pytest.raises(ValueError):
        Simulator(agents=-1)


def test_one_seed_gives_the_same_ids_and_two_seeds_do_not(clock: Clock) -> None:
    def ids(seed: int) -> tuple[str, list[str]]:
        sim = Simulator(agents=2, seed=seed, now=clock)
        with serve(sim) as server:
            deployment = Library(server.url)("POST", "/v2/apps", body=sleeper("/a"))
        return deployment.headers["Marathon-Deployment-Id"], sorted(sim.tasks)

    assert ids(1) == ids(1)
    assert ids(1)[0] != ids(2)[0] and ids(1)[1] != ids(2)[1]
