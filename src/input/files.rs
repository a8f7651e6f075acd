//! Paths and stdin -> bytes, reading only what was asked: regular files, inside the roots given,
//! within one byte budget for the whole run. A pull request can add a symbolic link
//! `env.yaml -> /proc/self/environ` or a FIFO; neither may print the job's environment or hang it.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{InputProblem, Inputs, Pos};

/// Trees whose files describe the running system, not manifests: reading them can print the
/// job's environment (`/proc/self/environ`) or never end (`/dev/zero`, `/proc/kmsg`).
const SYSTEM_TREES: [&str; 3] = ["/proc", "/sys", "/dev"];

impl Inputs {
    /// Reads every path: files, directories (recursively, `*.yaml`, `*.yml`, `*.json`) and `-` for
    /// stdin. `max_bytes` bounds the total read.
    pub fn read_paths(paths: &[String], max_bytes: u64) -> Inputs {
        let mut inputs = Inputs::default();
        inputs.extend_paths(paths, max_bytes);
        inputs
    }

    /// Reads more paths into the same set of sources (the new side of a diff after the old); the
    /// byte budget is shared with what was read before.
    pub fn extend_paths(&mut self, paths: &[String], max_bytes: u64) {
        for p in paths {
            if p == "-" {
                self.read_stdin(max_bytes);
            } else {
                self.read_named(p, max_bytes);
            }
        }
    }

    fn problem(&mut self, rule: &'static str, file: &str, message: String) {
        self.problems.push(InputProblem {
            rule,
            source: None,
            file: file.to_owned(),
            pos: Pos { line: 1, col: 1 },
            message,
        });
    }

    fn unreadable(&mut self, file: &str, message: String) {
        self.problem("input/unreadable", file, message);
    }

    fn too_large(&mut self, name: &str, max_bytes: u64) {
        let message = if self.read_bytes == 0 {
            format!("input larger than --max-input-bytes ({max_bytes} bytes); it was not analyzed")
        } else {
            format!(
                "the inputs together are larger than --max-input-bytes ({max_bytes} bytes, {} read before this one); it was not analyzed",
                self.read_bytes
            )
        };
        self.problem("input/too-large", name, message);
    }

    /// What may still be read.
    fn left(&self, max_bytes: u64) -> u64 {
        max_bytes.saturating_sub(self.read_bytes)
    }

