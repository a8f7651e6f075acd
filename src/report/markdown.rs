//! `--format markdown`: a pull-request comment. The body stays under GitHub's 65,536 characters:
//! past the budget, whole sections are left out, every fence is closed, and a last line says so.

use super::annotate::{self, Line, Settings};
use super::repository_location;
use crate::check::Report;
use crate::diff::{Change, DiffReport};
use crate::rules::Severity;

pub const BUDGET: usize = 65_536;
/// Room kept for the closing line.
const RESERVE: usize = 400;

/// Text in a table cell, most of it from the input: a pull request's author must not be able to
/// end the row, write HTML (an image that tracks who reads the comment), a link, or a mention that
/// notifies a team. Markdown's punctuation is escaped, `<`, `>` and `&` are entities, `@` is
/// `&#64;` (GitHub reads no mention in it), and a line end is a space.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '`' => out.push('\''),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' => out.push_str("&#64;"),
            '|' | '[' | ']' | '*' | '_' | '~' | '\\' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn summary_table(r: &Report<'_>) -> String {
    format!(
        "| errors | warnings | infos | suppressed | objects | metering workloads |\n|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {} |\n\n{}\n",
        r.count(Severity::Error),
        r.count(Severity::Warning),
        r.count(Severity::Info),
        r.suppressed(),
        r.objects,
        r.metering_workloads(),
        config_line(r)
    )
}

/// Which config ran: a file name from the repository, shown as code.
fn config_line(r: &Report<'_>) -> String {
    match &r.config {
        Some(file) => format!("Config: {}", cell(file)),
        None => "No config file: the defaults.".to_owned(),
    }
}

fn icon(s: Severity) -> &'static str {
    match s {
        Severity::Error => "🔴 error",
        Severity::Warning => "🟡 warning",
        Severity::Info => "🔵 info",
    }
}

/// Adds sections while they fit; says what was left out.
struct Body {
    text: String,
    left_out: usize,
}

impl Body {
    fn push(&mut self, section: &str) {
        if self.left_out > 0 || self.text.len() + section.len() > BUDGET - RESERVE {
            self.left_out += 1;
        } else {
            self.text.push_str(section);
        }
    }

    fn finish(mut self, what: &str) -> String {
        if self.left_out > 0 {
            self.text.push_str(&format!("\n_{} {what} left out to stay under GitHub's 65,536-character limit; the JSON or SARIF report has everything._\n", self.left_out));
        }
        self.text
    }
}

