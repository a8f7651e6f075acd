//! What an alert expression reads: its selectors, and whether it can return anything at all.
//! An expression is kept as a [`Query`], not as its syntax tree: the selectors and the shape of its
//! operators are all the coverage analysis reads, and compiled regular expressions are shared
//! between rules (a render repeats `namespace=~".*"` hundreds of times): one `Arc<Pattern>` per
//! pattern, since every clone of a `Regex` carries its own cache pool (about a kilobyte), and each
//! compiled only when a value is first matched against it (`pattern.rs`).

use foldhash::HashMap;
pub use promql_parser::util::display_duration;
use std::cell::Cell;
use std::sync::{Arc, Mutex, Once};

use compact_str::CompactString;
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, VectorSelector};
use regex::Regex;
use ustr::Ustr;

mod pattern;
mod rewrite;
pub use pattern::Pattern;
use rewrite::{Kind, Marked, Restored};

/// A vector selector of an expression, with its metric name folded out of `__name__` matchers.
/// Metric and label names are interned (`ustr`): tens of thousands of expressions repeat a few
/// hundred, and a handle is 8 bytes where a string is 24 and its text. Values are not: they are
/// many more (job names, patterns), and each new string in ustr's table touches a page of its own,
/// which cost a 1k-object render a quarter of its time.
#[derive(Debug, Clone)]
pub struct Selector {
    pub metric: Option<Ustr>,
    pub matchers: Vec<LabelMatcher>,
    /// Inside `absent()` / `absent_over_time()`: fires when the series is missing.
    pub in_absent: bool,
    /// The samples a range function needs in its range (`rate` two, `max_over_time` one), when
    /// the selector is that function's range: 0 when it is not (`Selector::fires_when_scraped_every`).
    pub samples: u8,
    /// That range, in milliseconds.
    pub range_ms: u32,
}

/// One label matcher of a selector.
#[derive(Debug, Clone)]
pub struct LabelMatcher {
    pub name: Ustr,
    /// Inline up to 24 bytes, as most values are.
    pub value: CompactString,
    pub op: Op,
}

#[derive(Debug, Clone)]
pub enum Op {
    Equal,
    NotEqual,
    Re(Arc<Pattern>),
    NotRe(Arc<Pattern>),
}

/// As PromQL writes it: `namespace=~"kube-system|monitoring"`.
impl std::fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            Op::Equal => "=",
            Op::NotEqual => "!=",
            Op::Re(_) => "=~",
            Op::NotRe(_) => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value.as_str())
    }
}

impl LabelMatcher {
    pub fn is_match(&self, s: &str) -> bool {
        match &self.op {
            Op::Equal => self.value == s,
            Op::NotEqual => self.value != s,
            Op::Re(r) => r.is_match(s),
            Op::NotRe(r) => !r.is_match(s),
        }
    }
}

/// Regex patterns, shared by every rule parsed with the same interner.
#[derive(Default)]
pub struct Interner(Mutex<HashMap<String, Option<Arc<Pattern>>>>);

impl Interner {
    /// The shared `pattern` (with `compiled` when the parser already built it); None when
    /// promql-parser rejects it.
    fn regex(&self, pattern: &str, compiled: Option<&Regex>) -> Option<Arc<Pattern>> {
        // A poisoned lock only means another rule's parse panicked; the map is still valid.
        let lock = || self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(re) = lock().get(pattern) {
            return re.clone();
        }
        // Judged without the lock, so that the other threads keep parsing meanwhile; two threads
        // may both judge a pattern once, and the first one in is kept.
        let re = match compiled {
            Some(re) => Some(Pattern::compiled(pattern, re)),
            None => Pattern::judge(pattern),
        };
        let re = re.map(Arc::new);
        lock().entry(pattern.to_owned()).or_insert(re).clone()
    }
}

/// Reads a parsed expression into selectors; turns marked matchers back (see `rewrite`).
struct Reader<'r> {
    interner: &'r Interner,
    marked: Option<&'r Marked>,
    restored: Vec<bool>,
    diverged: bool,
}

