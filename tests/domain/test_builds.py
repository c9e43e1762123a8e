"""Image builds in the domain: the request parsed strictly (every error naming its
field), buildah's argv (no shell, build args as single items, the layer cache),
buildah's output read for cache hits and an unreachable base image."""

import json

import pytest

from cubelab_hub.domain.builds import (
    BuildahPaths,
    BuildOutput,
    build_request_from_dict,
    buildah_build_argv,
    buildah_push_argv,
    buildah_rm_all_argv,
    image_facts,
    image_reference,
    registry_auth_file,
    unreachable_base_message,
)
from cubelab_hub.domain.errors import FieldErrors

PATHS = BuildahPaths(root="/s/root", runroot="/s/run", dockerfile="/b/7/Dockerfile", context="/w/alice/ctx", iidfile="/b/7/iid")


def fields_of(body) -> dict[str, str]:
    with pytest.raises(FieldErrors) as info:
        build_request_from_dict(body)
    return {e.field: str(e) for e in info.value.errors}


def test_a_minimal_request_gets_the_defaults():
    r = build_request_from_dict({"project": "ml", "image": "trainer", "dockerfile": "FROM scratch\n"})
    assert r.tags == ("latest",) and r.context == "." and r.build_args == {}
    assert r.cpu == 2 and r.memory == 4 * 2**30 and r.timeout == 3600
    assert r.references("127.0.0.1:5000") == ["127.0.0.1:5000/ml/trainer:latest"]
    assert r.to_dict()["timeout"] == "1h" and r.to_dict()["memory"] == "4G"


def test_a_full_request_round_trips():
    body = {"project": "ml", "image": "py311-base", "tags": ["v1", "latest", "v1"], "dockerfile_path": "./images//base/Dockerfile",
            "context": "images/base/", "build_args": {"PIP_INDEX": "https://x y", "N": 3}, "cpu": "0.5", "memory": "512M", "timeout": "10m"}
    r = build_request_from_dict(body)
    assert r.tags == ("v1", "latest") and r.dockerfile_path == "images/base/Dockerfile" and r.context == "images/base"
    assert r.build_args == {"PIP_INDEX": "https://x y", "N": "3"} and r.timeout == 600 and r.memory == 512 * 2**20
    assert build_request_from_dict(r.to_dict()) == r


def test_every_bad_field_is_named_at_once():
    errors = fields_of({"project": "Bad_Name", "image": "Trainer", "tags": ["ok", ".hidden"], "dockerfile": "FROM scratch",
                        "dockerfile_path": "Dockerfile", "context": "../../etc", "build_args": {"1X": "a"}, "cpu": "lots",
                        "memory": "4Q", "timeout": "2d", "push": True})
    assert set(errors) == {"push", "project", "image", "tags[1]", "dockerfile", "context", "build_args.1X", "cpu", "memory", "timeout"}
    assert "exactly one of 'dockerfile' and 'dockerfile_path'" in errors["dockerfile"]
    assert "leaves your workspace" in errors["context"]


@pytest.mark.parametrize("path", ["/etc/passwd", "~/x", "a/../../b", "..", "a\nb", ""])
def test_paths_stay_in_the_workspace(path):
    assert "dockerfile_path" in fields_of({"project": "ml", "image": "x", "dockerfile_path": path})


def test_no_dockerfile_at_all_names_the_field():
    assert "accepted: the Dockerfile's text" in fields_of({"project": "ml", "image": "x"})["dockerfile"]


def test_not_an_object():
    assert set(fields_of(["x"])) == {"build"}


def test_argv_has_no_shell_and_each_build_arg_is_one_item():
    r = build_request_from_dict({"project": "ml", "image": "app", "tags": ["1", "latest"], "dockerfile": "FROM scratch",
                                 "build_args": {"GREETING": "hi; rm -rf / $(id)", "B": "--squash"}})
    argv = buildah_build_argv(r, "127.0.0.1:5000", PATHS, buildah="/usr/bin/buildah")
    assert argv == [
        "/usr/bin/buildah", "--root", "/s/root", "--runroot", "/s/run", "--storage-driver", "vfs",
        "bud", "--isolation", "chroot", "--layers", "--pull=missing", "--iidfile", "/b/7/iid", "-f", "/b/7/Dockerfile",
        "-t", "127.0.0.1:5000/ml/app:1", "-t", "127.0.0.1:5000/ml/app:latest",
        "--build-arg", "GREETING=hi; rm -rf / $(id)", "--build-arg", "B=--squash", "--", "/w/alice/ctx",
    ]
    assert buildah_rm_all_argv("buildah", PATHS) == ["buildah", "--root", "/s/root", "--runroot", "/s/run", "--storage-driver", "vfs",
                                                     "rm", "--all"]
    assert image_reference("reg:5000/", "ml", "app", "v1") == "reg:5000/ml/app:v1"


