"""The spawn form's model: every field good and bad, role limits, project quota."""

import re
from decimal import Decimal

import pytest

from cubelab_hub.domain.errors import FieldErrors
from cubelab_hub.domain.projects import settings_from_properties
from cubelab_spawner.form import options_from_formdata, render_form
from cubelab_spawner.profiles import (
    BuiltImage,
    Choice,
    Facts,
    KindSpec,
    Limits,
    Usage,
    kinds_from_config,
    limits_for_roles,
    parse_choice,
    usage_of,
)

KINDS = kinds_from_config(
    {
        "jupyterlab": {"images": ["jupyter/scipy:1", "jupyter/torch:2"], "free_image_pattern": r"registry\.example\.com/[a-z0-9/._-]+:[A-Za-z0-9._-]+"},
        "vscode": {"images": ["cubelab/vscode:1"]},
        "rstudio": {"images": ["rocker/rstudio:4"]},
    }
)


def facts(**kw):
    base = dict(
        projects={
            "public": settings_from_properties({}),
            "vision": settings_from_properties({"quota": {"cpu": "8", "memory": "16G", "gpu": "2"}}),
        },
        kinds=KINDS,
        limits=Limits(Decimal(4), 8 * 2**30, 1),
    )
    base.update(kw)
    return Facts(**base)


def errors_of(options, f=None):
    with pytest.raises(FieldErrors) as err:
        parse_choice(options, f or facts())
    return {e.field: e for e in err.value.errors}


def test_empty_options_give_defaults():
    choice = parse_choice({}, facts())
    assert choice.to_options() == {"project": "public", "kind": "jupyterlab", "image": "jupyter/scipy:1", "cpu": "1~2", "memory": "2G~4G", "gpu": "0"}


def test_full_choice_canonical_options():
    choice = parse_choice(
        {"project": "vision", "kind": "vscode", "image": "cubelab/vscode:1", "cpu": " 0.5~2 ", "memory": "1024M~4G", "gpu": "1(V100)"}, facts()
    )
    assert isinstance(choice, Choice)
    assert choice.to_options() == {"project": "vision", "kind": "vscode", "image": "cubelab/vscode:1", "cpu": "0.5~2", "memory": "1G~4G", "gpu": "1(V100)"}
    assert choice.usage() == Usage(Decimal(2), 4 * 2**30, 1)


@pytest.mark.parametrize("cpu", ["2", "0.5", "1~4", 2, "0.001"])
def test_cpu_good(cpu):
    assert parse_choice({"cpu": cpu}, facts()).cpu.limit <= 4


@pytest.mark.parametrize("cpu,part", [("two", "'two'"), ("4~1", "request 4"), ("0", "more than 0"), ("1~2~3", "more than one"), ("-1", "'-1'"), ("0.0001", "thousandth")])
def test_cpu_bad(cpu, part):
    e = errors_of({"cpu": cpu})["cpu"]
    assert part in e.message and "1~4" in e.accepted


@pytest.mark.parametrize("memory", ["4G", "512M", "1G~8G", "1.5G"])
def test_memory_good(memory):
    parse_choice({"memory": memory}, facts())


@pytest.mark.parametrize("memory", ["4GB~", "lots", "8G~1G", "0", "4X"])
def test_memory_bad(memory):
    e = errors_of({"memory": memory})["memory"]
    assert "512M" in e.accepted


@pytest.mark.parametrize("gpu,count", [("0", 0), ("1", 1), ("1(V100)", 1), ("1(nvidia,A100)", 1)])
def test_gpu_good(gpu, count):
    assert parse_choice({"gpu": gpu}, facts()).gpu.count == count


@pytest.mark.parametrize("gpu", ["0.5", "one", "1()", "0(V100)", "1(a,b,c)", "-1"])
def test_gpu_bad(gpu):
    e = errors_of({"gpu": gpu})["gpu"]
    assert "2(V100)" in e.accepted


def test_gpu_vendor_must_be_mapped():
    e = errors_of({"gpu": "1(huawei,910)"}, facts(gpu_vendors=frozenset({"nvidia", "amd"})))["gpu"]
    assert "huawei" in e.message and e.accepted == "vendors amd, nvidia"


def test_project_must_be_a_membership():
    e = errors_of({"project": "secret-team"})["project"]
    assert "not a member of project 'secret-team'" in e.message
    assert e.accepted == "one of your projects: public, vision"


def test_project_on_unknown_cluster_is_refused():
    projects = {"public": settings_from_properties({}), "far": settings_from_properties({"cluster": "gpu-farm"})}
    e = errors_of({"project": "far"}, facts(projects=projects, clusters=frozenset({"default"})))["project"]
    assert "gpu-farm" in e.message and "default" in e.accepted


def test_kind_unknown_and_unavailable():
    assert "'matlab' is not a kind" in errors_of({"kind": "matlab"})["kind"].message
    kinds = {"jupyterlab": KindSpec("jupyterlab", "JupyterLab", "/lab"), "vscode": KindSpec("vscode", "VS Code", "/vscode/", available=False, unavailable_reason="code-server is not installed: npm i ...")}
    e = errors_of({"kind": "vscode"}, facts(kinds=kinds))["kind"]
    assert "code-server is not installed" in e.message and e.accepted == "one of jupyterlab"


