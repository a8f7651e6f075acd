//! `meterguard diff` and `check --base`: matching, structural comparison, change findings,
//! Secret redaction and the Markdown budget.

mod common;
use common::*;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn diff_json(old: &str, new: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["diff", "--format", "json", old, new];
    args.extend_from_slice(extra);
    json(&meterguard(&args))
}

fn changes(v: &serde_json::Value) -> Vec<(String, String, String)> {
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["change"].as_str().unwrap().to_owned(),
                c["object"]["kind"].as_str().unwrap().to_owned(),
                c["object"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: opencost\n  namespace: opencost\n  labels: {a: '1', b: '2'}\nspec:\n  template:\n    spec:\n      containers:\n      - name: one\n        image: ghcr.io/opencost/opencost:1.120.1\n        env: [{name: X, value: '1'}, {name: Y, value: '2'}]\n      - name: two\n        image: ghcr.io/opencost/opencost-ui:1.120.1\n";
const REORDERED: &str = "kind: Deployment\napiVersion: apps/v1\nspec:\n  template:\n    spec:\n      containers:\n      - image: ghcr.io/opencost/opencost-ui:1.120.1\n        name: two\n      - name: one\n        env: [{name: Y, value: '2'}, {value: '1', name: X}]\n        image: ghcr.io/opencost/opencost:1.120.1\nmetadata:\n  labels: {b: '2', a: '1'}\n  namespace: opencost\n  name: opencost\n";

#[test]
fn reordering_only_is_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (write(&dir, "a.yaml", DEPLOY), write(&dir, "b.yaml", REORDERED));
    let v = diff_json(&a, &b, &["--all"]);
    assert!(changes(&v).is_empty(), "{:?}", changes(&v));
    let human = String::from_utf8(meterguard(&["diff", &a, &b, "--all"]).stdout).unwrap();
    assert!(human.contains("0 added, 0 removed, 0 changed"), "{human}");
}

#[test]
fn api_version_bump_is_one_changed_object_and_renames_are_remove_plus_add() {
    let pdb = |api: &str, name: &str| {
        format!(
            "apiVersion: {api}\nkind: PodDisruptionBudget\nmetadata: {{name: {name}, namespace: kubecost}}\nspec: {{maxUnavailable: 1}}\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let old = write(&dir, "old.yaml", &pdb("policy/v1beta1", "prometheus"));
    let new = write(&dir, "new.yaml", &pdb("policy/v1", "prometheus"));
    let v = diff_json(&old, &new, &["--all"]);
    assert_eq!(changes(&v), vec![("changed".into(), "PodDisruptionBudget".into(), "prometheus".into())]);
    assert_eq!(
        v["changes"][0]["fields"][0],
        serde_json::json!({"path": "apiVersion", "old": "policy/v1beta1", "new": "policy/v1"})
    );
    let renamed = write(&dir, "renamed.yaml", &pdb("policy/v1", "prometheus-pdb"));
    let v = diff_json(&new, &renamed, &["--all"]);
    assert_eq!(
        changes(&v),
        vec![
            ("removed".into(), "PodDisruptionBudget".into(), "prometheus".into()),
            ("added".into(), "PodDisruptionBudget".into(), "prometheus-pdb".into())
        ]
    );
    // The old apiVersion is an upgrade finding in check, by target version.
    let (_, removed) = check_json_args(&old, &["--kube-version", "1.25"]);
    assert_eq!(findings(&removed, "upgrade/api-removed").len(), 1);
    let (_, deprecated) = check_json_args(&old, &["--kube-version", "1.22"]);
    assert_eq!(findings(&deprecated, "upgrade/api-deprecated").len(), 1);
    let (_, fine) = check_json_args(&old, &["--kube-version", "1.20"]);
    assert!(findings(&fine, "upgrade/api-deprecated").is_empty() && findings(&fine, "upgrade/api-removed").is_empty());
}

fn check_json_args(path: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["check", "--format", "json", path];
    args.extend_from_slice(extra);
    let out = meterguard(&args);
    (out.status.code().unwrap_or(-1), json(&out))
}

#[test]
fn every_diff_rule_fires_on_the_fixture_and_none_on_no_change() {
    let (old, new) = (fixture("tests/fixtures/diff/old.yaml"), fixture("tests/fixtures/diff/new.yaml"));
    let v = diff_json(&old, &new, &["--assume-rules-loaded"]);
    let fired: std::collections::BTreeSet<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .filter(|r| r.starts_with("diff/"))
        .collect();
    let all = [
        "diff/alert-removed",
        "diff/coverage-lost",
        "diff/cpu-reduced",
        "diff/image-major-bump",
        // Dropping a StatefulSet's volumeClaimTemplates, as storage-changed reports.
        "diff/immutable-field-changed",
        "diff/memory-reduced",
        "diff/metering-workload-removed",
        "diff/monitor-removed",
        "diff/probe-loosened",
        "diff/probe-removed",
        "diff/replicas-reduced",
        "diff/storage-changed",
    ];
    assert_eq!(fired, all.into_iter().collect());
    let at = |rule: &str| {
        findings(&v, rule)
            .iter()
            .map(|f| (f["file"].as_str().unwrap().rsplit('/').next().unwrap().to_owned(), f["line"].as_u64().unwrap()))
            .collect::<Vec<_>>()
    };
    assert!(at("diff/memory-reduced").contains(&("new.yaml".into(), 29)), "points at the new limit");
    assert_eq!(at("diff/monitor-removed"), vec![("old.yaml".into(), 80)], "a removal points into the old render");
    let alert = findings(&v, "diff/alert-removed");
    let lost = alert.iter().find(|f| f["severity"] == "error").unwrap();
    assert!(
        lost["message"].as_str().unwrap().contains("OpenCostCrashLooping")
            && lost["message"].as_str().unwrap().contains("opencost (crashloop)")
    );
    assert!(
        alert.iter().any(|f| f["severity"] == "warning" && f["message"].as_str().unwrap().contains("PrometheusDown"))
    );
    // A changed matcher, not a removed rule, leaves OpenCost uncovered when down.
    let lost = findings(&v, "diff/coverage-lost");
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(
        lost[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Deployment opencost/opencost was covered for down by OpenCostDown")
    );
    assert_eq!(at("diff/coverage-lost"), vec![("new.yaml".into(), 38)], "at the workload in the new render");
    let human = String::from_utf8(meterguard(&["diff", "--assume-rules-loaded", &old, &new]).stdout).unwrap();
    assert!(human.contains("Consequences on objects not shown above") && human.contains("error[diff/coverage-lost]"));
    let bump = &findings(&v, "diff/image-major-bump")[0];
    assert!(bump["help"].as_str().unwrap().contains("--storage.tsdb.allow-overlapping-blocks"));
    assert!(bump["help"].as_str().unwrap().contains("GOMEMLIMIT"));
    // Quiet: no change, and the reverse direction only adds.
    let same = diff_json(&old, &old, &[]);
    assert!(same["findings"].as_array().unwrap().iter().all(|f| !f["rule"].as_str().unwrap().starts_with("diff/")));
    let reverse = diff_json(&new, &old, &["--assume-rules-loaded"]);
    for quiet in [
        "diff/memory-reduced",
        "diff/cpu-reduced",
        "diff/replicas-reduced",
        "diff/probe-removed",
        "diff/probe-loosened",
        "diff/storage-changed",
        "diff/image-major-bump",
        "diff/alert-removed",
        "diff/coverage-lost",
    ] {
        assert!(findings(&reverse, quiet).is_empty(), "{quiet} on the reverse diff");
    }
}

#[test]
fn check_base_adds_change_findings() {
    let (old, new) = (fixture("examples/incident/fix.yaml"), fixture("examples/incident/incident.yaml"));
    let v = json(&meterguard(&["check", "--format", "json", "--base", &old, &new]));
    assert_eq!(findings(&v, "diff/memory-reduced").len(), 2);
    assert_eq!(findings(&v, "sizing/memory-below-floor").len(), 1);
    let plain = json(&meterguard(&["check", "--format", "json", &new]));
    assert!(findings(&plain, "diff/memory-reduced").is_empty());
}

#[test]
fn markdown_stays_under_budget_with_balanced_fences() {
    // Every kube-prometheus-stack rule changed: far more than a comment can hold.
    let kps = std::fs::read_to_string(fixture("tests/fixtures/corpus/kps-default.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let old = write(&dir, "old.yaml", &kps);
    let new = write(
        &dir,
        "new.yaml",
        &kps.replace("for: 15m", "for: 16m").replace("severity: warning", "severity: critical"),
    );
    let out = meterguard(&["diff", "--all", "--context", "50", "--format", "markdown", &old, &new]);
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.len() < 65_536, "{} characters", md.len());
    assert_eq!(md.matches("```").count() % 2, 0, "every fence is closed");
    assert_eq!(md.matches("<details>").count(), md.matches("</details>").count());
    assert!(md.trim_end().lines().last().unwrap().contains("left out"), "says what was left out");
}

#[test]
fn reports_without_snippets_are_the_same_when_the_texts_are_released() {
    // With the human report among the outputs the texts are kept for its snippets; without, they
    // are released once parsed. The JSON must not tell the difference, for diff and check alike.
    let dir = tempfile::tempdir().unwrap();
    let human = dir.path().join("report.txt").to_string_lossy().into_owned();
    let (old, new) = ("examples/incident/incident.yaml", "examples/incident/fix.yaml");
    for args in [vec!["diff", old, new], vec!["check", "--base", old, new], vec!["check", new]] {
        let released = meterguard(&[args.as_slice(), &["--format", "json"]].concat());
        let kept =
            meterguard(&[args.as_slice(), &["--format", "human", "--output", &human, "--format", "json"]].concat());
        assert!(!released.stdout.is_empty() && std::fs::metadata(&human).unwrap().len() > 0, "{args:?}");
        assert_eq!(String::from_utf8_lossy(&released.stdout), String::from_utf8_lossy(&kept.stdout), "{args:?}");
    }
}

#[test]
fn a_removed_scrape_config_is_a_removed_monitor() {
    let dir = tempfile::tempdir().unwrap();
    let with = std::fs::read_to_string(root().join("tests/fixtures/alerts/scrape-config-discovery.yaml")).unwrap();
    let rule_at = with.find("---\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule").unwrap();
    let old = write(&dir, "old.yaml", &with);
    let new = write(&dir, "new.yaml", &with[rule_at..]);
    let v = diff_json(&old, &new, &[]);
    let removed = findings(&v, "diff/monitor-removed");
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0]["object"]["kind"], "ScrapeConfig");
    assert_eq!(removed[0]["line"], 9, "at the ScrapeConfig's name in the old render");
}

#[test]
fn a_removed_vmservicescrape_is_a_removed_monitor() {
    let dir = tempfile::tempdir().unwrap();
    let with = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics-agent.yaml")).unwrap();
    let start = with
        .find("---\n# Source: victoria-metrics-k8s-stack/charts/kube-state-metrics/templates/servicemonitor.yaml")
        .unwrap();
    let end = with.find("---\n# Source: victoria-metrics-k8s-stack/templates/monitors/vmnodescrape.yaml").unwrap();
    let old = write(&dir, "old.yaml", &with);
    let new = write(&dir, "new.yaml", &(with[..start].to_owned() + &with[end..]));
    let v = diff_json(&old, &new, &[]);
    let removed = findings(&v, "diff/monitor-removed");
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0]["object"]["kind"], "VMServiceScrape");
    let name_at = start + with[start..].find("  name: vmks-kube-state-metrics").unwrap();
    let line = with[..name_at].lines().count() + 1;
    assert_eq!(removed[0]["line"], line, "at the VMServiceScrape's name in the old render");
}

#[test]
fn disabling_a_synced_rule_group_removes_its_alerts_at_the_sync_job_config() {
    let dir = tempfile::tempdir().unwrap();
    let vm = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics.yaml")).unwrap();
    let sync = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics-sync-job.yaml")).unwrap();
    let opencost = std::fs::read_to_string(root().join("tests/fixtures/corpus/opencost-default.yaml")).unwrap();
    let rendered: Vec<&str> = vm.split("\n---\n").filter(|d| !d.contains("-kubernetes-apps\n")).collect();
    let stack = [opencost, rendered.join("\n---\n"), sync].join("\n---\n");
    let off = stack.replace("        kubernetes-apps:\n", "        kubernetes-apps:\n          enabled: false\n");
    assert_ne!(off, stack);
    let v = diff_json(&write(&dir, "old.yaml", &stack), &write(&dir, "new.yaml", &off), &[]);
    let changed: Vec<&str> =
        v["changes"].as_array().unwrap().iter().filter_map(|c| c["object"]["name"].as_str()).collect();
    assert_eq!(changed, ["vmks-victoria-metrics-k8s-stack-sync-job-config"], "shown by default");
    let removed = findings(&v, "diff/alert-removed");
    let crash =
        removed.iter().find(|f| f["message"].as_str().unwrap().starts_with("alert KubePodCrashLooping")).unwrap();
    assert_eq!(crash["severity"], "error", "{crash}");
}

#[test]
fn a_prometheus_scrape_config_secret_is_shown_masked() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let secret = std::fs::read_to_string(root().join("tests/fixtures/alerts/additional-scrape-configs.yaml")).unwrap();
    let kps = std::fs::read_to_string(root().join("tests/fixtures/corpus/kps-default.yaml")).unwrap();
    let selector = "  probeSelector:\n    matchLabels:\n      release: \"kps\"\n";
    let reference = "  additionalScrapeConfigs:\n    name: kps-kube-prometheus-stack-prometheus-scrape-confg\n    key: \
                     additional-scrape-configs.yaml\n";
    let kps = kps.replacen(selector, &(selector.to_owned() + reference), 1);
    let b64 = |port: &str| {
        let text = format!(
            "- job_name: kubecost\n  static_configs: [{{targets: ['kubecost-cost-analyzer.kubecost:{port}']}}]\n"
        );
        base64::engine::general_purpose::STANDARD.encode(text)
    };
    let start = secret.find("  additional-scrape-configs.yaml: ").unwrap();
    let with =
        |port: &str| format!("{kps}\n---\n{}  additional-scrape-configs.yaml: {}\n", &secret[..start], b64(port));
    let old = write(&dir, "old.yaml", &with("9003"));
    let new = write(&dir, "new.yaml", &with("9090"));
    let human = String::from_utf8(meterguard(&["diff", &old, &new]).stdout).unwrap();
    assert!(human.contains("~ Secret monitoring/kps-kube-prometheus-stack-prometheus-scrape-confg"), "{human}");
    assert!(human.contains("*** (after)") && !human.contains(&b64("9090")[..16]), "{human}");
}

