"""The pages' forms (WTForms), validated on the server; the CSRF token is checked once for
every POST of the blueprint (web/pages.py), so these forms do not carry their own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FloatField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)


class PageForm(FlaskForm):  # type: ignore[misc]
    class Meta:
        csrf = False  # checked for the whole blueprint before any view runs


class LoginForm(PageForm):
    token = PasswordField("API token", validators=[DataRequired(), Length(max=200)])


class ReservationForm(PageForm):
    environment = SelectField("Environment", validate_choice=True)
    count = IntegerField("Slots", validators=[InputRequired(), NumberRange(min=1, max=10000)])
    cpus = FloatField("cpus per slot", validators=[InputRequired(), NumberRange(0.001, 256)])
    mem = IntegerField("mem per slot (MiB)", validators=[InputRequired(), NumberRange(0, 1048576)])
    disk = IntegerField("disk per slot (MiB)", validators=[Optional(), NumberRange(0, 10485760)])
    starts_at = DateTimeLocalField("Starts (UTC)", validators=[InputRequired()])
    ends_at = DateTimeLocalField("Ends (UTC, exclusive)", validators=[InputRequired()])
    reason = StringField("Reason", validators=[DataRequired(), Length(max=1024)])

    def validate_ends_at(self, field: Any) -> None:
        if self.starts_at.data and field.data and field.data <= self.starts_at.data:
            raise ValidationError("must be after the start")

    def as_reservation(self) -> dict[str, Any]:
        """The body the reservations API takes, times in UTC as the labels say."""
        return {
            "environment": self.environment.data,
            "count": self.count.data,
            "cpus": self.cpus.data,
            "mem": self.mem.data,
            "disk": self.disk.data or 0,
            "starts_at": _utc(self.starts_at.data).isoformat(),
            "ends_at": _utc(self.ends_at.data).isoformat(),
            "reason": self.reason.data,
        }


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


class PlanForm(PageForm):
    environment = SelectField("Environment", validate_choice=True)
    scale = StringField(
        "Scale",
        validators=[DataRequired(), Length(max=4000)],
        description="e.g. order-service=3, team:checkout=2, tag:edge=1.5",
    )
    propagate = BooleanField("Carry the load to called services")
    starts_at = DateTimeLocalField("From (UTC)", validators=[InputRequired()])
    ends_at = DateTimeLocalField("To (UTC, exclusive)", validators=[InputRequired()])
    machines = StringField(
        "Machines to buy",
        validators=[Length(max=4000)],
        description="optional, NAME=CPUS/MEM_MIB[/DISK_MIB]@COST each, e.g. "
        "m16=16/65536@1.0, r16=16/131072/200000@1.4: the plan finds the cheapest mix",
    )

    def validate_machines(self, field: Any) -> None:
        for part in _parts(field.data):
            try:
                _machine(part)
            except ValueError as exc:
                raise ValidationError(f"'{part}': {exc}") from exc

    def validate_scale(self, field: Any) -> None:
        for part in _parts(field.data):
            key, sep, factor = part.partition("=")
            if not sep or not key.strip():
                raise ValidationError(f"'{part}': write NAME=FACTOR")
            try:
                float(factor)
            except ValueError as exc:
                raise ValidationError(f"'{part}': the factor is not a number") from exc

    def as_plan(self) -> dict[str, Any]:
        """The body the plans API takes; its schema validates it further (web/pages.py)."""
        scale = {}
        for part in _parts(self.scale.data):
            key, _, factor = part.partition("=")
            scale[key.strip()] = float(factor)
        machines = [_machine(part) for part in _parts(self.machines.data)]
        return {
            **({"agent_shapes": machines} if machines else {}),
            "environment": self.environment.data,
            "scale": scale,
            "propagate": bool(self.propagate.data),
            "window": [
                _utc(self.starts_at.data).isoformat(),
                _utc(self.ends_at.data).isoformat(),
            ],
        }


def _machine(text: str) -> dict[str, Any]:
    """NAME=CPUS/MEM[/DISK]@COST as the plans API's agent_shapes entry (it checks the
    values further)."""
    name, sep, rest = text.partition("=")
    size, at, cost = rest.partition("@")
    if not sep or not at or not name.strip():
        raise ValueError("write NAME=CPUS/MEM_MIB[/DISK_MIB]@COST")
    numbers = size.split("/")
    if len(numbers) not in (2, 3):
        raise ValueError("give CPUS/MEM_MIB or CPUS/MEM_MIB/DISK_MIB")
    try:
        values = [float(n) for n in numbers]
        price = float(cost)
    except ValueError as exc:
        raise ValueError("sizes and cost must be numbers") from exc
    keys = ("cpus", "mem", "disk")
    return {"name": name.strip(), **dict(zip(keys, values, strict=False)), "cost": price}


def _parts(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").replace(";", ",").split(",") if p.strip()]
