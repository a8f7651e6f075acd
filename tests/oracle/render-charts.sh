#!/usr/bin/env bash
# Renders every Helm chart found under ROOT (chart repositories unpacked there, one directory per
# repository) with its defaults, offline, into OUT/<repository>--<chart>.yaml; a chart that needs
# values is rendered with `values/<chart>.yaml` (made-up ids and tokens a user must set).
# Dependencies are taken from the charts found under ROOT, by name; a chart whose dependencies
# are not all there is listed as skipped. Used to make tests/fixtures/renders (see its README).
# Usage: tests/oracle/render-charts.sh ROOT OUT
set -uo pipefail
root=$(cd "$1" && pwd)
out=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Every chart under ROOT (not a chart's own subcharts), and the first found of each name.
declare -A chart_dir
charts=()
while IFS= read -r f; do
  d=$(dirname "$f")
  n=$(sed -n 's/^name: *//p' "$f" | head -1 | tr -d '"'"'")
  [ -z "$n" ] && continue
  charts+=("$d")
  [ -z "${chart_dir[$n]:-}" ] && chart_dir[$n]=$d
done < <(find "$root" -name Chart.yaml -not -path "$root/*/charts/*/charts/*" | sort)
# Copies the chart's missing dependencies into its charts/, recursively; fails if one is not found.
fill() {
  local dir=$1 depth=${2:-0}
  [ "$depth" -gt 4 ] && return 1
  helm dependency list "$dir" 2>/dev/null | awk 'NR>1 && $1 != "" && $NF == "missing" {print $1}' | while read -r dep; do
    src=${chart_dir[$dep]:-}
    [ -z "$src" ] && { echo "missing dependency $dep" >&2; return 1; }
    mkdir -p "$dir/charts" && cp -r "$src" "$dir/charts/$dep" && fill "$dir/charts/$dep" $((depth + 1)) || return 1
  done || return 1
  # The copies are the repositories' heads, whatever version the parent asks for: a dependency
  # whose version does not match is not aliased, and its values land under the wrong key.
  sed -i '/^dependencies:/,/^[^ -]/ s/^\(\s*\)version: .*/\1version: ">=0.0.0-0"/' "$dir/Chart.yaml"
}
for src in "${charts[@]}"; do
  name=$(basename "$src")
  grep -q '^type: *library' "$src/Chart.yaml" && continue
  repo=${src#"$root"/}; repo=${repo%%/*}
  copy="$work/$name"
  rm -rf "$copy" && cp -r "$src" "$copy"
  if ! fill "$copy" 2>"$work/err"; then
    echo "skipped $repo/$name: $(head -1 "$work/err")"
    continue
  fi
  target="$out/${repo/+/_}--$name.yaml"
  values=()
  [ -f "$here/values/$name.yaml" ] && values=(-f "$here/values/$name.yaml")
  # Dependencies come from the repositories' heads, not the versions a lock file names: their
  # defaults can fall outside a parent's values schema, which would refuse the whole render.
  if helm template "$name" "$copy" -n "$name" --skip-schema-validation "${values[@]}" >"$target" 2>"$work/err"; then
    echo "rendered $repo/$name ($(wc -c <"$target") bytes)"
  else
    rm -f "$target"
    echo "skipped $repo/$name: $(grep -m1 . "$work/err")"
  fi
done
