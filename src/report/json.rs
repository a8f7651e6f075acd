//! `--format json`: the stable machine contract (schema_version 1).

use serde::Serialize;
use serde_json::{Value, json};

use super::{file_of, line_col};
use crate::check::Report;
use crate::rules::{Finding, Severity};

pub fn finding(report: &Report<'_>, f: &Finding) -> Value {
    let (line, column) = line_col(f);
    let mut v = json!({
        "rule": f.rule,
        "severity": f.severity,
        "message": f.message,
        "help": f.help,
        "object": f.object,
        "container": f.container,
        "file": file_of(report.inputs, f),
        "line": line,
        "column": column,
        "template": f.template,
        "suppressed": f.suppressed.is_some(),
    });
    if let Some(s) = &f.suppressed {
        v["suppression"] = json!(s);
    }
    v
}

pub fn render(report: &Report<'_>) -> String {
    #[derive(Serialize)]
    struct Summary {
        errors: usize,
        warnings: usize,
        infos: usize,
        suppressed: usize,
        objects: usize,
        metering_workloads: usize,
    }
    let workloads: Vec<Value> = report
        .workloads
        .iter()
        .map(|w| {
            json!({
                "object": w.object,
                "metering": w.class.metering,
                "profile": w.class.profile,
                "reason": w.class.reason,
                "coverage": w.coverage,
            })
        })
        .collect();
    let doc = json!({
        "schema_version": 1,
        "findings": report.findings.iter().map(|f| finding(report, f)).collect::<Vec<_>>(),
        "workloads": workloads,
        "summary": Summary {
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warning),
            infos: report.count(Severity::Info),
            suppressed: report.suppressed(),
            objects: report.objects,
            metering_workloads: report.metering_workloads(),
        },
    });
    // Serializing a Value built from strings and numbers cannot fail.
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

pub fn render_diff(d: &crate::diff::DiffReport<'_>, all: bool, show_noise: bool) -> String {
    let report = &d.check;
    let changes: Vec<Value> = crate::report::annotate::shown(d, all)
        .map(|c| {
            let fields: Vec<Value> = c
                .fields
                .iter()
                .filter(|f| show_noise || !f.noise)
                .map(|f| json!({"path": f.path, "old": f.old, "new": f.new}))
                .collect();
            json!({"object": c.object, "change": c.change, "fields": fields})
        })
        .collect();
    let count = |k: crate::diff::Change| d.changes.iter().filter(|c| c.change == k).count();
    let doc = json!({
        "schema_version": 1,
        "changes": changes,
        "findings": report.findings.iter().map(|f| finding(report, f)).collect::<Vec<_>>(),
        "summary": {
            "added": count(crate::diff::Change::Added),
            "removed": count(crate::diff::Change::Removed),
            "changed": count(crate::diff::Change::Changed),
            "errors": report.count(Severity::Error),
            "warnings": report.count(Severity::Warning),
            "infos": report.count(Severity::Info),
            "suppressed": report.suppressed(),
        },
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