def test_image_listed_free_and_refused():
    assert parse_choice({"image": "jupyter/torch:2"}, facts()).image == "jupyter/torch:2"
    assert parse_choice({"image": "registry.example.com/team/img:v1"}, facts()).image == "registry.example.com/team/img:v1"
    e = errors_of({"image": "evil.io/miner:latest"})["image"]
    assert "not offered for JupyterLab" in e.message and "jupyter/scipy:1" in e.accepted and "registry" in e.accepted
    # a vscode image is not a JupyterLab image; no free pattern for vscode
    assert "image" in errors_of({"kind": "vscode", "image": "jupyter/scipy:1"})
    assert "image" in errors_of({"kind": "vscode", "image": "registry.example.com/team/img:v1"})


BUILT = {
    "vision": (BuiltImage("127.0.0.1:5000/vision/trainer:v2", "sha256:" + "ab" * 32), BuiltImage("127.0.0.1:5000/vision/trainer:v1", None)),
}
REGISTRIES = frozenset({"127.0.0.1:5000", "registry.example.com"})


def test_images_built_in_the_project_are_accepted_and_another_projects_refused():
    f = facts(built_images=BUILT, image_registries=REGISTRIES)
    assert parse_choice({"project": "vision", "image": "127.0.0.1:5000/vision/trainer:v2"}, f).image == "127.0.0.1:5000/vision/trainer:v2"
    # the project's own repository: a tag newer than the list is accepted too, for every kind that takes an image
    assert parse_choice({"project": "vision", "kind": "vscode", "image": "127.0.0.1:5000/vision/code:9"}, f).image == "127.0.0.1:5000/vision/code:9"
    # another project's repository: refused, named at the field, even where the free pattern would allow it
    e = errors_of({"project": "public", "image": "127.0.0.1:5000/vision/trainer:v2"}, f)["image"]
    assert "project 'vision''s repository" in e.message and "project 'public'" in e.message
    assert "an image built in project public" in e.accepted
    e = errors_of({"project": "public", "image": "registry.example.com/vision/img:v1"}, f)["image"]
    assert "project 'vision''s repository" in e.message
    # a listed built image of a registry the platform does not split by project is the project's only
    pushed = facts(built_images={"vision": (BuiltImage("harbor.example.com/vision/app:1", None),)})
    assert parse_choice({"project": "vision", "image": "harbor.example.com/vision/app:1"}, pushed).image == "harbor.example.com/vision/app:1"
    assert "image" in errors_of({"project": "public", "image": "harbor.example.com/vision/app:1"}, pushed)


def test_form_offers_the_chosen_projects_built_images_with_digests_and_the_note():
    html = render_form(facts(built_images=BUILT, image_registries=REGISTRIES, built_images_note="Images built in x are not listed"),
                       {"project": "vision", "image": "127.0.0.1:5000/vision/trainer:v1"})
    assert 'data-project="vision"' in html and "JupyterLab: built in vision" in html
    assert '<option value="127.0.0.1:5000/vision/trainer:v2" title="sha256:abab' in html
    assert "127.0.0.1:5000/vision/trainer:v2 (sha256:abababababab...)" in html
    assert '<option value="127.0.0.1:5000/vision/trainer:v1" selected' in html
    assert 'id="cubelab-image-custom" placeholder="or another image" value=""' in html  # a listed image is not a custom one
    assert "cubelab-built-note" in html and "Images built in x are not listed" in html
    # a project the user is not in is never offered
    assert 'data-project="secret"' not in render_form(facts(built_images={"secret": BUILT["vision"]}), {})


def test_image_refused_where_kinds_take_none():
    kinds = {"jupyterlab": KindSpec("jupyterlab", "JupyterLab", "/lab")}
    assert parse_choice({}, facts(kinds=kinds)).image is None
    assert "leave empty" == errors_of({"image": "x:1"}, facts(kinds=kinds))["image"].accepted


def test_unknown_and_non_text_options():
    errors = errors_of({"profile": "big", "cpu": ["1", "2"]})
    assert "profile" in errors and "cpu" in errors
    assert "must be text" in errors["cpu"].message


def test_role_limits_refuse_not_reduce():
    errors = errors_of({"cpu": "1~8", "memory": "16G", "gpu": "2"})
    assert "your role allows 4 per server" in errors["cpu"].message and errors["cpu"].accepted.startswith("at most 4 cores")
    assert "your role allows 8G per server" in errors["memory"].message
    assert "your role allows 1 per server" in errors["gpu"].message


