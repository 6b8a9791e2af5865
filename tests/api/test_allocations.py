"""Allocations: create or update, dry run, ETags, listing, deletion, audit."""

from __future__ import annotations

from typing import Any

from tests import factories as f


def test_put_creates_then_updates_with_versions(ops: Any, admin: Any) -> None:
    f.world(admin)
    created = f.allocate(ops, instances=2, network="bridge", constraints=[["hostname", "UNIQUE"]])
    assert created.status_code == 201
    body = created.get_json()
    assert body["version"] == 1 and body["instances"] == 2 and body["network"] == "bridge"
    assert body["cluster"] == "east"
    assert body["upgrade_strategy"] == {
        "minimum_health_capacity": 1.0,
        "maximum_over_capacity": 1.0,
    }
    assert created.headers["Location"].endswith(
        "/environments/production/allocations/order-service"
    )
    updated = f.allocate(ops, instances=4)
    assert updated.status_code == 200
    assert updated.get_json()["version"] == 2 and updated.get_json()["instances"] == 4
    same = f.allocate(ops, instances=4)
    assert same.status_code == 200 and same.get_json()["version"] == 2  # nothing changed


def test_dry_run_answers_without_saving(ops: Any, admin: Any) -> None:
    f.world(admin)
    response = ops.put(
        f.allocation_url("production", "order-service") + "?dry_run=true",
        json={"cpus": 1, "mem": 512},
    )
    assert response.status_code == 200
    assert response.headers["X-Berth-Dry-Run"] == "true"
    assert response.get_json()["ports"] == {"http": 31000, "dubbo": 31001}
    assert ops.get(f.allocation_url("production", "order-service")).status_code == 404
    assert ops.get("/api/v1/clusters/east/ports").get_json()["ports"] == []
    assert ops.get("/api/v1/audit?entity_type=allocation").get_json()["total"] == 0


def test_a_stale_if_match_gets_412_and_changes_nothing(ops: Any, admin: Any) -> None:
    f.world(admin)
    f.allocate(ops)
    got = ops.get(f.allocation_url("production", "order-service"))
    tag = got.headers["ETag"]
    assert f.allocate(ops, mem=2048, headers={"If-Match": tag}).status_code == 200
    stale = f.allocate(ops, mem=4096, headers={"If-Match": tag})
    assert stale.status_code == 412
    assert stale.content_type == "application/problem+json"
    now = ops.get(f.allocation_url("production", "order-service"))
    assert now.get_json()["mem"] == 2048
    assert now.headers["ETag"] != tag
    assert (
        ops.delete(
            f.allocation_url("production", "order-service"), headers={"If-Match": tag}
        ).status_code
        == 412
    )


def test_if_match_on_a_missing_allocation_is_412(ops: Any, admin: Any) -> None:
    f.world(admin)
    assert f.allocate(ops, headers={"If-Match": '"whatever"'}).status_code == 412
    assert ops.get(f.allocation_url("production", "order-service")).status_code == 404


def test_list_allocations_of_an_environment(ops: Any, admin: Any, viewer: Any) -> None:
    f.world(admin)
    f.service(admin, "cart-service", ["http"])
    f.allocate(ops, "production")
    f.allocate(ops, "production", "cart-service")
    f.allocate(ops, "test")
    body = viewer.get("/api/v1/environments/production/allocations").get_json()
    assert [a["service"] for a in body] == ["cart-service", "order-service"]


def test_unknown_environment_or_service_is_404(ops: Any, admin: Any) -> None:
    f.world(admin)
    assert f.allocate(ops, "nowhere").status_code == 404
    missing = f.allocate(ops, "production", "ghost-service")
    assert missing.status_code == 404 and "ghost-service" in missing.get_json()["detail"]


def test_unknown_port_name_is_422(ops: Any, admin: Any) -> None:
    f.world(admin)
    response = f.allocate(ops, ports={"grpc": 31500})
    assert response.status_code == 422
    assert "grpc" in response.get_json()["errors"]["ports"]


def test_every_write_is_audited_with_actor_before_and_after(
    ops: Any, admin: Any, viewer: Any
) -> None:
    f.world(admin)
    f.allocate(ops, mem=512, headers={"X-Request-Id": "build-42"})
    f.allocate(ops, mem=1024)
    ops.delete(f.allocation_url("production", "order-service"))
    body = viewer.get("/api/v1/audit?entity=production/order-service").get_json()
    assert body["total"] == 3
    delete, update, create = body["events"]
    assert [create["action"], update["action"], delete["action"]] == ["create", "update", "delete"]
    assert create["actor"] == "test-ops" and create["request_id"] == "build-42"
    assert create["before"] is None and create["after"]["mem"] == 512
    assert update["before"]["mem"] == 512 and update["after"]["mem"] == 1024
    assert delete["after"] is None
    by_admin = viewer.get("/api/v1/audit?actor=test-admin").get_json()
    assert {e["entity_type"] for e in by_admin["events"]} == {"cluster", "environment", "service"}
    future = viewer.get("/api/v1/audit?since=2999-01-01T00:00:00Z").get_json()
    assert future["total"] == 0
    paged = viewer.get("/api/v1/audit?limit=2&offset=1").get_json()
    assert len(paged["events"]) == 2 and paged["total"] == 7


def test_an_etag_does_not_survive_delete_and_recreate(ops: Any, admin: Any) -> None:
    f.world(admin)
    f.allocate(ops)
    tag = ops.get(f.allocation_url("production", "order-service")).headers["ETag"]
    ops.delete(f.allocation_url("production", "order-service"))
    f.allocate(ops, cpus=3)
    stale = f.allocate(ops, cpus=1, headers={"If-Match": tag})
    assert stale.status_code == 412
    assert ops.get(f.allocation_url("production", "order-service")).get_json()["cpus"] == 3


def test_delete_dry_run_keeps_the_allocation(ops: Any, admin: Any) -> None:
    f.world(admin)
    f.allocate(ops)
    url = f.allocation_url("production", "order-service")
    assert ops.delete(url + "?dry_run=true").status_code == 204
    assert ops.get(url).status_code == 200
    assert ops.get("/api/v1/audit?action=delete").get_json()["total"] == 0


def test_an_empty_if_match_is_no_precondition(ops: Any, admin: Any) -> None:
    f.world(admin)
    assert f.allocate(ops, headers={"If-Match": ""}).status_code == 201
