//! Every rule fires on a realistic bad manifest, at the line its `# expect:` comment names, and
//! stays quiet on the corrected one.

mod common;
use common::*;

fn assert_exact(name: &str) -> serde_json::Value {
    let path = root().join("tests/fixtures/rules").join(name);
    let (_, v) = check_json(&path.to_string_lossy());
    assert_eq!(
        located(&v),
        expected(&path),
        "findings of {name}:\n{}",
        serde_json::to_string_pretty(&v["findings"]).unwrap()
    );
    v
}

#[test]
fn sizing_fires_at_the_right_lines() {
    assert_exact("sizing-bad.yaml");
}

#[test]
fn sizing_quiet_when_correct() {
    let v = assert_exact("sizing-good.yaml");
    assert_eq!(v["summary"]["metering_workloads"], 2);
}

#[test]
fn probes_fire_at_the_right_lines() {
    let v = assert_exact("probes-bad.yaml");
    // A named port nobody declares fails, and another container's port ties the two together: errors.
    // A number nobody declares still reaches the process: a warning.
    let severities: Vec<_> = findings(&v, "probes/port-undeclared").iter().map(|f| f["severity"].clone()).collect();
    assert_eq!(severities, ["error", "error", "warning"]);
}

#[test]
fn probes_quiet_when_correct() {
    assert_exact("probes-good.yaml");
}

#[test]
fn storage_fires_at_the_right_lines() {
    let v = assert_exact("storage-bad.yaml");
    let eph = findings(&v, "storage/ephemeral-tsdb");
    assert!(eph.iter().all(|f| f["severity"] == "error"), "no remote_write: error");
}

#[test]
fn storage_quiet_when_correct() {
    assert_exact("storage-good.yaml");
}

#[test]
fn drain_blocking_budgets_fire_at_the_right_lines() {
    let v = assert_exact("upgrade-bad.yaml");
    let blocked = findings(&v, "upgrade/drain-blocked");
    assert!(
        blocked[3]["message"].as_str().unwrap().contains("2 replicas at its HorizontalPodAutoscaler's minReplicas")
    );
    assert!(blocked.iter().all(|f| f["object"]["kind"] == "PodDisruptionBudget"), "{blocked:?}");
}

#[test]
fn budgets_that_let_a_drain_through_are_quiet() {
    let v = assert_exact("upgrade-good.yaml");
    assert_eq!(v["summary"]["metering_workloads"], 6, "the DaemonSet is metering, and not judged");
}

/// The findings of one rule only, against the fixture's `# expect:` comments for it.
fn assert_rule(name: &str, rule: &str) -> serde_json::Value {
    let path = root().join("tests/fixtures/rules").join(name);
    let (_, v) = check_json(&path.to_string_lossy());
    let of_rule = |found: Vec<(u64, String)>| found.into_iter().filter(|(_, r)| r == rule).collect::<Vec<_>>();
    assert_eq!(of_rule(located(&v)), of_rule(expected(&path)), "{name}: {}", serde_json::to_string_pretty(&v).unwrap());
    v
}

#[test]
fn rollouts_waiting_on_a_held_volume_fire_at_the_right_lines() {
    let v = assert_rule("rollout-bad.yaml", "upgrade/rollout-blocked");
    let blocked = findings(&v, "upgrade/rollout-blocked");
    let severities: Vec<_> = blocked.iter().map(|f| f["severity"].as_str().unwrap()).collect();
    // Prometheus locks its TSDB and ReadWriteOncePod admits one pod: errors wherever the pod lands.
    assert_eq!(severities, ["error", "warning", "error", "warning"]);
    assert!(blocked[0]["message"].as_str().unwrap().contains("default RollingUpdate strategy"));
    assert!(blocked[3]["message"].as_str().unwrap().contains("25% of 3 replicas rounds down to 0"));
}

#[test]
fn rollouts_that_let_go_of_the_volume_first_are_quiet() {
    let v = assert_rule("rollout-good.yaml", "upgrade/rollout-blocked");
    assert_eq!(v["summary"]["metering_workloads"], 5, "everything but Grafana is judged");
    assert!(findings(&v, "upgrade/rollout-blocked").is_empty());
}

