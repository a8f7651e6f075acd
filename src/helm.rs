//! Rendering charts with a real `helm` binary, for the pre-commit hook and `meterguard helm`. Only
//! `helm` is ever run, with an argument list: never a shell, never anything from the input.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::input::Inputs;

/// The chart directory that holds each path: the path itself or its nearest parent with a Chart.yaml.
pub fn chart_roots(paths: &[String]) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    for p in paths {
        let mut dir = Some(Path::new(p));
        while let Some(d) = dir {
            if d.join("Chart.yaml").is_file() {
                if !roots.iter().any(|r| r == d) {
                    roots.push(d.to_path_buf());
                }
                break;
            }
            dir = d.parent();
        }
    }
    roots.sort();
    roots
}

/// The values files among `paths` that belong to `chart`: files named `values*.yaml` (or .yml)
/// in the chart's directory or below it, outside `templates/` and the subcharts of `charts/`.
/// When one changed, the chart is rendered with it: its defaults alone would hide the change.
pub fn changed_values(paths: &[String], chart: &Path) -> Vec<String> {
    let mut out: Vec<String> = paths
        .iter()
        .filter(|p| {
            let path = Path::new(p);
            let named = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("values") && (n.ends_with(".yaml") || n.ends_with(".yml")));
            let inside = path.strip_prefix(chart).ok().is_some_and(|rest| {
                !rest.components().any(|c| c.as_os_str() == "templates" || c.as_os_str() == "charts")
            });
            named && inside && path.is_file()
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

pub fn helm_binary() -> String {
    std::env::var("HELM_BIN").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "helm".into())
}

/// `helm template RELEASE CHART ARGS...`; the rendered text is added to `inputs` under the chart's
/// path, with each document's `# Source:` made relative to where the chart lives (so annotations
/// land on the template file in the repository).
pub fn render(inputs: &mut Inputs, chart: &Path, release: &str, args: &[String]) -> Result<(), String> {
    let out = Command::new(helm_binary())
        .arg("template")
        .arg(release)
        .arg(chart)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", helm_binary()))?;
    if !out.status.success() {
        return Err(format!(
            "helm template {} failed: {}",
            chart.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let first_doc = inputs.documents.len();
    inputs.add_owned(&format!("{} (rendered)", chart.display()), out.stdout);
    if let Some(source) = inputs.sources.last_mut() {
        source.rendered = true;
    }
    for d in &mut inputs.documents[first_doc..] {
        if let Some(t) = &d.template {
            d.template = Some(in_repository(chart, t).into());
        }
    }
    Ok(())
}

/// Where a rendered template's file is in the repository: Helm names it from the chart's own
/// name (`name:` in Chart.yaml), which need not be its directory's, so the first part is replaced
/// by the chart's path (`cost-analyzer/templates/x.yaml` in `deploy/kubecost` is
/// `deploy/kubecost/templates/x.yaml`).
fn in_repository(chart: &Path, template: &str) -> String {
    match template.split_once('/') {
        Some((_, rest)) => chart.join(rest).to_string_lossy().into_owned(),
        None => template.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_chart_roots() {
        let dir = tempfile::tempdir().unwrap();
        let chart = dir.path().join("charts/app");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(chart.join("Chart.yaml"), "name: app\n").unwrap();
        let t = chart.join("templates/deploy.yaml").to_string_lossy().into_owned();
        let v = chart.join("values.yaml").to_string_lossy().into_owned();
        assert_eq!(super::chart_roots(&[t, v]), vec![chart]);
    }

    #[test]
    fn templates_are_named_by_the_chart_directory() {
        let chart = std::path::Path::new("deploy/kubecost");
        assert_eq!(
            super::in_repository(chart, "cost-analyzer/charts/prometheus/templates/server.yaml"),
            "deploy/kubecost/charts/prometheus/templates/server.yaml"
        );
        assert_eq!(super::in_repository(std::path::Path::new("app"), "app/templates/d.yaml"), "app/templates/d.yaml");
    }
}