#[test]
fn the_budgets_and_autoscaler_of_a_metering_workload_are_shown_with_their_drain_findings() {
    let dir = |f: &str| root().join("tests/fixtures/rules").join(f).to_string_lossy().into_owned();
    let v = diff_json(&dir("upgrade-good.yaml"), &dir("upgrade-bad.yaml"), &[]);
    let shown = changes(&v);
    for (kind, name) in [
        // Selected by matchExpressions, and the autoscaler whose minReplicas went down.
        ("PodDisruptionBudget", "metering-store"),
        ("HorizontalPodAutoscaler", "usage-api"),
        ("PodDisruptionBudget", "billing-team"),
    ] {
        assert!(shown.iter().any(|(_, k, n)| k == kind && n == name), "{kind} {name} not in {shown:?}");
    }
    assert_eq!(findings(&v, "upgrade/drain-blocked").len(), 5);
    // Fewer pods through the autoscaler is reported at its minReplicas, and a Prometheus's at its replicas.
    let reduced: Vec<_> = findings(&v, "diff/replicas-reduced")
        .iter()
        .map(|f| (f["object"]["kind"].as_str().unwrap().to_owned(), f["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(reduced, vec![("Prometheus".to_owned(), 53), ("HorizontalPodAutoscaler".to_owned(), 139)]);
}

#[test]
fn only_masked_lines_are_marked_before_and_after() {
    let dir = tempfile::tempdir().unwrap();
    let cm = |title: &str, key: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: d, namespace: x}}\ndata:\n  dash.json: |\n    {{\n      \"title\": \"{title}\",\n      \"panels\": []\n    }}\n  prometheus.yml: |\n    remote_write:\n      - url: https://m.example.com/push\n        basic_auth: {{username: u}}\n        bearer_token: {key}\n    args: [--log.level={title}, --auth.token={key}]\n"
        )
    };
    let (old, new) = (write(&dir, "old.yaml", &cm("a", "k1")), write(&dir, "new.yaml", &cm("b", "k2")));
    let out = String::from_utf8(meterguard(&["diff", "--all", "--color", "never", &old, &new]).stdout).unwrap();
    assert!(out.contains("+      \"title\": \"b\",\n"), "a changed line with no credential is not marked: {out}");
    assert!(out.contains("bearer_token: *** (after)") && !out.contains("k2"), "{out}");
    assert!(out.contains("--auth.token=***") && out.contains("--log.level=b"), "{out}");
}

#[test]
fn changes_the_api_server_refuses_fail_at_their_lines_in_both_directions() {
    let (old, new) =
        (fixture("tests/fixtures/diff/immutable-old.yaml"), fixture("tests/fixtures/diff/immutable-new.yaml"));
    let rule = "diff/immutable-field-changed";
    let v = diff_json(&old, &new, &[]);
    let refused = findings(&v, rule);
    let at: Vec<(u64, String)> = refused.iter().map(|f| (f["line"].as_u64().unwrap(), rule.to_owned())).collect();
    assert_eq!(at, expected(std::path::Path::new(&new)), "{refused:#?}");
    assert!(refused.iter().all(|f| f["severity"] == "error"));
    let message = |kind: &str| {
        refused.iter().find(|f| f["object"]["kind"] == kind).unwrap()["message"].as_str().unwrap().to_owned()
    };
    assert!(
        message("DaemonSet")
            .contains(r#"spec.selector.matchLabels from {"app":"prometheus-node-exporter","release":"kps"} to"#)
    );
    assert!(
        message("StatefulSet")
            .contains("spec.volumeClaimTemplates[0].spec.resources.requests.storage from 50Gi to 100Gi")
    );
    assert!(message("ClusterRoleBinding").contains("(cannot change roleRef)"));
    let claims: Vec<&str> = refused
        .iter()
        .filter(|f| f["object"]["kind"] == "PersistentVolumeClaim")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        claims[0].contains("can not be less than before")
            && claims[1].contains("StorageClass gp2 does not allow volume expansion")
    );
    // A Secret's values never show, and a refused object is shown in the diff though it meters nothing.
    let human = String::from_utf8(meterguard(&["diff", &old, &new]).stdout).unwrap();
    for text in [human.as_str(), &v.to_string()] {
        assert!(!text.contains("new-bucket") && !text.contains("old-bucket"));
    }
    assert!(human.contains("~ DaemonSet monitoring/node-exporter"), "{human}");
    // Refused backwards too, where the claim grown on a class that expands now shrinks; the
    // accepted changes (a StatefulSet's replicas and template, defaults written out, the same size
    // in other units, a hook Job, a mutable ConfigMap, a Deployment's template) stay quiet.
    let reverse = diff_json(&new, &old, &[]);
    let refused_objects = |side: &serde_json::Value| {
        let mut named: Vec<String> = findings(side, rule)
            .iter()
            .map(|f| format!("{}/{}", f["object"]["kind"].as_str().unwrap(), f["object"]["name"].as_str().unwrap()))
            .collect();
        named.sort();
        named
    };
    let forwards = [
        "ClusterRoleBinding/kube-state-metrics",
        "DaemonSet/node-exporter",
        "Job/kubecost-etl-migrate",
        "PersistentVolumeClaim/kubecost-cost-analyzer",
        "PersistentVolumeClaim/kubecost-exports",
        "Secret/cloud-integration",
        "StatefulSet/prometheus-server",
    ];
    assert_eq!(refused_objects(&v), forwards);
    let mut backwards = forwards.to_vec();
    backwards.insert(5, "PersistentVolumeClaim/prometheus-data");
    assert_eq!(refused_objects(&reverse), backwards);
    let same = diff_json(&new, &new, &[]);
    assert!(findings(&same, rule).is_empty());
}

/// Edges of what the API server refuses, one object per case: (old, new, refused).
#[test]
fn immutable_fields_follow_the_api_servers_defaults_and_exceptions() {
    let svc = |ip: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: s, namespace: n}}\nspec:\n  {ip}ports: [{{port: 80}}]\n"
        )
    };
    let sts = |extra: &str| {
        format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: s, namespace: n}}\nspec:\n  selector: {{matchLabels: {{a: b}}}}\n  {extra}template: {{metadata: {{labels: {{a: b}}}}}}\n"
        )
    };
    let cm = |immutable: &str, v: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: n}}\n{immutable}data: {{k: {v}}}\n")
    };
    let job = |meta: &str, image: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: j, namespace: n{meta}}}\nspec:\n  ttlSecondsAfterFinished: null\n  template: {{spec: {{containers: [{{name: c, image: {image}}}]}}}}\n"
        )
    };
    let deploy = |sel: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d, namespace: n}}\nspec:\n  selector: {{matchLabels: {{a: b}}{sel}}}\n"
        )
    };
    let cases = [
        (svc("clusterIP: 10.0.0.1\n  "), svc("clusterIP: 10.0.0.2\n  "), true),
        (svc("clusterIP: None\n  "), svc("clusterIP: 10.0.0.2\n  "), true),
        (svc(""), svc("clusterIP: 10.0.0.2\n  "), false),
        (svc("clusterIP: 10.0.0.1\n  "), svc(""), false),
        (sts("serviceName: a\n  "), sts("serviceName: b\n  "), true),
        (sts(""), sts("serviceName: \"\"\n  "), false),
        (sts("podManagementPolicy: OrderedReady\n  "), sts("podManagementPolicy: Parallel\n  "), true),
        (sts("replicas: 1\n  minReadySeconds: 0\n  "), sts("replicas: 3\n  minReadySeconds: 10\n  "), false),
        (cm("", "a"), cm("", "b"), false),
        (cm("immutable: true\n", "a"), cm("immutable: true\n", "b"), true),
        (cm("immutable: true\n", "a"), cm("", "a"), true),
        (job("", "x:1"), job("", "x:2"), true),
        (
            job(", annotations: {argocd.argoproj.io/hook: Sync}", "x:1"),
            job(", annotations: {argocd.argoproj.io/hook: Sync}", "x:2"),
            false,
        ),
        (deploy(""), deploy(", matchExpressions: []"), false),
        (deploy(""), deploy(", matchExpressions: [{key: c, operator: Exists}]"), true),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (old, new, refused)) in cases.iter().enumerate() {
        let (a, b) = (write(&dir, &format!("{i}-old.yaml"), old), write(&dir, &format!("{i}-new.yaml"), new));
        let v = diff_json(&a, &b, &[]);
        let found = findings(&v, "diff/immutable-field-changed");
        assert_eq!(!found.is_empty(), *refused, "case {i}:\n{old}---\n{new}\n{found:#?}");
    }
}

