"""A KMock-based Kubernetes API emulator for the operator tests, runnable as its own process.

    python tests/support/kmock_cluster.py --crd charts/driftwatch/crds/driftcheck.yaml --port 0
    # prints "READY http://127.0.0.1:<port>" once it serves

kmock 0.8's `KubernetesEmulator` stores objects and streams watch events; this subclass adds what
kopf, the kubernetes client and the real `kubectl` need from an API server:
- metadata on create (uid, resourceVersion, generation, creationTimestamp, a name for
  `generateName`), the namespace taken from the URL, kind/apiVersion on objects and lists;
- a resourceVersion on every write, `generation` bumped when the spec changes, the status
  subresource (a status patch changes only status, a main patch never changes status);
- core discovery with `groupVersion: v1` (kmock answers `/v1`);
- `Table` answers built from the CRD's printer columns, so `kubectl get driftchecks` prints them;
- a request log at `GET /_emulator/requests` (when, who, verb, resource, subresource, body of writes)
  for the RBAC-coverage and status-schema tests; the caller is the kubeconfig's bearer token.

What a real API server does and this one does not: authentication and RBAC (tokens are only
recorded), admission, OpenAPI/CRD schema validation, defaulting and pruning of undeclared fields,
strategic merge patch (every patch is a JSON merge patch or a JSON patch), protobuf bodies (so
`kubectl create job --from=cronjob/...`, which posts protobuf, fails here), optimistic concurrency
on resourceVersion, label/field selectors, watch resumption from a resourceVersion and bookmarks,
garbage collection through ownerReferences, and every controller (CronJobs never fire, Jobs never
start pods). Tests make up for the schema part by validating what was written against the CRD.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import importlib.metadata
import itertools
import re
import secrets
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml

# The subclasses below use kmock's private modules, which may change in any release: fail with a
# clear message on another version than the one requirements/dev.in pins, not an obscure error.
KMOCK_VERSION = "0.8"
if importlib.metadata.version("kmock") != KMOCK_VERSION:
    raise ImportError(
        f"tests/support/kmock_cluster.py is written against kmock {KMOCK_VERSION} (its private "
        f"kmock._internal API), found kmock {importlib.metadata.version('kmock')}: install the "
        "pinned version (make install) or port this module"
    )

from kmock._internal import dicts, dsl, enums, rendering  # noqa: E402 - only after the version check

CORE_KINDS = {
    ("batch", "cronjobs"): ("CronJob", "cronjob", True),
    ("batch", "jobs"): ("Job", "job", True),
    ("", "events"): ("Event", "event", True),
    ("", "namespaces"): ("Namespace", "namespace", False),
}
VERBS = ["get", "list", "watch", "create", "patch", "delete"]


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_duration(seconds: float) -> str:
    """The apiserver's HumanDuration, as printed in AGE-like columns."""
    s = int(max(seconds, 0))
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d" if d < 730 else f"{d // 365}y"


_FILTER = re.compile(r'^(?P<field>[^\[]+)\[\?\(@\.(?P<key>\w+)=="(?P<value>[^"]*)"\)\]$')


def json_path(obj: Any, path: str) -> Any:
    """The subset of JSONPath printer columns use: `.a.b` and `.list[?(@.key=="v")].field`."""
    node = obj
    for part in path.lstrip(".").split("."):
        if node is None:
            return None
        match = _FILTER.match(part)
        if match:
            items = node.get(match["field"]) if isinstance(node, dict) else None
            node = next((i for i in items or [] if str(i.get(match["key"])) == match["value"]), None)
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node


def _matches(view: Any, request: rendering.Request) -> bool | None:
    """Whether a chain of plain filters and priorities accepts this one request; None: not such a chain."""
    node = view
    while isinstance(node, dsl.Chained):
        if type(node) is dsl.Filter:
            if not node.criteria(request):
                return False
        elif type(node) is not dsl.Priority:
            return None
        node = node._source
    return isinstance(node, dsl.Root)


class _DirectMatching(kmock.KubernetesScaffold):
    """kmock's reaction lookup, with each reaction matched on the request alone.

    kmock decides whether a reaction applies with `request in reaction._source`, which re-filters
    the whole request history for every reaction on every request: quadratic over a run (the
    100th create of the benchmark took 0.2 s). The emulator's own reactions are chains of filters
    and priorities, which are evaluated on the one request instead; anything else takes kmock's path.
    """

    __slots__ = ()

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        # The same order as kmock's: highest priority first, shorter priorities padded with zeros.
        longest = max((len(payload.priorities) for payload in self._payloads), default=0)
        ordered = sorted(
            self._payloads,
            key=lambda payload: (
                tuple(-p for p in payload.priorities) + (0,) * (longest - len(payload.priorities))
            ),
        )
        for payload in ordered:
            matched = _matches(payload._source, request)
            if matched is None:
                matched = request in payload._source
            if matched and not payload._disabled.is_set():
                try:
                    return await payload(request)
                except rendering.ReactionMismatchError:
                    payload._disabled.set()
                except NotImplementedError:
                    pass
        raise NotImplementedError("no reaction matches the request")


@attrs.define(kw_only=True)
class DriftwatchEmulator(kmock.KubernetesEmulator, _DirectMatching):
    """kmock's emulator plus metadata, generation, status subresource, Tables and a request log."""

    crd: dict[str, Any] = attrs.field(factory=dict)
    audit: list[dict[str, Any]] = attrs.field(factory=list, init=False)
    _rv: Any = attrs.field(factory=lambda: itertools.count(1000), init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for (group, plural), (kind, singular, namespaced) in CORE_KINDS.items():
            key = f"{group}/v1/{plural}" if group else f"v1/{plural}"
            self.resources[key] = kmock.ResourceInfo(
                kind=kind, singular=singular, namespaced=namespaced, verbs=VERBS
            )
        if self.crd:
            names, spec = self.crd["spec"]["names"], self.crd["spec"]
            for version in spec["versions"]:
                self.resources[f"{spec['group']}/{version['name']}/{names['plural']}"] = kmock.ResourceInfo(
                    kind=names["kind"],
                    singular=names["singular"],
                    namespaced=spec["scope"] == "Namespaced",
                    shortnames=names.get("shortNames", []),
                    categories=names.get("categories", []),
                    subresources=list((version.get("subresources") or {}).keys()),
                    verbs=[*VERBS, "update"],
                )

    # ---- what each resource looks like -------------------------------------------------
    def _kind(self, resource: Any) -> str:
        info = self.resources.get(resource)
        return str(getattr(info, "kind", None) or str(resource.plural).capitalize())

    def _has_status(self, resource: Any) -> bool:
        return resource in self.resources and "status" in self.resources[resource].subresources

    def _printer_columns(self, resource: Any) -> list[dict[str, Any]]:
        if not self.crd or resource.group != self.crd["spec"]["group"]:
            return [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
        version = next(v for v in self.crd["spec"]["versions"] if v["name"] == resource.version)
        return list(version.get("additionalPrinterColumns") or [])

    # ---- request handling --------------------------------------------------------------
    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if request.url.path == "/_emulator/requests":
            return aiohttp.web.json_response(self.audit)
        if request.resource is not None:
            if request.resource.plural:
                self._record(request)
            if request.method == enums.method.PUT:
                return self._status_response(405, "MethodNotAllowed", "PUT is not emulated; use PATCH")
            if (rejected := self._prepare_write(request)) is not None:
                return rejected
            if "as=Table" in request.headers.get("Accept", "") and request.action in (
                enums.action.LIST,
                enums.action.FETCH,
            ):
                try:
                    return aiohttp.web.json_response(await self._table(request))
                except kmock.KubernetesError as exc:
                    return await self._render_error(exc)
        return await super()._handle(request)

    @staticmethod
    def _status_response(code: int, reason: str, message: str) -> aiohttp.web.StreamResponse:
        body = {"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code, "reason": reason,
                "message": message, "metadata": {}}  # fmt: skip
        return aiohttp.web.json_response(body, status=code)

    def _record(self, request: rendering.Request) -> None:
        auth = request.headers.get("Authorization", "")
        method = request.method
        if request.action == enums.action.WATCH:
            verb = "watch"
        elif method == enums.method.GET:
            verb = "get" if request.name else "list"
        elif method == enums.method.POST:
            verb = "create"
        elif method == enums.method.PATCH:
            verb = "patch"
        elif method == enums.method.PUT:
            verb = "update"
        elif method == enums.method.DELETE:
            verb = "delete" if request.name else "deletecollection"
        else:
            verb = str(method).lower()
        assert request.resource is not None
        entry: dict[str, Any] = {
            "time": time.time(),
            "user": auth.removeprefix("Bearer ").strip() or None,
            "agent": request.headers.get("User-Agent", ""),
            "verb": verb,
            "group": request.resource.group,
            "resource": request.resource.plural,
            "subresource": request.subresource,
            "namespace": request.namespace,
            "name": request.name,
        }
        if verb in ("create", "patch"):
            entry["body"] = copy.deepcopy(request.data)
        self.audit.append(entry)

    def _prepare_write(self, request: rendering.Request) -> aiohttp.web.StreamResponse | None:
        """Fill in what a real API server sets on create and on patch, in the request body itself."""
        resource, data = request.resource, request.data
        assert resource is not None
        rv = str(next(self._rv))
        if request.action == enums.action.CREATE and isinstance(data, dict):
            meta = data.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = f"{meta['generateName']}{secrets.token_hex(3)}"
            if request.namespace:
                meta["namespace"] = request.namespace
            meta.update(uid=str(uuid.uuid4()), resourceVersion=rv, generation=1, creationTimestamp=_now())
            data.setdefault("kind", self._kind(resource))
            data.setdefault("apiVersion", f"{resource.group}/{resource.version}" if resource.group else "v1")
            if self._has_status(resource):
                data.pop("status", None)  # a create never sets status when it is a subresource
        elif request.action == enums.action.UPDATE and request.name is not None:
            key = (resource, request.namespace, request.name)
            if key not in self.objects or self.objects[key].deleted:
                return None  # kmock answers 404
            current = self.objects[key].raw
            status_only = request.subresource == "status"
            if isinstance(data, dict):
                if status_only:
                    for field in [k for k in data if k != "status"]:
                        del data[field]
                elif self._has_status(resource):
                    data.pop("status", None)
                after = dicts.patch_dict(copy.deepcopy(current), data)
                meta_patch = data.setdefault("metadata", {})
                meta_patch["resourceVersion"] = rv
                if after.get("spec") != current.get("spec"):
                    meta_patch["generation"] = int(current["metadata"].get("generation", 1)) + 1
            elif isinstance(data, list):
                for op in data:
                    if (
                        op.get("op") == "test"
                        and json_path(current, op["path"].replace("/", ".")) != op["value"]
                    ):
                        return self._status_response(422, "Invalid", f"the test of {op['path']} failed")
                if status_only:
                    data[:] = [
                        op for op in data if op.get("op") == "test" or op["path"].startswith("/status")
                    ]
                after = dicts.patch_dict(
                    copy.deepcopy(current), [op for op in data if op.get("op") != "test"]
                )
                data.append({"op": "replace", "path": "/metadata/resourceVersion", "value": rv})
                if after.get("spec") != current.get("spec"):
                    generation = int(current["metadata"].get("generation", 1)) + 1
                    data.append({"op": "add", "path": "/metadata/generation", "value": generation})
        return None

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        payload = await super()._serve_list(request)
        assert isinstance(payload, dict)
        assert request.resource is not None
        resource = request.resource
        payload["kind"] = f"{self._kind(resource)}List"
        payload["apiVersion"] = f"{resource.group}/{resource.version}" if resource.group else "v1"
        payload["metadata"] = {"resourceVersion": str(next(self._rv))}
        return payload

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        payload = await super()._serve_version(request)
        if isinstance(payload, dict) and str(payload.get("groupVersion", "")).startswith("/"):
            payload["groupVersion"] = payload["groupVersion"].lstrip("/")
        for entry in payload.get("resources", []) if isinstance(payload, dict) else []:
            if "/" in entry["name"]:  # subresources have no short names or categories of their own
                entry.update(shortNames=[], categories=[], verbs=["get", "patch"])
        return payload

    async def _table(self, request: rendering.Request) -> dict[str, Any]:
        assert request.resource is not None
        if request.action == enums.action.LIST:
            listed = await self._serve_list(request)
            assert isinstance(listed, dict)
            items = listed["items"]
        else:
            items = [await self._serve_fetch(request)]
        columns = self._printer_columns(request.resource)
        now = dt.datetime.now(dt.UTC)
        definitions = [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}]
        definitions += [
            {"name": c["name"], "type": c["type"], "format": "", "description": c.get("description", ""),
             "priority": c.get("priority", 0)}
            for c in columns
        ]  # fmt: skip
        rows = []
        for obj in items:
            cells: list[Any] = [obj["metadata"]["name"]]
            for column in columns:
                value = json_path(obj, column["jsonPath"])
                if column["type"] == "date" and value:
                    moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                    value = human_duration((now - moment).total_seconds())
                cells.append(value)
            partial = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
            rows.append({"cells": cells, "object": partial})
        return {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": str(next(self._rv))},
            "columnDefinitions": definitions,
            "rows": rows,
        }


async def serve(crd: dict[str, Any], port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    emulator = DriftwatchEmulator(crd=crd)
    async with emulator, kmock.Server(emulator, port=port or None) as server:
        print(f"READY {server.url}".rstrip("/"), flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crd", type=Path, required=True, help="CRD file whose resource is served")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    args = parser.parse_args(argv)
    asyncio.run(serve(yaml.safe_load(args.crd.read_text(encoding="utf-8")), args.port))


if __name__ == "__main__":
    sys.exit(main())
