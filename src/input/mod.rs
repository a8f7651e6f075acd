//! Step 1 of the pipeline: paths and stdin -> sources -> YAML documents with positions.

pub mod de;
mod files;
pub mod goyaml;
pub mod node;
pub mod redact;
pub mod secrets;
pub mod source;
pub mod yaml;

use std::sync::Arc;

pub use node::{Kind, Node, Pos, Span};
pub use source::{Source, SourceId};

/// 512 MiB: four times the largest render the performance targets name.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug)]
pub struct Document {
    pub source: SourceId,
    /// Shared with the objects and findings of the document.
    pub template: Option<Arc<str>>,
    pub root: Node,
}

/// A problem in the input itself, found before any object is modelled.
#[derive(Debug, Clone, PartialEq)]
pub struct InputProblem {
    pub rule: &'static str,
    pub source: Option<SourceId>,
    /// The file as named, for problems with files that could not be read.
    pub file: String,
    pub pos: Pos,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Inputs {
    pub sources: Vec<Source>,
    pub documents: Vec<Document>,
    pub problems: Vec<InputProblem>,
    /// Applied to every document as it is parsed, to drop what no later step reads (a plain
    /// check sets `model::prune::unread_bodies`; a diff keeps everything).
    pub prune: Option<fn(&mut Node)>,
    /// Each source's text is released once it is parsed (`Source::release_text`): set for a run
    /// whose reports show no snippets of the input.
    pub release_text: bool,
    /// Nodes that anchors and aliases copied so far, across sources (`yaml::MAX_COPIED_NODES`).
    pub copied: usize,
    /// Bytes read so far from every path and stdin: `--max-input-bytes` bounds their total.
    pub read_bytes: u64,
    /// Every secret text of every source (`secrets.rs`), for the report guard to remove.
    pub secret_values: std::collections::BTreeSet<String>,
    /// By source: where its snippets must show `***`, sorted.
    pub masks: Vec<Vec<secrets::Mask>>,
}

impl Inputs {
    /// Adds one source's bytes: decode, split, parse.
    pub fn add_bytes(&mut self, name: &str, bytes: &[u8]) {
        self.add_owned(name, bytes.to_vec());
    }

    /// `add_bytes` for bytes the caller hands over: UTF-8 becomes the source's text without a copy.
    pub fn add_owned(&mut self, name: &str, bytes: Vec<u8>) {
        let id = self.sources.len();
        let (source, decode) = source::Source::decode(name, bytes);
        if let Some(d) = decode {
            self.problems.push(InputProblem {
                rule: "input/encoding",
                source: Some(id),
                file: name.to_owned(),
                pos: d.pos,
                message: d.message,
            });
        }
        let budget = yaml::MAX_COPIED_NODES.saturating_sub(self.copied);
        let mut parsed = yaml::parse_stream_pruned(&source.text, self.prune, budget, true);
        self.copied += parsed.copied;
        parsed.found.masks.sort_unstable();
        parsed.found.masks.dedup();
        self.secret_values.extend(parsed.found.values.drain(..));
        self.masks.push(std::mem::take(&mut parsed.found.masks));
        let mut source = source;
        if self.release_text {
            source.release_text();
        }
        self.sources.push(source);
        for p in parsed.problems {
            self.problems.push(InputProblem {
                rule: p.rule,
                source: Some(id),
                file: name.to_owned(),
                pos: p.pos,
                message: p.message,
            });
        }
        self.documents.reserve_exact(parsed.documents.len());
        let documents = parsed.documents.into_iter();
        self.documents.extend(documents.map(|d| Document { source: id, template: d.template, root: d.root }));
    }

    /// Registers a text that is not a manifest (the config file), so findings can point into it.
    pub fn add_source_only(&mut self, name: &str, text: &str) -> SourceId {
        self.sources.push(Source::new(name, text));
        self.masks.push(Vec::new());
        self.sources.len() - 1
    }
}