#[test]
fn a_prometheus_moved_to_a_statefulset_is_a_replacement_that_leaves_its_data_behind() {
    let old = fixture("tests/fixtures/rules/storage-good.yaml");
    let text = std::fs::read_to_string(&old).unwrap();
    // The prometheus chart's server.statefulSet.enabled: the Deployment becomes a StatefulSet whose
    // claim template makes data-prometheus-server-0; the chart's own claim goes from the render.
    let moved = text
        .replacen("kind: Deployment\nmetadata:\n  name: prometheus-server", "kind: StatefulSet\nmetadata:\n  name: prometheus-server", 1)
        .replace("  strategy: {type: Recreate}\n", "  serviceName: prometheus-server\n")
        .replace(
            "        - name: data\n          persistentVolumeClaim: {claimName: prometheus-data}\n",
            "  volumeClaimTemplates:\n    - metadata: {name: data}\n      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 32Gi}}}\n",
        );
    let claim = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: prometheus-data, namespace: kubecost}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 32Gi}}\n---\n";
    assert!(moved.contains(claim));
    let dir = tempfile::tempdir().unwrap();
    let rule = "diff/metering-workload-removed";
    let kept = write(&dir, "kept.yaml", &moved);
    let v = diff_json(&old, &kept, &[]);
    let f = &findings(&v, rule)[0];
    assert_eq!(f["severity"], "error");
    let message = f["message"].as_str().unwrap();
    assert!(message.contains("is replaced by StatefulSet prometheus-server, which mounts claim data-prometheus-server-0 instead of prometheus-data"), "{message}");
    assert!(!message.contains("deletes"), "the claim stays in the render");
    let dropped = write(&dir, "dropped.yaml", &moved.replace(claim, ""));
    let v = diff_json(&old, &dropped, &[]);
    let message = findings(&v, rule)[0]["message"].as_str().unwrap().to_owned();
    assert!(
        message.ends_with("the upgrade deletes claim prometheus-data with it (no helm.sh/resource-policy: keep)"),
        "{message}"
    );
    // A claim the old render marks helm.sh/resource-policy: keep stays in the cluster.
    let keep = "metadata: {name: prometheus-data, namespace: kubecost, annotations: {helm.sh/resource-policy: keep}}";
    let old_kept =
        write(&dir, "old-kept.yaml", &text.replace("metadata: {name: prometheus-data, namespace: kubecost}", keep));
    let v = diff_json(&old_kept, &dropped, &[]);
    assert!(!findings(&v, rule)[0]["message"].as_str().unwrap().contains("deletes"));
    // Mounted by name in the StatefulSet: the data carries over.
    let by_name = text.replacen(
        "kind: Deployment\nmetadata:\n  name: prometheus-server",
        "kind: StatefulSet\nmetadata:\n  name: prometheus-server",
        1,
    );
    let v = diff_json(&old, &write(&dir, "by-name.yaml", &by_name), &[]);
    let f = &findings(&v, rule)[0];
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["help"], "the same claims are mounted, so its data carries over");
}