impl Reader<'_> {
    fn matcher(&mut self, m: &Matcher) -> LabelMatcher {
        let (name, value) = (Ustr::from(&m.name), CompactString::from(&m.value));
        let op = match &m.op {
            MatchOp::Equal | MatchOp::NotEqual if self.marked.is_some() => {
                return self.restore(m);
            }
            MatchOp::Equal => Op::Equal,
            MatchOp::NotEqual => Op::NotEqual,
            MatchOp::Re(r) => Op::Re(self.shared(&m.value, r)),
            MatchOp::NotRe(r) => Op::NotRe(self.shared(&m.value, r)),
        };
        LabelMatcher { name, value, op }
    }

    /// The interner's copy of a pattern the parser compiled.
    fn shared(&self, pattern: &str, compiled: &Regex) -> Arc<Pattern> {
        let own = || Arc::new(Pattern::compiled(pattern, compiled));
        self.interner.regex(pattern, Some(compiled)).unwrap_or_else(own)
    }

    /// A matcher of the skeleton: as it was, or the matcher of the original text it stands for.
    fn restore(&mut self, m: &Matcher) -> LabelMatcher {
        let (name, mut value) = (Ustr::from(&m.name), CompactString::from(&m.value));
        let plain = if matches!(m.op, MatchOp::Equal) { Op::Equal } else { Op::NotEqual };
        let op = match self.marked.map(|marked| marked.restore(m)) {
            None | Some(Restored::Plain) => plain,
            Some(Restored::Diverged) => {
                self.diverged = true;
                plain
            }
            Some(Restored::Value { kind, value: original, n }) => {
                match self.restored.get_mut(n) {
                    Some(seen @ false) => *seen = true,
                    _ => self.diverged = true,
                }
                value = CompactString::from(original);
                let regex = |r: &mut Self| {
                    let re = r.interner.regex(original, None);
                    r.diverged |= re.is_none();
                    re
                };
                match kind {
                    Kind::Equal => Op::Equal,
                    Kind::NotEqual => Op::NotEqual,
                    Kind::Re => regex(self).map_or(plain, Op::Re),
                    Kind::NotRe => regex(self).map_or(plain, Op::NotRe),
                }
            }
        };
        LabelMatcher { name, value, op }
    }

    /// One selector per group of matchers: `{a="x" or b="y"}` (PromQL 3) selects the series that
    /// either group selects, so it reads as two selectors of which one must return series.
    fn selectors(&mut self, vs: &VectorSelector, in_absent: bool) -> Vec<Selector> {
        let m = &vs.matchers;
        let groups: Vec<Vec<LabelMatcher>> = std::iter::once(&m.matchers)
            .filter(|g| !g.is_empty() || m.or_matchers.is_empty())
            .chain(&m.or_matchers)
            .map(|g| g.iter().map(|x| self.matcher(x)).collect())
            .collect();
        // The parser rejects a selector without a name whose matchers all match "" (`{a=~".*"}`);
        // with the marks, the values were not empty when it checked.
        if self.marked.is_some() && vs.name.is_none() && groups.iter().flatten().all(|m| m.is_match("")) {
            self.diverged = true;
        }
        let selector = |group: Vec<LabelMatcher>| {
            let mut metric = vs.name.as_deref().map(Ustr::from);
            let mut matchers = Vec::new();
            for m in group {
                if m.name == "__name__" && matches!(m.op, Op::Equal) {
                    metric = Some(Ustr::from(&m.value));
                } else {
                    matchers.push(m);
                }
            }
            Selector { metric, matchers, in_absent, samples: 0, range_ms: 0 }
        };
        groups.into_iter().map(selector).collect()
    }
}

impl Selector {
    /// Whether an alert held `for_s` seconds can fire on this selector when its series is
    /// scraped every `interval_s` seconds: not when its range never holds the samples its function
    /// needs, nor when it holds them for less than the `for` of each interval (an evaluation that
    /// returns nothing resets a pending alert). pint reports a `rate` range under two scrape
    /// intervals as a bug; Robust Perception advises four.
    pub fn fires_when_scraped_every(&self, interval_s: f64, for_s: f64) -> bool {
        let held = self.held_of_every(interval_s);
        held > 0.0 && held > for_s
    }

    /// How long of each scrape interval the range holds the samples its function needs (infinite:
    /// always). A range of `r` holds `floor(r / interval)` samples or one more, so `n` of them
    /// only during `r - (n - 1) * interval` of each interval, until `r` reaches `n` intervals.
    pub fn held_of_every(&self, interval_s: f64) -> f64 {
        let (n, r) = (f64::from(self.samples), f64::from(self.range_ms) / 1000.0);
        if self.samples == 0 || interval_s <= 0.0 || r >= n * interval_s {
            return f64::INFINITY;
        }
        r - (n - 1.0) * interval_s
    }

    /// Every matcher on `label` accepts `value` (an absent label reads as "").
    pub fn admits(&self, label: &str, value: &str) -> bool {
        self.matchers.iter().filter(|m| m.name == label).all(|m| m.is_match(value))
    }

    pub fn constrains(&self, label: &str) -> bool {
        self.matchers.iter().any(|m| m.name == label)
    }
}

/// An alert expression as the analysis needs it.
#[derive(Debug, Clone)]
pub struct Query {
    /// Every selector, matrix selectors and `absent()` arguments included, in reading order.
    pub selectors: Vec<Selector>,
    shape: Shape,
}

/// Labels that tie a series to one workload: an operator that matches its operands' series on
/// one of them pairs series of the same workload (`Query::about`).
pub const IDENTITY_LABELS: [&str; 9] =
    ["namespace", "pod", "container", "service", "deployment", "statefulset", "daemonset", "cronjob", "job_name"];

/// A set of `IDENTITY_LABELS`, one bit each.
pub type Identity = u16;

pub const ALL_IDENTITY: Identity = (1 << IDENTITY_LABELS.len()) - 1;

/// The identity labels among these label names.
pub fn identity<'l>(names: impl IntoIterator<Item = &'l str>) -> Identity {
    let bit = |l: &str| IDENTITY_LABELS.iter().position(|i| *i == l).map_or(0, |p| 1 << p);
    names.into_iter().map(bit).fold(0, |a, b| a | b)
}

fn identity_of(labels: &promql_parser::label::Labels) -> Identity {
    identity(labels.labels.iter().map(String::as_str))
}

/// Which selectors must return series for the expression to return a sample.
#[derive(Debug, Clone)]
enum Shape {
    Always,
    Needs(usize),
    All(Vec<Shape>),
    Any(Vec<Shape>),
    /// A binary operator between series: a series of `kept` (whose labels the result carries)
    /// comes out only paired with a series of `matched` that agrees on the labels it matches on,
    /// of which `on` are identity labels.
    Join {
        kept: Box<Shape>,
        matched: Box<Shape>,
        on: Identity,
    },
    /// An aggregation, after which only these identity labels are left.
    Keeps(Box<Shape>, Identity),
}

pub fn parse(expr: &str) -> Result<Query, String> {
    parse_with(expr, &Interner::default())
}

pub fn parse_with(expr: &str, interner: &Interner) -> Result<Query, String> {
    let marked = rewrite::mark(expr);
    let tree = marked.as_ref().and_then(|m| parse_guarded(&m.text).ok());
    finish(expr, marked.as_ref().zip(tree.as_ref()), interner)
}

/// Distinct texts, numbered in the order they are first seen.
pub struct Distinct<'t> {
    /// By number.
    pub texts: Vec<&'t str>,
    /// The number of each text given, in order.
    pub slots: Vec<usize>,
}

