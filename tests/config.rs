//! `.meterguard.yaml`: validation with located errors, init, custom profiles, the scale model,
//! suppressions and exemptions.

mod common;
use common::*;

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let p = dir.join(".meterguard.yaml");
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn config_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), text);
    let out = meterguard(&["check", "--config", &cfg, "tests/fixtures/config/billing.yaml"]);
    assert_eq!(out.status.code(), Some(2), "an invalid config exits 2");
    String::from_utf8_lossy(&out.stderr).replace(&cfg, "CFG")
}

#[test]
fn unknown_key_is_located_with_did_you_mean() {
    let e = config_error("rules: {}\nmetring:\n  include: []\n");
    assert!(e.contains("CFG:2:1: unknown key `metring` in the top level (did you mean `metering`?)"), "{e}");
    let e = config_error("metering:\n  include:\n    - namespace: [x]\n");
    assert!(e.contains("CFG:3:7: unknown key `namespace`"), "{e}");
    assert!(e.contains("did you mean `namespaces`?"), "{e}");
}

#[test]
fn wrong_type_and_out_of_range_are_located() {
    let e = config_error("scale:\n  nodes: many\n");
    assert!(e.contains("CFG:2:10: scale.nodes:"), "{e}");
    let e = config_error("profiles:\n  x:\n    headroom_ratio: 0.5\n");
    assert!(e.contains("CFG:3:21: profiles.x.headroom_ratio:"), "{e}");
    let e = config_error("rules:\n  sizing/memory-below-floor: loud\n");
    assert!(e.contains("CFG:2:30:"), "{e}");
}

#[test]
fn bad_regex_is_located() {
    let e = config_error("metering:\n  include:\n    - names: [\"re:([a-z\"]\n");
    assert!(e.contains("CFG:3:15: `re:([a-z` is not a valid pattern"), "{e}");
}

#[test]
fn missing_reason_is_rejected() {
    let e = config_error("exemptions:\n  - rules: [\"probes/*\"]\n");
    assert!(e.contains("CFG:2:5:") && e.contains("reason"), "{e}");
}

#[test]
fn expired_exemption_stops_applying_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "exemptions:\n  - rules: [\"sizing/*\"]\n    names: [billing-exporter]\n    reason: accepted\n    expires: \"2020-01-01\"\n",
    );
    let out = meterguard(&["check", "--format", "json", "--config", &cfg, "tests/fixtures/rules/sizing-bad.yaml"]);
    let v = json(&out);
    let expired = &findings(&v, "config/exemption-expired")[0];
    assert_eq!(expired["file"], cfg.as_str());
    assert_eq!((expired["line"].as_u64(), expired["column"].as_u64()), (Some(2), Some(5)));
    assert!(findings(&v, "sizing/limit-below-request").iter().all(|f| f["suppressed"] == false));
    let live = write_config(
        dir.path(),
        "exemptions:\n  - rules: [\"sizing/*\"]\n    names: [billing-exporter]\n    reason: accepted\n    expires: \"2999-01-01\"\n",
    );
    let v =
        json(&meterguard(&["check", "--format", "json", "--config", &live, "tests/fixtures/rules/sizing-bad.yaml"]));
    let f = &findings(&v, "sizing/limit-below-request")[0];
    assert_eq!(f["suppressed"], true);
    assert_eq!(f["suppression"]["reason"], "accepted");
    assert!(v["summary"]["suppressed"].as_u64().unwrap() >= 5);
}

