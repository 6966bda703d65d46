"""The Kubernetes manifests and the container image definition (issue 5: manifests validate).

Every manifest is checked against the Kubernetes API schema offline, with the schemas that
kubernetes-validate ships (network access is blocked while validating), and the things
that matter are asserted: what runs, where, with which TLS material and privileges.
"""

from __future__ import annotations

import base64
import importlib.util
import math
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from edgeoffload.workloads.devices import device_preset

REPO = Path(__file__).resolve().parents[2]
KUBE = REPO / "deploy" / "kubernetes"
CONTAINERFILE = REPO / "deploy" / "container" / "Containerfile"

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is in the dev extra"
)


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_deploy_{name}", KUBE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load("generate")
make_secrets = _load("make_secrets")

KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())


def _manifest_files() -> list[Path]:
    return sorted(p for p in KUBE.rglob("*.yaml") if p.name != "kustomization.yaml")


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


ALL_DOCS = [(path, doc) for path in _manifest_files() for doc in _docs(path)]
CLUSTER_DOCS = [(p, d) for p, d in ALL_DOCS if "examples" not in p.parts]


def _pods(docs: list[tuple[Path, dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for _, doc in docs:
        if doc["kind"] in ("Deployment", "DaemonSet", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in CLUSTER_DOCS if d["kind"] == kind]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access during validation: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


class TestGenerated:
    def test_manifests_are_up_to_date(self) -> None:
        """The committed YAML is exactly what deploy/kubernetes/generate.py writes."""
        for name, text in generate.generated_files().items():
            path = KUBE / name
            assert path.exists(), f"{name} is missing: run python deploy/kubernetes/generate.py"
            assert path.read_text(encoding="utf-8") == text, (
                f"{name} is out of date: run python deploy/kubernetes/generate.py"
            )

    def test_check_mode_reports_up_to_date(self) -> None:
        """generate.py --check exits 0 on the committed files."""
        assert generate.main(["--check"]) == 0

    def test_kustomization_lists_every_cluster_manifest(self) -> None:
        """kubectl apply -k applies every cluster manifest and no example."""
        kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
        listed = set(kustomization["resources"])
        expected = {p.relative_to(KUBE).as_posix() for p in _manifest_files()}
        assert listed == {e for e in expected if not e.startswith("examples/")}
        assert kustomization["namespace"] == "edgeoffload"


class TestSchema:
    @pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
    @pytest.mark.parametrize(
        "doc",
        [
            pytest.param(d, id=f"{p.relative_to(KUBE)}:{d['kind']}/{d['metadata']['name']}")
            for p, d in ALL_DOCS
        ],
    )
    def test_validates_against_the_api_schema(
        self, doc: dict[str, Any], version: str, no_network: None
    ) -> None:
        """Each object is valid for the Kubernetes API (strict: no unknown fields)."""
        kubernetes_validate.validate(doc, version, strict=True)

    def test_schema_check_catches_mistakes(self, no_network: None) -> None:
        """The validator really checks: a misspelt field and a wrong type are refused."""
        deployment = _by_kind("Deployment")[0]
        broken = yaml.safe_load(yaml.safe_dump(deployment))
        broken["spec"]["template"]["spec"]["nodeSelektor"] = {"a": "b"}
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)
        broken = yaml.safe_load(yaml.safe_dump(deployment))
        broken["spec"]["replicas"] = "one"
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)

    def test_everything_is_in_the_namespace(self) -> None:
        """Every namespaced object names the edgeoffload namespace."""
        for _, doc in ALL_DOCS:
            if doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] == "edgeoffload", doc["metadata"]


