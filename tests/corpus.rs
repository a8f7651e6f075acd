//! The real renders: the postmortem's incident is caught at the right lines, its fix is clean.

mod common;
use common::*;

const PROM: &str = "kubecost-prometheus-server";
const PROM_TEMPLATE: &str = "cost-analyzer/charts/prometheus/templates/server-deployment.yaml";

fn on_prometheus<'v>(v: &'v serde_json::Value, prefix: &str) -> Vec<&'v serde_json::Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["object"]["name"] == PROM && f["rule"].as_str().unwrap().starts_with(prefix))
        .collect()
}

fn at(v: &serde_json::Value, rule: &str) -> (u64, u64) {
    let f = &findings(v, rule)[0];
    (f["line"].as_u64().unwrap(), f["column"].as_u64().unwrap())
}

#[test]
fn lepton_incident_is_caught_at_the_memory_lines() {
    let (code, v) = check_json("examples/incident/incident.yaml");
    assert_eq!(code, 1);
    let floor = &findings(&v, "sizing/memory-below-floor")[0];
    assert_eq!(floor["severity"], "error");
    assert_eq!(
        floor["object"],
        serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "kubecost-cost-analyzer", "name": PROM})
    );
    assert_eq!(floor["container"], "prometheus-server");
    assert_eq!(floor["template"], PROM_TEMPLATE);
    assert_eq!(floor["file"], "examples/incident/incident.yaml");
    // requests.memory: 2Gi and limits.memory: 3Gi in the render
    assert_eq!(at(&v, "sizing/memory-below-floor"), (20093, 23));
    assert_eq!(at(&v, "sizing/memory-headroom"), (20089, 23));
    assert!(floor["help"].as_str().unwrap().contains("requests.memory: 4Gi and limits.memory: 6Gi"));
    assert_eq!(at(&v, "probes/liveness-during-startup"), (20077, 11));
    let eph = &findings(&v, "storage/ephemeral-tsdb")[0];
    assert_eq!(eph["severity"], "warning", "it remote-writes to AMP");
    assert_eq!(eph["line"], 20111);
}

#[test]
fn lepton_fix_has_no_sizing_finding_on_prometheus() {
    let (_, v) = check_json("examples/incident/fix.yaml");
    assert!(on_prometheus(&v, "sizing/").is_empty(), "{:#?}", on_prometheus(&v, "sizing/"));
    assert_eq!(v["summary"]["metering_workloads"], 2);
}

#[test]
fn kubecost_2_incident_and_fix() {
    let (code, v) = check_json("tests/fixtures/corpus/kubecost-2.3.3-incident.yaml");
    assert_eq!(code, 1);
    let sizing: Vec<_> = on_prometheus(&v, "sizing/").into_iter().filter(|f| f["severity"] == "error").collect();
    assert_eq!(sizing.len(), 2, "below floor and headroom");
    let (_, fix) = check_json("tests/fixtures/corpus/kubecost-2.3.3-fix.yaml");
    assert!(on_prometheus(&fix, "sizing/").is_empty());
}

#[test]
fn kubecost_default_prometheus_has_no_resources() {
    let (_, v) = check_json("tests/fixtures/corpus/kubecost-2.3.3-default.yaml");
    let missing: Vec<_> = on_prometheus(&v, "sizing/memory-request-missing");
    assert_eq!(missing.len(), 1);
    let prom = v["workloads"].as_array().unwrap().iter().find(|w| w["object"]["name"] == PROM).unwrap();
    assert_eq!(prom["metering"], true);
    assert_eq!(prom["profile"], "prometheus-server");
    assert!(
        prom["reason"].as_str().unwrap().contains("PROMETHEUS_SERVER_ENDPOINT"),
        "found through the cost model's endpoint"
    );
    let grafana =
        v["workloads"].as_array().unwrap().iter().find(|w| w["object"]["name"] == "kubecost-grafana").unwrap();
    assert_eq!(grafana["metering"], false);
}

#[test]
fn monitoring_stacks_alone_are_not_metering() {
    for f in ["kps-default.yaml", "prometheus-default.yaml"] {
        let (code, v) = check_json(&format!("tests/fixtures/corpus/{f}"));
        assert_eq!(code, 0, "{f}");
        assert_eq!(v["summary"]["metering_workloads"], 0, "{f}");
        assert!(v["workloads"].as_array().unwrap().len() > 3, "{f}: every workload is listed with a verdict");
    }
}

