#!/usr/bin/env bash
# Build the local cluster's binaries from the Go module proxy and gather its CRDs, cached by version.
#
#   tools/cluster/build.sh            build what is missing, then print the output directory (last stdout line)
#   tools/cluster/build.sh --check    print the output directory if a complete build exists, else exit 1
#
# Cache ($PROGRESSIVE_CLUSTER_CACHE, default ~/.cache/progressive-cluster):
#   module-<name>-<hash>/   one Go module's binaries; <hash> covers the Go version, the module's go.mod and go.sum
#                           and its build command, so changing one module rebuilds only that module
#   <key>/bin/              links to every module's binaries; <key>/crds/ the pinned CRDs and Tekton ConfigMaps;
#                           <key> covers the module hashes, crds.lock and the vendored CRDs
# A warm machine answers in about a second. Builds go to *.tmp.<pid> and are renamed only once verified, under a
# lock, so a killed or concurrent build never looks complete.
#
# Nothing is fetched from anywhere but the Go module proxy: the binaries are built from pinned modules (go.sum, with
# the default -mod=readonly so a stale go.sum fails loudly) and every CRD comes from a pinned module zip or from
# crds/ here, each checked against the sha256 in crds.lock.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
export GOTOOLCHAIN=local CGO_ENABLED=0

K8S_VERSION=v1.37.2
BUILD_TIMEOUT=${PROGRESSIVE_CLUSTER_BUILD_TIMEOUT:-60m}
cache=${PROGRESSIVE_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/progressive-cluster}

