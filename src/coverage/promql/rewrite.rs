//! promql-parser compiles a regular expression for every `=~`/`!~` matcher while it parses, and
//! parsing is most of what reading an alert rule costs. Rule files repeat a few patterns thousands
//! of times (`namespace=~".*"`, `code=~"5.."`), and a monorepo renders the same chart for several
//! environments, whose rules differ in label values only (`namespace="team-a"`).
//!
//! So an expression is parsed with every matcher's value replaced by a marker and the matcher's
//! number, and every regex matcher written as an equality matcher (the crate's own lexer finds
//! them, so other strings and comments are never touched). That skeleton is the same for every
//! expression that differs in label values only, and is parsed once (`super::parse_all`); each
//! expression's own values are then put back, and each distinct pattern is compiled once, by the
//! crate's own `Matcher::new_matcher`. Values are unquoted by the crate's own `unquote_string`, as
//! its grammar unquotes them. The caller parses the original text instead whenever the two could
//! read differently (`Restored::Diverged`, a pattern that does not parse, a selector the parser
//! would have rejected as empty). One difference is wanted: a pattern that only passes regex's
//! compiled-size limit is read as valid, as Prometheus reads it (`pattern.rs`).

use lrpar::{Lexeme as _, Lexer as _};
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::lexer;
use promql_parser::parser::token::{T_EQL, T_EQL_REGEX, T_NEQ, T_NEQ_REGEX, T_STRING, TokenId};
use promql_parser::util::unquote_string;

/// A private-use character: no metric, label or pattern in a real rule holds one, and a text that
/// does is parsed as it is.
const MARK: char = '\u{E000}';

/// How a marked matcher compares, as the original text writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Equal,
    NotEqual,
    Re,
    NotRe,
}

impl Kind {
    fn of(op: TokenId) -> Option<Kind> {
        match op {
            T_EQL => Some(Kind::Equal),
            T_NEQ => Some(Kind::NotEqual),
            T_EQL_REGEX => Some(Kind::Re),
            T_NEQ_REGEX => Some(Kind::NotRe),
            _ => None,
        }
    }

    /// The equality operator the skeleton writes in its place: `=~` and `=` read alike there, so
    /// their expressions share a skeleton, and the kind is put back with the value.
    fn written(self) -> &'static str {
        match self {
            Kind::Equal | Kind::Re => "=",
            Kind::NotEqual | Kind::NotRe => "!=",
        }
    }

    /// The operator the parser reads in the skeleton.
    fn parsed(self) -> MatchOp {
        match self {
            Kind::Equal | Kind::Re => MatchOp::Equal,
            Kind::NotEqual | Kind::NotRe => MatchOp::NotEqual,
        }
    }
}

/// The skeleton, and by number each marked matcher's kind and unquoted value.
pub struct Marked {
    pub text: String,
    values: Vec<(Kind, String)>,
}

/// None when the expression has no matcher with a value (or holds the marker, or does not lex, or
/// a value does not unquote): parse it as is.
pub fn mark(expr: &str) -> Option<Marked> {
    // Every matcher operator holds one of these (`=`, `!=`, `=~`, `!~`).
    if expr.contains(MARK) || !expr.contains(['=', '~']) {
        return None;
    }
    let lexemes = lexer(expr).ok()?;
    let mut text = String::with_capacity(expr.len());
    let mut values = Vec::new();
    let mut copied = 0;
    let mut after_op: Option<(Kind, lrpar::Span)> = None;
    for l in lexemes.iter() {
        let l = l.ok()?;
        let (id, span) = (l.tok_id(), l.span());
        match (id, after_op) {
            (T_STRING, Some((kind, op))) => {
                let value = unquote_string(expr.get(span.start()..span.end())?).ok()?;
                text.push_str(expr.get(copied..op.start())?);
                text.push_str(kind.written());
                // Whatever lies between the operator and the value (spaces, a comment) stays.
                text.push_str(expr.get(op.end()..span.start())?);
                text.push('"');
                text.push(MARK);
                text.push_str(&values.len().to_string());
                text.push(MARK);
                text.push('"');
                copied = span.end();
                values.push((kind, value));
                after_op = None;
            }
            _ => after_op = Kind::of(id).map(|k| (k, span)),
        }
    }
    if values.is_empty() {
        return None;
    }
    text.push_str(expr.get(copied..)?);
    Some(Marked { text, values })
}

/// One marked matcher turned back.
pub enum Restored<'m> {
    /// Not a marked matcher: keep it.
    Plain,
    /// The matcher the original text declares: its kind, its value, and the number it carried.
    Value { kind: Kind, value: &'m str, n: usize },
    /// Marked, but not as `mark` marks: the original text must be parsed for the parser's verdict.
    Diverged,
}

impl Marked {
    pub fn count(&self) -> usize {
        self.values.len()
    }

    pub fn restore(&self, m: &Matcher) -> Restored<'_> {
        let Some(rest) = m.value.strip_prefix(MARK) else { return Restored::Plain };
        let Some(number) = rest.strip_suffix(MARK) else { return Restored::Diverged };
        let Some(n) = number.parse::<usize>().ok() else { return Restored::Diverged };
        let Some((kind, value)) = self.values.get(n) else { return Restored::Diverged };
        if m.op != kind.parsed() {
            return Restored::Diverged;
        }
        Restored::Value { kind: *kind, value, n }
    }
}

/// The regex promql-parser itself would build for `pattern` (anchored, Go-style repeats escaped).
pub fn compile(pattern: &str) -> Option<regex::Regex> {
    match Matcher::new_matcher(T_EQL_REGEX, String::new(), pattern.to_owned()) {
        Ok(Matcher { op: MatchOp::Re(re), .. }) => Some(re),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_matcher_values_are_marked() {
        let m =
            mark(r#"label_replace(up{job=~"a.*", x!~'b', y = "c\"d"}, "d", "$1", "s", "(.*)") != 1 # =~"c""#).unwrap();
        assert_eq!(
            m.text,
            "label_replace(up{job=\"\u{E000}0\u{E000}\", x!=\"\u{E000}1\u{E000}\", y = \"\u{E000}2\u{E000}\"}, \"d\", \"$1\", \"s\", \"(.*)\") != 1 # =~\"c\""
        );
        let values: Vec<_> = m.values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(values, [(Kind::Re, "a.*"), (Kind::NotRe, "b"), (Kind::Equal, "c\"d")]);
        assert!(mark(r#"up == 0"#).is_none());
        assert!(mark("up{job=~\"\u{E000}\"}").is_none());
        // A value the grammar would refuse to unquote: the original is parsed, for its message.
        assert!(mark(r#"up{job="\q"}"#).is_none());
    }

    #[test]
    fn expressions_that_differ_in_values_share_a_skeleton() {
        let a = mark(r#"up{job="a", namespace=~"x.*"} == 0"#).unwrap();
        let b = mark(r#"up{job='b-2', namespace=~`y|z`} == 0"#).unwrap();
        assert_eq!(a.text, b.text);
        assert_eq!(a.text, mark(r#"up{job="a", namespace="x.*"} == 0"#).unwrap().text);
        assert_ne!(a.text, mark(r#"up{job="a", namespace!="x.*"} == 0"#).unwrap().text);
        assert!(mark(r#"up{job!~"a"}"#).is_some());
    }
}