/// A text and its hash, taken beforehand: the map hashes only the hash.
struct Hashed<'t> {
    hash: u64,
    text: &'t str,
}

impl std::hash::Hash for Hashed<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for Hashed<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.text == other.text
    }
}

impl Eq for Hashed<'_> {}

impl<'t> Distinct<'t> {
    /// The texts are hashed on all cores and numbered on one: a render holds a hundred thousand
    /// expressions, and hashing them in the numbering pass held the other cores idle.
    pub fn of(all: impl IntoIterator<Item = &'t str>) -> Distinct<'t> {
        use rayon::prelude::*;
        use std::hash::BuildHasher;
        let all: Vec<&'t str> = all.into_iter().collect();
        let hasher = foldhash::fast::FixedState::default();
        let hashes: Vec<u64> = all.par_iter().map(|t| hasher.hash_one(t)).collect();
        let mut numbers: HashMap<Hashed<'t>, usize> = HashMap::default();
        let mut texts = Vec::new();
        let slots = all
            .into_iter()
            .zip(hashes)
            .map(|(text, hash)| {
                *numbers.entry(Hashed { hash, text }).or_insert_with(|| {
                    texts.push(text);
                    texts.len() - 1
                })
            })
            .collect();
        Distinct { texts, slots }
    }
}

/// How many skeletons `parse_all` parses before it reads their expressions.
const SKELETON_BATCH: usize = 1024;

/// `parse_with` for each of `exprs`, in order, with every skeleton parsed once (see `rewrite`):
/// in a render, most expressions share theirs with others. The skeletons are parsed a thousand
/// at a time, each batch's trees dropped once their expressions are read: a rule set whose
/// expressions all differ would otherwise hold a tree per rule.
pub fn parse_all(exprs: &[&str], interner: &Interner) -> Vec<Result<Query, String>> {
    use rayon::prelude::*;
    let marked: Vec<Option<Marked>> = exprs.par_iter().map(|e| rewrite::mark(e)).collect();
    let skeletons = Distinct::of(marked.iter().flatten().map(|m| m.text.as_str()));
    let mut numbers = skeletons.slots.iter().copied();
    let slots: Vec<Option<usize>> = marked.iter().map(|m| m.as_ref().and_then(|_| numbers.next())).collect();
    // The marked expressions by skeleton, so that each batch of skeletons has its expressions together.
    let mut order: Vec<usize> = (0..exprs.len()).filter(|&i| slots[i].is_some()).collect();
    order.sort_unstable_by_key(|&i| slots[i]);
    let mut queries: Vec<Option<Result<Query, String>>> = (0..exprs.len()).map(|_| None).collect();
    let mut rest = order.as_slice();
    for (b, batch) in skeletons.texts.chunks(SKELETON_BATCH).enumerate() {
        let first = b * SKELETON_BATCH;
        let trees: Vec<Option<Expr>> = batch.par_iter().map(|t| parse_guarded(t).ok()).collect();
        let (members, later) = rest.split_at(rest.partition_point(|&i| slots[i] < Some(first + batch.len())));
        rest = later;
        let read: Vec<Result<Query, String>> = members
            .par_iter()
            .map(|&i| {
                let tree = slots[i].and_then(|s| trees[s - first].as_ref());
                finish(exprs[i], marked[i].as_ref().zip(tree), interner)
            })
            .collect();
        for (&i, q) in members.iter().zip(read) {
            queries[i] = Some(q);
        }
    }
    // The expressions without a skeleton, as written.
    queries.into_par_iter().zip(exprs).map(|(q, expr)| q.unwrap_or_else(|| finish(expr, None, interner))).collect()
}

/// The parser's reading of `expr` as written, without a skeleton: what `parse_with` and
/// `parse_all` must agree with (the tests and the `promql_coverage` fuzz target compare them).
#[doc(hidden)]
pub fn parse_as_written(expr: &str) -> Result<Query, String> {
    finish(expr, None, &Interner::default())
}

/// The reading of `expr`: from its skeleton's tree when it reads as the original (see `rewrite`),
/// else from the original's.
fn finish(expr: &str, skeleton: Option<(&Marked, &Expr)>, interner: &Interner) -> Result<Query, String> {
    let read = skeleton.and_then(|(marked, tree)| read_marked(tree, marked, interner));
    let mut q = read.map_or_else(|| parse_original(expr, interner), Ok)?;
    // Kept for the whole run, for each distinct expression (80,000 at 100k objects): without the
    // room the vectors grew into, a third of their size.
    q.selectors.shrink_to_fit();
    q.selectors.iter_mut().for_each(|s| s.matchers.shrink_to_fit());
    // Prometheus's Go regexp refuses more than 1,000 copies of anything, which Rust's regex accepts.
    let patterns = q.selectors.iter().flat_map(|s| &s.matchers).filter_map(|m| match &m.op {
        Op::Re(p) | Op::NotRe(p) => Some((m, p)),
        _ => None,
    });
    for (m, p) in patterns {
        if !p.repeats_within_go_limit() {
            return Err(format!(
                "invalid repeat count in regex {:?}: Prometheus allows at most 1000",
                m.value.as_str()
            ));
        }
    }
    Ok(q)
}

/// The skeleton's tree read with the expression's own values, when that is the parser's reading
/// of the original.
fn read_marked(tree: &Expr, marked: &Marked, interner: &Interner) -> Option<Query> {
    let mut r = Reader { interner, marked: Some(marked), restored: vec![false; marked.count()], diverged: false };
    let q = r.query(tree);
    (!r.diverged && r.restored.iter().all(|&b| b)).then_some(q)
}

fn parse_original(expr: &str, interner: &Interner) -> Result<Query, String> {
    let e = parse_guarded(expr)?;
    Ok(Reader { interner, marked: None, restored: Vec::new(), diverged: false }.query(&e))
}

thread_local! {
    static PARSING: Cell<bool> = const { Cell::new(false) };
}
static QUIET_HOOK: Once = Once::new();

/// Brackets nested deeper than any alert rule needs (the deepest upstream rules nest about ten):
/// promql-parser, its tree's drop and the reading here all recurse, on threads of 2 MiB stacks.
pub const MAX_NESTING: usize = 64;
/// Binary operators in one expression: a chain of them is a tree as deep as it is long.
pub const MAX_OPERATORS: usize = 400;

/// How a refusal for the limits ends, so that rules report it apart from invalid PromQL.
const NOT_READ: &str = "the rule was not read";

/// Whether a parse error is a refusal for the limits (the expression may be valid).
pub fn refused(error: &str) -> bool {
    error.ends_with(NOT_READ)
}

/// Refuses an expression past the limits above before any recursion sees it (`abs(` 4,000 deep,
/// or `up + up + ...` 6,000 terms, overflowed the stack). Brackets and operators inside strings
/// and comments do not count.
fn within_limits(expr: &str) -> Result<(), String> {
    let (mut depth, mut deepest, mut operators) = (0usize, 0usize, 0usize);
    let mut in_braces = 0usize;
    let mut chars = expr.chars().peekable();
    let mut word = String::new();
    while let Some(c) = chars.next() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c.to_ascii_lowercase());
            continue;
        }
        if in_braces == 0 && matches!(word.as_str(), "and" | "or" | "unless" | "atan2") {
            operators += 1;
        }
        word.clear();
        match c {
            '"' | '\'' | '`' => {
                while let Some(d) = chars.next() {
                    if d == '\\' && c != '`' {
                        chars.next();
                    } else if d == c {
                        break;
                    }
                }
            }
            '#' => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
                in_braces += usize::from(c == '{');
            }
            ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                in_braces = in_braces.saturating_sub(usize::from(c == '}'));
            }
            '+' | '-' | '*' | '/' | '%' | '^' | '>' | '<' if in_braces == 0 => operators += 1,
            '=' | '!' if in_braces == 0 && chars.peek() == Some(&'=') => {
                chars.next();
                operators += 1;
            }
            _ => {}
        }
    }
    if deepest > MAX_NESTING {
        return Err(format!(
            "brackets nested {deepest} levels deep: meterguard reads expressions nested at most {MAX_NESTING} levels (no \
             alert needs more); {NOT_READ}"
        ));
    }
    // Past Go's repeat limit a pattern is invalid, as Prometheus says; else one that may compile past
    // regex's 10 MiB is declined. Either way before promql-parser spends a compile on it.
    let marked = rewrite::mark(expr);
    let regexes = || marked.iter().flat_map(|m| m.regexes());
    if let Some(re) = regexes().find(|r| !pattern::repeats_within_go_limit(r)) {
        return Err(format!("invalid repeat count in regex {re:?}: Prometheus allows at most 1000"));
    }
    if let Some(re) = regexes().find(|r| pattern::oversized(r)).map(str::to_owned) {
        let shown: String = re.chars().take(40).collect();
        return Err(format!(
            "the regular expression {shown:?} may compile to more than 10 MiB: promql-parser refuses it, and meterguard \
             declines to judge it (Prometheus may load it); {NOT_READ}"
        ));
    }
    if operators > MAX_OPERATORS {
        return Err(format!(
            "{operators} operators in one expression: meterguard reads at most {MAX_OPERATORS} (no alert needs more); \
             {NOT_READ}"
        ));
    }
    Ok(())
}