fn coverage_table(r: &Report<'_>) -> String {
    let rows: Vec<String> = r
        .workloads
        .iter()
        .filter_map(|w| {
            let c = w.coverage.as_ref()?;
            let applies = crate::coverage::modes_of_kind(&w.object);
            let cell_of = |mode: &str, items: &Vec<crate::coverage::Item>| {
                if !applies.contains(&mode) {
                    return "n/a (runs to completion)".to_owned();
                }
                if c.unknown {
                    return "❔ unknown (no evaluator in the input)".to_owned();
                }
                if items.is_empty() {
                    return "❌ none".to_owned();
                }
                let mut names: Vec<&str> = items.iter().map(|i| i.alert.as_str()).collect();
                names.dedup();
                let reach = if items.iter().any(|i| i.reaches) { "" } else { " (reaches nobody)" };
                format!("{}{reach}", names.join(", "))
            };
            Some(format!(
                "| {} | {} | {} | {} |\n",
                cell(&w.object.display()),
                cell(&cell_of("down", &c.down)),
                cell(&cell_of("crashloop", &c.crashloop)),
                cell(&cell_of("oom", &c.oom))
            ))
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!("\n### Alert coverage\n\n| workload | down | crash loop | OOM kill |\n|---|---|---|---|\n{}", rows.concat())
}

pub fn render(r: &Report<'_>) -> String {
    let mut body = Body { text: String::from("## meterguard\n\n"), left_out: 0 };
    body.push(&summary_table(r));
    let findings: Vec<_> = r.findings.iter().filter(|f| f.suppressed.is_none()).collect();
    if !findings.is_empty() {
        body.push("\n### Findings\n\n| severity | rule | where | message |\n|---|---|---|---|\n");
        for f in findings {
            let (place, template) = match repository_location(r.inputs, f) {
                (file, Some((line, col))) => (
                    format!("{file}:{line}:{col}"),
                    f.template.as_deref().map(|t| format!(" ({t})")).unwrap_or_default(),
                ),
                (template, None) => (template.to_owned(), String::new()),
            };
            body.push(&format!(
                "| {} | `{}` | {}{} | {} |\n",
                icon(f.severity),
                f.rule,
                cell(&place),
                cell(&template),
                cell(&f.message)
            ));
        }
    }
    body.push(&coverage_table(r));
    body.finish("rows")
}

pub fn render_diff(d: &DiffReport<'_>, settings: &Settings, all: bool) -> String {
    let r = &d.check;
    let count = |k: Change| d.changes.iter().filter(|c| c.change == k).count();
    let mut body = Body { text: String::from("## meterguard: pre-upgrade diff\n\n"), left_out: 0 };
    body.push(&format!(
        "| added | removed | changed | errors | warnings | infos |\n|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {} |\n",
        count(Change::Added),
        count(Change::Removed),
        count(Change::Changed),
        r.count(Severity::Error),
        r.count(Severity::Warning),
        r.count(Severity::Info)
    ));
    body.push(&format!("\n{}\n", config_line(r)));
    let errors = annotate::input_errors(d);
    if !errors.is_empty() {
        body.push("\n### 🔴 Input errors: the diff below is of what could be read\n\n");
        for e in errors {
            body.push(&format!("- {}\n", cell(&e)));
        }
    }
    let shown: Vec<_> = annotate::shown(d, all).collect();
    if !shown.is_empty() {
        body.push("\n### Metering changes\n\n| object | change | findings |\n|---|---|---|\n");
        for c in &shown {
            let n =
                r.findings.iter().filter(|f| f.object.as_ref() == Some(&c.object) && f.suppressed.is_none()).count();
            body.push(&format!(
                "| {} | {} | {n} |\n",
                cell(&c.object.display()),
                format!("{:?}", c.change).to_lowercase()
            ));
        }
        body.push("\n");
    }
    for c in shown {
        let mut block = format!("<details><summary><code>{}</code></summary>\n\n", html(&annotate::header(c)));
        if let Some(n) = annotate::noise_line(c) {
            block.push_str(&format!("{n}\n\n"));
        }
        block.push_str("```diff\n");
        for line in annotate::object(d, c, settings) {
            let l = match line {
                Line::Hunk(h) => h,
                Line::Context(t) => format!(" {t}"),
                Line::Added(t) => format!("+{t}"),
                Line::Removed(t) => format!("-{t}"),
                Line::Finding(f) => format!("!   ^ {}", annotate::finding_text(f)),
            };
            // A line of backticks would close the fence early.
            block.push_str(&l.replace("```", "'''"));
            block.push('\n');
        }
        block.push_str("```\n\n</details>\n\n");
        body.push(&block);
    }
    let elsewhere = annotate::elsewhere(d, all);
    if !elsewhere.is_empty() {
        body.push("\n### Consequences on objects not shown above\n\n");
        for e in elsewhere {
            body.push(&format!("- {}\n", cell(&e)));
        }
        body.push("\n");
    }
    body.finish("objects or rows")
}

/// Text inside the HTML of a `<summary>`, where Markdown is not read: entities only.
fn html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('@', "&#64;").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn cells_hold_no_markdown_html_link_or_mention() {
        assert_eq!(
            super::cell("a|b\n<img src=x> [l](http://e) @org/team `c` *d* &"),
            "a\\|b &lt;img src=x&gt; \\[l\\](http://e) &#64;org/team 'c' \\*d\\* &amp;"
        );
    }
}
