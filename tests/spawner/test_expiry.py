"""Expiry policy (pure)."""

from datetime import UTC, datetime, timedelta

import pytest

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.expiry import ExpiryPolicy, parse_duration

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("text,expected", [("3d", timedelta(days=3)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90)), ("1d12h", timedelta(hours=36)), ("45s", timedelta(seconds=45)), ("3600", timedelta(hours=1)), (60, timedelta(minutes=1)), ("never", None), ("0", None)])
def test_parse_duration_good(text, expected):
    assert parse_duration(text, "expiry") == expected


@pytest.mark.parametrize("text", ["", "3 days", "d", "-1", "1w", True, "h3"])
def test_parse_duration_bad(text):
    with pytest.raises(FieldError) as err:
        parse_duration(text, "expiry.default")
    assert err.value.field == "expiry.default" and "'3d'" in err.value.accepted


def test_periods_by_kind_and_gpu():
    policy = ExpiryPolicy.from_config("3d", {"vscode": "1d", "rstudio": "never"}, "12h")
    assert policy.period_for({"kind": "jupyterlab", "gpu": "0"}) == timedelta(days=3)
    assert policy.period_for({"kind": "vscode", "gpu": "0"}) == timedelta(days=1)
    assert policy.period_for({"kind": "rstudio"}) is None
    # a GPU server gets the GPU period whatever its kind
    assert policy.period_for({"kind": "rstudio", "gpu": "1(V100)"}) == timedelta(hours=12)
    assert ExpiryPolicy.from_config().period_for({"gpu": "2"}) == timedelta(days=3)
    assert ExpiryPolicy.from_config().period_for(None) == timedelta(days=3)


def test_renewal_extends_from_now_and_restart_forgets_it():
    policy = ExpiryPolicy.from_config("3d")
    assert policy.expires_at(T0, None, {}) == T0 + timedelta(days=3)
    renewed = T0 + timedelta(days=2)
    assert policy.expires_at(T0, renewed, {}) == renewed + timedelta(days=3)
    # restarted after the renewal: the new start counts
    restarted = T0 + timedelta(days=4)
    assert policy.expires_at(restarted, renewed, {}) == restarted + timedelta(days=3)
    assert policy.is_expired(T0 + timedelta(days=3), T0, None, {})
    assert not policy.is_expired(T0 + timedelta(days=3), T0, renewed, {})
    assert not ExpiryPolicy.from_config("never").is_expired(T0 + timedelta(days=999), T0, None, {})


def test_control_plane_expiry_settings():
    from traitlets import TraitError
    from traitlets.config import Config

    from cubelab_hub.controlplane.services.servers import ServerExpiry

    c = Config()
    c.ServerExpiry.default = "1d"
    c.ServerExpiry.per_kind = {"vscode": "12h"}
    c.ServerExpiry.gpu = "6h"
    policy = ServerExpiry(config=c).policy()
    assert policy.period_for({"kind": "jupyterlab"}) == timedelta(days=1)
    assert policy.period_for({"kind": "vscode"}) == timedelta(hours=12)
    assert policy.period_for({"kind": "jupyterlab", "gpu": "1"}) == timedelta(hours=6)
    with pytest.raises((FieldError, TraitError)):
        ServerExpiry(default="three days")