/// promql-parser panics on some inputs (a range of `[1111…1111m]` overflows `Duration`; found by
/// fuzzing), and an alert expression comes from the input: such a panic becomes a parse error, and
/// the panic hook stays silent while the parser runs (on this thread only).
fn parse_guarded(expr: &str) -> Result<Expr, String> {
    within_limits(expr)?;
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !PARSING.with(Cell::get) {
                previous(info);
            }
        }));
    });
    PARSING.with(|p| p.set(true));
    let result = std::panic::catch_unwind(|| promql_parser::parser::parse(expr));
    PARSING.with(|p| p.set(false));
    result.unwrap_or_else(|_| {
        Err("the PromQL parser cannot read this expression (a duration or number out of range?)".into())
    })
}

impl Reader<'_> {
    fn query(&mut self, e: &Expr) -> Query {
        let mut selectors = Vec::new();
        let shape = self.build(e, false, &mut selectors);
        Query { selectors, shape }
    }

    /// Walks the tree once: collects the selectors, and the feasibility shape. `or` needs one side,
    /// `unless` its left side, `absent` nothing; every other operator needs all its operands.
    fn build(&mut self, e: &Expr, in_absent: bool, out: &mut Vec<Selector>) -> Shape {
        let leaf = |r: &mut Self, vs: &VectorSelector, out: &mut Vec<Selector>| {
            let mut any: Vec<Shape> = r
                .selectors(vs, in_absent)
                .into_iter()
                .map(|sel| {
                    out.push(sel);
                    Shape::Needs(out.len() - 1)
                })
                .collect();
            if any.len() == 1 { any.remove(0) } else { Shape::Any(any) }
        };
        match e {
            Expr::VectorSelector(vs) => leaf(self, vs, out),
            Expr::MatrixSelector(ms) => leaf(self, &ms.vs, out),
            Expr::Aggregate(a) => {
                use promql_parser::parser::LabelModifier;
                use promql_parser::parser::token::{T_BOTTOMK, T_LIMIT_RATIO, T_LIMITK, T_TOPK};
                let shape = self.build(&a.expr, in_absent, out);
                if let Some(p) = &a.param {
                    self.build(p, in_absent, out);
                }
                // topk and its kind pick series and keep their labels; the others keep `by`'s labels,
                // or all but `without`'s, or none.
                let keeps = match (a.op.id(), &a.modifier) {
                    (T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO, _) => return shape,
                    (_, Some(LabelModifier::Include(l))) => identity_of(l),
                    (_, Some(LabelModifier::Exclude(l))) => ALL_IDENTITY & !identity_of(l),
                    (_, None) => 0,
                };
                Shape::Keeps(Box::new(shape), keeps)
            }
            Expr::Unary(u) => self.build(&u.expr, in_absent, out),
            Expr::Paren(p) => self.build(&p.expr, in_absent, out),
            Expr::Subquery(s) => self.build(&s.expr, in_absent, out),
            Expr::Binary(b) => {
                use promql_parser::parser::token::{T_LOR, T_LUNLESS};
                use promql_parser::parser::{LabelModifier, VectorMatchCardinality};
                let lhs = self.build(&b.lhs, in_absent, out);
                let rhs = self.build(&b.rhs, in_absent, out);
                match b.op.id() {
                    T_LOR => Shape::Any(vec![lhs, rhs]),
                    T_LUNLESS => lhs,
                    _ => {
                        // Series match on every label but those ignored, or on those of on().
                        let on = match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
                            Some(LabelModifier::Include(l)) => identity_of(l),
                            Some(LabelModifier::Exclude(l)) => ALL_IDENTITY & !identity_of(l),
                            None => ALL_IDENTITY,
                        };
                        // group_right: the result carries the right side's labels.
                        let right =
                            b.modifier.as_ref().is_some_and(|m| matches!(m.card, VectorMatchCardinality::OneToMany(_)));
                        let (kept, matched) = if right { (rhs, lhs) } else { (lhs, rhs) };
                        Shape::Join { kept: Box::new(kept), matched: Box::new(matched), on }
                    }
                }
            }
            Expr::Call(c) if c.func.name.starts_with("absent") => {
                for a in &c.args.args {
                    self.build(a, true, out);
                }
                Shape::Always
            }
            // scalar() drops every label.
            Expr::Call(c) if c.func.name == "scalar" => Shape::Keeps(
                Box::new(Shape::All(c.args.args.iter().map(|a| self.build(a, in_absent, out)).collect())),
                0,
            ),
            Expr::Call(c) => Shape::All(
                c.args
                    .args
                    .iter()
                    .map(|a| {
                        let first = out.len();
                        let shape = self.build(a, in_absent, out);
                        if let (Some(samples), Expr::MatrixSelector(ms)) = (samples_needed(c.func.name), a.as_ref()) {
                            let range_ms = u32::try_from(ms.range.as_millis()).unwrap_or(u32::MAX);
                            for s in &mut out[first..] {
                                (s.samples, s.range_ms) = (samples, range_ms);
                            }
                        }
                        shape
                    })
                    .collect(),
            ),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => Shape::Always,
        }
    }
}