#[test]
fn init_writes_a_config_that_validates_against_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_string_lossy().into_owned();
    assert!(meterguard(&["init", &d]).status.success());
    assert_eq!(meterguard(&["init", &d]).status.code(), Some(2), "no silent overwrite");
    let text = std::fs::read_to_string(dir.path().join(".meterguard.yaml")).unwrap();
    assert!(text.starts_with("# yaml-language-server: $schema=.meterguard.schema.json"));
    // Validate the YAML (as JSON) against `meterguard schema` with the jsonschema crate.
    let schema: serde_json::Value = serde_json::from_slice(&meterguard(&["schema"]).stdout).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(".meterguard.schema.json")).unwrap()).unwrap();
    assert_eq!(schema, written);
    // As written it sets nothing; its examples, uncommented, are valid settings, as is the full
    // example of examples/meterguard.yaml.
    assert!(meterguard::input::yaml::parse_stream(&text).documents.is_empty(), "inert:\n{text}");
    let uncommented: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("# ").filter(|_| !l.starts_with("##")))
        .map(|l| format!("{l}\n"))
        .collect();
    let uncommented = uncommented.replace("yaml-language-server: $schema=.meterguard.schema.json\n", "");
    let full = std::fs::read_to_string(root().join("examples/meterguard.yaml")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for example in [&uncommented, &full] {
        let parsed = meterguard::input::yaml::parse_stream(example);
        assert!(parsed.problems.is_empty(), "{:?}\n{example}", parsed.problems);
        let instance = parsed.documents[0].root.to_json_as(meterguard::input::node::Schema::Core);
        assert!(instance.as_object().is_some_and(|o| o.len() >= 8), "every section: {instance}");
        let errors: Vec<String> = validator.iter_errors(&instance).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    // And the binary accepts it.
    let cfg = dir.path().join(".meterguard.yaml").to_string_lossy().into_owned();
    assert_ne!(meterguard(&["check", "--config", &cfg, "tests/fixtures/config/billing.yaml"]).status.code(), Some(2));
}

#[test]
fn custom_profile_makes_an_in_house_exporter_metering_with_its_floor() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "profiles:\n  billing-exporter:\n    memory_floor: 256Mi\n    headroom_ratio: 1.5\n    match:\n      labels: {app: billing-exporter}\n",
    );
    let v = json(&meterguard(&["check", "--format", "json", "--config", &cfg, "tests/fixtures/config/billing.yaml"]));
    let w = v["workloads"].as_array().unwrap().iter().find(|w| w["object"]["name"] == "billing-exporter").unwrap();
    assert_eq!(w["metering"], true);
    assert_eq!(w["profile"], "billing-exporter");
    let floor = &findings(&v, "sizing/memory-below-floor")[0];
    assert_eq!(floor["line"], 15);
    assert!(floor["message"].as_str().unwrap().contains("below the 256Mi floor of profile billing-exporter"));
    let headroom = &findings(&v, "sizing/memory-headroom")[0];
    assert_eq!(headroom["line"], 16);
    // Without the config it is not metering at all.
    let (_, plain) = check_json("tests/fixtures/config/billing.yaml");
    assert!(findings(&plain, "sizing/memory-below-floor").is_empty());
}

#[test]
fn suppression_annotation_marks_findings_and_wants_a_reason() {
    let (_, v) = check_json("tests/fixtures/config/billing.yaml");
    let sizing: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["object"]["name"] == "opencost" && f["rule"].as_str().unwrap().starts_with("sizing/"))
        .collect();
    assert!(!sizing.is_empty());
    assert!(sizing.iter().all(|f| f["suppressed"] == true));
    let w = &findings(&v, "config/suppression-without-reason")[0];
    assert_eq!(w["line"], 24);
    let human =
        String::from_utf8_lossy(&meterguard(&["check", "tests/fixtures/config/billing.yaml"]).stdout).into_owned();
    assert!(human.contains(&format!("({} suppressed)", sizing.len())), "{human}");
}

#[test]
fn scale_raises_and_lowers_the_prometheus_floor() {
    let dir = tempfile::tempdir().unwrap();
    let big = write_config(dir.path(), "scale:\n  active_series: 2000000\n");
    let v = json(&meterguard(&["check", "--format", "json", "--config", &big, "examples/incident/fix.yaml"]));
    let f = &findings(&v, "sizing/memory-below-floor")[0];
    assert!(f["message"].as_str().unwrap().contains("below the 11.44Gi"), "{}", f["message"]);
    assert!(f["help"].as_str().unwrap().contains("2000000 active series (declared) x 3072 bytes per series"));
    let small = write_config(dir.path(), "scale:\n  nodes: 20\n  pods: 400\n");
    let v = json(&meterguard(&["check", "--format", "json", "--config", &small, "examples/incident/incident.yaml"]));
    assert!(findings(&v, "sizing/memory-below-floor").is_empty(), "a small cluster fits in 2Gi/3Gi");
    let out =
        meterguard(&["explain", "sizing/memory-below-floor", "examples/incident/incident.yaml", "--config", &small]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("20 nodes x 1000 + 400 pods x 150 = 80000 active series"), "{text}");
    assert!(text.contains("= 234.38Mi"), "{text}");
}

