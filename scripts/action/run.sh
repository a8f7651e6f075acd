#!/usr/bin/env bash
# The Action's check step. Inputs arrive as environment variables (never interpolated into this
# script); helm, git, meterguard and gh are run with argument arrays only.
set -euo pipefail

tmp=${RUNNER_TEMP:?}/meterguard
mkdir -p "$tmp"
meterguard_bin=${METERGUARD_BIN:-meterguard}

read -r -a paths <<< "$(printf '%s' "${MG_PATHS:-}" | tr '\n' ' ')"
read -r -a values <<< "$(printf '%s' "${MG_VALUES:-}" | tr '\n' ' ')"
release=${MG_RELEASE:-release}

# Renders the chart (or lists the paths) found under directory $1 into the array `out`.
collect() {
  local root=$1 name=$2
  out=()
  if [ -n "${MG_CHART:-}" ]; then
    local args=(template "$release" "$root/$MG_CHART")
    local v
    for v in "${values[@]}"; do args+=(-f "$root/$v"); done
    helm "${args[@]}" > "$tmp/$name.yaml"
    out=("$tmp/$name.yaml")
  else
    local p
    for p in "${paths[@]}"; do out+=("$root/$p"); done
  fi
}

collect "." new
new=("${out[@]}")
if [ ${#new[@]} -eq 0 ]; then
  echo "::error title=meterguard::set the paths input or the chart input"
  exit 2
fi

args=(check --fail-on "${MG_FAIL_ON:-error}")
if [ -n "${MG_CONFIG:-}" ]; then args+=(--config "$MG_CONFIG"); fi
if [ -n "${MG_BASE_REF:-}" ]; then
  rm -rf "$tmp/base"
  git worktree add --detach "$tmp/base" "$MG_BASE_REF" >/dev/null
  collect "$tmp/base" old
  for p in "${out[@]}"; do
    if [ -e "$p" ]; then args+=(--base "$p"); fi
  done
fi
args+=(--format github --format markdown --output "$tmp/report.md" --format json --output "$tmp/report.json")
if [ -n "${MG_SARIF_FILE:-}" ]; then args+=(--format sarif --output "$MG_SARIF_FILE"); fi
status=0
"$meterguard_bin" "${args[@]}" "${new[@]}" || status=$?
if [ -n "${MG_BASE_REF:-}" ]; then git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; fi

if [ -f "$tmp/report.md" ]; then
  cat "$tmp/report.md" >> "${GITHUB_STEP_SUMMARY:?}"
fi
count() { grep -o "\"$1\": [0-9]*" "$tmp/report.json" 2>/dev/null | tail -n 1 | grep -o '[0-9]*$' || echo 0; }
{
  echo "errors=$(count errors)"
  echo "warnings=$(count warnings)"
  echo "report=$tmp/report.md"
} >> "${GITHUB_OUTPUT:?}"

if [ "${MG_COMMENT:-false}" = "true" ] && [ -f "${GITHUB_EVENT_PATH:-}" ] && [ -f "$tmp/report.md" ]; then
  pr=$(grep -o '"number": *[0-9]*' "$GITHUB_EVENT_PATH" | head -n 1 | grep -o '[0-9]*$' || true)
  if [ -n "$pr" ]; then
    marker='<!-- meterguard-report -->'
    body="$tmp/comment.md"
    { echo "$marker"; cat "$tmp/report.md"; } > "$body"
    existing=$(gh api "repos/$GITHUB_REPOSITORY/issues/$pr/comments" --paginate \
      --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | head -n 1 || true)
    if [ -n "$existing" ]; then
      gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$existing" -F "body=@$body" >/dev/null
    else
      gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$pr/comments" -F "body=@$body" >/dev/null
    fi
  fi
fi
exit "$status"
