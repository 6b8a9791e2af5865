"""BERTH_* numbers: unset or empty is the default; a value that is no number stops the
start naming the variable."""

from __future__ import annotations

import pytest

from app import Config


def test_numbers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTH_FIT_BUDGET_SECONDS", "0.5")
    monkeypatch.setenv("BERTH_PLAN_BUDGET_SECONDS", "")
    monkeypatch.setenv("BERTH_PORT_QUARANTINE_SECONDS", "30")
    config = Config()
    assert config.FIT_BUDGET_SECONDS == 0.5
    assert config.PLAN_BUDGET_SECONDS == 5.0  # empty: the default
    assert config.PORT_QUARANTINE_SECONDS == 30


@pytest.mark.parametrize(
    "name, value, says",
    [
        ("BERTH_USAGE_INTERVAL_SECONDS", "a minute", "must be a number"),
        ("BERTH_PORT_QUARANTINE_SECONDS", "1.5", "must be a whole number"),
    ],
)
def test_a_number_that_is_none_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name} {says}, not '{value}'"):
        Config()
