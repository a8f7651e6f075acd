//! The annotated diff of one changed object: unified diff lines (from `similar`) with each finding
//! printed under the line that causes it. Shared by the human and Markdown renderers.

use std::collections::BTreeMap;

use similar::{ChangeTag, TextDiff};

use crate::diff::emit::{self, Emitted, Side};
use crate::diff::{Change, DiffReport, ObjectChange, nodes};
use crate::input::SourceId;
use crate::rules::{Finding, Severity};

#[derive(Debug, Clone, PartialEq)]
pub enum Line<'f> {
    Context(String),
    Added(String),
    Removed(String),
    Hunk(String),
    Finding(&'f Finding),
}

pub struct Settings {
    pub context: usize,
    pub show_noise: bool,
    /// Sources below this index belong to the old render.
    pub split: SourceId,
}

/// The emitted line a source line landed on: the nearest mapped line at or before it.
fn landing(e: &Emitted, line: u32) -> Option<usize> {
    (1..=line).rev().take(200).find_map(|l| e.at.get(&l).copied())
}

pub fn object<'f>(d: &'f DiffReport<'_>, c: &ObjectChange, s: &Settings) -> Vec<Line<'f>> {
    let (old, new) = nodes(d, c);
    let secret = c.object.kind == "Secret" && c.object.group().is_empty();
    let empty = Emitted::default();
    let o =
        old.map(|n| emit::emit(n, &emit::Options { side: Side::Old, other: new, secret, show_noise: s.show_noise }));
    let n =
        new.map(|n| emit::emit(n, &emit::Options { side: Side::New, other: old, secret, show_noise: s.show_noise }));
    let (o, n) = (o.as_ref().unwrap_or(&empty), n.as_ref().unwrap_or(&empty));
    // Findings on this object, by the emitted line they belong under.
    let mut on_new: BTreeMap<usize, Vec<&Finding>> = BTreeMap::new();
    let mut on_old: BTreeMap<usize, Vec<&Finding>> = BTreeMap::new();
    let mut loose: Vec<&Finding> = Vec::new();
    for f in d.check.findings.iter().filter(|f| f.object.as_ref() == Some(&c.object) && f.suppressed.is_none()) {
        let Some(src) = f.source else { continue };
        let (map, target) = if src >= s.split { (n, &mut on_new) } else { (o, &mut on_old) };
        match landing(map, f.span.start.line) {
            Some(l) => target.entry(l).or_default().push(f),
            None => loose.push(f),
        }
    }
    let mut out: Vec<Line<'f>> = Vec::new();
    let old_lines: Vec<&str> = o.lines.iter().map(String::as_str).collect();
    let new_lines: Vec<&str> = n.lines.iter().map(String::as_str).collect();
    let diff = TextDiff::configure().algorithm(similar::Algorithm::Patience).diff_slices(&old_lines, &new_lines);
    let context = if c.change == Change::Changed { s.context } else { usize::MAX / 4 };
    let mut shown_new = std::collections::BTreeSet::new();
    let mut shown_old = std::collections::BTreeSet::new();
    for group in diff.grouped_ops(context) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else { continue };
        let (or, nr) = (first.old_range().start..last.old_range().end, first.new_range().start..last.new_range().end);
        out.push(Line::Hunk(format!("@@ -{},{} +{},{} @@", or.start + 1, or.len(), nr.start + 1, nr.len())));
        for op in &group {
            for ch in diff.iter_changes(op) {
                let text = shorten(ch.value());
                match ch.tag() {
                    ChangeTag::Equal => out.push(Line::Context(text)),
                    ChangeTag::Insert => out.push(Line::Added(text)),
                    ChangeTag::Delete => out.push(Line::Removed(text)),
                }
                if let Some(i) = ch.new_index().filter(|_| ch.tag() != ChangeTag::Delete) {
                    shown_new.insert(i);
                    out.extend(on_new.get(&i).into_iter().flatten().map(|f| Line::Finding(f)));
                }
                if let Some(i) = ch.old_index().filter(|_| ch.tag() == ChangeTag::Delete) {
                    shown_old.insert(i);
                    out.extend(on_old.get(&i).into_iter().flatten().map(|f| Line::Finding(f)));
                }
            }
        }
    }
    // Change findings whose line is outside every hunk are listed before the diff; findings of
    // the check on unchanged lines are left to `check` (and counted in the summary).
    let is_change = |f: &Finding| f.rule.starts_with("diff/") || f.rule.starts_with("upgrade/");
    let mut head: Vec<Line<'f>> = loose.into_iter().filter(|f| is_change(f)).map(Line::Finding).collect();
    for (l, fs) in &on_new {
        if !shown_new.contains(l) {
            head.extend(fs.iter().filter(|f| is_change(f)).map(|f| Line::Finding(f)));
        }
    }
    for (l, fs) in &on_old {
        if !shown_old.contains(l) {
            head.extend(fs.iter().filter(|f| is_change(f)).map(|f| Line::Finding(f)));
        }
    }
    head.extend(out);
    head
}

/// Display width of a diff line: a base64 blob of Helm values is not worth 20,000 characters.
const MAX_LINE: usize = 160;

fn shorten(line: &str) -> String {
    match line.char_indices().nth(MAX_LINE) {
        Some((cut, _)) => format!("{}… ({} more characters)", &line[..cut], line[cut..].chars().count()),
        None => line.to_owned(),
    }
}

pub fn header(c: &ObjectChange) -> String {
    let sign = match c.change {
        Change::Added => '+',
        Change::Removed => '-',
        Change::Changed => '~',
    };
    let mut h = format!("{sign} {}", c.object.display());
    if let Some(f) = c.fields.iter().find(|f| f.path == "apiVersion") {
        h.push_str(&format!(
            " (apiVersion {} -> {})",
            f.old.as_ref().and_then(|v| v.as_str()).unwrap_or("?"),
            f.new.as_ref().and_then(|v| v.as_str()).unwrap_or("?")
        ));
    }
    h
}

pub fn noise_line(c: &ObjectChange) -> Option<String> {
    let noise = c.noise();
    if noise.is_empty() {
        return None;
    }
    let mut names: Vec<&str> = noise.iter().map(|f| f.path.rsplit('.').next().unwrap_or(&f.path)).collect();
    names.sort();
    names.dedup();
    Some(format!(
        "({} release-noise change{} folded: {}; --show-noise shows them)",
        noise.len(),
        if noise.len() == 1 { "" } else { "s" },
        names.join(", ")
    ))
}

pub fn finding_text(f: &Finding) -> String {
    let mark = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    format!("{mark}[{}]: {}", f.rule, f.message)
}

/// Which changes a report shows: metering-relevant ones, or all with `--all`.
pub fn shown<'c>(d: &'c DiffReport<'_>, all: bool) -> impl Iterator<Item = &'c ObjectChange> {
    d.changes.iter().filter(move |c| all || c.relevant)
}