/// The samples a function of a range vector needs in the range to return a value: two to take a
/// difference or a slope (Prometheus's `extrapolatedRate`, `instantValue`, `deriv`...), one for the
/// `_over_time` aggregations. `absent_over_time` fires on an empty range and is read apart.
fn samples_needed(function: &str) -> Option<u8> {
    match function {
        "rate"
        | "irate"
        | "increase"
        | "delta"
        | "idelta"
        | "deriv"
        | "predict_linear"
        | "changes"
        | "resets"
        | "holt_winters"
        | "double_exponential_smoothing" => Some(2),
        f if f.ends_with("_over_time") => Some(1),
        _ => None,
    }
}

impl Query {
    /// Can the expression return a sample, given which selectors can?
    pub fn feasible(&self, ok: &dyn Fn(&Selector) -> bool) -> bool {
        self.feasible_given(&|i| ok(&self.selectors[i]))
    }

    /// `feasible`, with each selector judged by its index in `selectors`.
    pub fn feasible_given(&self, ok: &dyn Fn(usize) -> bool) -> bool {
        self.about(&|i, _| ok(i))
    }

    /// Whether the expression can return a series about one workload, given whether each selector
    /// (by its index) admits it on a set of identity labels. A series about the workload comes out
    /// only paired with series of the other operands that agree on the identity labels they are
    /// matched on, so those must admit it too: `restarts{pod=~"a-.*"} and on(pod) oom_killed` says
    /// nothing about pod `b-1`. Labels an aggregation drops bind nothing.
    pub fn about(&self, admits: &dyn Fn(usize, Identity) -> bool) -> bool {
        fn eval(s: &Shape, must: Identity, admits: &dyn Fn(usize, Identity) -> bool) -> bool {
            match s {
                Shape::Always => true,
                Shape::Needs(i) => admits(*i, must),
                Shape::All(v) => v.iter().all(|x| eval(x, must, admits)),
                Shape::Any(v) => v.iter().any(|x| eval(x, must, admits)),
                Shape::Join { kept, matched, on } => eval(kept, must, admits) && eval(matched, must & on, admits),
                Shape::Keeps(inner, keeps) => eval(inner, must & keeps, admits),
            }
        }
        eval(&self.shape, ALL_IDENTITY, admits)
    }

    /// The identity labels of selector `i` that the expression's result still carries, with the
    /// selector's values: those an aggregation keeps, and on the matched side of an operator those
    /// it matches on.
    pub fn kept(&self, i: usize) -> Identity {
        fn find(s: &Shape, i: usize, keeps: Identity) -> Option<Identity> {
            match s {
                Shape::Always => None,
                Shape::Needs(j) => (*j == i).then_some(keeps),
                Shape::All(v) | Shape::Any(v) => v.iter().find_map(|x| find(x, i, keeps)),
                Shape::Join { kept, matched, on } => find(kept, i, keeps).or_else(|| find(matched, i, keeps & on)),
                Shape::Keeps(inner, k) => find(inner, i, keeps & k),
            }
        }
        // A selector the shape does not need (the right side of `unless`) gives the result nothing.
        find(&self.shape, i, ALL_IDENTITY).unwrap_or(0)
    }

