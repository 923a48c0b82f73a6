"""Stores a model directory is served from in tests, all on 127.0.0.1: a real S3 API (moto's server) and a
real HTTP file server (python's http.server).

    with s3_store() as s3:
        s3.upload(model_dir, "models", "churn/v1")     # -> s3://models/churn/v1
        env = s3.environment()                         # AWS_* and DRIFTWATCH_MODEL_STORAGE_OPTIONS
    with http_store(root) as base_url:                 # serves root/ read-only
        ...
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ACCESS_KEY, SECRET_KEY, REGION = "testing-key", "testing-secret", "us-east-1"


@dataclass(frozen=True)
class S3Store:
    endpoint: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def upload(self, model_dir: Path, bucket: str, prefix: str) -> str:
        """Put every file of `model_dir` under s3://bucket/prefix/; returns that URI."""
        client = self.client()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
        for path in sorted(model_dir.iterdir()):
            client.upload_file(str(path), bucket, f"{prefix}/{path.name}")
        return f"s3://{bucket}/{prefix}"

    def credentials(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def storage_options(self) -> dict[str, Any]:
        return {"client_kwargs": {"endpoint_url": self.endpoint}}

    def environment(self) -> dict[str, str]:
        """What a process needs to read this store: AWS credentials, the endpoint as storage options."""
        return {**self.credentials(), "DRIFTWATCH_MODEL_STORAGE_OPTIONS": json.dumps(self.storage_options())}


@contextmanager
def s3_store() -> Iterator[S3Store]:
    """moto's S3 server on 127.0.0.1, a free port, until the block exits."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Store(f"http://{host}:{port}")
    finally:
        server.stop()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def http_store(root: Path) -> Iterator[str]:
    """`root` served over HTTP on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="http-store", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