#[test]
fn a_metering_workload_that_changes_or_drops_its_data_claim_loses_its_data() {
    let old = fixture("tests/fixtures/rules/storage-good.yaml");
    let text = std::fs::read_to_string(&old).unwrap();
    let claim = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: prometheus-data, namespace: kubecost}\n";
    let mount = "persistentVolumeClaim: {claimName: prometheus-data}";
    assert!(text.contains(claim) && text.contains(mount));
    let dir = tempfile::tempdir().unwrap();
    let errors = |new: &str| {
        let v = diff_json(&old, &write(&dir, "new.yaml", new), &[]);
        findings(&v, "diff/storage-changed")
            .into_iter()
            .filter(|f| f["severity"] == "error")
            .map(|f| (f["line"].as_u64().unwrap(), f["message"].as_str().unwrap().to_owned()))
            .collect::<Vec<_>>()
    };
    // A new claim, the old one dropped from the render.
    let moved = text
        .replace(claim, &claim.replace("prometheus-data", "prometheus-data-v2"))
        .replace(mount, &mount.replace("prometheus-data", "prometheus-data-v2"));
    let found = errors(&moved);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].1.ends_with("mounts claim prometheus-data-v2 instead of prometheus-data: it starts with none of the data recorded so far, and the upgrade deletes claim prometheus-data"), "{}", found[0].1);
    // Still mounted, but the claim leaves the render: at the claimName.
    let dropped =
        text.replace(claim, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unrelated, namespace: kubecost}\n");
    let found = errors(&dropped);
    assert_eq!(found.len(), 1, "{found:?}");
    let line = dropped.lines().position(|l| l.contains(mount)).unwrap() as u64 + 1;
    assert_eq!(found[0].0, line);
    assert!(
        found[0].1.starts_with(
            "claim prometheus-data, which Deployment kubecost/prometheus-server mounts, leaves the render"
        )
    );
    // helm.sh/resource-policy: keep on the old claim: helm leaves it.
    let kept = text.replace(
        "metadata: {name: prometheus-data, namespace: kubecost}",
        "metadata: {name: prometheus-data, namespace: kubecost, annotations: {helm.sh/resource-policy: keep}}",
    );
    let v = diff_json(&write(&dir, "old-kept.yaml", &kept), &write(&dir, "dropped.yaml", &dropped), &[]);
    assert!(findings(&v, "diff/storage-changed").is_empty());
    // A StatefulSet scaled down keeps the claims its template makes.
    let sts = |replicas: u32| {
        format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: store\n  namespace: metering\nspec:\n  replicas: {replicas}\n  serviceName: store\n  selector: {{matchLabels: {{app: store}}}}\n  template:\n    metadata: {{labels: {{app: store}}}}\n    spec:\n      containers: [{{name: s, image: example.com/store:1, volumeMounts: [{{name: data, mountPath: /data}}]}}]\n  volumeClaimTemplates:\n    - metadata: {{name: data}}\n      spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}\n"
        )
    };
    let v = diff_json(&write(&dir, "two.yaml", &sts(2)), &write(&dir, "one.yaml", &sts(1)), &[]);
    assert!(findings(&v, "diff/storage-changed").is_empty(), "{v}");
    assert_eq!(findings(&v, "diff/replicas-reduced").len(), 1, "the store meters: it runs in namespace metering");
}

