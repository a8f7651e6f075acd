//! promql-parser compiles a regular expression for every `=~`/`!~` matcher while it parses, and
//! parsing is most of what reading an alert rule costs. Rule files repeat a few patterns thousands
//! of times (`namespace=~".*"`, `code=~"5.."`), and a monorepo renders the same chart for several
//! environments, whose rules differ in label values only (`namespace="team-a"`).
//!
//! So an expression is parsed with every matcher's value replaced by a marker and the matcher's
//! number, and every regex matcher written as an equality matcher (`Matchers` finds them as the
//! crate's lexer tokenizes the text, so other strings and comments are never touched). That
//! skeleton is the same for every expression that differs in label values only, and is parsed once
//! (`super::parse_all`); each expression's own values are then put back, and each distinct pattern
//! is compiled once, by the crate's own `Matcher::new_matcher`. Values are unquoted by the crate's
//! own `unquote_string`, as its grammar unquotes them. The caller parses the original text instead
//! whenever the two could read differently (`Restored::Diverged`, a pattern that does not parse, a
//! selector the parser would have rejected as empty). One difference is wanted: a pattern that only
//! passes regex's compiled-size limit is read as valid, as Prometheus reads it (`pattern.rs`).

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::token::T_EQL_REGEX;
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

impl Marked {
    /// The unquoted values of the regex matchers (`=~`, `!~`).
    pub fn regexes(&self) -> impl Iterator<Item = &str> {
        self.values.iter().filter(|(k, _)| matches!(k, Kind::Re | Kind::NotRe)).map(|(_, v)| v.as_str())
    }
}

/// None when the expression has no matcher with a value (or holds the marker, or does not lex, or
/// a value does not unquote): parse it as is.
pub fn mark(expr: &str) -> Option<Marked> {
    // Every matcher operator holds one of these (`=`, `!=`, `=~`, `!~`).
    if expr.contains(MARK) || !expr.contains(['=', '~']) {
        return None;
    }
    let mut text = String::with_capacity(expr.len());
    let mut values = Vec::new();
    let mut copied = 0;
    for (kind, op, value) in Matchers::of(expr)? {
        let value_text = expr.get(value.clone())?;
        let unquoted = unquote_string(value_text).ok()?;
        text.push_str(expr.get(copied..op.start)?);
        text.push_str(kind.written());
        // Whatever lies between the operator and the value (spaces, a comment) stays.
        text.push_str(expr.get(op.end..value.start)?);
        text.push('"');
        text.push(MARK);
        text.push_str(&values.len().to_string());
        text.push(MARK);
        text.push('"');
        copied = value.end;
        values.push((kind, unquoted));
    }
    if values.is_empty() {
        return None;
    }
    text.push_str(expr.get(copied..)?);
    Some(Marked { text, values })
}

/// The (operator, quoted string) pairs of an expression, as promql-parser's lexer (0.11,
/// `parser/lex.rs`) tokenizes it: its lexer walks a vector of chars and makes a `String` of every
/// lexeme, and finding the values cost more than parsing the skeletons. This follows the lexer's
/// rules wherever they decide where a string or comment starts and ends, and which operator
/// precedes it; where the lexer would fail, it gives up (None), and the original is parsed for the
/// parser's message. Its other errors (parentheses, numbers, durations) lie outside the strings, so
/// the skeleton holds them too and fails to parse as the original does. A reading that still
/// differed could not pass `Marked::restore`, which wants every mark back in a matcher of its
/// operator; `tests` compare this with the crate's lexer, and so does the `promql_coverage`
/// fuzz target through `parse_as_written`.
struct Matchers<'e> {
    bytes: &'e [u8],
    at: usize,
    inside_braces: bool,
    inside_brackets: bool,
}

type Pair = (Kind, std::ops::Range<usize>, std::ops::Range<usize>);

impl<'e> Matchers<'e> {
    /// Every pair, or None where the lexer fails.
    fn of(expr: &'e str) -> Option<Vec<Pair>> {
        let mut scan = Matchers { bytes: expr.as_bytes(), at: 0, inside_braces: false, inside_brackets: false };
        let mut pairs = Vec::new();
        let mut op: Option<(Kind, std::ops::Range<usize>)> = None;
        while let Some(&c) = scan.bytes.get(scan.at) {
            let start = scan.at;
            match c {
                b'"' | b'\'' | b'`' | b'#' if scan.inside_brackets => return None,
                b'"' | b'\'' | b'`' => {
                    let value = scan.string(c)?;
                    if let Some((kind, op)) = op.take() {
                        pairs.push((kind, op, value));
                    }
                }
                // Spaces and comments are no lexemes: an operator still precedes what follows them.
                c if c.is_ascii_whitespace() => scan.at += 1,
                b'#' => scan.comment(),
                _ => {
                    op = scan.token(c)?.map(|kind| (kind, start..scan.at));
                }
            }
        }
        Some(pairs)
    }

    /// A quoted string from its opening `quote`: escapes as the lexer accepts them (the quote, or
    /// one of `ESCAPES`), in every kind of string, backquoted ones included.
    fn string(&mut self, quote: u8) -> Option<std::ops::Range<usize>> {
        const ESCAPES: &[u8] = b"abfnrtv\\01234567xuU";
        let start = self.at;
        let mut i = start + 1;
        loop {
            match *self.bytes.get(i)? {
                b'\\' => {
                    let escaped = *self.bytes.get(i + 1)?;
                    if escaped != quote && !ESCAPES.contains(&escaped) {
                        return None;
                    }
                    i += 2;
                }
                c if c == quote => break,
                _ => i += 1,
            }
        }
        self.at = i + 1;
        Some(start..self.at)
    }

