"""Every project setting through the real REST API: bad values are refused
with HTTP 400 naming the field, the bad part and the accepted forms, and
nothing is written; good values round-trip.
"""

from __future__ import annotations

import itertools
import os

import pytest
from support.platform import register

pytestmark = pytest.mark.hub

_seq = itertools.count()

CPU = "one number of cores, e.g. '32' or '0.5'"
MEM = "one size, e.g. '128G' or '512M'"
MOUNTS = "'source(type):/mount/path' joined by ',' or ';'"
LABEL_KEY = "a label key: [prefix/]name"
LABEL_VALUE = "a label value: empty, or letters, digits"
NODE_SELECTOR = "'key=value' pairs joined by ';'"
ORG = "one or more organisation labels joined by ','"
IPS = "IPv4 or IPv6 addresses joined by ','"
DNS = "lowercase letters, digits and '-', starting and ending with a letter or digit"
QUOTA = "an object with any of 'cpu'"
GPU_WHOLE = "a whole number such as '0' or '8'"
ADMIN_ONLY = "(hostpath and nfs: admins only)"

# (setting, value, expected field, bad part named in the message, accepted form named, as admin?)
BAD = [
    # cluster: the names configured in ControlPlane.clusters ('default' here)
    ("cluster", "nope", "cluster", "'nope' is not a configured cluster", "one of default", False),
    ("cluster", "", "cluster", "must be a non-empty string", "the name of a configured cluster", False),
    ("cluster", 5, "cluster", "must be a non-empty string", "the name of a configured cluster", False),
    # org
    ("org", "team a", "org", "'team a' is not a valid label value", ORG, False),
    ("org", "a,,b", "org", "'a,,b' has an empty organisation", ORG, False),
    ("org", "", "org", "'' has an empty organisation", ORG, False),
    ("org", "a,a", "org", "'a,a' names an organisation twice", ORG, False),
    ("org", ["a"], "org", "must be a string, got list", ORG, False),
    # node_selector
    ("node_selector", "disk", "node_selector", "'disk' has no '='", NODE_SELECTOR, False),
    ("node_selector", "disk=ssd;disk=hdd", "node_selector", "key 'disk' is given twice", NODE_SELECTOR, False),
    ("node_selector", "bad key=x", "node_selector", "label key 'bad key' is not valid", LABEL_KEY, False),
    ("node_selector", "Bad_Prefix/k=v", "node_selector", "label key prefix 'Bad_Prefix' is not a DNS subdomain", LABEL_KEY, False),
    ("node_selector", "k=bad value!", "node_selector", "label value 'bad value!' is not valid", LABEL_VALUE, False),
    ("node_selector", {"k": "v"}, "node_selector", "must be a string, got dict", NODE_SELECTOR, False),
    # volume_mount: syntax
    ("volume_mount", "data:/mnt", "volume_mount", "'data:/mnt' is not of the form source(type):/path", MOUNTS, False),
    ("volume_mount", "data(disk):/mnt", "volume_mount", "unknown type 'disk'", MOUNTS, False),
    ("volume_mount", "data(pvc):mnt", "volume_mount", "'mnt' is not an absolute path", MOUNTS, False),
    ("volume_mount", "data(pvc):/a/../b", "volume_mount", "'/a/../b' contains '..'", MOUNTS, False),
    ("volume_mount", "a(pvc):/mnt,b(pvc-share):/mnt/", "volume_mount", "mount path '/mnt' is used by both", MOUNTS, False),
    ("volume_mount", 3, "volume_mount", "must be a string, got int", MOUNTS, False),
    # volume_mount: each type's own source
    ("volume_mount", "Bad_Claim(pvc):/mnt", "volume_mount", "'Bad_Claim' is not a valid pvc name", MOUNTS, False),
    ("volume_mount", "Bad_Claim(pvc-share):/mnt", "volume_mount", "'Bad_Claim' is not a valid pvc-share name", MOUNTS, False),
    ("volume_mount", "4X(memory):/dev/shm", "volume_mount", "'4X' is not a size", MOUNTS, False),
    ("volume_mount", "0G(memory):/dev/shm", "volume_mount", "memory size must be more than 0", MOUNTS, False),
    ("volume_mount", "My Config(configmap):/etc/app", "volume_mount", "'My Config' is not a valid configmap name", MOUNTS, False),
    ("volume_mount", "db_creds(secret):/etc/secret", "volume_mount", "'db_creds' is not a valid secret name", MOUNTS, False),
    ("volume_mount", "/data/../etc(hostpath):/x", "volume_mount", "host path '/data/../etc' contains '..'", MOUNTS, True),
    ("volume_mount", "10.0.0.1(nfs):/nfs", "volume_mount", "nfs source must be 'server/export/path'", MOUNTS, True),
    ("volume_mount", "bad host!/x(nfs):/nfs", "volume_mount", "'bad host!' is not a server address", MOUNTS, True),
    # volume_mount: admin-only types, for a creator
    ("volume_mount", "/data/aidata(hostpath):/aidata", "volume_mount", "uses type 'hostpath', which only an admin may set", ADMIN_ONLY, False),
    ("volume_mount", "10.0.0.1/exports(nfs):/nfs", "volume_mount", "uses type 'nfs', which only an admin may set", ADMIN_ONLY, False),
    ("volume_mount", "ws(pvc):/mnt;/data(hostpath):/data", "volume_mount", "uses type 'hostpath', which only an admin may set", ADMIN_ONLY, False),
    # service_external_ip
    ("service_external_ip", "10.0.0.300", "service_external_ip", "'10.0.0.300' is not an IP address", IPS, False),
    ("service_external_ip", "example.com", "service_external_ip", "'example.com' is not an IP address", IPS, False),
    ("service_external_ip", "10.0.0.5,,10.0.0.6", "service_external_ip", "has an empty address", IPS, False),
    ("service_external_ip", 10, "service_external_ip", "must be a string, got int", IPS, False),
    # quota
    ("quota", "32", "quota", "must be an object, got str", QUOTA, False),
    ("quota", {"disk": "1T"}, "quota", "unknown key(s) disk", QUOTA, False),
    ("quota", {"cpu": "many"}, "quota.cpu", "'many' is not a number of cores", CPU, False),
    ("quota", {"cpu": "1~4"}, "quota.cpu", "'1~4' is a range", CPU, False),
    ("quota", {"cpu": "0"}, "quota.cpu", "'0' must be more than 0 cores", CPU, False),
    ("quota", {"cpu": "0.0001"}, "quota.cpu", "finer than a thousandth of a core", CPU, False),
    ("quota", {"cpu": "-2"}, "quota.cpu", "'-2' is not a number of cores", CPU, False),
    ("quota", {"memory": "lots"}, "quota.memory", "'lots' is not a size", MEM, False),
    ("quota", {"memory": "1G~8G"}, "quota.memory", "'1G~8G' is a range", MEM, False),
    ("quota", {"memory": "0G"}, "quota.memory", "'0G' must be more than 0", MEM, False),
    ("quota", {"gpu": "1.5"}, "quota.gpu", "'1.5' is not a whole number of cards", GPU_WHOLE, False),
    ("quota", {"gpu": "2(V100)"}, "quota.gpu", "'2(V100)' is not a whole number of cards", GPU_WHOLE, False),
    ("quota", {"gpu": True}, "quota.gpu", "'True' is not a whole number of cards", GPU_WHOLE, False),
    # namespace
    ("namespace", "Team_A", "namespace", "'Team_A' is not a valid name", DNS, False),
    ("namespace", "-team", "namespace", "'-team' is not a valid name", DNS, False),
    ("namespace", "n" * 64, "namespace", "is 64 characters, more than 63", DNS, False),
    ("namespace", "", "namespace", "must be a non-empty string", DNS, False),
    ("namespace", 7, "namespace", "must be a string, got int", "a Kubernetes namespace name", False),
]

