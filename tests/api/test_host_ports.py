"""Host ports: lowest free, requested, stable, shared per cluster, quarantined, exhausted."""

from __future__ import annotations

from typing import Any

from tests import factories as f


def ports_of(api: Any, cluster: str = "east") -> dict[int, dict]:
    body = api.get(f"/api/v1/clusters/{cluster}/ports").get_json()
    return {p["port"]: p for p in body["ports"]}


def test_new_allocation_gets_the_lowest_free_ports_in_port_order(ops: Any, admin: Any) -> None:
    f.world(admin)
    response = f.allocate(ops, "production")
    assert response.status_code == 201
    assert response.get_json()["ports"] == {"http": 31000, "dubbo": 31001}
    f.service(admin, "user-service", ["http"])
    assert f.allocate(ops, "production", "user-service").get_json()["ports"] == {"http": 31002}


def test_environments_on_one_cluster_share_one_port_space(ops: Any, admin: Any) -> None:
    f.world(admin)
    f.allocate(ops, "production")
    test_ports = f.allocate(ops, "test").get_json()["ports"]
    assert test_ports == {"http": 31002, "dubbo": 31003}
    ports = ports_of(ops)
    assert ports[31000]["environment"] == "production"
    assert ports[31002]["environment"] == "test"


def test_clusters_have_separate_port_spaces(ops: Any, admin: Any) -> None:
    f.world(admin)
    f.cluster(admin, "west")
    f.environment(admin, "staging", "west")
    f.allocate(ops, "production")
    assert f.allocate(ops, "staging").get_json()["ports"] == {"http": 31000, "dubbo": 31001}


def test_updating_an_allocation_never_moves_its_ports(ops: Any, admin: Any) -> None:
    f.world(admin)
    f.service(admin, "cart-service", ["http"])
    f.allocate(ops, "production", "cart-service")  # 31000
    first = f.allocate(ops, "production").get_json()["ports"]
    # free a lower port, then update: the allocation must keep what it had
    assert ops.delete(f.allocation_url("production", "cart-service")).status_code == 204
    again = f.allocate(ops, "production", mem=2048, instances=3)
    assert again.status_code == 200
    assert again.get_json()["ports"] == first
    assert again.get_json()["mem"] == 2048


def test_a_requested_port_is_given_and_others_take_the_lowest(ops: Any, admin: Any) -> None:
    f.world(admin)
    response = f.allocate(ops, ports={"dubbo": 31500})
    assert response.status_code == 201
    assert response.get_json()["ports"] == {"http": 31000, "dubbo": 31500}


def test_a_requested_port_held_by_another_allocation_is_refused_naming_the_holder(
    ops: Any, admin: Any
) -> None:
    f.world(admin)
    f.allocate(ops, "production")
    response = f.allocate(ops, "test", ports={"http": 31001})
    assert response.status_code == 409
    body = response.get_json()
    assert response.content_type == "application/problem+json"
    assert "order-service" in body["detail"] and "production" in body["detail"]
    assert body["holder"] == {
        "service": "order-service",
        "environment": "production",
        "port_name": "dubbo",
        "quarantined": False,
    }
    assert f.allocate(ops, "test").status_code == 201  # nothing half-written before


def test_a_requested_port_outside_the_ranges_is_refused(ops: Any, admin: Any) -> None:
    f.world(admin)
    response = f.allocate(ops, ports={"http": 8080})
    assert response.status_code == 409
    assert "31000-31999" in response.get_json()["detail"]


def test_a_failed_request_assigns_no_port_at_all(ops: Any, admin: Any) -> None:
    f.world(admin)
    f.service(admin, "cart-service", ["http"])
    f.allocate(ops, "production", "cart-service", ports={"http": 31005})
    before = ports_of(ops)
    # http would get 31000, but dubbo asks for a taken port: neither may be kept
    response = f.allocate(ops, "production", ports={"dubbo": 31005})
    assert response.status_code == 409
    assert ports_of(ops) == before
    assert ops.get(f.allocation_url("production", "order-service")).status_code == 404


def test_an_exhausted_range_says_so(ops: Any, admin: Any) -> None:
    f.world(admin, ranges=["31000-31002"])
    assert f.allocate(ops, "production").status_code == 201
    response = f.allocate(ops, "test")
    assert response.status_code == 409
    body = response.get_json()
    assert body["type"] == "urn:berth:problem:ports-exhausted"
    assert "no free host port" in body["detail"] and "31000-31002" in body["detail"]