#[test]
fn opencost_default_is_metering_and_quiet() {
    let (_, v) = check_json("tests/fixtures/corpus/opencost-default.yaml");
    let not_alerts: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info" && !f["rule"].as_str().unwrap().starts_with("alerts/"))
        .collect();
    assert!(not_alerts.is_empty(), "{not_alerts:#?}");
    // Checked alone, the chart holds no evaluator: one finding says coverage cannot be judged.
    assert_eq!(findings(&v, "alerts/no-evaluator").len(), 1, "{v}");
    assert!(findings(&v, "alerts/crashloop-uncovered").is_empty());
    assert_eq!(v["workloads"].as_array().unwrap().iter().filter(|w| w["coverage"]["unknown"] == true).count(), 1);
    let oc = v["workloads"].as_array().unwrap().iter().find(|w| w["object"]["name"] == "opencost").unwrap();
    assert_eq!(oc["profile"], "cost-model");
}

#[test]
fn stdin_and_namespace_default() {
    let text = std::fs::read(root().join("tests/fixtures/rules/sizing-bad.yaml")).unwrap();
    let text = String::from_utf8(text).unwrap().replace("  namespace: metering\n", "");
    let out = meterguard_stdin(&["check", "--format", "json", "-n", "metering", "-"], text.as_bytes());
    let v = json(&out);
    assert_eq!(out.status.code(), Some(1));
    let f = &v["findings"][0];
    assert_eq!(f["file"], "<stdin>");
    assert_eq!(f["object"]["namespace"], "metering");
    assert_eq!(f["template"], serde_json::Value::Null);
}

#[test]
fn list_kinds_and_json_input_are_expanded() {
    let list = serde_json::json!({
        "apiVersion": "v1", "kind": "List",
        "items": [{
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "opencost", "namespace": "opencost"},
            "spec": {"template": {"metadata": {"labels": {"app": "opencost"}},
                "spec": {"containers": [{"name": "opencost", "image": "ghcr.io/opencost/opencost:1.120.1"}]}}}
        }, 7]
    });
    let text = serde_json::to_string_pretty(&list).unwrap();
    let out = meterguard_stdin(&["check", "--format", "json"], text.as_bytes());
    let v = json(&out);
    assert_eq!(out.status.code(), Some(2), "the non-object item is an input error");
    assert_eq!(findings(&v, "input/not-an-object").len(), 1);
    assert_eq!(findings(&v, "sizing/memory-request-missing").len(), 1);
    assert_eq!(v["summary"]["metering_workloads"], 1);
}

#[test]
fn fail_on_thresholds() {
    // A correct manifest whose only findings are turned down to info.
    let p = "tests/fixtures/rules/probes-good.yaml";
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "rules:\n  alerts/no-evaluator: info\n").unwrap();
    let cfg = cfg.to_string_lossy();
    assert_eq!(meterguard(&["check", p, "--config", &cfg, "--fail-on", "info"]).status.code(), Some(1));
    assert_eq!(meterguard(&["check", p, "--config", &cfg, "--fail-on", "warning"]).status.code(), Some(0));
    assert_eq!(meterguard(&["check", p, "--config", &cfg]).status.code(), Some(0));
    let bad = "examples/incident/incident.yaml";
    assert_eq!(meterguard(&["check", bad, "--fail-on", "never"]).status.code(), Some(0));
    assert_eq!(meterguard(&["check", bad, "--fail-on", "bogus"]).status.code(), Some(2));
}

#[test]
fn directories_are_read_recursively_and_missing_paths_reported() {
    let out = meterguard(&["check", "--format", "json", "tests/fixtures/corpus", "no/such/file.yaml"]);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(2));
    let missing = &findings(&v, "input/unreadable")[0];
    assert_eq!(missing["file"], "no/such/file.yaml");
    assert!(v["summary"]["objects"].as_u64().unwrap() > 150, "the other files were read");
}

