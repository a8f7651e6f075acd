//! Alert coverage on the real renders: who would be paged when a metering workload fails.

mod common;
use common::*;

fn cov(v: &serde_json::Value, name: &str, mode: &str) -> Vec<String> {
    let w = v["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["object"]["name"] == name)
        .unwrap_or_else(|| panic!("{name}"));
    w["coverage"][mode]
        .as_array()
        .unwrap_or_else(|| panic!("{name} has coverage"))
        .iter()
        .map(|i| i["alert"].as_str().unwrap().to_owned())
        .collect()
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn corpus(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures/corpus").join(name)).unwrap()
}

fn check_text(text: &str, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "input.yaml", text);
    let mut args = vec!["check", "--format", "json", f.as_str()];
    args.extend_from_slice(extra);
    json(&meterguard(&args))
}

const KUBECOST: [&str; 3] = ["kubecost-cost-analyzer", "kubecost-forecasting", "kubecost-prometheus-server"];

#[test]
fn stock_kubecost_is_uncovered_on_all_three_modes() {
    let (_, v) = check_json("tests/fixtures/corpus/kubecost-2.3.3-default.yaml");
    for name in KUBECOST {
        for mode in ["down", "crashloop", "oom"] {
            assert!(cov(&v, name, mode).is_empty(), "{name} {mode}");
        }
    }
    let prom: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["object"]["name"] == "kubecost-prometheus-server" && f["rule"].as_str().unwrap().ends_with("-uncovered")
        })
        .collect();
    assert_eq!(prom.len(), 3);
    assert!(prom.iter().all(|f| f["severity"] == "error"), "the metering Prometheus is critical");
    assert_eq!(prom[0]["line"], 24000, "points at the workload's name");
}

#[test]
fn kube_prometheus_stack_covers_crashloop_and_down_but_notifies_nobody() {
    let v = check_text(&(corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &corpus("kps-default.yaml")), &[]);
    for name in KUBECOST {
        assert!(cov(&v, name, "crashloop").contains(&"KubePodCrashLooping".to_owned()), "{name}");
        // Running and not ready: a crash-looping pod stays Running.
        assert!(cov(&v, name, "crashloop").contains(&"KubePodNotReady".to_owned()), "{name}");
        assert!(cov(&v, name, "down").contains(&"KubeDeploymentReplicasMismatch".to_owned()), "{name}");
        assert!(cov(&v, name, "oom").is_empty(), "kube-prometheus-stack ships no OOM alert");
    }
    let item = &v["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["object"]["name"] == "kubecost-cost-analyzer")
        .unwrap()["coverage"]["crashloop"][0];
    assert_eq!(item["evaluator"], "monitoring/kps-kube-prometheus-stack-prometheus");
    assert!(item["rule_object"].as_str().unwrap().starts_with("monitoring/kps-kube-prometheus-stack-"));
    // The Progressing condition never turns false for a crash, so KubeDeploymentRolloutStuck is no signal.
    assert!(!cov(&v, "kubecost-prometheus-server", "down").contains(&"KubeDeploymentRolloutStuck".to_owned()));
    let route = &findings(&v, "alerts/no-notification-route")[0];
    assert_eq!(route["object"]["kind"], "Secret");
    assert!(route["message"].as_str().unwrap().contains("kubecost-prometheus-server"));
    assert!(findings(&v, "alerts/rule-not-selected").is_empty());
    assert!(findings(&v, "alerts/job-mismatch").is_empty());
}

#[test]
fn an_alertmanagers_entry_names_a_service_and_reaches_the_alertmanagers_it_selects() {
    let stack = std::fs::read_to_string(root().join("tests/fixtures/alerts/kube-prometheus.yaml")).unwrap();
    // `alertmanager-main` selects the pods of the Alertmanager `main`, whose config routes
    // everything to receivers with no integrations.
    let v = check_text(&stack, &[]);
    assert!(cov(&v, "opencost", "down").contains(&"TargetDown".to_owned()));
    let route = findings(&v, "alerts/no-notification-route");
    assert_eq!(route.len(), 1);
    assert_eq!(
        (&route[0]["object"]["kind"], &route[0]["object"]["name"]),
        (&"Secret".into(), &"alertmanager-main".into())
    );
    assert!(route[0]["message"].as_str().unwrap().contains(" about opencost (crashloop, down) reach nobody"));
    // The OpenCost reads the operator's Prometheus through the Service `prometheus-k8s`.
    assert!(v["workloads"].as_array().unwrap().iter().any(|w| w["object"]["name"] == "k8s" && w["metering"] == true));
    // A receiver with a webhook is reached.
    let paged = stack.replacen(
        "    - \"name\": \"Default\"\n",
        "    - \"name\": \"Default\"\n      \"webhook_configs\":\n      - \"url\": \"http://pager.example/\"\n",
        1,
    );
    assert_ne!(paged, stack);
    assert!(findings(&check_text(&paged, &[]), "alerts/no-notification-route").is_empty());
    // A Service that selects no Alertmanager of the render (its pods lack the labels) leaves the
    // destination unknown, taken to notify.
    let unlabelled = stack.replacen(
        "      app.kubernetes.io/component: alert-router\n      app.kubernetes.io/instance: main\n",
        "",
        1,
    );
    assert_ne!(unlabelled, stack);
    assert!(findings(&check_text(&unlabelled, &[]), "alerts/no-notification-route").is_empty());
    // The Service the operator makes selects every Alertmanager of the namespace.
    let operated = unlabelled.replacen(
        "      name: alertmanager-main\n      namespace: monitoring\n      port: web",
        "      name: alertmanager-operated\n      namespace: monitoring\n      port: web",
        1,
    );
    assert_ne!(operated, unlabelled);
    assert_eq!(findings(&check_text(&operated, &[]), "alerts/no-notification-route").len(), 1);
}

#[test]
fn alertmanager_configs_route_their_namespace_alerts() {
    let stack = corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &corpus("kps-default.yaml");
    let team = std::fs::read_to_string(root().join("tests/fixtures/alerts/alertmanager-config.yaml")).unwrap();
    let routed = |extra: &str| check_text(&(stack.clone() + "\n---\n" + extra), &[]);
    // The Secret alone sends everything to `null`.
    assert_eq!(findings(&routed(""), "alerts/no-notification-route").len(), 1);
    assert!(findings(&routed(&team), "alerts/no-notification-route").is_empty());
    // Another namespace's route only matches that namespace's alerts...
    let elsewhere = team.replace("namespace: kubecost", "namespace: team-a");
    assert_eq!(findings(&routed(&elsewhere), "alerts/no-notification-route").len(), 1);
    // ...unless the Alertmanager adds no namespace matcher.
    let none = "  alertmanagerConfigMatcherStrategy:\n    type: None\n";
    let unmatched =
        stack.replacen("  alertmanagerConfigSelector: {}\n", &format!("  alertmanagerConfigSelector: {{}}\n{none}"), 1);
    assert_ne!(unmatched, stack);
    let v = check_text(&(unmatched.clone() + "\n---\n" + &elsewhere), &[]);
    assert!(findings(&v, "alerts/no-notification-route").is_empty());
    // A receiver with no integration notifies nobody; an Alertmanager without a selector takes none.
    let silent = team.replace("      slackConfigs:\n", "      unusedConfigs: []\n      slack:\n");
    assert_eq!(findings(&routed(&silent), "alerts/no-notification-route").len(), 1);
    let unselected = stack.replacen("  alertmanagerConfigSelector: {}\n", "", 1);
    assert_ne!(unselected, stack);
    let v = check_text(&(unselected + "\n---\n" + &team), &[]);
    assert_eq!(findings(&v, "alerts/no-notification-route").len(), 1);
    // spec.alertmanagerConfiguration puts an AlertmanagerConfig of its namespace in the Secret's place.
    let global = [
        "apiVersion: monitoring.coreos.com/v1alpha1",
        "kind: AlertmanagerConfig",
        "metadata: {name: global, namespace: monitoring}",
        "spec:",
        "  route: {receiver: pager}",
        "  receivers:",
        "    - name: pager",
        "      pagerdutyConfigs: [{routingKey: {name: pd, key: key}}]",
    ]
    .join("\n");
    let configured = stack.replacen(
        "  alertmanagerConfigSelector: {}\n",
        "  alertmanagerConfigSelector: {}\n  alertmanagerConfiguration:\n    name: global\n",
        1,
    );
    assert_ne!(configured, stack);
    assert!(
        findings(&check_text(&(configured.clone() + "\n---\n" + &global), &[]), "alerts/no-notification-route")
            .is_empty()
    );
    // Its receiver notifies nobody: nothing does, whatever the Secret says.
    let silent_global = global.replace("pagerdutyConfigs", "pagerduty");
    let v = check_text(&(configured + "\n---\n" + &silent_global), &[]);
    assert_eq!(findings(&v, "alerts/no-notification-route")[0]["object"]["kind"], "AlertmanagerConfig");
    // Alertmanagers from a Secret of extra configs: taken to notify while the Secret is not in the
    // input, or names a target that is not...
    let selector = "  probeSelector:\n    matchLabels:\n      release: \"kps\"\n";
    let extra = "  additionalAlertManagerConfigs:\n    name: extra-alertmanagers\n    key: alertmanagers.yaml\n";
    let with_extra = stack.replacen(selector, &(selector.to_owned() + extra), 1);
    assert_ne!(with_extra, stack);
    assert!(findings(&check_text(&with_extra, &[]), "alerts/no-notification-route").is_empty());
    let extra_secret = |target: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: extra-alertmanagers, namespace: monitoring}}\n\
             stringData:\n  alertmanagers.yaml: |\n    - static_configs:\n        - targets: ['{target}']\n"
        )
    };
    let elsewhere = with_extra.clone() + "\n---\n" + &extra_secret("alertmanager.example.com:9093");
    assert!(findings(&check_text(&elsewhere, &[]), "alerts/no-notification-route").is_empty());
    // ...and read when it names the Service of an Alertmanager of the input: here the stack's own,
    // whose config sends everything to `null`.
    let own = with_extra + "\n---\n" + &extra_secret("kps-kube-prometheus-stack-alertmanager.monitoring:9093");
    assert_eq!(findings(&check_text(&own, &[]), "alerts/no-notification-route").len(), 1);
    // Alerts go to every Alertmanager listed: one whose config is not in the input is taken to notify.
    let first = "        apiVersion: v2\n  image: \"quay.io/prometheus/prometheus";
    let second = "      - namespace: oncall\n        name: pager\n        port: web\n";
    let two = stack.replacen(first, &first.replacen("\n", &format!("\n{second}"), 1), 1);
    assert_ne!(two, stack);
    assert!(findings(&check_text(&two, &[]), "alerts/no-notification-route").is_empty());
    // The route's own matchers still hold: kube-prometheus-stack's workload alerts are warnings.
    let critical = team.replace("warning|critical", "critical");
    assert_eq!(findings(&routed(&critical), "alerts/no-notification-route").len(), 1);
}

#[test]
fn metrics_a_monitor_drops_cover_nothing() {
    let stack = corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &corpus("kps-default.yaml");
    let endpoint = "  endpoints:\n    - port: http\n      honorLabels: true\n";
    assert_eq!(stack.matches(endpoint).count(), 1, "kube-state-metrics' ServiceMonitor");
    let keep = |regex: &str| {
        let relabel = format!(
            "      metricRelabelings:\n        - sourceLabels: [__name__]\n          action: keep\n          regex: '{regex}'\n"
        );
        stack.replacen(endpoint, &(endpoint.to_owned() + &relabel), 1)
    };
    // kube-state-metrics scraped for pod phases and owners only: KubePodCrashLooping reads the
    // waiting reason, which is never stored.
    let v = check_text(&keep("kube_pod_status_phase|kube_pod_owner|kube_pod_status_ready"), &[]);
    let crashloop = cov(&v, "kubecost-cost-analyzer", "crashloop");
    assert!(!crashloop.contains(&"KubePodCrashLooping".to_owned()), "{crashloop:?}");
    assert!(crashloop.contains(&"KubePodNotReady".to_owned()), "{crashloop:?}");
    // Nothing left for crash loops: the finding says which alert the drop silences.
    let v = check_text(&keep("kube_node_.*"), &[]);
    let uncovered = findings(&v, "alerts/crashloop-uncovered");
    let help =
        uncovered.iter().find(|f| f["object"]["name"] == "kubecost-cost-analyzer").unwrap()["help"].as_str().unwrap();
    assert!(help.starts_with("nearest: KubePodCrashLooping ("), "{help}");
    assert!(
        help.contains("reads kube_pod_container_status_waiting_reason, but the scrape jobs that collect it drop"),
        "{help}"
    );
    // Dropping something else changes nothing.
    let v = check_text(&keep("kube_.*"), &[]);
    assert!(cov(&v, "kubecost-cost-analyzer", "crashloop").contains(&"KubePodCrashLooping".to_owned()));
}

