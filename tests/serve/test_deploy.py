"""The deployment examples say what kdedge serve accepts: the Kubernetes manifest's command, run for real."""

from __future__ import annotations

import re
import shlex

import yaml

from kdedge.serve.config import NPM_ASSETS
from tests.serve.support import REPO, http, running_server

DEPLOY = REPO / "kdedge" / "serve" / "deploy"


def _manifest():
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    service = next(d for d in docs if d["kind"] == "Service")
    return deployment, service


def test_the_manifest_probes_readiness_and_routes_the_service_to_the_pods():
    deployment, service = _manifest()
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert service["spec"]["selector"] == pod["metadata"]["labels"] == deployment["spec"]["selector"]["matchLabels"]
    port = container["ports"][0]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    args = container["args"]
    assert args[args.index("--port") + 1] == str(port["containerPort"])
    assert int(container["resources"]["requests"]["cpu"]) == int(args[args.index("--workers") + 1])  # workers = cores
    graceful = float(args[args.index("--graceful-timeout") + 1])
    assert graceful < pod["spec"]["terminationGracePeriodSeconds"]


def test_the_dockerfile_runs_the_manifests_command():
    cmd = re.search(r'^CMD \[(.*?)\]\s*$', (DEPLOY / "Dockerfile").read_text().replace("\\\n", " "), re.M | re.S)
    docker = [shlex.split(part.strip())[0] for part in cmd.group(1).split(",")]
    args = _manifest()[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert docker == [a for a in args if not (a == "--graceful-timeout" or a == "30")]


def test_the_manifests_command_serves(pipeline_run, tmp_path):
    """Its flags, with the image's paths mapped to this checkout, start a server that turns ready."""
    args = _manifest()[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["kdedge", "serve"]
    paths = {"/models/model.tflite": str(pipeline_run / "export" / "student_int8.tflite"),
             "/app/tasks-text": str(NPM_ASSETS)}
    flags = [paths.get(a, a) for a in args[3:]]
    i = flags.index("--port")
    del flags[i:i + 2]  # a free loopback port instead
    i = flags.index("--host")
    del flags[i:i + 2]
    with running_server(paths[args[2]], tmp_path / "serve.log", *flags) as (url, _):
        assert [http(url + "/readyz")[0] for _ in range(20)] == [200] * 20  # whichever worker answers
        status, info = http(url + "/v1/model")
        assert status == 200 and info["assets"] == "/assets/tasks-text"
        status, body = http(url + "/v1/classify", b'{"texts": ["a good film"]}')
        assert status == 200 and len(body["results"]) == 1
    assert (tmp_path / "serve.log").read_text().count("kdedge serve: student_int8.tflite") == 2  # one per worker