    pub fn read_stdin(&mut self, max_bytes: u64) {
        let mut buf = Vec::new();
        let left = self.left(max_bytes);
        match std::io::stdin().lock().take(left.saturating_add(1)).read_to_end(&mut buf) {
            Ok(_) if buf.len() as u64 > left => self.too_large("<stdin>", max_bytes),
            Ok(_) => {
                self.read_bytes += buf.len() as u64;
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

    /// A path named on the command line. Followed if it is a link, but not out of the current
    /// directory, and never into the system's trees.
    fn read_named(&mut self, name: &str, max_bytes: u64) {
        let path = Path::new(name);
        let link = std::fs::symlink_metadata(path);
        let Ok(meta) = std::fs::metadata(path) else {
            match link {
                Ok(_) => self.unreadable(name, format!("{name}: skipped: a symbolic link to nothing")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.unreadable(name, format!("{name}: no such file or directory"))
                }
                Err(e) => self.unreadable(name, format!("{name}: cannot read: {e}")),
            }
            return;
        };
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(tree) = system_tree(&real) {
            return self.not_a_file(name, &format!("a file under {tree}, which describes the system, not a manifest"));
        }
        if link.is_ok_and(|m| m.file_type().is_symlink()) {
            let here = std::env::current_dir().and_then(std::fs::canonicalize);
            if !here.is_ok_and(|h| real.starts_with(h)) {
                return self.outside(name, "the current directory");
            }
        }
        if meta.is_dir() {
            self.read_dir(name, &real, max_bytes);
        } else {
            self.read_file(name, max_bytes);
        }
    }

    fn not_a_file(&mut self, name: &str, what: &str) {
        self.problem("input/not-a-file", name, format!("{name}: not read: {what}"));
    }

    /// The target is not named: where it points may itself tell something of the machine.
    fn outside(&mut self, name: &str, root: &str) {
        self.problem(
            "input/outside-root",
            name,
            format!("{name}: not read: a symbolic link whose target lies outside {root}"),
        );
    }

    /// Opens without waiting (a FIFO opened for reading blocks until a writer comes) and reads
    /// only if the opened file is a regular one: checked on the open file, so a path swapped for a
    /// FIFO between a look and the open is still refused.
    fn read_file(&mut self, name: &str, max_bytes: u64) {
        let opened = open_without_waiting(name).and_then(|f| f.metadata().map(|m| (f, m)));
        let (file, meta) = match opened {
            Ok(opened) => opened,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return self.unreadable(name, format!("{name}: no such file or directory"));
            }
            Err(e) => return self.unreadable(name, format!("{name}: cannot read: {e}")),
        };
        if !meta.is_file() {
            return self.not_a_file(name, kind_of(&meta.file_type()));
        }
        let left = self.left(max_bytes);
        // Sized from the file's length up front: growing by doubling copied a 188 MB render
        // five times over and touched twice its size in fresh memory.
        let expected = meta.len().min(left).saturating_add(1);
        let mut buf = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        match file.take(left.saturating_add(1)).read_to_end(&mut buf) {
            Ok(_) if buf.len() as u64 > left => self.too_large(name, max_bytes),
            Ok(_) => {
                self.read_bytes += buf.len() as u64;
                self.add_owned(name, buf);
            }
            Err(e) => self.unreadable(name, format!("{name}: cannot read: {e}")),
        }
    }

    /// A directory, without leaving it: links are not followed (a target inside is read where it
    /// stands; one outside is reported), and only regular files are read.
    fn read_dir(&mut self, dir: &str, real_root: &Path, max_bytes: u64) {
        let walker = walkdir::WalkDir::new(dir).follow_links(false).sort_by_file_name();
        for entry in walker {
            let e = match entry {
                Ok(e) => e,
                Err(e) => {
                    let name = e.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|| dir.to_owned());
                    self.unreadable(&name, format!("{name}: skipped: {e}"));
                    continue;
                }
            };
            let name = e.path().to_string_lossy().into_owned();
            let kind = e.file_type();
            if kind.is_dir() {
                continue;
            }
            if kind.is_symlink() {
                self.dir_link(&name, e.path(), real_root);
            } else if !is_manifest(e.path()) {
                continue;
            } else if kind.is_file() {
                self.read_file(&name, max_bytes);
            } else {
                self.not_a_file(&name, kind_of(&kind));
            }
        }
    }

    /// A link met in a directory: reported when it leads out of the root to a manifest or a
    /// directory, never read.
    fn dir_link(&mut self, name: &str, path: &Path, real_root: &Path) {
        let target: Option<PathBuf> = std::fs::canonicalize(path).ok();
        let Some(target) = target else {
            if is_manifest(path) {
                self.unreadable(name, format!("{name}: skipped: a symbolic link to nothing, or a loop"));
            }
            return;
        };
        if target.starts_with(real_root) {
            return;
        }
        if is_manifest(path) || target.is_dir() {
            self.outside(name, "the directory given");
        }
    }
}

#[cfg(unix)]
fn open_without_waiting(name: &str) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(name)
}

#[cfg(not(unix))]
fn open_without_waiting(name: &str) -> std::io::Result<std::fs::File> {
    std::fs::File::open(name)
}

fn system_tree(real: &Path) -> Option<&'static str> {
    SYSTEM_TREES.into_iter().find(|t| real.starts_with(t))
}

fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (reading it would wait for a writer)";
        } else if t.is_socket() {
            return "a socket";
        } else if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() { "a directory" } else { "not a regular file" }
}

fn is_manifest(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}