#[test]
fn a_job_of_dns_or_static_names_scrapes_the_services_workloads() {
    // Kubecost's bundled Prometheus scrapes cost-model under job "kubecost" through the DNS name
    // of its Service; an alert on that job's `up` reports cost-analyzer down, and nothing else.
    let stack = corpus("kubecost-2.3.3-default.yaml");
    let empty = "  alerting_rules.yml: |\n    {}\n";
    assert_eq!(stack.matches(empty).count(), 1);
    let rule = "  alerting_rules.yml: |\n    groups:\n    - name: kubecost\n      rules:\n      - alert: KubecostDown\n\
                \x20       expr: up{job=\"kubecost\"} == 0\n";
    let v = check_text(&stack.replacen(empty, rule, 1), &[]);
    assert_eq!(cov(&v, "kubecost-cost-analyzer", "down"), ["KubecostDown"]);
    assert!(cov(&v, "kubecost-forecasting", "down").is_empty());
    // A static target names the Service the same way.
    let static_target = stack.replacen(
        "      dns_sd_configs:\n      - names:\n        - kubecost-cost-analyzer\n        type: 'A'\n        port: 9003\n",
        "      static_configs:\n      - targets: ['kubecost-cost-analyzer.kubecost.svc.cluster.local:9003']\n",
        1,
    );
    assert_ne!(static_target, stack);
    let v = check_text(&static_target.replacen(empty, rule, 1), &[]);
    assert_eq!(cov(&v, "kubecost-cost-analyzer", "down"), ["KubecostDown"]);
}

/// OpenCost reading the prometheus chart's server, whose alerting_rules.yml pages on OpenCost's
/// restarts: OpenCost's render, and the chart's.
fn opencost_on_prometheus_chart() -> (String, String) {
    let opencost = corpus("opencost-default.yaml").replace(
        "http://prometheus-server.prometheus-system.svc.cluster.local:80",
        "http://prom-prometheus-server.monitoring.svc.cluster.local:80",
    );
    let empty = "  alerting_rules.yml: |\n    {}\n";
    let rule = "  alerting_rules.yml: |\n    groups:\n    - name: opencost\n      rules:\n      - alert: OpenCostRestarting\n\
                \x20       expr: increase(kube_pod_container_status_restarts_total{namespace=\"opencost\"}[10m]) > 2\n";
    let prometheus = corpus("prometheus-default.yaml");
    assert_eq!(prometheus.matches(empty).count(), 1);
    (opencost, prometheus.replacen(empty, rule, 1))
}

#[test]
fn a_raw_prometheus_scrapes_what_its_discovery_and_relabelings_keep() {
    let (opencost, with_rule) = opencost_on_prometheus_chart();
    // kube-state-metrics' Service carries prometheus.io/scrape, which kubernetes-service-endpoints keeps.
    let v = check_text(&(opencost.clone() + "\n---\n" + &with_rule), &[]);
    assert_eq!(cov(&v, "opencost", "crashloop"), ["OpenCostRestarting"]);
    // Discovery limited to other namespaces finds nothing of monitoring's kube-state-metrics.
    let sd = "    - job_name: kubernetes-service-endpoints\n      honor_labels: true\n      kubernetes_sd_configs:\n      - role: endpointslice\n";
    assert_eq!(with_rule.matches(sd).count(), 1);
    let elsewhere = with_rule.replacen(sd, &format!("{sd}        namespaces: {{names: [kube-system, opencost]}}\n"), 1);
    let v = check_text(&(opencost.clone() + "\n---\n" + &elsewhere), &[]);
    assert!(cov(&v, "opencost", "crashloop").is_empty());
    let own = with_rule.replacen(sd, &format!("{sd}        namespaces: {{own_namespace: true}}\n"), 1);
    let v = check_text(&(opencost.clone() + "\n---\n" + &own), &[]);
    assert_eq!(cov(&v, "opencost", "crashloop"), ["OpenCostRestarting"]);
    // Without it no job keeps kube-state-metrics: the restarts are never scraped.
    let annotation = "  annotations:\n    prometheus.io/scrape: 'true'\n";
    assert_eq!(with_rule.matches(annotation).count(), 1);
    let unscraped = with_rule.replacen(annotation, "", 1);
    let v = check_text(&(opencost + "\n---\n" + &unscraped), &[]);
    assert!(cov(&v, "opencost", "crashloop").is_empty());
    let uncovered = findings(&v, "alerts/crashloop-uncovered");
    let help = uncovered.iter().find(|f| f["object"]["name"] == "opencost").unwrap()["help"].as_str().unwrap();
    assert!(
        help.starts_with(
            "nearest: OpenCostRestarting (monitoring/prom-prometheus-server) reads \
             kube_pod_container_status_restarts_total, but no scrape job it can read collects it"
        ),
        "{help}"
    );
}

#[test]
fn a_raw_prometheus_alerting_a_static_target_reaches_the_operator_alertmanager_behind_it() {
    // OpenCost's crash loop is covered by the prometheus chart's server, whose own Alertmanager
    // (a ConfigMap in its namespace) routes to a receiver with no integrations.
    let (opencost, prometheus) = opencost_on_prometheus_chart();
    let stack = opencost + "\n---\n" + &prometheus;
    let v = check_text(&stack, &[]);
    assert_eq!(cov(&v, "opencost", "crashloop"), ["OpenCostRestarting"]);
    assert_eq!(findings(&v, "alerts/no-notification-route").len(), 1);
    // Sent instead to kube-prometheus's Alertmanager by the DNS name of its Service, whose config
    // pages through a webhook.
    let kube_prometheus = std::fs::read_to_string(root().join("tests/fixtures/alerts/kube-prometheus.yaml")).unwrap();
    let alertmanager: Vec<&str> = kube_prometheus
        .split("\n---\n")
        .filter(|d| d.contains("kind: Alertmanager\n") || d.contains("\n  name: alertmanager-main\n"))
        .collect();
    assert_eq!(alertmanager.len(), 3, "the Alertmanager, its config Secret and its Service");
    let paging = alertmanager.join("\n---\n").replacen(
        "    - \"name\": \"Default\"\n",
        "    - \"name\": \"Default\"\n      \"webhook_configs\":\n      - \"url\": \"http://pager.example/\"\n",
        1,
    );
    // The chart's entry, discovery and relabelings, up to the next key of the ConfigMap.
    let start = stack.find("      - kubernetes_sd_configs:\n          - role: pod\n").unwrap();
    let end = start + stack[start..].find("  recording_rules.yml:").unwrap();
    let to_static = |target: &str| {
        let entry = format!("      - static_configs:\n        - targets: ['{target}']\n");
        format!("{}{entry}{}", &stack[..start], &stack[end..])
    };
    let sent = to_static("alertmanager-main.monitoring.svc:9093") + "\n---\n" + &paging;
    let v = check_text(&sent, &[]);
    assert_eq!(cov(&v, "opencost", "crashloop"), ["OpenCostRestarting"]);
    assert!(findings(&v, "alerts/no-notification-route").is_empty());
    // A target no Service of the render answers is outside it, and taken to notify: the chart's
    // own Alertmanager, which routes nowhere, is not the one alerted.
    let v = check_text(&(to_static("alertmanager.example.com:9093") + "\n---\n" + &paging), &[]);
    assert!(findings(&v, "alerts/no-notification-route").is_empty());
    // Nor is it when an entry cannot be judged (DNS discovery): that Alertmanager is the guess.
    let dns = format!(
        "{}      - dns_sd_configs:\n        - names: [alertmanager.example.com]\n{}",
        &stack[..start],
        &stack[end..]
    );
    let v = check_text(&dns, &[]);
    assert_eq!(findings(&v, "alerts/no-notification-route").len(), 1);
}

#[test]
fn a_raw_prometheus_alerts_the_alertmanagers_its_discovery_keeps() {
    // The prometheus chart's server discovers Alertmanager pods labelled as its subchart's, in its
    // namespace; that Alertmanager's ConfigMap routes to a receiver with no integrations.
    let (opencost, prometheus) = opencost_on_prometheus_chart();
    // A second Alertmanager, in namespace `alerting`, whose receiver pages through a webhook.
    let pager: String = prometheus
        .split("\n---\n")
        .filter(|d| d.starts_with("# Source: prometheus/charts/alertmanager/templates/"))
        .filter(|d| d.contains("\nkind: ConfigMap\n") || d.contains("\nkind: StatefulSet\n"))
        .collect::<Vec<_>>()
        .join("\n---\n")
        .replace("prom-alertmanager", "pager-alertmanager")
        .replace("app.kubernetes.io/instance: prom", "app.kubernetes.io/instance: pager")
        .replace("namespace: monitoring", "namespace: alerting")
        .replace(
            "    - name: default-receiver\n",
            "    - name: default-receiver\n      webhook_configs: [{url: 'http://pager.example/'}]\n",
        );
    assert_eq!(pager.matches("webhook_configs").count(), 1);
    assert_eq!(pager.matches("instance: pager").count(), 4);
    let stack = [opencost, prometheus, pager].join("\n---\n");
    let routes = |text: &str| {
        let v = check_text(text, &[]);
        assert_eq!(cov(&v, "opencost", "crashloop"), ["OpenCostRestarting"]);
        findings(&v, "alerts/no-notification-route").len()
    };
    assert_eq!(routes(&stack), 1);
    // Relabelings that keep the other one reach it, in its own namespace.
    let keeps =
        |namespace: &str, instance: &str| {
            let namespace_keep = "          regex: monitoring\n          action: keep\n";
            let instance_keep = "          regex: prom\n          action: keep\n";
            assert_eq!(stack.matches(namespace_keep).count() + stack.matches(instance_keep).count(), 2);
            stack
                .replacen(namespace_keep, &format!("          regex: {namespace}\n          action: keep\n"), 1)
                .replacen(instance_keep, &format!("          regex: {instance}\n          action: keep\n"), 1)
        };
    assert_eq!(routes(&keeps("alerting", "pager")), 0);
    assert_eq!(routes(&keeps("alerting|monitoring", "pager|prom")), 0, "one of the two pages");
    assert_eq!(routes(&keeps("monitoring", "pager|prom")), 1);
    // Relabelings that keep neither send the alerts to an Alertmanager outside the input, which is
    // taken to notify: the chart's own, beside the Prometheus, is not the one alerted.
    assert_eq!(routes(&keeps("alerting", "prom")), 0);
}

#[test]
fn a_discovered_alertmanager_reads_its_config_through_secret_volumes_and_items() {
    // The prometheus chart's Alertmanager, its config moved to a Secret (as webhook URLs and keys
    // often are), or renamed by the volume's `items`.
    let (opencost, prometheus) = opencost_on_prometheus_chart();
    let stack = opencost + "\n---\n" + &prometheus;
    let volume = "          configMap:\n            name: prom-alertmanager\n";
    let configmap = "kind: ConfigMap\nmetadata:\n  name: prom-alertmanager\n";
    let receiver = "    - name: default-receiver\n";
    let webhook = "    - name: default-receiver\n      webhook_configs: [{url: 'http://pager.example/'}]\n";
    for needle in [volume, configmap, receiver] {
        assert_eq!(stack.matches(needle).count(), 1, "{needle}");
    }
    let routes = |text: &str| {
        let v = check_text(text, &[]);
        assert_eq!(cov(&v, "opencost", "crashloop"), ["OpenCostRestarting"]);
        findings(&v, "alerts/no-notification-route").len()
    };
    let in_secret = stack
        .replacen(volume, "          secret:\n            secretName: prom-alertmanager\n", 1)
        .replacen(configmap, "kind: Secret\nmetadata:\n  name: prom-alertmanager\n", 1)
        .replacen(
            "data:\n  alertmanager.yml: |\n    global: {}\n",
            "stringData:\n  alertmanager.yml: |\n    global: {}\n",
            1,
        );
    assert_eq!(in_secret.matches("stringData:\n  alertmanager.yml").count(), 1);
    assert_eq!(routes(&in_secret), 1, "a receiver with no integrations, read from the Secret");
    assert_eq!(routes(&in_secret.replacen(receiver, webhook, 1)), 0);
    // `items` puts the key `pager.yml` at the path the Alertmanager reads; its `alertmanager.yml`
    // is not in the volume.
    let pager_key = "  pager.yml: |\n    receivers:\n    - name: pager\n      webhook_configs: [{url: 'http://pager.example/'}]\n    \
                     route: {receiver: pager}\n";
    let renamed = stack
        .replacen(volume, &format!("{volume}            items: [{{key: pager.yml, path: alertmanager.yml}}]\n"), 1)
        .replacen(
            "data:\n  alertmanager.yml: |\n    global: {}\n",
            &format!("data:\n{pager_key}  alertmanager.yml: |\n    global: {{}}\n"),
            1,
        );
    assert_eq!(renamed.matches("pager.yml").count(), 2);
    assert_eq!(routes(&renamed), 0);
    // Nothing at the path: the Alertmanager's config is not in the input, and taken to notify.
    assert_eq!(routes(&renamed.replace("path: alertmanager.yml", "path: pager.yml")), 0);
}

