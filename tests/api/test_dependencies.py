"""The call graph through the API: cycles refused by name, impact, deploy order."""

from __future__ import annotations

from typing import Any

from tests import factories as f


def _calls(api: Any, name: str, calls: list[Any]) -> Any:
    return api.patch(f"/api/v1/services/{name}", json={"calls": calls})


def test_a_call_closing_a_cycle_is_409_naming_it_and_changes_nothing(ops: Any) -> None:
    for name in ("storefront", "cart", "pricing"):
        f.service(ops, name, ["http"])
    assert _calls(ops, "storefront", ["cart"]).status_code == 200
    assert _calls(ops, "cart", ["pricing"]).status_code == 200

    refused = _calls(ops, "pricing", [{"service": "storefront", "fan_out": 2}])
    assert refused.status_code == 409
    assert refused.content_type == "application/problem+json"
    body = refused.get_json()
    assert "pricing → storefront → cart → pricing" in body["detail"]
    assert body["cycle"] == ["pricing", "storefront", "cart", "pricing"]
    assert ops.get("/api/v1/services/pricing").get_json()["calls"] == []

    allowed = _calls(ops, "pricing", [{"service": "storefront", "allow_cycle": True}])
    assert allowed.status_code == 200, allowed.get_json()
    assert allowed.get_json()["calls"] == [
        {"service": "storefront", "fan_out": 1.0, "allow_cycle": True}
    ]
    # the allowed edge does not order deploys: callees first
    order = ops.get("/api/v1/deploy-order").get_json()
    assert order["generations"] == [["pricing"], ["cart"], ["storefront"]]


def test_a_new_service_calling_into_a_cycle_is_fine_but_not_closing_one(ops: Any) -> None:
    f.service(ops, "a", ["http"])
    f.service(ops, "b", ["http"], calls=["a"])
    refused = _calls(ops, "a", ["b"])
    assert refused.status_code == 409 and "a → b → a" in refused.get_json()["detail"]


def test_impact_upstream_and_downstream_with_depth(ops: Any, viewer: Any) -> None:
    f.service(ops, "db-proxy", ["http"])
    f.service(ops, "pricing", ["http"], calls=["db-proxy"])
    f.service(ops, "cart", ["http"], calls=["pricing"])
    f.service(ops, "storefront", ["http"], calls=["cart", "pricing"])
    f.service(ops, "lonely", ["http"])

    got = viewer.get("/api/v1/services/pricing/impact")
    assert got.status_code == 200
    assert got.get_json() == {
        "service": "pricing",
        "upstream": [{"service": "cart", "depth": 1}, {"service": "storefront", "depth": 1}],
        "downstream": [{"service": "db-proxy", "depth": 1}],
    }
    down = viewer.get("/api/v1/services/storefront/impact").get_json()["downstream"]
    assert down == [
        {"service": "cart", "depth": 1},
        {"service": "pricing", "depth": 1},
        {"service": "db-proxy", "depth": 2},
    ]
    assert viewer.get("/api/v1/services/nobody/impact").status_code == 404


def test_deploy_order_of_one_environment(admin: Any, ops: Any, viewer: Any) -> None:
    f.cluster(admin)
    f.environment(admin, "production")
    f.service(ops, "db-proxy", ["http"])
    f.service(ops, "pricing", ["http"], calls=["db-proxy"])
    f.service(ops, "storefront", ["http"], calls=["pricing"])
    f.service(ops, "batch", ["http"])
    for name in ("storefront", "db-proxy", "batch"):
        assert f.allocate(ops, "production", name).status_code == 201

    everything = viewer.get("/api/v1/deploy-order").get_json()
    assert everything["generations"] == [["batch", "db-proxy"], ["pricing"], ["storefront"]]
    mine = viewer.get("/api/v1/deploy-order?environment=production").get_json()
    # pricing is not allocated there, yet storefront still comes after db-proxy
    assert mine == {
        "environment": "production",
        "generations": [["batch", "db-proxy"], ["storefront"]],
    }
    assert viewer.get("/api/v1/deploy-order?environment=nowhere").status_code == 404
    assert viewer.get("/api/v1/deploy-order?env=production").status_code == 422
