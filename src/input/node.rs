//! The YAML tree every later stage reads: each node keeps where it stands in its file.

use serde_json::{Map, Number, Value};

/// A 1-based line and a 1-based column counted in characters, as editors show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: Pos,
    pub end: Pos,
}

impl Span {
    pub fn point(pos: Pos) -> Span {
        Span { start: pos, end: pos }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

/// A scalar as the readers see it: its text and how it was written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scalar<'a> {
    pub text: &'a str,
    pub style: Style,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: Key,
    pub value: Node,
}

/// A mapping key: always a scalar (the builder refuses others, as Kubernetes does). Its text is
/// interned: a render repeats the same few hundred keys millions of times (4.4 million keys at 100k
/// objects), and an 8-byte handle instead of an inline string makes an entry 48 bytes, not 64.
/// Interned strings are never freed, which costs the distinct keys once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Key {
    at: At,
    text: ustr::Ustr,
}

impl Key {
    pub fn new(start: Pos, text: &str, style: Style, exact: bool) -> Key {
        Key { at: At::new(start, style, exact), text: ustr::Ustr::from(text) }
    }

    pub fn start(&self) -> Pos {
        self.at.pos()
    }

    pub fn span(&self) -> Span {
        self.at.span(&self.text)
    }

    /// Whether two keys are written alike: one comparison of interned handles.
    pub fn same_text(&self, other: &Key) -> bool {
        self.text == other.text
    }

    /// The key's text as written, interned: equal texts are one handle, which hashes without
    /// reading the text.
    pub fn interned(&self) -> ustr::Ustr {
        self.text
    }

    /// The key's text as written, whatever it resolves to.
    pub fn text(&self) -> &str {
        self.text.as_str()
    }

    pub fn scalar(&self) -> Scalar<'_> {
        Scalar { text: self.text.as_str(), style: self.at.style() }
    }

    /// The text of a key that is not null (`~:` is a null key), as [`Node::as_str`].
    pub fn as_str(&self) -> Option<&str> {
        match self.scalar().resolve() {
            Resolved::Null => None,
            _ => Some(self.text.as_str()),
        }
    }
}

/// Collections are boxed slices, not vectors: the builder gives each its final size, and 16
/// bytes leave room for the scalar's inline string, so `Kind` is 24 bytes with no tag of its own.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Scalar(compact_str::CompactString),
    Seq(Box<[Node]>),
    Map(Box<[Entry]>),
}

/// A node's start and, packed beside its column, the scalar's style and whether the scalar's text
/// is its token's width: 8 bytes, where a `Span` took 16 and the style grew every scalar from 24
/// bytes to 32. The tree holds millions of nodes (9.3 million at 100k objects): a node is 32 bytes
/// instead of 48.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct At {
    line: u32,
    /// Column << 3 | exact width << 2 | style.
    bits: u32,
}

/// Columns past this (a line of half a billion characters) are reported at this column.
pub const MAX_COL: u32 = (1 << 29) - 1;

impl At {
    fn new(start: Pos, style: Style, exact: bool) -> At {
        let style = match style {
            Style::Plain => 0,
            Style::Quoted => 1,
            Style::Block => 2,
        };
        At { line: start.line, bits: start.col.min(MAX_COL) << 3 | u32::from(exact) << 2 | style }
    }

    fn pos(self) -> Pos {
        Pos { line: self.line, col: self.bits >> 3 }
    }

    fn exact(self) -> bool {
        self.bits & 4 != 0
    }

    fn style(self) -> Style {
        match self.bits & 3 {
            0 => Style::Plain,
            1 => Style::Quoted,
            _ => Style::Block,
        }
    }

    /// A scalar's span: its end is known when it stands on one line written as its text reads
    /// (plain, or quoted without escapes); otherwise the span is its start.
    fn span(self, text: &str) -> Span {
        let start = self.pos();
        if !self.exact() {
            return Span::point(start);
        }
        let quotes = if self.style() == Style::Quoted { 2 } else { 0 };
        let width = u32::try_from(text.chars().count()).unwrap_or(u32::MAX).saturating_add(quotes);
        Span { start, end: Pos { line: start.line, col: start.col.saturating_add(width) } }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    at: At,
    pub kind: Kind,
}

// The layout the comments above promise; a change that grows the tree fails the build here.
const _: () = assert!(std::mem::size_of::<Node>() == 32 && std::mem::size_of::<Entry>() == 48);

/// A plain scalar read the way Kubernetes' YAML decoder reads it. kubectl, Helm and the API server
/// convert YAML with sigs.k8s.io/yaml, which resolves plain scalars with go-yaml v2: YAML 1.1
/// booleans (`yes`, `on`, `n`...) and Go's integer syntax (`0755` is octal, `0x1F`, `0b101`, `1_000`).
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

/// How plain scalars are typed: as Kubernetes (and Prometheus, and Alertmanager) read them, or by
/// YAML 1.2's core schema, which meterguard's own config file follows so that `off` stays a word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    Kubernetes,
    Core,
}

