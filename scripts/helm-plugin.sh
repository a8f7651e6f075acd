#!/usr/bin/env bash
# The Helm plugin: `helm meterguard check CHART [flags]` and `helm meterguard upgrade RELEASE CHART [flags]`.
# Flags meterguard knows (--format, --output, --fail-on, --config...) go to meterguard, the
# namespace to both, every other flag to `helm template`. Only helm and meterguard are run, with
# argument arrays; nothing from the input reaches a shell.
set -euo pipefail
# Arrays are expanded as ${a[@]+"${a[@]}"}: macOS's bash 3.2 calls an empty one unbound.

helm_bin=${HELM_BIN:-helm}
meterguard_bin=${METERGUARD_BIN:-meterguard}

usage() {
  cat <<'USAGE'
usage: helm meterguard check CHART [flags]
       helm meterguard upgrade RELEASE CHART [flags]

check    renders CHART with `helm template` and checks it; findings name the chart's templates.
upgrade  compares `helm get manifest RELEASE` with the new render of CHART (the annotated
         diff), then checks the new render with the change findings.

Flags for meterguard: --format, -o/--output, --fail-on, --config, --color, --kube-version,
--max-input-bytes, --assume-rules-loaded, --ignore-non-manifests. -n/--namespace goes to both.
Every other flag (-f, --set, --set-string, --version, --include-crds...) goes to helm template.
USAGE
}

# Splits the arguments into `mg` (meterguard's flags) and `hf` (helm's); sets `namespace`.
namespace=${HELM_NAMESPACE:-}
mg=()
hf=()
split() {
  while [ $# -gt 0 ]; do
    case "$1" in
      -h | --help) usage; exit 0 ;;
      --format | -o | --output | --fail-on | --config | --color | --kube-version | --max-input-bytes)
        [ $# -ge 2 ] || { echo "helm meterguard: $1 needs a value" >&2; exit 2; }
        mg+=("$1" "$2"); shift 2 ;;
      --format=* | --output=* | --fail-on=* | --config=* | --color=* | --kube-version=* | --max-input-bytes=*)
        mg+=("$1"); shift ;;
      --assume-rules-loaded | --ignore-non-manifests) mg+=("$1"); shift ;;
      -n | --namespace)
        [ $# -ge 2 ] || { echo "helm meterguard: $1 needs a value" >&2; exit 2; }
        namespace=$2; shift 2 ;;
      --namespace=*) namespace=${1#--namespace=}; shift ;;
      *) hf+=("$1"); shift ;;
    esac
  done
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
cmd=$1
shift
case "$cmd" in
  -h | --help | help) usage; exit 0 ;;
esac
case "$cmd" in
  check)
    [ $# -ge 1 ] || { usage >&2; exit 2; }
    chart=$1
    shift
    split "$@"
    ns=()
    if [ -n "$namespace" ]; then ns=(--namespace "$namespace"); fi
    HELM_BIN=$helm_bin exec "$meterguard_bin" helm "$chart" ${ns[@]+"${ns[@]}"} ${mg[@]+"${mg[@]}"} -- ${hf[@]+"${hf[@]}"}
    ;;
  upgrade)
    [ $# -ge 2 ] || { usage >&2; exit 2; }
    release=$1
    chart=$2
    shift 2
    split "$@"
    ns=()
    if [ -n "$namespace" ]; then ns=(--namespace "$namespace"); fi
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$helm_bin" get manifest "$release" ${ns[@]+"${ns[@]}"} > "$work/$release-running.yaml"
    "$helm_bin" template "$release" "$chart" ${ns[@]+"${ns[@]}"} ${hf[@]+"${hf[@]}"} > "$work/$release-new.yaml"
    status=0
    "$meterguard_bin" diff "$work/$release-running.yaml" "$work/$release-new.yaml" ${ns[@]+"${ns[@]}"} --fail-on never || status=$?
    [ "$status" -le 1 ] || exit "$status"
    exec "$meterguard_bin" check --base "$work/$release-running.yaml" "$work/$release-new.yaml" ${ns[@]+"${ns[@]}"} ${mg[@]+"${mg[@]}"}
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac
