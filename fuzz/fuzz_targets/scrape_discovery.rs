//! Arbitrary text as scrape configuration, in the three places meterguard reads it: the
//! `prometheus.yml` of a raw Prometheus (a ConfigMap key), the Secret a prometheus-operator
//! Prometheus names in `additionalScrapeConfigs`, and the body of a ScrapeConfig object. Discovery
//! roles, selectors, relabelings, static targets and DNS names all meet a Kubecost install.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterguard::input::Inputs;

const MANIFEST: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: kubecost-cost-analyzer, namespace: kubecost, labels: {app: cost-analyzer}}
spec:
  selector: {matchLabels: {app: cost-analyzer}}
  template:
    metadata: {labels: {app: cost-analyzer, app.kubernetes.io/name: cost-analyzer}}
    spec:
      containers:
      - name: cost-model
        image: gcr.io/kubecost1/cost-model:prod-2.3.3
        env: [{name: EMIT_DEPRECATED_METRICS, value: "true"}]
---
apiVersion: v1
kind: Service
metadata: {name: kubecost-cost-analyzer, namespace: kubecost, labels: {app: cost-analyzer}}
spec: {selector: {app: cost-analyzer}, ports: [{name: tcp-model, port: 9003}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: prometheus, namespace: kubecost}
spec:
  selector: {matchLabels: {app: prometheus}}
  template:
    metadata: {labels: {app: prometheus}}
    spec:
      containers:
      - name: prometheus-server
        image: quay.io/prometheus/prometheus:v2.55.1
        args: [--config.file=/etc/config/prometheus.yml]
        volumeMounts: [{name: config, mountPath: /etc/config}]
      volumes: [{name: config, configMap: {name: prometheus}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: prometheus, namespace: kubecost}
data:
  prometheus.yml: RAW
  alerting_rules.yml: "groups: [{name: a, rules: [{alert: Down, expr: 'up{job=\"kubecost\"} == 0'}]}]"
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: kps, namespace: monitoring}
spec:
  ruleSelector: {}
  scrapeConfigSelector: {}
  additionalScrapeConfigs: {name: extra, key: scrape.yaml}
---
apiVersion: v1
kind: Secret
metadata: {name: extra, namespace: monitoring}
stringData:
  scrape.yaml: RAW
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: r, namespace: monitoring}
spec:
  groups:
  - name: r
    rules:
    - alert: CostModelOOM
      expr: kube_pod_container_status_terminated_reason{reason="OOMKilled", namespace="kubecost"} > 0
---
apiVersion: monitoring.coreos.com/v1alpha1
kind: ScrapeConfig
metadata: {name: fuzzed, namespace: monitoring}
spec:
"#;

fuzz_target!(|text: &str| {
    // A JSON string is a valid YAML double-quoted scalar, so the text arrives verbatim there; under
    // `spec:` it is indented to stay inside the object.
    let Ok(quoted) = serde_json::to_string(text) else { return };
    let indented: String = text.lines().map(|l| format!("  {l}\n")).collect();
    let manifest = MANIFEST.replace("RAW", &quoted) + &indented;
    let mut inputs = Inputs::default();
    inputs.add_bytes("fuzz.yaml", manifest.as_bytes());
    meterguard_fuzz::check_all_formats(&mut inputs);
});
