//! What holds for every input: no Secret value printed, the same bytes every run, no network and
//! nothing executed from the input.

use super::*;

const CANARY: &str = "canary-7f3a9e-do-not-print";

/// A Secret that holds the canary plainly, in base64, inside an embedded config, next to a duplicate
/// key (a finding inside the Secret) and in a value of the wrong type.
fn secret(value: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(value);
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: alertmanager-main\n  namespace: monitoring\ntype: Opaque\ndata:\n  token: {b64}\n  dup: eA==\n  dup: eQ==\nstringData:\n  alertmanager.yaml: |\n    route: {{receiver: x}}\n    receivers: [{{name: x, webhook_configs: [{{url: 'https://{value}.example'}}]}}]\n  plain: {value}\n  nested: [{value}]\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn secret_values_never_appear_in_any_command_or_format() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let old = write(dir.path(), "old.yaml", &secret("old-value-0000"));
    let incident = std::fs::read_to_string(fixture("examples/incident/incident.yaml")).unwrap();
    let new = write(dir.path(), "new.yaml", &(secret(CANARY) + "---\n" + &incident));
    let b64 = base64::engine::general_purpose::STANDARD.encode(CANARY);
    let mut runs: Vec<Vec<&str>> = Vec::new();
    for format in ["human", "json", "markdown", "sarif", "github"] {
        runs.push(vec!["diff", "--all", "--show-noise", "--format", format, &old, &new]);
        runs.push(vec!["diff", "--all", "--format", format, &new, &old]);
        runs.push(vec!["check", "--format", format, "--base", &old, &new]);
        runs.push(vec!["check", "--format", format, &new]);
    }
    runs.push(vec!["alerts", "generate", &new]);
    runs.push(vec!["explain", "sizing/memory-below-floor", &new]);
    for args in runs {
        let out = meterguard(&args);
        assert!(out.status.code().is_some_and(|c| c <= 2), "{args:?}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains(CANARY), "{args:?} printed the canary");
        assert!(!text.contains(&b64), "{args:?} printed the base64 canary");
        assert!(!text.contains(&b64[..20]), "{args:?} printed part of the base64 canary");
    }
    // The duplicate key is reported inside the Secret; its snippet must not show the neighbouring value.
    let human = String::from_utf8(meterguard(&["check", &new]).stdout).unwrap();
    assert!(
        human.contains("schema/duplicate-key") && human.contains("dup: ***"),
        "{}",
        &human[..2000.min(human.len())]
    );
    let human = String::from_utf8(meterguard(&["diff", "--all", &old, &new]).stdout).unwrap();
    assert!(human.contains("*** (before)") && human.contains("*** (after)"), "{human}");
}

/// Credentials written outside a Secret: a remote_write password in a Prometheus ConfigMap, next to
/// a duplicate key (a finding whose snippet shows the line), Kubecost's Slack webhook, and command-line
/// flags whose value is the next argument or the next word of a shell line, before a duplicate key.
fn configs(value: &str) -> String {
    let args = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: opencost, namespace: opencost}}\nspec:\n  \
         selector: {{matchLabels: {{app: opencost}}}}\n  template:\n    metadata: {{labels: {{app: opencost}}}}\n    \
         spec:\n      containers:\n      - name: opencost\n        image: ghcr.io/opencost/opencost:1.113.0\n        \
         command: [sh, -c, \"exec opencost --token {value}\"]\n        args:\n        - --password\n        - {value}\n        \
         image: ghcr.io/opencost/opencost:1.113.0\n---\n"
    );
    args + &format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: prometheus-server\n  namespace: kubecost\ndata:\n  dup: a\n  prometheus.yml: |\n    remote_write:\n      - url: https://mimir.example.com/api/v1/push\n        basic_auth:\n          username: metering\n          password: {value}\n  dup: b\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: alert-configs\n  namespace: kubecost\ndata:\n  alerts.json: '{{\"alerts\":[{{\"type\":\"diagnostic\",\"window\":\"10m\"}}],\"enabled\":true,\"globalSlackWebhookUrl\":\"https://hooks.slack.com/services/{value}\"}}'\n---\n"
    )
}

