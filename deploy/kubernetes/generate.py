"""Generate the Kubernetes manifests of an edgeoffload cluster from the device presets.

    python deploy/kubernetes/generate.py            # rewrite the manifests next to this file
    python deploy/kubernetes/generate.py --check    # exit 1 if they are out of date

The generated files are committed; tests/deploy/test_manifests.py fails when they differ
from what this script writes, so edit this script (or the presets), never the YAML.

What it writes (namespace ``edgeoffload``):

- ``namespace.yaml``: the namespace, with the *restricted* Pod Security Standard enforced.
- ``scheduler.yaml``: the Dask scheduler (``edgeoffload scheduler`` with mutual TLS) on a
  node labelled ``edgeoffload.io/role=edge``, and its Service: the stable name and port
  every worker rejoins after a scheduler restart. Its probes complete a TLS handshake with
  the scheduler itself (:func:`scheduler_probe`), so they test the scheduler, never its
  workers.
- ``workers.yaml``: one DaemonSet per device preset in :data:`WORKERS`, on the nodes
  labelled with that role and preset; each worker is named after its node (downward API)
  and describes itself with ``--role`` and ``--preset``. Resources come from the preset
  (see :func:`worker_resources`). A worker outlives its scheduler, so its probes watch only
  its own direct channel (the fixed port :data:`CHANNEL_PORT`, named ``channel``), and it
  retries the scheduler forever (no ``--reconnect-timeout``).
- ``network-policy.yaml``: nothing in the namespace accepts a connection unless a rule
  allows it: workers and clients reach the scheduler's port; clients and peer workers reach
  a worker's channel; the scheduler reaches a worker's Dask port.
- ``kustomization.yaml``: ``kubectl apply -k deploy/kubernetes`` applies all of the above
  and sets the image.
- ``examples/client-job.yaml``: a client program in a Job (a ConfigMap holds its code).

TLS material is not generated here: ``deploy/kubernetes/make_secrets.py`` makes (or
completes) it with ``edgeoffload certs``' functions and turns it into one Secret per role
(docs/kubernetes.md).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from edgeoffload import __version__
from edgeoffload.workloads.devices import DevicePreset, device_preset

HERE = Path(__file__).resolve().parent
NAMESPACE = "edgeoffload"
IMAGE = f"edgeoffload:{__version__}"
SCHEDULER_PORT = 8786
DASHBOARD = "127.0.0.1:8787"  # loopback only: reach it with kubectl port-forward
CHANNEL_PORT = 8788
"""A worker's direct channel (``--channel-port``): fixed, so that probes and the
NetworkPolicy can name it (containerPort ``channel``)."""
SCHEDULER_SERVICE = "edgeoffload-scheduler"
SCHEDULER_ADDRESS = f"tls://{SCHEDULER_SERVICE}.{NAMESPACE}.svc:{SCHEDULER_PORT}"
TLS_DIR = "/etc/edgeoffload/tls"
UID = 10001  # the image's non-root user (deploy/container/Containerfile)
ROLE_LABEL = "edgeoffload.io/role"
PRESET_LABEL = "edgeoffload.io/preset"
PART_OF = {"app.kubernetes.io/part-of": "edgeoffload"}

WORKERS: tuple[tuple[str, str], ...] = (
    ("rpi4b", "camera"),
    ("jetson-tx2", "camera"),
    ("edge-server", "edge"),
)
"""(device preset, role) of each worker DaemonSet: the DHS paper's cluster."""

DEVICE_CPUS: dict[str, int] = {
    "rpi4b": 4,  # preset hardware: 4x Cortex-A72
    "jetson-tx2": 6,  # preset hardware: 2x Denver2 + 4x A57
    "edge-server": 4,  # preset hardware: ASSUMED 4-core desktop
}
"""CPUs of each device: the preset's speed was measured using all of them, so the worker's
CPU limit is the whole device (a lower CFS quota would make it slower than the model)."""

MEMORY_SHARE = 0.5
"""Share of the device's memory a worker may use; the rest is for the system and, on a
camera, the application that produces the frames."""

MAX_BACKOFF = 10.0
"""``--max-backoff`` of the workers, seconds. A worker retries its scheduler forever, the
pause doubling from 0.5 s up to this (jittered by +-25 %), each attempt itself waiting up to
10 s for the scheduler. 10 s rather than the default 30 s: once the scheduler is back (after
a restart, or when a camera's Wi-Fi returns) a worker is listed again, so that new sessions
find it, within about 15 s (at most 12.5 s of pause, then connecting) instead of about
40 s. The price is one connection attempt per worker every 10 to 25 s while the scheduler
is away: nothing for the scheduler or a camera."""