class TestWhatRunsWhere:
    def test_every_cluster_container_runs_edgeoffload(self) -> None:
        """Scheduler and workers run the edgeoffload command, nothing else."""
        pods = list(_pods(CLUSTER_DOCS))
        assert pods
        for name, pod in pods:
            for container in _containers(pod):
                assert container["command"] == ["edgeoffload"], name
                assert container["args"][0] in ("scheduler", "worker"), name
                assert container["image"].startswith("edgeoffload:")

    def test_scheduler_runs_on_the_edge_node(self) -> None:
        """The scheduler Deployment is placed by the edge label, and one replica runs."""
        (deployment,) = _by_kind("Deployment")
        spec = deployment["spec"]
        assert spec["replicas"] == 1
        assert spec["template"]["spec"]["nodeSelector"] == {"edgeoffload.io/role": "edge"}
        assert spec["template"]["spec"]["containers"][0]["args"][0] == "scheduler"

    def test_camera_workers_are_selected_by_the_camera_label(self) -> None:
        """One DaemonSet per camera preset, on nodes labelled camera and that preset."""
        cameras = {}
        for daemonset in _by_kind("DaemonSet"):
            pod = daemonset["spec"]["template"]
            selector = pod["spec"]["nodeSelector"]
            args = pod["spec"]["containers"][0]["args"]
            role = args[args.index("--role") + 1]
            preset = args[args.index("--preset") + 1]
            assert selector == {"edgeoffload.io/role": role, "edgeoffload.io/preset": preset}
            device_preset(preset)  # a real preset
            if role == "camera":
                cameras[preset] = daemonset["metadata"]["name"]
        assert set(cameras) == {"rpi4b", "jetson-tx2"}  # the DHS paper's cameras

    def test_edge_node_has_a_worker_too(self) -> None:
        """A DaemonSet puts an edge-server worker on the edge node."""
        edge = [
            d
            for d in _by_kind("DaemonSet")
            if d["spec"]["template"]["spec"]["nodeSelector"]["edgeoffload.io/role"] == "edge"
        ]
        assert len(edge) == 1
        args = edge[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--preset") + 1] == "edge-server"

    def test_workers_are_named_after_their_node(self) -> None:
        """--name comes from the downward API's spec.nodeName; --host from the pod IP."""
        for daemonset in _by_kind("DaemonSet"):
            container = daemonset["spec"]["template"]["spec"]["containers"][0]
            args = container["args"]
            assert args[args.index("--name") + 1] == "$(NODE_NAME)"
            assert args[args.index("--host") + 1] == "$(POD_IP)"
            env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
            assert env == {"NODE_NAME": "spec.nodeName", "POD_IP": "status.podIP"}

    def test_workers_reach_the_scheduler_service_over_tls(self) -> None:
        """Workers connect to the scheduler's Service by name, with tls://."""
        (service,) = _by_kind("Service")
        port = service["spec"]["ports"][0]["port"]
        address = f"tls://{service['metadata']['name']}.edgeoffload.svc:{port}"
        for daemonset in _by_kind("DaemonSet"):
            args = daemonset["spec"]["template"]["spec"]["containers"][0]["args"]
            assert args[args.index("--scheduler") + 1] == address

    def test_resources_come_from_the_presets(self) -> None:
        """CPU request = the preset's cores; memory = half the device's, request = limit."""
        for daemonset in _by_kind("DaemonSet"):
            container = daemonset["spec"]["template"]["spec"]["containers"][0]
            args = container["args"]
            preset = device_preset(args[args.index("--preset") + 1])
            assert preset.memory is not None
            resources = container["resources"]
            memory = f"{math.floor(preset.memory * 0.5 / 2**20)}Mi"
            assert resources["requests"] == {"cpu": str(preset.cores), "memory": memory}
            assert resources["limits"]["memory"] == memory
            assert int(resources["limits"]["cpu"]) >= preset.cores
            assert args[args.index("--nthreads") + 1] == str(preset.cores)


class TestSecurity:
    def test_tls_secrets_are_mounted_and_used(self) -> None:
        """Each pod mounts its role's TLS Secret read-only and passes it to --tls (the
        client example as well)."""
        roles = {"scheduler": "scheduler", "worker": "worker", "client": "client"}
        for name, pod in _pods(ALL_DOCS):
            component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
            secret = f"edgeoffload-{roles[component]}-tls"
            volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
            assert volumes["tls"]["secret"]["secretName"] == secret, name
            for container in _containers(pod):
                mounts = {m["name"]: m for m in container["volumeMounts"]}
                assert mounts["tls"]["readOnly"] is True
                if container["command"] == ["edgeoffload"]:
                    args = container["args"]
                    assert args[args.index("--tls") + 1] == mounts["tls"]["mountPath"]

    def test_no_insecure_anywhere(self) -> None:
        """Nothing under deploy/ turns TLS off."""
        for path in (REPO / "deploy").rglob("*"):
            if path.is_file() and path.suffix != ".py":
                assert "--insecure" not in path.read_text(encoding="utf-8"), path
        for _, pod in _pods(ALL_DOCS):
            for container in _containers(pod):
                assert "--insecure" not in container.get("args", [])

    def test_pods_run_unprivileged(self) -> None:
        """Non-root, read-only root file system, no privilege escalation, no capabilities,
        no service-account token: the restricted Pod Security Standard."""
        for name, pod in _pods(ALL_DOCS):
            spec = pod["spec"]
            assert spec["securityContext"]["runAsNonRoot"] is True, name
            assert spec["securityContext"]["runAsUser"] != 0
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            assert spec["automountServiceAccountToken"] is False
            assert not spec.get("hostNetwork", False)
            for container in _containers(pod):
                ctx = container["securityContext"]
                assert ctx["readOnlyRootFilesystem"] is True
                assert ctx["allowPrivilegeEscalation"] is False
                assert ctx["capabilities"] == {"drop": ["ALL"]}
                assert "limits" in container["resources"]
        (namespace,) = [d for _, d in ALL_DOCS if d["kind"] == "Namespace"]
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
            "restricted"
        )

    def test_dashboard_listens_on_loopback_only(self) -> None:
        """The dashboard binds 127.0.0.1 and no Service or port exposes it."""
        (deployment,) = _by_kind("Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        args = container["args"]
        assert args[args.index("--dashboard-address") + 1].startswith("127.0.0.1:")
        assert [p["containerPort"] for p in container["ports"]] == [8786]
        (service,) = _by_kind("Service")
        assert [p["port"] for p in service["spec"]["ports"]] == [8786]

    def test_network_policy_admits_only_cluster_pods(self) -> None:
        """Scheduler and workers accept connections only from pods of the cluster."""
        (policy,) = _by_kind("NetworkPolicy")
        part_of = {"app.kubernetes.io/part-of": "edgeoffload"}
        assert policy["spec"]["podSelector"]["matchLabels"] == part_of
        assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {"matchLabels": part_of}}]}]
        for _, pod in _pods(ALL_DOCS):
            assert pod["metadata"]["labels"]["app.kubernetes.io/part-of"] == "edgeoffload"

    def test_secrets_from_a_certs_folder(self, tmp_path: Path, no_network: None) -> None:
        """make_secrets.py turns 'edgeoffload certs' output into valid Secrets, one per
        role, with that role's pair and the CA certificate, never the CA key."""
        pytest.importorskip("cryptography")
        from edgeoffload.runtime.wire.security import make_certificates

        files = make_certificates(tmp_path / "certs")
        text = make_secrets.render(tmp_path / "certs")
        secrets = [d for d in yaml.safe_load_all(text) if d]
        mounted = {
            v["secret"]["secretName"]
            for _, pod in _pods(ALL_DOCS)
            for v in pod["spec"]["volumes"]
            if "secret" in v
        }
        assert {s["metadata"]["name"] for s in secrets} == mounted
        for secret in secrets:
            kubernetes_validate.validate(secret, KUBERNETES_VERSIONS[-1], strict=True)
            role = secret["metadata"]["labels"]["edgeoffload.io/tls-role"]
            data = secret["data"]
            assert set(data) == {"ca.pem", f"{role}.pem", f"{role}-key.pem"}
            for key, value in data.items():
                assert base64.b64decode(value) == files[key].read_bytes()
        assert "ca-key" not in text

    def test_secrets_script_writes_a_private_file(self, tmp_path: Path) -> None:
        """With -o the Secrets file is readable by its owner only; a missing folder is
        one line naming the file."""
        pytest.importorskip("cryptography")
        from edgeoffload.runtime.wire.security import make_certificates

        make_certificates(tmp_path / "certs")
        out = tmp_path / "secrets.yaml"
        assert make_secrets.main([str(tmp_path / "certs"), "-o", str(out)]) == 0
        assert out.stat().st_mode & 0o777 == 0o600
        with pytest.raises(SystemExit, match=r"nothere/ca\.pem"):
            make_secrets.main([str(tmp_path / "nothere")])


class TestContainerfile:
    def test_plain_slim_image_non_root_entrypoint_edgeoffload(self) -> None:
        """python:3.11-slim, the runtime extra, a non-root user the manifests run as, and
        the edgeoffload entry point."""
        text = CONTAINERFILE.read_text(encoding="utf-8")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        assert lines[0] == "FROM python:3.11-slim"
        assert any('pip install ".[runtime]"' in ln for ln in lines)
        (user,) = [ln for ln in lines if ln.startswith("USER ")]
        uid = int(user.split()[1].split(":")[0])
        assert uid != 0
        assert 'ENTRYPOINT ["edgeoffload"]' in lines
        for _, pod in _pods(ALL_DOCS):
            assert pod["spec"]["securityContext"]["runAsUser"] == uid

    def test_copied_paths_exist(self) -> None:
        """Every COPY source is in the repository (the build context is its root)."""
        for line in CONTAINERFILE.read_text(encoding="utf-8").splitlines():
            if line.startswith("COPY "):
                for source in line.split()[1:-1]:
                    assert (REPO / source).exists(), source