# (setting, value sent, value shown back, as admin?)
GOOD = [
    ("cluster", "default", "default", False),
    ("org", "public", "public", False),
    ("org", "team-a, team-b", "team-a,team-b", False),
    ("node_selector", "disk=ssd;zone=a", "disk=ssd;zone=a", False),
    ("node_selector", "kubernetes.io/arch=amd64", "kubernetes.io/arch=amd64", False),
    ("volume_mount", "kubeflow-user-workspace(pvc):/mnt", "kubeflow-user-workspace(pvc):/mnt", False),
    ("volume_mount", "shared-data(pvc-share):/data", "shared-data(pvc-share):/data", False),
    ("volume_mount", "4G(memory):/dev/shm", "4G(memory):/dev/shm", False),
    ("volume_mount", "app-config(configmap):/etc/app", "app-config(configmap):/etc/app", False),
    ("volume_mount", "db-creds(secret):/etc/secret", "db-creds(secret):/etc/secret", False),
    ("volume_mount", "/data/aidata(hostpath):/aidata", "/data/aidata(hostpath):/aidata", True),
    ("volume_mount", "10.0.0.1/exports/team(nfs):/nfs", "10.0.0.1/exports/team(nfs):/nfs", True),
    ("volume_mount", "ws(pvc):/mnt;4G(memory):/dev/shm,cfg(configmap):/etc/cfg",
     "ws(pvc):/mnt;4G(memory):/dev/shm,cfg(configmap):/etc/cfg", False),
    ("service_external_ip", "10.0.0.5", "10.0.0.5", False),
    ("service_external_ip", " 10.0.0.5 , fd00::1 ", "10.0.0.5,fd00::1", False),
    ("quota", {"cpu": "32", "memory": "128G", "gpu": "8"}, {"cpu": "32", "memory": "128G", "gpu": "8"}, False),
    ("quota", {"cpu": "0.5"}, {"cpu": "0.5", "memory": None, "gpu": None}, False),
    ("quota", {"cpu": 4, "memory": "512M", "gpu": 0}, {"cpu": "4", "memory": "512M", "gpu": "0"}, False),
    ("namespace", "team-a", "team-a", False),
]