#[test]
fn prometheus_urls_that_lead_nowhere_fire_where_the_url_is_written() {
    let v = assert_rule("wiring-bad.yaml", "wiring/prometheus-unreachable");
    let found = findings(&v, "wiring/prometheus-unreachable");
    let severities: Vec<_> = found.iter().map(|f| f["severity"].as_str().unwrap()).collect();
    assert_eq!(severities, ["error", "error", "warning"], "a Service selecting nothing may have pods elsewhere");
    // Kubecost's URL is written in its ConfigMap: the finding is on that object, at that line.
    assert_eq!(found[0]["object"]["kind"], "ConfigMap");
    assert!(found[0]["message"].as_str().unwrap().contains("listens on 80, not on 9090"));
    assert!(found[0]["help"].as_str().unwrap().contains("(:80)"));
    assert!(found[1]["message"].as_str().unwrap().contains("the port named http, which no pod it selects declares"));
}

#[test]
fn prometheus_urls_that_reach_a_prometheus_or_leave_the_input_are_quiet() {
    let v = assert_rule("wiring-good.yaml", "wiring/prometheus-unreachable");
    assert_eq!(v["summary"]["metering_workloads"], 6, "every Prometheus is read");
}

#[test]
fn schema_rules_fire_at_the_right_lines() {
    let v = assert_exact("schema-bad.yaml");
    let unknown = findings(&v, "schema/unknown-field");
    assert!(unknown[0]["message"].as_str().unwrap().contains("did you mean `resources`"));
    let infos: Vec<_> =
        findings(&v, "schema/suspicious-quantity").into_iter().filter(|f| f["severity"] == "info").collect();
    assert_eq!(infos.len(), 1, "3G is an info");
    // Each copy names the first (the line its object starts on), whichever documents lie between.
    let text = std::fs::read_to_string(root().join("tests/fixtures/rules/schema-bad.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let name = lines.iter().position(|l| l.contains("name: twice")).unwrap();
    let first = lines[..name].iter().rposition(|l| *l == "---").unwrap() + 2;
    for dup in findings(&v, "schema/duplicate-object") {
        let message = dup["message"].as_str().unwrap();
        assert!(message.ends_with(&format!("(first at line {first})")), "{message}");
    }
}

#[test]
fn broken_input_exits_2_and_the_rest_is_checked() {
    let path = root().join("tests/fixtures/rules/broken.yaml");
    let (code, v) = check_json(&path.to_string_lossy());
    assert_eq!(code, 2);
    assert_eq!(located(&v), expected(&path));
    let syntax = &findings(&v, "input/yaml-syntax")[0];
    assert!(syntax["column"].as_u64().unwrap() > 1);
}

#[test]
fn rules_and_explain_list_every_rule() {
    let out = meterguard(&["rules", "--format", "json"]);
    let list = json(&out);
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    for id in [
        "sizing/memory-below-floor",
        "probes/liveness-kills-startup",
        "storage/ephemeral-tsdb",
        "schema/unknown-field",
        "input/yaml-syntax",
    ] {
        assert!(ids.contains(&id), "{id} listed");
        let e = meterguard(&["explain", id]);
        assert!(e.status.success());
        assert!(String::from_utf8_lossy(&e.stdout).starts_with(id));
    }
    assert_eq!(meterguard(&["explain", "no/such-rule"]).status.code(), Some(2));
}

#[test]
fn cronjobs_pods_and_native_sidecars_are_workloads_and_opt_out_is_honoured() {
    let v = assert_exact("kinds.yaml");
    let kc =
        v["workloads"].as_array().unwrap().iter().find(|w| w["object"]["name"] == "kubecost-cost-analyzer").unwrap();
    assert_eq!(kc["metering"], false);
    assert!(kc["reason"].as_str().unwrap().contains("annotation"));
}

#[test]
fn documents_that_are_no_objects_are_reported_or_skipped_on_request() {
    let dir = tempfile::tempdir().unwrap();
    // A chart directory: its values file beside a rendered manifest.
    std::fs::write(dir.path().join("values.yaml"), "prometheus:\n  server:\n    persistentVolume: {}\n").unwrap();
    std::fs::copy(root().join("tests/fixtures/rules/sizing-good.yaml"), dir.path().join("rendered.yaml")).unwrap();
    let path = dir.path().to_string_lossy().into_owned();
    let out = meterguard(&["check", "--format", "json", &path]);
    let v = json(&out);
    let missing = findings(&v, "input/missing-identity");
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(missing[0]["file"].as_str().unwrap().ends_with("values.yaml"));
    assert!(missing[0]["help"].as_str().unwrap().contains("--ignore-non-manifests"));
    assert_eq!(out.status.code(), Some(2), "input that is not what was expected fails closed");
    let out = meterguard(&["check", "--format", "json", "--ignore-non-manifests", &path]);
    let v = json(&out);
    assert!(findings(&v, "input/missing-identity").is_empty());
    assert_eq!(v["summary"]["metering_workloads"], 2, "the manifest is still checked");
    let alone = meterguard(&["check", "--format", "json", &dir.path().join("rendered.yaml").to_string_lossy()]);
    assert_eq!(out.status.code(), alone.status.code());
    assert_eq!(v["findings"], json(&alone)["findings"]);
}

#[test]
fn a_thanos_sidecar_uploading_blocks_makes_an_ephemeral_tsdb_a_warning() {
    let bad = std::fs::read_to_string(root().join("tests/fixtures/rules/storage-bad.yaml")).unwrap();
    let ephemeral = |text: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("storage.yaml");
        std::fs::write(&path, text).unwrap();
        let (_, v) = check_json(&path.to_string_lossy());
        findings(&v, "storage/ephemeral-tsdb")
            .iter()
            .map(|f| {
                (f["line"].as_u64().unwrap(), f["severity"].as_str().unwrap().to_owned(), f["message"].to_string())
            })
            .collect::<Vec<_>>()
    };
    let before = ephemeral(&bad);
    assert_eq!(before.iter().map(|(l, s, _)| (*l, s.as_str())).collect::<Vec<_>>(), [(43, "error"), (53, "error")]);
    // kubecost 1.x's Thanos mode: a sidecar in the Prometheus pod; the operator's spec.thanos.
    let sidecar = "        - name: thanos-sidecar\n          image: quay.io/thanos/thanos:v0.39.2\n          args: [sidecar, --tsdb.path=/data, --objstore.config-file=/etc/thanos/object-store.yaml]\n";
    let with = bad.replacen("      volumes:\n", &format!("{sidecar}      volumes:\n"), 1).replacen(
        "  retention: 15d\n",
        "  retention: 15d\n  thanos:\n    objectStorageConfig: {name: thanos-objstore, key: objstore.yml}\n",
        1,
    );
    let after = ephemeral(&with);
    assert_eq!(after.len(), 2, "{after:?}");
    for (line, severity, message) in &after {
        assert_eq!(severity, "warning", "line {line}");
        assert!(message.contains("Thanos sidecar uploads its blocks"), "{message}");
    }
    // Still at the emptyDir, three lines (the sidecar's) further down.
    assert_eq!(after[0].0, 43 + 3);
}

#[test]
fn a_keep_list_trimmed_of_a_series_the_cost_model_reads_fires_at_the_job() {
    let render = std::fs::read_to_string(root().join("tests/fixtures/corpus/kubecost-2.3.3-default.yaml")).unwrap();
    let rule = "wiring/metric-dropped";
    let (_, v) = check_json(&root().join("tests/fixtures/corpus/kubecost-2.3.3-default.yaml").to_string_lossy());
    assert!(findings(&v, rule).is_empty(), "the chart's own keep-lists keep every input");
    // Trimmed to save memory after an OOM kill: the working set goes from the cAdvisor keep-list.
    let keep = "regex: (container_cpu_usage_seconds_total|container_memory_working_set_bytes|";
    assert_eq!(render.matches(keep).count(), 1);
    let trimmed = render.replace(keep, "regex: (container_cpu_usage_seconds_total|");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trimmed.yaml");
    std::fs::write(&path, trimmed).unwrap();
    let (_, v) = check_json(&path.to_string_lossy());
    let found = findings(&v, rule);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        (found[0]["line"].as_u64(), found[0]["column"].as_u64()),
        (Some(22819), Some(7)),
        "metric_relabel_configs"
    );
    assert_eq!(found[0]["object"]["kind"], "ConfigMap");
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains("drops container_memory_working_set_bytes")
            && message.contains("job kubernetes-nodes-cadvisor")
    );
}