#[test]
fn credentials_in_configmaps_never_appear_in_any_command_or_format() {
    let dir = tempfile::tempdir().unwrap();
    let kubecost = std::fs::read_to_string(fixture("tests/fixtures/corpus/kubecost-2.3.3-default.yaml")).unwrap();
    // The endpoint cost-model reads, with a password in the URL: it is printed in the reason of
    // the Prometheus's verdict.
    // And in the environment variable that holds the cloud provider's API key.
    let endpoint = |value: &str| {
        kubecost
            .replace(
                "prometheus-server-endpoint: http://kubecost-prometheus-server.kubecost\n",
                &format!("prometheus-server-endpoint: http://metering:{value}@kubecost-prometheus-server.kubecost\n"),
            )
            .replace("value: \"AIzaSyDXQPG_MHUEy9neR7stolq6l0ujXmjJlvk\"", &format!("value: \"{value}\""))
    };
    assert_ne!(endpoint(CANARY), kubecost);
    let old = write(dir.path(), "old.yaml", &(configs("old-value-0000") + &endpoint("old-value-0000")));
    let new = write(dir.path(), "new.yaml", &(configs(CANARY) + &endpoint(CANARY)));
    for format in ["human", "json", "markdown", "sarif", "github"] {
        for args in [
            vec!["diff", "--all", "--show-noise", "--format", format, &old, &new],
            vec!["diff", "--format", format, &old, &new],
            vec!["check", "--format", format, &new],
        ] {
            let out = meterguard(&args);
            let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
            assert!(!text.contains(CANARY), "{args:?} printed the canary");
        }
    }
    let human = String::from_utf8(meterguard(&["check", &new]).stdout).unwrap();
    assert!(human.contains("password: ***"), "the snippet of the duplicate key shows the masked line");
    let v = json(&meterguard(&["check", "--format", "json", &new]));
    let prometheus =
        v["workloads"].as_array().unwrap().iter().find(|w| w["object"]["name"] == "kubecost-prometheus-server");
    let reason = prometheus.map(|w| w["reason"].as_str().unwrap().to_owned()).unwrap_or_default();
    assert!(reason.contains("http://metering:***@kubecost-prometheus-server.kubecost"), "{reason}");
    // Kubecost's alert configs are among what the default diff shows, masked; a changed password says so.
    let diff = String::from_utf8(meterguard(&["diff", &old, &new]).stdout).unwrap();
    assert!(diff.contains(r#"globalSlackWebhookUrl\":\"***\"}" (after)"#), "{diff}");
    let all = String::from_utf8(meterguard(&["diff", "--all", &old, &new]).stdout).unwrap();
    assert!(all.contains("password: *** (before)") && all.contains("password: *** (after)"), "{all}");
    assert!(diff.contains("value: *** (after)"), "the API key's change is shown, masked");
    assert!(
        human.contains("│         - ***\n"),
        "the snippet of the duplicate image shows the masked argument: {human}"
    );
    assert!(all.contains("- *** (after)") && all.contains("--token *** (after)"), "{all}");
}

#[test]
fn scrape_jobs_read_from_a_secret_are_never_named() {
    // kube-prometheus-stack's additionalScrapeConfigs Secret, whose job scrapes kube-state-metrics;
    // an alert on a job whose name sorts next to it (job-mismatch names the nearest jobs); and a
    // metering workload nothing covers (alerts generate names the kube-state-metrics job).
    use base64::Engine;
    let scrape = format!(
        "- job_name: {CANARY}\n  basic_auth: {{username: u, password: {CANARY}}}\n  static_configs: \
         [{{targets: ['kube-state-metrics.monitoring:8080']}}]\n"
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(&scrape);
    let text = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: extra, namespace: monitoring}}\ndata:\n  scrape.yaml: {b64}\n\
         ---\napiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {{name: main, namespace: monitoring}}\n\
         spec:\n  ruleSelector: {{}}\n  additionalScrapeConfigs: {{name: extra, key: scrape.yaml}}\n\
         ---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: kube-state-metrics, namespace: monitoring}}\n\
         spec:\n  selector: {{matchLabels: {{app.kubernetes.io/name: kube-state-metrics}}}}\n  template:\n    \
         metadata: {{labels: {{app.kubernetes.io/name: kube-state-metrics}}}}\n    spec:\n      containers:\n      \
         - {{name: ksm, image: registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0}}\n\
         ---\napiVersion: v1\nkind: Service\nmetadata: {{name: kube-state-metrics, namespace: monitoring}}\n\
         spec: {{selector: {{app.kubernetes.io/name: kube-state-metrics}}, ports: [{{port: 8080}}]}}\n\
         ---\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {{name: r, namespace: monitoring}}\n\
         spec:\n  groups: [{{name: r, rules: [{{alert: Near, expr: 'up{{job=\"canary-7f3a9e-do-nxt\"}} == 0'}}]}}]\n\
         ---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: opencost, namespace: opencost}}\nspec:\n  \
         template:\n    metadata: {{labels: {{app.kubernetes.io/name: opencost}}}}\n    spec:\n      containers:\n      \
         - {{name: opencost, image: 'ghcr.io/opencost/opencost:1.120.1'}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "stack.yaml", &text);
    let (_, v) = check_text(dir.path(), "stack.yaml", text.as_bytes());
    let mismatch = v["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "alerts/job-mismatch");
    let help = mismatch.expect("the alert's job is not scraped")["help"].as_str().unwrap();
    assert!(help.contains("1 more from additionalScrapeConfigs"), "{help}");
    let generated = String::from_utf8(meterguard(&["alerts", "generate", &path]).stdout).unwrap();
    assert!(generated.contains("kube_pod_container_status_waiting_reason"), "{generated}");
    for format in ["human", "json", "markdown", "sarif", "github"] {
        let out = meterguard(&["check", "--format", format, &path]);
        let all = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(!all.contains(CANARY), "{format} printed the canary");
    }
    assert!(!generated.contains(CANARY), "{generated}");
}

