//! Objects back to YAML text for the annotated diff. Our own emitter, because the diff needs what
//! no YAML emitter reports: the line each source node lands on (to print findings under it), the
//! other side's key and list order (so reordering is not a change), noise folded, and Secret
//! values masked before they are ever turned into text.

use std::borrow::Cow;

use foldhash::HashMap;

use crate::input::node::{Resolved, Style, resolve_plain};
use crate::input::redact::{is_credential_flag, mask_credential_line};
use crate::input::{Kind, Node};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Old,
    New,
}

/// What an emitted object looks like, and where each of its source lines went.
#[derive(Debug, Default)]
pub struct Emitted {
    pub lines: Vec<String>,
    /// Source line -> 0-based emitted line.
    pub at: HashMap<u32, usize>,
}

pub struct Options<'o> {
    pub side: Side,
    /// The same object on the other side, for order, noise and Secret comparisons.
    pub other: Option<&'o Node>,
    pub secret: bool,
    pub show_noise: bool,
}

/// Labels and annotations that change on every release without changing anything.
pub fn is_noise(path: &[String]) -> bool {
    let n = path.len();
    if n < 3 {
        return false;
    }
    let (parent, key) = (&path[n - 2], &path[n - 1]);
    (parent == "labels" && matches!(key.as_str(), "helm.sh/chart" | "chart" | "app.kubernetes.io/version"))
        || (parent == "annotations" && key.starts_with("checksum/"))
}

/// The key that names the items of a list of mappings, if there is one.
pub fn list_key(items: &[Node]) -> Option<&'static str> {
    if items.is_empty() || items.iter().any(|i| i.as_map().is_none()) {
        return None;
    }
    ["name", "alert", "record", "mountPath", "containerPort", "port"].into_iter().find(|k| {
        let mut seen = foldhash::HashSet::default();
        items.iter().all(|i| i.get(k).and_then(Node::as_scalar).is_some_and(|s| seen.insert(s.text)))
    })
}

pub fn item_id<'n>(item: &'n Node, key: &str) -> Option<&'n str> {
    item.get(key).and_then(Node::as_scalar).map(|s| s.text)
}

pub fn emit(node: &Node, opts: &Options<'_>) -> Emitted {
    let mut e = Emitted::default();
    let mut path = Vec::new();
    Emitter { opts, out: &mut e }.node(node, opts.other, 0, &mut path, None);
    e
}

struct Emitter<'a, 'o> {
    opts: &'a Options<'o>,
    out: &'a mut Emitted,
}

fn plain_ok(s: &str) -> bool {
    if s.is_empty() || s != s.trim() || s.contains(['\n', '\r', '\t']) {
        return false;
    }
    if s.starts_with(['-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`']) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(char::is_control) {
        return false;
    }
    // A string that YAML 1.1 or 1.2 would read as something else.
    let lower = s.to_ascii_lowercase();
    if matches!(lower.as_str(), "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~") {
        return false;
    }
    matches!(resolve_plain(s), Resolved::Str(_))
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", s.replace('"', "\\\"")))
}

/// A scalar as text: numbers and booleans as written, strings plain when safe, else quoted; the
/// credentials in a string (a JSON config held in one line) masked before it is quoted. Says
/// whether it masked any.
fn scalar_text(n: &Node) -> (String, bool) {
    let Some(s) = n.as_scalar() else { return (String::new(), false) };
    let text = mask_credential_line(s.text);
    let masked = matches!(text, Cow::Owned(_));
    let shown = match s.style {
        Style::Plain => match s.resolve() {
            Resolved::Null => "null".into(),
            _ => text.into_owned(),
        },
        _ if plain_ok(&text) => text.into_owned(),
        _ => quoted(&text),
    };
    (shown, masked)
}

impl Emitter<'_, '_> {
    fn push(&mut self, source_line: u32, text: String) {
        self.out.at.entry(source_line).or_insert(self.out.lines.len());
        self.out.lines.push(text);
    }

