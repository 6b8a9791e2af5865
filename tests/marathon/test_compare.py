"""marathon/compare: both sides read alike, so Marathon's defaults are no difference."""

from __future__ import annotations

import pytest

from marathon.compare import LEDGER_FIELDS, RELEASE_FIELDS, differences, image_repository

FIELDS = (*LEDGER_FIELDS, *RELEASE_FIELDS)


def rendered() -> dict:
    return {
        "id": "/prod/order-service",
        "cpus": 0.5,
        "mem": 1024,
        "instances": 2,
        "container": {"type": "DOCKER", "docker": {"image": "registry.local/shop/o:1"}},
        "env": {"DB_PASSWORD": "a", "JAVA_OPTS": "-Xmx768m"},
        "networks": [{"mode": "host"}],
        "portDefinitions": [{"port": 31000, "name": "http", "protocol": "tcp"}],
        "requirePorts": True,
        "healthChecks": [{"protocol": "HTTP", "path": "/health", "portIndex": 0}],
    }


def as_marathon_shows_it() -> dict:
    """The same app with the defaults and extras Marathon 1.5 adds."""
    app = rendered()
    app.update({"mem": 1024.0, "disk": 0, "gpus": 0, "executor": "", "version": "2026"})
    app["container"]["docker"].update({"forcePullImage": False, "privileged": False})
    app["portDefinitions"][0]["labels"] = {}
    app["upgradeStrategy"] = {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}
    app["healthChecks"][0].update(
        {
            "gracePeriodSeconds": 300,
            "intervalSeconds": 60,
            "timeoutSeconds": 20,
            "maxConsecutiveFailures": 3,
            "delaySeconds": 15,
            "ipProtocol": "IPv4",
        }
    )
    return app


def test_defaults_filled_in_by_marathon_are_no_drift() -> None:
    assert differences(rendered(), as_marathon_shows_it(), FIELDS) == []


def test_each_changed_field_is_named_and_secrets_stay_hidden() -> None:
    running = as_marathon_shows_it()
    running["env"] = {"DB_PASSWORD": "b", "JAVA_OPTS": "-Xmx768m", "EXTRA": "1"}
    running["healthChecks"][0]["portIndex"] = 1
    running["portDefinitions"] = [{"port": 31005, "name": "http"}, {"port": 31006}]
    found = {d.field: (d.ledger, d.running) for d in differences(rendered(), running, FIELDS)}
    assert found == {
        "env.DB_PASSWORD": ("(hidden)", "(hidden)"),
        "env.EXTRA": (None, "1"),
        "health_checks[0].port_index": (0, 1),
        "ports.http": (31000, 31005),
        "ports.port1": (None, 31006),
    }
    assert differences(rendered(), running, ("cpus", "mem")) == []


@pytest.mark.parametrize(
    "image, repository",
    [
        ("registry.local/shop/order-service:1.2", "registry.local/shop/order-service"),
        ("localhost:5000/shop/order-service", "localhost:5000/shop/order-service"),
        ("localhost:5000/shop/o:2@sha256:" + "a" * 64, "localhost:5000/shop/o"),
        ("busybox", "busybox"),
        (None, None),
    ],
)
def test_image_repository_drops_tag_and_digest(image: str | None, repository: str | None) -> None:
    assert image_repository(image) == repository