#[test]
fn a_mistyped_secret_value_is_reported_without_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  flag: 0x7f3a9e\n";
    let (code, v) = check_text(dir.path(), "s.yaml", text.as_bytes());
    assert_eq!(code, 1);
    assert_at(&v, "schema/invalid-type", 5, 9, "`stringData[flag]`: expected a string, found a number");
    let all = v.to_string()
        + &String::from_utf8_lossy(&meterguard(&["check", &dir.path().join("s.yaml").to_string_lossy()]).stdout);
    assert!(!all.contains("7f3a9e") && !all.contains("8338078"), "{all}");
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let inputs = ["tests/fixtures/corpus", "examples/incident/incident.yaml", "tests/fixtures/rules"];
    for format in ["human", "json", "sarif", "markdown", "github"] {
        let mut args = vec!["check", "--format", format];
        args.extend(inputs);
        let a = meterguard(&args);
        let b = meterguard(&args);
        assert_eq!(a.stdout, b.stdout, "{format}");
    }
    let a = meterguard(&["diff", "examples/incident/fix.yaml", "examples/incident/incident.yaml"]);
    let b = meterguard(&["diff", "examples/incident/fix.yaml", "examples/incident/incident.yaml"]);
    assert_eq!(a.stdout, b.stdout);
}

/// Documents are parsed and rules compiled on all cores; the output must not depend on how many.
#[test]
fn the_same_bytes_whatever_the_number_of_threads() {
    let run = |threads: &str, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_meterguard"))
            .args(args)
            .current_dir(root())
            .env("NO_COLOR", "1")
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap()
            .stdout
    };
    let check = [
        "check",
        "--format",
        "json",
        "tests/fixtures/corpus",
        "examples/incident/incident.yaml",
        "tests/fixtures/rules",
    ];
    let diff = ["diff", "--format", "json", "examples/incident/fix.yaml", "examples/incident/incident.yaml"];
    for args in [&check[..], &diff[..]] {
        let one = run("1", args);
        assert!(one.len() > 1000);
        for threads in ["2", "3", "8"] {
            assert_eq!(run(threads, args), one, "{threads} threads: {args:?}");
        }
    }
}

/// The binary's only child process is `helm` (for `meterguard helm`), run with an argument list;
/// no crate that opens sockets is linked, and no source file names one.
#[test]
fn no_network_and_nothing_executed_from_the_input() {
    let lock = std::fs::read_to_string(fixture("Cargo.lock")).unwrap();
    for net in ["\"hyper\"", "\"reqwest\"", "\"ureq\"", "\"tokio\"", "\"mio\"", "\"socket2\"", "\"curl\""] {
        assert!(!lock.contains(&format!("name = {net}")), "{net} is in Cargo.lock");
    }
    for entry in walkdir::WalkDir::new(fixture("src")) {
        let entry = entry.unwrap();
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for bad in ["TcpStream", "UdpSocket", "TcpListener", "UnixStream", "sh\", \"-c", "\"bash\""] {
            assert!(!text.contains(bad), "{} names {bad}", entry.path().display());
        }
        let spawns = text.matches("Command::new(").count();
        let allowed = if entry.path().ends_with("helm.rs") { 1 } else { 0 };
        assert_eq!(spawns, allowed, "{} starts a process", entry.path().display());
    }
    // And, where strace is installed, the system calls of a real run.
    let Ok(strace) = which("strace") else { return };
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let out = std::process::Command::new(strace)
        .args(["-f", "-qq", "-e", "trace=%network,execve,execveat", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_meterguard"))
        .args(["check", "--format", "json", "examples/incident/incident.yaml", "tests/fixtures/corpus"])
        .current_dir(root())
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(&trace).unwrap_or_default();
    if !out.status.success() && out.status.code() != Some(1) && calls.is_empty() {
        return; // strace cannot trace here (no ptrace permission)
    }
    let lines: Vec<&str> = calls.lines().filter(|l| !l.contains("+++") && !l.contains("---")).collect();
    let execs: Vec<&&str> = lines.iter().filter(|l| l.contains("execve")).collect();
    assert_eq!(execs.len(), 1, "only meterguard itself is executed: {lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("socket(") || l.contains("connect(")), "{lines:#?}");
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
        .ok_or(())
}
