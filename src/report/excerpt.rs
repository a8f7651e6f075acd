//! The few lines a human snippet shows, made safe to print: credentials masked, long lines cut
//! around the column, control characters shown as symbols (a NUL or an escape sequence from the input must not reach
//! the terminal), line numbers kept as in the file.

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

use crate::input::redact::{mask_after, mask_credential_line};
use crate::input::{Pos, Source};

/// Characters of a line shown before it is cut.
const WIDTH: usize = 160;
/// Characters kept before the column when a line is cut to show a column far to the right.
const LEAD: usize = 40;

pub struct Excerpt {
    name: String,
    text: String,
    /// 0-based line of the file where `text` starts.
    first_line: usize,
    /// The finding's line and 0-based column in the file: miette would count the excerpt's bytes.
    at: (usize, usize),
}

/// An excerpt of `src` around `start` (the line before and after it), the byte offset of `start`
/// in it and the length of the underline, for a token `len_chars` characters long.
pub fn around(src: &Source, name: &str, start: Pos, len_chars: usize) -> (Excerpt, usize, usize) {
    let line = (start.line.max(1) as usize).min(src.line_count());
    let first = line.saturating_sub(1).max(1);
    let last = (line + 1).min(src.line_count());
    let col = start.col.max(1) as usize - 1;
    let mut text = String::new();
    let (mut offset, mut len) = (0, 1);
    for n in first..=last {
        let previous = if n > 1 { src.line(n as u32 - 1) } else { "" };
        let masked = mask_credential_line(src.line(n as u32));
        let chars: Vec<char> = mask_after(previous, &masked).chars().collect();
        let skip = if n == line && col + len_chars.min(WIDTH / 2) > WIDTH { col.saturating_sub(LEAD) } else { 0 };
        if skip > 0 {
            text.push('…');
        }
        let shown = &chars[skip.min(chars.len())..(skip + WIDTH).min(chars.len())];
        if n == line {
            let before: String = shown.iter().take(col - skip).map(|c| printable(*c)).collect();
            offset = text.len() + before.len();
            let token: String = shown.iter().skip(col - skip).take(len_chars.max(1)).map(|c| printable(*c)).collect();
            len = token.len().max(1);
        }
        text.extend(shown.iter().map(|c| printable(*c)));
        if skip + WIDTH < chars.len() {
            text.push('…');
        }
        text.push('\n');
    }
    (Excerpt { name: name.to_owned(), text, first_line: first - 1, at: (line - 1, col) }, offset, len)
}

/// A character as it can be printed: C0 and C1 controls (but tab) and DEL become visible symbols.
/// How many characters of `rest` (a line from a finding's column) its underline spans, when the
/// tree did not keep the token's end (it keeps it only for a scalar written as its text reads):
/// a quoted scalar to its closing quote, a flow collection to its closing bracket, anything else
/// (a key, a block scalar's header) up to its colon. A token that goes on past the line is
/// underlined up to its colon too.
pub fn token_len(rest: &str) -> usize {
    let chars: Vec<char> = rest.chars().collect();
    let closed = match chars.first() {
        Some('"' | '\'') => quoted_end(&chars, 0),
        Some('[' | '{') => flow_end(&chars),
        _ => None,
    };
    closed.map(|end| end + 1).unwrap_or_else(|| chars.iter().position(|c| *c == ':').unwrap_or(0).max(1))
}

/// The index of the quote that closes the quoted scalar opening at `open`.
fn quoted_end(chars: &[char], open: usize) -> Option<usize> {
    let quote = chars[open];
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote == '"' => i += 1,
            '\'' if quote == '\'' && chars.get(i + 1) == Some(&'\'') => i += 1,
            c if c == quote => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the bracket that closes the flow collection opening at 0, past quoted scalars.
fn flow_end(chars: &[char]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '[' | '{' => depth += 1,
            ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            '"' | '\'' => i = quoted_end(chars, i)?,
            _ => {}
        }
        i += 1;
    }
    None
}

fn printable(c: char) -> char {
    match c {
        '\t' => c,
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'),
        '\u{7f}' => '\u{2421}',
        '\u{80}'..='\u{9f}' => '\u{FFFD}',
        _ => c,
    }
}

/// Text from the input (a key, a name) inside a message: the same treatment, newlines included.
pub fn printable_text(s: &str) -> String {
    s.chars().map(|c| if c == '\n' { c } else { printable(c) }).collect()
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self.text.as_str().read_span(span, before, after)?;
        let line = inner.line() + self.first_line;
        let column = if line == self.at.0 { self.at.1 } else { inner.column() };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            line,
            column,
            inner.line_count(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_without_a_kept_end_are_underlined_whole() {
        assert_eq!(token_len(r#""up{job=\"a\"} == 0" # note"#), 20);
        assert_eq!(token_len("'it''s: here' x"), 13);
        assert_eq!(token_len("[a, \"]\", {b: c}] # x"), 16);
        assert_eq!(token_len("memory: 2Gi"), 6);
        assert_eq!(token_len("|-"), 1);
        // Goes on past the line: up to the colon, as a key.
        assert_eq!(token_len("\"starts here: and"), 12);
        assert_eq!(token_len(""), 1);
    }

    #[test]
    fn long_lines_are_cut_around_the_column() {
        let long = format!("key: {}", "x".repeat(10_000));
        let src = Source::new("f.yaml", format!("a: 1\n{long}\nb: 2\n"));
        let (e, offset, len) = around(&src, "f.yaml", Pos { line: 2, col: 6 }, 10_000);
        assert!(e.text.len() < 3 * WIDTH, "{}", e.text.len());
        assert_eq!(&e.text[offset..offset + 1], "x");
        assert!(len >= 1 && offset + len <= e.text.len());
        let (e, offset, _) = around(&src, "f.yaml", Pos { line: 2, col: 9_000 }, 1);
        assert!(e.text.contains('…'));
        assert_eq!(&e.text[offset..offset + 1], "x");
    }

    #[test]
    fn control_characters_are_shown_not_sent() {
        let src = Source::new("f.yaml", "name: a\u{0}b\u{1b}[31m\n");
        let (e, _, _) = around(&src, "f.yaml", Pos { line: 1, col: 7 }, 1);
        assert!(!e.text.contains('\u{0}') && !e.text.contains('\u{1b}'));
        assert!(e.text.contains('\u{2400}') && e.text.contains('\u{241b}'));
    }
}
