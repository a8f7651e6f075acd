//! The Helm integrations with a real helm binary: `meterguard helm` (the pre-commit helm hook) and
//! the Helm plugin (`helm meterguard check|upgrade`) with a fake `helm get manifest`.
//! `.ci/run` installs helm (scripts/install-helm.sh); without it these tests say so and stop,
//! except under CI, where a missing helm fails them.

mod common;
use common::*;

use std::path::PathBuf;
use std::process::Command;

fn helm() -> Option<PathBuf> {
    let from_env = std::env::var_os("HELM_BIN").map(PathBuf::from).filter(|p| p.is_file());
    from_env.or_else(|| {
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("helm")).find(|f| f.is_file()))
    })
}

fn need_helm() -> Option<PathBuf> {
    let h = helm();
    if h.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must install helm (see .ci/run)");
        eprintln!("helm is not installed here: skipping (CI installs it)");
    }
    h
}

fn chart() -> String {
    fixture("tests/fixtures/charts/metering")
}

#[test]
fn meterguard_helm_renders_and_checks_charts_of_changed_files() {
    let Some(helm) = need_helm() else { return };
    let changed = format!("{}/templates/prometheus.yaml", chart());
    let run = |set: &str| {
        Command::new(env!("CARGO_BIN_EXE_meterguard"))
            .args(["helm", "--format", "json", "--set", set, &changed, &format!("{}/values.yaml", chart())])
            .env("HELM_BIN", &helm)
            .output()
            .unwrap()
    };
    let bad = run("prometheus.memoryRequest=2Gi");
    let v = json(&bad);
    let floor = &findings(&v, "sizing/memory-below-floor")[0];
    assert!(
        floor["template"].as_str().unwrap().ends_with("tests/fixtures/charts/metering/templates/prometheus.yaml"),
        "{}",
        floor["template"]
    );
    assert_eq!(v["summary"]["objects"], 2, "the chart is rendered once for both changed files");
    let good = json(&run("prometheus.memoryRequest=4Gi"));
    assert!(findings(&good, "sizing/memory-below-floor").is_empty());
}

#[test]
fn helm_plugin_check_and_upgrade() {
    let Some(helm) = need_helm() else { return };
    let work = tempfile::tempdir().unwrap();
    // Helm installs a local plugin under the directory's own name.
    let plugin_src = work.path().join("meterguard");
    std::fs::create_dir_all(plugin_src.join("scripts")).unwrap();
    std::fs::copy(root().join("plugin.yaml"), plugin_src.join("plugin.yaml")).unwrap();
    std::fs::copy(root().join("scripts/helm-plugin.sh"), plugin_src.join("scripts/helm-plugin.sh")).unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_meterguard")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let helm_cmd = |args: &[&str]| {
        Command::new(&helm)
            .args(args)
            .env("PATH", &path)
            .env("HELM_DATA_HOME", work.path().join("data"))
            .env("HELM_CONFIG_HOME", work.path().join("config"))
            .env("HELM_CACHE_HOME", work.path().join("cache"))
            .output()
            .unwrap()
    };
    let installed = helm_cmd(&["plugin", "install", &plugin_src.to_string_lossy()]);
    assert!(installed.status.success(), "{}", String::from_utf8_lossy(&installed.stderr));
    let check = helm_cmd(&["meterguard", "check", &chart(), "--set", "prometheus.memoryRequest=2Gi"]);
    let out = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{out}{}", String::from_utf8_lossy(&check.stderr));
    assert!(out.contains("sizing/memory-below-floor"), "{out}");
    // meterguard's own flags, the namespace for both, helm's other flags to helm.
    let check = helm_cmd(&[
        "meterguard",
        "check",
        &chart(),
        "-n",
        "kubecost",
        "--format",
        "json",
        "--set-string",
        "prometheus.memoryRequest=2Gi",
        "--fail-on",
        "never",
    ]);
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stderr));
    let v = json(&check);
    let floor = &findings(&v, "sizing/memory-below-floor")[0];
    assert_eq!(floor["object"]["namespace"], "kubecost", "{floor}");
    assert!(
        floor["template"].as_str().unwrap().ends_with("tests/fixtures/charts/metering/templates/prometheus.yaml"),
        "the chart's own template: {floor}"
    );
    let help = helm_cmd(&["meterguard", "--help"]);
    assert!(help.status.success(), "{}", String::from_utf8_lossy(&help.stderr));
    assert!(String::from_utf8_lossy(&help.stdout).contains("helm meterguard check CHART"));

    // `upgrade`: the running release comes from a fake `helm get manifest`; rendering is real helm.
    let old = work.path().join("running.yaml");
    let rendered = Command::new(&helm)
        .args(["template", "kubecost", &chart(), "--set", "prometheus.memoryLimit=8Gi"])
        .output()
        .unwrap();
    std::fs::write(&old, &rendered.stdout).unwrap();
    let fake = work.path().join("fake-helm");
    std::fs::write(
        &fake,
        format!(
            "#!/usr/bin/env bash\nif [ \"$1 $2\" = \"get manifest\" ]; then cat {}; exit 0; fi\nexec {} \"$@\"\n",
            old.display(),
            helm.display()
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let upgrade = Command::new("bash")
        .arg(plugin_src.join("scripts/helm-plugin.sh"))
        .args(["upgrade", "kubecost", &chart(), "--set", "prometheus.memoryLimit=5Gi", "-n", "kubecost"])
        .env("PATH", &path)
        .env("HELM_BIN", &fake)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&upgrade.stdout);
    assert!(
        out.contains("~ StatefulSet kubecost/kubecost-prometheus"),
        "{out}{}",
        String::from_utf8_lossy(&upgrade.stderr)
    );
    assert!(out.contains("diff/memory-reduced"), "{out}");
    assert!(out.contains("sizing/memory-headroom"), "the check of the new render follows: {out}");
    assert_eq!(upgrade.status.code(), Some(1));
}

#[test]
fn a_changed_values_file_is_rendered_with() {
    let Some(helm) = need_helm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = chart();
    let chart = dir.path().join("metering");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    for f in ["Chart.yaml", "values.yaml", "templates/prometheus.yaml"] {
        std::fs::copy(format!("{source}/{f}"), chart.join(f)).unwrap();
    }
    std::fs::write(chart.join("values-prod.yaml"), "prometheus:\n  memoryRequest: 2Gi\n").unwrap();
    let run = |files: &[&str]| {
        let paths: Vec<String> = files.iter().map(|f| chart.join(f).to_string_lossy().into_owned()).collect();
        let out = Command::new(env!("CARGO_BIN_EXE_meterguard"))
            .args(["helm", "--format", "json"])
            .args(&paths)
            .env("HELM_BIN", &helm)
            .output()
            .unwrap();
        findings(&json(&out), "sizing/memory-below-floor").len()
    };
    assert_eq!(run(&["values-prod.yaml"]), 1, "the production values' 2Gi is what is checked");
    assert_eq!(run(&["templates/prometheus.yaml"]), 0, "a template alone: the chart's defaults (4Gi)");
}
