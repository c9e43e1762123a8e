"""Services in the domain: every field parsed strictly, every rule, every error naming its field."""

import pytest

from cubelab_hub.domain.errors import FieldErrors
from cubelab_hub.domain.formats import parse_cpu
from cubelab_hub.domain.services import (
    HttpHealthCheck,
    ShellHealthCheck,
    default_host,
    environment_host,
    inference_env,
    inference_name,
    normalize_domain,
    service_from_dict,
    service_host,
    version_digits,
    workload_name,
)

DOMAIN = "*.svc.example.com"


def internal(**extra):
    data = {"project": "team-a", "name": "phpmyadmin", "owner": "alice", "image": "phpmyadmin:5.2"}
    data.update(extra)
    return data


def inference(**extra):
    data = {
        "kind": "inference",
        "project": "team-a",
        "owner": "alice",
        "serving_type": "sklearn",
        "model_name": "iris",
        "model_version": "v2024.01.01.1",
        "model_path": "models/iris.joblib",
    }
    data.update(extra)
    return data


def errors_of(data, **kwargs):
    with pytest.raises(FieldErrors) as err:
        service_from_dict(data, DOMAIN, **kwargs)
    return {e.field: str(e) for e in err.value.errors}


def error_of(data, field, **kwargs):
    found = errors_of(data, **kwargs)
    assert field in found, found
    # every message names its field and says what is accepted
    assert found[field].startswith(f"{field}: ") and "(accepted: " in found[field]
    return found[field]


# ---------------------------------------------------------------- a whole service


def test_internal_service_with_every_field():
    service = service_from_dict(
        internal(
            command="php-fpm -F",
            args="--listen '0.0.0.0:80'",
            workdir="/srv/app/",
            env="PMA_HOST=10.0.0.9\n# a comment\nPMA_PORT=3306",
            ports="80,8080",
            volume_mount="kubeflow-user-workspace(pvc):/mnt,4G(memory):/dev/shm",
            node_selector="disk=ssd",
            cpu="0.5~2",
            memory="1G~4G",
            gpu="1(V100)",
            health="8080:/healthz",
            min_replicas=2,
            max_replicas="5",
            hpa="cpu:50%,mem:60,gpu:70%",
            host="admin.team-a.svc.example.com",
            canary="phpmyadmin-next:20%,phpmyadmin-old:30%",
            mirror="phpmyadmin-shadow:10%",
            expose="public",
        ),
        DOMAIN,
    )
    assert service.command == ("sh", "-c", "php-fpm -F")
    assert service.args == ("--listen", "0.0.0.0:80")
    assert service.workdir == "/srv/app"
    assert service.env == {"PMA_HOST": "10.0.0.9", "PMA_PORT": "3306"}
    assert service.ports == (80, 8080)
    assert [str(m) for m in service.volume_mounts] == ["kubeflow-user-workspace(pvc):/mnt", "4G(memory):/dev/shm"]
    assert service.node_selector == {"disk": "ssd"}
    assert service.cpu == parse_cpu("0.5~2") and str(service.memory) == "1G~4G" and service.gpu.type == "V100"
    assert service.health == HttpHealthCheck(8080, "/healthz")
    assert (service.min_replicas, service.max_replicas, service.autoscaled) == (2, 5, True)
    assert service.hpa == {"cpu": 50, "mem": 60, "gpu": 70}
    assert service.canary == {"phpmyadmin-next": 20, "phpmyadmin-old": 30} and service.local_share == 50
    assert service.mirror == ("phpmyadmin-shadow", 10)
    assert service.expose == "public" and service.host == "admin.team-a.svc.example.com"
    # the user forms come back and parse to the same service
    assert service_from_dict(service.to_dict(), DOMAIN) == service


def test_defaults_follow_cube_studio():
    service = service_from_dict(internal(), DOMAIN)
    assert (service.kind, service.expose, service.ports) == ("internal", "project", (80,))
    assert (str(service.cpu), str(service.memory), str(service.gpu)) == ("1", "2G", "0")
    assert (service.min_replicas, service.max_replicas, service.hpa, service.health) == (1, 1, {}, None)
    assert service.environment == "prod" and not service.is_inference


def test_a_command_without_an_image_runs_on_one_machine():
    service = service_from_dict(internal(image="", command=["python", "-m", "http.server", "8000"], ports=[8000]), DOMAIN)
    assert service.image == "" and service.command == ("python", "-m", "http.server", "8000")


