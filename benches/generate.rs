//! Realistic manifest streams for benchmarks and the `gen-manifests` example: Deployments,
//! StatefulSets, DaemonSets, Services (half of them with a ServiceMonitor), ConfigMaps with large
//! embedded files, CRDs of a few hundred KB, PrometheusRules with hundreds of rules, the
//! prometheus-operator `Prometheus` that loads them and the monitors, and a few percent metering
//! workloads. The same seed gives the same bytes.

use std::fmt::Write;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const TEAMS: &[&str] = &["payments", "search", "checkout", "identity", "ml", "data", "web", "mobile-api"];
const IMAGES: &[&str] =
    &["nginx:1.27", "ghcr.io/acme/api:2.14.1", "ghcr.io/acme/worker:2.14.1", "redis:7.4", "envoyproxy/envoy:v1.31"];

fn deployment(out: &mut String, g: &mut Gen, i: usize, kind: &str) {
    let team = g.pick(TEAMS);
    let image = g.pick(IMAGES);
    let (mem, cpu) = (64 << g.below(5), 50 * (1 + g.below(8)));
    let replicas = 1 + g.below(4);
    let spec_extra = if kind == "StatefulSet" { format!("  serviceName: svc-{i}\n") } else { String::new() };
    let replicas = if kind == "DaemonSet" { String::new() } else { format!("  replicas: {replicas}\n") };
    let _ = write!(
        out,
        "---\n# Source: platform/templates/{team}-{kind}.yaml\napiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {team}-{i}\n  namespace: {team}\n  labels:\n    app.kubernetes.io/name: {team}-{i}\n    app.kubernetes.io/instance: platform\n    helm.sh/chart: platform-1.4.2\nspec:\n{replicas}{spec_extra}  selector:\n    matchLabels:\n      app.kubernetes.io/name: {team}-{i}\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: {team}-{i}\n      annotations:\n        checksum/config: {:016x}\n    spec:\n      containers:\n        - name: app\n          image: {image}\n          args: [\"--port=8080\", \"--log-level=info\"]\n          ports:\n            - name: http\n              containerPort: 8080\n          env:\n            - name: TEAM\n              value: {team}\n            - name: GOMAXPROCS\n              value: \"2\"\n          readinessProbe:\n            httpGet: {{path: /ready, port: http}}\n            periodSeconds: 10\n          livenessProbe:\n            httpGet: {{path: /healthz, port: http}}\n            periodSeconds: 20\n          resources:\n            requests: {{cpu: {cpu}m, memory: {mem}Mi}}\n            limits: {{memory: {}Mi}}\n",
        g.rng.next_u64(),
        mem * 2
    );
}

