#!/usr/bin/env bash
# Build the control plane the cluster tests run (etcd, kube-apiserver, kube-controller-manager) from the
# Go modules pinned in tools/k8s/go.mod into .tools/k8s/<kubernetes version>/. Idempotent: a build whose
# binaries and go.sum stamp are already there is skipped. Nothing is fetched but Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."
MODULE=tools/k8s
VERSION=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$MODULE/go.mod")
OUT=$PWD/.tools/k8s/$VERSION
STAMP=$OUT/.go.sum.sha256
WANT=$(sha256sum "$MODULE/go.mod" "$MODULE/go.sum" | sha256sum | cut -d' ' -f1)
if [[ -x $OUT/etcd && -x $OUT/kube-apiserver && -x $OUT/kube-controller-manager && -f $STAMP && $(cat "$STAMP") == "$WANT" ]]; then
  echo "cluster-tools: $OUT is up to date"
  exit 0
fi
command -v go >/dev/null || { echo "cluster-tools: go not found; the cluster tests need Go >= 1.25 to build the control plane" >&2; exit 1; }
mkdir -p "$OUT"
# component-base/version is what the server reports (kubectl version, helm's kubeVersion check).
V=k8s.io/component-base/version
LDFLAGS="-s -w -X $V.gitVersion=$VERSION -X $V.gitMajor=$(cut -d. -f1 <<<"${VERSION#v}") -X $V.gitMinor=$(cut -d. -f2 <<<"$VERSION") -X $V.gitTreeState=clean"
start=$SECONDS
cd "$MODULE"
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
echo "cluster-tools: building Kubernetes $VERSION into $OUT (cold: about 15-25 min on 2 cores)"
go build -trimpath -ldflags "$LDFLAGS" -o "$OUT/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
go build -trimpath -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3
echo "$WANT" > "$STAMP"
echo "cluster-tools: built in $((SECONDS - start)) s: $(ls "$OUT" | tr '\n' ' ')"
