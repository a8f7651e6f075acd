//! The last step before any byte leaves meterguard: every report, in every format, to stdout or to
//! an `--output` file, is written through a [`Guard`]. Whatever path through the rules, the diff
//! and the renderers carried a text from the input, the guard
//! - removes every secret value the input step found (`input/secrets.rs`), plainly written,
//!   JSON-escaped or base64-encoded at any alignment inside a longer blob;
//! - shows control and bidirectional characters as visible escapes, so that no byte of the input
//!   acts on a terminal (only meterguard's own colours pass, when colour is on);
//! - keeps any line from being a GitHub workflow command (`::set-output`, `::add-mask::`,
//!   `::stop-commands::`, `##[error]`) unless it is one of meterguard's own annotations.
//!
//! The renderers escape what they print as well; the guard is what makes it a property of the
//! output rather than of each renderer.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::Write;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;

/// Secret texts shorter than this are not searched for in the output (a one-letter password would
/// mask every `a`); the structural masks still hide them in snippets and diffs.
pub const MIN_SECRET_CHARS: usize = 4;

/// What the output is, for how a character is escaped and which lines may be workflow commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// JSON and SARIF: escapes are JSON's, and a masked bare number becomes the string `"***"`.
    Json,
    /// `--format github`: lines that are meterguard's own annotations stay commands.
    Github,
    /// Human and Markdown.
    Text { color: bool },
}

/// The secret texts to remove, compiled once for a run.
pub struct Scrub {
    finder: Option<AhoCorasick>,
}

/// A long secret is searched for in pieces this long, one after the other: a copy of it is masked
/// whole (the pieces are contiguous), and the automaton stays linear in the secrets' size.
const PIECE: usize = 64;
/// Bytes of patterns at most: past them (a render of hundreds of megabytes of Secrets) the
/// structural masks alone hide the rest.
const MAX_PATTERN_BYTES: usize = 32 << 20;

impl Scrub {
    pub fn new(values: &BTreeSet<String>) -> Scrub {
        let mut forms_of: BTreeSet<String> = BTreeSet::new();
        for v in values {
            for line in v.split(['\n', '\r']).map(str::trim).filter(|p| p.chars().count() >= MIN_SECRET_CHARS) {
                forms(line, &mut forms_of);
            }
        }
        let mut patterns: BTreeSet<&str> = BTreeSet::new();
        let mut bytes = 0;
        for form in &forms_of {
            for piece in pieces(form) {
                if bytes + piece.len() > MAX_PATTERN_BYTES {
                    break;
                }
                bytes += piece.len();
                patterns.insert(piece);
            }
        }
        let finder = (!patterns.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
                    .build(&patterns)
                    .ok()
            })
            .flatten();
        Scrub { finder }
    }

    pub fn none() -> Scrub {
        Scrub { finder: None }
    }

    /// The line with every secret replaced by `***`; in JSON, one outside a string becomes `"***"`.
    fn line<'l>(&self, line: &'l str, json: bool) -> Cow<'l, str> {
        let Some(finder) = &self.finder else { return Cow::Borrowed(line) };
        let mut out = String::new();
        let mut last = 0;
        let mut any = false;
        for m in finder.find_iter(line) {
            // The pieces of one long secret, one after the other, are one mask.
            if !(any && m.start() == last) {
                out.push_str(&line[last..m.start()]);
                out.push_str(if json && !in_json_string(&line[..m.start()]) { "\"***\"" } else { "***" });
            }
            last = m.end();
            any = true;
        }
        if !any {
            return Cow::Borrowed(line);
        }
        out.push_str(&line[last..]);
        Cow::Owned(out)
    }
}

/// A form cut into pieces of `PIECE` characters; the last piece is kept when it is long enough
/// to be searched for.
fn pieces(form: &str) -> impl Iterator<Item = &str> {
    let mut rest = form;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.char_indices().nth(PIECE).map_or(rest.len(), |(i, _)| i);
        let (piece, after) = rest.split_at(end);
        rest = after;
        Some(piece)
    })
    .filter(|p| p.chars().count() >= MIN_SECRET_CHARS)
}