    /// Which side a masked value that differs from the other side's is on: the mask alone would
    /// hide the change.
    fn side_mark(&self) -> &'static str {
        match self.opts.side {
            Side::Old => " (before)",
            Side::New => " (after)",
        }
    }

    fn key_text(k: &str) -> String {
        if plain_ok(k) { k.to_owned() } else { quoted(k) }
    }

    /// Emits `node` as the value of `prefix` (a `key:` or `- ` already written by the caller).
    fn node(
        &mut self,
        node: &Node,
        other: Option<&Node>,
        indent: usize,
        path: &mut Vec<String>,
        prefix: Option<String>,
    ) {
        let pad = " ".repeat(indent);
        let credential = path.last().is_some_and(|k| crate::input::secrets::secret_under(k, node));
        if (self.opts.secret && is_secret_value(path)) || credential {
            // Whatever shape a Secret's value has (a list or map is invalid, but still a value), it
            // is printed as one mask.
            let value = secret_mask(node, other, self.opts.side);
            match prefix {
                Some(p) => self.push(node.start().line, format!("{p} {value}")),
                None => self.push(node.start().line, format!("{pad}{value}")),
            }
            return;
        }
        match &node.kind {
            Kind::Scalar(text) => {
                let line = node.start().line;
                let value = if text.contains('\n') && node.as_scalar().is_some_and(|s| s.style != Style::Plain) {
                    self.block(node, other, indent, prefix);
                    return;
                } else {
                    let (shown, masked) = scalar_text(node);
                    let differs = other.and_then(Node::as_scalar).is_some_and(|o| o.text != text.as_str());
                    if masked && differs { shown + self.side_mark() } else { shown }
                };
                match prefix {
                    Some(p) => self.push(line, format!("{p} {value}")),
                    None => self.push(line, format!("{pad}{value}")),
                }
            }
            Kind::Seq(items) => {
                if items.is_empty() {
                    let text = prefix.map(|p| format!("{p} []")).unwrap_or_else(|| format!("{pad}[]"));
                    self.push(node.start().line, text);
                    return;
                }
                if let Some(p) = prefix {
                    self.push(node.start().line, p);
                }
                let other_items = other.and_then(Node::as_seq);
                let mut after_flag = false;
                for (item, counterpart) in ordered_items(items, other_items, self.opts.side) {
                    path.push("[]".into());
                    let item_prefix = format!("{pad}-");
                    match &item.kind {
                        Kind::Map(entries) if !entries.is_empty() => {
                            self.map(item, counterpart, indent + 2, path, Some(item_prefix));
                        }
                        // The value of `--password` given as the next argument.
                        Kind::Scalar(_) if after_flag => {
                            let value = secret_mask(item, counterpart, self.opts.side);
                            self.push(item.start().line, format!("{item_prefix} {value}"));
                        }
                        _ => self.node(item, counterpart, indent + 2, path, Some(item_prefix)),
                    }
                    after_flag = item.as_str().is_some_and(is_credential_flag);
                    path.pop();
                }
            }
            Kind::Map(entries) => {
                if entries.is_empty() {
                    let text = prefix.map(|p| format!("{p} {{}}")).unwrap_or_else(|| format!("{pad}{{}}"));
                    self.push(node.start().line, text);
                    return;
                }
                if let Some(p) = prefix {
                    self.push(node.start().line, p);
                }
                self.map(node, other, indent, path, None);
            }
        }
    }

    /// A mapping's entries; with `first_prefix` the first entry shares the `- ` line of its list item.
    fn map(
        &mut self,
        node: &Node,
        other: Option<&Node>,
        indent: usize,
        path: &mut Vec<String>,
        mut first_prefix: Option<String>,
    ) {
        let pad = " ".repeat(indent);
        let entries = node.as_map().unwrap_or_default();
        // An environment variable named for a credential (`DB_PASSWORD`), or holding an encoded
        // blob of settings (`HELM_VALUES`): its value is masked.
        let env_secret = crate::input::secrets::env_secret(node);
        for (key, key_line_no, value, counterpart) in ordered_entries(entries, other, self.opts.side) {
            path.push(key.to_owned());
            let noise = is_noise(path);
            let shown: Option<&Node> = if noise && !self.opts.show_noise && self.opts.side == Side::Old {
                // Fold noise: the old side shows the new value, so the line does not differ.
                match counterpart {
                    Some(c) => Some(c),
                    None => {
                        path.pop();
                        continue;
                    }
                }
            } else {
                Some(value)
            };
            if noise && !self.opts.show_noise && self.opts.side == Side::New && counterpart.is_none() && other.is_some()
            {
                path.pop();
                continue;
            }
            let Some(value) = shown else { continue };
            let lead = match first_prefix.take() {
                Some(p) => format!("{p} "),
                None => pad.clone(),
            };
            let key_line = format!("{lead}{}:", Self::key_text(key));
            // Findings point at keys (`resources:`) as often as at values: the key's line is the line.
            self.out.at.entry(key_line_no).or_insert(self.out.lines.len());
            match &value.kind {
                Kind::Map(m) if !m.is_empty() => {
                    self.push(key_line_no, key_line);
                    self.map(value, counterpart, indent + 2, path, None);
                }
                Kind::Scalar(_) if env_secret && key == "value" => {
                    self.push(key_line_no, format!("{key_line} {}", secret_mask(value, counterpart, self.opts.side)));
                }
                _ => self.node(value, counterpart, indent, path, Some(key_line)),
            }
            path.pop();
        }
    }

    /// A block scalar, line by line; a line whose credential is masked says whether it differs
    /// from the other side's, as a Secret's masked value does.
    fn block(&mut self, node: &Node, other: Option<&Node>, indent: usize, prefix: Option<String>) {
        let text = node.as_scalar().map(|s| s.text).unwrap_or_default();
        let other_text = other.and_then(Node::as_scalar).map(|s| s.text);
        let trailing = text.len() - text.trim_end_matches('\n').len();
        let chomp = match trailing {
            0 => "-",
            1 => "",
            _ => "+",
        };
        let indicator = if text.starts_with(' ') { "2" } else { "" };
        let head = format!("|{indicator}{chomp}");
        let line = node.start().line;
        match prefix {
            Some(p) => self.push(line, format!("{p} {head}")),
            None => self.push(line, format!("{}{head}", " ".repeat(indent))),
        }
        let pad = " ".repeat(indent + 2);
        for (i, l) in text.trim_end_matches('\n').split('\n').enumerate() {
            let shown = mask_credential_line(l);
            let changed = matches!(shown, Cow::Owned(_)) && other_text.is_some_and(|t| !t.split('\n').any(|o| o == l));
            let mark = if changed { self.side_mark() } else { "" };
            let text = if l.is_empty() { String::new() } else { format!("{pad}{shown}{mark}") };
            self.push(line + 1 + i as u32, text);
        }
    }
}