CACHE_TTL = 180.0
"""``--cache-ttl`` of the workers, seconds: how long a silent session keeps its code on a
worker. Three minutes rather than the default one: a camera cut off for a minute or two
still holds every session's code when it is back, so nothing is sent again over the Wi-Fi
that just recovered. The price: code of a session that died without a goodbye stays three
minutes in the worker's ``/dev/shm`` (a RAM disk counted in the pod's memory)."""

WORKER_GRACE = 45
"""``terminationGracePeriodSeconds`` of a worker pod, seconds. On SIGTERM the worker
stops its calls (their child processes are killed) and its registration; the longest this
takes is when SIGTERM arrives during an attempt to reach an unreachable scheduler: up to
10 s checking the scheduler's certificate, 10 s connecting, 10 s closing the Dask worker,
then a few seconds for the channel and child processes, about 35 s. A stop with the
scheduler present takes well under a second."""

GENERATED = (
    "# Generated by deploy/kubernetes/generate.py from edgeoffload.workloads.devices;\n"
    "# do not edit: change the script or the presets and run it again.\n"
)


def _labels(component: str, **extra: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "edgeoffload",
        "app.kubernetes.io/component": component,
        **PART_OF,
        "app.kubernetes.io/version": __version__,
        **extra,
    }


def _selector(component: str, **extra: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "edgeoffload",
        "app.kubernetes.io/component": component,
    } | extra


def _mib(nbytes: float) -> str:
    return f"{math.floor(nbytes / 2**20)}Mi"


def worker_resources(preset: DevicePreset) -> dict[str, dict[str, str]]:
    """Requests and limits of a worker for ``preset``.

    - CPU request: ``preset.cores`` (the tasks the preset runs at once, one core each);
      CPU limit: the whole device (:data:`DEVICE_CPUS`), which the preset's speed assumes.
    - Memory request = limit: :data:`MEMORY_SHARE` of ``preset.memory`` (requests equal to
      limits: the kubelet never evicts a worker for memory it was promised).
    """
    if preset.memory is None:
        raise SystemExit(f"preset {preset.name} has no memory figure; add one or a default")
    memory = _mib(preset.memory * MEMORY_SHARE)
    return {
        "requests": {"cpu": str(preset.cores), "memory": memory},
        "limits": {"cpu": str(DEVICE_CPUS[preset.name]), "memory": memory},
    }


def scheduler_probe(tls_dir: str, port: int) -> str:
    """Python source of the scheduler's probes: a full mutual-TLS handshake with the
    scheduler on ``127.0.0.1:port``, with the scheduler's own pair from ``tls_dir``.

    A handshake needs the scheduler's event loop to answer, so a frozen scheduler fails it
    (a bare TCP connection would still succeed: the kernel accepts it), and a completed
    handshake is not a failure Dask logs as a warning (a bare TCP probe makes it log
    "TLS handshake failed" at every probe). It exits with status 0 when the handshake
    completes within 3 s, non-zero otherwise. Workers play no part in it.
    """
    return (
        "import socket, ssl\n"
        "c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
        "c.check_hostname = False\n"
        f"c.load_verify_locations('{tls_dir}/ca.pem')\n"
        f"c.load_cert_chain('{tls_dir}/scheduler.pem', '{tls_dir}/scheduler-key.pem')\n"
        f"with socket.create_connection(('127.0.0.1', {port}), timeout=3) as s:\n"
        "    c.wrap_socket(s).close()\n"
    )


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _tls_volume(role: str) -> dict[str, Any]:
    # group-readable for fsGroup; the private key never leaves the pod's tmpfs mount
    return {
        "name": "tls",
        "secret": {"secretName": f"edgeoffload-{role}-tls", "defaultMode": 0o440},
    }


def _scratch_volumes(shm: bool) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    if shm:  # the worker's code cache (runtime/cache.py) lives on a RAM disk
        volumes.append({"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}})
    return volumes


def _mounts(shm: bool) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if shm:
        mounts.append({"name": "shm", "mountPath": "/dev/shm"})
    return mounts


def _pod_spec(
    containers: list[dict[str, Any]], volumes: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        **extra,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": _pod_security(),
        "containers": containers,
        "volumes": volumes,
    }


def namespace() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NAMESPACE,
                "labels": {
                    **PART_OF,
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            },
        }
    ]