    /// The lexer ends a comment at a carriage return or a line feed.
    fn comment(&mut self) {
        let rest = &self.bytes[self.at..];
        self.at += memchr::memchr2(b'\r', b'\n', rest).map_or(rest.len(), |p| p + 1);
    }

    /// One character or operator of anything but a string, a comment or a space: the matcher
    /// operator it is, if it is one. None where the lexer fails on these characters.
    fn token(&mut self, c: u8) -> Option<Option<Kind>> {
        let next = self.bytes.get(self.at + 1).copied();
        let (width, kind) = match (c, next) {
            (b'=', Some(b'~')) if self.inside_braces => (2, Some(Kind::Re)),
            (b'=', Some(b'~')) => return None,
            (b'=', Some(b'=')) if !self.inside_braces => (2, None),
            (b'=', _) => (1, Some(Kind::Equal)),
            (b'!', Some(b'~')) if self.inside_braces => (2, Some(Kind::NotRe)),
            (b'!', Some(b'=')) => (2, Some(Kind::NotEqual)),
            (b'!', _) => return None,
            (b'<' | b'>', Some(b'=')) if !self.inside_braces => (2, None),
            (b'{' | b'[', _) if self.inside_braces || self.inside_brackets => return None,
            (b'{', _) => {
                self.inside_braces = true;
                (1, None)
            }
            (b'[', _) => {
                self.inside_brackets = true;
                (1, None)
            }
            (b'}', _) if self.inside_braces => {
                self.inside_braces = false;
                (1, None)
            }
            (b']', _) if self.inside_brackets => {
                self.inside_brackets = false;
                (1, None)
            }
            (b'}' | b']', _) => return None,
            _ => (1, None),
        };
        self.at += width;
        Some(kind)
    }
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
    use lrpar::{Lexeme as _, Lexer as _};
    use promql_parser::parser::lexer;
    use promql_parser::parser::token::{T_EQL, T_NEQ, T_NEQ_REGEX, T_STRING};

    /// The pairs as the crate's lexer finds them: an operator token, then a string token.
    fn by_lexer(expr: &str) -> Option<Vec<Pair>> {
        let lexemes = lexer(expr).ok()?;
        let mut pairs = Vec::new();
        let mut op = None;
        for l in lexemes.iter() {
            let l = l.ok()?;
            let range = l.span().start()..l.span().end();
            op = match (l.tok_id(), op.take()) {
                (T_STRING, Some((kind, op))) => {
                    pairs.push((kind, op, range));
                    None
                }
                (T_EQL, _) => Some((Kind::Equal, range)),
                (T_NEQ, _) => Some((Kind::NotEqual, range)),
                (T_EQL_REGEX, _) => Some((Kind::Re, range)),
                (T_NEQ_REGEX, _) => Some((Kind::NotRe, range)),
                _ => None,
            };
        }
        Some(pairs)
    }

    /// Where the lexer reads the expression, the scan finds its pairs; where the lexer fails, the
    /// scan gives up, or the skeleton fails to parse as the original does.
    fn scans_as_the_lexer(expr: &str) {
        match by_lexer(expr) {
            Some(pairs) => assert_eq!(Matchers::of(expr), Some(pairs), "{expr:?}"),
            None => {
                if let Some(m) = mark(expr) {
                    assert!(super::super::parse_guarded(&m.text).is_err(), "{expr:?} -> {:?}", m.text);
                }
            }
        }
    }

    #[test]
    fn the_scan_finds_what_the_lexer_finds() {
        for expr in [
            r#"up{a="x", b=~'y', c!=`z`, d!~"w"} == 0"#,
            r#"up{a = # c "q"
              "x"}"#,
            "up{a=\"x\"} # \"=\"y\r== \"z\"",
            r#"up{a=="x"}"#,
            r#"up == "x""#,
            r#"up != "x""#,
            r#"up =~ "x""#,
            r#"up !~ "x""#,
            r#"up >= "x" <= "y""#,
            r#"up{a="x\"y", b='x\'y', c=`x\`y`}"#,
            r#"up{a="\q"}"#,
            r#"up{a=`\d+`}"#,
            r#"up{a="x"#,
            r#"up{a="x\"#,
            r#"rate(up{a="x"}[5m"]"]) > 1"#,
            r#"up{a="x"}[5m#]"#,
            r#"up{a={b="x"}}"#,
            r#"up}{a="x"}"#,
            r#"up{a="é", b="x\u00e9"} or on() vector(1)"#,
            r#"label_replace(up{a="x"}, "d", "$1", "s", "=(.*)")"#,
            r#"{a="b" or c=~"d"}"#,
            r#"up{a!"x"}"#,
        ] {
            scans_as_the_lexer(expr);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn the_scan_agrees_with_the_lexer_on_any_characters(expr in "[a-c{}\\[\\]()\"'`\\\\#=!~<>, \n\r:.05mqé]{0,24}") {
            scans_as_the_lexer(&expr);
        }

        #[test]
        fn the_scan_agrees_with_the_lexer_on_any_tokens(tokens in proptest::collection::vec(proptest::sample::select(vec![
            "up", "{", "}", "[5m]", "[", "]", "(", ")", ",", " ", "\n", "# c\n", "#\"\r", "a", "or ", "=", "==", "=~",
            "!=", "!~", "!", "<=", ">", "\"x\"", "'y'", "`z`", "\"\\\"\"", "'\\q'", "`\\``", "\"é\"", "\"", "'", "`",
            "1", "sum by (a) ", "@", "offset 5m",
        ]), 0..14)) {
            scans_as_the_lexer(&tokens.concat());
        }
    }

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