    /// An always-firing expression (Watchdog's `vector(1)`): no selector at all.
    pub fn is_constant(&self) -> bool {
        self.selectors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest expressions the limits let through are read on a thread with rayon's 2 MiB
    /// stack, in every way the coverage reads them; one past either limit is refused.
    #[test]
    fn expressions_at_the_limits_are_read_and_past_them_refused() {
        let nested = format!("{}up{}", "abs(".repeat(MAX_NESTING - 1), ")".repeat(MAX_NESTING - 1)) + "[5m]";
        let nested = format!("max_over_time(({nested}))");
        let chain = vec!["rate(up{job=\"a\"}[5m])"; MAX_OPERATORS + 1].join(" + ");
        let mixed = format!("{} > 0", vec!["(up or absent(up))"; MAX_OPERATORS / 2 - 1].join(" and "));
        let run = std::thread::Builder::new().stack_size(2 << 20);
        let handle = run
            .spawn(move || {
                let mut read = 0;
                for e in [&chain, &mixed] {
                    let all = parse_all(&[e.as_str()], &Interner::default());
                    assert!(all[0].is_ok(), "{:?}", all[0].as_ref().err());
                    assert!(parse_as_written(e).is_ok());
                    read += 1;
                }
                // Nested as deep as allowed: refused by the parser or read, never a crash.
                let _ = parse(&nested);
                read
            })
            .unwrap();
        assert_eq!(handle.join().unwrap(), 2);
        let deep = format!("{}up{}", "abs(".repeat(4000), ")".repeat(4000));
        assert!(parse(&deep).unwrap_err().contains("nested 4000 levels"));
        let long = vec!["up"; 6000].join(" + ");
        assert!(parse(&long).unwrap_err().contains("5999 operators"));
        let parens = "(".repeat(50_000) + "up" + &")".repeat(50_000);
        assert!(parse(&parens).is_err());
        // Brackets and operators in strings and comments do not count.
        let quoted = format!("up{{job=\"{}\"}} == 0 # {}", "(+".repeat(1000), "(".repeat(1000));
        assert!(parse(&quoted).is_ok());
    }

    #[test]
    fn distinct_texts_numbered_as_first_seen() {
        let all = ["up == 0", "absent(up)", "up == 0", "", "absent(up)", "up==0", ""];
        let d = Distinct::of(all);
        assert_eq!(d.texts, ["up == 0", "absent(up)", "", "up==0"]);
        assert_eq!(d.slots, [0, 1, 0, 2, 1, 3, 2]);
        assert!(Distinct::of([]).texts.is_empty());
    }

    #[test]
    fn matrix_selectors_are_walked() {
        let e = parse(r#"max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff", job="kube-state-metrics", namespace=~".*"}[5m]) >= 1"#).unwrap();
        let s = &e.selectors;
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].metric.as_deref(), Some("kube_pod_container_status_waiting_reason"));
        assert!(s[0].admits("reason", "CrashLoopBackOff"));
        assert!(s[0].admits("namespace", "kubecost"));
        assert!(!s[0].admits("job", "kubernetes-service-endpoints"));
    }

    #[test]
    fn range_functions_say_how_many_samples_their_range_needs() {
        let e = parse(
            "increase(a[1m]) > 0 and max_over_time(b[5m]) > 0 and c > 0 and absent_over_time(d[5m]) \
             and max_over_time(rate(f[2m])[30m:1m]) > 0 and quantile_over_time(0.9, g[90s]) > 0",
        )
        .unwrap();
        let read: Vec<(&str, u8, u32)> =
            e.selectors.iter().map(|s| (s.metric.unwrap().as_str(), s.samples, s.range_ms)).collect();
        assert_eq!(
            read,
            [("a", 2, 60_000), ("b", 1, 300_000), ("c", 0, 0), ("d", 0, 0), ("f", 2, 120_000), ("g", 1, 90_000)]
        );
    }

    #[test]
    fn a_range_fires_when_it_holds_its_samples_long_enough() {
        let sel = |expr: &str| parse(expr).unwrap().selectors.remove(0);
        // pint's threshold: two scrape intervals for a rate.
        assert!(sel("rate(x[1m])").fires_when_scraped_every(30.0, 900.0));
        assert!(!sel("rate(x[1m])").fires_when_scraped_every(60.0, 0.0), "one sample at most");
        // [90s] at 1m holds two samples half of the time: enough without `for`, not for 5m.
        assert!(sel("increase(x[90s])").fires_when_scraped_every(60.0, 0.0));
        assert!(!sel("increase(x[90s])").fires_when_scraped_every(60.0, 300.0));
        // One sample: a range shorter than the interval is empty part of the time.
        assert!(sel("max_over_time(x[5m])").fires_when_scraped_every(300.0, 900.0));
        assert!(!sel("max_over_time(x[5m])").fires_when_scraped_every(600.0, 900.0));
        assert!(sel("max_over_time(x[5m])").fires_when_scraped_every(600.0, 0.0));
        // No range function: any interval.
        assert!(sel("x > 0").fires_when_scraped_every(3600.0, 900.0));
    }

    #[test]
    fn a_parser_panic_is_a_parse_error() {
        // Found by the promql_coverage fuzz target: promql-parser converts the range with
        // `Duration::from_secs_f64`, which panics when it overflows.
        let e = parse(&format!("last_over_time(x[{}]) > 0", "1".repeat(120))).unwrap_err();
        assert!(e.contains("cannot read this expression"), "{e}");
        assert!(parse("rate(x[5m]) > 0").is_ok());
    }