#[test]
fn a_job_taken_out_of_a_metering_prometheus_is_a_removed_monitor() {
    let old = fixture("tests/fixtures/corpus/kubecost-2.3.3-default.yaml");
    let text = std::fs::read_to_string(&old).unwrap();
    // Kubecost's bundled server without its kubecost job: cost-model's own series go unscraped.
    let job = "    - job_name: kubecost\n      honor_labels: true\n      scrape_interval: 1m\n      scrape_timeout: 60s\n      metrics_path: /metrics\n      scheme: http\n      dns_sd_configs:\n      - names:\n        - kubecost-cost-analyzer\n        type: 'A'\n        port: 9003\n";
    assert_eq!(text.matches(job).count(), 1);
    let dir = tempfile::tempdir().unwrap();
    let new = write(&dir, "new.yaml", &text.replace(job, ""));
    let v = diff_json(&old, &new, &[]);
    let removed = findings(&v, "diff/monitor-removed");
    assert_eq!(removed.len(), 1, "{removed:#?}");
    assert_eq!(removed[0]["object"]["kind"], "ConfigMap");
    assert_eq!(removed[0]["line"], 22798, "at the prometheus.yml key of the new render");
    assert_eq!(
        removed[0]["message"],
        "job kubecost is removed from the scrape configs of Deployment kubecost/kubecost-prometheus-server: it scraped metering Deployment kubecost/kubecost-cost-analyzer"
    );
    assert!(findings(&diff_json(&new, &old, &[]), "diff/monitor-removed").is_empty(), "an added job is no loss");
}

