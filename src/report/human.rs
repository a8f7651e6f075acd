//! `--format human`: a miette report per place (snippet, underline, help) and a summary. Findings
//! at one place (the three failure modes of one workload) share one snippet, and places come most
//! severe first, then in file order.

use std::fmt;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceCode};

use super::excerpt::{self, Excerpt, printable_text};
use super::{file_of, line_col};
use crate::check::Report;
use crate::rules::{Finding, Severity};

struct Item<'a> {
    f: &'a Finding,
    heading: String,
    source: Option<Excerpt>,
    offset: usize,
    len: usize,
    help: String,
    /// The rules of every finding at this place, for the code and the snippet's label.
    rules: Vec<&'static str>,
}

impl fmt::Debug for Item<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.heading)
    }
}

impl fmt::Display for Item<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.heading)
    }
}

impl std::error::Error for Item<'_> {}

impl Diagnostic for Item<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.rules.join(", ")))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.f.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        (!self.help.is_empty()).then(|| Box::new(&self.help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let rules = self.rules.join(", ");
        let label = match &self.f.container {
            Some(c) => format!("{rules} (container {c})"),
            None => rules,
        };
        Some(Box::new(std::iter::once(LabeledSpan::new(Some(label), self.offset, self.len))))
    }
}

/// Findings at one place: same file, position, object and container, most severe first.
fn places<'f>(shown: &[&'f Finding]) -> Vec<Vec<&'f Finding>> {
    let mut groups: Vec<Vec<&Finding>> = Vec::new();
    for &f in shown {
        let same = |g: &Vec<&Finding>| {
            let h = g[0];
            h.source == f.source
                && h.file == f.file
                && h.span.start == f.span.start
                && h.object == f.object
                && h.container == f.container
        };
        match groups.last_mut() {
            Some(g) if same(g) => g.push(f),
            _ => groups.push(vec![f]),
        }
    }
    for g in &mut groups {
        g.sort_by_key(|f| std::cmp::Reverse(f.severity));
    }
    // Stable: within a severity, file order stays.
    groups.sort_by_key(|g| std::cmp::Reverse(g[0].severity));
    groups
}

pub struct Style {
    pub color: bool,
    pub width: usize,
}

/// Source texts with their secrets masked (`input/secrets.rs`), for the sources that shown
/// findings point into and that hold a secret.
type Masked = std::collections::HashMap<usize, crate::input::Source>;

fn masked_sources(report: &Report<'_>, shown: &[&Finding]) -> Masked {
    let ids: std::collections::BTreeSet<usize> = shown.iter().filter_map(|f| f.source).collect();
    let masks = |id: usize| report.inputs.masks.get(id).map_or(&[][..], Vec::as_slice);
    ids.into_iter()
        .filter(|&id| !masks(id).is_empty())
        .map(|id| {
            let s = &report.inputs.sources[id];
            (id, crate::input::Source::new(s.name.clone(), crate::input::secrets::masked_text(&s.text, masks(id))))
        })
        .collect()
}

fn item<'a>(report: &'a Report<'_>, f: &'a Finding, masked: &Masked) -> Item<'a> {
    let (line, col) = line_col(f);
    let file = file_of(report.inputs, f);
    let mut heading = format!("{}:{line}:{col}: {}", file, f.message);
    if let Some(o) = &f.object {
        heading.push_str(&format!("\n  in {}", o.display()));
    }
    if let Some(t) = &f.template {
        heading.push_str(&format!(" (template {t})"));
    }
    let (source, offset, len) = match f.source {
        Some(id) => {
            // Snippets show neighbouring lines: a Secret's values must not be among them, so the
            // snippet comes from a masked copy of any source that holds a Secret.
            let src = masked.get(&id).unwrap_or(&report.inputs.sources[id]);
            // Underline the token: a scalar's text, or a key's name up to its colon.
            let len = if f.span.end.line == f.span.start.line && f.span.end.col > f.span.start.col {
                (f.span.end.col - f.span.start.col) as usize
            } else {
                let line = src.line(f.span.start.line);
                let from =
                    line.char_indices().nth(f.span.start.col.max(1) as usize - 1).map_or("", |(b, _)| &line[b..]);
                excerpt::token_len(from)
            };
            let (e, offset, len) = excerpt::around(src, file, f.span.start, len);
            (Some(e), offset, len)
        }
        None => (None, 0, 0),
    };
    let mut help = f.help.to_string();
    if let Some(s) = &f.suppressed {
        help = format!("suppressed by {}{}", s.by, s.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default());
    }
    Item { f, heading: printable_text(&heading), source, offset, len, help: printable_text(&help), rules: vec![f.rule] }
}

/// One place's report: its most severe finding with the snippet, labelled with every rule; the
/// others' messages follow the first's, and each different help is given once.
fn place<'a>(report: &'a Report<'_>, group: &[&'a Finding], masked: &Masked) -> Item<'a> {
    let mut main = item(report, group[0], masked);
    let mut helps = vec![main.help.clone()];
    for &f in &group[1..] {
        main.rules.push(f.rule);
        main.heading.push_str(&printable_text(&format!("\n  and: {} ({})", f.message, f.rule)));
        let help = item(report, f, masked).help;
        if !helps.contains(&help) {
            helps.push(help);
        }
    }
    main.help = helps.into_iter().filter(|h| !h.is_empty()).collect::<Vec<_>>().join("\n");
    main
}

pub fn render(report: &Report<'_>, style: &Style) -> String {
    super::to_string(|out| write(report, style, out))
}