def scheduler() -> list[dict[str, Any]]:
    probe = {"exec": {"command": ["python", "-c", scheduler_probe(TLS_DIR, SCHEDULER_PORT)]}}
    container = {
        "name": "scheduler",
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["edgeoffload"],
        "args": (
            f"scheduler --host 0.0.0.0 --port {SCHEDULER_PORT} --tls {TLS_DIR} "
            f"--dashboard-address {DASHBOARD}"
        ).split(),
        "env": [
            # the probes' completed handshakes are INFO lines of distributed.comm.tcp; its
            # warnings (a peer whose TLS handshake failed) are kept
            {"name": "DASK_LOGGING", "value": '{"distributed.comm.tcp": "warning"}'},
        ],
        "ports": [{"name": "dask", "containerPort": SCHEDULER_PORT, "protocol": "TCP"}],
        "startupProbe": {**probe, "periodSeconds": 2, "timeoutSeconds": 5, "failureThreshold": 30},
        "readinessProbe": {**probe, "periodSeconds": 10, "timeoutSeconds": 5},
        "livenessProbe": {
            **probe,
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "securityContext": _container_security(),
        "volumeMounts": _mounts(shm=False),
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "edgeoffload-scheduler",
            "namespace": NAMESPACE,
            "labels": _labels("scheduler"),
        },
        "spec": {
            "replicas": 1,
            # never two schedulers at once: workers would split between them; during the
            # gap workers keep serving and retry, and rejoin the new one through the Service
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": _selector("scheduler")},
            "template": {
                "metadata": {"labels": _labels("scheduler")},
                "spec": _pod_spec(
                    [container],
                    [_tls_volume("scheduler"), *_scratch_volumes(shm=False)],
                    nodeSelector={ROLE_LABEL: "edge"},
                    restartPolicy="Always",
                ),
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": SCHEDULER_SERVICE,
            "namespace": NAMESPACE,
            "labels": _labels("scheduler"),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": _selector("scheduler"),
            "ports": [
                {"name": "dask", "port": SCHEDULER_PORT, "targetPort": "dask", "protocol": "TCP"}
            ],
        },
    }
    return [deployment, service]


def worker(preset_name: str, role: str) -> dict[str, Any]:
    preset = device_preset(preset_name)
    selector = _selector("worker", **{PRESET_LABEL: preset_name})
    channel = {"tcpSocket": {"port": "channel"}}
    container = {
        "name": "worker",
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["edgeoffload"],
        "args": (
            f"worker --name $(NODE_NAME) --scheduler {SCHEDULER_ADDRESS} --host $(POD_IP) "
            f"--tls {TLS_DIR} --role {role} --preset {preset_name} "
            f"--nthreads {preset.cores} --channel-port {CHANNEL_PORT} "
            f"--max-backoff {MAX_BACKOFF:g} --cache-ttl {CACHE_TTL:g} --no-nanny"
        ).split(),
        "env": [
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            # Dask's INFO lines ("Waiting to connect", ten a second while the scheduler is
            # away) off, as under the runtime's own nanny; edgeoffload's lines stay
            {"name": "DASK_LOGGING__DISTRIBUTED", "value": "warning"},
        ],
        "ports": [{"name": "channel", "containerPort": CHANNEL_PORT, "protocol": "TCP"}],
        # the channel only: a worker without a scheduler is alive and serving
        "startupProbe": {**channel, "periodSeconds": 2, "failureThreshold": 60},
        "readinessProbe": {**channel, "periodSeconds": 5},
        "livenessProbe": {**channel, "periodSeconds": 10, "failureThreshold": 3},
        "resources": worker_resources(preset),
        "securityContext": _container_security(),
        "volumeMounts": _mounts(shm=True),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": f"edgeoffload-worker-{preset_name}",
            "namespace": NAMESPACE,
            "labels": _labels("worker", **{PRESET_LABEL: preset_name}),
            "annotations": {
                "edgeoffload.io/preset-title": preset.title,
                "edgeoffload.io/preset-speed": f"{preset.speed:.4g} FLOP/s",
            },
        },
        "spec": {
            "selector": {"matchLabels": selector},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": _labels("worker", **{PRESET_LABEL: preset_name})},
                "spec": _pod_spec(
                    [container],
                    [_tls_volume("worker"), *_scratch_volumes(shm=True)],
                    nodeSelector={ROLE_LABEL: role, PRESET_LABEL: preset_name},
                    restartPolicy="Always",  # the kubelet is the nanny (--no-nanny)
                    terminationGracePeriodSeconds=WORKER_GRACE,
                ),
            },
        },
    }


def workers() -> list[dict[str, Any]]:
    return [worker(name, role) for name, role in WORKERS]


def _peers(*components: str) -> dict[str, Any]:
    """A NetworkPolicy peer: pods of the cluster with one of ``components``."""
    return {
        "podSelector": {
            "matchLabels": dict(PART_OF),
            "matchExpressions": [
                {
                    "key": "app.kubernetes.io/component",
                    "operator": "In",
                    "values": list(components),
                }
            ],
        }
    }