#[test]
fn kubecost_without_its_persistent_volume_leaves_its_data_behind() {
    let old = fixture("tests/fixtures/corpus/kubecost-2.3.3-default.yaml");
    let text = std::fs::read_to_string(&old).unwrap();
    // persistentVolume.enabled: false: the cost model's /var/configs on an emptyDir, and the
    // chart's claim gone from the render.
    let volume = "        - name: persistent-configs\n          persistentVolumeClaim:\n            claimName: kubecost-cost-analyzer\n";
    assert_eq!(text.matches(volume).count(), 1);
    let mut new = text.replace(volume, "        - name: persistent-configs\n          emptyDir: {}\n");
    // The claim's document, from its Source comment to the next separator.
    let start = new.find("# Source: cost-analyzer/templates/cost-analyzer-pvc-template.yaml").unwrap();
    let end = start + new[start..].find("---\n").unwrap() + "---\n".len();
    new.replace_range(start..end, "");
    assert!(!new.contains("kind: PersistentVolumeClaim\napiVersion: v1\nmetadata:\n  name: kubecost-cost-analyzer\n"));
    let dir = tempfile::tempdir().unwrap();
    let v = diff_json(&old, &write(&dir, "new.yaml", &new), &[]);
    let changed = findings(&v, "diff/storage-changed");
    assert_eq!(changed.len(), 1, "{changed:#?}");
    assert_eq!(changed[0]["severity"], "error");
    assert_eq!(
        changed[0]["message"],
        "Deployment kubecost/kubecost-cost-analyzer no longer mounts claim kubecost-cost-analyzer: it starts with none of the data recorded so far, and the upgrade deletes claim kubecost-cost-analyzer"
    );
}

