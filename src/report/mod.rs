//! Step 5: a report in the format asked for. One file per format.

pub mod annotate;
pub mod excerpt;
pub mod github;
pub mod human;
pub mod json;
pub mod markdown;
pub mod sarif;

use crate::input::Inputs;
use crate::rules::Finding;

/// 1-based line and column of a finding, as every format prints them.
pub fn line_col(f: &Finding) -> (u32, u32) {
    (f.span.start.line.max(1), f.span.start.col.max(1))
}

/// The file a finding is reported against.
pub fn file_of<'a>(inputs: &'a Inputs, f: &'a Finding) -> &'a str {
    match f.source {
        Some(s) => &inputs.sources[s].name,
        None => &f.file,
    }
}