impl<'a> Scalar<'a> {
    pub fn resolve(self) -> Resolved<'a> {
        self.resolve_as(Schema::Kubernetes)
    }

    pub fn resolve_as(self, schema: Schema) -> Resolved<'a> {
        if self.style != Style::Plain {
            return Resolved::Str(self.text);
        }
        match schema {
            Schema::Kubernetes => resolve_plain(self.text),
            Schema::Core => resolve_core(self.text),
        }
    }
}

/// YAML 1.2 core schema: only `true`/`false` are booleans, `0o` marks octal.
pub fn resolve_core(t: &str) -> Resolved<'_> {
    let k8s = resolve_plain(t);
    let decimal = t.strip_prefix(['-', '+']).unwrap_or(t);
    match k8s {
        Resolved::Bool(_) if !matches!(t, "true" | "True" | "TRUE" | "false" | "False" | "FALSE") => Resolved::Str(t),
        Resolved::Int(_) | Resolved::Float(_) if t.contains('_') || t.contains("0b") || t.contains("0B") => {
            Resolved::Str(t)
        }
        Resolved::Int(_) | Resolved::Float(_)
            if decimal.len() > 1 && decimal.starts_with('0') && decimal.as_bytes()[1].is_ascii_digit() =>
        {
            t.parse().map(Resolved::Int).or_else(|_| t.parse().map(Resolved::Float)).unwrap_or(Resolved::Str(t))
        }
        other => other,
    }
}

pub fn resolve_plain(t: &str) -> Resolved<'_> {
    match t {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Resolved::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Resolved::Bool(false);
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let first = t.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Resolved::Str(t);
    }
    let plain = t.replace('_', "");
    if let Some(v) = go_int(&plain) {
        return Resolved::Int(v);
    }
    if is_yaml_float(plain.strip_prefix(['-', '+']).unwrap_or(&plain))
        && let Ok(v) = plain.parse::<f64>()
    {
        return Resolved::Float(v);
    }
    Resolved::Str(t)
}