def test_every_problem_is_reported_at_once():
    found = errors_of(
        {
            "project": "X",
            "name": "-a",
            "owner": "A",
            "ports": "0",
            "cpu": "lots",
            "health": "http",
            "hpa": "disk:5%",
            "canary": "b:120%",
            "mirror": "c",
            "expose": "world",
            "bogus": 1,
        }
    )
    assert set(found) == {"project", "name", "owner", "ports", "cpu", "health", "hpa", "canary", "mirror", "expose", "bogus", "image"}


def test_not_an_object():
    assert errors_of(["x"]) == {"service": "service: must be an object (accepted: {project, name, owner, image, ports, ...})"}


# ---------------------------------------------------------------- fields one by one


@pytest.mark.parametrize(
    ("field", "value", "part"),
    [
        ("name", "Admin", "'Admin' is not a valid service name"),
        ("name", "a" * 61, "is not a valid service name"),
        ("name", "1abc", "'1abc' is not a valid service name"),
        ("project", "Team A", "'Team A' is not a valid project name"),
        ("owner", "", "'' is not a user name"),
        ("kind", "batch", "'batch' is not a kind of service"),
        ("image", "my image", "'my image' is not an image reference"),
        ("image", "Upper/Case", "'Upper/Case' is not an image reference"),
        ("command", 5, "must be text or a list, got int"),
        ("command", ["a", 1], "item 1 is int, not text"),
        ("args", "'unbalanced", "cannot be split"),
        ("workdir", "relative/dir", "'relative/dir' is not an absolute path"),
        ("workdir", "/a/../b", "is not an absolute path without '..'"),
        ("env", "NO_EQUALS", "has no '='"),
        ("env", "A=1\nA=2", "'A' is set twice"),
        ("ports", "", "is empty"),
        ("ports", "80,80", "port 80 is given twice"),
        ("ports", "65536", "65536 is outside 1..65535"),
        ("ports", "http", "'http' is not a port number"),
        ("ports", ",".join(str(p) for p in range(1000, 1021)), "21 ports is more than 20"),
        ("volume_mount", "data(bucket):/x", "unknown type 'bucket'"),
        ("node_selector", "disk", "'disk' has no '='"),
        ("cpu", "2~1", "request 2 is more than limit 1"),
        ("memory", "1 G", "has a space inside"),
        ("gpu", "0.5", "a fraction of a card"),
        ("health", "8080", "'8080' has no ':'"),
        ("health", "80:healthz", "'healthz' is not a URL path starting with '/'"),
        ("health", "99999:/h", "port 99999 is outside 1..65535"),
        ("health", "shell:", "names no command"),
        ("health", "tcp:80", "'tcp' is neither a port number nor 'shell'"),
        ("min_replicas", 0, "0 is outside 1..1000"),
        ("max_replicas", "many", "'many' is not a whole number"),
        ("max_replicas", True, "True is not a whole number"),
        ("hpa", "cpu50%", "'cpu50%' has no ':'"),
        ("hpa", "disk:50%", "'disk' is not a metric"),
        ("hpa", "cpu:0%", "0% is outside 1..1000%"),
        ("hpa", "cpu:half", "'half' is not a whole percent"),
        ("hpa", "cpu:50%,cpu:60%", "metric 'cpu' is given twice"),
        ("canary", "svc-a", "'svc-a' has no ':'"),
        ("canary", ":20%", "names no service before ':'"),
        ("canary", "Svc:20%", "'Svc' is not a service name"),
        ("canary", "a:20%,a:30%", "service 'a' is given twice"),
        ("canary", "a:0%", "0% is outside 1..100%"),
        ("mirror", "a:20%,b:10%", "names 2 services; copies go to one"),
        ("mirror", "a:120%", "120% is outside 1..100%"),
        ("expose", "everyone", "'everyone' is not one of project, public"),
        ("host", "http://x.svc.example.com", "is a URL; give the host name only"),
        ("host", "a_b.svc.example.com", "is not a host name"),
        ("host", 5, "must be text, got int"),
    ],
)
def test_each_field_names_itself_and_the_bad_part(field, value, part):
    data = internal(**{field: value, "max_replicas": 3} if field in ("hpa", "min_replicas") else {field: value})
    message = error_of(data, field)
    assert part in message


def test_unknown_fields_and_inference_fields_on_an_internal_service():
    found = errors_of(internal(replicas=3, model_name="iris"))
    assert "is not a field of an internal service" in found["replicas"]
    assert "(inference services only)" in found["model_name"]


