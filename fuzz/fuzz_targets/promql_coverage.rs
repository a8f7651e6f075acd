//! Arbitrary text as the expression of an alert that guards a Kubecost deployment, and of a
//! recording rule another alert reads: PromQL parsing, selector extraction, feasibility, the
//! identity labels kept and matched, and the coverage verdict, through the real pipeline; and the
//! reading from the expression's skeleton (`promql/rewrite.rs`) against the parser's own. A
//! monitored kube-state-metrics gives the expression's ranges a scrape interval to be judged against.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterguard::input::Inputs;

const MANIFEST: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: kubecost-cost-analyzer, namespace: kubecost, labels: {app: cost-analyzer}}
spec:
  replicas: 1
  selector: {matchLabels: {app: cost-analyzer}}
  template:
    metadata: {labels: {app: cost-analyzer}}
    spec:
      containers:
      - name: cost-model
        image: gcr.io/kubecost1/cost-model:prod-2.3.3
        resources: {requests: {memory: 1Gi, cpu: 100m}, limits: {memory: 2Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: kube-state-metrics, namespace: monitoring, labels: {app: ksm}}
spec:
  selector: {matchLabels: {app: ksm}}
  template:
    metadata: {labels: {app: ksm}}
    spec:
      containers:
      - name: kube-state-metrics
        image: registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-state-metrics, namespace: monitoring, labels: {app: ksm}}
spec:
  selector: {app: ksm}
  ports: [{name: http, port: 8080, targetPort: http}]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: kube-state-metrics, namespace: monitoring}
spec:
  selector: {matchLabels: {app: ksm}}
  endpoints: [{port: http, interval: 1m, honorLabels: true}]
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: kps, namespace: monitoring}
spec: {ruleSelector: {}, ruleNamespaceSelector: {}, serviceMonitorSelector: {}, scrapeInterval: 2m}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: fuzz, namespace: monitoring}
spec:
  groups:
  - name: fuzz
    rules:
    - alert: Fuzzed
      expr: EXPR
      labels: {severity: critical}
    - record: fuzzed:series
      expr: EXPR
    - alert: OnTheRecordedSeries
      expr: fuzzed:series{namespace="kubecost"} > 0 and on (pod) fuzzed:series
"#;

fuzz_target!(|expr: &str| {
    use meterguard::coverage::promql::{Pattern, parse, parse_as_written};
    // The reading from the expression's skeleton (label values marked) must be the parser's own,
    // but for the one wanted difference: the parser refuses a pattern past Rust regex's
    // compiled-size limit, which Prometheus reads as valid, and so does meterguard
    // (`promql/pattern.rs`; it may still refuse it for Go's limit of 1,000 repeats).
    let debug = |r: &Result<_, String>| format!("{r:?}");
    let parsed = parse(expr);
    let written = parse_as_written(expr);
    let oversized =
        matches!(&written, Err(e) if e.strip_prefix("illegal regex for ").is_some_and(|p| Pattern::judge(p).is_some()));
    if !oversized {
        assert_eq!(debug(&parsed), debug(&written), "{expr}");
    }
    if let Ok(q) = parsed {
        let _ = q.feasible(&|s| s.admits("namespace", "kubecost"));
        let _ = q.about(&|i, on| on == 0 || q.selectors[i].admits("pod", "a-1"));
        let _ = (0..q.selectors.len()).map(|i| q.kept(i)).count();
        let _ = q.is_constant();
        let _ = q.selectors.iter().map(|s| s.constrains("pod")).count();
    }
    // A JSON string is a valid YAML double-quoted scalar, so the expression arrives verbatim.
    let Ok(quoted) = serde_json::to_string(expr) else { return };
    let text = MANIFEST.replace("EXPR", &quoted);
    // Pruned, as a plain check reads it: the rules are taken out of their document.
    let mut inputs = Inputs { prune: Some(meterguard::model::prune::unread_bodies), ..Inputs::default() };
    inputs.add_bytes("fuzz.yaml", text.as_bytes());
    meterguard_fuzz::check_all_formats(&mut inputs);
});