#[test]
fn a_prometheus_only_it_scrapes_is_reported_down_by_absent_up_not_by_up_0() {
    // Kubecost reads kube-prometheus-stack's Prometheus, which scrapes itself; a ThanosRuler
    // watches it through Thanos Query. Down, it records no `up` of 0: the series goes stale.
    let kubecost = corpus("kubecost-2.3.3-default.yaml").replace(
        "prometheus-server-endpoint: http://kubecost-prometheus-server.kubecost",
        "prometheus-server-endpoint: http://kps-kube-prometheus-stack-prometheus.monitoring.svc:9090",
    );
    let ruler = |expr: &str| {
        [
            "apiVersion: monitoring.coreos.com/v1",
            "kind: ThanosRuler",
            "metadata: {name: ruler, namespace: monitoring}",
            "spec: {ruleSelector: {matchLabels: {role: thanos-rules}}, alertmanagersUrl: ['http://am:9093']}",
            "---",
            "apiVersion: monitoring.coreos.com/v1",
            "kind: PrometheusRule",
            "metadata: {name: prometheus-down, namespace: monitoring, labels: {role: thanos-rules}}",
            "spec:",
            "  groups:",
            "  - name: p",
            "    rules:",
            "    - alert: PrometheusDown",
            &format!("      expr: '{expr}'"),
        ]
        .join("\n")
    };
    let prometheus = "kps-kube-prometheus-stack-prometheus";
    let stack = kubecost + "\n---\n" + &corpus("kps-default.yaml") + "\n---\n";
    let v = check_text(&(stack.clone() + &ruler(&format!("up{{job=\"{prometheus}\"}} == 0"))), &[]);
    assert!(!cov(&v, prometheus, "down").contains(&"PrometheusDown".to_owned()));
    let v = check_text(&(stack + &ruler(&format!("absent(up{{job=\"{prometheus}\"}})"))), &[]);
    assert!(cov(&v, prometheus, "down").contains(&"PrometheusDown".to_owned()));
}

#[test]
fn rules_without_the_release_label_are_not_selected() {
    let kps: Vec<String> = corpus("kps-default.yaml")
        .split("\n---\n")
        .map(|doc| {
            if doc.contains("kind: PrometheusRule") {
                doc.lines()
                    .filter(|l| l.trim() != "release: kps" && l.trim() != "release: \"kps\"")
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                doc.to_owned()
            }
        })
        .collect();
    let v = check_text(&(corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &kps.join("\n---\n")), &[]);
    let unselected = findings(&v, "alerts/rule-not-selected");
    assert!(unselected.len() > 20, "{}", unselected.len());
    assert!(unselected[0]["message"].as_str().unwrap().contains("lacks release: kps"));
    assert!(cov(&v, "kubecost-cost-analyzer", "crashloop").is_empty());
}