#[test]
fn rule_settings_turn_rules_off_or_change_severity() {
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        write_config(dir.path(), "rules:\n  sizing/cpu-request-missing: off\n  sizing/memory-limit-missing: error\n");
    let v = json(&meterguard(&["check", "--format", "json", "--config", &cfg, "tests/fixtures/rules/sizing-bad.yaml"]));
    assert!(findings(&v, "sizing/cpu-request-missing").is_empty());
    assert!(findings(&v, "sizing/memory-limit-missing").iter().all(|f| f["severity"] == "error"));
}

#[test]
fn config_is_discovered_from_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    write_config(dir.path(), "rules:\n  sizing/cpu-request-missing: off\n");
    let sub = dir.path().join("charts");
    std::fs::create_dir(&sub).unwrap();
    let manifest = root().join("tests/fixtures/rules/sizing-bad.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_meterguard"))
        .args(["check", "--format", "json", &manifest.to_string_lossy()])
        .current_dir(&sub)
        .output()
        .unwrap();
    assert!(findings(&json(&out), "sizing/cpu-request-missing").is_empty());
}

#[test]
fn metering_include_and_exclude_selectors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "metering:\n  include:\n    - namespaces: [payments]\n      images: [\"re:registry\\\\.example\\\\.com/billing-.*\"]\n  exclude:\n    - names: [opencost]\n",
    );
    let v = json(&meterguard(&["check", "--format", "json", "--config", &cfg, "tests/fixtures/config/billing.yaml"]));
    let w =
        |name: &str| v["workloads"].as_array().unwrap().iter().find(|w| w["object"]["name"] == name).unwrap().clone();
    assert_eq!(w("billing-exporter")["metering"], true);
    assert!(w("billing-exporter")["reason"].as_str().unwrap().starts_with("config selector"));
    assert_eq!(w("opencost")["metering"], false);
    assert!(w("opencost")["reason"].as_str().unwrap().starts_with("excluded by config selector"));
}

#[test]
fn scale_tells_when_the_volume_fills_before_the_retention_time_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let rule = "storage/volume-below-retention";
    let check = |scale: &str, manifest: &str| {
        let cfg = write_config(dir.path(), &format!("scale:\n  {scale}\n"));
        json(&meterguard(&["check", "--format", "json", "--config", &cfg, manifest]))
    };
    // Kubecost 2.3.3's bundled server: 97h on a 32Gi claim, scraping every 1m.
    let kubecost = "tests/fixtures/corpus/kubecost-2.3.3-default.yaml";
    let v = check("active_series: 3000000", kubecost);
    let f = findings(&v, rule);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["line"], 24029, "at the retention flag");
    assert!(
        f[0]["message"].as_str().unwrap().starts_with("97h of retention needs about 42.28Gi"),
        "{}",
        f[0]["message"]
    );
    assert!(f[0]["help"].as_str().unwrap().contains("3000000 series / 60s x 349200s x 2 bytes per sample x 1.3"));
    assert!(findings(&check("nodes: 20\n  pods: 400", kubecost), rule).is_empty(), "a small cluster fits");
    assert!(findings(&json(&meterguard(&["check", "--format", "json", kubecost])), rule).is_empty(), "no scale");
    // An operator Prometheus: 30d every 30s on 50Gi; a retention size bounds the disk by itself.
    let operator = |size: &str| {
        format!(
            "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata:\n  name: metering\n  namespace: monitoring\n  annotations: {{meterguard.io/metering: \"true\"}}\nspec:\n  retention: 30d\n{size}  storage:\n    volumeClaimTemplate:\n      spec:\n        resources: {{requests: {{storage: 50Gi}}}}\n"
        )
    };
    let p = dir.path().join("prometheus.yaml");
    std::fs::write(&p, operator("")).unwrap();
    let path = p.to_string_lossy().into_owned();
    let f = findings(&check("active_series: 300000", &path), rule).into_iter().cloned().collect::<Vec<_>>();
    assert_eq!((f.len(), f[0]["line"].as_u64()), (1, Some(8)), "{f:#?}");
    assert!(findings(&check("active_series: 200000", &path), rule).is_empty());
    std::fs::write(&p, operator("  retentionSize: 40GB\n")).unwrap();
    assert!(findings(&check("active_series: 300000", &path), rule).is_empty());
}

