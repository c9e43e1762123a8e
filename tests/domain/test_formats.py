"""The shared parsers of Cube Studio's formats (listed in docs/formats.md): every
form good and bad. Pure unit tests."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.formats import (
    ADMIN_ONLY_MOUNT_KINDS,
    CPU_ACCEPTED,
    GPU_ACCEPTED,
    MEMORY_ACCEPTED,
    MOUNT_KINDS,
    MOUNTS_ACCEPTED,
    NODE_SELECTOR_ACCEPTED,
    CpuRequest,
    GpuRequest,
    MemoryRequest,
    VolumeMount,
    bytes_to_quantity,
    check_mount_permissions,
    format_bytes,
    format_node_selector,
    format_volume_mounts,
    gpu_resource_name,
    merge_mounts,
    parse_bytes,
    parse_cpu,
    parse_gpu,
    parse_memory,
    parse_node_selector,
    parse_volume_mounts,
    validate_dns_label,
    validate_label_key,
    validate_label_value,
)

G = 2**30
M = 2**20


def refused(func, *args, field: str, bad: str, accepted: str | None = None, **kwargs) -> FieldError:
    with pytest.raises(FieldError) as info:
        func(*args, **kwargs)
    err = info.value
    assert err.field == field
    assert bad in err.message, err.message
    if accepted is not None:
        assert err.accepted == accepted
    assert str(err).startswith(f"{field}: ")
    return err


# ---------------------------------------------------------------- CPU


@pytest.mark.parametrize(
    "text,request_,limit,shown,req_q,lim_q",
    [
        ("2", "2", "2", "2", "2", "2"),
        ("0.5", "0.5", "0.5", "0.5", "500m", "500m"),
        ("1~4", "1", "4", "1~4", "1", "4"),
        (" 0.25 ~ 2 ", "0.25", "2", "0.25~2", "250m", "2"),
        ("0~2", "0", "2", "0~2", "0", "2"),
        ("0.001", "0.001", "0.001", "0.001", "1m", "1m"),
        (2, "2", "2", "2", "2", "2"),
        (0.5, "0.5", "0.5", "0.5", "500m", "500m"),
    ],
)
def test_cpu_good(text, request_, limit, shown, req_q, lim_q):
    cpu = parse_cpu(text)
    assert cpu == CpuRequest(Decimal(request_), Decimal(limit))
    assert str(cpu) == shown
    assert cpu.quantity("request") == req_q
    assert cpu.quantity() == lim_q


@pytest.mark.parametrize(
    "text,bad",
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("two", "'two' is not a number of cores"),
        ("-1", "'-1' is not a number of cores"),
        ("1e3", "'1e3' is not a number of cores"),
        ("2c", "'2c' is not a number of cores"),
        ("0", "must be more than 0 cores"),
        ("0~0", "must be more than 0 cores"),
        ("0.0005", "finer than a thousandth of a core"),
        ("4~1", "request 4 is more than limit 1"),
        ("1~2~3", "has more than one '~'"),
        ("1~", "'' is not a number of cores"),
        ("~4", "'' is not a number of cores"),
        (True, "must be a string, got bool"),
        (None, "must be a string, got NoneType"),
        ([2], "must be a string, got list"),
        ("1 0", "'1 0' has a space inside"),
        ("1~1 6", "'1 6' has a space inside"),
        ("1000001", "'1000001' is more than 1000000 cores, beyond any machine"),
        ("1~99999999999999999999", "is more than 1000000 cores"),
        ("9" * 5000, "is more than 1000000 cores"),
        ("\u0662", "is not a number of cores"),  # Arabic-Indic 2
    ],
)
def test_cpu_bad(text, bad):
    refused(parse_cpu, text, "tasks.train.cpu", field="tasks.train.cpu", bad=bad, accepted=CPU_ACCEPTED)


# ---------------------------------------------------------------- memory


@pytest.mark.parametrize(
    "text,request_,limit,shown",
    [
        ("4G", 4 * G, 4 * G, "4G"),
        ("512M", 512 * M, 512 * M, "512M"),
        ("1G~8G", G, 8 * G, "1G~8G"),
        ("1.5G", 1536 * M, 1536 * M, "1536M"),
        ("4Gi", 4 * G, 4 * G, "4G"),
        ("4GB", 4 * G, 4 * G, "4G"),
        ("4g", 4 * G, 4 * G, "4G"),
        (" 2G ", 2 * G, 2 * G, "2G"),
        ("512M ~ 2G", 512 * M, 2 * G, "512M~2G"),
        ("1024P", 2**60, 2**60, "1024P"),
        ("1T", 2**40, 2**40, "1T"),
        ("64K", 64 * 1024, 64 * 1024, "64K"),
        ("1000", 1000, 1000, "1000"),
    ],
)
def test_memory_good(text, request_, limit, shown):
    mem = parse_memory(text)
    assert mem == MemoryRequest(request_, limit)
    assert str(mem) == shown
    assert parse_memory(str(mem)) == mem  # the shown form parses back to the same value


@pytest.mark.parametrize(
    "text,bad",
    [
        ("", "is empty"),
        ("lots", "'lots' is not a size"),
        ("4X", "'4X' is not a size"),
        ("-1G", "'-1G' is not a size"),
        ("G", "'G' is not a size"),
        ("4B", "'4B' has a suffix without a unit"),
        ("0.3K", "'0.3K' is not a whole number of bytes"),
        ("0", "must be more than 0"),
        ("8G~1G", "request 8G is more than limit 1G"),
        ("1G~2G~4G", "has more than one '~'"),
        ("1G~", "'' is not a size"),
        (None, "must be a string, got NoneType"),
        ("1 G", "'1 G' has a space inside"),
        ("1G~8 G", "'8 G' has a space inside"),
        ("1\tG", "has a space inside"),
        ("99999999999999999999T", "'99999999999999999999T' is more than 1024P, beyond any machine"),
        ("1025P", "'1025P' is more than 1024P"),
        (str(2**60 + 1), "is more than 1024P"),
        ("1G~" + "9" * 5000 + "G", "is more than 1024P"),
        ("\u0664G", "is not a size"),  # Arabic-Indic 4: only ASCII digits
    ],
)
def test_memory_bad(text, bad):
    refused(parse_memory, text, "memory", field="memory", bad=bad, accepted=MEMORY_ACCEPTED)


def test_memory_quantities():
    assert parse_memory("1G~8G").quantity("request") == "1Gi"
    assert parse_memory("1G~8G").quantity() == "8Gi"
    assert parse_memory("1.5G").quantity() == "1536Mi"
    assert parse_memory("1000").quantity() == "1000"
    assert bytes_to_quantity(3 * 2**40) == "3Ti"
    assert format_bytes(0) == "0"
    assert format_bytes(2**50) == "1P"
    assert parse_bytes("1.5K") == 1536


# ---------------------------------------------------------------- GPU


@pytest.mark.parametrize(
    "text,expected,shown",
    [
        ("0", GpuRequest(0), "0"),
        ("1", GpuRequest(1), "1"),
        ("2(V100)", GpuRequest(2, None, "V100"), "2(V100)"),
        ("1(nvidia,A100)", GpuRequest(1, "nvidia", "A100"), "1(nvidia,A100)"),
        (" 4 ( nvidia , H100-80GB ) ", GpuRequest(4, "nvidia", "H100-80GB"), "4(nvidia,H100-80GB)"),
        ("1(amd,MI300X)", GpuRequest(1, "amd", "MI300X"), "1(amd,MI300X)"),
        (3, GpuRequest(3), "3"),
    ],
)
def test_gpu_good(text, expected, shown):
    gpu = parse_gpu(text)
    assert gpu == expected
    assert str(gpu) == shown
    assert parse_gpu(str(gpu)) == gpu


@pytest.mark.parametrize(
    "text,bad",
    [
        ("", "is empty"),
        ("0.5", "'0.5' is a fraction of a card"),
        (".5", "'.5' is a fraction of a card"),
        ("-1", "'-1' is not a GPU request"),
        ("one", "'one' is not a GPU request"),
        ("2V100", "'2V100' is not a GPU request"),
        ("1()", "'1()' has empty brackets"),
        ("0(V100)", "'0(V100)' asks for 0 cards of a type"),
        ("1(a,b,c)", "'1(a,b,c)' has more than two names in brackets"),
        ("1(,A100)", "'1(,A100)' names no vendor"),
        ("1(V 100)", "'V 100' is not a valid vendor or GPU type"),
        ("1(V100", "'1(V100' is not a GPU request"),
        (True, "must be a string, got bool"),
        (1.0, "must be a string, got float"),
        ("9999999999999999999", "'9999999999999999999' cards is more than 1024 per request"),
        ("1025", "'1025' cards is more than 1024"),
        ("1025(V100)", "is more than 1024"),
        ("9" * 5000, "is more than 1024"),
        ("1 0", "'1 0' has a space inside the number of cards"),
        ("\u0661", "is not a GPU request"),  # Arabic-Indic 1
    ],
)
def test_gpu_bad(text, bad):
    refused(parse_gpu, text, "gpu", field="gpu", bad=bad, accepted=GPU_ACCEPTED)


def test_gpu_resource_name_from_vendor_map():
    assert gpu_resource_name(parse_gpu("1")) == "nvidia.com/gpu"
    assert gpu_resource_name(parse_gpu("2(V100)")) == "nvidia.com/gpu"
    assert gpu_resource_name(parse_gpu("1(nvidia,A100)")) == "nvidia.com/gpu"
    assert gpu_resource_name(parse_gpu("1(amd,MI300X)")) == "amd.com/gpu"
    assert gpu_resource_name(parse_gpu("1(intel,Max)")) == "gpu.intel.com/i915"
    custom = {"huawei": "huawei.com/Ascend910", "nvidia": "nvidia.com/gpu"}
    assert gpu_resource_name(parse_gpu("1(huawei,910B)"), custom) == "huawei.com/Ascend910"
    assert gpu_resource_name(parse_gpu("1"), custom, default_vendor="huawei") == "huawei.com/Ascend910"
    err = refused(gpu_resource_name, parse_gpu("1(acme,X1)"), field="gpu", bad="unknown GPU vendor 'acme'")
    assert err.accepted == "one of amd, intel, nvidia"


# ---------------------------------------------------------------- node selector


@pytest.mark.parametrize(
    "text,expected",
    [
        ("disk=ssd;zone=a", {"disk": "ssd", "zone": "a"}),
        ("disk=ssd", {"disk": "ssd"}),
        (" disk = ssd ; zone=a ;", {"disk": "ssd", "zone": "a"}),
        ("kubernetes.io/arch=amd64", {"kubernetes.io/arch": "amd64"}),
        ("gpu-type=V100;org=team_a.x", {"gpu-type": "V100", "org": "team_a.x"}),
        ("empty=", {"empty": ""}),
        ("disk=ssd;disk=ssd", {"disk": "ssd"}),
        ("", {}),
        (None, {}),
    ],
)
def test_node_selector_good(text, expected):
    selector = parse_node_selector(text)
    assert selector == expected
    assert parse_node_selector(format_node_selector(selector)) == selector


@pytest.mark.parametrize(
    "text,bad",
    [
        ("disk", "'disk' has no '='"),
        ("disk=ssd,zone=a", "label value 'ssd,zone=a' is not valid"),
        ("=ssd", "label key '' is not valid"),
        ("bad key=x", "label key 'bad key' is not valid"),
        ("-lead=x", "label key '-lead' is not valid"),
        ("k" * 64 + "=x", "is not valid"),
        ("Bad_Prefix/k=v", "label key prefix 'Bad_Prefix' is not a DNS subdomain"),
        ("k=bad value", "label value 'bad value' is not valid"),
        ("k=" + "v" * 64, "is not valid"),
        ("k=a=b", "label value 'a=b' is not valid"),
        ("disk=ssd;disk=hdd", "key 'disk' is given twice with different values"),
        ({"disk": "ssd"}, "must be a string, got dict"),
    ],
)
def test_node_selector_bad(text, bad):
    refused(parse_node_selector, text, field="node_selector", bad=bad)


def test_node_selector_errors_name_the_accepted_forms():
    assert refused(parse_node_selector, "disk", field="node_selector", bad="no '='").accepted == NODE_SELECTOR_ACCEPTED
    assert "label key" in refused(parse_node_selector, "a b=c", field="node_selector", bad="not valid").accepted
    assert "label value" in refused(parse_node_selector, "a=b c", field="node_selector", bad="not valid").accepted


# ---------------------------------------------------------------- names and labels


@pytest.mark.parametrize("good", ["a", "team-a", "a1", "1a", "x" * 63])
def test_dns_label_good(good):
    assert validate_dns_label(good, "namespace") == good


@pytest.mark.parametrize(
    "bad,part",
    [("", "non-empty"), ("Team", "'Team' is not a valid name"), ("-a", "not a valid name"), ("a-", "not a valid name"),
     ("a_b", "not a valid name"), ("a.b", "not a valid name"), ("x" * 64, "is 64 characters, more than 63"), (None, "non-empty")],
)
def test_dns_label_bad(bad, part):
    refused(validate_dns_label, bad, "namespace", field="namespace", bad=part)


def test_label_keys_and_values():
    assert validate_label_key("example.com/gpu-type", "f") == "example.com/gpu-type"
    assert validate_label_value("", "f") == ""
    assert validate_label_value("A.b_c-1", "f") == "A.b_c-1"
    refused(validate_label_key, "x" * 254 + "/k", "f", field="f", bad="is not a DNS subdomain")
    refused(validate_label_key, "example.com/", "f", field="f", bad="label key 'example.com/' is not valid")
    refused(validate_label_value, "_x", "f", field="f", bad="label value '_x' is not valid")


# ---------------------------------------------------------------- volume mounts


@pytest.mark.parametrize(
    "text,expected",
    [
        ("kubeflow-user-workspace(pvc):/mnt", VolumeMount("pvc", "kubeflow-user-workspace", "/mnt")),
        ("shared-data(pvc-share):/data", VolumeMount("pvc-share", "shared-data", "/data")),
        ("/data/aidata(hostpath):/aidata", VolumeMount("hostpath", "/data/aidata", "/aidata")),
        # Cube Studio writes host paths without the leading '/'
        ("data/aidata(hostpath):/aidata", VolumeMount("hostpath", "/data/aidata", "/aidata")),
        ("10.0.0.1/exports/team(nfs):/nfs", VolumeMount("nfs", "10.0.0.1/exports/team", "/nfs", server="10.0.0.1", export="/exports/team")),
        ("nfs.example.com/vol(nfs):/mnt/nfs", VolumeMount("nfs", "nfs.example.com/vol", "/mnt/nfs", server="nfs.example.com", export="/vol")),
        ("4G(memory):/dev/shm", VolumeMount("memory", "4G", "/dev/shm", size_bytes=4 * G)),
        ("512Mi(memory):/cache", VolumeMount("memory", "512Mi", "/cache", size_bytes=512 * M)),
        ("app-config(configmap):/etc/app", VolumeMount("configmap", "app-config", "/etc/app")),
        ("db-creds(secret):/etc/secret", VolumeMount("secret", "db-creds", "/etc/secret")),
        ("ws(pvc):/mnt/", VolumeMount("pvc", "ws", "/mnt")),
        ("ws(pvc):/a//b/./c", VolumeMount("pvc", "ws", "/a/b/c")),
    ],
)
def test_each_mount_type(text, expected):
    assert parse_volume_mounts(text) == [expected]


def test_every_mount_kind_is_covered():
    assert set(MOUNT_KINDS) == {"pvc", "pvc-share", "hostpath", "nfs", "memory", "configmap", "secret"}
    assert ADMIN_ONLY_MOUNT_KINDS == {"hostpath", "nfs"}


def test_mount_lists_join_with_comma_or_semicolon():
    mounts = parse_volume_mounts(" ws(pvc):/mnt ; 4G(memory):/dev/shm,cfg(configmap):/etc/cfg,, ")
    assert [(m.kind, m.mount_path) for m in mounts] == [("pvc", "/mnt"), ("memory", "/dev/shm"), ("configmap", "/etc/cfg")]
    assert format_volume_mounts(mounts) == "ws(pvc):/mnt,4G(memory):/dev/shm,cfg(configmap):/etc/cfg"
    assert parse_volume_mounts(format_volume_mounts(mounts)) == mounts
    assert parse_volume_mounts("") == []
    assert parse_volume_mounts(None) == []


@pytest.mark.parametrize(
    "text,bad",
    [
        ("data:/mnt", "'data:/mnt' is not of the form source(type):/path"),
        ("data(pvc)/mnt", "is not of the form"),
        ("(pvc):/mnt", "is not of the form"),
        ("data(PVC):/mnt", "is not of the form"),
        ("data(disk):/mnt", "'data(disk):/mnt' has unknown type 'disk'"),
        ("data(pvc):mnt", "mount path 'mnt' is not an absolute path"),
        ("data(pvc):/a/../etc", "mount path '/a/../etc' contains '..'"),
        ("a(pvc):/mnt;b(pvc-share):/mnt/", "mount path '/mnt' is used by both 'a(pvc):/mnt' and 'b(pvc-share):/mnt/'"),
        ("Bad_Claim(pvc):/mnt", "'Bad_Claim' is not a valid pvc name"),
        ("-claim(pvc-share):/mnt", "'-claim' is not a valid pvc-share name"),
        ("My Config(configmap):/etc/c", "'My Config' is not a valid configmap name"),
        ("db_creds(secret):/etc/s", "'db_creds' is not a valid secret name"),
        ("/data/../etc(hostpath):/etc2", "host path '/data/../etc' contains '..'"),
        ("10.0.0.1(nfs):/nfs", "nfs source must be 'server/export/path'"),
        ("10.0.0.1/(nfs):/nfs", "nfs source must be 'server/export/path'"),
        ("bad host!/x(nfs):/nfs", "'bad host!' is not a server address"),
        ("10.0.0.1/a/../b(nfs):/nfs", "export '/a/../b' contains '..'"),
        ("4X(memory):/dev/shm", "'4X' is not a size"),
        ("0G(memory):/dev/shm", "memory size must be more than 0"),
        ("0.3K(memory):/dev/shm", "'0.3K' is not a whole number of bytes"),
        (42, "must be a string, got int"),
    ],
)
def test_mount_bad(text, bad):
    refused(parse_volume_mounts, text, "volume_mount", field="volume_mount", bad=bad, accepted=MOUNTS_ACCEPTED)


def test_merge_mounts_by_mount_path():
    project = parse_volume_mounts("kubeflow-user-workspace(pvc):/mnt,4G(memory):/dev/shm")
    task = parse_volume_mounts("team-data(pvc-share):/mnt;8G(memory):/dev/shm;cfg(configmap):/etc/cfg")
    merged = merge_mounts(project, task)
    # the later layer wins for a path; each path keeps its first position
    assert format_volume_mounts(merged) == "team-data(pvc-share):/mnt,8G(memory):/dev/shm,cfg(configmap):/etc/cfg"
    # the other way round the project wins
    assert format_volume_mounts(merge_mounts(task, project)) == "kubeflow-user-workspace(pvc):/mnt,4G(memory):/dev/shm,cfg(configmap):/etc/cfg"
    # normalised paths are the same path
    assert merge_mounts(parse_volume_mounts("a(pvc):/mnt/"), parse_volume_mounts("b(pvc):/mnt")) == parse_volume_mounts("b(pvc):/mnt")
    assert merge_mounts() == []
    assert merge_mounts(project, []) == project
    # inputs are not modified
    assert format_volume_mounts(project) == "kubeflow-user-workspace(pvc):/mnt,4G(memory):/dev/shm"


@pytest.mark.parametrize("kind_text", ["/data(hostpath):/data", "10.0.0.1/exp(nfs):/nfs"])
def test_admin_only_mount_kinds(kind_text):
    mounts = parse_volume_mounts("ws(pvc):/mnt," + kind_text)
    check_mount_permissions(mounts, is_admin=True)
    err = refused(check_mount_permissions, mounts, False, "settings.volume_mount", field="settings.volume_mount",
                  bad="which only an admin may set")
    assert "(hostpath and nfs: admins only)" in err.accepted
    assert mounts[1].kind in err.message


@pytest.mark.parametrize("text", ["ws(pvc):/mnt", "d(pvc-share):/d", "4G(memory):/dev/shm", "c(configmap):/c", "s(secret):/s"])
def test_other_mount_kinds_are_for_everyone(text):
    check_mount_permissions(parse_volume_mounts(text), is_admin=False)


# ---------------------------------------------------------------- bounds


def test_bounds_are_the_largest_accepted_values():
    assert parse_cpu("1000000").limit == Decimal(1_000_000)
    assert parse_gpu("1024").count == 1024
    assert parse_gpu("0001").count == 1
    assert parse_bytes("1024P") == 2**60
    # a caller may set a tighter bound, and the message names it
    refused(parse_gpu, "9", "gpu", maximum=8, field="gpu", bad="'9' cards is more than 8 per request")
    refused(parse_bytes, "2G", "quota.memory", maximum=2**30, field="quota.memory", bad="'2G' is more than 1G")


def test_space_inside_memory_mount_size_refused():
    refused(parse_volume_mounts, "1 G(memory):/dev/shm", field="volume_mount", bad="'1 G' has a space inside", accepted=MOUNTS_ACCEPTED)
