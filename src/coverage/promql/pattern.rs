//! A regex matcher's pattern, compiled the first time a label value is matched against it.
//!
//! A render's rule files hold thousands of distinct patterns (`pod=~"checkout-121.*"`), and the
//! analysis matches values against few of them: compiling each one up front was a tenth of a check
//! and 16 MB of its memory at 10,000 objects (docs/performance.md). Whether a pattern is valid must
//! still be known up front (`alerts/promql-invalid`), exactly as promql-parser decides it: the
//! pattern is parsed with `regex-syntax` (the parser the `regex` crate itself runs, with the same
//! defaults), and only a pattern that could come near the compiled-size limit is compiled at once.

use std::sync::OnceLock;

use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind};
use regex_syntax::utf8::Utf8Sequences;

pub struct Pattern {
    source: String,
    compiled: OnceLock<Option<Regex>>,
    /// Judged once per pattern, as the interner shares it between the rules that repeat it.
    within_go_limit: bool,
}

impl Pattern {
    /// A pattern the parser has already compiled.
    pub fn compiled(source: &str, re: &Regex) -> Pattern {
        Pattern::new(source, OnceLock::from(Some(re.clone())))
    }

    /// The pattern as promql-parser reads it, or None when promql-parser rejects it.
    /// promql-parser also refuses a pattern whose compiled form passes regex's size limit
    /// (`\w{300}`), but Prometheus, whose Go regexp has no such limit, loads it (promtool agrees:
    /// tests/promtool.rs): such a pattern is valid here, and compiled under a larger limit.
    pub fn judge(source: &str) -> Option<Pattern> {
        // Declined before any compile (`oversized`); the expression is then refused whole.
        if oversized(source) {
            return None;
        }
        let within_go_limit = repeats_within_go_limit(source);
        let compiled = if certainly_compiles(source) {
            OnceLock::new()
        } else if let Some(re) = super::rewrite::compile(source) {
            OnceLock::from(Some(re))
        } else if parses(source) {
            // Past Go's repeat limit Prometheus rejects the expression (alerts/promql-invalid), and
            // compiling it large could take gigabytes (`\w{31201}`, found by fuzzing): it matches nothing.
            OnceLock::from(within_go_limit.then(|| compile_large(source)).flatten())
        } else {
            return None;
        };
        Some(Pattern { source: source.to_owned(), compiled, within_go_limit })
    }

    fn new(source: &str, compiled: OnceLock<Option<Regex>>) -> Pattern {
        Pattern { source: source.to_owned(), compiled, within_go_limit: repeats_within_go_limit(source) }
    }

    /// Literals that every value this pattern matches starts with, when there are finitely many
    /// (`kube-.*` gives `kube-`; `.*x` gives none): a sorted list of names only needs the range
    /// under each.
    pub fn prefixes(&self) -> Option<Vec<Vec<u8>>> {
        let text = anchored(&self.source);
        let hir = regex_syntax::Parser::new().parse(&text).ok()?;
        // The text promql-parser compiled is this one unless it only compiled when escaped. A
        // pattern `judge` left uncompiled compiles as written, and is not compiled to find out.
        let as_written = match self.compiled.get() {
            None => true,
            Some(re) => re.as_ref().is_some_and(|re| re.as_str() == text),
        };
        if !as_written {
            return None;
        }
        let mut extractor = regex_syntax::hir::literal::Extractor::new();
        extractor.kind(regex_syntax::hir::literal::ExtractKind::Prefix);
        let seq = extractor.extract(&hir);
        Some(seq.literals()?.iter().map(|l| l.as_bytes().to_vec()).collect())
    }

    /// Go's regexp (Prometheus's) refuses a counted repeat `{n,m}` that, with the repeats around
    /// it, makes more than 1,000 copies (`a{1001}`, `(a{100}){20}`).
    pub fn repeats_within_go_limit(&self) -> bool {
        self.within_go_limit
    }