/// The report, each finding written as it is rendered: a large render has a hundred thousand.
pub fn write(report: &Report<'_>, style: &Style, to: &mut dyn std::io::Write) -> std::io::Result<()> {
    let theme = if style.color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(style.width).with_links(false);
    let shown: Vec<&Finding> = report.findings.iter().filter(|f| f.suppressed.is_none()).collect();
    let masked = masked_sources(report, &shown);
    let groups = places(&shown);
    super::write_rendered(&groups, to, |_, group, buf| {
        let mut out = String::new();
        let it = place(report, group, &masked);
        if handler.render_report(&mut out, &it).is_err() {
            out.push_str(&format!("{it}\n"));
        }
        out.push('\n');
        buf.extend_from_slice(out.as_bytes());
    })?;
    let mut out = String::new();
    let metering: Vec<_> = report.workloads.iter().filter(|w| w.class.metering).collect();
    if !metering.is_empty() {
        out.push_str("Metering workloads:\n");
        for w in metering {
            out.push_str(&format!(
                "  {} [{}]: {}\n",
                w.object.display(),
                w.class.profile.as_deref().unwrap_or("generic"),
                w.class.reason
            ));
        }
        out.push('\n');
    }
    let covered: Vec<_> = report.workloads.iter().filter(|w| w.coverage.is_some()).collect();
    if !covered.is_empty() {
        out.push_str("Alert coverage (the alerts that would fire, by failure mode):\n");
        for w in covered {
            let Some(c) = &w.coverage else { continue };
            out.push_str(&format!("  {}\n", w.object.display()));
            let applies = crate::coverage::modes_of_kind(&w.object);
            for (mode, items) in [("down", &c.down), ("crashloop", &c.crashloop), ("oom", &c.oom)] {
                let cell = if !applies.contains(&mode) {
                    "n/a (runs to completion)".to_owned()
                } else if c.unknown {
                    "? unknown (no alert evaluator in the input)".to_owned()
                } else if items.is_empty() {
                    "✗ none".to_owned()
                } else {
                    let mut names: Vec<&str> = items.iter().map(|i| i.alert.as_str()).collect();
                    names.dedup();
                    let reach = if items.iter().any(|i| i.reaches) { "" } else { "  (reaches nobody)" };
                    format!("{}{reach}", names.join(", "))
                };
                out.push_str(&format!("      {mode:<10} {cell}\n"));
            }
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "meterguard: {} error{}, {} warning{}, {} info{} ({} suppressed) in {} objects, {} metering workload{}; {}\n",
        report.count(Severity::Error),
        plural(report.count(Severity::Error)),
        report.count(Severity::Warning),
        plural(report.count(Severity::Warning)),
        report.count(Severity::Info),
        plural(report.count(Severity::Info)),
        report.suppressed(),
        report.objects,
        report.metering_workloads(),
        plural(report.metering_workloads()),
        report.config_in_effect(),
    ));
    to.write_all(out.as_bytes())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The annotated diff: a header per changed object, its unified diff, findings under their lines.
pub fn render_diff(
    d: &crate::diff::DiffReport<'_>,
    settings: &super::annotate::Settings,
    all: bool,
    style: &Style,
) -> String {
    use super::annotate::{self, Line};
    use owo_colors::OwoColorize;
    let paint = |s: String, f: fn(&String) -> String| if style.color { f(&s) } else { s };
    let mut out = String::new();
    let errors = annotate::input_errors(d);
    if !errors.is_empty() {
        out.push_str(&paint("Input errors: the diff below is of what could be read".into(), |s| {
            s.red().bold().to_string()
        }));
        out.push('\n');
        for e in errors {
            out.push_str(&format!("  × {}\n", printable_text(&e)));
        }
        out.push('\n');
    }
    let mut shown = 0;
    for c in annotate::shown(d, all) {
        shown += 1;
        out.push_str(&paint(annotate::header(c), |s| s.bold().to_string()));
        out.push('\n');
        if let Some(n) = annotate::noise_line(c) {
            out.push_str(&format!("  {n}\n"));
        }
        for line in annotate::object(d, c, settings) {
            let text = match line {
                Line::Hunk(h) => paint(h, |s| s.cyan().to_string()),
                Line::Context(t) => format!(" {t}"),
                Line::Added(t) => paint(format!("+{t}"), |s| s.green().to_string()),
                Line::Removed(t) => paint(format!("-{t}"), |s| s.red().to_string()),
                Line::Finding(f) => {
                    let t = format!("    ^ {}", annotate::finding_text(f));
                    match f.severity {
                        Severity::Error => paint(t, |s| s.red().bold().to_string()),
                        Severity::Warning => paint(t, |s| s.yellow().to_string()),
                        Severity::Info => paint(t, |s| s.blue().to_string()),
                    }
                }
            };
            out.push_str(&text);
            out.push('\n');
        }
        out.push('\n');
    }
    let elsewhere = annotate::elsewhere(d, all);
    if !elsewhere.is_empty() {
        out.push_str(&paint("Consequences on objects not shown above".into(), |s| s.bold().to_string()));
        out.push('\n');
        for e in elsewhere {
            out.push_str(&format!("    ^ {e}\n"));
        }
        out.push('\n');
    }
    let count = |k: crate::diff::Change| d.changes.iter().filter(|c| c.change == k).count();
    let r = &d.check;
    out.push_str(&format!(
        "meterguard diff: {} added, {} removed, {} changed ({shown} shown{}); {} error{}, {} warning{}, {} info{}; {}\n",
        count(crate::diff::Change::Added),
        count(crate::diff::Change::Removed),
        count(crate::diff::Change::Changed),
        if all { "" } else { ": metering workloads and what they depend on; --all shows every object" },
        r.count(Severity::Error),
        plural(r.count(Severity::Error)),
        r.count(Severity::Warning),
        plural(r.count(Severity::Warning)),
        r.count(Severity::Info),
        plural(r.count(Severity::Info)),
        r.config_in_effect(),
    ));
    out
}