/// The ways a secret can be written out: as it is, JSON-escaped, and base64 (standard and URL-safe)
/// at each of the three alignments it can have inside a longer encoded text, cut to the characters
/// that depend on the secret alone.
fn forms(secret: &str, out: &mut BTreeSet<String>) {
    out.insert(secret.to_owned());
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.trim_matches('"');
    if json != secret {
        out.insert(json.to_owned());
    }
    let bytes = secret.as_bytes();
    for skip in [0, 2, 1] {
        let rest = &bytes[skip.min(bytes.len())..];
        let whole = rest.len() / 3 * 3;
        if whole < 3 {
            continue;
        }
        for engine in [&base64::engine::general_purpose::STANDARD, &base64::engine::general_purpose::URL_SAFE] {
            let encoded = engine.encode(&rest[..whole]);
            if encoded.len() >= MIN_SECRET_CHARS {
                out.insert(encoded);
            }
        }
    }
}

/// Whether the end of `before` (a line of pretty-printed JSON) stands inside a string.
fn in_json_string(before: &str) -> bool {
    let mut inside = false;
    let mut escaped = false;
    for c in before.chars() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') if inside => escaped = true,
            (false, '"') => inside = !inside,
            _ => {}
        }
    }
    inside
}

/// Characters no report may carry from the input: C0 controls but tab and newline, DEL, C1
/// controls, the bidirectional overrides and isolates (they reorder what a reviewer reads), and
/// the line and paragraph separators.
fn unsafe_char(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{2028}' | '\u{2029}')
}

/// An SGR sequence (`ESC [ 1;31 m`) at the start of `rest`: meterguard's own colours.
fn sgr_len(rest: &str) -> Option<usize> {
    let body = rest.strip_prefix("\u{1b}[")?;
    let params = body.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
    (body[params..].starts_with('m')).then_some(2 + params + 1)
}

fn escape_controls(line: &str, target: Target) -> Cow<'_, str> {
    if !line.chars().any(unsafe_char) {
        return Cow::Borrowed(line);
    }
    let color = matches!(target, Target::Text { color: true });
    let mut out = String::with_capacity(line.len() + 8);
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if color
            && c == '\u{1b}'
            && let Some(n) = sgr_len(rest)
        {
            out.push_str(&rest[..n]);
            rest = &rest[n..];
            continue;
        }
        if unsafe_char(c) {
            // JSON's escape, which YAML's double-quoted strings read too (`alerts generate`).
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// Whether a line is one of meterguard's own annotations in `--format github`.
fn own_annotation(line: &str) -> bool {
    ["::error ", "::warning ", "::notice ", "::error::", "::warning::", "::notice::"]
        .iter()
        .any(|p| line.starts_with(p))
}

/// The line with no workflow command in it: GitHub's runner reads a command at the start of a
/// line after blanks (`::name ...::`) and, in the older syntax, `##[name ...]` anywhere in it.
fn defuse_commands(line: &str, target: Target) -> Cow<'_, str> {
    let start = line.len() - line.trim_start().len();
    let command = line[start..].starts_with("::") && !(target == Target::Github && start == 0 && own_annotation(line));
    if !command && !line.contains("##[") {
        return Cow::Borrowed(line);
    }
    let mut out = line.to_owned();
    if command {
        out.replace_range(start..start + 1, "%3A");
    }
    Cow::Owned(out.replace("##[", "#%23["))
}

/// One line through every check, in order: secrets first, so that a secret with a control
/// character in it is still found as written.
pub fn line(text: &str, scrub: &Scrub, target: Target) -> String {
    let scrubbed = scrub.line(text, target == Target::Json);
    let escaped = escape_controls(&scrubbed, target);
    defuse_commands(&escaped, target).into_owned()
}

/// A message for standard error (a config error that quotes the config, a path): made safe the
/// same way, without secrets to remove.
pub fn text(message: &str) -> String {
    let target = Target::Text { color: false };
    message.split('\n').map(|l| line(l, &Scrub::none(), target)).collect::<Vec<_>>().join("\n")
}

/// A writer that passes whole lines through [`line`].
pub struct Guard<'w> {
    out: &'w mut dyn Write,
    pending: Vec<u8>,
    scrub: &'w Scrub,
    target: Target,
}

impl<'w> Guard<'w> {
    pub fn new(out: &'w mut dyn Write, scrub: &'w Scrub, target: Target) -> Guard<'w> {
        Guard { out, pending: Vec::new(), scrub, target }
    }

    fn emit(&mut self, bytes: &[u8], newline: bool) -> std::io::Result<()> {
        let mut safe = line(&String::from_utf8_lossy(bytes), self.scrub, self.target);
        if newline {
            safe.push('\n');
        }
        self.out.write_all(safe.as_bytes())
    }

    /// Writes what is left of the last line, and flushes.
    pub fn finish(mut self) -> std::io::Result<()> {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.emit(&rest, false)?;
        }
        self.out.flush()
    }
}

