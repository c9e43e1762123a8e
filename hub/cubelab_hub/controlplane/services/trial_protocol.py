"""NNI's HTTP command channel protocol, as a trial's unchanged SDK speaks it: the
errors a channel answers with, the Basic credentials a trial presents, and a
metric command checked against the trial that sent it. Pure: the handler
(:mod:`cubelab_hub.controlplane.handlers.trial_channel`) only translates HTTP."""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

MAX_COMMAND_BYTES = 1 << 20
METRIC_KINDS = {"PERIODICAL": "intermediate", "FINAL": "final"}


class ChannelError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, accepted: str | None = None):
        self.status, self.message, self.field, self.accepted = status, message, field, accepted
        super().__init__(message)


def not_found() -> ChannelError:
    return ChannelError(404, "no such trial channel")


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic ...`` header; None for anything else."""
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _metric_number(value: Any) -> float | None:
    """A metric that is one finite number, as that number; None otherwise (a
    dict metric's number depends on the experiment's objective: the service's to pick)."""
    if isinstance(value, dict) and "__ndarray__" in value and value.get("shape") == []:
        value = value["__ndarray__"]  # a NumPy scalar, as the SDK's json_tricks writes it
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_metric(command: dict, trial_id: str, parameter_id: Any) -> tuple[str, int, float | None, Any]:
    """(kind, sequence, value, raw) of a metric command, checked against the
    trial that sent it; ChannelError 400 naming the field otherwise."""
    text = command.get("metric")
    if not isinstance(text, str):
        raise ChannelError(400, "must be the metric as a JSON string", "metric", '"{\\"parameter_id\\": 0, \\"type\\": \\"FINAL\\", ...}"')
    try:
        metric = json.loads(text)
    except ValueError as exc:
        raise ChannelError(400, f"is not valid JSON: {exc}", "metric", "a JSON object as a string") from None
    if not isinstance(metric, dict):
        raise ChannelError(400, "must hold a JSON object", "metric", '{"parameter_id", "trial_job_id", "type", "sequence", "value"}')
    if metric.get("trial_job_id") not in (None, trial_id):
        raise ChannelError(400, "names another trial: a trial reports its own metrics only", "metric.trial_job_id", trial_id)
    if isinstance(metric.get("parameter_id"), bool) or metric.get("parameter_id") != parameter_id:
        raise ChannelError(400, "is not this trial's parameter id: a trial reports for its own parameters only",
                           "metric.parameter_id", str(parameter_id))
    kind = METRIC_KINDS.get(metric.get("type"))
    if kind is None:
        raise ChannelError(400, f"{metric.get('type')!r} is not a metric type", "metric.type", ", ".join(METRIC_KINDS))
    sequence = metric.get("sequence", 0)
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise ChannelError(400, f"{sequence!r} is not a sequence number", "metric.sequence", "a whole number >= 0")
    value_text = metric.get("value")
    if not isinstance(value_text, str):
        raise ChannelError(400, "must be the value as a JSON string", "metric.value", '"0.93" or "{\\"default\\": 0.93}"')
    try:
        raw = json.loads(value_text)
    except ValueError as exc:
        raise ChannelError(400, f"is not valid JSON: {exc}", "metric.value", '"0.93" or "{\\"default\\": 0.93}"') from None
    return kind, sequence, _metric_number(raw), raw
