"""berth's own Marathon app definition: berth deployed by the Marathon it serves.

What it needs from Marathon is what every replica needs: one host port (`$PORT0`, which the
container's start script hands to gunicorn), a health check on /readyz (the database
answers and its migrations are at head), and its configuration from the environment.
Secrets (the database URL with its password, the session key, the metrics token) are
Marathon secret references (`{"secret": …}` in `env`, declared under `secrets` with the
secret store's path), so that no password is written into the definition or the ledger;
plain settings are plain env values. Replicas go on different agents (hostname UNIQUE).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# env name -> (secret name in the definition, default path in the secret store)
SECRETS: dict[str, tuple[str, str]] = {
    "BERTH_DATABASE_URL": ("berth-database-url", "berth/database-url"),
    "BERTH_SECRET_KEY": ("berth-secret-key", "berth/secret-key"),
    "BERTH_METRICS_TOKEN": ("berth-metrics-token", "berth/metrics-token"),
}
PLAIN_ENV: dict[str, str] = {
    "BERTH_LOG_FORMAT": "json",
    "BERTH_LOG_LEVEL": "INFO",
    "BERTH_SECURE_COOKIES": "on",
    "WEB_CONCURRENCY": "2",
}


def berth_app_definition(
    image: str,
    *,
    app_id: str = "/berth",
    instances: int = 2,
    cpus: float = 1.0,
    mem: int = 1024,
    secret_prefix: str = "berth",
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The app definition to PUT to Marathon for berth itself (plain dicts, fixed order).

    `secret_prefix` is the folder of the secret store holding berth's secrets; `env`
    adds or overrides plain settings (BERTH_FIT_BUDGET_SECONDS, …).
    """
    values: dict[str, Any] = dict(PLAIN_ENV)
    secrets: dict[str, dict[str, str]] = {}
    for variable, (name, path) in SECRETS.items():
        values[variable] = {"secret": name}
        secrets[name] = {"source": f"{secret_prefix.strip('/')}/{path.split('/', 1)[1]}"}
    values.update(env or {})
    return {
        "id": app_id,
        "cpus": cpus,
        "mem": mem,
        "disk": 0,
        "instances": instances,
        "container": {
            "type": "DOCKER",
            "docker": {"image": image, "forcePullImage": False},
        },
        "networks": [{"mode": "host"}],
        # one port, any free one of the agent's ranges: Marathon sets $PORT0 to it
        "portDefinitions": [{"port": 0, "name": "http", "protocol": "tcp"}],
        "requirePorts": False,
        "env": values,
        "secrets": secrets,
        "healthChecks": [
            {
                "protocol": "MESOS_HTTP",
                "path": "/readyz",
                "portIndex": 0,
                # migrations and the first database connection happen in the grace period
                "gracePeriodSeconds": 120,
                "intervalSeconds": 10,
                "timeoutSeconds": 5,
                # a minute of database trouble before Marathon replaces a replica
                "maxConsecutiveFailures": 6,
            }
        ],
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5},
        "constraints": [["hostname", "UNIQUE"]],
        "labels": {"BERTH_SERVICE": "berth", "BERTH_RUNTIME": "python"},
    }
