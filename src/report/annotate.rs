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
    let secret = c.object.is("", "Secret");
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
    // A long line replaced by another is shown from where the two first differ: two base64 blobs
    // of Helm values cut at the same width would look equal.
    let mut differ_old: BTreeMap<usize, usize> = BTreeMap::new();
    let mut differ_new: BTreeMap<usize, usize> = BTreeMap::new();
    for op in diff.ops() {
        if let similar::DiffOp::Replace { old_index, old_len, new_index, new_len } = *op {
            for k in 0..old_len.min(new_len) {
                let at = first_difference(old_lines[old_index + k], new_lines[new_index + k]);
                differ_old.insert(old_index + k, at);
                differ_new.insert(new_index + k, at);
            }
        }
    }
    for group in diff.grouped_ops(context) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else { continue };
        let (or, nr) = (first.old_range().start..last.old_range().end, first.new_range().start..last.new_range().end);
        out.push(Line::Hunk(format!("@@ -{},{} +{},{} @@", or.start + 1, or.len(), nr.start + 1, nr.len())));
        for op in &group {
            for ch in diff.iter_changes(op) {
                let differs = match ch.tag() {
                    ChangeTag::Delete => ch.old_index().and_then(|i| differ_old.get(&i)),
                    ChangeTag::Insert => ch.new_index().and_then(|i| differ_new.get(&i)),
                    ChangeTag::Equal => None,
                };
                let text = shorten(ch.value(), differs.copied().unwrap_or(0));
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

/// Characters kept before the first difference of a shortened line.
const LEAD: usize = 40;

/// The line cut to `MAX_LINE` characters. When character `differs` would be cut off, the line's
/// key is kept and the text resumes a little before it.
fn shorten(line: &str, differs: usize) -> String {
    let count = line.chars().count();
    if count <= MAX_LINE {
        return line.to_owned();
    }
    let byte = |c: usize| line.char_indices().nth(c).map_or(line.len(), |(b, _)| b);
    if differs + LEAD <= MAX_LINE {
        let cut = byte(MAX_LINE);
        return format!("{}… ({} more characters)", &line[..cut], count - MAX_LINE);
    }
    // The indentation and `key: ` (or `- `), when short.
    let key = line.find(": ").map(|i| i + 2).filter(|&i| i <= LEAD).unwrap_or(0);
    let key_chars = line[..key].chars().count();
    let from = (differs - LEAD).min(count - MAX_LINE).max(key_chars);
    let (start, end) = (byte(from), byte(from + MAX_LINE));
    let rest = count.saturating_sub(from + MAX_LINE);
    let more = if rest > 0 { format!("… ({rest} more characters)") } else { String::new() };
    format!("{}… ({} characters) {}{more}", &line[..key], from - key_chars, &line[start..end])
}

/// The index, in characters, of the first character where two lines differ.
fn first_difference(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
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

/// Findings that the change causes (`diff/`, `upgrade/`), as opposed to the check's own.
fn is_change(f: &Finding) -> bool {
    f.rule.starts_with("diff/") || f.rule.starts_with("upgrade/")
}

/// Findings the change causes on objects no shown change holds (a metering workload that loses
/// its coverage when an alert's matcher or a ConfigMap changes): listed after the diff, as
/// `file:line: finding`, so that no consequence of the change is only counted.
pub fn elsewhere(d: &DiffReport<'_>, all: bool) -> Vec<String> {
    let shown: Vec<&ObjectChange> = shown(d, all).collect();
    let held = |f: &Finding| shown.iter().any(|c| f.object.as_ref() == Some(&c.object));
    let found = d.check.findings.iter().filter(|f| f.suppressed.is_none() && is_change(f) && !held(f));
    found
        .map(|f| {
            let (line, col) = super::line_col(f);
            format!("{}:{line}:{col}: {}", super::file_of(d.check.inputs, f), finding_text(f))
        })
        .collect()
}

/// The input's own errors (a path that could not be read, YAML that does not parse): a diff of
/// what could be read is not the diff that was asked for, and says so before anything else.
pub fn input_errors(d: &DiffReport<'_>) -> Vec<String> {
    d.check
        .findings
        .iter()
        .filter(|f| crate::rules::is_input(f.rule))
        .map(|f| {
            let (line, col) = super::line_col(f);
            format!("{}:{line}:{col}: {} ({})", super::file_of(d.check.inputs, f), f.message, f.rule)
        })
        .collect()
}

/// Which changes a report shows: metering-relevant ones, or all with `--all`.
pub fn shown<'c>(d: &'c DiffReport<'_>, all: bool) -> impl Iterator<Item = &'c ObjectChange> {
    d.changes.iter().filter(move |c| all || c.relevant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_where_they_differ() {
        let blob = |c: char| format!("          value: {}{c}{}", "a".repeat(5_000), "b".repeat(3_000));
        let (old, new) = (blob('x'), blob('y'));
        let at = first_difference(&old, &new);
        assert_eq!(at, 17 + 5_000);
        let (o, n) = (shorten(&old, at), shorten(&new, at));
        assert!(o.starts_with("          value: … (4960 characters) aaa"), "{o}");
        assert!(o.contains(&format!("{}x", "a".repeat(LEAD))) && n.contains(&format!("{}y", "a".repeat(LEAD))));
        assert!(o.ends_with("… (2881 more characters)"), "{o}");
        // A difference within the first width, or a short line: cut at the width, or whole.
        assert_eq!(shorten(&old, 3), format!("          value: {}… (7858 more characters)", "a".repeat(143)));
        assert_eq!(shorten("key: value", 4), "key: value");
        // Near the end: the last width of the line.
        let tail = format!("k: {}", "é".repeat(170));
        assert_eq!(shorten(&tail, 171), format!("k: … (10 characters) {}", "é".repeat(160)));
    }

    proptest::proptest! {
        /// Any line, cut anywhere: at most the width of its text is shown, from its key or from a
        /// little before the difference, and the difference itself is shown.
        #[test]
        fn a_cut_line_shows_its_difference(key in "[ a-z]{0,12}(: )?", body in "[aé.:]{0,400}", at in 0usize..420) {
            use proptest::prelude::*;
            let line = format!("{key}{body}");
            let count = line.chars().count();
            let cut = shorten(&line, at);
            if count <= MAX_LINE {
                prop_assert_eq!(&cut, &line);
            } else {
                // The text shown, the key and two notes of what was left out.
                prop_assert!(cut.chars().count() <= MAX_LINE + key.len() + 60, "{}", cut);
                if at < count {
                    let from_difference: String = line.chars().skip(at).take(10).collect();
                    prop_assert!(cut.contains(&from_difference), "{}", cut);
                }
            }
        }
    }
}