#[test]
fn a_service_monitor_dropping_a_series_the_cost_model_reads_fires_at_its_metric_relabelings() {
    // OpenCost reading kube-prometheus-stack's Prometheus, whose kube-state-metrics ServiceMonitor
    // is given a drop list to cut cardinality.
    let kps = std::fs::read_to_string(root().join("tests/fixtures/corpus/kps-default.yaml")).unwrap();
    let opencost = OPENCOST_READING_KPS;
    let endpoint = "  endpoints:\n    - port: http\n      honorLabels: true\n---\n# Source: kube-prometheus-stack/charts/prometheus-node-exporter";
    assert_eq!(kps.matches(endpoint).count(), 1);
    let dropped = endpoint.replace(
        "honorLabels: true\n",
        "honorLabels: true\n      metricRelabelings:\n        - {action: drop, sourceLabels: [__name__], regex: kube_pod_labels|kube_replicaset_owner}\n",
    );
    assert!(dropped_findings(&format!("{kps}{opencost}")).is_empty());
    let found = dropped_findings(&format!("{}{opencost}", kps.replace(endpoint, &dropped)));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["object"]["kind"], "ServiceMonitor");
    assert_eq!(found[0]["line"], 4981, "at the endpoint's metricRelabelings");
    assert!(found[0]["message"].as_str().unwrap().contains("drops kube_pod_labels"));
}

