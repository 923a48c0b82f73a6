"""Fixtures of the cluster tier: one control plane and one pod runner for the session.

Every test here runs against a real etcd, kube-apiserver (RBAC, admission, validation) and
kube-controller-manager (CronJob, Job, garbage collector, ...); pods run through the pod runner.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cluster_release import Release, install_monitoring_crds, installed_release, write_datasets
from support.control_plane import ControlPlane, missing_binaries, running_control_plane
from support.pod_runner import Image, PodRunner

BIN = Path(sys.executable).parent
# The project's images, as their Dockerfiles define them, run from the test virtualenv.
IMAGES = {
    "driftwatch/drift-controller": Image(
        BIN, ["driftwatch"], ["controller"], {"HOME": "/tmp", "PYTHONUNBUFFERED": "1"}
    ),
    "driftwatch/inference": Image(
        BIN, [], ["driftwatch-inference", "serve"], {"HOME": "/tmp", "PYTHONUNBUFFERED": "1"}
    ),
}


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    missing = missing_binaries()
    if missing:
        pytest.fail(
            f"control-plane binaries missing ({', '.join(missing)}): run `make cluster-tools`", pytrace=False
        )
    with running_control_plane(tmp_path_factory.mktemp("control-plane")) as plane:
        yield plane


@pytest.fixture(scope="session")
def monitoring_crds(control_plane: ControlPlane) -> bool:
    """The prometheus-operator CRDs applied from shared/schemas; False (monitoring off) where absent."""
    return install_monitoring_crds(control_plane)


@pytest.fixture(scope="session")
def pod_runner(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodRunner]:
    runner = PodRunner(
        control_plane,
        tmp_path_factory.mktemp("pod-runner"),
        IMAGES,
        selector="app.kubernetes.io/component in (controller,check,test)",
    )
    runner.start()
    yield runner
    runner.stop()


@pytest.fixture(scope="module")
def release(
    request: pytest.FixtureRequest,
    control_plane: ControlPlane,
    pod_runner: PodRunner,
    monitoring_crds: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Release]:
    """The chart installed as `make deploy` configures it in the module's NAMESPACE, controller healthy."""
    namespace = request.module.NAMESPACE
    workdir = tmp_path_factory.mktemp(namespace)
    with installed_release(
        control_plane, pod_runner, workdir, namespace, monitoring_crds=monitoring_crds
    ) as rel:
        yield rel


@pytest.fixture(scope="module")
def uris(release: Release) -> dict[str, str]:
    """An undrifted reference and current window on the release's data folder."""
    return write_datasets(release.data_dir)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, the components' and the pods' last log lines go into the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        plane = funcargs.get("control_plane")
        runner = funcargs.get("pod_runner")
        if plane is not None:
            report.sections.append(("control plane", plane.diagnostics()))
        if runner is not None:
            report.sections.append(("pods", runner.all_logs()[-8000:]))
