"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver (RBAC) and kube-controller-manager.

Built by `make cluster-tools` into .tools/k8s/<version>/ from the modules pinned in tools/k8s/go.mod.
There is no kubelet and no scheduler: tests/support/pod_runner.py runs the pods the tests need.

    python -m tests.support.control_plane up    # by hand: start one, print its kubeconfig, wait for Ctrl-C
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

if (
    __package__ == "tests.support"
):  # run as `python -m tests.support.control_plane`: support.* lives in tests/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.processes import die_with_parent, free_port, kubectl_path, run_tool, stop_gracefully

ROOT = Path(__file__).resolve().parents[2]
TOOLS_MODULE = ROOT / "tools" / "k8s" / "go.mod"
ADMIN_USER = "driftwatch-test-admin"
ISSUER = "https://kubernetes.default.svc.cluster.local"
# What the tests need of kube-controller-manager: Jobs, CronJobs and garbage collection first, then what
# a namespace, a ServiceAccount, a Deployment and a claim need to be created and deleted as on a cluster.
CONTROLLERS = (
    "cronjob-controller",
    "job-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    "deployment-controller",
    "replicaset-controller",
    "disruption-controller",
    "persistentvolumeclaim-protection-controller",
    "ttl-after-finished-controller",
)


def kubernetes_version() -> str:
    """The k8s.io/kubernetes version pinned in tools/k8s/go.mod (the folder the binaries are built into)."""
    match = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", TOOLS_MODULE.read_text(encoding="utf-8"), re.M)
    if not match:
        raise RuntimeError(f"{TOOLS_MODULE} pins no k8s.io/kubernetes version")
    return match.group(1)


def binaries_dir() -> Path:
    return ROOT / ".tools" / "k8s" / kubernetes_version()


def prometheus_operator_version() -> str:
    """The prometheus-operator version pinned in tools/prometheus-operator/go.mod."""
    text = (ROOT / "tools" / "prometheus-operator" / "go.mod").read_text(encoding="utf-8")
    match = re.search(r"^require github\.com/prometheus-operator/prometheus-operator (v\S+)", text, re.M)
    if not match:
        raise RuntimeError("tools/prometheus-operator/go.mod pins no prometheus-operator version")
    return match.group(1)


def prometheus_operator_binary() -> Path:
    return ROOT / ".tools" / "k8s" / f"prometheus-operator-{prometheus_operator_version()}" / "operator"


def missing_binaries() -> list[str]:
    return [
        name
        for name in ("etcd", "kube-apiserver", "kube-controller-manager")
        if not (binaries_dir() / name).exists()
    ]


def _write_pki(pki: Path) -> None:
    """A CA, the API server's serving certificate (127.0.0.1, localhost), the ServiceAccount signing key
    and an admin client certificate."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    def key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def pem_key(k: rsa.RSAPrivateKey) -> bytes:
        return k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    now = dt.datetime.now(dt.UTC)
    ca_key, server_key, sa_key, admin_key = key(), key(), key(), key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "driftwatch-test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName("kubernetes.default.svc"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    # A client certificate for programs that take no token (the prometheus-operator): the admin, as a master.
    admin = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, ADMIN_USER),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(admin_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .sign(ca_key, hashes.SHA256())
    )
    pki.mkdir(parents=True, exist_ok=True)
    (pki / "admin.crt").write_bytes(admin.public_bytes(serialization.Encoding.PEM))
    (pki / "admin.key").write_bytes(pem_key(admin_key))
    (pki / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (pki / "ca.key").write_bytes(pem_key(ca_key))
    (pki / "apiserver.crt").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (pki / "apiserver.key").write_bytes(pem_key(server_key))
    (pki / "sa.key").write_bytes(pem_key(sa_key))
    (pki / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def write_kubeconfig(path: Path, server: str, ca_file: Path, token: str, namespace: str = "default") -> Path:
    """A kubeconfig for one bearer token, verifying the API server against the run's CA."""
    ca_data = base64.b64encode(ca_file.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "driftwatch-test", "cluster": {"server": server, "certificate-authority-data": ca_data}}
        ],
        "users": [{"name": "user", "user": {"token": token}}],
        "contexts": [
            {
                "name": "driftwatch-test",
                "context": {"cluster": "driftwatch-test", "user": "user", "namespace": namespace},
            }
        ],
        "current-context": "driftwatch-test",
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    path.chmod(0o600)
    return path


