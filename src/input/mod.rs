//! Step 1 of the pipeline: paths and stdin -> sources -> YAML documents with positions.

pub mod de;
pub mod node;
pub mod redact;
pub mod source;
pub mod yaml;

use std::io::Read;
use std::path::Path;
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
        let parsed = yaml::parse_stream_pruned(&source.text, self.prune);
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
        self.sources.len() - 1
    }

    fn unreadable(&mut self, file: &str, message: String) {
        self.problems.push(InputProblem {
            rule: "input/unreadable",
            source: None,
            file: file.to_owned(),
            pos: Pos { line: 1, col: 1 },
            message,
        });
    }

    /// Reads every path: files, directories (recursively, `*.yaml`, `*.yml`, `*.json`) and `-` for stdin.
    pub fn read_paths(paths: &[String], max_bytes: u64) -> Inputs {
        let mut inputs = Inputs::default();
        inputs.extend_paths(paths, max_bytes);
        inputs
    }

    /// Reads more paths into the same set of sources (the new side of a diff after the old).
    pub fn extend_paths(&mut self, paths: &[String], max_bytes: u64) {
        for p in paths {
            if p == "-" {
                self.read_stdin(max_bytes);
            } else if Path::new(p).is_dir() {
                self.read_dir(p, max_bytes);
            } else {
                self.read_file(p, max_bytes);
            }
        }
    }

    pub fn read_stdin(&mut self, max_bytes: u64) {
        let mut buf = Vec::new();
        let stdin = std::io::stdin();
        match stdin.lock().take(max_bytes.saturating_add(1)).read_to_end(&mut buf) {
            Ok(_) if buf.len() as u64 > max_bytes => self.too_large("<stdin>", max_bytes),
            Ok(_) => {
                let id = self.sources.len();
                self.add_owned("<stdin>", buf);
                // A render that failed upstream (`helm template ... | meterguard check -`) arrives as
                // an empty stream: the gate must fail closed, not pass with nothing checked.
                let documents = self.documents.iter().filter(|d| d.source == id && !d.root.is_null()).count();
                let problems = self.problems.iter().any(|p| p.source == Some(id));
                if documents == 0 && !problems {
                    self.problems.push(InputProblem {
                        rule: "input/empty",
                        source: None,
                        file: "<stdin>".into(),
                        pos: Pos { line: 1, col: 1 },
                        message: "standard input holds no YAML document: nothing was checked (did the render before the pipe fail?)".into(),
                    });
                }
            }
            Err(e) => self.unreadable("<stdin>", format!("cannot read standard input: {e}")),
        }
    }

    fn too_large(&mut self, name: &str, max_bytes: u64) {
        self.problems.push(InputProblem {
            rule: "input/too-large",
            source: None,
            file: name.to_owned(),
            pos: Pos { line: 1, col: 1 },
            message: format!("input larger than --max-input-bytes ({max_bytes} bytes); it was not analyzed"),
        });
    }

    fn read_file(&mut self, name: &str, max_bytes: u64) {
        let result = std::fs::File::open(name).and_then(|f| {
            // Sized from the file's length up front: growing by doubling copied a 188 MB render
            // five times over and touched twice its size in fresh memory.
            let expected = f.metadata().map_or(0, |m| m.len()).min(max_bytes).saturating_add(1);
            let mut buf = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
            f.take(max_bytes.saturating_add(1)).read_to_end(&mut buf)?;
            Ok(buf)
        });
        match result {
            Ok(buf) if buf.len() as u64 > max_bytes => self.too_large(name, max_bytes),
            Ok(buf) => self.add_owned(name, buf),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.unreadable(name, format!("{name}: no such file or directory"))
            }
            Err(e) => self.unreadable(name, format!("{name}: cannot read: {e}")),
        }
    }

    fn read_dir(&mut self, dir: &str, max_bytes: u64) {
        let walker = walkdir::WalkDir::new(dir).follow_links(true).sort_by_file_name();
        for entry in walker {
            match entry {
                Ok(e) if e.file_type().is_file() && is_manifest(e.path()) => {
                    let name = e.path().to_string_lossy().into_owned();
                    self.read_file(&name, max_bytes);
                }
                Ok(_) => {}
                Err(e) => {
                    let name = e.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|| dir.to_owned());
                    let why = if e.loop_ancestor().is_some() { "symbolic link loop".to_owned() } else { e.to_string() };
                    self.unreadable(&name, format!("{name}: skipped: {why}"));
                }
            }
        }
    }
}

fn is_manifest(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}