impl Write for Guard<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut from = 0;
        for at in memchr::memchr_iter(b'\n', buf) {
            if self.pending.is_empty() {
                self.emit(&buf[from..at], true)?;
            } else {
                self.pending.extend_from_slice(&buf[from..at]);
                let whole = std::mem::take(&mut self.pending);
                self.emit(&whole, true)?;
            }
            from = at + 1;
        }
        self.pending.extend_from_slice(&buf[from..]);
        Ok(buf.len())
    }

    /// Lines are written as they complete; a partial line waits for its end (or `finish`), so that
    /// a secret is never split across two checks.
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(values: &[&str]) -> Scrub {
        Scrub::new(&values.iter().map(|v| (*v).to_owned()).collect())
    }

    #[test]
    fn secrets_are_removed_in_every_form() {
        let s = scrub(&["hunter2-canary", "ab", "multi\nline-secret-two"]);
        let t = Target::Text { color: false };
        assert_eq!(line("password: hunter2-canary!", &s, t), "password: ***!");
        let b64 = base64::engine::general_purpose::STANDARD.encode("xx hunter2-canary yy");
        assert!(!line(&b64, &s, t).contains(&b64[4..16]), "{}", line(&b64, &s, t));
        for prefix in ["", "a", "ab"] {
            let blob = base64::engine::general_purpose::STANDARD.encode(format!("{prefix}hunter2-canary"));
            let shown = line(&blob, &s, t);
            assert!(shown.contains("***") && shown.len() < blob.len(), "{prefix:?}: {shown}");
        }
        assert_eq!(line("ab is short", &s, t), "ab is short");
        assert_eq!(line("x line-secret-two", &s, t), "x ***");
        // JSON: inside a string, and a bare number.
        let n = scrub(&["12345678"]);
        assert_eq!(line(r#"  "old": 12345678,"#, &n, Target::Json), r#"  "old": "***","#);
        assert_eq!(line(r#"  "m": "was 12345678""#, &n, Target::Json), r#"  "m": "was ***""#);
        let q = scrub(&["a\"quoted\"b"]);
        assert_eq!(line(r#"  "m": "a\"quoted\"b""#, &q, Target::Json), r#"  "m": "***""#);
    }

    #[test]
    fn a_long_secret_is_masked_whole() {
        let long: String = (0..1000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let s = scrub(&[long.as_str()]);
        assert_eq!(line(&format!("x {long} y"), &s, Target::Text { color: false }), "x *** y");
    }

    #[test]
    fn controls_are_shown_not_sent() {
        let none = Scrub::none();
        let t = Target::Text { color: false };
        assert_eq!(line("a\u{1b}[2Jb\u{7}c\u{9b}d\u{202e}e\tf", &none, t), "a\\u001b[2Jb\\u0007c\\u009bd\\u202ee\tf");
        assert_eq!(line("\"a\u{9b}\"", &none, Target::Json), "\"a\\u009b\"");
        let c = Target::Text { color: true };
        assert_eq!(
            line("\u{1b}[1;31merror\u{1b}[0m \u{1b}]0;title\u{7}", &none, c),
            "\u{1b}[1;31merror\u{1b}[0m \\u001b]0;title\\u0007"
        );
    }

    #[test]
    fn no_line_but_meterguard_s_own_is_a_workflow_command() {
        let none = Scrub::none();
        let t = Target::Text { color: false };
        assert_eq!(line("  ::add-mask::x", &none, t), "  %3A:add-mask::x");
        assert_eq!(line("::error file=a::m", &none, t), "%3A:error file=a::m");
        assert_eq!(line("::error file=a::m", &none, Target::Github), "::error file=a::m");
        assert_eq!(line("::stop-commands::t", &none, Target::Github), "%3A:stop-commands::t");
        assert_eq!(line("x ##[error]y", &none, Target::Github), "x #%23[error]y");
        assert_eq!(line("a :: b", &none, t), "a :: b");
    }

    #[test]
    fn lines_split_across_writes_are_checked_whole() {
        let s = scrub(&["hunter2-canary"]);
        let mut out = Vec::new();
        let mut g = Guard::new(&mut out, &s, Target::Text { color: false });
        g.write_all(b"one hunt").unwrap();
        g.write_all(b"er2-canary\r\ntwo\n::x").unwrap();
        g.finish().unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "one ***\\u000d\ntwo\n%3A:x");
    }
}
