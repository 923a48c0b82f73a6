"""The chart's Spark option (check.spark.kubernetes): off, nothing Spark-specific renders; on, check pods
may run Spark executors as pods in each namespace they run in, and the executors get no API access."""

from __future__ import annotations

from typing import Any

import pytest
from support.chart_render import NAMESPACE, by_kind, render

pytestmark = pytest.mark.integration

ON = "check.spark.kubernetes=true"


def spark_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if "spark" in o["metadata"]["name"]]


@pytest.mark.parametrize("flavour", ["v34", "v35"])
def test_off_by_default(flavour: str) -> None:
    assert spark_objects(render(flavour)) == []


@pytest.mark.parametrize("flavour", ["v34", "v35"])
def test_on_the_check_service_account_may_run_executor_pods_in_each_namespace(flavour: str) -> None:
    objects = render(flavour, None, ON, "controller.watchNamespaces={models,lake}")
    roles = [r for r in by_kind(objects, "Role") if r["metadata"]["name"].endswith("-check-spark")]
    assert sorted(r["metadata"]["namespace"] for r in roles) == sorted([NAMESPACE, "models", "lake"])
    for role in roles:
        assert role["rules"] == [
            {
                "apiGroups": [""],
                "resources": ["pods", "configmaps", "services"],
                "verbs": ["create", "get", "list", "watch", "delete", "deletecollection"],
            }
        ]
    check_sa = next(
        o["metadata"]["name"]
        for o in by_kind(objects, "ServiceAccount")
        if o["metadata"]["name"].endswith("-check")
    )
    bindings = [b for b in by_kind(objects, "RoleBinding") if b["metadata"]["name"].endswith("-check-spark")]
    assert len(bindings) == 3
    for binding in bindings:
        assert binding["roleRef"]["name"] == binding["metadata"]["name"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": check_sa, "namespace": binding["metadata"]["namespace"]}
        ]
    executors = [
        s for s in by_kind(objects, "ServiceAccount") if s["metadata"]["name"].endswith("-spark-executor")
    ]
    assert len(executors) == 3
    assert all(s["automountServiceAccountToken"] is False for s in executors)


def test_the_executor_service_account_name_is_a_value() -> None:
    objects = render("v35", None, ON, "check.spark.executorServiceAccount=lake-executor")
    names = {o["metadata"]["name"] for o in by_kind(objects, "ServiceAccount")}
    assert "lake-executor" in names
    assert not any(n.endswith("-spark-executor") for n in names)


def test_no_rbac_without_rbac_create() -> None:
    assert spark_objects(render("v35", None, ON, "rbac.create=false")) == []
