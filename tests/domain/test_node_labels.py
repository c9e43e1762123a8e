"""The platform's node role labels: which keys, which values, nothing else."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.node_labels import ROLE_LABEL_KEYS, labels_patch_body, parse_label_patch, role_labels
from cubelab_hub.kube.objects import PLATFORM_LABEL_KEYS


def test_the_keys_are_those_pods_select_on():
    assert set(ROLE_LABEL_KEYS) == set(PLATFORM_LABEL_KEYS)


def test_only_role_labels_are_shown():
    labels = {"train": "true", "org": "team-a", "kubernetes.io/hostname": "n1", "gpu-type": "V100", "zone": "a"}
    assert role_labels(labels) == {"train": "true", "org": "team-a", "gpu-type": "V100"}
    assert role_labels(None) == {}


def test_a_patch_sets_flags_values_and_removes_with_null():
    patch = parse_label_patch({"labels": {"notebook": "true", "train": True, "gpu": None, "org": "team-b", "gpu-type": None}})
    assert patch == {"notebook": "true", "train": "true", "gpu": None, "org": "team-b", "gpu-type": None}
    assert labels_patch_body({"gpu": None}) == {"metadata": {"labels": {"gpu": None}}}


@pytest.mark.parametrize("labels, field", [
    ({"kubernetes.io/hostname": "x"}, "labels.kubernetes.io/hostname"),
    ({"train": "false"}, "labels.train"),
    ({"notebook": "yes"}, "labels.notebook"),
    ({"org": ""}, "labels.org"),
    ({"org": "not a label!"}, "labels.org"),
    ({"gpu-type": 100}, "labels.gpu-type"),
])
def test_bad_labels_are_named(labels, field):
    with pytest.raises(FieldErrors) as exc:
        parse_label_patch({"labels": labels})
    assert [e.field for e in exc.value.errors] == [field]


@pytest.mark.parametrize("body", [{}, {"labels": {}}, {"labels": "train=true"}, {"labels": {"train": "true"}, "node": "x"}, []])
def test_the_body_shape_is_checked(body):
    with pytest.raises(FieldError) as exc:
        parse_label_patch(body)
    assert exc.value.field == "labels"