fn metering(out: &mut String, g: &mut Gen, i: usize) {
    match g.below(3) {
        0 => {
            let _ = write!(
                out,
                "---\n# Source: cost-analyzer/templates/cost-analyzer-deployment-template.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: kubecost-cost-analyzer-{i}\n  namespace: kubecost\n  labels: {{app: cost-analyzer, app.kubernetes.io/name: cost-analyzer}}\nspec:\n  replicas: 1\n  strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: 1, maxUnavailable: 1}}}}\n  template:\n    metadata:\n      labels: {{app: cost-analyzer-{i}}}\n    spec:\n      containers:\n        - name: cost-model\n          image: gcr.io/kubecost1/cost-model:prod-2.4.2\n          ports: [{{containerPort: 9003, name: tcp-model}}]\n          env:\n            - name: PROMETHEUS_SERVER_ENDPOINT\n              value: http://prometheus-{i}.kubecost\n          readinessProbe: {{httpGet: {{path: /healthz, port: 9003}}, periodSeconds: 10, failureThreshold: 200}}\n          livenessProbe: {{httpGet: {{path: /healthz, port: 9003}}, periodSeconds: 10, failureThreshold: 200}}\n          resources: {{requests: {{cpu: 200m, memory: 55Mi}}}}\n        - name: cost-analyzer-frontend\n          image: gcr.io/kubecost1/frontend:prod-2.4.2\n          readinessProbe: {{httpGet: {{path: /healthz, port: 9003}}}}\n          resources: {{requests: {{cpu: 10m, memory: 55Mi}}}}\n"
            );
        }
        1 => {
            let _ = write!(
                out,
                "---\n# Source: cost-analyzer/templates/prometheus-server-deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: prometheus-{i}\n  namespace: kubecost\n  labels: {{app: prometheus, component: server}}\nspec:\n  replicas: 1\n  strategy: {{type: Recreate}}\n  template:\n    metadata:\n      labels: {{app: prometheus-{i}}}\n    spec:\n      containers:\n        - name: prometheus-server\n          image: quay.io/prometheus/prometheus:v2.55.1\n          args: [--storage.tsdb.retention.time=15d, --config.file=/etc/config/prometheus.yml, --storage.tsdb.path=/data, --storage.tsdb.retention.size=30GB]\n          ports: [{{containerPort: 9090}}]\n          livenessProbe: {{httpGet: {{path: /-/healthy, port: 9090}}, initialDelaySeconds: 30, timeoutSeconds: 30}}\n          readinessProbe: {{httpGet: {{path: /-/ready, port: 9090}}, initialDelaySeconds: 30, timeoutSeconds: 30}}\n          resources:\n            requests: {{cpu: 500m, memory: 2Gi}}\n            limits: {{cpu: \"1\", memory: 3Gi}}\n          volumeMounts: [{{name: storage-volume, mountPath: /data}}]\n      volumes:\n        - name: storage-volume\n          emptyDir: {{sizeLimit: 32Gi}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: prometheus-{i}, namespace: kubecost}}\nspec:\n  selector: {{app: prometheus-{i}}}\n  ports: [{{port: 80, targetPort: 9090}}]\n"
            );
        }
        _ => {
            let _ = write!(
                out,
                "---\n# Source: opencost/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: opencost-{i}\n  namespace: opencost\nspec:\n  template:\n    metadata:\n      labels: {{app.kubernetes.io/name: opencost}}\n    spec:\n      containers:\n        - name: opencost\n          image: ghcr.io/opencost/opencost:1.120.1\n          resources: {{requests: {{cpu: 10m, memory: 55Mi}}, limits: {{memory: 1Gi}}}}\n"
            );
        }
    }
}

fn service(out: &mut String, g: &mut Gen, i: usize) {
    let team = g.pick(TEAMS);
    let _ = write!(
        out,
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: {team}\n  labels: {{app.kubernetes.io/name: {team}-{i}}}\nspec:\n  selector:\n    app.kubernetes.io/name: {team}-{i}\n  ports:\n    - name: http\n      port: 80\n      targetPort: http\n"
    );
    if i.is_multiple_of(2) {
        let _ = write!(
            out,
            "---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: svc-{i}\n  namespace: {team}\n  labels: {{release: kps}}\nspec:\n  selector:\n    matchLabels: {{app.kubernetes.io/name: {team}-{i}}}\n  endpoints:\n    - port: http\n      interval: 30s\n"
        );
    }
}

/// The monitoring stack's Prometheus: it loads every PrometheusRule and ServiceMonitor labelled
/// `release: kps`, in any namespace, as kube-prometheus-stack's does.
fn operator_prometheus(out: &mut String) {
    out.push_str(
        "---\n# Source: kube-prometheus-stack/templates/prometheus/prometheus.yaml\napiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata:\n  name: kps-prometheus\n  namespace: monitoring\n  labels: {release: kps}\nspec:\n  replicas: 1\n  retention: 10d\n  ruleSelector:\n    matchLabels: {release: kps}\n  ruleNamespaceSelector: {}\n  serviceMonitorSelector:\n    matchLabels: {release: kps}\n  serviceMonitorNamespaceSelector: {}\n  resources:\n    requests: {cpu: \"1\", memory: 8Gi}\n    limits: {memory: 12Gi}\n  storage:\n    volumeClaimTemplate:\n      spec:\n        resources:\n          requests: {storage: 100Gi}\n",
    );
}

fn configmap(out: &mut String, g: &mut Gen, i: usize, big: bool) {
    let team = g.pick(TEAMS);
    let _ = write!(
        out,
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: {team}\ndata:\n  LOG_LEVEL: info\n  FEATURE_FLAGS: \"a,b,c\"\n"
    );
    if big {
        // A Grafana dashboard as JSON: the kind of large embedded file real charts ship.
        out.push_str("  dashboard.json: |\n    {\n      \"panels\": [\n");
        for p in 0..60 + g.below(60) {
            let _ = writeln!(
                out,
                "        {{\"id\": {p}, \"type\": \"timeseries\", \"title\": \"Panel {p}\", \"targets\": [{{\"expr\": \"sum(rate(http_requests_total{{team=\\\"{team}\\\"}}[5m])) by (code)\"}}]}},"
            );
        }
        out.push_str("        {\"id\": 0}\n      ]\n    }\n");
    }
}