def _policy(name: str, pods: dict[str, Any], ingress: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(PART_OF)},
        "spec": {
            "podSelector": pods,
            "policyTypes": ["Ingress"],
            **({"ingress": ingress} if ingress else {}),
        },
    }


def network_policy() -> list[dict[str, Any]]:
    """Who may open a connection to whom, by pod label and named port.

    - Nothing in the namespace accepts a connection no rule below allows (default deny).
    - The scheduler's ``dask`` port: from workers (registration, heartbeats) and clients
      (the list of workers).
    - A worker's ``channel`` port: from clients (calls) and peer workers (results go
      worker to worker in scheduled DAGs).
    - Any port of a worker from the scheduler: the worker's Dask listener is on a port
      Dask picks at random, and Dask's scheduler may connect back to it.

    A client pod needs the labels ``app.kubernetes.io/part-of: edgeoffload`` and
    ``app.kubernetes.io/component: client`` (the example Job has them). Mutual TLS is what
    keeps strangers out; this is the second fence. Kubelet probes come from the node, which
    NetworkPolicies always allow.
    """
    tcp = "TCP"
    return [
        _policy("edgeoffload-default-deny", {}, []),
        _policy(
            "edgeoffload-scheduler",
            {"matchLabels": _selector("scheduler")},
            [
                {
                    "from": [_peers("worker", "client")],
                    "ports": [{"protocol": tcp, "port": "dask"}],
                }
            ],
        ),
        _policy(
            "edgeoffload-worker",
            {"matchLabels": _selector("worker")},
            [
                {
                    "from": [_peers("client", "worker")],
                    "ports": [{"protocol": tcp, "port": "channel"}],
                },
                {"from": [_peers("scheduler")]},
            ],
        ),
    ]


CLIENT_APP = '''\
"""A client of the cluster: offloads a function to the workers and prints where it ran."""

import socket

import edgeoffload

SCHEDULER = "{address}"


@edgeoffload.offload(policy="always-remote")
def square(x):
    return x * x, socket.gethostname()


if __name__ == "__main__":
    with edgeoffload.connect(SCHEDULER, security="{tls}", wait_for_workers=1) as session:
        for i in range(8):
            print(square(i), flush=True)
        session.print_summary()
'''


def client_example() -> list[dict[str, Any]]:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "edgeoffload-client-app", "namespace": NAMESPACE},
        "data": {"app.py": CLIENT_APP.format(address=SCHEDULER_ADDRESS, tls=TLS_DIR)},
    }
    container = {
        "name": "client",
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "/app/app.py"],
        "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": _container_security(),
        "volumeMounts": [
            *_mounts(shm=False),
            {"name": "app", "mountPath": "/app", "readOnly": True},
        ],
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "edgeoffload-client-example",
            "namespace": NAMESPACE,
            "labels": _labels("client"),
        },
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": _labels("client")},
                "spec": _pod_spec(
                    [container],
                    [
                        _tls_volume("client"),
                        *_scratch_volumes(shm=False),
                        {"name": "app", "configMap": {"name": "edgeoffload-client-app"}},
                    ],
                    restartPolicy="Never",
                ),
            },
        },
    }
    return [config_map, job]


MANIFESTS = {
    "namespace.yaml": namespace,
    "scheduler.yaml": scheduler,
    "workers.yaml": workers,
    "network-policy.yaml": network_policy,
    "examples/client-job.yaml": client_example,
}
"""Generated file (relative to this folder) -> function returning its objects."""


def kustomization() -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "resources": [name for name in MANIFESTS if not name.startswith("examples/")],
        "images": [{"name": "edgeoffload", "newName": "edgeoffload", "newTag": __version__}],
    }


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings (the client app) as literal blocks; an object used
    twice (a probe) written out twice, never as a YAML anchor and alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def render(objects: Sequence[dict[str, Any]]) -> str:
    """YAML of ``objects`` as one multi-document file with the generated-file header."""
    docs = [
        yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
        for obj in objects
    ]
    return GENERATED + "---\n".join(docs)


def generated_files() -> dict[str, str]:
    """Every generated file's path (relative to this folder) and content."""
    files = {name: render(make()) for name, make in MANIFESTS.items()}
    files["kustomization.yaml"] = render([kustomization()])
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, text in generated_files().items():
        path = HERE / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)} (run {Path(__file__).name})", file=sys.stderr)
        return 1
    if stale:
        print(f"rewrote {', '.join(stale)}")
    else:
        print("every manifest is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