#[test]
fn output_is_deterministic() {
    let a = meterguard(&["check", "--format", "json", "tests/fixtures/corpus", "examples/incident/incident.yaml"]);
    let b = meterguard(&["check", "--format", "json", "tests/fixtures/corpus", "examples/incident/incident.yaml"]);
    assert_eq!(a.stdout, b.stdout);
    let a = meterguard(&["check", "examples/incident/incident.yaml"]);
    let b = meterguard(&["check", "examples/incident/incident.yaml"]);
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn reports_do_not_depend_on_the_thread_count() {
    // Parsing, the model, the rules and the human snippets run on all cores; every format must
    // come out byte for byte the same on one thread or several.
    let run = |threads: &str, format: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_meterguard"))
            .args(["check", "--format", format, "tests/fixtures", "examples/incident/incident.yaml"])
            .current_dir(root())
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(out.stdout.len() > 1000, "{format}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    for format in ["human", "json", "sarif", "markdown", "github"] {
        assert!(run("1", format) == run("3", format), "{format} differs on 1 and 3 threads");
    }
}

#[test]
fn json_and_sarif_are_written_as_serde_json_pretty_prints_them() {
    // The reports' long arrays are written piece by piece on all cores (report::write_array):
    // the bytes must be those serde_json's pretty printer gives the same document, with
    // findings, with workloads, and with neither.
    for path in ["tests/fixtures", "examples/incident/incident.yaml", "tests/fixtures/rules/sizing-good.yaml"] {
        for format in ["json", "sarif"] {
            let out = meterguard(&["check", "--format", format, path]);
            let text = String::from_utf8(out.stdout).unwrap();
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(text, serde_json::to_string_pretty(&doc).unwrap() + "\n", "{format} of {path}");
        }
    }
    let quiet = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: b}\ndata: {k: v}\n";
    let empty = meterguard_stdin(&["check", "--format", "json", "-"], quiet);
    let text = String::from_utf8(empty.stdout).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["findings"], serde_json::json!([]));
    assert_eq!(doc["workloads"], serde_json::json!([]));
    assert_eq!(text, serde_json::to_string_pretty(&doc).unwrap() + "\n");
}

/// The incident render as a repository keeps it when each object is a file of its own.
fn one_object_per_file(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let text = std::fs::read_to_string(root().join("examples/incident/incident.yaml")).unwrap();
    let mut files = Vec::new();
    for (i, doc) in text.split("\n---\n").enumerate() {
        if !doc.contains("kind:") {
            continue;
        }
        let path = dir.join(format!("object-{i:03}.yaml"));
        std::fs::write(&path, format!("{doc}\n")).unwrap();
        files.push(path);
    }
    files
}

#[test]
fn the_incident_prometheus_checked_alone_is_still_metering() {
    let dir = tempfile::tempdir().unwrap();
    let files = one_object_per_file(dir.path());
    let prometheus = files
        .iter()
        .find(|f| {
            let t = std::fs::read_to_string(f).unwrap();
            t.contains("kind: Deployment") && t.contains("name: kubecost-prometheus-server")
        })
        .unwrap()
        .to_string_lossy()
        .into_owned();
    // Alone, as a pre-commit hook passes the one file that changed.
    let (code, v) = check_json(&prometheus);
    assert_eq!(code, 1);
    assert_eq!(findings(&v, "sizing/memory-below-floor").len(), 1, "{v}");
    let w = &v["workloads"][0];
    assert_eq!(w["metering"], true);
    assert!(w["reason"].as_str().unwrap().contains("shipped by kubecost"), "{w}");
    // With its directory (the hook's --with-directories), it is judged as in the whole render.
    let whole = json(&meterguard(&["check", "--format", "json", "examples/incident/incident.yaml"]));
    let beside = json(&meterguard(&["check", "--format", "json", "--with-directories", &prometheus]));
    let rules = |v: &serde_json::Value| -> Vec<String> {
        let mut r: Vec<String> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{} {} {}", f["rule"], f["object"]["name"], f["message"]))
            .collect();
        r.sort();
        r
    };
    assert_eq!(rules(&whole), rules(&beside), "the same verdicts as the whole render");
}

