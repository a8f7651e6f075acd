//! Step 5: a report in the format asked for. One file per format.

pub mod annotate;
pub mod excerpt;
pub mod github;
pub mod guard;
pub mod human;
pub mod json;
pub mod markdown;
pub mod sarif;

use std::io::Write;

use serde::Serialize;

use crate::input::Inputs;
use crate::rules::Finding;

/// Renders `items` on all cores, two thousand at a time, and writes them in order: the report of
/// a large render holds a hundred thousand findings, and rendering them is most of writing it.
/// (The cores wait while a batch is written: batches of 256 made writing a 100k-object check's
/// report take a fifth longer.) `render` gets each item's index in `items`.
pub fn write_rendered<T: Sync>(
    items: &[T],
    out: &mut dyn Write,
    render: impl Fn(usize, &T, &mut Vec<u8>) + Sync,
) -> std::io::Result<()> {
    use rayon::prelude::*;
    const CHUNK: usize = 2048;
    for (c, chunk) in items.chunks(CHUNK).enumerate() {
        let rendered: Vec<Vec<u8>> = chunk
            .par_iter()
            .enumerate()
            .map(|(i, item)| {
                let mut buf = Vec::new();
                render(c * CHUNK + i, item, &mut buf);
                buf
            })
            .collect();
        rendered.iter().try_for_each(|r| out.write_all(r))?;
    }
    Ok(())
}

/// `items` as serde_json's pretty printer writes an array standing `depth` levels deep, the items
/// serialized on all cores (`write_rendered`); `item` writes one with `write_nested` at the depth
/// it is given. tests/corpus.rs holds the JSON and SARIF reports to serde_json's own pretty print.
pub fn write_array<T: Sync>(
    items: &[T],
    depth: usize,
    out: &mut dyn Write,
    item: impl Fn(&T, usize, &mut Vec<u8>) + Sync,
) -> std::io::Result<()> {
    if items.is_empty() {
        return out.write_all(b"[]");
    }
    out.write_all(b"[")?;
    let indent = "  ".repeat(depth + 1);
    write_rendered(items, out, |i, it, buf| {
        buf.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        buf.extend_from_slice(indent.as_bytes());
        item(it, depth + 1, buf);
    })?;
    out.write_all(format!("\n{}]", "  ".repeat(depth)).as_bytes())
}

/// `value` pretty-printed as it stands `depth` levels deep (its first line's indentation is the
/// caller's to write).
pub fn write_nested<S: Serialize>(value: &S, depth: usize, buf: &mut Vec<u8>) {
    // Into a Vec, of strings, numbers and maps with string keys: cannot fail.
    let _ = write_value(value, depth, buf);
}

/// `write_nested` straight into `out`, for a value written alone.
pub fn write_value<S: Serialize>(value: &S, depth: usize, out: &mut dyn Write) -> std::io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, Nested { depth, has_value: false });
    value.serialize(&mut ser).map_err(std::io::Error::from)
}

/// serde_json's `PrettyFormatter` with two spaces, starting `depth` levels in: that formatter
/// always starts at the margin, and re-indenting its output cost a copy of every report.
struct Nested {
    depth: usize,
    has_value: bool,
}

impl Nested {
    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            self.indent(w)?;
        }
        w.write_all(bracket)
    }

    fn item<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(w)
    }

    fn indent<W: ?Sized + Write>(&self, w: &mut W) -> std::io::Result<()> {
        (0..self.depth).try_for_each(|_| w.write_all(b"  "))
    }
}

impl serde_json::ser::Formatter for Nested {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.item(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.item(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// What a `write` function writes, as a string.
pub fn to_string(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> String {
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail, and serde_json writes UTF-8.
    let _ = write(&mut buf);
    String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// 1-based line and column of a finding, as every format prints them.
pub fn line_col(f: &Finding) -> (u32, u32) {
    (f.span.start.line.max(1), f.span.start.col.max(1))
}

/// The repository file a finding is about, for reports that link to one (SARIF, Markdown): its
/// Helm template when its source was rendered here (`meterguard helm`), with no position there
/// (the position is the render's); else its file and position.
pub fn repository_location<'a>(inputs: &'a Inputs, f: &'a Finding) -> (&'a str, Option<(u32, u32)>) {
    let rendered = f.source.is_some_and(|s| inputs.sources[s].rendered);
    match (&f.template, rendered) {
        (Some(t), true) => (t, None),
        _ => (file_of(inputs, f), Some(line_col(f))),
    }
}

/// The file a finding is reported against.
pub fn file_of<'a>(inputs: &'a Inputs, f: &'a Finding) -> &'a str {
    match f.source {
        Some(s) => &inputs.sources[s].name,
        None => &f.file,
    }
}