    #[test]
    fn identical_patterns_share_one_compiled_regex() {
        let interner = Interner::default();
        let a = parse_with(r#"up{namespace=~".*"} == 0"#, &interner).unwrap();
        let b = parse_with(r#"kube_pod_info{namespace=~".*"}"#, &interner).unwrap();
        assert_eq!(interner.0.lock().unwrap().len(), 1);
        assert!(a.selectors[0].admits("namespace", "x") && b.selectors[0].admits("namespace", ""));
    }

    /// The marked parse must read every expression exactly as the parser reads the original.
    fn same_reading(expr: &str) {
        let fast = parse_with(expr, &Interner::default()).map(|q| format!("{q:?}"));
        let original = parse_original(expr, &Interner::default()).map(|q| format!("{q:?}"));
        assert_eq!(fast, original, "{expr}");
    }

    /// A batch must read each expression as the parser reads it alone, whichever others share its
    /// skeleton.
    fn same_readings(exprs: &[&str]) {
        let batch = parse_all(exprs, &Interner::default());
        assert_eq!(batch.len(), exprs.len());
        for (expr, got) in exprs.iter().zip(batch) {
            let original = parse_as_written(expr).map(|q| format!("{q:?}"));
            assert_eq!(got.map(|q| format!("{q:?}")), original, "{expr}");
        }
    }

    #[test]
    fn ordinary_expressions_are_read_from_their_skeleton() {
        for expr in [
            r#"up{job="a", namespace!="b"} == 0"#,
            r#"rate(x{code=~"5..", route!~'/api/.*'}[5m]) > 0.1"#,
            r#"sum by (pod) (kube_pod_info{namespace=`kubecost`}) or vector(0)"#,
        ] {
            let marked = rewrite::mark(expr).unwrap();
            let tree = parse_guarded(&marked.text).unwrap();
            assert!(read_marked(&tree, &marked, &Interner::default()).is_some(), "{expr}");
        }
    }

    #[test]
    fn skeletons_of_several_batches_keep_their_expressions_in_order() {
        // Thresholds are not marked, so each makes a skeleton of its own; label values are.
        let exprs: Vec<String> = (0..SKELETON_BATCH * 2 + 10)
            .map(|i| format!(r#"m{}{{job="j{i}", namespace=~"n{}.*"}} > {}"#, i % 3, i % 7, i % (SKELETON_BATCH + 300)))
            .chain([r#"up{job=~"("}"#.to_owned(), "vector(1)".to_owned()])
            .collect();
        let exprs: Vec<&str> = exprs.iter().map(String::as_str).collect();
        same_readings(&exprs);
    }

    #[test]
    fn a_batch_reads_each_expression_as_the_parser_does() {
        same_readings(&[
            r#"up{job="a", namespace=~"x.*"} == 0"#,
            r#"up{job="b", namespace=~"("} == 0"#,
            r#"up{job="", namespace=~".*"} == 0"#,
            r#"{job="", namespace=~".*"}"#,
            r#"{job="a", namespace=~".*"}"#,
            r#"{job="a", namespace=~"x{1001}"}"#,
            r#"up{job="c\"d", namespace=~"y"} == 0"#,
            r#"up{job="\q"} == 0"#,
            r#"up == 0"#,
            r#"vector(1)"#,
            r#"up{job="a"} != "b""#,
            r#"up{job=~"a"} =~ "y""#,
        ]);
    }

    #[test]
    fn regex_matchers_read_as_the_parser_reads_them() {
        for expr in [
            r#"kube_pod_info{namespace=~"kube.*", pod!~'x-.*', job=`ksm`}"#,
            r#"{a=~".*"}"#,
            r#"{a=~".*", b!~"x"}"#,
            r#"{__name__=~"up|foo", job=""}"#,
            r#"{__name__="", a=~".*"}"#,
            r#"foo{__name__=~"x"}"#,
            r#"up{a=~"("}"#,
            r#"up{a=~"x{1}", b=~"a{b}", c=~"a\.b", d=~"é.*"}"#,
            "up{a=~\"\u{E000}0\u{E000}\"}",
            r#"{a="b" or c=~"d"}"#,
            r#"{a=~".*" or c="d"}"#,
            r#"label_replace(up{a=~"x"}, "d", "$1", "s", "=~(.*)") > 0 or absent(x{b!~"y"})"#,
            r#"sum(rate(x{a=~"5.."}[5m])) / sum(rate(x[5m])) # a=~"z""#,
            r#"up{a=~"x"} =~ "y""#,
            r#"up{a=~}"#,
        ] {
            same_reading(expr);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]
        #[test]
        fn marked_parse_is_the_parse(
            metric in proptest::option::of(proptest::sample::select(vec!["up", "kube_pod_info"])),
            matchers in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["a", "job", "__name__"]),
                    proptest::sample::select(vec!["=", "!=", "=~", "!~"]),
                    proptest::sample::select(vec!['"', '\'', '`']),
                    proptest::sample::select(vec![
                        ".*", "", "x", "a|b", "(", "x{1}", "a{b}", "5..", "\\.", "é+", "\\\\", "\\\"", "\\n", "\\q",
                        "\\u00e9", "\\x41", "'", "\\d+",
                    ]),
                ),
                0..4,
            ),
            wrap in 0..4usize,
            or in proptest::bool::ANY,
        ) {
            let body: Vec<String> = matchers.iter().map(|(n, op, q, v)| format!("{n}{op}{q}{v}{q}")).collect();
            let sel = format!("{}{{{}}}", metric.unwrap_or(""), body.join(if or { " or " } else { ", " }));
            let expr = match wrap {
                0 => sel,
                1 => format!("sum(rate({sel}[5m])) > 1"),
                2 => format!("{sel} unless absent({sel})"),
                _ => format!("label_replace({sel}, \"a\", \"$1\", \"b\", \"(.*)\")"),
            };
            same_reading(&expr);
        }

        #[test]
        fn a_batch_is_read_as_each_alone(
            exprs in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["up", "rate(x[5m])", ""]),
                    proptest::sample::select(vec!["job", "__name__", "namespace"]),
                    proptest::sample::select(vec!["=", "!=", "=~", "!~"]),
                    proptest::sample::select(vec!["", "a", ".*", "(", "a\\\"b", "\\q", "x{2000}"]),
                    proptest::sample::select(vec!["", " == 0", " > 1", " or vector(1)", " unless absent(y)"]),
                ),
                1..12,
            ),
        ) {
            let exprs: Vec<String> = exprs
                .iter()
                .map(|(outer, name, op, value, tail)| match outer.strip_suffix("[5m])") {
                    Some(head) => format!("{head}{{{name}{op}\"{value}\"}}[5m]){tail}"),
                    None => format!("{outer}{{{name}{op}\"{value}\"}}{tail}"),
                })
                .collect();
            same_readings(&exprs.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }

    #[test]
    fn or_matchers_are_alternative_selectors() {
        let q =
            parse(r#"kube_pod_container_status_restarts_total{namespace="x", job="a" or namespace="kubecost"} > 0"#)
                .unwrap();
        assert_eq!(q.selectors.len(), 2);
        assert!(q.selectors.iter().all(|s| s.metric.as_deref() == Some("kube_pod_container_status_restarts_total")));
        assert!(!q.selectors[0].admits("namespace", "kubecost") && q.selectors[0].admits("job", "a"));
        assert!(q.selectors[1].admits("namespace", "kubecost") && !q.selectors[1].constrains("job"));
        let in_kubecost = |s: &Selector| s.admits("namespace", "kubecost");
        assert!(q.feasible(&in_kubecost));
        assert!(!q.feasible(&|s: &Selector| !in_kubecost(s) && !s.constrains("job")));
        assert!(parse(r#"{a=~".*" or b=""}"#).is_err());
    }

    #[test]
    fn feasibility_follows_operators() {
        let e = parse("a > b or c").unwrap();
        let no_b = |s: &Selector| s.metric.as_deref() != Some("b");
        assert!(e.feasible(&no_b));
        let e = parse("a > b").unwrap();
        assert!(!e.feasible(&no_b));
        let e = parse("absent(b)").unwrap();
        assert!(e.feasible(&no_b));
        assert!(parse("vector(1)").unwrap().is_constant());
    }

    #[test]
    fn series_about_a_workload_need_matched_operands_that_admit_it() {
        // Does the expression return a series about pod `b-1`? Each selector is judged on the
        // identity labels it is matched on (pod is bit 1).
        let about_b = |expr: &str| {
            let q = parse(expr).unwrap();
            q.about(&|i, on| on & 0b10 == 0 || q.selectors[i].admits("pod", "b-1"))
        };
        let oom = r#"kube_pod_container_status_last_terminated_reason{reason="OOMKilled"} == 1"#;
        let restarts = r#"increase(kube_pod_container_status_restarts_total{pod=~"a-.*"}[15m]) > 0"#;
        assert!(!about_b(&format!("({restarts}) and on (namespace, pod, container) ({oom})")));
        assert!(!about_b(&format!("({oom}) and on (pod) ({restarts})")));
        assert!(!about_b(&format!("({oom}) and ({restarts})")), "no modifier matches on every label");
        assert!(about_b(&format!("({oom}) and on () ({restarts})")), "nothing of the workload is matched");
        assert!(about_b(&format!("({oom}) and ignoring (pod) ({restarts})")));
        assert!(about_b(&format!("({oom}) and on (namespace) sum by (namespace) ({restarts})")));
        assert!(!about_b(&format!("({oom}) and on (pod) topk(1, {restarts})")), "topk keeps the pod");
        assert!(about_b(&format!("({oom}) > scalar(sum({restarts}))")));
        assert!(about_b(&format!("({restarts}) or ({oom})")));
        assert!(about_b(&format!("({oom}) unless on (pod) ({restarts})")));
        // group_right: the result is the right side's series.
        assert!(!about_b(&format!("a * on (pod) group_right () ({restarts})")));
        assert!(about_b(&format!("({restarts}) * on () group_right () b")));
        assert!(!about_b(&format!("({restarts}) * on (pod) group_left () b")));
        assert!(about_b(r#"sum by (namespace) (kube_pod_container_status_restarts_total{pod=~"a-.*"}) > 0"#));
    }

    #[test]
    fn identity_labels_kept_through_aggregations_and_matches() {
        let bits = |labels: &[&str]| {
            labels.iter().map(|l| 1 << IDENTITY_LABELS.iter().position(|i| i == l).unwrap()).fold(0, |a, b| a | b)
        };
        let q = parse(r#"container_memory_working_set_bytes{image!=""} * on (namespace, pod) group_left(node) topk by (namespace, pod) (1, max by (namespace, pod, node) (kube_pod_info))"#).unwrap();
        assert_eq!((q.kept(0), q.kept(1)), (ALL_IDENTITY, bits(&["namespace", "pod"])));
        let q = parse(r#"sum by (namespace) (sum by (namespace, pod) (max by (namespace, pod, container) (a) * on (namespace, pod) group_left() max by (namespace, pod) (kube_pod_status_phase{phase=~"Pending|Running"} == 1)))"#).unwrap();
        assert_eq!((q.kept(0), q.kept(1)), (bits(&["namespace"]), bits(&["namespace"])));
        let q = parse("a unless b").unwrap();
        assert_eq!((q.kept(0), q.kept(1)), (ALL_IDENTITY, 0));
    }
}