#[test]
fn colour_follows_the_target_and_the_environment() {
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_meterguard"));
        cmd.args(["check", "examples/incident/incident.yaml"]).args(args).current_dir(root()).env_remove("NO_COLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let escapes = |b: &[u8]| b.contains(&0x1b);
    // A pipe gets none; FORCE_COLOR asks for them there; NO_COLOR wins.
    assert!(!escapes(&run(&[], &[]).stdout));
    assert!(escapes(&run(&[("FORCE_COLOR", "1")], &[]).stdout));
    assert!(!escapes(&run(&[("FORCE_COLOR", "1"), ("NO_COLOR", "1")], &[]).stdout));
    assert!(!escapes(&run(&[("FORCE_COLOR", "0")], &[]).stdout));
    // A file never gets them unasked, whatever stdout is; --color always is asking.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.txt");
    let f = file.to_string_lossy().into_owned();
    run(&[("FORCE_COLOR", "1")], &["--format", "human", "--output", &f]);
    assert!(!escapes(&std::fs::read(&file).unwrap()));
    run(&[], &["--color", "always", "--format", "human", "--output", &f]);
    assert!(escapes(&std::fs::read(&file).unwrap()));
}

#[test]
fn every_option_and_argument_has_help() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&meterguard::cli::Cli::command(), "meterguard", &mut missing);
    assert!(missing.is_empty(), "no help text: {missing:?}");
    let out = meterguard(&["explain", "sizing/memory-below-flor"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `sizing/memory-below-floor`?"));
}

#[test]
fn an_object_defined_in_two_files_names_the_first_file() {
    let dir = tempfile::tempdir().unwrap();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n";
    let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
    std::fs::write(&a, cm).unwrap();
    std::fs::write(&b, format!("# moved down\n\n{cm}")).unwrap();
    let out = meterguard(&["check", "--format", "json", &a.to_string_lossy(), &b.to_string_lossy()]);
    let v = json(&out);
    let twice = findings(&v, "schema/duplicate-object");
    assert_eq!(twice.len(), 1, "{v}");
    assert_eq!(twice[0]["message"], format!("ConfigMap x/a is defined twice (first in {} at line 1)", a.display()));
}

#[test]
fn human_output_shows_each_place_once_most_severe_first() {
    let out = String::from_utf8(meterguard(&["check", "examples/incident/incident.yaml"]).stdout).unwrap();
    let marks: Vec<char> =
        out.lines().filter_map(|l| l.trim_start().chars().next()).filter(|c| "×⚠☞".contains(*c)).collect();
    let first_warning = marks.iter().position(|c| *c == '⚠').unwrap();
    assert!(marks[first_warning..].iter().all(|c| *c != '×'), "errors first: {marks:?}");
    // The three failure modes of a workload share one snippet.
    assert_eq!(out.matches("20029 │   name: kubecost-prometheus-server").count(), 1, "{out}");
    assert!(out.contains("alerts/crashloop-uncovered, alerts/down-uncovered, alerts/oom-uncovered"));
    // The sizing error the incident is about comes among the first places.
    let floor = out.find("memory request 2Gi is below").unwrap();
    assert!(out[..floor].matches("\n  × ").count() <= 3, "{out}");
}

#[test]
fn an_output_written_before_its_format_still_goes_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    let f = file.to_string_lossy().into_owned();
    let out = meterguard(&["check", "tests/fixtures/rules/sizing-bad.yaml", "-o", &f, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "nothing left for stdout");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v["schema_version"], 1);
}

/// The metering workloads of the vendors' default renders, judged by hand: a vendor's image makes a
/// component metering only in a metering role; its UI, automation and setup Jobs are not.
#[test]
fn vendor_renders_meter_where_an_sre_would_say_they_do() {
    let expected: [(&str, &[&str]); 4] = [
        (
            "kubecost_kubecost--kubecost",
            &[
                "kubecost-aggregator",
                "kubecost-cloud-cost",
                "kubecost-finopsagent",
                "kubecost-forecasting",
                "kubecost-local-store",
                "kubecost-network-costs",
            ],
        ),
        (
            "getlago_lago-helm-charts--lago",
            &[
                "lago-api",
                "lago-billing-worker",
                "lago-clock",
                "lago-clock-worker",
                "lago-events-worker",
                "lago-payment-worker",
                "lago-pdf-worker",
                "lago-webhook-worker",
                "lago-worker",
            ],
        ),
        (
            "openmeterio_openmeter--openmeter",
            &[
                "openmeter-api",
                "openmeter-balance-worker",
                "openmeter-billing-advance-invoices",
                "openmeter-billing-collect-invoices",
                "openmeter-billing-worker",
                "openmeter-notification-service",
                "openmeter-sink-worker",
                "openmeter-subscription-sync",
            ],
        ),
        (
            "Cloudzero_cloudzero-charts@1.2.9--cloudzero-agent",
            &[
                "cloudzero-agent-backfill",
                "cloudzero-agent-cz-aggregator",
                "cloudzero-agent-cz-ksm",
                "cloudzero-agent-cz-server",
                "cloudzero-agent-cz-webhook",
            ],
        ),
    ];
    for (render, names) in expected {
        let (_, v) = check_json(&format!("tests/fixtures/renders/{render}.yaml"));
        let mut found: Vec<String> = v["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["metering"] == true)
            .map(|w| w["object"]["name"].as_str().unwrap().to_owned())
            // CloudZero's backfill Job is named by a hash of its config.
            .map(|n| if n.starts_with("cloudzero-agent-backfill-") { "cloudzero-agent-backfill".to_owned() } else { n })
            .collect();
        found.sort();
        found.dedup();
        assert_eq!(found, names, "{render}");
    }
}