    pub fn is_match(&self, value: &str) -> bool {
        self.regex().is_some_and(|re| re.is_match(value))
    }

    fn regex(&self) -> Option<&Regex> {
        // `judge` only leaves a pattern uncompiled when it compiles (see `certainly_compiles`).
        self.compiled.get_or_init(|| super::rewrite::compile(&self.source)).as_ref()
    }
}

/// The regex it compiles to (compiling it), so that two readings of an expression compare equal
/// exactly when they match alike.
impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Pattern").field(&self.regex().map(Regex::as_str)).finish()
    }
}

/// Go's `repeatIsValid`, on the syntax as written.
pub fn repeats_within_go_limit(pattern: &str) -> bool {
    use regex_syntax::ast::{Ast, RepetitionKind, RepetitionRange};
    // On the syntax as written: the high-level form simplifies `(a{0}){5000}` away.
    fn valid(ast: &Ast, n: u32) -> bool {
        match ast {
            Ast::Repetition(r) => {
                let (min, max) = match &r.op.kind {
                    RepetitionKind::Range(RepetitionRange::Exactly(x)) => (*x, Some(*x)),
                    RepetitionKind::Range(RepetitionRange::AtLeast(x)) => (*x, None),
                    RepetitionKind::Range(RepetitionRange::Bounded(x, y)) => (*x, Some(*y)),
                    _ => return valid(&r.ast, n),
                };
                if min > 1000 || max.is_some_and(|m| m > 1000) {
                    return false;
                }
                if max == Some(0) {
                    return true;
                }
                let m = max.unwrap_or(min);
                m <= n && valid(&r.ast, n.checked_div(m).unwrap_or(n))
            }
            Ast::Group(g) => valid(&g.ast, n),
            Ast::Concat(c) => c.asts.iter().all(|a| valid(a, n)),
            Ast::Alternation(a) => a.asts.iter().all(|a| valid(a, n)),
            _ => true,
        }
    }
    // A pattern regex-syntax cannot read was compiled escaped (promql-parser's fallback).
    match regex_syntax::ast::parse::Parser::new().parse(&anchored(pattern)) {
        Ok(ast) => valid(&ast, 1000),
        Err(_) => true,
    }
}

/// `regex` refuses a pattern that does not parse, or whose compiled automaton would exceed its
/// size limit (10 MiB; `\w{300}` does). promql-parser compiles `^(?:pattern)$` first; true here
/// means that text parses and its automaton stays far below the limit, so it compiles as is.
pub fn certainly_compiles(pattern: &str) -> bool {
    bound(pattern).is_some_and(|bytes| bytes <= MAX_UNITS * UNIT_BYTES)
}

/// The text promql-parser compiles for a pattern.
fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

fn parses(pattern: &str) -> bool {
    regex_syntax::Parser::new().parse(&anchored(pattern)).is_ok()
}

/// The anchored pattern compiled with room for what regex's default limit refuses (None if even
/// that is not enough: values are then matched by nothing). 64 MiB holds `\w{1000}`, the most Go
/// allows of one repeat, in a quarter of a second; a limit of 1 GiB let one hostile pattern take
/// gigabytes and seconds.
fn compile_large(pattern: &str) -> Option<Regex> {
    regex::RegexBuilder::new(&anchored(pattern)).size_limit(64 << 20).build().ok()
}

/// Units past which a pattern's compiled form may pass regex's default limit of 10 MiB.
const MAX_JUDGED_UNITS: u64 = (10 << 20) / UNIT_BYTES;