/// Go's `strconv.ParseInt(s, 0, 64)`: a sign, then `0x` hex, `0o` or a leading `0` octal, `0b`
/// binary, or decimal.
fn go_int(s: &str) -> Option<i64> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = match body.as_bytes() {
        [b'0', b'x' | b'X', ..] => (16, &body[2..]),
        [b'0', b'o' | b'O', ..] => (8, &body[2..]),
        [b'0', b'b' | b'B', ..] => (2, &body[2..]),
        [b'0', _, ..] => (8, &body[1..]),
        _ => (10, body),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?` without the sign.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

impl Node {
    /// A scalar. `exact` says that the token in the source is as wide as `text` (plus its quotes),
    /// so that its end can be told from its start.
    pub fn scalar(start: Pos, text: compact_str::CompactString, style: Style, exact: bool) -> Node {
        Node { at: At::new(start, style, exact), kind: Kind::Scalar(text) }
    }

    pub fn seq(start: Pos, items: Box<[Node]>) -> Node {
        Node { at: At::new(start, Style::Plain, false), kind: Kind::Seq(items) }
    }

    pub fn map(start: Pos, entries: Box<[Entry]>) -> Node {
        Node { at: At::new(start, Style::Plain, false), kind: Kind::Map(entries) }
    }

    pub fn start(&self) -> Pos {
        self.at.pos()
    }

    /// The node moved to `start` (an alias expanded where it is used): its width is unknown there.
    pub fn moved_to(mut self, start: Pos) -> Node {
        self.at = At::new(start, self.at.style(), false);
        self
    }

    /// Where the node stands: its end is known for a scalar on one line written as its text reads
    /// (plain, or quoted without escapes); otherwise the span is its start.
    pub fn span(&self) -> Span {
        match &self.kind {
            Kind::Scalar(text) => self.at.span(text),
            _ => Span::point(self.at.pos()),
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<Scalar<'_>> {
        match &self.kind {
            Kind::Scalar(text) => Some(Scalar { text, style: self.at.style() }),
            _ => None,
        }
    }

    /// The text of a scalar that is not null; numbers and booleans give their text too.
    pub fn as_str(&self) -> Option<&str> {
        let s = self.as_scalar()?;
        match s.resolve() {
            Resolved::Null => None,
            _ => Some(s.text),
        }
    }

    /// A boolean as Kubernetes reads one (`true`, and YAML 1.1's `yes`, `on`...).
    pub fn as_bool(&self) -> Option<bool> {
        match self.as_scalar()?.resolve() {
            Resolved::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.as_scalar().map(Scalar::resolve), Some(Resolved::Null))
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().rev().find(|e| e.key.text() == key && e.key.as_str().is_some())
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// Replaces a scalar's text, for a value nothing reads; its span becomes its start, as the new
    /// text is not what the file holds.
    pub fn set_scalar_text(&mut self, text: &str) {
        if let Kind::Scalar(s) = &mut self.kind {
            *s = text.into();
            self.at.bits &= !4;
        }
    }

    /// The value `get` returns, to change it (the last entry of a duplicated key, as `get`).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        let Kind::Map(entries) = &mut self.kind else { return None };
        entries.iter_mut().rev().find(|e| e.key.text() == key && e.key.as_str().is_some()).map(|e| &mut e.value)
    }

    /// Follows a dotted path of mapping keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |n, k| n.get(k))
    }

    pub fn str_at(&self, keys: &[&str]) -> Option<&str> {
        self.path(keys)?.as_str()
    }

    /// The item of a sequence of mappings whose `name` is `name`.
    pub fn named_item(&self, name: &str) -> Option<&Node> {
        self.as_seq()?.iter().find(|n| n.str_at(&["name"]) == Some(name))
    }

    /// The value as Kubernetes reads it (YAML 1.1 scalars, see [`resolve_plain`]).
    pub fn to_json(&self) -> Value {
        self.to_json_as(Schema::Kubernetes)
    }

    pub fn to_json_as(&self, schema: Schema) -> Value {
        match &self.kind {
            Kind::Scalar(text) => match (Scalar { text, style: self.at.style() }).resolve_as(schema) {
                Resolved::Null => Value::Null,
                Resolved::Bool(b) => Value::Bool(b),
                Resolved::Int(i) => Value::Number(i.into()),
                Resolved::Float(f) => {
                    Number::from_f64(f).map(Value::Number).unwrap_or_else(|| Value::String(text.to_string()))
                }
                Resolved::Str(t) => Value::String(t.to_owned()),
            },
            Kind::Seq(items) => Value::Array(items.iter().map(|i| i.to_json_as(schema)).collect()),
            Kind::Map(entries) => {
                let mut m = Map::with_capacity(entries.len());
                for e in entries {
                    let key = match schema {
                        Schema::Kubernetes => super::goyaml::json_key(e.key.scalar()).into_owned(),
                        Schema::Core => e.key.text().to_owned(),
                    };
                    m.insert(key, e.value.to_json_as(schema));
                }
                Value::Object(m)
            }
        }
    }

    /// How many nodes this subtree holds, keys included.
    pub fn weight(&self) -> usize {
        match &self.kind {
            Kind::Scalar(_) => 1,
            Kind::Seq(items) => 1 + items.iter().map(Node::weight).sum::<usize>(),
            Kind::Map(entries) => 1 + entries.iter().map(|e| 1 + e.value.weight()).sum::<usize>(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_as_kubernetes_reads_it() {
        assert_eq!(resolve_plain("1024"), Resolved::Int(1024));
        assert_eq!(resolve_plain("-3"), Resolved::Int(-3));
        assert_eq!(resolve_plain("0.5"), Resolved::Float(0.5));
        assert_eq!(resolve_plain("1e9"), Resolved::Float(1e9));
        assert_eq!(resolve_plain("1e+08"), Resolved::Float(1e8));
        assert_eq!(resolve_plain("2Gi"), Resolved::Str("2Gi"));
        // YAML 1.1 as go-yaml v2 reads it, not YAML 1.2.
        assert_eq!(resolve_plain("yes"), Resolved::Bool(true));
        assert_eq!(resolve_plain("on"), Resolved::Bool(true));
        assert_eq!(resolve_plain("N"), Resolved::Bool(false));
        assert_eq!(resolve_plain("0755"), Resolved::Int(493));
        assert_eq!(resolve_plain("0x1F"), Resolved::Int(31));
        assert_eq!(resolve_plain("-0b101"), Resolved::Int(-5));
        assert_eq!(resolve_plain("1_000"), Resolved::Int(1000));
        assert_eq!(resolve_plain("08"), Resolved::Float(8.0));
        assert_eq!(resolve_plain("yesterday"), Resolved::Str("yesterday"));
        assert_eq!(resolve_plain("2024-01-01"), Resolved::Str("2024-01-01"));
        assert_eq!(resolve_plain("~"), Resolved::Null);
        assert_eq!(resolve_plain("1.2.3"), Resolved::Str("1.2.3"));
        assert_eq!(resolve_plain("e5"), Resolved::Str("e5"));
        assert_eq!(resolve_plain("."), Resolved::Str("."));
    }
}
