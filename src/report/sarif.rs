//! `--format sarif`: SARIF 2.1.0 for code scanning. Rules carry their metadata, results real
//! regions, the Helm template as a related location, fingerprints that ignore line numbers, and
//! suppressions.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{file_of, repository_location, write_array, write_nested, write_value};
use crate::check::Report;
use crate::rules::{self, Finding, Severity};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A path as a URI reference: `<stdin>` has none, so it is `stdin`; characters a URI cannot hold
/// are percent-encoded.
pub fn uri(path: &str) -> String {
    if path == "<stdin>" {
        return "stdin".into();
    }
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// GitHub refuses a SARIF upload of more results than this (code scanning's documented limit).
pub const MAX_RESULTS: usize = 25_000;

/// Stable across unrelated edits: what the finding is about, never where it stands, nor the
/// figures in its message (a limit raised from 2Gi to 3Gi is the same finding, still open).
fn fingerprint(report: &Report<'_>, f: &Finding) -> String {
    let mut h = Sha256::new();
    h.update(f.rule.as_bytes());
    h.update([0]);
    h.update(file_of(report.inputs, f).as_bytes());
    h.update([0]);
    if let Some(o) = &f.object {
        h.update(format!("{}/{}/{}/{}", o.group(), o.kind, o.namespace.as_deref().unwrap_or(""), o.name).as_bytes());
    }
    h.update([0]);
    h.update(f.container.as_deref().unwrap_or("").as_bytes());
    h.update([0]);
    h.update(without_figures(&f.message).as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The message with every number, and the unit or suffix stuck to it, as `#`: what stays tells
/// findings of one rule on one container apart (which field, which port).
fn without_figures(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_figure = false;
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !in_figure {
                out.push('#');
            }
            in_figure = true;
        } else if in_figure && (c.is_ascii_alphanumeric() || c == '.' || c == '%') {
            // 1.5Gi, 500m, 30s, 99.9%: still the figure.
        } else {
            in_figure = false;
            out.push(c);
        }
    }
    out
}

fn rule_descriptor(r: &rules::Rule) -> Value {
    json!({
        "id": r.id,
        "name": r.id.split(['/', '-']).map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        }).collect::<String>(),
        "shortDescription": {"text": r.summary},
        "fullDescription": {"text": r.explanation},
        "help": {"text": format!("{}\n\n{}", r.summary, r.explanation), "markdown": format!("**{}**\n\n{}", r.summary, r.explanation)},
        "defaultConfiguration": {"level": level(r.severity)},
        "helpUri": rules::help_uri(r.id),
        "properties": {"tags": [r.id.split('/').next().unwrap_or("meterguard")]},
    })
}

pub fn render(report: &Report<'_>) -> String {
    super::to_string(|out| write(report, out))
}

pub fn write(report: &Report<'_>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let all: Vec<&rules::Rule> = rules::all().collect();
    let tool = json!({"driver": {
        "name": "meterguard",
        "version": env!("CARGO_PKG_VERSION"),
        "semanticVersion": env!("CARGO_PKG_VERSION"),
        "informationUri": "https://github.com/meterguard/meterguard",
        "rules": all.iter().map(|r| rule_descriptor(r)).collect::<Vec<_>>(),
    }});
    // The log with its one run, the results written by `write_array` (built on all cores: a large
    // render has a hundred thousand, each with a SHA-256 fingerprint).
    out.write_all(
        b"{\n  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n  \"version\": \"2.1.0\",\n  \"runs\": [\n    {\n      \"tool\": ",
    )?;
    write_value(&tool, 3, out)?;
    out.write_all(b",\n      \"columnKind\": \"unicodeCodePoints\",\n      \"results\": ")?;
    let kept = kept(&report.findings);
    write_array(&kept, 3, out, |f, depth, buf| write_nested(&result(report, &all, f), depth, buf))?;
    let left_out = report.findings.len() - kept.len();
    let mut invocation = json!({"executionSuccessful": !report.has_input_errors()});
    if left_out > 0 {
        invocation["toolExecutionNotifications"] = json!([{
            "level": "warning",
            "message": {"text": format!(
                "{left_out} of {} results were left out: GitHub accepts at most {MAX_RESULTS} in one upload; \
                 the most severe are kept (every format but SARIF lists them all)",
                report.findings.len()
            )},
        }]);
    }
    out.write_all(b",\n      \"invocations\": ")?;
    write_value(&json!([invocation]), 3, out)?;
    out.write_all(b",\n      \"properties\": ")?;
    write_value(&json!({"config": report.config}), 3, out)?;
    out.write_all(b"\n    }\n  ]\n}\n")
}

