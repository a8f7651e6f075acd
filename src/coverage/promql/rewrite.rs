//! promql-parser compiles a regular expression for every `=~`/`!~` matcher while it parses. Rule
//! files repeat a few patterns thousands of times (`namespace=~".*"`, `code=~"5.."`), and on a
//! render with 17,000 rules compiling was a fifth of the whole check (perf, docs/performance.md).
//!
//! So an expression with regex matchers is parsed once with each of them written as an equality
//! matcher whose value starts with a marker and the matcher's number (the crate's own lexer finds
//! them, so strings and comments are never touched); the matchers are then turned back, and each
//! distinct pattern is compiled once, by the crate's own `Matcher::new_matcher`. The caller parses
//! the original text instead whenever the two could read differently (`Restored::Diverged`, a
//! pattern that does not parse, a selector the parser would have rejected as empty). One
//! difference is wanted: a pattern that only passes regex's compiled-size limit is read as valid,
//! as Prometheus reads it (`pattern.rs`).

use lrpar::{Lexeme as _, Lexer as _};
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::lexer;
use promql_parser::parser::token::{T_EQL_REGEX, T_NEQ_REGEX, T_STRING, TokenId};

/// A private-use character: no metric, label or pattern in a real rule holds one, and a text that
/// does is parsed as it is.
const MARK: char = '\u{E000}';

/// The rewritten text and, by number, whether each marked matcher was `=~` or `!~`.
pub struct Marked {
    pub text: String,
    negated: Vec<bool>,
}

/// None when the expression has no regex matcher (or holds the marker, or does not lex): parse it as is.
pub fn mark(expr: &str) -> Option<Marked> {
    // Most expressions have no regex matcher at all; only the others are worth lexing twice.
    if expr.contains(MARK) || !(expr.contains("=~") || expr.contains("!~")) {
        return None;
    }
    let lexemes = lexer(expr).ok()?;
    let mut text = String::with_capacity(expr.len() + 16);
    let mut negated = Vec::new();
    let mut copied = 0;
    let mut after_op: Option<TokenId> = None;
    for l in lexemes.iter() {
        let l = l.ok()?;
        let (id, span) = (l.tok_id(), l.span());
        match id {
            T_EQL_REGEX | T_NEQ_REGEX => {
                text.push_str(expr.get(copied..span.start())?);
                // Same length, so the parser's messages keep their columns up to the first value.
                text.push_str(if id == T_EQL_REGEX { " =" } else { "!=" });
                copied = span.end();
                after_op = Some(id);
            }
            // The string lexeme starts with its quote, whichever it is (one byte).
            T_STRING if after_op.is_some() => {
                let open = span.start() + 1;
                if !expr.get(span.start()..)?.starts_with(['"', '\'', '`']) {
                    return None;
                }
                text.push_str(expr.get(copied..open)?);
                text.push(MARK);
                text.push_str(&negated.len().to_string());
                text.push(MARK);
                copied = open;
                negated.push(after_op == Some(T_NEQ_REGEX));
                after_op = None;
            }
            _ => after_op = None,
        }
    }
    if negated.is_empty() {
        return None;
    }
    text.push_str(expr.get(copied..)?);
    Some(Marked { text, negated })
}

/// One marked matcher turned back.
pub enum Restored<'m> {
    /// Not a marked matcher: keep it.
    Plain,
    /// The matcher the original text declares: its pattern, `!~` or `=~`, and the number it carried.
    Pattern { pattern: &'m str, negated: bool, n: usize },
    /// Marked, but not as `mark` marks: the original text must be parsed for the parser's verdict.
    Diverged,
}

impl Marked {
    pub fn count(&self) -> usize {
        self.negated.len()
    }

    pub fn restore<'m>(&self, m: &'m Matcher) -> Restored<'m> {
        let Some(rest) = m.value.strip_prefix(MARK) else { return Restored::Plain };
        if !matches!(m.op, MatchOp::Equal) {
            return Restored::Diverged;
        }
        let Some((number, pattern)) = rest.split_once(MARK) else { return Restored::Diverged };
        let Some(n) = number.parse::<usize>().ok() else { return Restored::Diverged };
        let Some(&negated) = self.negated.get(n) else { return Restored::Diverged };
        Restored::Pattern { pattern, negated, n }
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
        let m = mark(r#"label_replace(up{job=~"a.*", x!~'b'}, "d", "$1", "s", "(.*)") # =~"c""#).unwrap();
        assert_eq!(
            m.text,
            "label_replace(up{job =\"\u{E000}0\u{E000}a.*\", x!='\u{E000}1\u{E000}b'}, \"d\", \"$1\", \"s\", \"(.*)\") # =~\"c\""
        );
        assert_eq!(m.negated, [false, true]);
        assert!(mark(r#"up{job="a"} == 0"#).is_none());
        assert!(mark("up{job=~\"\u{E000}\"}").is_none());
    }
}
