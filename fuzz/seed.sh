#!/usr/bin/env bash
# Seeds each fuzz target's corpus from the test fixtures, so fuzzing starts from real manifests.
set -euo pipefail
cd "$(dirname "$0")"
root=..
mkdir -p corpus/read_documents corpus/diff corpus/quantity corpus/promql_coverage corpus/scrape_discovery corpus/masking \
  corpus/yaml_roundtrip
# Manifests up to 64 KiB (the -max_len run.sh uses).
find "$root/tests/fixtures" "$root/examples" -name '*.yaml' -size -64k -print0 |
  while IFS= read -r -d '' f; do
    cp "$f" "corpus/read_documents/$(sha1sum <"$f" | cut -c1-16)"
    cp "$f" "corpus/yaml_roundtrip/$(sha1sum <"$f" | cut -c1-16)"
  done
# The shapes where meterguard and Kubernetes' reader once parted (tests/yaml_oracle.rs).
cp regressions/yaml_roundtrip/* corpus/yaml_roundtrip/
# Diff seeds: an old and a new fixture joined by a NUL byte.
for old in "$root"/tests/fixtures/diff/*.yaml; do
  for new in "$root"/tests/fixtures/diff/*.yaml; do
    out="corpus/diff/$(basename "$old" .yaml)--$(basename "$new" .yaml)"
    { cat "$old"; printf '\0'; cat "$new"; } >"$out"
  done
done
# And the alert fixtures alone (no NUL: the same render old and new), so that both pipelines start
# from evaluators, scrape objects and Alertmanager configs of every kind the analysis reads.
find "$root/tests/fixtures/alerts" -name '*.yaml' -size -64k -print0 |
  while IFS= read -r -d '' f; do
    cp "$f" "corpus/diff/alerts-$(basename "$f" .yaml)"
  done
for q in 2Gi 1.5Gi 500m 0.1m 129e6 1E-2 +1k -1 .5Ki 9223372036854775807 1e3 100n 12u 3Ei 0; do
  printf '%s' "$q" >"corpus/quantity/$q"
done
# Alert expressions from the fixtures' rule files.
grep -rhoE 'expr: .+' "$root/tests/fixtures" | sed 's/^expr: //' | sort -u | head -400 |
  while IFS= read -r e; do
    printf '%s' "$e" >"corpus/promql_coverage/$(printf '%s' "$e" | sha1sum | cut -c1-16)"
  done
# Scrape configs: raw (prometheus.yml, additionalScrapeConfigs) and ScrapeConfig bodies.
cp "$root/tests/fixtures/corpus/prometheus-default.yaml" corpus/scrape_discovery/prometheus-default 2>/dev/null || true
printf '%s\n' 'scrape_configs:' '- job_name: kubecost' '  dns_sd_configs: [{names: [kubecost-cost-analyzer.kubecost], type: A, port: 9003}]' \
  '- job_name: eps' '  kubernetes_sd_configs: [{role: endpoints, selectors: [{role: service, label: "app in (cost-analyzer)"}]}]' \
  '  relabel_configs: [{source_labels: [__meta_kubernetes_endpoints_name], action: keep, regex: ".*cost.*"}]' >corpus/scrape_discovery/raw
printf '%s\n' 'jobName: kubecost' 'kubernetesSDConfigs:' '- role: Pod' '  namespaces: {names: [kubecost], ownNamespace: true}' \
  '  selectors: [{role: Pod, label: "app=cost-analyzer,!legacy", field: metadata.namespace=kubecost}]' \
  'relabelings: [{sourceLabels: [__meta_kubernetes_pod_label_app], action: Keep, regex: cost-analyzer}]' \
  'metricRelabelings: [{sourceLabels: [__name__], action: drop, regex: kube_pod_.*}]' >corpus/scrape_discovery/operator
# Masking: Secrets and credentials in the shapes tests/hostile writes, `@@` for the canary.
printf 'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: l}\n  data:\n    dup: eA==\n    t: @@\n    dup: eQ==\n' >corpus/masking/list
printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"j"},"stringData":{"t":"@@","t":"x"}}\n' >corpus/masking/json
printf 'apiVersion: v1\rkind: Secret\rmetadata: {name: r}\rstringData:\r  a: x\r  t: @@\r  a: y\r' >corpus/masking/cr
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\ndata:\n  prometheus.yml: |\n    remote_write:\n    - basic_auth: {password: @@}\n      url: https://u:@@@x/?token=@@\n' >corpus/masking/config
printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, annotations: {kubectl.kubernetes.io/last-applied-configuration: "{\\"data\\":{\\"a\\":\\"@@\\"}}"}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: x\n        args: [--password, @@]\n        env: [{name: DB_PASSWORD, value: @@}]\n' >corpus/masking/workload
# Inputs that once crashed a target stay in its corpus.
for d in regressions/*/; do
  t=$(basename "$d")
  cp "$d"* "corpus/$t/" 2>/dev/null || true
done
for d in corpus/*; do echo "$d: $(ls "$d" | wc -l) seeds"; done