fn crd(out: &mut String, g: &mut Gen, i: usize) {
    let _ = write!(
        out,
        "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets{i}.acme.io\nspec:\n  group: acme.io\n  names: {{kind: Widget{i}, plural: widgets{i}}}\n  scope: Namespaced\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          properties:\n"
    );
    // Several hundred KB of nested schema.
    for f in 0..400 + g.below(200) {
        let _ = write!(
            out,
            "            field{f}:\n              type: object\n              description: Field {f} of the widget, with a description long enough to look like the generated ones.\n              properties:\n                name: {{type: string, description: The name.}}\n                size: {{type: integer, format: int64, minimum: 0}}\n                items:\n                  type: array\n                  items: {{type: object, properties: {{key: {{type: string}}, value: {{type: string}}}}}}\n"
        );
    }
}

fn prometheus_rule(out: &mut String, g: &mut Gen, i: usize) {
    let _ = write!(
        out,
        "---\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: rules-{i}\n  namespace: monitoring\n  labels: {{release: kps}}\nspec:\n  groups:\n    - name: generated-{i}\n      rules:\n"
    );
    for r in 0..200 + g.below(100) {
        let team = g.pick(TEAMS);
        let window = g.pick(&["1m", "5m", "10m", "30m", "1h"]);
        let threshold = 1 + g.below(99);
        // As in real rule files, nearly every expression is different: label values, windows and
        // thresholds vary, and about half the selectors use regular expressions.
        let expr = match g.below(5) {
            0 => format!(
                "sum(rate(http_requests_total{{team=\"{team}\", code=~\"5..\", route=~\"/api/v{}/.*\"}}[{window}])) / sum(rate(http_requests_total{{team=\"{team}\"}}[{window}])) > 0.{threshold:02}",
                g.below(4)
            ),
            1 => format!(
                "histogram_quantile(0.{threshold:02}, sum by (le) (rate(http_request_duration_seconds_bucket{{team=\"{team}\", job=\"{team}-{i}-{r}\"}}[{window}]))) > {}",
                1 + g.below(10)
            ),
            2 => format!("up{{job=~\"{team}-{i}-.*\", namespace=\"{team}\"}} == 0"),
            3 => format!(
                "kube_deployment_status_replicas_available{{namespace=\"{team}\", deployment=~\"{team}-{r}.*\"}} < {}",
                1 + g.below(3)
            ),
            _ => format!(
                "predict_linear(node_filesystem_avail_bytes{{job=\"node-exporter\", mountpoint=\"/data{r}\"}}[{window}], {} * 3600) < 0",
                1 + g.below(24)
            ),
        };
        let _ = write!(
            out,
            "        - alert: Generated{i}x{r}\n          expr: {}\n          for: {window}\n          labels: {{severity: warning, team: {team}}}\n          annotations: {{summary: \"{team} rule {r}\"}}\n",
            serde_json::Value::String(expr)
        );
    }
}

/// A stream of `objects` objects, the same for the same seed.
pub fn manifests(objects: usize, seed: u64) -> String {
    let mut g = Gen { rng: ChaCha8Rng::seed_from_u64(seed) };
    let mut out = String::with_capacity(objects * 1100);
    operator_prometheus(&mut out);
    for i in 0..objects {
        match g.below(1000) {
            0 => crd(&mut out, &mut g, i),
            1..=7 => prometheus_rule(&mut out, &mut g, i),
            8..=40 => metering(&mut out, &mut g, i),
            41..=80 => configmap(&mut out, &mut g, i, true),
            81..=280 => configmap(&mut out, &mut g, i, false),
            281..=580 => service(&mut out, &mut g, i),
            581..=880 => deployment(&mut out, &mut g, i, "Deployment"),
            881..=950 => deployment(&mut out, &mut g, i, "StatefulSet"),
            _ => deployment(&mut out, &mut g, i, "DaemonSet"),
        }
    }
    out
}