#[test]
fn an_input_rule_turned_off_still_says_what_was_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "rules:\n  input/yaml-syntax: off\n");
    let manifest = dir.path().join("m.yaml");
    std::fs::write(&manifest, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: [unclosed\n").unwrap();
    let m = manifest.to_string_lossy();
    let out = meterguard(&["check", "--format", "json", "--config", &cfg, &m]);
    assert_eq!(out.status.code(), Some(0), "accepted by the user: {}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    let skipped = findings(&v, "input/yaml-syntax");
    assert_eq!(skipped.len(), 1, "{v}");
    assert!(skipped[0]["line"].as_u64() >= Some(5), "in the broken document: {v}");
    assert!(skipped[0]["suppression"]["by"].as_str().unwrap().contains("input/yaml-syntax: off"), "{v}");
    let human = meterguard(&["check", "--config", &cfg, &m]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("(1 suppressed)"),
        "{}",
        String::from_utf8_lossy(&human.stdout)
    );
    // Without the setting the same input fails closed.
    let strict = meterguard(&["check", "--format", "json", &m]);
    assert_eq!(strict.status.code(), Some(2));
}

#[test]
fn init_changes_nothing_and_every_summary_names_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_string_lossy().into_owned();
    assert!(meterguard(&["init", &d]).status.success());
    let cfg = dir.path().join(".meterguard.yaml").to_string_lossy().into_owned();
    let incident = "examples/incident/incident.yaml";
    let without = json(&meterguard(&["check", "--format", "json", incident]));
    let with = json(&meterguard(&["check", "--format", "json", "--config", &cfg, incident]));
    for rule in ["sizing/memory-below-floor", "sizing/memory-headroom"] {
        assert_eq!(findings(&with, rule).len(), 1, "{rule} after init");
    }
    assert_eq!(without["findings"], with["findings"], "the starter changes no finding");
    assert_eq!(without["summary"]["config"], serde_json::Value::Null);
    assert_eq!(with["summary"]["config"], cfg.as_str());
    let human = String::from_utf8(meterguard(&["check", "--config", &cfg, incident]).stdout).unwrap();
    assert!(human.trim_end().ends_with(&format!("; config {cfg}")), "{human}");
    let plain = String::from_utf8(meterguard(&["check", incident]).stdout).unwrap();
    assert!(plain.trim_end().ends_with("; no config file"), "{plain}");
    let md = String::from_utf8(meterguard(&["check", "--format", "markdown", incident]).stdout).unwrap();
    assert!(md.contains("No config file: the defaults."), "{md}");
    let sarif = json(&meterguard(&["check", "--format", "sarif", "--config", &cfg, incident]));
    assert_eq!(sarif["runs"][0]["properties"]["config"], cfg.as_str());
    let diff = String::from_utf8(meterguard(&["diff", "examples/incident/fix.yaml", incident]).stdout).unwrap();
    assert!(diff.trim_end().ends_with("; no config file"), "{diff}");
}

#[test]
fn rule_ids_are_checked_where_the_user_writes_them() {
    let err = config_error("rules:\n  sizing/memroy-below-floor: off\n");
    assert!(
        err.contains(":2:3: rules: `sizing/memroy-below-floor` is no rule (did you mean `sizing/memory-below-floor`?)"),
        "{err}"
    );
    let err = config_error("exemptions:\n  - rules: [\"probes/*\", \"prob/x\"]\n    reason: accepted\n");
    assert!(err.contains(":2:25: exemption rules: `prob/x` matches no rule"), "{err}");
    // On an object: a warning where the annotation stands; the ids that match still apply.
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n  annotations:\n    \
         meterguard.io/ignore: \"sizing/cpu-request-mising, sizing/memory-*\"\n    meterguard.io/ignore-reason: test\n\
         spec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27\n",
    )
    .unwrap();
    let v = json(&meterguard(&["check", "--format", "json", &manifest.to_string_lossy()]));
    let unknown = findings(&v, "config/unknown-rule");
    assert_eq!(unknown.len(), 1, "{v}");
    assert_eq!(unknown[0]["line"], 7);
    assert!(unknown[0]["message"].as_str().unwrap().contains("`sizing/cpu-request-mising`"));
    assert!(findings(&v, "sizing/memory-request-missing").iter().all(|f| f["suppressed"] == true));
}