def test_host_and_nfs_mounts_are_an_admins():
    data = internal(volume_mount="/data(hostpath):/data")
    assert "only an admin may set" in error_of(data, "volume_mount")
    assert service_from_dict(data, DOMAIN, is_admin=True).volume_mounts[0].kind == "hostpath"


def test_something_to_run():
    assert "neither image nor command" in error_of(internal(image=""), "image")


# ---------------------------------------------------------------- rules across fields


def test_splits_adding_up_to_more_than_100_percent_are_refused():
    assert "add up to 110%, more than 100%" in error_of(internal(canary="a:60%,b:50%"), "canary")
    assert service_from_dict(internal(canary="a:60%,b:40%"), DOMAIN).local_share == 0


def test_a_split_or_mirror_naming_the_service_itself_is_refused():
    assert "'phpmyadmin' is this service" in error_of(internal(canary="phpmyadmin:20%"), "canary")
    assert "'phpmyadmin' is this service; copies go to another one" in error_of(internal(mirror="phpmyadmin:20%"), "mirror")


def test_custom_hosts_must_lie_under_the_wildcard_domain():
    assert "'admin.example.org' is not under the service domain 'svc.example.com'" in error_of(internal(host="admin.example.org"), "host")
    # the domain itself, and a name that merely ends in the same letters, are not under it
    error_of(internal(host="svc.example.com"), "host")
    error_of(internal(host="evilsvc.example.com"), "host")
    assert service_from_dict(internal(host="A.b.SVC.example.com"), DOMAIN).host == "a.b.svc.example.com"


def test_a_gpu_rule_needs_a_gpu():
    message = error_of(internal(hpa="cpu:50%,gpu:50%", max_replicas=3), "hpa")
    assert "a 'gpu' rule on a service without a GPU" in message
    assert service_from_dict(internal(hpa="gpu:50%", max_replicas=3, gpu="1"), DOMAIN).hpa == {"gpu": 50}


def test_min_at_most_max():
    assert "2 is less than min_replicas 3" in error_of(internal(min_replicas=3, max_replicas=2), "max_replicas")
    # max defaults to min
    service = service_from_dict(internal(min_replicas=3), DOMAIN)
    assert (service.min_replicas, service.max_replicas) == (3, 3)


def test_an_hpa_rule_only_with_room_to_scale():
    message = error_of(internal(hpa="cpu:50%", min_replicas=2, max_replicas=2), "hpa")
    assert "needs max_replicas above min_replicas (both are 2)" in message
    assert service_from_dict(internal(min_replicas=2, max_replicas=2), DOMAIN).hpa == {}


def test_memory_is_also_spelled_memory():
    assert service_from_dict(internal(hpa="memory:40%;cpu:80", max_replicas=2), DOMAIN).hpa == {"mem": 40, "cpu": 80}


# ---------------------------------------------------------------- inference services


def test_inference_name_is_generated_from_type_model_and_version_digits():
    service = service_from_dict(inference(), DOMAIN)
    assert service.name == "sklearn-iris-202401011"
    assert (service.serving_type, service.model_name, service.model_version, service.model_path) == (
        "sklearn",
        "iris",
        "v2024.01.01.1",
        "models/iris.joblib",
    )
    assert service.environment == "prod" and service.is_inference
    assert service_from_dict(service.to_dict(), DOMAIN) == service


def test_a_given_inference_name_is_checked():
    assert service_from_dict(inference(name="sklearn-iris-202401011"), DOMAIN).name == "sklearn-iris-202401011"
    message = error_of(inference(name="iris"), "name")
    assert "'iris' does not follow" in message and "'sklearn-iris-202401011'" in message


def test_inference_names_are_at_most_60_characters():
    model = "m" * 40
    message = error_of(inference(model_name=model, model_version="2024.01.01.123456"), "model_name")
    assert "is 60 characters" not in message and "more than 60" in message and "shorten model_name or model_version" in message
    # exactly 60 is fine: 'sklearn-' (8) + 40 + '-' + 11 digits
    assert len(service_from_dict(inference(model_name=model, model_version="v12345678901"), DOMAIN).name) == 60
    assert "more than 60" in error_of(inference(model_name=model, model_version="2024.01.01.123456", name="x"), "name")


