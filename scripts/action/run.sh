#!/usr/bin/env bash
# The Action's check step. Inputs arrive as environment variables (never interpolated into this
# script); helm, git, meterguard, jq and gh are run with argument arrays only.
set -euo pipefail

tmp=${RUNNER_TEMP:?}/meterguard
mkdir -p "$tmp"
meterguard_bin=${METERGUARD_BIN:-meterguard}

read -r -a paths <<< "$(printf '%s' "${MG_PATHS:-}" | tr '\n' ' ')"
read -r -a values <<< "$(printf '%s' "${MG_VALUES:-}" | tr '\n' ' ')"
read -r -a sets <<< "$(printf '%s' "${MG_SET:-}" | tr '\n' ' ')"
release=${MG_RELEASE:-release}
namespace=${MG_NAMESPACE:-}

# Says what failed where a reviewer looks (the log's annotations and the step summary), then stops.
fail() {
  printf '::error title=meterguard::%s\n' "$1"
  printf '### meterguard could not run\n\n%s\n' "$1" >> "${GITHUB_STEP_SUMMARY:-/dev/null}"
  exit 2
}

# Renders the chart (or lists the paths) found under directory $1 into the array `out`.
collect() {
  local root=$1 name=$2
  out=()
  if [ -n "${MG_CHART:-}" ]; then
    if [ "${MG_DEPENDENCY_BUILD:-false}" = "true" ]; then
      helm dependency build "$root/$MG_CHART" >/dev/null || fail "helm dependency build $MG_CHART failed"
    fi
    local args=(template "$release" "$root/$MG_CHART")
    [ -n "$namespace" ] && args+=(--namespace "$namespace")
    [ -n "${MG_KUBE_VERSION:-}" ] && args+=(--kube-version "$MG_KUBE_VERSION")
    local v
    for v in "${values[@]}"; do args+=(-f "$root/$v"); done
    for v in "${sets[@]}"; do args+=(--set "$v"); done
    helm "${args[@]}" > "$tmp/$name.yaml" || fail "helm template $MG_CHART failed (see the log above)"
    out=("$tmp/$name.yaml")
  else
    # Paths of the checkout as given (annotations must name the repository's files), the base's
    # under its worktree.
    local p
    for p in "${paths[@]}"; do
      if [ "$root" = "." ]; then out+=("$p"); else out+=("$root/$p"); fi
    done
  fi
}

# The new side: paths are checked as given; a chart is rendered by `meterguard helm`, so that
# findings name its templates by their path in the repository.
if [ -n "${MG_CHART:-}" ]; then
  if [ "${MG_DEPENDENCY_BUILD:-false}" = "true" ]; then
    helm dependency build "$MG_CHART" >/dev/null || fail "helm dependency build $MG_CHART failed"
  fi
  args=(helm "$MG_CHART" --release "$release")
  for v in "${values[@]}"; do args+=(-f "$v"); done
  for v in "${sets[@]}"; do args+=(--set "$v"); done
  new=()
else
  collect "." new
  new=("${out[@]}")
  [ ${#new[@]} -gt 0 ] || fail "set the paths input or the chart input"
  args=(check)
fi
args+=(--fail-on "${MG_FAIL_ON:-error}")
if [ -n "${MG_CONFIG:-}" ]; then args+=(--config "$MG_CONFIG"); fi
if [ -n "$namespace" ]; then args+=(--namespace "$namespace"); fi
if [ -n "${MG_KUBE_VERSION:-}" ]; then args+=(--kube-version "$MG_KUBE_VERSION"); fi
if [ -n "${MG_BASE_REF:-}" ]; then
  # actions/checkout fetches one commit by default: the base is fetched here when it is missing,
  # whatever the checkout's depth.
  base=$MG_BASE_REF
  if ! git rev-parse --verify --quiet "$base^{commit}" >/dev/null; then
    git fetch --no-tags --depth=1 origin "$MG_BASE_REF" >/dev/null 2>"$tmp/fetch.err" \
      || fail "base-ref $MG_BASE_REF is not in the checkout and cannot be fetched from origin: $(head -n 1 "$tmp/fetch.err")"
    base=FETCH_HEAD
  fi
  rm -rf "$tmp/base"
  git worktree add --detach "$tmp/base" "$base" >/dev/null 2>"$tmp/worktree.err" \
    || fail "cannot check out base-ref $MG_BASE_REF: $(head -n 1 "$tmp/worktree.err")"
  collect "$tmp/base" old
  for p in "${out[@]}"; do
    if [ -e "$p" ]; then args+=(--base "$p"); fi
  done
fi
args+=(--format github --format markdown --output "$tmp/report.md" --format json --output "$tmp/report.json")
if [ -n "${MG_SARIF_FILE:-}" ]; then args+=(--format sarif --output "$MG_SARIF_FILE"); fi
if [ -n "${MG_CHART:-}" ] && [ -n "${MG_KUBE_VERSION:-}" ]; then new=(-- --kube-version "$MG_KUBE_VERSION"); fi
status=0
"$meterguard_bin" "${args[@]}" ${new[@]+"${new[@]}"} || status=$?
if [ -n "${MG_BASE_REF:-}" ]; then git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; fi

if [ -f "$tmp/report.md" ]; then
  cat "$tmp/report.md" >> "${GITHUB_STEP_SUMMARY:?}"
fi
count() { jq -r --arg k "$1" '.summary[$k] // 0' "$tmp/report.json" 2>/dev/null || echo 0; }
{
  echo "errors=$(count errors)"
  echo "warnings=$(count warnings)"
  echo "report=$tmp/report.md"
} >> "${GITHUB_OUTPUT:?}"

# The sticky comment is a convenience: a token that may not write (a pull request from a fork)
# gets a warning, never a failed step.
comment() {
  local pr marker body existing
  pr=$(jq -r '.pull_request.number // .issue.number // empty' "$GITHUB_EVENT_PATH" 2>/dev/null || true)
  [ -n "$pr" ] || return 0
  marker='<!-- meterguard-report -->'
  body="$tmp/comment.md"
  { echo "$marker"; cat "$tmp/report.md"; } > "$body"
  existing=$(gh api "repos/$GITHUB_REPOSITORY/issues/$pr/comments" --paginate \
    --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | head -n 1) || return 1
  if [ -n "$existing" ]; then
    gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$existing" -F "body=@$body" >/dev/null
  else
    gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$pr/comments" -F "body=@$body" >/dev/null
  fi
}
if [ "${MG_COMMENT:-false}" = "true" ] && [ -f "${GITHUB_EVENT_PATH:-}" ] && [ -f "$tmp/report.md" ]; then
  if ! comment; then
    echo "::warning title=meterguard::the pull-request comment could not be written (a read-only token, as for a pull request from a fork?); the report is in the step summary"
  fi
fi
exit "$status"