#[test]
fn a_kube_state_metrics_drop_fires_though_its_telemetry_endpoint_shares_the_job() {
    // kube-state-metrics.selfMonitor.enabled: the chart adds a Service port and a ServiceMonitor
    // endpoint for port 8081, where kube-state-metrics serves its own process metrics under the
    // same job name; they hold no kube_* series, so they keep none the main endpoint drops.
    let kps = std::fs::read_to_string(root().join("tests/fixtures/corpus/kps-default.yaml")).unwrap();
    let service =
        "    port: 8080\n    targetPort: http\n  selector:    \n    app.kubernetes.io/name: kube-state-metrics";
    let endpoint = "  endpoints:\n    - port: http\n      honorLabels: true\n---\n# Source: kube-prometheus-stack/charts/prometheus-node-exporter";
    assert_eq!((kps.matches(service).count(), kps.matches(endpoint).count()), (1, 1));
    let telemetry = "    port: 8080\n    targetPort: http\n  - name: metrics\n    protocol: TCP\n    port: 8081\n    targetPort: metrics\n  selector:    \n    app.kubernetes.io/name: kube-state-metrics";
    let self_monitored = kps.replace(service, telemetry);
    let endpoints = |drop: &str| {
        endpoint.replace(
            "honorLabels: true\n",
            &format!("honorLabels: true\n{drop}    - port: metrics\n      honorLabels: true\n"),
        )
    };
    let drop = "      metricRelabelings:\n        - {action: drop, sourceLabels: [__name__], regex: kube_pod_labels}\n";
    let opencost = OPENCOST_READING_KPS;
    assert!(dropped_findings(&format!("{}{opencost}", self_monitored.replace(endpoint, &endpoints("")))).is_empty());
    let found = dropped_findings(&format!("{}{opencost}", self_monitored.replace(endpoint, &endpoints(drop))));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!((found[0]["line"].as_u64(), found[0]["column"].as_u64()), (Some(4985), Some(7)), "the http endpoint's");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("drops kube_pod_labels in the metric relabelings of job kube-state-metrics")
    );
    // The telemetry port is what `--telemetry-port` says (here as the next item), not always 8081:
    // the port named `metrics` is telemetry only once the container serves it on that port.
    let dropped = self_monitored.replace(endpoint, &endpoints(drop));
    let flagged = dropped
        .replace("        - --port=8080\n", "        - --port=8080\n        - --telemetry-port\n        - \"9091\"\n");
    assert_ne!(flagged, dropped);
    assert!(
        dropped_findings(&format!("{flagged}{opencost}")).is_empty(),
        "port 8081 serves kube_* series when telemetry is on 9091"
    );
    let moved = flagged.replace(
        "        - containerPort: 8081\n          name: metrics\n",
        "        - containerPort: 9091\n          name: metrics\n",
    );
    assert_ne!(moved, flagged);
    assert_eq!(dropped_findings(&format!("{moved}{opencost}")).len(), 1);
}