#[test]
fn storage_changes_quote_the_sizes_and_durations_as_written() {
    // The prometheus chart's server, metering as the Prometheus OpenCost reads.
    let opencost = std::fs::read_to_string(fixture("tests/fixtures/corpus/opencost-default.yaml")).unwrap().replace(
        "http://prometheus-server.prometheus-system.svc.cluster.local:80",
        "http://prom-prometheus-server.monitoring.svc.cluster.local:80",
    );
    let old = opencost
        + "\n---\n"
        + &std::fs::read_to_string(fixture("tests/fixtures/corpus/prometheus-default.yaml")).unwrap();
    let (retention, claim) = ("--storage.tsdb.retention.time=15d", "      storage: \"8Gi\"\n");
    assert_eq!((old.matches(retention).count(), old.matches(claim).count()), (1, 1));
    let new = old
        .replace(retention, "--storage.tsdb.retention.time=36h")
        .replace(claim, "      storage: \"7500Mi\"\n")
        .replace(
            "- --web.enable-lifecycle",
            "- --web.enable-lifecycle\n            - --storage.tsdb.retention.size=3GB",
        );
    let old = old.replace(
        "- --web.enable-lifecycle",
        "- --web.enable-lifecycle\n            - --storage.tsdb.retention.size=6GB",
    );
    assert_eq!(new.matches("retention.size=3GB").count(), 1);
    let dir = tempfile::tempdir().unwrap();
    let v = diff_json(&write(&dir, "old.yaml", &old), &write(&dir, "new.yaml", &new), &[]);
    let mut messages: Vec<&str> =
        findings(&v, "diff/storage-changed").iter().map(|f| f["message"].as_str().unwrap()).collect();
    messages.sort_unstable();
    assert_eq!(
        messages,
        [
            "retention size goes down from 6GB to 3GB",
            "retention time goes down from 15d to 36h",
            "the TSDB volume shrinks from 8Gi to 7500Mi",
        ]
    );
}

