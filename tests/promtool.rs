//! promtool (Prometheus's own checker) and meterguard agree on which alert expressions are valid,
//! on every expression of the corpus and on broken ones. `.ci/run` installs promtool.

mod common;
use common::*;

use meterguard::input::Inputs;

fn promtool() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("promtool")).find(|f| f.is_file()))
}

fn promtool_accepts(promtool: &std::path::Path, dir: &std::path::Path, i: usize, expr: &str) -> bool {
    let file = dir.join(format!("rule-{i}.yaml"));
    let quoted = serde_json::to_string(expr).unwrap();
    std::fs::write(&file, format!("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: {quoted}\n"))
        .unwrap();
    let out = std::process::Command::new(promtool).args(["check", "rules"]).arg(&file).output().expect("promtool runs");
    out.status.success()
}

#[test]
fn promtool_agrees_on_validity() {
    let Some(promtool) = promtool() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install promtool (see .ci/run)");
        eprintln!("promtool is not installed here: skipping (CI installs it)");
        return;
    };
    let paths: Vec<String> = [
        "tests/fixtures/corpus/kps-default.yaml",
        "tests/fixtures/alerts/lepton-alerts.yaml",
        "tests/fixtures/alerts/broken-rules.yaml",
    ]
    .iter()
    .map(|p| fixture(p))
    .collect();
    let inputs = Inputs::read_paths(&paths, 1 << 30);
    let model = meterguard::model::build(&inputs, "default");
    let (rules, _) = meterguard::coverage::rules::extract(&model.objects, &model.rule_files, Default::default());
    let texts = meterguard::coverage::rules::read(&model.objects, &model.rule_files, Default::default()).exprs;
    assert_eq!(rules.len(), texts.len());
    assert!(rules.len() > 150, "{} rules", rules.len());
    let dir = tempfile::tempdir().unwrap();
    let mut disagreements = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for (i, (r, expr)) in rules.iter().zip(&texts).enumerate() {
        let ours = r.parsed.is_ok();
        if ours {
            valid += 1
        } else {
            invalid += 1
        }
        if ours != promtool_accepts(&promtool, dir.path(), i, expr) {
            disagreements.push(format!("{}: meterguard says {ours}: {expr}", r.alert));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    assert!(invalid >= 3 && valid > 150, "{valid} valid, {invalid} invalid");
}