REBUILD = """\
STEP 1/3: FROM 127.0.0.1:5000/ml/base:1
STEP 2/3: COPY app.py /app.py
--> Using cache 3c9a9e7f34733a14b54e652338471d2da99f905e27c9d37cd24b281da9801c0b
--> 3c9a9e7f347
STEP 3/3: RUN echo built > /stamp
COMMIT 127.0.0.1:5000/ml/app:1
--> 91f0c2aa11b
Successfully tagged 127.0.0.1:5000/ml/app:1
"""


def test_output_counts_cache_hits_and_says_which_steps():
    out = BuildOutput()
    for line in REBUILD.splitlines(keepends=True):
        out.feed(line)
    assert out.total_steps == 3 and len(out.steps) == 3
    assert out.cached == ["STEP 2/3: COPY app.py /app.py"]
    assert out.cache_summary() == "reused 1 of 3 steps from the layer cache: STEP 2/3: COPY app.py /app.py"
    assert out.unreachable is None
    fresh = BuildOutput()
    fresh.feed("STEP 1/1: FROM scratch\n")
    assert fresh.cache_summary() == "no step was reused from the layer cache (1 built)"
    assert BuildOutput().cache_summary() == "no step ran"


def test_an_unreachable_base_is_recognised_with_its_registry():
    out = BuildOutput()
    out.feed("STEP 1/2: FROM debian:12\n")
    out.feed("Resolved \"debian\" as an alias (/etc/containers/registries.conf.d/shortnames.conf)\n")
    out.feed('Error: creating build container: initializing source docker://debian:12: pinging container registry '
             'registry-1.docker.io: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.0.0.53:53: '
             "no such host\n")
    assert out.unreachable == ("debian:12", "registry-1.docker.io", "no such host")
    other = BuildOutput()
    other.feed("STEP 1/1: FROM example.org:5000/x/y:1\n")
    other.feed("Error: pinging container registry example.org:5000: Get ...: dial tcp 1.2.3.4:5000: connect: connection refused\n")
    assert other.unreachable == ("example.org:5000/x/y:1", "example.org:5000", "connection refused")


def test_the_unreachable_message_lists_what_can_be_used_instead():
    text = unreachable_base_message("debian:12", "registry-1.docker.io", "no such host", "127.0.0.1:5000", "ml",
                                    ["127.0.0.1:5000/ml/base:1"], [])
    assert text.startswith("the base image 'debian:12' needs the registry registry-1.docker.io, which this machine cannot reach")
    assert "127.0.0.1:5000/ml/base:1" in text and "OCI archive" in text and "scratch" in text
    empty = unreachable_base_message("x", "r", "no such host", "127.0.0.1:5000", "ml", [], ["127.0.0.1:5000/library/debian:12"])
    assert "127.0.0.1:5000/ml/<image>:<tag>; none yet" in empty and "127.0.0.1:5000/library/debian:12" in empty


def test_image_facts_from_buildah_inspect():
    manifest = {"config": {"size": 492}, "layers": [{"size": 2274304}, {"size": 1000}]}
    text = json.dumps({"FromImageDigest": "sha256:71d5", "Manifest": json.dumps(manifest)})
    assert image_facts(text) == ("sha256:71d5", 492 + 2274304 + 1000)
    assert image_facts("not json") == (None, None)


def test_push_argv_keeps_the_credential_in_a_file():
    argv = buildah_push_argv("buildah", PATHS, "b08a65ff", "127.0.0.1:5000/ml/app:1", "/b/7/auth.json", "/b/7/digest", tls_verify=False)
    assert argv[7:] == ["push", "--authfile", "/b/7/auth.json", "--digestfile", "/b/7/digest", "--tls-verify=false", "b08a65ff",
                        "docker://127.0.0.1:5000/ml/app:1"]
    auth = json.loads(registry_auth_file("127.0.0.1:5000", "cubelab-build.ml", "s3cret"))
    assert auth == {"auths": {"127.0.0.1:5000": {"auth": "Y3ViZWxhYi1idWlsZC5tbDpzM2NyZXQ="}}}
    assert "s3cret" not in " ".join(argv)
