//! `--format sarif`: SARIF 2.1.0 for code scanning. Rules carry their metadata, results real
//! regions, the Helm template as a related location, fingerprints that ignore line numbers, and
//! suppressions.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{file_of, line_col, write_array, write_nested, write_value};
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

/// Stable across unrelated edits: what the finding is about, never where it stands.
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
    h.update(f.message.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
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
    write_array(&report.findings, 3, out, |f, depth, buf| write_nested(&result(report, &all, f), depth, buf))?;
    out.write_all(b"\n    }\n  ]\n}\n")
}

fn result(report: &Report<'_>, all: &[&rules::Rule], f: &Finding) -> Value {
    let (line, col) = line_col(f);
    let mut r = json!({
        "ruleId": f.rule,
        "ruleIndex": all.iter().position(|x| x.id == f.rule).unwrap_or(0),
        "level": level(f.severity),
        "message": {"text": if f.help.is_empty() { f.message.clone() } else { format!("{}\n{}", f.message, f.help) }},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": uri(file_of(report.inputs, f))},
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
    #[test]
    fn uris() {
        assert_eq!(super::uri("<stdin>"), "stdin");
        assert_eq!(super::uri("a b/c.yaml"), "a%20b/c.yaml");
    }
}
