//! `--format json`: the stable machine contract (schema_version 1).

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use super::{file_of, line_col, to_string, write_array, write_nested, write_value};
use crate::check::Report;
use crate::rules::{Finding, Severity};

/// One finding as the contract prints it; borrowed from the report, so the document is written
/// straight from the findings instead of being copied into a `Value` tree first.
#[derive(Serialize)]
struct FindingOut<'r> {
    rule: &'static str,
    severity: Severity,
    message: &'r str,
    help: &'r str,
    object: &'r Option<std::sync::Arc<crate::model::ObjectId>>,
    container: &'r Option<String>,
    file: &'r str,
    line: u32,
    column: u32,
    template: &'r Option<std::sync::Arc<str>>,
    suppressed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppression: &'r Option<Box<crate::rules::Suppression>>,
}

fn finding<'r>(report: &'r Report<'_>, f: &'r Finding) -> FindingOut<'r> {
    let (line, column) = line_col(f);
    FindingOut {
        rule: f.rule,
        severity: f.severity,
        message: &f.message,
        help: &f.help,
        object: &f.object,
        container: &f.container,
        file: file_of(report.inputs, f),
        line,
        column,
        template: &f.template,
        suppressed: f.suppressed.is_some(),
        suppression: &f.suppressed,
    }
}

pub fn render(report: &Report<'_>) -> String {
    to_string(|out| write(report, out))
}

pub fn render_diff(d: &crate::diff::DiffReport<'_>, all: bool, show_noise: bool) -> String {
    to_string(|out| write_diff(d, all, show_noise, out))
}

pub fn write(report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct Summary<'r> {
        errors: usize,
        warnings: usize,
        infos: usize,
        suppressed: usize,
        objects: usize,
        metering_workloads: usize,
        /// The config file in effect; null when the defaults ran.
        config: &'r Option<String>,
    }
    #[derive(Serialize)]
    struct WorkloadOut<'r> {
        object: &'r crate::model::ObjectId,
        metering: bool,
        profile: &'r Option<String>,
        reason: &'r str,
        coverage: &'r Option<crate::coverage::WorkloadCoverage>,
    }
    let summary = Summary {
        errors: report.count(Severity::Error),
        warnings: report.count(Severity::Warning),
        infos: report.count(Severity::Info),
        suppressed: report.suppressed(),
        objects: report.objects,
        metering_workloads: report.metering_workloads(),
        config: &report.config,
    };
    // The document {schema_version, findings, workloads, summary}, its two long arrays written
    // by `write_array`.
    out.write_all(b"{\n  \"schema_version\": 1,\n  \"findings\": ")?;
    write_array(&report.findings, 1, out, |f, depth, buf| write_nested(&finding(report, f), depth, buf))?;
    out.write_all(b",\n  \"workloads\": ")?;
    write_array(&report.workloads, 1, out, |w, depth, buf| {
        let view = WorkloadOut {
            object: &w.object,
            metering: w.class.metering,
            profile: &w.class.profile,
            reason: &w.class.reason,
            coverage: &w.coverage,
        };
        write_nested(&view, depth, buf)
    })?;
    out.write_all(b",\n  \"summary\": ")?;
    write_value(&summary, 1, out)?;
    out.write_all(b"\n}\n")
}

pub fn write_diff(
    d: &crate::diff::DiffReport<'_>,
    all: bool,
    show_noise: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct FieldOut<'r> {
        path: &'r str,
        old: &'r Option<Value>,
        new: &'r Option<Value>,
    }
    #[derive(Serialize)]
    struct ChangeOut<'r> {
        object: &'r crate::model::ObjectId,
        change: crate::diff::Change,
        fields: Vec<FieldOut<'r>>,
    }
    #[derive(Serialize)]
    struct Summary<'r> {
        added: usize,
        removed: usize,
        changed: usize,
        errors: usize,
        warnings: usize,
        infos: usize,
        suppressed: usize,
        config: &'r Option<String>,
    }
    let report = &d.check;
    let count = |k: crate::diff::Change| d.changes.iter().filter(|c| c.change == k).count();
    let summary = Summary {
        added: count(crate::diff::Change::Added),
        removed: count(crate::diff::Change::Removed),
        changed: count(crate::diff::Change::Changed),
        errors: report.count(Severity::Error),
        warnings: report.count(Severity::Warning),
        infos: report.count(Severity::Info),
        suppressed: report.suppressed(),
        config: &report.config,
    };
    // Written part by part as `write` does, not built as one `Value` first: that copy of the
    // findings was a sixth of a large diff's peak memory.
    let shown: Vec<&crate::diff::ObjectChange> = crate::report::annotate::shown(d, all).collect();
    out.write_all(b"{\n  \"schema_version\": 1,\n  \"changes\": ")?;
    write_array(&shown, 1, out, |c, depth, buf| {
        let fields = c.fields.iter().filter(|f| show_noise || !f.noise);
        let fields = fields.map(|f| FieldOut { path: &f.path, old: &f.old, new: &f.new }).collect();
        write_nested(&ChangeOut { object: &c.object, change: c.change, fields }, depth, buf)
    })?;
    out.write_all(b",\n  \"findings\": ")?;
    write_array(&report.findings, 1, out, |f, depth, buf| write_nested(&finding(report, f), depth, buf))?;
    out.write_all(b",\n  \"summary\": ")?;
    write_value(&summary, 1, out)?;
    out.write_all(b"\n}\n")
}
