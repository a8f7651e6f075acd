#!/usr/bin/env bash
# The Helm plugin: `helm meterguard check CHART [flags]` and `helm meterguard upgrade RELEASE CHART [flags]`.
# Only helm and meterguard are run, with argument arrays; nothing from the input reaches a shell.
set -euo pipefail

helm_bin=${HELM_BIN:-helm}
meterguard_bin=${METERGUARD_BIN:-meterguard}

usage() {
  echo "usage: helm meterguard check CHART [helm template flags]" >&2
  echo "       helm meterguard upgrade RELEASE CHART [helm template flags]" >&2
  exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case "$cmd" in
  check)
    [ $# -ge 1 ] || usage
    chart=$1
    shift
    "$helm_bin" template "$chart" "$@" > "$work/new.yaml"
    exec "$meterguard_bin" check "$work/new.yaml"
    ;;
  upgrade)
    [ $# -ge 2 ] || usage
    release=$1
    chart=$2
    shift 2
    namespace=()
    if [ -n "${HELM_NAMESPACE:-}" ]; then namespace=(--namespace "$HELM_NAMESPACE"); fi
    "$helm_bin" get manifest "$release" "${namespace[@]}" > "$work/old.yaml"
    "$helm_bin" template "$release" "$chart" "${namespace[@]}" "$@" > "$work/new.yaml"
    status=0
    "$meterguard_bin" diff "$work/old.yaml" "$work/new.yaml" --fail-on never || status=$?
    [ "$status" -le 1 ] || exit "$status"
    exec "$meterguard_bin" check --base "$work/old.yaml" "$work/new.yaml"
    ;;
  *)
    usage
    ;;
esac