#[test]
fn a_thanos_ruler_loads_the_rules_it_selects() {
    let thanos = std::fs::read_to_string(root().join("tests/fixtures/alerts/thanos-ruler.yaml")).unwrap();
    let text = corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &corpus("kps-default.yaml") + "\n---\n" + &thanos;
    let v = check_text(&text, &[]);
    // The team's rule is loaded by the Thanos Ruler, not left unselected; the other is selected by neither.
    let unselected = findings(&v, "alerts/rule-not-selected");
    assert_eq!(unselected.len(), 1, "{unselected:?}");
    assert_eq!(unselected[0]["object"]["name"], "finops-orphans");
    let message = unselected[0]["message"].as_str().unwrap();
    assert!(
        message.contains("no Prometheus or ThanosRuler") && message.contains("lacks release: kps, role: thanos-rules")
    );
    let oom = &v["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["object"]["name"] == "kubecost-cost-analyzer")
        .unwrap()["coverage"]["oom"];
    assert_eq!(oom[0]["alert"], "KubecostCostAnalyzerOOMKilled");
    assert_eq!(oom[0]["evaluator"], "ThanosRuler monitoring/kps-thanos-ruler");
    // It names no Alertmanager: its alerts reach nobody, and the finding points at it.
    let routes = findings(&v, "alerts/no-notification-route");
    let ruler = routes.iter().find(|f| f["object"]["kind"] == "ThanosRuler").expect("an unrouted ThanosRuler");
    assert!(ruler["message"].as_str().unwrap().contains("neither spec.alertmanagersUrl nor spec.alertmanagersConfig"));
    assert!(
        ruler["message"].as_str().unwrap().contains("about kubecost-cost-analyzer (down, oom) reach nobody"),
        "{ruler}"
    );
    // Its OOM alert joins on the pod a restart of cost-analyzer pods: it says nothing of the others.
    assert!(!ruler["message"].as_str().unwrap().contains("kubecost-forecasting"));
    assert!(cov(&v, "kubecost-forecasting", "oom").is_empty());
    let forecasting = findings(&v, "alerts/oom-uncovered");
    let help =
        forecasting.iter().find(|f| f["object"]["name"] == "kubecost-forecasting").unwrap()["help"].as_str().unwrap();
    assert!(
        help.starts_with(
            "nearest: KubecostCostAnalyzerOOMKilled (kubecost/finops-oom) reads \
             kube_pod_container_status_last_terminated_reason, but it is matched with \
             kube_pod_container_status_restarts_total{pod=~\"kubecost-cost-analyzer-.*\"}, which excludes"
        ),
        "{help}"
    );
    // absent() of the workload's scrape target reports it down.
    assert!(cov(&v, "kubecost-cost-analyzer", "down").contains(&"KubecostCostAnalyzerAbsent".to_owned()));
    // It fires on restarts that were OOM kills: not on a crash loop of any cause.
    assert!(!ruler["message"].as_str().unwrap().contains("(crashloop)"));
    // An Alertmanager URL naming a Service of the render is followed to its config: the chart's
    // sends every alert to `null`. One outside the render is taken to notify.
    let routed = |url: &str| {
        let routed = text.replacen(
            "      role: thanos-rules\n  ruleNamespaceSelector: {}\n",
            &format!("      role: thanos-rules\n  ruleNamespaceSelector: {{}}\n  alertmanagersUrl:\n    - {url}\n"),
            1,
        );
        assert_ne!(routed, text);
        let v = check_text(&routed, &[]);
        assert!(cov(&v, "kubecost-cost-analyzer", "oom").contains(&"KubecostCostAnalyzerOOMKilled".to_owned()));
        findings(&v, "alerts/no-notification-route")
            .iter()
            .map(|f| f["message"].as_str().unwrap().to_owned())
            .filter(|m| m.contains("ThanosRuler"))
            .collect::<Vec<_>>()
    };
    for kps in [
        "http://alertmanager-operated.monitoring:9093",
        "http://kps-kube-prometheus-stack-alertmanager.monitoring.svc:9093",
        "dnssrv+http://_http-web._tcp.alertmanager-operated.monitoring.svc.cluster.local",
    ] {
        let found = routed(kps);
        assert_eq!(found.len(), 1, "{kps}: {found:?}");
        assert!(
            found[0].contains("by ThanosRuler monitoring/kps-thanos-ruler about kubecost-cost-analyzer"),
            "{found:?}"
        );
    }
    assert!(routed("http://alertmanager.example.com:9093").is_empty());
    // alertmanagersConfig, a Secret key in Thanos's format, comes before the URLs.
    let configured = |addresses: &str| {
        let config = format!("alertmanagers:\n- api_version: v2\n  static_configs: [{addresses}]\n");
        let secret = format!(
            "\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: ruler-alerting, namespace: monitoring}}\n\
             stringData:\n  alerting.yaml: |\n{}",
            config.lines().map(|l| format!("    {l}\n")).collect::<String>()
        );
        let at = "      role: thanos-rules\n  ruleNamespaceSelector: {}\n";
        let text =
            text.replacen(at, &format!("{at}  alertmanagersConfig: {{name: ruler-alerting, key: alerting.yaml}}\n"), 1);
        assert!(text.contains("alertmanagersConfig"));
        let text = text + &secret;
        let v = check_text(&text, &[]);
        let routes = findings(&v, "alerts/no-notification-route");
        routes.iter().filter(|f| f["message"].as_str().unwrap().contains("ThanosRuler")).count()
    };
    assert_eq!(configured("'dnssrv+_http-web._tcp.alertmanager-operated.monitoring.svc'"), 1);
    assert_eq!(configured("'alertmanager.example.com:9093'"), 0);
}

#[test]
fn scrape_configs_probes_and_secret_scrape_configs_are_jobs() {
    let extra = std::fs::read_to_string(root().join("tests/fixtures/alerts/scrape-configs.yaml")).unwrap();
    let kps = corpus("kps-default.yaml");
    let v = check_text(&(kps.clone() + "\n---\n" + &extra), &[]);
    let mismatches = findings(&v, "alerts/job-mismatch");
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    let message = mismatches[0]["message"].as_str().unwrap();
    assert!(message.starts_with("alert KubecostDown "), "{message}");
    assert!(mismatches[0]["help"].as_str().unwrap().contains("opencost"));
    // A job named like the wanted one is all the help names.
    let v =
        check_text(&(kps.clone() + "\n---\n" + &extra.replace(r#"job="kubecost""#, r#"job="opencost-exporter""#)), &[]);
    let help = findings(&v, "alerts/job-mismatch")[0]["help"].as_str().unwrap().to_owned();
    assert!(help.ends_with("scrape jobs, these are named like it: opencost"), "{help}");
    // Scrape configs in a Secret that is not in the input may hold any job: none is reported.
    let selector = "  probeSelector:\n    matchLabels:\n      release: \"kps\"\n";
    let reference = "  additionalScrapeConfigs:\n    name: kps-kube-prometheus-stack-prometheus-scrape-confg\n    key: \
                     additional-scrape-configs.yaml\n";
    let with_reference = kps.replacen(selector, &(selector.to_owned() + reference), 1);
    assert_ne!(with_reference, kps);
    let v = check_text(&(with_reference.clone() + "\n---\n" + &extra), &[]);
    assert!(findings(&v, "alerts/job-mismatch").is_empty());
    // With the Secret in the input, its jobs are read: Kubecost's documented job finds the
    // cost-analyzer Service, and the Prometheus's jobs are known again.
    let secret = std::fs::read_to_string(root().join("tests/fixtures/alerts/additional-scrape-configs.yaml")).unwrap();
    let stack = [corpus("kubecost-2.3.3-default.yaml"), with_reference, secret.clone(), extra.clone()].join("\n---\n");
    let v = check_text(&stack, &[]);
    assert!(findings(&v, "alerts/job-mismatch").is_empty());
    // A job name read from a Secret is part of a Secret value: never shown.
    let elsewhere = extra.replace("job=\"opencost\"", "job=\"kubecost-exporter\"");
    let w = check_text(&stack.replace(&extra, &elsewhere), &[]);
    let mismatches = findings(&w, "alerts/job-mismatch");
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    let help = mismatches[0]["help"].as_str().unwrap();
    assert!(help.contains("1 more from additionalScrapeConfigs, not named"), "{help}");
    assert!(!help.replace("kubecost-exporter", "").contains("kubecost"), "{help}");
    let down = cov(&v, "kubecost-cost-analyzer", "down");
    assert!(down.contains(&"KubecostDown".to_owned()), "{down:?}");
    assert!(!down.iter().any(|a| a == "KubeAPIDown" || a == "OpenCostDown"), "{down:?}");
    assert!(!cov(&v, "kubecost-prometheus-server", "down").contains(&"KubecostDown".to_owned()));
    // Without the stack's reference the Secret is just a Secret.
    let stack = [corpus("kubecost-2.3.3-default.yaml"), kps, secret, extra].join("\n---\n");
    let v = check_text(&stack, &[]);
    assert_eq!(findings(&v, "alerts/job-mismatch").len(), 1);
    assert!(!cov(&v, "kubecost-cost-analyzer", "down").contains(&"KubecostDown".to_owned()));
}

#[test]
fn alerts_on_recorded_series_cover_through_the_recording_rule() {
    let alert = std::fs::read_to_string(root().join("tests/fixtures/alerts/recorded-memory.yaml")).unwrap();
    let stack = corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &corpus("kps-default.yaml");
    let v = check_text(&(stack.clone() + "\n---\n" + &alert), &[]);
    // kube-prometheus-stack records node_namespace_pod_container:container_memory_working_set_bytes
    // from cAdvisor's working set, per container: the alert reads memory near the limit.
    for name in KUBECOST {
        assert_eq!(cov(&v, name, "oom"), ["KubecostMemoryNearLimit"], "{name}");
    }
    // Another namespace's alert covers nothing here.
    let v =
        check_text(&(stack.clone() + "\n---\n" + &alert.replace("namespace=\"kubecost\"", "namespace=\"other\"")), &[]);
    assert!(cov(&v, "kubecost-cost-analyzer", "oom").is_empty());
    // Without the recording rule the series is unknown, and covers nothing.
    let unrecorded = stack.replace(
        "record: node_namespace_pod_container:container_memory_working_set_bytes",
        "record: something_else:container_memory_working_set_bytes",
    );
    assert_ne!(unrecorded, stack);
    let v = check_text(&(unrecorded + "\n---\n" + &alert), &[]);
    assert!(cov(&v, "kubecost-cost-analyzer", "oom").is_empty());
    // Loaded by another Prometheus, which records no such series (its scrape jobs are unknown, so
    // only the recorded series decides), the alert covers nothing.
    let elsewhere = alert.replace("release: kps", "release: other");
    let other = "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata:\n  name: other\n  namespace: monitoring\n\
                 spec:\n  ruleSelector:\n    matchLabels:\n      release: other\n  additionalScrapeConfigs:\n    \
                 name: other-scrape\n    key: scrape.yaml\n";
    let v = check_text(&[stack.as_str(), &elsewhere, other].join("\n---\n"), &[]);
    assert!(findings(&v, "alerts/rule-not-selected").is_empty());
    assert!(cov(&v, "kubecost-cost-analyzer", "oom").is_empty());
    // A ThanosRuler that loads it queries through Thanos Query, which reads what kps records.
    let ruler = "apiVersion: monitoring.coreos.com/v1\nkind: ThanosRuler\nmetadata:\n  name: ruler\n  namespace: monitoring\n\
                 spec:\n  ruleSelector:\n    matchLabels:\n      release: other\n  alertmanagersUrl: [\"http://am:9093\"]\n";
    let v = check_text(&[stack.as_str(), &elsewhere, other, ruler].join("\n---\n"), &[]);
    assert_eq!(cov(&v, "kubecost-cost-analyzer", "oom"), ["KubecostMemoryNearLimit"]);
    // kube-prometheus-stack's capacity alerts read pod phases through per-namespace sums: they
    // say nothing of one pod being down.
    let v = check_text(&stack, &[]);
    assert!(!cov(&v, "kubecost-cost-analyzer", "down").iter().any(|a| a.ends_with("Overcommit")));
}

#[test]
fn narrowed_app_namespaces_exclude_kubecost() {
    let kps = corpus("kps-default.yaml").replace(r#"namespace=~".*""#, r#"namespace=~"kube-system|monitoring""#);
    let v = check_text(&(corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &kps), &[]);
    for name in KUBECOST {
        assert!(cov(&v, name, "crashloop").is_empty(), "{name}");
    }
    let uncovered = findings(&v, "alerts/crashloop-uncovered");
    assert_eq!(uncovered.len(), 3);
    // The alert that nearly covers it, and why not.
    let help = uncovered[0]["help"].as_str().unwrap();
    assert!(
        help.starts_with(
            "nearest: KubePodCrashLooping (monitoring/kps-kube-prometheus-stack-kubernetes-apps) reads \
             kube_pod_container_status_waiting_reason, but its matcher namespace=~\"kube-system|monitoring\" excludes"
        ),
        "{help}"
    );
    // A rule ahead of it that needs a whole scrape job added comes from farther: not the nearest.
    let farther = "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: a, namespace: \
                   monitoring, labels: {release: kps}}\nspec:\n  groups:\n  - name: a\n    rules:\n    - alert: \
                   Restarts\n      expr: rate(kube_pod_container_status_restarts_total{job=\"node-exporter\"}[5m]) > 0\n";
    let v = check_text(&[farther, &corpus("kubecost-2.3.3-default.yaml"), &kps].join("\n---\n"), &[]);
    let uncovered = findings(&v, "alerts/crashloop-uncovered");
    assert!(uncovered[0]["help"].as_str().unwrap().starts_with("nearest: KubePodCrashLooping"), "{uncovered:?}");
    let v = check_text(
        &[farther, &corpus("kubecost-2.3.3-default.yaml"), &corpus("kps-default.yaml")].join("\n---\n"),
        &[],
    );
    assert!(findings(&v, "alerts/crashloop-uncovered").is_empty());
    // With every namespace admitted there is nothing to explain.
    let v = check_text(&(corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &corpus("kps-default.yaml")), &[]);
    assert!(findings(&v, "alerts/oom-uncovered").iter().all(|f| !f["help"].as_str().unwrap().starts_with("nearest")));
}

#[test]
fn or_matchers_select_either_group() {
    // PromQL 3: `{a="x" or b="y"}` selects what either group selects.
    let narrowed = |alt: &str| {
        let kps = corpus("kps-default.yaml")
            .replace(r#"namespace=~".*""#, &format!(r#"namespace="kube-system" or namespace="{alt}""#));
        check_text(&(corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &kps), &[])
    };
    let v = narrowed("monitoring");
    for name in KUBECOST {
        assert!(cov(&v, name, "crashloop").is_empty(), "{name}");
    }
    let v = narrowed("kubecost");
    for name in KUBECOST {
        assert!(cov(&v, name, "crashloop").contains(&"KubePodCrashLooping".to_owned()), "{name}");
        // Running and not ready: a crash-looping pod stays Running.
        assert!(cov(&v, name, "crashloop").contains(&"KubePodNotReady".to_owned()), "{name}");
    }
}

#[test]
fn a_job_the_evaluator_never_scrapes_is_reported_where_the_expression_needs_it() {
    let rules = std::fs::read_to_string(root().join("tests/fixtures/alerts/job-rules.yaml")).unwrap();
    let text = corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &corpus("kps-default.yaml") + "\n---\n" + &rules;
    let v = check_text(&text, &[]);
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1;
    let got: Vec<(u64, String)> = findings(&v, "alerts/job-mismatch")
        .iter()
        .map(|f| (f["line"].as_u64().unwrap(), f["message"].as_str().unwrap().to_owned()))
        .collect();
    let evaluator = "monitoring/kps-kube-prometheus-stack-prometheus";
    assert_eq!(
        got,
        vec![
            (
                line_of("kubecost-cost-model"),
                format!(
                    "alert CostModelDown on {evaluator} selects job kubecost-cost-model, which {evaluator} never scrapes"
                )
            ),
            (
                // A block scalar: the first line of the expression's text.
                line_of("alert: RestartsDuringRollout") + 2,
                format!(
                    "alert RestartsDuringRollout on {evaluator} selects job ksm-v1, which {evaluator} never scrapes"
                )
            ),
        ],
        "an `or` with one live side, `absent()` and the right side of `unless` are no mismatch"
    );
    assert!(findings(&v, "alerts/job-mismatch")[0]["help"].as_str().unwrap().contains("kube-state-metrics"));
}

#[test]
fn the_incident_teams_alerts_are_judged() {
    let input = corpus("kubecost-2.3.3-default.yaml")
        + "\n---\n"
        + &std::fs::read_to_string(root().join("tests/fixtures/alerts/lepton-alerts.yaml")).unwrap();
    let cfg = root().join("tests/fixtures/alerts/external.meterguard.yaml");
    let v = check_text(&input, &["--config", &cfg.to_string_lossy()]);
    // A crash-looping pod stays Running: the phase alert never sees a crash loop.
    for name in KUBECOST {
        assert!(!cov(&v, name, "crashloop").contains(&"SystemPodsNotReady".to_owned()), "{name}");
        assert!(cov(&v, name, "down").contains(&"SystemPodsNotReady".to_owned()), "{name}");
        assert!(cov(&v, name, "oom").contains(&"MemoryNearLimit".to_owned()), "{name}");
    }
    // One replica with maxUnavailable 1: the Available condition never turns False.
    assert!(cov(&v, "kubecost-cost-analyzer", "crashloop").is_empty());
    assert_eq!(findings(&v, "alerts/crashloop-uncovered").len(), 1);
    // Recreate: Available does turn False, so the condition alert works there.
    assert!(cov(&v, "kubecost-prometheus-server", "crashloop").contains(&"SystemDeploymentNotReady".to_owned()));
    assert_eq!(cov(&v, "kubecost-prometheus-server", "down")[0], "SystemDeploymentNotReady");
    assert!(findings(&v, "alerts/evaluator-unknown").is_empty(), "the config names the evaluator");
}

#[test]
fn a_prometheus_watching_itself_is_self_monitored() {
    // cost-model emits the terminated reason (Kubecost 2.x runs no kube-state-metrics).
    let rules = "alerting_rules.yml: |\n    groups:\n    - name: self\n      rules:\n      - alert: KubecostPrometheusOOMKilled\n        expr: kube_pod_container_status_terminated_reason{reason=\"OOMKilled\", namespace=\"kubecost\", pod=~\"kubecost-prometheus-server-.*\"} > 0\n";
    let text = corpus("kubecost-2.3.3-default.yaml").replacen("alerting_rules.yml: |\n    {}\n", rules, 1);
    let v = check_text(&text, &[]);
    let f = &findings(&v, "alerts/self-monitored")[0];
    assert_eq!(f["object"]["name"], "kubecost-prometheus-server");
    assert!(f["message"].as_str().unwrap().contains("KubecostPrometheusOOMKilled"));
    assert!(cov(&v, "kubecost-prometheus-server", "oom").is_empty());
    let route = &findings(&v, "alerts/no-notification-route");
    assert!(route.is_empty(), "self-coverage is not coverage, so nothing is listed as unrouted");
}

#[test]
fn invalid_promql_is_located() {
    let (_, v) = check_json("tests/fixtures/alerts/broken-rules.yaml");
    let bad = findings(&v, "alerts/promql-invalid");
    let lines: Vec<u64> = bad.iter().map(|f| f["line"].as_u64().unwrap()).collect();
    // `\w{300}` compiles past the Rust regex crate's size limit, which promql-parser refuses;
    // Prometheus loads it, but compiling each such pattern took a second: meterguard declines it
    // (line 13, docs/hostile.md). More than 1,000 copies of anything: Go's regexp (Prometheus's)
    // refuses it, Rust's does not.
    assert_eq!(lines, vec![5, 7, 11, 17]);
    let declined = findings(&v, "input/promql-too-large");
    assert_eq!(declined.len(), 1);
    assert_eq!(declined[0]["line"], 13);
    assert!(declined[0]["message"].as_str().unwrap().contains("declines to judge it"), "{:#}", declined[0]);
    assert_eq!(findings(&v, "alerts/evaluator-unknown").len(), 1);
}

#[test]
fn generated_alerts_give_full_coverage() {
    // A Prometheus that scrapes every 10m gets ranges of four intervals.
    let stack = corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &corpus("kps-default.yaml");
    let slow = scraped_every(&stack, "10m");
    for (inputs, text) in [
        (vec!["kubecost-2.3.3-default.yaml"], corpus("kubecost-2.3.3-default.yaml")),
        (vec!["kubecost-2.3.3-default.yaml", "kps-default.yaml"], stack),
        (vec!["kubecost-2.3.3-default.yaml", "kps-default.yaml", "scraped every 10m"], slow),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let input = write(&dir, "input.yaml", &text);
        let out = meterguard(&["alerts", "generate", &input]);
        assert!(out.status.success());
        let generated = String::from_utf8(out.stdout).unwrap();
        assert!(generated.contains("kind: PrometheusRule"));
        if inputs.len() == 3 {
            assert!(generated.contains("[40m]) > 0") && !generated.contains("[15m]"), "{generated}");
        }
        if inputs.len() >= 2 {
            assert!(generated.contains("release: kps"), "labelled for the selecting Prometheus");
            assert!(generated.contains("job=\"kube-state-metrics\""));
            assert!(!generated.contains("No prometheus-operator Prometheus"));
        } else {
            // Kubecost's bundled server loads rule files, and scrapes no kube-state-metrics.
            assert!(generated.contains("kubecost/kubecost-prometheus-server reads rule files, not PrometheusRules"));
            assert!(generated.contains("kubecost/kubecost-prometheus-server scrapes no kube-state-metrics"));
        }
        let gen_file = write(&dir, "generated.yaml", &generated);
        let v = json(&meterguard(&["check", "--format", "json", "--assume-rules-loaded", &input, &gen_file]));
        for name in KUBECOST {
            for mode in ["down", "crashloop", "oom"] {
                assert!(!cov(&v, name, mode).is_empty(), "{inputs:?}: {name} {mode} covered by the generated rules");
            }
        }
        assert!(v["findings"].as_array().unwrap().iter().all(|f| !f["rule"].as_str().unwrap().ends_with("-uncovered")));
        assert!(findings(&v, "alerts/promql-invalid").is_empty());
    }
}

#[test]
fn generated_alerts_say_which_metrics_the_job_drops() {
    let stack = corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &corpus("kps-default.yaml");
    let endpoint = "  endpoints:\n    - port: http\n      honorLabels: true\n";
    let relabel = "      metricRelabelings:\n        - sourceLabels: [__name__]\n          action: keep\n          regex: 'kube_pod_status_phase|kube_pod_owner'\n";
    let dropping = stack.replacen(endpoint, &(endpoint.to_owned() + relabel), 1);
    assert_ne!(dropping, stack);
    let dir = tempfile::tempdir().unwrap();
    let input = write(&dir, "input.yaml", &dropping);
    let out = meterguard(&["alerts", "generate", &input]);
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let warning = "# KubecostCostAnalyzerCrashLooping: job \"kube-state-metrics\" drops \
                   kube_pod_container_status_waiting_reason (metric relabelings): keep it there, or this alert cannot fire\n";
    assert!(generated.contains(warning), "{generated}");
    // Still a valid PrometheusRule, whose rules cannot fire until the metrics are kept.
    let gen_file = write(&dir, "generated.yaml", &generated);
    let v = json(&meterguard(&["check", "--format", "json", &input, &gen_file]));
    assert!(findings(&v, "alerts/promql-invalid").is_empty());
    assert!(cov(&v, "kubecost-cost-analyzer", "crashloop").is_empty());
    // Without the keep-list there is nothing to say.
    let plain =
        String::from_utf8(meterguard(&["alerts", "generate", &write(&dir, "plain.yaml", &stack)]).stdout).unwrap();
    assert!(!plain.contains(" drops "));
}

#[test]
fn kube_state_metrics_1x_names_only_work_with_kube_state_metrics_1x() {
    let text = std::fs::read_to_string(root().join("tests/fixtures/alerts/ksm-versions.yaml")).unwrap();
    let v1 = check_text(&text.replace("KSM_TAG", "v1.9.8"), &[]);
    assert_eq!(cov(&v1, "opencost", "oom"), vec!["MemoryNearLimitKsm1".to_owned()]);
    let v2 = check_text(&text.replace("KSM_TAG", "v2.13.0"), &[]);
    assert!(
        cov(&v2, "opencost", "oom").is_empty(),
        "kube-state-metrics 2.x has no *_memory_bytes metrics: the rule matches nothing"
    );
    assert_eq!(findings(&v2, "alerts/oom-uncovered").len(), 1);
    // OpenCost scraped beside it emits the 1.x name only with EMIT_DEPRECATED_METRICS=true.
    let scraped = text.replace("KSM_TAG", "v2.13.0")
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: opencost, namespace: opencost, labels: \
           {app.kubernetes.io/name: opencost}}\nspec:\n  selector: {app.kubernetes.io/name: opencost}\n  \
           ports: [{name: http, port: 9003}]\n---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\n\
           metadata: {name: opencost, namespace: monitoring}\nspec:\n  namespaceSelector: {any: true}\n  \
           selector: {matchLabels: {app.kubernetes.io/name: opencost}}\n  endpoints: [{port: http}]\n";
    assert!(cov(&check_text(&scraped, &[]), "opencost", "oom").is_empty());
    let image = "          image: ghcr.io/opencost/opencost:1.120.1\n";
    let deprecated = scraped.replacen(
        image,
        &format!("{image}          env: [{{name: EMIT_DEPRECATED_METRICS, value: \"true\"}}]\n"),
        1,
    );
    assert_ne!(deprecated, scraped);
    assert_eq!(cov(&check_text(&deprecated, &[]), "opencost", "oom"), ["MemoryNearLimitKsm1"]);
}

#[test]
fn rule_files_in_configmaps_are_located_in_the_manifest_in_every_format() {
    // The parser places a block scalar at its first character of content, after its leading blank
    // lines; a quoted scalar's inside cannot be mapped, so its rules point at it.
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: rules\n  data:\n    block.yml: |\n\n      groups:\n      - name: g\n        rules:\n        - alert: InBlock\n          expr: up{job=~\"(\"} == 0\n    quoted.yml: \"groups:\\n- name: q\\n  rules:\\n  - alert: InQuotes\\n    expr: up{job=~\\\"(\\\"}\\n\"\n";
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "input.yaml", text);
    let v = json(&meterguard(&["check", "--format", "json", f.as_str()]));
    let at: Vec<(i64, i64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "alerts/promql-invalid")
        .map(|f| (f["line"].as_i64().unwrap(), f["column"].as_i64().unwrap()))
        .collect();
    assert_eq!(at, [(15, 17), (16, 17)], "{v:#}");
    let human = String::from_utf8(meterguard(&["check", "--format", "human", f.as_str()]).stdout).unwrap();
    assert!(
        human.contains("input.yaml:15:17: alert InBlock") && human.contains("input.yaml:16:17: alert InQuotes"),
        "{human}"
    );
    let sarif = json(&meterguard(&["check", "--format", "sarif", f.as_str()]));
    let regions: Vec<(i64, i64)> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ruleId"] == "alerts/promql-invalid")
        .map(|r| &r["locations"][0]["physicalLocation"]["region"])
        .map(|r| (r["startLine"].as_i64().unwrap(), r["startColumn"].as_i64().unwrap()))
        .collect();
    assert_eq!(regions, at);
}

#[test]
fn kubecost_bundled_prometheus_gets_kube_series_only_from_cost_model() {
    // Kubecost 2.x ships no kube-state-metrics: its bundled Prometheus reads the kube_* series
    // cost-model emits (job kubecost), and its other discovery jobs keep only node-exporter,
    // network-costs and dcgm-exporter targets.
    let rules = "  alerting_rules.yml: |\n    groups:\n    - name: kubecost\n      rules:\n      \
                 - alert: CrashLooping\n        expr: max_over_time(kube_pod_container_status_waiting_reason\
                 {reason=\"CrashLoopBackOff\", namespace=\"kubecost\"}[5m]) >= 1\n      \
                 - alert: Restarting\n        expr: increase(kube_pod_container_status_restarts_total\
                 {namespace=\"kubecost\"}[10m]) > 2\n      \
                 - alert: Terminated\n        expr: kube_pod_container_status_terminated_reason\
                 {reason=\"OOMKilled\", namespace=\"kubecost\"} > 0\n";
    let stock = corpus("kubecost-2.3.3-default.yaml");
    let with_rules = stock.replacen("  alerting_rules.yml: |\n    {}\n", rules, 1);
    assert_ne!(with_rules, stock);
    let v = check_text(&with_rules, &[]);
    assert!(cov(&v, "kubecost-cost-analyzer", "crashloop").is_empty());
    assert_eq!(cov(&v, "kubecost-cost-analyzer", "oom"), ["Terminated"]);
    let crashloop = findings(&v, "alerts/crashloop-uncovered");
    let help = crashloop.iter().find(|f| f["object"]["name"] == "kubecost-cost-analyzer").unwrap()["help"].as_str();
    assert!(help.unwrap().starts_with("nearest: CrashLooping"), "{help:?}");
    assert!(help.unwrap().contains("scrapes no kube-state-metrics, and cost-model"), "{help:?}");
    // EMIT_DEPRECATED_METRICS brings the restart counter back; EMIT_KSM_V1_METRICS=false takes all.
    let only = "            - name: EMIT_KSM_V1_METRICS_ONLY # ONLY emit KSM v1 metrics that do not exist in KSM 2 \
                by default\n              value: \"false\"\n";
    let deprecated = with_rules.replacen(
        only,
        &format!("{only}            - name: EMIT_DEPRECATED_METRICS\n              value: \"true\"\n"),
        1,
    );
    assert_ne!(deprecated, with_rules);
    let v = check_text(&deprecated, &[]);
    assert_eq!(cov(&v, "kubecost-cost-analyzer", "crashloop"), ["Restarting"]);
    let v1 = "            - name: EMIT_KSM_V1_METRICS\n              value: \"true\"\n";
    let none = with_rules.replacen(v1, &v1.replace("true", "false"), 1);
    assert_ne!(none, with_rules);
    let v = check_text(&none, &[]);
    assert!(cov(&v, "kubecost-cost-analyzer", "oom").is_empty());
}

#[test]
fn a_scrape_config_scrapes_what_its_discovery_lists() {
    let extra = std::fs::read_to_string(root().join("tests/fixtures/alerts/scrape-config-discovery.yaml")).unwrap();
    let stack = [corpus("opencost-default.yaml"), corpus("kps-default.yaml"), extra.clone()].join("\n---\n");
    let v = check_text(&stack, &[]);
    assert!(cov(&v, "opencost", "down").contains(&"OpenCostDown".to_owned()));
    assert!(findings(&v, "alerts/job-mismatch").is_empty());
    // A label selector or a namespace that lists no OpenCost Service: the job scrapes nothing of it.
    for (from, to) in
        [("label: app.kubernetes.io/name=opencost", "label: app=kubecost"), ("names: [opencost]", "names: [kubecost]")]
    {
        let narrowed = stack.replacen(from, to, 1);
        assert_ne!(narrowed, stack);
        let v = check_text(&narrowed, &[]);
        assert!(!cov(&v, "opencost", "down").contains(&"OpenCostDown".to_owned()), "{to}");
    }
}

#[test]
fn a_probe_of_a_service_url_reports_its_workloads_down() {
    let probe = "apiVersion: monitoring.coreos.com/v1\nkind: Probe\nmetadata: {name: opencost-ui, namespace: \
                 monitoring, labels: {release: kps}}\nspec:\n  prober: {url: 'blackbox-exporter.monitoring:9115'}\n  \
                 module: http_2xx\n  targets:\n    staticConfig:\n      static: ['http://opencost.opencost:9090/healthz']\n\
                 ---\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: probes, namespace: \
                 monitoring, labels: {release: kps}}\nspec:\n  groups:\n  - name: probes\n    rules:\n    - alert: \
                 OpenCostUnreachable\n      expr: probe_success{job=\"probe/monitoring/opencost-ui\"} == 0\n      for: 5m\n";
    let stack = [corpus("opencost-default.yaml"), corpus("kps-default.yaml"), probe.to_owned()].join("\n---\n");
    let v = check_text(&stack, &[]);
    assert!(cov(&v, "opencost", "down").contains(&"OpenCostUnreachable".to_owned()));
    assert!(!cov(&v, "opencost", "crashloop").contains(&"OpenCostUnreachable".to_owned()));
    // The operator labels a Probe's series with the Probe's namespace, not the workload's.
    let on = |ns: &str| {
        stack.replace(
            "job=\"probe/monitoring/opencost-ui\"}",
            &format!("job=\"probe/monitoring/opencost-ui\", namespace=\"{ns}\"}}"),
        )
    };
    assert!(cov(&check_text(&on("monitoring"), &[]), "opencost", "down").contains(&"OpenCostUnreachable".to_owned()));
    assert!(!cov(&check_text(&on("opencost"), &[]), "opencost", "down").contains(&"OpenCostUnreachable".to_owned()));
    // A URL outside the cluster probes none of the input's workloads.
    let outside = stack.replace("http://opencost.opencost:9090/healthz", "https://cost.example.com/healthz");
    let v = check_text(&outside, &[]);
    assert!(!cov(&v, "opencost", "down").contains(&"OpenCostUnreachable".to_owned()));
}

#[test]
fn kubecost_diagnostic_alerts_report_its_prometheus_unreachable() {
    let configs = std::fs::read_to_string(root().join("tests/fixtures/alerts/kubecost-alert-configs.yaml")).unwrap();
    let stack = corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &configs;
    let v = check_text(&stack, &[]);
    let diagnostic = "Kubecost diagnostic alert (Prometheus unreachable)";
    for mode in ["down", "crashloop"] {
        assert_eq!(cov(&v, "kubecost-prometheus-server", mode), [diagnostic], "{mode}");
    }
    assert!(cov(&v, "kubecost-prometheus-server", "oom").is_empty(), "a single OOM kill recovers within the window");
    assert!(cov(&v, "kubecost-cost-analyzer", "down").is_empty(), "cost-model cannot report itself");
    let uncovered: Vec<String> = findings(&v, "alerts/down-uncovered")
        .iter()
        .map(|f| f["object"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!uncovered.contains(&"kubecost-prometheus-server".to_owned()), "{uncovered:?}");
    // The scheduler off, the alert does not run.
    let off = stack.replacen(r#""enabled":true"#, r#""enabled":false"#, 1);
    assert_ne!(off, stack);
    assert!(cov(&check_text(&off, &[]), "kubecost-prometheus-server", "down").is_empty());
    // The webhook is never printed.
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "stack.yaml", &stack);
    for format in ["human", "json", "markdown", "sarif", "github"] {
        let out = meterguard(&["check", "--format", format, &path]);
        assert!(!String::from_utf8_lossy(&out.stdout).contains("hooks.slack.com"), "{format}");
    }
}

#[test]
fn a_vmalert_loads_the_vmrules_and_converted_prometheusrules_it_selects() {
    let vm = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics.yaml")).unwrap();
    let stack = corpus("opencost-default.yaml") + "\n---\n" + &vm;
    let v = check_text(&stack, &[]);
    assert_eq!(cov(&v, "opencost", "down"), ["KubeDeploymentReplicasMismatch"]);
    assert!(cov(&v, "opencost", "crashloop").contains(&"KubePodCrashLooping".to_owned()));
    // The team's PrometheusRule, converted by the operator, covers the OOM kill.
    assert_eq!(cov(&v, "opencost", "oom"), ["OpenCostOOMKilled"]);
    let item = &v["workloads"].as_array().unwrap().iter().find(|w| w["object"]["name"] == "opencost").unwrap()["coverage"]
        ["oom"][0];
    assert_eq!(item["evaluator"], "VMAlert monitoring/vmks-victoria-metrics-k8s-stack");
    // MetricsQL that promql-parser cannot read is not called invalid; nothing is left unselected.
    assert!(findings(&v, "alerts/promql-invalid").is_empty(), "{:?}", findings(&v, "alerts/promql-invalid"));
    assert!(findings(&v, "alerts/rule-not-selected").is_empty());
    assert!(findings(&v, "alerts/evaluator-unknown").is_empty());

    // Without selectAllByDefault and without selectors, a VMAlert loads nothing.
    let none = stack.replace("  selectAllByDefault: true\n", "");
    let v = check_text(&none, &[]);
    assert!(["down", "crashloop", "oom"].iter().all(|m| cov(&v, "opencost", m).is_empty()));
    let unselected = findings(&v, "alerts/rule-not-selected");
    assert_eq!(unselected.len(), 4, "{unselected:?}");
    let vmrule = unselected.iter().find(|f| f["object"]["kind"] == "VMRule").unwrap();
    let message = vmrule["message"].as_str().unwrap();
    assert!(message.contains("is selected by no VMAlert") && message.contains("selectAllByDefault false"), "{message}");

    // A ruleSelector alone looks in the VMAlert's namespace; with a namespace selector of {} in every one.
    let own_namespace =
        stack.replace("  selectAllByDefault: true\n", "  ruleSelector: {matchLabels: {team: finops}}\n");
    let v = check_text(&own_namespace, &[]);
    assert!(cov(&v, "opencost", "oom").is_empty());
    let everywhere = own_namespace.replace("  ruleSelector:", "  ruleNamespaceSelector: {}\n  ruleSelector:");
    let v = check_text(&everywhere, &[]);
    assert_eq!(cov(&v, "opencost", "oom"), ["OpenCostOOMKilled"]);
    // The alerts generated for what is left are a VMRule the VMAlert selects, and cover it.
    let dir = tempfile::tempdir().unwrap();
    let input = write(&dir, "input.yaml", &own_namespace);
    let generated = String::from_utf8(meterguard(&["alerts", "generate", &input]).stdout).unwrap();
    assert!(generated.contains("kind: VMRule\nmetadata:\n  name: meterguard-metering-alerts\n  namespace: monitoring\n  labels:\n    team: finops"), "{generated}");
    let gen_file = write(&dir, "generated.yaml", &generated);
    let covered = json(&meterguard(&["check", "--format", "json", &input, &gen_file]));
    assert!(["down", "crashloop", "oom"].iter().all(|m| !cov(&covered, "opencost", m).is_empty()));
    assert!(cov(&v, "opencost", "down").is_empty());
    let lacking: Vec<_> = findings(&v, "alerts/rule-not-selected").iter().map(|f| f["message"].clone()).collect();
    assert!(lacking.iter().all(|m| m.as_str().unwrap().contains("lacks team: finops")), "{lacking:?}");

    // A Prometheus reads no VMRule: with no VMAlert they are left to an evaluator outside the input.
    let no_vmalert: String =
        stack.split("\n---\n").filter(|d| !d.contains("kind: VMAlert")).collect::<Vec<_>>().join("\n---\n");
    let kps = no_vmalert + "\n---\n" + &corpus("kps-default.yaml");
    let v = check_text(&kps, &[]);
    assert!(findings(&v, "alerts/rule-not-selected").iter().all(|f| f["object"]["kind"] == "PrometheusRule"));
    assert_eq!(findings(&v, "alerts/evaluator-unknown").len(), 1);
}

#[test]
fn a_vmsingle_that_a_cost_model_reads_is_a_metering_store() {
    let vm = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics.yaml")).unwrap();
    // OpenCost pointed at the VMSingle through the Service the operator creates (not in the render).
    let opencost = corpus("opencost-default.yaml").replace(
        "http://prometheus-server.prometheus-system.svc.cluster.local:80",
        "http://vmsingle-vmks-victoria-metrics-k8s-stack.monitoring.svc:8428",
    );
    let stack = opencost + "\n---\n" + &vm;
    let v = check_text(&stack, &[]);
    let single = v["workloads"].as_array().unwrap().iter().find(|w| w["object"]["kind"] == "VMSingle").unwrap();
    assert_eq!(single["metering"], true);
    assert_eq!(single["profile"], "victoria-metrics");
    assert!(single["reason"].as_str().unwrap().contains("read by metering Deployment opencost/opencost"));
    let on_single = |v: &serde_json::Value, rule: &str| -> Vec<serde_json::Value> {
        findings(v, rule).into_iter().filter(|f| f["object"]["kind"] == "VMSingle").cloned().collect()
    };
    // The VMAlert's rules query the VMSingle: when it is down they are silent.
    let own = on_single(&v, "alerts/self-monitored");
    assert!(own[0]["message"].as_str().unwrap().contains("a VMAlert evaluates on its own data"), "{own:?}");
    assert_eq!(on_single(&v, "alerts/oom-uncovered")[0]["severity"], "error");
    // The operator gives it default requests and limits; its data is on the claim spec.storage asks for.
    assert!(v["findings"].as_array().unwrap().iter().all(|f| {
        f["object"]["kind"] != "VMSingle"
            || !(f["rule"].as_str().unwrap().starts_with("sizing/")
                || f["rule"].as_str().unwrap().starts_with("storage/"))
    }));
    // Without spec.storage the operator gives it an emptyDir; and a budget of one pod stops drains.
    let ephemeral = stack.replacen(
        "  retentionPeriod: \"1\"\n  storage:\n    accessModes:\n      - ReadWriteOnce\n    resources:\n      requests:\n        storage: 20Gi\n",
        "  retentionPeriod: \"1\"\n",
        1,
    ) + "\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: vmsingle, namespace: monitoring}\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels: {app.kubernetes.io/name: vmsingle}\n";
    let v = check_text(&ephemeral, &[]);
    let lost = on_single(&v, "storage/ephemeral-tsdb");
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0]["message"].as_str().unwrap().starts_with("VMSingle data (no spec.storage) is on an emptyDir"));
    let blocked = findings(&v, "upgrade/drain-blocked");
    assert!(
        blocked[0]["message"]
            .as_str()
            .unwrap()
            .contains("VMSingle monitoring/vmks-victoria-metrics-k8s-stack, which runs 1 replica")
    );
}

#[test]
fn jobs_are_named_as_the_monitors_relabel_them() {
    let extra = std::fs::read_to_string(root().join("tests/fixtures/alerts/relabeled-jobs.yaml")).unwrap();
    let stack = [corpus("opencost-default.yaml"), corpus("kps-default.yaml"), extra.clone()].join("\n---\n");
    let v = check_text(&stack, &[]);
    let evaluator = "monitoring/kps-kube-prometheus-stack-prometheus";
    let line_of = |needle: &str| stack.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1;
    let got: Vec<(u64, String)> = findings(&v, "alerts/job-mismatch")
        .iter()
        .map(|f| (f["line"].as_u64().unwrap(), f["message"].as_str().unwrap().to_owned()))
        .collect();
    let mismatch = |alert: &str, job: &str| {
        format!("alert {alert} on {evaluator} selects job {job}, which {evaluator} never scrapes")
    };
    assert_eq!(
        got,
        vec![
            (line_of(r#"expr: up{job="opencost"}"#), mismatch("CostModelDownByServiceName", "opencost")),
            (
                line_of(r#"expr: up{job="monitoring/ksm-pods"}"#),
                mismatch("KsmPodsDownByMonitorName", "monitoring/ksm-pods")
            ),
        ],
        "the relabeled names exist, and the names they overwrite do not"
    );
    assert!(cov(&v, "opencost", "down").contains(&"CostModelDown".to_owned()));
    // A relabeling from what the input does not tell (a container port's name): the job may have
    // any name, and no `job` matcher is judged against this Prometheus.
    let unknown = extra.replace(
        "        - action: replace\n          targetLabel: job\n          replacement: finops-cost-model\n",
        "        - sourceLabels: [__meta_kubernetes_pod_container_port_name]\n          targetLabel: job\n",
    );
    assert_ne!(unknown, extra);
    let stack = [corpus("opencost-default.yaml"), corpus("kps-default.yaml"), unknown].join("\n---\n");
    let v = check_text(&stack, &[]);
    assert!(findings(&v, "alerts/job-mismatch").is_empty(), "{:?}", findings(&v, "alerts/job-mismatch"));
    assert!(cov(&v, "opencost", "down").contains(&"CostModelDown".to_owned()));
}

#[test]
fn a_vmalert_judges_its_rules_by_the_jobs_of_the_vmagents_that_feed_its_datasource() {
    let vm = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics.yaml")).unwrap();
    let agent = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics-agent.yaml")).unwrap();
    let stack = [corpus("opencost-default.yaml"), vm.clone(), agent.clone()].join("\n---\n");
    let v = check_text(&stack, &[]);
    let evaluator = "VMAlert monitoring/vmks-victoria-metrics-k8s-stack";
    let messages = |v: &serde_json::Value| -> Vec<String> {
        findings(v, "alerts/job-mismatch").iter().map(|f| f["message"].as_str().unwrap().to_owned()).collect()
    };
    // kube-state-metrics (by its jobLabel), the kubelet (relabeled) and the operator's own
    // components (TooManyRestarts) are scraped; opencost is not.
    assert_eq!(
        messages(&v),
        [format!("alert OpenCostDown on {evaluator} selects job opencost, which {evaluator} never scrapes")]
    );
    assert!(cov(&v, "opencost", "crashloop").contains(&"KubePodCrashLooping".to_owned()));
    assert!(!cov(&v, "opencost", "down").contains(&"OpenCostDown".to_owned()));
    // A VMServiceScrape for OpenCost names the job after the Service's app.kubernetes.io/name.
    let scraped = stack.clone()
        + "\n---\napiVersion: operator.victoriametrics.com/v1beta1\nkind: VMServiceScrape\nmetadata: {name: opencost, \
           namespace: opencost}\nspec:\n  jobLabel: app.kubernetes.io/name\n  selector: {matchLabels: \
           {app.kubernetes.io/name: opencost}}\n  endpoints: [{port: http}]\n";
    let v = check_text(&scraped, &[]);
    assert!(messages(&v).is_empty(), "{:?}", messages(&v));
    assert!(cov(&v, "opencost", "down").contains(&"OpenCostDown".to_owned()));
    // The scrape jobs are not known when the VMAgent is not in the input, when it also scrapes what is
    // not read here (a VMStaticScrape it selects), when it writes elsewhere, or when it relabels
    // every service scrape after the object's own relabelings.
    let static_scrape = "\n---\napiVersion: operator.victoriametrics.com/v1beta1\nkind: VMStaticScrape\nmetadata: \
                         {name: legacy, namespace: monitoring}\nspec:\n  jobName: opencost\n  targetEndpoints: \
                         [{targets: ['10.0.0.7:9003']}]\n";
    let no_agent: String =
        stack.split("\n---\n").filter(|d| !d.contains("kind: VMAgent")).collect::<Vec<_>>().join("\n---\n");
    let elsewhere = stack.replace(
        "  - url: http://vmsingle-vmks-victoria-metrics-k8s-stack.monitoring.svc.cluster.local.:8428/api/v1/write\n  scrapeInterval",
        "  - url: https://mimir.example.com/api/v1/push\n  scrapeInterval",
    );
    assert_ne!(elsewhere, stack);
    let templated = stack.replace(
        "  selectAllByDefault: true\n---\n# Source: victoria-metrics-k8s-stack/charts/kube-state-metrics/templates/deployment.yaml",
        "  selectAllByDefault: true\n  serviceScrapeRelabelTemplate:\n  - {targetLabel: job, replacement: scraped}\n---\n\
         # Source: victoria-metrics-k8s-stack/charts/kube-state-metrics/templates/deployment.yaml",
    );
    assert_ne!(templated, stack);
    // A PrometheusAgent writes to the store too, what it scrapes beside the VMAgent's jobs.
    let prometheus_agent = "\n---\napiVersion: monitoring.coreos.com/v1alpha1\nkind: PrometheusAgent\nmetadata: \
                            {name: edge, namespace: monitoring}\nspec:\n  serviceMonitorSelector: {}\n  remoteWrite:\n  \
                            - url: http://vmsingle-vmks-victoria-metrics-k8s-stack.monitoring.svc:8428/api/v1/write\n";
    // A VMCluster instead of the VMSingle: the VMAlert reads vmselect, the VMAgent writes to vminsert.
    let single = stack.find("apiVersion: operator.victoriametrics.com/v1beta1\nkind: VMSingle\n").unwrap();
    let single_end = single + stack[single..].find("\n---\n").unwrap();
    let cluster = stack[..single].to_owned()
        + "apiVersion: operator.victoriametrics.com/v1beta1\nkind: VMCluster\nmetadata: {name: \
           vmks-victoria-metrics-k8s-stack, namespace: monitoring}\nspec:\n  retentionPeriod: \"1\"\n  \
           replicationFactor: 2\n  vmstorage: {replicaCount: 2}\n  vmselect: {replicaCount: 2}\n  vminsert: \
           {replicaCount: 2}"
        + &stack[single_end..]
            .replace("url: http://vmsingle-vmks-victoria-metrics-k8s-stack.monitoring.svc.cluster.local.:8428/\n  eval",
                "url: http://vmselect-vmks-victoria-metrics-k8s-stack.monitoring.svc.cluster.local.:8481/select/0/prometheus/\n  eval")
            .replace(
                "  - url: http://vmsingle-vmks-victoria-metrics-k8s-stack.monitoring.svc.cluster.local.:8428/api/v1/write\n  scrapeInterval",
                "  - url: http://vminsert-vmks-victoria-metrics-k8s-stack.monitoring.svc.cluster.local.:8480/insert/0/prometheus/api/v1/write\n  scrapeInterval",
            );
    assert!(cluster.contains("url: http://vmselect-") && cluster.contains("url: http://vminsert-"));
    let v = check_text(&cluster, &[]);
    assert_eq!(
        messages(&v),
        [format!("alert OpenCostDown on {evaluator} selects job opencost, which {evaluator} never scrapes")]
    );
    let help = findings(&v, "alerts/job-mismatch")[0]["help"].as_str().unwrap().to_owned();
    assert!(help.contains("vmselect-vmks-victoria-metrics-k8s-stack") && help.contains("kube-state-metrics"), "{help}");
    for unknown in [no_agent, stack.clone() + static_scrape, elsewhere, templated, stack.clone() + prometheus_agent] {
        let v = check_text(&unknown, &[]);
        assert!(messages(&v).is_empty(), "{:?}", messages(&v));
        assert!(cov(&v, "opencost", "crashloop").contains(&"KubePodCrashLooping".to_owned()));
    }
    // The prometheus chart's server writing to the store adds the jobs of its own config; one that
    // relabels what it writes leaves them unknown.
    let rule = "\n---\napiVersion: operator.victoriametrics.com/v1beta1\nkind: VMRule\nmetadata: {name: endpoints, \
                namespace: monitoring}\nspec:\n  groups:\n  - name: endpoints\n    rules:\n    - alert: EndpointsDown\n      \
                expr: up{job=\"kubernetes-service-endpoints\"} == 0\n";
    let write = "  prometheus.yml: |\n    remote_write:\n    - url: http://vmsingle-vmks-victoria-metrics-k8s-stack.monitoring.svc:8428/api/v1/write\n";
    let prometheus = corpus("prometheus-default.yaml");
    let writing = prometheus.replacen("  prometheus.yml: |\n", write, 1);
    assert_ne!(writing, prometheus);
    let endpoints = format!(
        "alert EndpointsDown on {evaluator} selects job kubernetes-service-endpoints, which {evaluator} never scrapes"
    );
    let opencost_down =
        format!("alert OpenCostDown on {evaluator} selects job opencost, which {evaluator} never scrapes");
    let v = check_text(&(stack.clone() + rule + "\n---\n" + &prometheus), &[]);
    assert_eq!(messages(&v), [opencost_down.clone(), endpoints]);
    let v = check_text(&(stack.clone() + rule + "\n---\n" + &writing), &[]);
    assert_eq!(messages(&v), [opencost_down]);
    let relabeled = writing.replacen(
        "/api/v1/write\n",
        "/api/v1/write\n      write_relabel_configs: [{target_label: job, replacement: prom}]\n",
        1,
    );
    let v = check_text(&(stack.clone() + rule + "\n---\n" + &relabeled), &[]);
    assert!(messages(&v).is_empty(), "{:?}", messages(&v));
}

#[test]
fn a_vmalert_notifies_through_the_config_of_the_vmalertmanager_it_names() {
    let vm = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics.yaml")).unwrap();
    let agent = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics-agent.yaml")).unwrap();
    let stack = [corpus("opencost-default.yaml"), vm, agent].join("\n---\n");
    let routes = |text: &str| -> Vec<serde_json::Value> {
        findings(&check_text(text, &[]), "alerts/no-notification-route").into_iter().cloned().collect()
    };
    // The chart's default config sends every alert to `blackhole`, which has no integration.
    let found = routes(&stack);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["object"]["name"], "vmks-victoria-metrics-k8s-stack-alertmanager");
    assert!(
        found[0]["message"].as_str().unwrap().starts_with(
            "alerts evaluated by VMAlert monitoring/vmks-victoria-metrics-k8s-stack about opencost (crashloop, down"
        ),
        "{found:?}"
    );
    // A receiver with a Slack config, in the Secret or written inline.
    let slack =
        "    - name: blackhole\n      slack_configs: [{channel: '#finops', api_url: https://hooks.slack.com/x}]\n";
    let notifying = stack.replace("    - name: blackhole\n", slack);
    assert_ne!(notifying, stack);
    assert!(routes(&notifying).is_empty());
    let inline = stack.replace(
        "  configSecret: vmks-victoria-metrics-k8s-stack-alertmanager\n",
        "  configRawYaml: |\n    route: {receiver: pager}\n    receivers: [{name: pager, pagerduty_configs: [{routing_key: x}]}]\n",
    );
    assert_ne!(inline, stack);
    assert!(routes(&inline).is_empty());
    // A VMAlertmanagerConfig it selects adds a route after the config's own, for its namespace's
    // alerts only.
    let managed = |stack: &str, namespace: &str, receiver: &str| {
        format!(
            "{stack}\n---\napiVersion: operator.victoriametrics.com/v1beta1\nkind: VMAlertmanagerConfig\n\
             metadata: {{name: finops, namespace: {namespace}}}\nspec:\n  route:\n    receiver: slack\n    \
             routes: [{{matchers: ['severity=\"critical\"'], receiver: slack}}]\n  receivers: [{receiver}]\n"
        )
    };
    let slack = "{name: slack, slack_configs: [{channel: '#finops', api_url: https://hooks.slack.com/x}]}";
    assert!(routes(&managed(&stack, "opencost", slack)).is_empty());
    assert_eq!(routes(&managed(&stack, "opencost", "{name: slack}")).len(), 1, "a receiver with no integration");
    assert_eq!(routes(&managed(&stack, "monitoring", slack)).len(), 1, "another namespace's alerts only");
    let alertmanager = "  routePrefix: /\n  selectAllByDefault: true\n";
    assert_eq!(stack.matches(alertmanager).count(), 1);
    let unmatched = stack.replacen(alertmanager, &format!("{alertmanager}  disableNamespaceMatcher: true\n"), 1);
    assert_ne!(unmatched, stack);
    assert!(routes(&managed(&unmatched, "monitoring", slack)).is_empty());
    // One the VMAlertmanager does not select adds nothing.
    let selective = stack.replacen(
        alertmanager,
        &format!("{alertmanager}  configSelector: {{matchLabels: {{team: finops}}}}\n"),
        1,
    );
    assert_ne!(selective, stack);
    assert_eq!(routes(&managed(&selective, "opencost", slack)).len(), 1);
    // With no config the operator writes one that sends every alert to `blackhole`; a config with
    // no route gets that route, and the VMAlertmanagerConfigs' routes go under it.
    let secret = "  configSecret: vmks-victoria-metrics-k8s-stack-alertmanager\n";
    let unconfigured = stack.replace(secret, "");
    assert_ne!(unconfigured, stack);
    let found = routes(&unconfigured);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["object"]["kind"], "VMAlertmanager");
    assert!(routes(&managed(&unconfigured, "opencost", slack)).is_empty());
    let routeless = stack.replace(secret, "  configRawYaml: |\n    global: {resolve_timeout: 5m}\n");
    assert_eq!(routes(&routeless).len(), 1);
    assert!(routes(&managed(&routeless, "opencost", slack)).is_empty());
    // The operator reads configSecret before configRawYaml, and ignores a configSecret named as
    // the Secret it writes itself.
    let pager = "  configRawYaml: |\n    route: {receiver: pager}\n    receivers: [{name: pager, pagerduty_configs: [{routing_key: x}]}]\n";
    assert_eq!(routes(&stack.replace(secret, &format!("{secret}{pager}"))).len(), 1);
    let own = "  configSecret: vmalertmanager-vmks-victoria-metrics-k8s-stack-config\n";
    assert!(routes(&stack.replace(secret, &format!("{own}{pager}"))).is_empty());
    assert_eq!(routes(&stack.replace(secret, own)).len(), 1);
}

#[test]
fn a_vmalert_reaches_the_vmalertmanagers_its_notifier_selectors_and_file_pick() {
    let vm = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics.yaml")).unwrap();
    let agent = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics-agent.yaml")).unwrap();
    let notifier = "  notifiers:\n    - url: http://vmalertmanager-vmks-victoria-metrics-k8s-stack-0.\
                    vmalertmanager-vmks-victoria-metrics-k8s-stack.monitoring.svc.cluster.local.:9093\n";
    let alertmanager = "kind: VMAlertmanager\nmetadata:\n  name: vmks-victoria-metrics-k8s-stack\n";
    let labelled = agent.replacen(alertmanager, &format!("{alertmanager}  labels: {{team: finops}}\n"), 1);
    assert_eq!(vm.matches(notifier).count(), 1);
    assert_ne!(labelled, agent);
    // The chart's VMAlertmanager routes every alert to `blackhole`: reached, it notifies nobody.
    let routes = |selector: &str| {
        let vm = vm.replacen(notifier, &format!("  notifiers:\n    - selector: {selector}\n"), 1);
        let v = check_text(&[corpus("opencost-default.yaml"), vm, labelled.clone()].join("\n---\n"), &[]);
        findings(&v, "alerts/no-notification-route").len()
    };
    assert_eq!(routes("{labelSelector: {matchLabels: {team: finops}}}"), 1);
    assert_eq!(routes("{}"), 1, "every VMAlertmanager");
    assert_eq!(
        routes("{labelSelector: {matchLabels: {team: finops}}, namespaceSelector: {matchNames: [monitoring]}}"),
        1
    );
    assert_eq!(routes("{namespaceSelector: {any: true}}"), 1);
    // Picking none of the input, it reaches VMAlertmanagers elsewhere, taken to notify.
    assert_eq!(routes("{labelSelector: {matchLabels: {team: sre}}}"), 0);
    assert_eq!(routes("{namespaceSelector: {matchNames: [alerting]}}"), 0);
    // A notifier config file in a Secret (`notifierConfigRef`): its static targets, as URLs are.
    let file = |targets: &str| {
        let vm = vm.replacen(notifier, "  notifierConfigRef: {name: vmalert-notifiers, key: notifiers.yaml}\n", 1);
        let secret = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: vmalert-notifiers, namespace: monitoring}}\nstringData:\n  \
             notifiers.yaml: |\n    {targets}\n"
        );
        let v = check_text(&[corpus("opencost-default.yaml"), vm, labelled.clone(), secret].join("\n---\n"), &[]);
        findings(&v, "alerts/no-notification-route").len()
    };
    assert_eq!(
        file("static_configs: [{targets: ['vmalertmanager-vmks-victoria-metrics-k8s-stack.monitoring.svc:9093']}]"),
        1
    );
    assert_eq!(file("static_configs: [{targets: ['alertmanager.example.com:9093']}]"), 0, "outside the input");
    assert_eq!(file("dns_sd_configs: [{names: [alertmanager.example.com], type: A, port: 9093}]"), 0, "discovered");
}

#[test]
fn the_vmrules_of_the_victoria_metrics_sync_job_are_known_from_its_config() {
    let vm = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics.yaml")).unwrap();
    let sync = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics-sync-job.yaml")).unwrap();
    // The chart renders no kubernetes-apps VMRule: the sync job creates it.
    let rendered: Vec<&str> = vm.split("\n---\n").filter(|d| !d.contains("-kubernetes-apps\n")).collect();
    let stack = [corpus("opencost-default.yaml"), rendered.join("\n---\n"), sync].join("\n---\n");
    let v = check_text(&stack, &[]);
    assert_eq!(cov(&v, "opencost", "down"), ["KubeDeploymentReplicasMismatch", "KubePodNotReady"]);
    assert!(cov(&v, "opencost", "crashloop").contains(&"KubePodCrashLooping".to_owned()));
    let item = &v["workloads"].as_array().unwrap().iter().find(|w| w["object"]["name"] == "opencost").unwrap()["coverage"]
        ["down"][0];
    assert_eq!(item["rule_object"], "monitoring/vmks-victoria-metrics-k8s-stack-sync-job-config");
    assert!(findings(&v, "alerts/rule-not-selected").is_empty() && findings(&v, "alerts/evaluator-unknown").is_empty());
    // What the config disables is not created: a source, a group, a rule by name.
    let source_off = stack.replace(
        "manifests/kubernetesControlPlane-prometheusRule.yaml\n",
        "manifests/kubernetesControlPlane-prometheusRule.yaml\n          enabled: false\n",
    );
    let group_off = stack.replace("        kubernetes-apps:\n", "        kubernetes-apps:\n          enabled: false\n");
    for off in [source_off, group_off] {
        assert_ne!(off, stack);
        let v = check_text(&off, &[]);
        assert!(cov(&v, "opencost", "down").is_empty(), "{}", &off[off.len() - 400..]);
    }
    // The labels the job gives its VMRules are not in the config: a ruleSelector does not judge them.
    let selective = stack.replace(
        "  selectAllByDefault: true\n",
        "  ruleNamespaceSelector: {}\n  ruleSelector: {matchLabels: {team: finops}}\n",
    );
    assert_ne!(selective, stack);
    let v = check_text(&selective, &[]);
    assert!(cov(&v, "opencost", "crashloop").contains(&"KubePodCrashLooping".to_owned()));
    assert!(findings(&v, "alerts/rule-not-selected").iter().all(|f| f["object"]["kind"] != "ConfigMap"));
    // In another namespace than the VMAlert's ruleSelector looks in, it is not selected, for its
    // namespace: no label is named.
    let elsewhere = selective.replace("  ruleNamespaceSelector: {}\n", "").replace(
        "  name: vmks-victoria-metrics-k8s-stack-sync-job-config\n  namespace: monitoring\n",
        "  name: vmks-victoria-metrics-k8s-stack-sync-job-config\n  namespace: vm-rules\n",
    );
    assert!(elsewhere.contains("namespace: vm-rules"));
    let v = check_text(&elsewhere, &[]);
    let message = findings(&v, "alerts/rule-not-selected")
        .iter()
        .find(|f| f["object"]["kind"] == "ConfigMap")
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(message.ends_with("it lacks a namespace the ruleNamespaceSelector accepts"), "{message}");
    let rule_off =
        stack.replace("      groups:\n        kubernetes-apps:\n", "      rules:\n        KubePodCrashLooping:\n          enabled: false\n      groups:\n        kubernetes-apps:\n");
    assert_ne!(rule_off, stack);
    let v = check_text(&rule_off, &[]);
    assert!(!cov(&v, "opencost", "crashloop").contains(&"KubePodCrashLooping".to_owned()));
    assert_eq!(cov(&v, "opencost", "down"), ["KubeDeploymentReplicasMismatch", "KubePodNotReady"]);
}

#[test]
fn a_range_too_short_for_the_scrape_interval_covers_nothing() {
    // Kubecost's bundled Prometheus scrapes every minute (global.scrape_interval 1m); with
    // EMIT_DEPRECATED_METRICS cost-model emits the restart counter.
    let only = "            - name: EMIT_KSM_V1_METRICS_ONLY # ONLY emit KSM v1 metrics that do not exist in KSM 2 \
                by default\n              value: \"false\"\n";
    let stock = corpus("kubecost-2.3.3-default.yaml");
    let deprecated = stock.replacen(
        only,
        &format!("{only}            - name: EMIT_DEPRECATED_METRICS\n              value: \"true\"\n"),
        1,
    );
    assert_ne!(deprecated, stock);
    let restarts = |name: &str, range: &str, for_: &str| {
        format!(
            "      - alert: {name}\n        expr: increase(kube_pod_container_status_restarts_total\
             {{namespace=\"kubecost\"}}[{range}]) > 0\n{for_}"
        )
    };
    let with = |rules: &[String]| {
        let file =
            format!("  alerting_rules.yml: |\n    groups:\n    - name: kubecost\n      rules:\n{}", rules.concat());
        let text = deprecated.replacen("  alerting_rules.yml: |\n    {}\n", &file, 1);
        assert_ne!(text, deprecated);
        check_text(&text, &[])
    };
    // [1m] never holds two samples; [90s] holds them half of each minute, too short for `for: 5m`.
    let sparse = [restarts("RestartedLastMinute", "1m", ""), restarts("RestartingSlowly", "90s", "        for: 5m\n")];
    let v = with(&sparse);
    assert!(cov(&v, "kubecost-cost-analyzer", "crashloop").is_empty());
    let f = findings(&v, "alerts/crashloop-uncovered");
    let help = f.iter().find(|f| f["object"]["name"] == "kubecost-cost-analyzer").unwrap()["help"].as_str().unwrap();
    assert!(
        help.starts_with(
            "nearest: RestartedLastMinute (kubecost/kubecost-prometheus-server) reads \
             kube_pod_container_status_restarts_total over [1m], but the scrape jobs that collect it run every \
             1m: the range never holds the two samples its function needs (a range of four scrape intervals, \
             [4m], is safe)"
        ),
        "{help}"
    );
    // Without `for`, the half minute fires; four intervals always do.
    let v = with(&[sparse.concat(), restarts("RestartingNow", "90s", "")]);
    assert_eq!(cov(&v, "kubecost-cost-analyzer", "crashloop"), ["RestartingNow"]);
    let v = with(&[sparse.concat(), restarts("Restarting", "4m", "        for: 5m\n")]);
    assert_eq!(cov(&v, "kubecost-cost-analyzer", "crashloop"), ["Restarting"]);
    // The job's own interval wins over the global one.
    let job =
        "    - job_name: kubecost\n      honor_labels: true\n      scrape_interval: 1m\n      scrape_timeout: 60s\n";
    let fast = job.replace("1m", "15s").replace("60s", "10s");
    let file = format!("  alerting_rules.yml: |\n    groups:\n    - name: kubecost\n      rules:\n{}", sparse.concat());
    let text = deprecated.replacen("  alerting_rules.yml: |\n    {}\n", &file, 1).replacen(job, &fast, 1);
    assert!(text.contains(&fast));
    let v = check_text(&text, &[]);
    assert_eq!(cov(&v, "kubecost-cost-analyzer", "crashloop"), ["RestartedLastMinute", "RestartingSlowly"]);
}

#[test]
fn a_monitors_or_the_prometheus_scrape_interval_decides_what_its_ranges_hold() {
    let stack = corpus("kubecost-2.3.3-default.yaml") + "\n---\n" + &corpus("kps-default.yaml");
    let crashloop = |text: &str| cov(&check_text(text, &[]), "kubecost-cost-analyzer", "crashloop");
    assert!(crashloop(&stack).contains(&"KubePodCrashLooping".to_owned()));
    // KubePodCrashLooping reads max_over_time(...[5m]) for 15m: scraped every 10m, the range is
    // empty half of the time. KubePodNotReady reads no range.
    let endpoint = "    - port: http\n      honorLabels: true\n---\n# Source: kube-prometheus-stack/charts/prometheus-node-exporter";
    let slow_monitor = stack.replacen(
        endpoint,
        &endpoint.replacen("honorLabels: true\n", "honorLabels: true\n      interval: 10m\n", 1),
        1,
    );
    assert_ne!(slow_monitor, stack);
    let slow = crashloop(&slow_monitor);
    assert!(
        !slow.contains(&"KubePodCrashLooping".to_owned()) && slow.contains(&"KubePodNotReady".to_owned()),
        "{slow:?}"
    );
    let slow_prometheus = scraped_every(&stack, "10m");
    assert!(!crashloop(&slow_prometheus).contains(&"KubePodCrashLooping".to_owned()));
}

#[test]
fn a_vmagents_or_its_scrapes_interval_decides_what_its_ranges_hold() {
    let vm = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics.yaml")).unwrap();
    let agent = std::fs::read_to_string(root().join("tests/fixtures/alerts/victoria-metrics-agent.yaml")).unwrap();
    let stack = [corpus("opencost-default.yaml"), vm, agent].join("\n---\n");
    let crashloop = |text: &str| cov(&check_text(text, &[]), "opencost", "crashloop");
    assert!(crashloop(&stack).contains(&"KubePodCrashLooping".to_owned()));
    // max_over_time(...[5m]) for 15m, scraped every 10m: empty half of the time.
    let slow_agent = stack.replacen("  scrapeInterval: 20s\n", "  scrapeInterval: 10m\n", 1);
    assert_ne!(slow_agent, stack);
    assert!(!crashloop(&slow_agent).contains(&"KubePodCrashLooping".to_owned()));
    // An endpoint's `scrape_interval` wins over its `interval`, as the operator writes it.
    let endpoint = "  - port: http\n    honorLabels: true\n    metricRelabelConfigs:\n";
    let slow_scrape = |fields: &str| {
        stack.replacen(
            endpoint,
            &endpoint.replacen("honorLabels: true\n", &format!("honorLabels: true\n{fields}"), 1),
            1,
        )
    };
    let slow = slow_scrape("    scrape_interval: 10m\n    interval: 20s\n");
    assert_ne!(slow, stack);
    assert!(!crashloop(&slow).contains(&"KubePodCrashLooping".to_owned()));
    assert!(
        crashloop(&slow_scrape("    scrape_interval: 20s\n    interval: 10m\n"))
            .contains(&"KubePodCrashLooping".to_owned())
    );
    // The VMAgent's limits bound the intervals its endpoints set, not its own.
    let limited = |text: &str, limit: &str| {
        let with = text.replacen("  scrapeInterval: 20s\n", &format!("  scrapeInterval: 20s\n  {limit}\n"), 1);
        assert_ne!(with, text);
        crashloop(&with).contains(&"KubePodCrashLooping".to_owned())
    };
    assert!(limited(&slow, "maxScrapeInterval: 1m"));
    assert!(!limited(&slow, "maxScrapeInterval: 15m"));
    assert!(!limited(&slow_scrape("    interval: 20s\n"), "minScrapeInterval: 10m"));
    assert!(limited(&stack, "minScrapeInterval: 10m"));
}

#[test]
fn a_job_is_never_down_or_crash_looping_and_a_helm_hook_meters_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let job = |name: &str, hook: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  namespace: cz\n{hook}spec:\n  template:\n    spec:\n      \
             restartPolicy: Never\n      containers:\n        - name: run\n          image: ghcr.io/cloudzero/cloudzero-agent/cloudzero-agent:1.2.9\n          \
             resources: {{requests: {{cpu: 10m, memory: 64Mi}}, limits: {{memory: 128Mi}}}}\n"
        )
    };
    let text = format!(
        "{}---\n{}",
        job("backfill", ""),
        job("migrate", "  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n")
    );
    let path = dir.path().join("jobs.yaml");
    std::fs::write(&path, text).unwrap();
    // An evaluator declared outside the input, so that coverage is judged.
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "alerting:\n  external:\n    - name: central\n      jobs: [kube-state-metrics]\n").unwrap();
    let cfg = cfg.to_string_lossy().into_owned();
    let v = json(&meterguard(&["check", "--format", "json", "--config", &cfg, &path.to_string_lossy()]));
    let about = |rule: &str, name: &str| findings(&v, rule).iter().filter(|f| f["object"]["name"] == name).count();
    assert_eq!(about("alerts/down-uncovered", "backfill"), 0, "{v}");
    assert_eq!(about("alerts/crashloop-uncovered", "backfill"), 0, "{v}");
    assert_eq!(about("alerts/oom-uncovered", "backfill"), 1, "an OOM kill fails the run: {v}");
    let hook = v["workloads"].as_array().unwrap().iter().find(|w| w["object"]["name"] == "migrate").unwrap();
    assert_eq!(hook["metering"], false, "{hook}");
    assert!(hook["reason"].as_str().unwrap().contains("Helm hook"));
    let human = String::from_utf8(meterguard(&["check", "--config", &cfg, &path.to_string_lossy()]).stdout).unwrap();
    assert!(human.contains("down       n/a (runs to completion)"), "{human}");
}

#[test]
fn a_vendor_chart_checked_alone_gets_one_finding_for_its_unknown_coverage() {
    for render in [
        "Cloudzero_cloudzero-charts@1.2.9--cloudzero-agent",
        "getlago_lago-helm-charts--lago",
        "kubecost_kubecost--kubecost",
        "openmeterio_openmeter--openmeter",
        "vantage-sh_helm-charts--vantage-kubernetes-agent",
    ] {
        let (_, v) = check_json(&format!("tests/fixtures/renders/{render}.yaml"));
        let none = findings(&v, "alerts/no-evaluator");
        assert_eq!(none.len(), 1, "{render}");
        let metering = v["summary"]["metering_workloads"].as_u64().unwrap();
        assert!(
            none[0]["message"].as_str().unwrap().contains(&format!("the {metering} metering workload")),
            "{render}"
        );
        for mode in ["down", "crashloop", "oom"] {
            assert!(findings(&v, &format!("alerts/{mode}-uncovered")).is_empty(), "{render}: {mode}");
        }
    }
}