@dataclass
class ControlPlane:
    """A running control plane: its URL, CA, admin kubeconfig, and helpers over kubectl and the API."""

    workdir: Path
    api_url: str
    ca_file: Path
    admin_token: str
    kubeconfig: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # ---- kubectl ---------------------------------------------------------------------------
    def kubectl(
        self,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        env = {
            "KUBECONFIG": str(kubeconfig or self.kubeconfig),
            "KUBECACHEDIR": str(self.workdir / "kube-cache"),
        }
        return run_tool([kubectl_path(), *args], env=env, stdin=stdin, check=check, timeout=timeout)

    def apply(self, manifest: Mapping[str, Any] | str, *, namespace: str | None = None) -> str:
        text = manifest if isinstance(manifest, str) else json.dumps(dict(manifest))
        args = ["apply", "-f", "-"] + (["--namespace", namespace] if namespace else [])
        return self.kubectl(*args, stdin=text).stdout

    # ---- the API over HTTP (no kubectl start-up per poll) -----------------------------------
    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url,
            verify=ssl.create_default_context(cafile=str(self.ca_file)),
            headers={"Authorization": f"Bearer {token or self.admin_token}"},
            timeout=30,
        )

    def get(self, path: str) -> dict[str, Any] | None:
        """The object at an API path (`/apis/batch/v1/namespaces/ns/jobs/x`), or None when absent."""
        with self.client() as api:
            response = api.get(path)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    def items(self, path: str, **params: str) -> list[dict[str, Any]]:
        with self.client() as api:
            response = api.get(path, params=params)
        response.raise_for_status()
        return list(response.json().get("items", []))

    def create_namespace(self, name: str) -> str:
        self.kubectl("create", "namespace", name)
        # The ServiceAccount admission plugin refuses pods until the namespace's default account exists.
        wait_until(
            lambda: self.get(f"/api/v1/namespaces/{name}/serviceaccounts/default"),
            timeout=30,
            what=f"the default ServiceAccount of {name}",
        )
        return name

    def token(self, namespace: str, service_account: str, *, seconds: int = 3600) -> str:
        """A token of a ServiceAccount from the TokenRequest API, as a pod's projected volume holds."""
        return self.kubectl(
            "create", "token", service_account, "--namespace", namespace, "--duration", f"{seconds}s"
        ).stdout.strip()

    def service_account_kubeconfig(self, namespace: str, service_account: str, path: Path) -> Path:
        return write_kubeconfig(
            path, self.api_url, self.ca_file, self.token(namespace, service_account), namespace
        )

    # ---- diagnostics -------------------------------------------------------------------------
    def logs(self, name: str, tail: int = 80) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-tail:])

    def diagnostics(self) -> str:
        return "\n".join(f"--- {name} (last lines) ---\n{self.logs(name)}" for name in self.processes)


def wait_until(probe: Any, *, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll `probe` until it returns something truthy; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _start(name: str, command: list[str], workdir: Path) -> subprocess.Popen[bytes]:
    log = (workdir / f"{name}.log").open("wb")
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True,
        preexec_fn=die_with_parent,
    )  # fmt: skip


def _wait_healthy(
    url: str, process: subprocess.Popen[bytes], name: str, workdir: Path, **client: Any
) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (workdir / f"{name}.log").read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log[-4000:]}")
        try:
            if httpx.get(url, timeout=2, **client).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{name} not healthy at {url} after 90 s")


@contextmanager
def running_control_plane(workdir: Path) -> Iterator[ControlPlane]:
    """Start etcd, kube-apiserver and kube-controller-manager; stop all three on exit."""
    missing = missing_binaries()
    if missing:
        raise RuntimeError(
            f"control-plane binaries missing in {binaries_dir()}: {missing}; run `make cluster-tools`"
        )
    bins = binaries_dir()
    workdir.mkdir(parents=True, exist_ok=True)
    pki = workdir / "pki"
    _write_pki(pki)
    admin_token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
    (pki / "tokens.csv").write_text(
        f'{admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n', encoding="utf-8"
    )
    etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        processes["etcd"] = _start(
            "etcd",
            [
                str(bins / "etcd"),
                "--name",
                "default",
                "--data-dir",
                str(workdir / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{etcd_peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{etcd_peer}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{etcd_peer}",
                # A test cluster's data is thrown away: skipping fsync keeps the disk out of every write.
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
                "--listen-metrics-urls",
                "",
            ],
            workdir,
        )
        _wait_healthy(f"http://127.0.0.1:{etcd_port}/health", processes["etcd"], "etcd", workdir)
        processes["kube-apiserver"] = _start(
            "kube-apiserver",
            [
                str(bins / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                f"--secure-port={api_port}",
                "--advertise-address=127.0.0.1",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--token-auth-file={pki / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-issuer={ISSUER}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-cluster-ip-range=10.96.0.0/24",
                # No node or kube-proxy answers for the `kubernetes` Service: do not publish 127.0.0.1 in it.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                "--v=1",
            ],
            workdir,
        )
        api_url = f"https://127.0.0.1:{api_port}"
        _wait_healthy(
            f"{api_url}/readyz",
            processes["kube-apiserver"],
            "kube-apiserver",
            workdir,
            verify=ssl.create_default_context(cafile=str(pki / "ca.crt")),
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        kubeconfig = write_kubeconfig(workdir / "admin.kubeconfig", api_url, pki / "ca.crt", admin_token)
        processes["kube-controller-manager"] = _start(
            "kube-controller-manager",
            [
                str(bins / "kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--use-service-account-credentials=true",
                # Tests wait on these: the defaults (a sync every 30 s, GC resync) are tuned for big clusters.
                "--concurrent-cron-job-syncs=5",
                "--concurrent-job-syncs=5",
                "--concurrent-gc-syncs=20",
                "--profiling=false",
                "--v=1",
            ],
            workdir,
        )
        plane = ControlPlane(workdir, api_url, pki / "ca.crt", admin_token, kubeconfig, processes)
        wait_until(
            lambda: (
                processes["kube-controller-manager"].poll() is None
                and plane.get("/api/v1/namespaces/default/serviceaccounts/default")
            ),
            timeout=60,
            what="kube-controller-manager to create the default ServiceAccount",
        )
        yield plane
    finally:
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            if name in processes:
                stop_gracefully(processes[name], timeout=15)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up"], help="up: start a control plane and wait for Ctrl-C")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where logs, PKI and etcd data go (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="driftwatch-control-plane-"))
    with running_control_plane(workdir) as plane:
        print(
            f"API server  {plane.api_url}\nkubeconfig  export KUBECONFIG={plane.kubeconfig}\n"
            f"logs        {workdir}"
        )
        print("Ctrl-C stops it.", flush=True)
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)
        signal.sigwait(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
