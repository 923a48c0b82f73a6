"""Reading a DriftCheck manifest for the Prefect flow: the spec, and what only Prefect needs from metadata.

The retrain deployment is named by an annotation, so one manifest drives both the operator (which
ignores it and runs `spec.retrain.jobTemplate`) and Prefect (which runs the deployment), with no
field added to the CRD.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from driftwatch_controller.api.spec import DriftCheckSpec, SpecError

RETRAIN_DEPLOYMENT_ANNOTATION = "driftwatch.io/prefect-retrain-deployment"
# Prefect deployments are named "<flow name>/<deployment name>".
_DEPLOYMENT_NAME = re.compile(r"^[^/\s]+/[^/\s]+$")


@dataclass(frozen=True)
class Manifest:
    """A parsed DriftCheck: its spec, its name and the retrain deployment its annotation names."""

    spec: DriftCheckSpec
    name: str
    retrain_deployment: str | None

    @property
    def state_variable(self) -> str:
        """The Prefect Variable carrying the status forward between runs (history, streak, cooldown)."""
        slug = re.sub(r"[^a-z0-9_]+", "_", self.name.lower()).strip("_") or "check"
        return f"driftwatch_status_{slug}"[:255]


def read_manifest_file(path: str | Path) -> dict[str, Any]:
    """The YAML mapping of `path`; SpecError, one line, when it is not one (as `driftwatch check -f`)."""
    try:
        obj = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        lines = str(exc).splitlines() or [type(exc).__name__]
        raise SpecError(f"{path} is not valid YAML: {lines[0]}") from None
    if not isinstance(obj, dict):
        raise SpecError(f"{path} does not hold a DriftCheck")
    return obj


def parse_manifest(
    source: str | Path | Mapping[str, Any], *, retrain_deployment: str | None = None
) -> Manifest:
    """A manifest path or mapping as a `Manifest`; `retrain_deployment` wins over the annotation."""
    obj = dict(source) if isinstance(source, Mapping) else read_manifest_file(source)
    spec = DriftCheckSpec.from_manifest(obj)
    raw = obj.get("metadata")
    metadata: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    annotations = metadata.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        raise SpecError("metadata.annotations must be a mapping")
    deployment = retrain_deployment or annotations.get(RETRAIN_DEPLOYMENT_ANNOTATION)
    if deployment is not None and not (isinstance(deployment, str) and _DEPLOYMENT_NAME.match(deployment)):
        raise SpecError(
            f"metadata.annotations.{RETRAIN_DEPLOYMENT_ANNOTATION}: {deployment!r} is not a deployment name "
            "'<flow>/<deployment>'"
        )
    if spec.retrain.mode != "Off" and deployment is None:
        raise SpecError(
            f"spec.retrain.mode is {spec.retrain.mode}: name the retrain deployment with the annotation "
            f"{RETRAIN_DEPLOYMENT_ANNOTATION} or the flow parameter retrain_deployment"
        )
    default_name = Path(source).stem if isinstance(source, str | Path) else "check"
    name = str(metadata.get("name") or spec.model or default_name)
    return Manifest(spec=spec, name=name, retrain_deployment=deployment)