@pytest.mark.parametrize(
    ("field", "value", "part"),
    [
        ("serving_type", "", "is missing"),
        ("serving_type", "pytorch", "'pytorch' is not a serving type"),
        ("model_name", "Iris", "'Iris' is not a valid model name"),
        ("model_version", "latest", "'latest' is not a version with digits"),
        ("model_version", None, "is missing"),
        ("model_path", "../secret", "contains '..'"),
        ("model_path", "ftp://host/m", "uses a URL scheme other than"),
        ("model_path", "", "is missing; a 'sklearn' service serves the model found there"),
        ("environment", "staging", "'staging' is not one of debug, test, prod"),
        ("env", "KUBEFLOW_ENV=prod", "'KUBEFLOW_ENV' is set by the platform"),
        ("env", "K8S_POD_NAME=x", "'K8S_POD_NAME' is set by the platform"),
    ],
)
def test_inference_fields(field, value, part):
    assert part in error_of(inference(**{field: value}), field)


def test_custom_inference_services_run_their_own_image_or_command():
    assert "needs an image or a command" in error_of(inference(serving_type="custom", model_path=""), "image")
    service = service_from_dict(inference(serving_type="custom", model_path="", image="team/server:1"), DOMAIN)
    assert service.name == "custom-iris-202401011"


def test_serving_types_are_configurable():
    service = service_from_dict(inference(serving_type="triton"), DOMAIN, serving_types=("triton", "custom"))
    assert service.name == "triton-iris-202401011"
    assert "one of triton, custom" in errors_of(inference(), serving_types=("triton", "custom"))["serving_type"]


# ---------------------------------------------------------------- hosts, names, env


def test_hosts_follow_cube_studio():
    assert normalize_domain("*.SVC.example.com") == normalize_domain("svc.example.com") == "svc.example.com"
    assert default_host("phpmyadmin", DOMAIN) == "phpmyadmin.svc.example.com"
    assert environment_host("iris.svc.example.com", "prod") == "iris.svc.example.com"
    assert environment_host("iris.svc.example.com", "test") == "test.iris.svc.example.com"
    assert environment_host("iris.svc.example.com", "debug") == "debug.iris.svc.example.com"
    service = service_from_dict(inference(), DOMAIN)
    assert [service_host(service, DOMAIN, env) for env in ("debug", "test", "prod")] == [
        "debug.sklearn-iris-202401011.svc.example.com",
        "test.sklearn-iris-202401011.svc.example.com",
        "sklearn-iris-202401011.svc.example.com",
    ]
    custom = service_from_dict(inference(host="iris.svc.example.com", environment="test"), DOMAIN)
    assert service_host(custom, DOMAIN) == "test.iris.svc.example.com"
    with pytest.raises(ValueError):
        normalize_domain("not a domain")
    with pytest.raises(ValueError):
        environment_host("a.b", "staging")


def test_workload_names_fit_kubernetes():
    assert workload_name("iris", "prod") == "iris" and workload_name("iris", "debug") == "debug-iris"
    long = "sklearn-" + "m" * 52  # 60 characters
    debug, test = workload_name(long, "debug"), workload_name(long, "test")
    assert len(debug) <= 63 and len(test) <= 63 and debug != test and debug.startswith("debug-sklearn-")
    assert workload_name(long, "debug") == debug  # stable


def test_version_digits_and_names():
    assert version_digits("v2024.01.01.1") == "202401011"
    assert inference_name("onnx", "resnet", "1.0") == "onnx-resnet-10"


def test_inference_env_uses_cube_studios_names():
    service = service_from_dict(inference(image="team/serve:1", environment="test"), DOMAIN)
    assert inference_env(service, "local") == {
        "KUBEFLOW_ENV": "test",
        "KUBEFLOW_MODEL_PATH": "models/iris.joblib",
        "KUBEFLOW_MODEL_VERSION": "v2024.01.01.1",
        "KUBEFLOW_MODEL_IMAGES": "team/serve:1",
        "KUBEFLOW_MODEL_NAME": "iris",
        "KUBEFLOW_AREA": "local",
    }
    assert inference_env(service, "gpu-cluster", "prod")["KUBEFLOW_ENV"] == "prod"
    assert inference_env(service_from_dict(internal(), DOMAIN), "local") == {}


def test_shell_health_check():
    service = service_from_dict(internal(health="shell: curl -fs localhost/ping"), DOMAIN)
    assert service.health == ShellHealthCheck("curl -fs localhost/ping")
    assert str(service.health) == "shell:curl -fs localhost/ping"