#[test]
fn a_prometheus_scraping_less_often_loses_the_coverage_of_a_range_too_short() {
    // An OOM alert joins the restart counter's increase over 2m: scraped every 30s (the operator's
    // default), it holds four samples; every 2m, never two.
    let stack = std::fs::read_to_string(root().join("tests/fixtures/corpus/kubecost-2.3.3-default.yaml")).unwrap()
        + "\n---\n"
        + &std::fs::read_to_string(root().join("tests/fixtures/corpus/kps-default.yaml")).unwrap()
        + "\n---\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: kubecost-oom, namespace: \
           monitoring, labels: {release: kps}}\nspec:\n  groups:\n  - name: kubecost\n    rules:\n    - alert: \
           KubecostOOMKilled\n      expr: increase(kube_pod_container_status_restarts_total{namespace=\"kubecost\"}[2m]) \
           > 0 and on (namespace, pod, container) kube_pod_container_status_last_terminated_reason{reason=\"OOMKilled\", \
           namespace=\"kubecost\"} == 1\n";
    let slower = scraped_every(&stack, "2m");
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (write(&dir, "old.yaml", &stack), write(&dir, "new.yaml", &slower));
    let v = diff_json(&old, &new, &[]);
    let lost: Vec<&str> =
        findings(&v, "diff/coverage-lost").iter().map(|f| f["object"]["name"].as_str().unwrap()).collect();
    assert_eq!(lost, ["kubecost-cost-analyzer", "kubecost-forecasting", "kubecost-prometheus-server"]);
    assert!(findings(&v, "diff/alert-removed").is_empty());
    let oom = findings(&v, "alerts/oom-uncovered");
    let help = oom[0]["help"].as_str().unwrap();
    assert!(
        help.contains(
            "reads kube_pod_container_status_restarts_total over [2m], but the scrape jobs that collect it run every 2m"
        ),
        "{help}"
    );
}
