"""The Kubernetes manifests and the container image definition (issue 5: manifests validate).

Every manifest is checked against the Kubernetes API schema offline, with the schemas that
kubernetes-validate ships (network access is blocked while validating), and the things
that matter are asserted: what runs, where, with which TLS material and privileges; that a
worker outlives its scheduler (it retries forever, and its probes watch only its own
channel); who may connect to whom (the NetworkPolicies, evaluated here); and that each
Secret make_secrets.py writes holds one role's pair, whose certificate carries that role.
Nothing here talks to a cluster.
"""

from __future__ import annotations

import base64
import importlib.util
import math
import shutil
import socket
import ssl
import subprocess
import sys
import threading
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


def _worker_containers() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, worker container) of every worker DaemonSet."""
    out = []
    for daemonset in _by_kind("DaemonSet"):
        spec = daemonset["spec"]["template"]["spec"]
        out.append((spec, spec["containers"][0]))
    return out


def _arg(args: list[str], flag: str) -> str:
    assert flag in args, f"{flag} missing from {args}"
    return args[args.index(flag) + 1]


def _port_number(container: dict[str, Any], port: int | str) -> int:
    """A probe's or policy's port (a number, or the name of one of ``container``'s ports)."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions) selects ``labels``."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return True


def _admits(
    source: dict[str, str], target: dict[str, str], ports: dict[str, int], port: int
) -> bool:
    """Whether the NetworkPolicies let a pod labelled ``source`` open a TCP connection to
    ``port`` of a pod labelled ``target`` (``ports``: its named container ports), in one
    namespace, as Kubernetes evaluates them: a pod no policy selects admits everything; a
    selected pod admits what one rule of one of its policies allows."""
    policies = [
        d["spec"]
        for d in _by_kind("NetworkPolicy")
        if "Ingress" in d["spec"]["policyTypes"] and _selects(d["spec"]["podSelector"], target)
    ]
    if not policies:
        return True
    for spec in policies:
        for rule in spec.get("ingress", []):
            peers = rule.get("from")
            if peers and not any(_selects(peer["podSelector"], source) for peer in peers):
                continue
            allowed = rule.get("ports")
            if allowed is None or any(
                p.get("protocol", "TCP") == "TCP"
                and (ports[p["port"]] if isinstance(p["port"], str) else p["port"]) == port
                for p in allowed
            ):
                return True
    return False


def _pod_labels(component: str) -> dict[str, str]:
    """The labels of the (first) pod of ``component``: scheduler, worker or client."""
    for _, pod in _pods(ALL_DOCS):
        labels = pod["metadata"]["labels"]
        if labels["app.kubernetes.io/component"] == component:
            return dict(labels)
    raise AssertionError(f"no {component} pod in the manifests")


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

    def test_check_mode_catches_a_stale_file_and_writes_nothing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """generate.py --check exits 1 when a manifest differs and leaves it as it is; a
        run without --check rewrites it."""
        for name in generate.generated_files():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(KUBE / name, tmp_path / name)
        stale = (KUBE / "workers.yaml").read_text().replace("8788", "8789")
        (tmp_path / "workers.yaml").write_text(stale)
        monkeypatch.setattr(generate, "HERE", tmp_path)
        assert generate.main(["--check"]) == 1
        assert (tmp_path / "workers.yaml").read_text() == stale
        assert generate.main([]) == 0
        assert (tmp_path / "workers.yaml").read_text() == (KUBE / "workers.yaml").read_text()
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
            role = _arg(args, "--role")
            preset = _arg(args, "--preset")
            assert selector == {"edgeoffload.io/role": role, "edgeoffload.io/preset": preset}
            device_preset(preset)  # a real preset
            if role == "camera":
                cameras[preset] = daemonset["metadata"]["name"]
        assert set(cameras) == {"rpi4b", "jetson-tx2"}  # the DHS paper's cameras

    def test_edge_node_has_a_worker_too(self) -> None:
        """A DaemonSet puts an edge-server worker on the edge node."""
        edge = [
            container
            for spec, container in _worker_containers()
            if spec["nodeSelector"]["edgeoffload.io/role"] == "edge"
        ]
        assert len(edge) == 1
        assert _arg(edge[0]["args"], "--preset") == "edge-server"

    def test_workers_are_named_after_their_node(self) -> None:
        """--name comes from the downward API's spec.nodeName; --host from the pod IP; the
        only other variable turns Dask's INFO lines off."""
        for _, container in _worker_containers():
            args = container["args"]
            assert _arg(args, "--name") == "$(NODE_NAME)"
            assert _arg(args, "--host") == "$(POD_IP)"
            env = {
                e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
                for e in container["env"]
                if "valueFrom" in e
            }
            assert env == {"NODE_NAME": "spec.nodeName", "POD_IP": "status.podIP"}
            values = {e["name"]: e["value"] for e in container["env"] if "value" in e}
            assert values == {"DASK_LOGGING__DISTRIBUTED": "warning"}

    def test_workers_reach_the_scheduler_service_over_tls(self) -> None:
        """Workers connect to the scheduler's Service by name, with tls://."""
        (service,) = _by_kind("Service")
        port = service["spec"]["ports"][0]["port"]
        address = f"tls://{service['metadata']['name']}.edgeoffload.svc:{port}"
        for _, container in _worker_containers():
            assert _arg(container["args"], "--scheduler") == address

    def test_resources_come_from_the_presets(self) -> None:
        """CPU request = the preset's cores; memory = half the device's, request = limit."""
        for _, container in _worker_containers():
            args = container["args"]
            preset = device_preset(_arg(args, "--preset"))
            assert preset.memory is not None
            resources = container["resources"]
            memory = f"{math.floor(preset.memory * 0.5 / 2**20)}Mi"
            assert resources["requests"] == {"cpu": str(preset.cores), "memory": memory}
            assert resources["limits"]["memory"] == memory
            assert int(resources["limits"]["cpu"]) >= preset.cores
            assert _arg(args, "--nthreads") == str(preset.cores)


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
                    assert _arg(container["args"], "--tls") == mounts["tls"]["mountPath"]

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
        assert _arg(container["args"], "--dashboard-address").startswith("127.0.0.1:")
        assert [p["containerPort"] for p in container["ports"]] == [8786]
        (service,) = _by_kind("Service")
        assert [p["port"] for p in service["spec"]["ports"]] == [8786]


class TestOutlivesTheScheduler:
    def test_workers_retry_the_scheduler_forever(self) -> None:
        """No worker gives up on its scheduler (no --reconnect-timeout), each pauses at most
        --max-backoff seconds between attempts, and the kubelet restarts it if it exits."""
        for spec, container in _worker_containers():
            args = container["args"]
            assert not any(a.startswith("--reconnect-timeout") for a in args), args
            assert float(_arg(args, "--max-backoff")) == generate.MAX_BACKOFF == 10.0
            assert float(_arg(args, "--cache-ttl")) == generate.CACHE_TTL == 180.0
            assert "--no-nanny" in args
            assert spec["restartPolicy"] == "Always"

    def test_channel_port_is_named_and_probed(self) -> None:
        """--channel-port is the containerPort named 'channel', and the startup, readiness
        and liveness probes all open a TCP connection to that port and nothing else."""
        for _, container in _worker_containers():
            port = int(_arg(container["args"], "--channel-port"))
            assert port == generate.CHANNEL_PORT == 8788
            assert container["ports"] == [
                {"name": "channel", "containerPort": port, "protocol": "TCP"}
            ]
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = container[kind]
                assert set(probe) - {"tcpSocket"} <= {
                    "periodSeconds",
                    "failureThreshold",
                    "timeoutSeconds",
                    "initialDelaySeconds",
                }, kind
                assert probe["tcpSocket"] == {"port": "channel"}, kind
                assert _port_number(container, probe["tcpSocket"]["port"]) == port

    def test_a_dead_channel_restarts_the_worker_within_half_a_minute(self) -> None:
        """The liveness probe gives up after at most 30 s of a closed channel; a slow start
        (a Raspberry Pi) gets two minutes before liveness applies."""
        for _, container in _worker_containers():
            live, start = container["livenessProbe"], container["startupProbe"]
            assert live["periodSeconds"] * live.get("failureThreshold", 3) <= 30
            assert start["periodSeconds"] * start["failureThreshold"] >= 120

    def test_sigterm_has_time_to_stop_the_worker(self) -> None:
        """The grace period covers the longest clean stop: SIGTERM while reaching for an
        unreachable scheduler (10 s certificate check + 10 s connect + 10 s close) and
        then the channel and child processes (5 s)."""
        for spec, _ in _worker_containers():
            assert spec["terminationGracePeriodSeconds"] >= 10 + 10 + 10 + 5
            assert spec["terminationGracePeriodSeconds"] == generate.WORKER_GRACE == 45

    def test_scheduler_service_is_the_workers_stable_address(self) -> None:
        """The Service selects the scheduler pod, forwards its port to the containerPort
        'dask' (8786), and that is the address every worker's --scheduler names; one
        scheduler at a time (Recreate)."""
        (deployment,) = _by_kind("Deployment")
        (service,) = _by_kind("Service")
        pod = deployment["spec"]["template"]
        container = pod["spec"]["containers"][0]
        (port,) = service["spec"]["ports"]
        assert _selects({"matchLabels": service["spec"]["selector"]}, pod["metadata"]["labels"])
        assert _port_number(container, port["targetPort"]) == 8786
        assert int(_arg(container["args"], "--port")) == 8786
        address = f"tls://{service['metadata']['name']}.edgeoffload.svc:{port['port']}"
        assert address == "tls://edgeoffload-scheduler.edgeoffload.svc:8786"
        for _, worker in _worker_containers():
            assert _arg(worker["args"], "--scheduler") == address
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        assert pod["spec"]["restartPolicy"] == "Always"

    def test_scheduler_probes_handshake_with_the_scheduler_only(self) -> None:
        """Each scheduler probe runs the TLS handshake of generate.scheduler_probe against
        the scheduler's own port on loopback with its mounted pair: no worker involved."""
        (deployment,) = _by_kind("Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "tls"]
        expected = ["python", "-c", generate.scheduler_probe(mount["mountPath"], 8786)]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[kind]["exec"]["command"] == expected, kind
            assert container[kind]["timeoutSeconds"] > 3  # the probe's own socket timeout
        source = expected[2]
        assert "('127.0.0.1', 8786)" in source
        assert f"{mount['mountPath']}/scheduler-key.pem" in source
        live = container["livenessProbe"]
        assert live["periodSeconds"] * live["failureThreshold"] >= 60

    def test_scheduler_probe_passes_a_live_tls_server_and_fails_a_frozen_one(
        self, tmp_path: Path
    ) -> None:
        """The probe exits 0 after a mutual-TLS handshake with a server holding a
        scheduler certificate, and non-zero against a port that accepts TCP but never
        answers (a frozen scheduler) or that nothing listens on."""
        pytest.importorskip("cryptography")
        from edgeoffload.runtime.wire.security import TLSMaterial, make_certificates

        make_certificates(tmp_path)
        context = TLSMaterial.from_folder(tmp_path, "scheduler").server_context()
        live = socket.create_server(("127.0.0.1", 0))
        frozen = socket.create_server(("127.0.0.1", 0))  # listens, never accepts
        closed = socket.create_server(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
        closed.close()
        handshakes: list[str] = []

        def serve() -> None:
            conn, _ = live.accept()
            with context.wrap_socket(conn, server_side=True) as tls:
                handshakes.append(tls.version() or "")

        server = threading.Thread(target=serve, daemon=True)
        server.start()

        def probe(port: int) -> int:
            source = generate.scheduler_probe(str(tmp_path), port)
            done = subprocess.run([sys.executable, "-c", source], capture_output=True, timeout=20)
            return done.returncode

        try:
            assert probe(live.getsockname()[1]) == 0
            server.join(10)
            assert handshakes and handshakes[0].startswith("TLSv1.")
            assert probe(frozen.getsockname()[1]) != 0
            assert probe(closed_port) != 0
        finally:
            live.close()
            frozen.close()


class TestNetworkPolicy:
    def test_allows_exactly_the_cluster_s_paths(self) -> None:
        """Workers and clients reach the scheduler's port; clients and peer workers reach a
        worker's channel; the scheduler reaches a worker's Dask port; nothing else, and no
        pod without the client or worker labels reaches anything."""
        scheduler, worker, client = (_pod_labels(c) for c in ("scheduler", "worker", "client"))
        stranger = {"app.kubernetes.io/part-of": "edgeoffload"}  # no component
        outsider = {"app": "something-else"}
        to_scheduler = {"dask": 8786}
        to_worker = {"channel": 8788}
        dask_worker_port = 40123  # Dask picks it at random
        cases = [
            (worker, scheduler, to_scheduler, 8786, True),
            (client, scheduler, to_scheduler, 8786, True),
            (worker, scheduler, to_scheduler, 8787, False),  # the dashboard: loopback only
            (scheduler, scheduler, to_scheduler, 8786, False),
            (stranger, scheduler, to_scheduler, 8786, False),
            (outsider, scheduler, to_scheduler, 8786, False),
            (client, worker, to_worker, 8788, True),
            (worker, worker, to_worker, 8788, True),  # results go worker to worker
            (scheduler, worker, to_worker, dask_worker_port, True),
            (scheduler, worker, to_worker, 8788, True),
            (client, worker, to_worker, dask_worker_port, False),
            (worker, worker, to_worker, dask_worker_port, False),
            (stranger, worker, to_worker, 8788, False),
            (outsider, worker, to_worker, 8788, False),
            (worker, client, {}, 8788, False),  # clients accept nothing
            (scheduler, client, {}, 8786, False),
        ]
        for source, target, ports, port, expected in cases:
            got = _admits(source, target, ports, port)
            assert got is expected, (source, target, port)

    def test_named_ports_are_the_pods_ports(self) -> None:
        """Every port a policy names is a containerPort of every pod the policy selects."""
        named = 0
        for policy in _by_kind("NetworkPolicy"):
            selector = policy["spec"]["podSelector"]
            selected = [
                pod for _, pod in _pods(ALL_DOCS) if _selects(selector, pod["metadata"]["labels"])
            ]
            assert selected, policy["metadata"]["name"]
            for rule in policy["spec"].get("ingress", []):
                for port in rule.get("ports", []):
                    named += 1
                    for pod in selected:
                        container = pod["spec"]["containers"][0]
                        assert port["port"] in {p["name"] for p in container["ports"]}
        assert named == 2  # dask, channel

    def test_default_deny_covers_the_namespace(self) -> None:
        """One policy selects every pod of the namespace and admits nothing by itself."""
        (deny,) = [p for p in _by_kind("NetworkPolicy") if p["spec"]["podSelector"] == {}]
        assert deny["spec"]["policyTypes"] == ["Ingress"]
        assert deny["spec"].get("ingress", []) == []


def _secrets(text: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(text) if d}


def _unpack(secret: dict[str, Any], folder: Path) -> Path:
    """Write a Secret's files to ``folder`` as the kubelet mounts them."""
    folder.mkdir(parents=True)
    for name, value in secret["data"].items():
        (folder / name).write_bytes(base64.b64decode(value))
    return folder


class TestSecrets:
    @pytest.fixture(autouse=True)
    def _cryptography(self) -> None:
        pytest.importorskip("cryptography")

    def test_each_secret_holds_one_role_whose_certificate_carries_it(
        self, tmp_path: Path, no_network: None
    ) -> None:
        """From an empty folder make_secrets makes a set and writes a valid Secret per
        mounted role: ca.pem and that role's pair, whose certificate says that role."""
        from edgeoffload.runtime.wire.security import TLSMaterial, identity_from_der

        secrets = _secrets(make_secrets.render(tmp_path / "certs"))
        mounted = {
            v["secret"]["secretName"]
            for _, pod in _pods(ALL_DOCS)
            for v in pod["spec"]["volumes"]
            if "secret" in v
        }
        assert (
            set(secrets)
            == mounted
            == {
                "edgeoffload-scheduler-tls",
                "edgeoffload-worker-tls",
                "edgeoffload-client-tls",
            }
        )
        for name, secret in secrets.items():
            kubernetes_validate.validate(secret, KUBERNETES_VERSIONS[-1], strict=True)
            role = secret["metadata"]["labels"]["edgeoffload.io/tls-role"]
            assert name == f"edgeoffload-{role}-tls"
            assert set(secret["data"]) == {"ca.pem", f"{role}.pem", f"{role}-key.pem"}
            for file, value in secret["data"].items():
                assert base64.b64decode(value) == (tmp_path / "certs" / file).read_bytes()
            folder = _unpack(secret, tmp_path / "mounted" / role)
            material = TLSMaterial.from_folder(folder, role)
            assert material.role == role
            pem = (folder / f"{role}.pem").read_text()
            assert identity_from_der(ssl.PEM_cert_to_DER_cert(pem)).role == role
        assert "ca-key" not in make_secrets.render(tmp_path / "certs")

    def test_each_pod_mounts_only_its_role(self, tmp_path: Path) -> None:
        """The Secret each pod mounts holds the pair of the pod's component and no other
        key: a worker pod never gets the client's or the scheduler's key."""
        secrets = _secrets(make_secrets.render(tmp_path / "certs"))
        for name, pod in _pods(ALL_DOCS):
            component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
            (volume,) = [v for v in pod["spec"]["volumes"] if "secret" in v]
            data = secrets[volume["secret"]["secretName"]]["data"]
            keys = {k for k in data if k.endswith("-key.pem")}
            assert keys == {f"{component}-key.pem"}, name

    def test_an_existing_set_is_kept(self, tmp_path: Path) -> None:
        """A folder made by 'edgeoffload certs' goes into the Secrets byte for byte;
        nothing is remade, and the CA key may be kept offline."""
        from edgeoffload.runtime.wire.security import make_certificates

        files = make_certificates(tmp_path / "certs")
        before = {name: path.read_bytes() for name, path in files.items()}
        files["ca-key.pem"].unlink()  # kept offline
        secrets = _secrets(make_secrets.render(tmp_path / "certs"))
        for secret in secrets.values():
            for file, value in secret["data"].items():
                assert base64.b64decode(value) == before[file]
        assert {p.name for p in (tmp_path / "certs").iterdir()} == set(before) - {"ca-key.pem"}

    def test_named_client_gets_its_own_secret(self, tmp_path: Path) -> None:
        """--client alice adds certs/clients/alice and a Secret edgeoffload-client-alice-tls
        whose certificate is a client's named alice; a second run reuses it."""
        from edgeoffload.runtime.wire.security import TLSMaterial

        secrets = _secrets(make_secrets.render(tmp_path / "certs", clients=["alice"]))
        secret = secrets["edgeoffload-client-alice-tls"]
        kubernetes_validate.validate(secret, KUBERNETES_VERSIONS[-1], strict=True)
        assert secret["metadata"]["labels"]["edgeoffload.io/client"] == "alice"
        assert set(secret["data"]) == {"ca.pem", "client.pem", "client-key.pem"}
        material = TLSMaterial.from_folder(_unpack(secret, tmp_path / "alice"), "client")
        assert (material.role, material.name) == ("client", "alice")
        again = _secrets(make_secrets.render(tmp_path / "certs", clients=["alice"]))
        assert again["edgeoffload-client-alice-tls"]["data"] == secret["data"]
        assert len(secrets) == 4

    def test_a_pair_of_another_role_is_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A client pair copied over the worker's is refused with one line naming the file,
        and no Secret is written."""
        from edgeoffload.runtime.wire.security import make_certificates

        certs = tmp_path / "certs"
        make_certificates(certs)
        shutil.copy(certs / "client.pem", certs / "worker.pem")
        shutil.copy(certs / "client-key.pem", certs / "worker-key.pem")
        out = tmp_path / "secrets.yaml"
        assert make_secrets.main([str(certs), "-o", str(out)]) == 2
        error = capsys.readouterr().err
        assert f"{certs}/worker.pem is a client certificate, not a worker certificate" in error
        assert not out.exists()

    def test_missing_pairs_need_the_ca_key(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A folder lacking a pair and the CA key is refused with a line naming ca-key.pem;
        a bad client name is refused before anything is made."""
        from edgeoffload.runtime.wire.security import make_certificates

        certs = tmp_path / "certs"
        make_certificates(certs)
        (certs / "ca-key.pem").unlink()
        (certs / "worker-key.pem").unlink()
        assert make_secrets.main([str(certs)]) == 2
        assert "no ca-key.pem" in capsys.readouterr().err
        assert make_secrets.main([str(tmp_path / "other"), "--client", "Bob_1"]) == 2
        assert "bad client name 'Bob_1'" in capsys.readouterr().err
        assert not (tmp_path / "other").exists()

    def test_secrets_script_writes_a_private_file(self, tmp_path: Path) -> None:
        """With -o the Secrets file is readable by its owner only and holds the three
        role Secrets."""
        out = tmp_path / "secrets.yaml"
        assert make_secrets.main([str(tmp_path / "certs"), "-o", str(out)]) == 0
        assert out.stat().st_mode & 0o777 == 0o600
        assert len(_secrets(out.read_text())) == 3


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
        (expose,) = [ln for ln in lines if ln.startswith("EXPOSE ")]
        assert expose.split()[1:] == ["8786", str(generate.CHANNEL_PORT)]
        for _, pod in _pods(ALL_DOCS):
            assert pod["spec"]["securityContext"]["runAsUser"] == uid

    def test_copied_paths_exist(self) -> None:
        """Every COPY source is in the repository (the build context is its root)."""
        for line in CONTAINERFILE.read_text(encoding="utf-8").splitlines():
            if line.startswith("COPY "):
                for source in line.split()[1:-1]:
                    assert (REPO / source).exists(), source