# Stamp both version packages of the Kubernetes binaries: unstamped, /version says v0.0.0 and Tekton's controller
# refuses to start (knative's KUBERNETES_MIN_VERSION check).
k8s_minor=${K8S_VERSION#v1.}
k8s_minor=${k8s_minor%%.*}
k8s_ldflags="-s -w"
for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $package.gitVersion=$K8S_VERSION -X $package.gitMajor=1 -X $package.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $package.gitTreeState=clean -X $package.gitCommit=0000000000000000000000000000000000000000"
  k8s_ldflags+=" -X $package.buildDate=1970-01-01T00:00:00Z"
done

# module directory -> "binaries it must produce | packages to build". One go build per module (shared packages
# compile once), one module after another (2 cores). Go names a binary after its package's last path element;
# etcd's is server/v3, so etcd is built on its own with an explicit name.
declare -A PRODUCES=(
  [k8s]="kube-apiserver kube-controller-manager kube-scheduler kubectl"
  [etcd]="etcd"
  [kwok]="kwok"
  [tekton]="controller webhook entrypoint workingdirinit"
)
declare -A PACKAGES=(
  [k8s]="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl"
  [etcd]="go.etcd.io/etcd/server/v3"
  [kwok]="sigs.k8s.io/kwok/cmd/kwok"
  [tekton]="github.com/tektoncd/pipeline/cmd/controller github.com/tektoncd/pipeline/cmd/webhook github.com/tektoncd/pipeline/cmd/entrypoint github.com/tektoncd/pipeline/cmd/workingdirinit"
)
declare -A LDFLAGS=([k8s]="$k8s_ldflags" [etcd]="-s -w" [kwok]="-s -w" [tekton]="-s -w")
MODULES=(k8s etcd kwok tekton)
# links in <key>/bin: name -> module/binary (Tekton's controller and webhook get clearer names)
declare -A LINKS=(
  [etcd]=etcd/etcd [kube-apiserver]=k8s/kube-apiserver [kube-controller-manager]=k8s/kube-controller-manager
  [kube-scheduler]=k8s/kube-scheduler [kubectl]=k8s/kubectl [kwok]=kwok/kwok
  [tekton-controller]=tekton/controller [tekton-webhook]=tekton/webhook [entrypoint]=tekton/entrypoint
  [workingdirinit]=tekton/workingdirinit
)

module_dir() {  # module_dir NAME: the cache directory of that module's build
  local hash
  hash=$({ go version; cat "$1/go.mod" "$1/go.sum"; echo "${PACKAGES[$1]}|${LDFLAGS[$1]}"; } | sha256sum | cut -c1-16)
  echo "$cache/module-$1-$hash"
}

cache_key() {
  {
    for module in "${MODULES[@]}"; do module_dir "$module"; done
    declare -p LINKS
    cat crds.lock
    find crds -type f | LC_ALL=C sort | xargs sha256sum
  } | sha256sum | cut -c1-16
}

out="$cache/$(cache_key)"

module_complete() {  # module_complete NAME DIR
  local binary
  for binary in ${PRODUCES[$1]}; do [[ -x "$2/$binary" ]] || return 1; done
}

complete() {
  local name
  for name in "${!LINKS[@]}"; do [[ -x "$1/bin/$name" ]] || return 1; done
  [[ -f "$1/crds/SHA256SUMS" ]]
}

if [[ "${1:-}" == "--check" ]]; then
  if complete "$out"; then echo "$out"; exit 0; fi
  echo "no complete cluster build at $out: run tools/cluster/build.sh" >&2
  exit 1
elif [[ $# -gt 0 ]]; then
  echo "usage: tools/cluster/build.sh [--check]" >&2
  exit 2
fi

if complete "$out"; then echo "$out"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/build.lock"
flock 9
if complete "$out"; then echo "$out"; exit 0; fi   # another run finished it while this one waited

tmp="$out.tmp.$$"
trap 'rm -rf "$cache"/*.tmp.$$' EXIT
rm -rf "$tmp"
mkdir -p "$tmp/bin" "$tmp/crds"

for module in "${MODULES[@]}"; do
  dir=$(module_dir "$module")
  if ! module_complete "$module" "$dir"; then
    building="$dir.tmp.$$"
    rm -rf "$building"
    mkdir -p "$building"
    start=$SECONDS
    echo "build.sh: building $module (${PACKAGES[$module]}) ..." >&2
    if [[ "$module" == etcd ]]; then target="$building/etcd"; else target="$building/"; fi
    # shellcheck disable=SC2086 # the package list is a list
    (cd "$module" && timeout "$BUILD_TIMEOUT" go build -trimpath -ldflags "${LDFLAGS[$module]}" -o "$target" \
      ${PACKAGES[$module]}) >&2
    module_complete "$module" "$building" || { echo "build.sh: $module did not produce ${PRODUCES[$module]}" >&2; exit 1; }
    rm -rf "$dir"
    mv "$building" "$dir"
    echo "build.sh: $module built in $((SECONDS - start)) s" >&2
  fi
  for name in "${!LINKS[@]}"; do
    if [[ "${LINKS[$name]%%/*}" == "$module" ]]; then
      ln -s "../../$(basename "$dir")/${LINKS[$name]#*/}" "$tmp/bin/$name"
    fi
  done
done

version=$("$tmp/bin/kube-apiserver" --version)
if [[ "$version" != "Kubernetes $K8S_VERSION" ]]; then
  echo "build.sh: kube-apiserver --version says '$version', expected 'Kubernetes $K8S_VERSION'" >&2
  exit 1
fi

# The CRDs and Tekton's ConfigMaps, each checked against its pinned sha256. A lock line is
#   <module>@<version> <path in the module> <destination under crds/> <sha256>
# or, for a file committed here because no served module carries it,
#   local <path under tools/cluster/> <destination under crds/> <sha256>
while read -r source path destination sum; do
  [[ -z "$source" || "$source" == \#* ]] && continue
  if [[ "$source" == local ]]; then
    file="$here/$path"
  else
    dir=$(go mod download -json "$source" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
    file="$dir/$path"
  fi
  actual=$(sha256sum "$file" | cut -d' ' -f1)
  if [[ "$actual" != "$sum" ]]; then
    echo "build.sh: $source $path has sha256 $actual, crds.lock pins $sum" >&2
    exit 1
  fi
  mkdir -p "$tmp/crds/$destination"
  cp "$file" "$tmp/crds/$destination/"
  chmod u+w "$tmp/crds/$destination/$(basename "$file")"
done < crds.lock
(cd "$tmp/crds" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)

complete "$tmp" || { echo "build.sh: $tmp is incomplete after the build" >&2; exit 1; }
rm -rf "$out"
mv "$tmp" "$out"
echo "$out"
