#!/usr/bin/env bash
# Build the control plane the cluster tests run from the Go modules pinned in tools/: etcd,
# kube-apiserver and kube-controller-manager (tools/k8s/go.mod) into .tools/k8s/<kubernetes version>/,
# and the prometheus-operator (tools/prometheus-operator/go.mod) into .tools/k8s/prometheus-operator-<v>/.
# Idempotent: a build whose binaries and go.mod/go.sum stamp are already there is skipped. Nothing is
# fetched but Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.tools/k8s
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
# Go's default install place, for a shell whose PATH does not name it.
command -v go >/dev/null || export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { echo "cluster-tools: go not found; the cluster tests need Go >= 1.26 to build the control plane" >&2; exit 1; }

stamp() { sha256sum "$1/go.mod" "$1/go.sum" | sha256sum | cut -d' ' -f1; }
up_to_date() {  # <out dir> <module dir> <binaries...>
  local out=$1 module=$2; shift 2
  for binary in "$@"; do [[ -x $out/$binary ]] || return 1; done
  [[ -f $out/.go.sum.sha256 && $(cat "$out/.go.sum.sha256") == "$(stamp "$module")" ]]
}

K8S=$ROOT/tools/k8s
VERSION=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$K8S/go.mod")
OUT=$TOOLS/$VERSION
if up_to_date "$OUT" "$K8S" etcd kube-apiserver kube-controller-manager; then
  echo "cluster-tools: $OUT is up to date"
else
  echo "cluster-tools: building Kubernetes $VERSION into $OUT (cold: about 10 min on 2 cores)"
  start=$SECONDS
  # component-base/version is what the server reports (kubectl version, helm's kubeVersion check).
  V=k8s.io/component-base/version
  MINOR=$(cut -d. -f2 <<<"$VERSION")
  LDFLAGS="-s -w -X $V.gitVersion=$VERSION -X $V.gitMajor=1 -X $V.gitMinor=$MINOR -X $V.gitTreeState=clean"
  (cd "$K8S" && go build -trimpath -ldflags "$LDFLAGS" -o "$OUT/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    && go build -trimpath -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3)
  stamp "$K8S" > "$OUT/.go.sum.sha256"
  echo "cluster-tools: built Kubernetes $VERSION in $((SECONDS - start)) s"
fi

# At the version of the CRDs vendored in shared/schemas: the cluster tests run it to prove that the
# chart's ServiceMonitors and rules reach a Prometheus that selects on the `release` label.
PO=$ROOT/tools/prometheus-operator
PO_VERSION=$(awk '$1 == "require" && $2 == "github.com/prometheus-operator/prometheus-operator" {print $3; exit}' "$PO/go.mod")
PO_OUT=$TOOLS/prometheus-operator-$PO_VERSION
if up_to_date "$PO_OUT" "$PO" operator crds; then
  echo "cluster-tools: $PO_OUT is up to date"
else
  echo "cluster-tools: building prometheus-operator $PO_VERSION into $PO_OUT (cold: about 4 min on 2 cores)"
  start=$SECONDS
  (cd "$PO" && go build -trimpath -ldflags "-s -w" -o "$PO_OUT/operator" github.com/prometheus-operator/prometheus-operator/cmd/operator)
  # Its CRDs (Prometheus and the rest), which the tests apply, from the same module.
  rm -rf "$PO_OUT/crds" && mkdir -p "$PO_OUT/crds"
  cp "$(cd "$PO" && go list -m -f '{{.Dir}}' github.com/prometheus-operator/prometheus-operator)"/example/prometheus-operator-crd/*.yaml "$PO_OUT/crds/"
  chmod u+w "$PO_OUT/crds"/*.yaml
  stamp "$PO" > "$PO_OUT/.go.sum.sha256"
  echo "cluster-tools: built prometheus-operator $PO_VERSION in $((SECONDS - start)) s"
fi
