//! `--format github`: workflow commands that GitHub turns into annotations, most severe first
//! (a step shows at most 10 errors and 10 warnings).

use super::{file_of, line_col};
use crate::check::Report;
use crate::rules::Severity;

/// Escaping of a command's message (GitHub's `@actions/core` toolkit rules).
fn data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escaping of a command's property values.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn render(report: &Report<'_>) -> String {
    let mut findings: Vec<_> = report.findings.iter().filter(|f| f.suppressed.is_none()).collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let mut out = String::new();
    for f in findings {
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let (line, col) = line_col(f);
        let file = file_of(report.inputs, f);
        // In a rendered stream the template is the file a reviewer can open; the rendered
        // position goes into the message.
        let (props, message) = match &f.template {
            Some(t) => (
                format!("file={},title={}", property(t), property(f.rule)),
                format!("{} ({file}:{line}:{col})", f.message),
            ),
            None => {
                (format!("file={},line={line},col={col},title={}", property(file), property(f.rule)), f.message.clone())
            }
        };
        let help = if f.help.is_empty() { String::new() } else { format!("\n{}", f.help) };
        out.push_str(&format!("::{command} {props}::{}\n", data(&format!("{message}{help}"))));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_as_github_requires() {
        assert_eq!(super::data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(super::property("a:b,c"), "a%3Ab%2Cc");
    }
}
