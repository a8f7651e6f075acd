//! Where the bytes came from, and how to turn a line and column back into a byte offset.

use super::node::Pos;

pub type SourceId = usize;

#[derive(Debug)]
pub struct Source {
    /// The path as the user gave it, or `<stdin>`.
    pub name: String,
    /// Made here (`helm template` run by `meterguard helm`), not a file of the repository: reports
    /// that must name a repository file name the finding's Helm template instead.
    pub rendered: bool,
    pub text: String,
    /// 32-bit: `--max-input-bytes` stops below 4 GiB, and a render has millions of lines. Found
    /// when a snippet first needs them: a serial pass over the text (50 ms at 190 MB) that a run
    /// without snippets, whose text is released after parsing, never makes.
    line_starts: std::sync::OnceLock<Vec<u32>>,
}

/// A problem met while decoding the bytes, before any YAML is read.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeProblem {
    pub pos: Pos,
    pub message: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Source {
        Source { name: name.into(), text: text.into(), rendered: false, line_starts: std::sync::OnceLock::new() }
    }

    /// Lines end at `\n`, `\r\n` or a lone `\r`, as YAML and the parser count them: a file with
    /// CR-only line ends is many lines, not one.
    fn line_starts(&self) -> &[u32] {
        self.line_starts.get_or_init(|| {
            let bytes = self.text.as_bytes();
            let ends = || {
                memchr::memchr2_iter(b'\n', b'\r', bytes)
                    .filter(|&i| !(bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n')))
            };
            let mut starts = Vec::with_capacity(ends().count() + 1);
            starts.push(0);
            // An offset past u32 only exists in a text the input limit refused; it saturates.
            starts.extend(ends().map(|i| u32::try_from(i + 1).unwrap_or(u32::MAX)));
            starts
        })
    }

    /// Decodes bytes as Kubernetes tooling would: UTF-8 with or without a BOM, or UTF-16 with a BOM.
    /// Invalid UTF-8 is replaced (so the rest can still be analyzed) and reported. Valid UTF-8
    /// becomes the text without a copy: a render can be hundreds of megabytes.
    pub fn decode(name: impl Into<String>, mut bytes: Vec<u8>) -> (Source, Option<DecodeProblem>) {
        let name = name.into();
        let boms = bytes.chunks(3).take_while(|c| *c == b"\xEF\xBB\xBF").count();
        bytes.drain(..boms * 3);
        let utf16 = match bytes.as_slice() {
            [0xFF, 0xFE, rest @ ..] => Some((rest, false)),
            [0xFE, 0xFF, rest @ ..] => Some((rest, true)),
            _ => None,
        };
        if let Some((rest, big_endian)) = utf16 {
            let units: Vec<u16> = rest
                .chunks(2)
                .map(|c| {
                    let pair = [c[0], *c.get(1).unwrap_or(&0)];
                    if big_endian { u16::from_be_bytes(pair) } else { u16::from_le_bytes(pair) }
                })
                .collect();
            let text = String::from_utf16_lossy(&units);
            let problem = text.find('\u{FFFD}').map(|at| DecodeProblem {
                pos: pos_of_byte(&text, at),
                message: "invalid UTF-16: unpaired surrogate replaced".into(),
            });
            return (Source::new(name, text), problem);
        }
        match String::from_utf8(bytes) {
            Ok(s) => (Source::new(name, s), None),
            Err(e) => {
                let (e, bytes) = (e.utf8_error(), e.into_bytes());
                let valid = e.valid_up_to();
                // The prefix is valid UTF-8 by the error's own contract.
                let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
                let problem = DecodeProblem {
                    pos: pos_of_byte(before, before.len()),
                    message: format!(
                        "invalid UTF-8 at byte {valid}: Kubernetes rejects the file; the bytes were replaced to analyze the rest"
                    ),
                };
                let text = String::from_utf8_lossy(&bytes).into_owned();
                (Source::new(name, text), Some(problem))
            }
        }
    }

    pub fn line_count(&self) -> usize {
        self.line_starts().len()
    }

    /// Frees the text, once parsed, for a run whose reports show no snippets (nothing else reads
    /// it): a render's text is its whole size again in memory. `line` then answers "".
    pub fn release_text(&mut self) {
        // Freed here, not on another thread: freed there, the pages went back to the system only
        // after the next steps had taken new ones (10k objects peaked at 80-85 MiB in half the
        // runs, not 73-77), and freeing here costs no measurable time.
        self.text = String::new();
        self.line_starts = std::sync::OnceLock::new();
    }

    /// The text of a 1-based line, without its line end.
    pub fn line(&self, line: u32) -> &str {
        let i = (line as usize).saturating_sub(1);
        let starts = self.line_starts();
        let Some(&start) = starts.get(i) else { return "" };
        let start = (start as usize).min(self.text.len());
        let end = starts.get(i + 1).map_or(self.text.len(), |&e| e as usize).clamp(start, self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }
}

/// The lines of a text, without their ends, split as `Source::line` splits them.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        match t.find(['\n', '\r']) {
            Some(i) => {
                let skip = if t[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&t[i + skip..]).filter(|r| !r.is_empty());
                Some(&t[..i])
            }
            None => {
                rest = None;
                Some(t)
            }
        }
    })
}

/// The line breaks of a text as `lines` counts them: a line feed, or a carriage return that no
/// line feed follows.
pub fn line_breaks(text: &str) -> usize {
    let b = text.as_bytes();
    memchr::memchr2_iter(b'\n', b'\r', b).filter(|&i| b[i] == b'\n' || b.get(i + 1) != Some(&b'\n')).count()
}

/// The line and column of byte `at` of a text, lines counted as `lines` counts them.
pub fn pos_of_byte(text: &str, at: usize) -> Pos {
    let before = &text[..at];
    let line_start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
    Pos { line: line_breaks(before) as u32 + 1, col: before[line_start..].chars().count() as u32 + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_until_the_text_is_released() {
        let mut s = Source::new("x", "a: 1\nnäme: 2\n");
        assert_eq!((s.line(2), s.line(9)), ("näme: 2", ""));
        s.release_text();
        assert_eq!((s.text.as_str(), s.line(1), s.line(2), s.line_count()), ("", "", "", 1));
    }

    #[test]
    fn lines_end_at_lf_crlf_and_lone_cr() {
        let s = Source::new("x", "a: 1\rb: 2\r\nc: 3\nd: 4");
        assert_eq!((s.line_count(), s.line(1), s.line(2), s.line(3), s.line(4)), (4, "a: 1", "b: 2", "c: 3", "d: 4"));
        assert_eq!(lines("a\rb\r\nc\n").collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(line_breaks("a\rb\r\nc\n"), 3);
        assert_eq!(pos_of_byte("a\rb\r\ncd", 6), Pos { line: 3, col: 2 });
    }

    #[test]
    fn decodes_bom_and_utf16() {
        let (s, p) = Source::decode("x", b"\xEF\xBB\xBFa: 1".to_vec());
        assert_eq!(&*s.text, "a: 1");
        assert!(p.is_none());
        let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain("a: 1".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(&*Source::decode("x", utf16).0.text, "a: 1");
    }

    #[test]
    fn invalid_utf8_is_located() {
        let (s, p) = Source::decode("x", b"a: 1\nb: \xFF\n".to_vec());
        let p = p.expect("problem reported");
        assert_eq!(p.pos, Pos { line: 2, col: 4 });
        assert!(s.text.contains('\u{FFFD}'));
    }
}