UNSET = {"quota": {"cpu": None, "memory": None, "gpu": None}}


def _fresh(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 10000}s{next(_seq)}"


@pytest.fixture(scope="module")
def creator(platform):
    return register(platform, _fresh("setter"))


@pytest.fixture(scope="module")
def project(creator, admin):
    name = _fresh("settings-")
    resp = creator.api("POST", "/projects", json={"name": name, "description": "settings under test",
                                                   "settings": {"org": "team-a", "namespace": "team-a-ns"}})
    assert resp.status_code == 201, resp.text
    return name


def _param_id(value) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_refusal(resp, field, bad_part, accepted):
    assert resp.status_code == 400, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) >= {"error", "message", "field"}
    assert body["error"] == "invalid"
    assert body["field"] == field, body
    assert bad_part in body["message"], body["message"]
    assert "accepted:" in body["message"] and accepted in body["message"], body["message"]


@pytest.mark.parametrize(
    "setting,value,field,bad_part,accepted,as_admin",
    [pytest.param(*case, id=f"{case[0]}={_param_id(case[1])}{' (admin)' if case[5] else ''}") for case in BAD],
)
def test_bad_setting_is_refused_and_nothing_is_written(admin, creator, project, setting, value, field, bad_part, accepted, as_admin):
    caller = admin if as_admin else creator
    before = admin.api("GET", f"/projects/{project}").json()
    resp = caller.api("PATCH", f"/projects/{project}", json={"settings": {setting: value}})
    _check_refusal(resp, field, bad_part, accepted)
    assert admin.api("GET", f"/projects/{project}").json() == before

    # together with a good field and a description change: still nothing written
    good_other = {"org": "mixed-org"} if setting != "org" else {"namespace": "mixed-ns"}
    resp = caller.api("PATCH", f"/projects/{project}",
                      json={"description": "must not be written", "settings": {**good_other, setting: value}})
    _check_refusal(resp, field, bad_part, accepted)
    assert admin.api("GET", f"/projects/{project}").json() == before

    # and a project created with it is not created
    name = _fresh("bad-")
    resp = caller.api("POST", "/projects", json={"name": name, "settings": {setting: value}})
    _check_refusal(resp, field, bad_part, accepted)
    assert admin.api("GET", f"/projects/{name}").status_code == 404