fn is_secret_value(path: &[String]) -> bool {
    path.len() >= 2 && matches!(path[0].as_str(), "data" | "stringData")
}

fn secret_mask(node: &Node, other: Option<&Node>, side: Side) -> String {
    let same = other.is_some_and(|o| o.to_json() == node.to_json());
    match (other.is_some(), same, side) {
        (true, false, Side::Old) => "*** (before)".into(),
        (true, false, Side::New) => "*** (after)".into(),
        _ => "***".into(),
    }
}

/// Entries in display order: on the old side the new side's key order, old-only keys last.
type Ordered<'n> = (&'n str, u32, &'n Node, Option<&'n Node>);

fn ordered_entries<'n>(
    entries: &'n [crate::input::node::Entry],
    other: Option<&'n Node>,
    side: Side,
) -> Vec<Ordered<'n>> {
    let key = |e: &'n crate::input::node::Entry| e.key.text();
    // Indexed, not searched: the other side of a map of 200,000 keys was scanned for each key.
    let theirs = other.and_then(Node::as_map).map(super::compare::by_key).unwrap_or_default();
    let mut out: Vec<Ordered<'n>> =
        entries.iter().map(|e| (key(e), e.key.start().line, &e.value, theirs.get(key(e)).copied())).collect();
    if side == Side::Old
        && let Some(o) = other.and_then(Node::as_map)
    {
        let mut rank: foldhash::HashMap<&str, usize> = foldhash::HashMap::default();
        for (i, e) in o.iter().enumerate() {
            rank.entry(e.key.text()).or_insert(i);
        }
        out.sort_by_key(|(k, _, _, _)| rank.get(k).copied().unwrap_or(usize::MAX));
    }
    out
}

/// List items in display order, each with its counterpart on the other side (by name where the
/// list is named, else by position).
fn ordered_items<'n>(items: &'n [Node], other: Option<&'n [Node]>, side: Side) -> Vec<(&'n Node, Option<&'n Node>)> {
    let key = list_key(items).filter(|k| other.is_none_or(|o| o.is_empty() || list_key(o) == Some(*k)));
    match (key, other) {
        (Some(k), Some(o)) => {
            let theirs = super::compare::by_id(o, k);
            let mut out: Vec<(&Node, Option<&Node>)> =
                items.iter().map(|i| (i, item_id(i, k).and_then(|id| theirs.get(id).copied()))).collect();
            if side == Side::Old {
                // An item of no name ranks where `position` found it before: with the other side's
                // first item of no name.
                let mut rank: foldhash::HashMap<Option<&str>, usize> = foldhash::HashMap::default();
                for (i, x) in o.iter().enumerate() {
                    rank.entry(item_id(x, k)).or_insert(i);
                }
                out.sort_by_key(|(i, _)| rank.get(&item_id(i, k)).copied().unwrap_or(usize::MAX));
            }
            out
        }
        _ => items.iter().enumerate().map(|(i, n)| (n, other.and_then(|o| o.get(i)))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::yaml::parse_stream;

    fn doc(s: &str) -> Node {
        parse_stream(s).documents.remove(0).root
    }

    #[test]
    fn emits_readable_yaml_with_line_map() {
        let n = doc("a: 1\nb:\n  c: \"yes\"\n  d: [x, \"y z\"]\ne: |\n  line1\n  line2\n");
        let e = emit(&n, &Options { side: Side::New, other: None, secret: false, show_noise: false });
        assert_eq!(
            e.lines,
            vec!["a: 1", "b:", "  c: \"yes\"", "  d:", "  - x", "  - y z", "e: |", "  line1", "  line2"]
        );
        assert_eq!(e.at[&3], 2);
    }

    #[test]
    fn old_side_follows_new_order_and_masks_secrets() {
        let old = doc("kind: Secret\ndata:\n  b: c2VjcmV0\n  a: YQ==\n");
        let new = doc("kind: Secret\ndata:\n  a: YQ==\n  b: b3RoZXI=\n");
        let o = emit(&old, &Options { side: Side::Old, other: Some(&new), secret: true, show_noise: false });
        let n = emit(&new, &Options { side: Side::New, other: Some(&old), secret: true, show_noise: false });
        assert_eq!(o.lines, vec!["kind: Secret", "data:", "  a: ***", "  b: *** (before)"]);
        assert_eq!(n.lines, vec!["kind: Secret", "data:", "  a: ***", "  b: *** (after)"]);
    }
}