def test_project_quota_counts_other_running_servers():
    used = {"vision": Usage(Decimal(7), 15 * 2**30, 2)}
    errors = errors_of({"project": "vision", "cpu": "2", "memory": "2G", "gpu": "1"}, facts(usage=used))
    assert "quota of 8 cores and its running servers and tasks use 7" in errors["cpu"].message and errors["cpu"].accepted == "at most 1 cores"
    assert errors["memory"].accepted == "at most 1G"
    assert errors["gpu"].accepted == "at most 0 card(s)"
    # within quota: fine; public has no quota
    parse_choice({"project": "vision", "cpu": "1", "memory": "1G", "gpu": "0"}, facts(usage=used))
    parse_choice({"project": "public", "cpu": "4"}, facts(usage=used))


def test_local_gpu_count():
    e = errors_of({"gpu": "1"}, facts(gpus_available=0))["gpu"]
    assert "this machine has 0" in e.message and "no GPU" in e.accepted
    assert parse_choice({"gpu": "1"}, facts(gpus_available=1)).gpu.count == 1


def test_limits_for_roles():
    config = {"user": {"cpu": "4", "memory": "8G", "gpu": 0}, "gpu-users": {"gpu": 2}, "admin": {}}
    assert limits_for_roles(config, ["user"]) == Limits(Decimal(4), 8 * 2**30, 0)
    # most generous across held roles; missing key = no limit
    assert limits_for_roles(config, ["user", "gpu-users"]) == Limits(None, None, 2)
    assert limits_for_roles(config, ["user", "admin"]) == Limits()
    assert limits_for_roles({}, ["user"]) == Limits()
    assert limits_for_roles({"admin": {}}, ["user"]) == Limits(Decimal(0), 0, 0)
    with pytest.raises(ValueError):
        limits_for_roles({"user": {"disk": "1"}}, ["user"])


def test_usage_of_stored_options():
    assert usage_of({"cpu": "1~2", "memory": "1G~4G", "gpu": "1"}) == Usage(Decimal(2), 4 * 2**30, 1)
    assert usage_of({"cpu": "bogus"}) == Usage()
    assert usage_of(None) == Usage()


def test_kinds_config_errors():
    with pytest.raises(ValueError):
        kinds_from_config({"matlab": {}})
    with pytest.raises(ValueError):
        kinds_from_config({"jupyterlab": {"imgs": []}})
    with pytest.raises(re.error):
        kinds_from_config({"jupyterlab": {"free_image_pattern": "("}})


def test_formdata_to_options():
    assert options_from_formdata({"project": ["vision"], "cpu": ["2"], "_xsrf": ["x"], "image": ["jupyter/scipy:1"], "image_custom": [""]}) == {
        "project": "vision",
        "cpu": "2",
        "image": "jupyter/scipy:1",
    }
    assert options_from_formdata({"image": ["a"], "image_custom": ["registry.example.com/x:1"]})["image"] == "registry.example.com/x:1"
    with pytest.raises(FieldErrors):
        options_from_formdata({"cpu": ["1", "2"]})


def test_form_offers_only_given_projects_and_escapes():
    f = facts(projects={"public": settings_from_properties({}), "a<b": settings_from_properties({})})
    html = render_form(f, {"project": "a<b", "cpu": '"><script>x</script>'}, {"a<b": "creator"})
    assert '<option value="a&lt;b" selected>a&lt;b (creator)</option>' in html
    assert "vision" not in html
    assert "<script>x</script>" not in html and "&lt;script&gt;x" in html
    assert 'value="jupyterlab" checked' in html


def test_form_shows_limits_quota_and_errors():
    from cubelab_hub.domain.errors import FieldError

    html = render_form(facts(usage={"vision": Usage(Decimal(6), 0, 0)}), {"project": "vision"}, errors=[FieldError("cpu", "too much", "at most 2 cores")])
    assert "your role: at most 4 per server; project quota left: 2" in html
    assert 'data-field="cpu">cpu: too much (accepted: at most 2 cores)</div>' in html
    assert 'name="image_custom"' in html


@pytest.mark.parametrize("name", ["project", "kind", "image", "cpu", "memory", "gpu"])
@pytest.mark.parametrize("blank", ["", "  ", "\t\n"])
def test_blank_value_refused_not_replaced_by_the_default(name, blank):
    # a cleared form field is what the user typed: starting with the default would hide it
    errors = errors_of({name: blank})
    assert errors[name].message == "is blank" and errors[name].accepted
    assert str(errors[name]).startswith(f"{name}: is blank (accepted: ")


def test_absent_or_null_option_takes_the_default():
    assert parse_choice({"cpu": None, "gpu": None}, facts()).to_options()["cpu"] == "1~2"


@pytest.mark.parametrize(
    "options,field,needle",
    [
        ({"memory": "1 G"}, "memory", "'1 G' has a space inside"),
        ({"memory": "99999999999999999999T"}, "memory", "is more than 1024P"),
        ({"cpu": "1 0"}, "cpu", "'1 0' has a space inside"),
        ({"gpu": "9999999999999999999"}, "gpu", "is more than 1024 per request"),
    ],
)
def test_wrong_resources_refused_by_the_parsers(options, field, needle):
    # with no role limits and no machine count, only the parser stands between the value and a spawn
    errors = errors_of(options, facts(limits=Limits()))
    assert needle in errors[field].message