def test_released_ports_wait_out_the_quarantine(ops: Any, admin: Any) -> None:
    f.world(admin)
    f.allocate(ops, "production")
    assert ops.delete(f.allocation_url("production", "order-service")).status_code == 204
    ports = ports_of(ops)
    assert ports[31000]["state"] == "quarantined" and ports[31000]["reusable_at"]
    # another allocation cannot have them while they are in quarantine
    assert f.allocate(ops, "test").get_json()["ports"] == {"http": 31002, "dubbo": 31003}
    refused = f.allocate(ops, "production", ports={"http": 31000})
    # ... but the service that released them may take its own ports back
    assert refused.status_code == 201
    other = f.service(admin, "cart-service", ["http"])
    assert other["name"] == "cart-service"
    taken = f.allocate(ops, "test", "cart-service", ports={"http": 31001})
    assert taken.status_code == 409 and "quarantine" in taken.get_json()["detail"]


def test_ports_return_to_the_pool_after_the_quarantine(app: Any, ops: Any, admin: Any) -> None:
    f.world(admin)
    f.allocate(ops, "production")
    ops.delete(f.allocation_url("production", "order-service"))
    berth = app.extensions["berth"]
    original = berth.settings
    try:
        from dataclasses import replace
        from datetime import timedelta

        berth.settings = replace(original, port_quarantine=timedelta(0))
        assert f.allocate(ops, "test").get_json()["ports"] == {"http": 31000, "dubbo": 31001}
    finally:
        berth.settings = original


def test_a_port_added_to_a_service_is_assigned_in_every_environment(ops: Any, admin: Any) -> None:
    f.world(admin)
    f.allocate(ops, "production")
    f.allocate(ops, "test")
    response = ops.patch(
        "/api/v1/services/order-service",
        json={"ports": [{"name": "http"}, {"name": "dubbo"}, {"name": "metrics"}]},
    )
    assert response.status_code == 200
    prod = ops.get(f.allocation_url("production", "order-service")).get_json()
    test = ops.get(f.allocation_url("test", "order-service")).get_json()
    assert prod["ports"] == {"http": 31000, "dubbo": 31001, "metrics": 31004}
    assert test["ports"] == {"http": 31002, "dubbo": 31003, "metrics": 31005}
    assert prod["version"] == 2


def test_a_port_removed_from_a_service_is_freed_in_every_environment(ops: Any, admin: Any) -> None:
    f.world(admin)
    f.allocate(ops, "production")
    f.allocate(ops, "test")
    assert (
        ops.patch("/api/v1/services/order-service", json={"ports": [{"name": "http"}]}).status_code
        == 200
    )
    assert ops.get(f.allocation_url("production", "order-service")).get_json()["ports"] == {
        "http": 31000
    }
    ports = ports_of(ops)
    assert ports[31001]["state"] == "quarantined"
    assert ports[31003]["state"] == "quarantined"
    assert ports[31002]["state"] == "assigned"


def test_cluster_ranges_cannot_shrink_under_held_ports(ops: Any, admin: Any) -> None:
    f.world(admin)
    f.allocate(ops, "production", ports={"http": 31900})
    response = admin.patch("/api/v1/clusters/east", json={"port_ranges": ["31000-31500"]})
    assert response.status_code == 409
    assert "31900" in response.get_json()["detail"]
    assert (
        admin.patch("/api/v1/clusters/east", json={"port_ranges": ["31000-32999"]}).status_code
        == 200
    )


def test_ranges_may_shrink_once_the_quarantine_is_over(app: Any, ops: Any, admin: Any) -> None:
    from dataclasses import replace
    from datetime import timedelta

    f.world(admin)
    f.allocate(ops, ports={"http": 31900, "dubbo": 31901})
    ops.delete(f.allocation_url("production", "order-service"))
    assert (
        admin.patch("/api/v1/clusters/east", json={"port_ranges": ["31000-31500"]}).status_code
        == 409
    )
    berth = app.extensions["berth"]
    original = berth.settings
    try:
        berth.settings = replace(original, port_quarantine=timedelta(0))
        shrunk = admin.patch("/api/v1/clusters/east", json={"port_ranges": ["31000-31500"]})
        assert shrunk.status_code == 200, shrunk.get_json()
    finally:
        berth.settings = original