/// The `wiring/metric-dropped` findings of `render`, checked from a file.
fn dropped_findings(render: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("render.yaml");
    std::fs::write(&path, render).unwrap();
    findings(&check_json(&path.to_string_lossy()).1, "wiring/metric-dropped").into_iter().cloned().collect()
}

/// OpenCost, reading kube-prometheus-stack's Prometheus (tests/fixtures/corpus/kps-default.yaml).
const OPENCOST_READING_KPS: &str = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: opencost, namespace: opencost}\nspec:\n  selector:\n    matchLabels: {app.kubernetes.io/name: opencost}\n  template:\n    metadata:\n      labels: {app.kubernetes.io/name: opencost}\n    spec:\n      containers:\n        - name: opencost\n          image: ghcr.io/opencost/opencost:1.118.0\n          env:\n            - name: PROMETHEUS_SERVER_ENDPOINT\n              value: http://kps-kube-prometheus-stack-prometheus.monitoring:9090\n";

#[test]
fn a_cadvisor_endpoint_dropping_the_working_set_fires_though_the_kubelet_job_has_other_endpoints() {
    // kube-prometheus-stack scrapes the kubelet's /metrics, /metrics/cadvisor and /metrics/probes
    // under one job, `kubelet`; trimming cAdvisor's series for cardinality is a common values change.
    let kps = std::fs::read_to_string(root().join("tests/fixtures/corpus/kps-default.yaml")).unwrap();
    let opencost = OPENCOST_READING_KPS;
    let drop = "regex: container_memory_(mapped_file|swap)\n";
    assert_eq!(kps.matches(drop).count(), 1);
    assert!(dropped_findings(&format!("{kps}{opencost}")).is_empty(), "the chart's own drops spare the inputs");
    let trimmed = kps.replace(drop, "regex: container_memory_(mapped_file|swap|working_set_bytes)\n");
    let found = dropped_findings(&format!("{trimmed}{opencost}"));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["object"]["kind"], "ServiceMonitor");
    assert_eq!(
        (found[0]["line"].as_u64(), found[0]["column"].as_u64()),
        (Some(5300), Some(5)),
        "the cAdvisor endpoint's"
    );
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains("drops container_memory_working_set_bytes") && message.contains("job kubelet"),
        "{message}"
    );
}

/// Every rule id a finding carries is declared (an undeclared one would reach SARIF as rule 0
/// and fail as an error by default): over every fixture, the renders, and a diff.
#[test]
fn every_emitted_rule_is_declared() {
    let declared: std::collections::BTreeSet<String> = json(&meterguard(&["rules", "--format", "json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let runs = [
        vec!["check", "--format", "json", "tests/fixtures/rules", "tests/fixtures/alerts", "tests/fixtures/corpus"],
        vec!["check", "--format", "json", "tests/fixtures/renders"],
        vec!["check", "--format", "json", "--base", "examples/incident/fix.yaml", "examples/incident/incident.yaml"],
        vec!["diff", "--format", "json", "tests/fixtures/diff/old.yaml", "tests/fixtures/diff/new.yaml"],
    ];
    let mut seen = std::collections::BTreeSet::new();
    for args in runs {
        let v = json(&meterguard(&args));
        for f in v["findings"].as_array().unwrap() {
            seen.insert(f["rule"].as_str().unwrap().to_owned());
        }
    }
    let undeclared: Vec<&String> = seen.difference(&declared).collect();
    assert!(undeclared.is_empty(), "emitted but not declared: {undeclared:?}");
    assert!(seen.len() > 30, "the runs reach most rules: {seen:?}");
}