@pytest.mark.parametrize(
    "setting,value,shown,as_admin",
    [pytest.param(*case, id=f"{case[0]}={_param_id(case[1])}") for case in GOOD],
)
def test_good_setting_round_trips(admin, creator, project, setting, value, shown, as_admin):
    caller = admin if as_admin else creator
    resp = caller.api("PATCH", f"/projects/{project}", json={"settings": {setting: value}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["settings"][setting] == shown
    for reader in (creator, admin):
        assert reader.api("GET", f"/projects/{project}").json()["settings"][setting] == shown
    listed = {p["name"]: p for p in creator.api("GET", "/projects").json()["projects"]}
    assert listed[project]["settings"][setting] == shown
    # stored as group properties in the hub
    props = admin.hub_api("GET", f"/groups/{project}").json()["properties"]
    assert setting in props
    # sending the shown value back is accepted and changes nothing
    again = caller.api("PATCH", f"/projects/{project}", json={"settings": {setting: shown}})
    assert again.status_code == 200 and again.json()["settings"][setting] == shown
    # a null unsets it
    unset = caller.api("PATCH", f"/projects/{project}", json={"settings": {setting: None}})
    assert unset.status_code == 200
    assert unset.json()["settings"][setting] == UNSET.get(setting)
    assert setting not in admin.hub_api("GET", f"/groups/{project}").json()["properties"]


def test_good_settings_at_creation(creator):
    name = _fresh("made-")
    settings = {"cluster": "default", "org": "team-x", "node_selector": "disk=ssd", "volume_mount": "ws(pvc):/mnt",
                "service_external_ip": "10.0.0.9", "quota": {"cpu": "8", "memory": "32G", "gpu": "1"}, "namespace": "team-x",
                "engine": "local"}
    resp = creator.api("POST", "/projects", json={"name": name, "settings": settings})
    assert resp.status_code == 201, resp.text
    assert resp.json()["settings"] == settings
    assert creator.api("GET", f"/projects/{name}").json()["settings"] == settings


@pytest.mark.parametrize("unknown", ["cpu", "gpu", "volume_mounts", "Quota", "image_pull_secrets"])
def test_unknown_setting_names_are_refused(admin, creator, project, unknown):
    before = admin.api("GET", f"/projects/{project}").json()
    resp = creator.api("PATCH", f"/projects/{project}", json={"settings": {"org": "ok-org", unknown: "1"}})
    assert resp.status_code == 400
    body = resp.json()
    assert body["field"] == unknown
    assert "is not a project setting" in body["message"]
    assert "cluster, org, node_selector, volume_mount, service_external_ip, quota, namespace" in body["message"]
    assert admin.api("GET", f"/projects/{project}").json() == before


def test_settings_must_be_an_object(admin, creator, project):
    before = admin.api("GET", f"/projects/{project}").json()
    for value in ("org=x", ["org"], 3):
        resp = creator.api("PATCH", f"/projects/{project}", json={"settings": value})
        assert resp.status_code == 400
        assert resp.json()["field"] == "settings"
    assert admin.api("GET", f"/projects/{project}").json() == before


def test_every_bad_field_is_reported(admin, creator, project):
    before = admin.api("GET", f"/projects/{project}").json()
    resp = creator.api("PATCH", f"/projects/{project}",
                       json={"settings": {"org": "ok", "namespace": "Bad_NS", "quota": {"cpu": "x", "gpu": "y"}}})
    assert resp.status_code == 400
    fields = [e["field"] for e in resp.json()["errors"]]
    assert fields == ["namespace", "quota.cpu"]  # one error per setting, in request order
    assert admin.api("GET", f"/projects/{project}").json() == before