/// Whether a pattern that parses may compile past regex's default 10 MiB (`\w{300}`): promql-parser
/// spends a tenth of a second failing to compile each such pattern and a larger limit took a
/// second more, so an alert rule of a few hundred distinct ones took minutes. meterguard declines
/// to judge it, before promql-parser sees it. Cheap: the syntax and a walk that stops at the limit.
pub fn oversized(pattern: &str) -> bool {
    let parse = |p: &str| regex_syntax::Parser::new().parse(&anchored(p)).ok();
    // As written, or as promql-parser compiles it when Go reads a brace literally (`y{cond`): the
    // fuzzer found `y{cond\w{300}` compiled in full for missing the second reading.
    let Some(hir) = parse(pattern).or_else(|| parse(&go_braces(pattern))) else { return false };
    units_within(&hir, MAX_JUDGED_UNITS).is_none()
}

/// The pattern with every brace that starts no counted repeat escaped: Go's regexp reads `y{cond`
/// as the text `y{cond`, where Rust's regex refuses it.
fn go_braces(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                out.extend(&chars[i..(i + 2).min(chars.len())]);
                i += 2;
            }
            '{' => match repeat_len(&chars[i..]) {
                Some(n) => {
                    out.extend(&chars[i..i + n]);
                    i += n;
                }
                None => {
                    out.push_str("\\{");
                    i += 1;
                }
            },
            '}' => {
                out.push_str("\\}");
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The length of `{n}`, `{n,}` or `{n,m}` at the start of `s`.
fn repeat_len(s: &[char]) -> Option<usize> {
    let digits = |from: usize| s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let first = digits(1);
    if first == 0 {
        return None;
    }
    let mut at = 1 + first;
    if s.get(at) == Some(&',') {
        at += 1 + digits(at + 1);
    }
    (s.get(at) == Some(&'}')).then_some(at + 1)
}

/// An upper bound on the bytes the compiled `^(?:pattern)$` takes in the NFA builder's accounting
/// (which its size limit is checked against), or None when it does not parse or is past any use.
fn bound(pattern: &str) -> Option<u64> {
    let hir = regex_syntax::Parser::new().parse(&anchored(pattern)).ok()?;
    // The unanchored prefix, the match state and the implicit capture group around it all.
    Some((units(&hir)? + 32) * UNIT_BYTES)
}

/// A unit is at most one automaton state with one transition and two alternates: at most
/// `UNIT_BYTES` of the NFA builder's own accounting, so 4,096 units stay 50 times below the limit.
const MAX_UNITS: u64 = 4096;
const UNIT_BYTES: u64 = 48;

/// An upper bound on the units the Thompson compiler builds for `hir`, forwards or in reverse;
/// None once it is past any use.
fn units(hir: &Hir) -> Option<u64> {
    units_within(hir, MAX_UNITS)
}

/// `units`, None past `max`.
fn units_within(hir: &Hir, max: u64) -> Option<u64> {
    let units = |h: &Hir| units_within(h, max);
    let n = match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 1,
        HirKind::Literal(l) => l.0.len() as u64,
        // A range of scalars compiles to its UTF-8 sequences, one state per byte range at most.
        HirKind::Class(Class::Unicode(c)) => {
            let sequences = c.ranges().iter().flat_map(|r| Utf8Sequences::new(r.start(), r.end()));
            sequences.map(|s| s.len() as u64 + 1).sum::<u64>() + 2
        }
        HirKind::Class(Class::Bytes(c)) => c.ranges().len() as u64 + 2,
        HirKind::Capture(c) => units(&c.sub)? + 2,
        HirKind::Repetition(r) => {
            // `x{m,n}` is n copies of x, `x{m,}` m copies and a loop, each with its alternation.
            let copies = u64::from(r.max.unwrap_or(r.min + 1).max(r.min).max(1));
            copies.checked_mul(units(&r.sub)? + 2)?
        }
        HirKind::Concat(v) | HirKind::Alternation(v) => {
            v.iter().try_fold(v.len() as u64 + 1, |sum, h| sum.checked_add(units(h)?))?
        }
    };
    // Past the limit the exact figure no longer matters; stopping there keeps the sums from overflowing.
    (n <= max).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_patterns_are_left_for_later_and_oversized_ones_are_judged_now() {
        for p in [".*", "5..", "checkout-121.*", "kube-system|monitoring", "(?i)Prometheus.*", "[a-z0-9-]{1,63}"] {
            assert!(certainly_compiles(p), "{p}");
            assert!(Pattern::judge(p).is_some_and(|p| p.compiled.get().is_none()), "{p}");
        }
        for p in [r"\w{300}", r"(\pL|\d){1000}", "a{100000}", "(", "x{2,1}"] {
            assert!(!certainly_compiles(p), "{p}");
        }
        // Past regex's default limit: declined, though Prometheus loads it (docs/hostile.md).
        assert!(oversized(r"\w{300}") && Pattern::judge(r"\w{300}").is_none());
        // Found by fuzzing: a literal brace before it (Go's reading) must not hide it.
        assert!(oversized(r"y{cond\w{300}x}") && !oversized(r"y{cond\w{3}x}"));
        assert_eq!(go_braces(r"a{2}b{c,}d{1,3}\{e}"), r"a{2}b\{c,\}d{1,3}\{e\}");
        assert!(!oversized("[a-z0-9-]{1,63}") && !oversized("(") && !oversized(&vec!["checkout"; 500].join("|")));
        assert!(Pattern::judge("(").is_none());
        // Go's `{` that starts no repetition: promql-parser escapes it and compiles the result.
        assert!(Pattern::judge("a{").is_some_and(|p| p.is_match("a{")));
    }

    #[test]
    fn repeats_are_held_to_gos_limit() {
        for (p, ok) in [
            ("a{1000}", true),
            ("a{1001}", false),
            ("a{2,1001}", false),
            ("(a{10}){100}", true),
            ("(a{100}){20}", false),
            ("(a{0}){5000}", false),
            ("(a*){1000}b+c?", true),
            ("a{", true),
        ] {
            let pattern = Pattern::judge(p).unwrap_or_else(|| panic!("{p} compiles"));
            assert_eq!(pattern.repeats_within_go_limit(), ok, "{p}");
        }
    }

    #[test]
    fn a_pattern_compiled_later_matches_as_one_compiled_now() {
        let lazy = Pattern::judge("kube-.*|monitoring").unwrap();
        let eager = super::super::rewrite::compile("kube-.*|monitoring").unwrap();
        for v in ["kube-system", "monitoring", "monitoring2", "", "x-kube-system"] {
            assert_eq!(lazy.is_match(v), eager.is_match(v), "{v}");
        }
    }

    fn atom() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let atoms =
            vec!["a", "é", ".", r"\w", r"\d", r"\s", "[a-z]", "[^x]", r"\pL", "(?i)k", "[a-zа-я0-9]", r"\b", "^", "日"];
        proptest::sample::select(atoms).prop_map(str::to_owned)
    }

    fn regex() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        atom().prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
                proptest::collection::vec(inner.clone(), 2..4).prop_map(|v| format!("(?:{})", v.join("|"))),
                (inner.clone(), 0..40u32, proptest::option::of(0..80u32)).prop_map(|(x, m, n)| match n {
                    Some(n) => format!("(?:{x}){{{},{}}}", m.min(n), m.max(n)),
                    None => format!("(?:{x}){{{m},}}"),
                }),
                (inner.clone(), proptest::sample::select(vec!["*", "+", "?", "*?"]))
                    .prop_map(|(x, q)| format!("({x}){q}")),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The bound is a bound: the pattern compiles under a size limit of the bound itself.
        #[test]
        fn the_bound_holds(p in regex()) {
            use proptest::prelude::*;
            if let Some(bytes) = bound(&p) {
                let built = regex::RegexBuilder::new(&anchored(&p)).size_limit(bytes as usize).build();
                prop_assert!(built.is_ok(), "{p}: {bytes} bytes: {built:?}");
            }
        }
    }
}