/// At most `MAX_RESULTS` findings, the most severe first to stay, in their report order.
fn kept(findings: &[Finding]) -> Vec<&Finding> {
    if findings.len() <= MAX_RESULTS {
        return findings.iter().collect();
    }
    let mut by_severity: Vec<(usize, &Finding)> = findings.iter().enumerate().collect();
    by_severity.sort_by_key(|(i, f)| (std::cmp::Reverse(f.severity), f.suppressed.is_some(), *i));
    by_severity.truncate(MAX_RESULTS);
    by_severity.sort_by_key(|(i, _)| *i);
    by_severity.into_iter().map(|(_, f)| f).collect()
}

fn result(report: &Report<'_>, all: &[&rules::Rule], f: &Finding) -> Value {
    // A repository file: the template of a render made here, at its first line (the position is
    // the render's, given in the message).
    let (file, at) = repository_location(report.inputs, f);
    let ((line, col), message) = match at {
        Some(at) => (at, f.message.clone()),
        None => {
            let (l, c) = super::line_col(f);
            ((1, 1), format!("{} (rendered at line {l}, column {c})", f.message))
        }
    };
    let mut r = json!({
        "ruleId": f.rule,
        "ruleIndex": all.iter().position(|x| x.id == f.rule).unwrap_or(0),
        "level": level(f.severity),
        "message": {"text": if f.help.is_empty() { message } else { format!("{message}\n{}", f.help) }},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": uri(file)},
                "region": {"startLine": line, "startColumn": col},
            },
            "logicalLocations": f.object.as_ref().map(|o| vec![json!({
                "name": o.name,
                "fullyQualifiedName": o.display(),
                "kind": "object",
            })]).unwrap_or_default(),
        }],
        "partialFingerprints": {"meterguardFinding/v1": fingerprint(report, f)},
    });
    if let Some(t) = &f.template {
        r["relatedLocations"] = json!([{
            "id": 1,
            "message": {"text": "Helm template that renders this object"},
            "physicalLocation": {"artifactLocation": {"uri": uri(t)}},
        }]);
    }
    if let Some(s) = &f.suppressed {
        let kind = if s.by.starts_with("annotation") { "inSource" } else { "external" };
        r["suppressions"] = json!([{"kind": kind, "justification": s.reason.clone().unwrap_or_else(|| s.by.clone())}]);
    }
    r
}

#[cfg(test)]
mod tests {
    use crate::input::{Pos, Span};
    use crate::rules::{Finding, Severity};

    fn finding(i: usize, severity: Severity) -> Finding {
        Finding {
            rule: "sizing/cpu-request-missing",
            severity,
            message: format!("finding {i}"),
            help: "".into(),
            object: None,
            container: None,
            source: None,
            file: "m.yaml".into(),
            span: Span::point(Pos { line: i as u32 + 1, col: 1 }),
            template: None,
            suppressed: None,
        }
    }

    #[test]
    fn results_past_githubs_limit_keep_the_most_severe_in_order() {
        let n = super::MAX_RESULTS + 10;
        // Errors at every 1000th place, the rest infos: all errors are kept, 10 infos left out.
        let all: Vec<Finding> =
            (0..n).map(|i| finding(i, if i % 1000 == 0 { Severity::Error } else { Severity::Info })).collect();
        let kept = super::kept(&all);
        assert_eq!(kept.len(), super::MAX_RESULTS);
        assert_eq!(kept.iter().filter(|f| f.severity == Severity::Error).count(), n.div_ceil(1000));
        assert!(kept.windows(2).all(|w| w[0].span.start.line < w[1].span.start.line), "report order");
        assert_eq!(super::kept(&all[..10]).len(), 10);
    }

    #[test]
    fn figures_do_not_enter_fingerprints() {
        assert_eq!(
            super::without_figures("memory request 2Gi is below the 4.5Gi (30s, 99.9%) of port 9090"),
            "memory request # is below the # (#, #) of port #"
        );
    }

    #[test]
    fn uris() {
        assert_eq!(super::uri("<stdin>"), "stdin");
        assert_eq!(super::uri("a b/c.yaml"), "a%20b/c.yaml");
    }
}
