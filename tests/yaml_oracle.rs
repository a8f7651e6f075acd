//! meterguard reads what Kubernetes reads (issue 33): every input here is read by meterguard and
//! by Kubernetes' own reader (apimachinery's YAMLReader and sigs.k8s.io/yaml, in
//! `tests/oracle/k8syaml`, built with Debian's Go packages), and the two must give the same
//! documents, the same values, and refuse the same documents. A refusal must be reported inside
//! the refused document. The few known differences are listed, with their reasons, in
//! `tests/oracle/known-differences.txt` and in `docs/yaml.md`; the list must stay exact.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use meterguard::input::Inputs;
use serde_json::Value;

/// The oracle, built once per test binary; `None` (a skip) only outside CI.
fn oracle() -> Option<&'static Path> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("k8syaml");
            let built = Command::new("go")
                .args(["build", "-o"])
                .arg(&out)
                .arg("./tests/oracle/k8syaml")
                .current_dir(common::root())
                .env("GOPATH", "/usr/share/gocode")
                .env("GO111MODULE", "off")
                .output();
            match built {
                Ok(o) if o.status.success() => Some(out),
                other => {
                    let why = match other {
                        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                        Err(e) => e.to_string(),
                    };
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "CI must install golang-go and golang-k8s-sigs-yaml-dev (see .ci/run): {why}"
                    );
                    eprintln!("the Kubernetes YAML oracle cannot be built here ({why}): skipping (CI builds it)");
                    None
                }
            }
        })
        .as_deref()
}

/// What the oracle says of one document: its JSON, or Kubernetes' error.
#[derive(Debug)]
struct Said {
    /// 1-based line (counting line feeds) where the document's text starts.
    line: usize,
    value: Result<Value, String>,
    /// The stream itself was refused here (a bad `---` line): nothing after it is read, nor the
    /// document it stands in, which started on this line.
    stream: Option<usize>,
}

/// Runs the oracle on every file at once.
fn ask(oracle: &Path, files: &[PathBuf]) -> BTreeMap<PathBuf, Vec<Said>> {
    let mut answers = BTreeMap::new();
    for batch in files.chunks(500) {
        let out = Command::new(oracle).args(batch).output().expect("the oracle runs");
        assert!(out.status.success(), "oracle: {}", String::from_utf8_lossy(&out.stderr));
        let mut current: Option<PathBuf> = None;
        for line in String::from_utf8(out.stdout).expect("the oracle writes UTF-8").lines() {
            if let Some(name) = line.strip_prefix("== ") {
                current = Some(PathBuf::from(name));
                answers.insert(PathBuf::from(name), Vec::new());
                continue;
            }
            let v: Value = serde_json::from_str(line).expect("the oracle writes JSON lines");
            let line_no = v["line"].as_u64().unwrap_or(0) as usize;
            let from = v["from"].as_u64().map(|f| f as usize);
            let text = |k: &Value| k.as_str().unwrap_or("").to_owned();
            let said = match (v.get("json"), v.get("error"), v.get("stream")) {
                (_, _, Some(s)) => Said { line: line_no, value: Err(text(s)), stream: Some(from.unwrap_or(line_no)) },
                (_, Some(e), _) => Said { line: line_no, value: Err(text(e)), stream: None },
                (Some(j), _, _) => Said { line: line_no, value: Ok(j.clone()), stream: None },
                _ => Said { line: line_no, value: Ok(Value::Null), stream: None },
            };
            answers.get_mut(current.as_ref().expect("a file header first")).expect("inserted").push(said);
        }
    }
    answers
}

/// Same JSON, numbers compared by value (Go writes `1000` where serde_json writes `1000.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(i), Some(j), _, _) => i == j,
            (_, _, Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Converts the oracle's line numbers (line feeds only) to meterguard's (which also ends a line
/// at a lone carriage return, as YAML does).
fn line_map(bytes: &[u8]) -> Vec<usize> {
    let mut map = vec![0, 1];
    let mut ours = 1;
    for (i, &b) in bytes.iter().enumerate() {
        let lone_cr = b == b'\r' && bytes.get(i + 1) != Some(&b'\n');
        if b == b'\n' || lone_cr {
            ours += 1;
        }
        if b == b'\n' {
            map.push(ours);
        }
    }
    map
}

/// Every way meterguard's reading of `bytes` differs from the oracle's, in words.
fn differences(bytes: &[u8], said: &[Said]) -> Vec<String> {
    let mut inputs = Inputs::default();
    inputs.add_bytes("input", bytes);
    let map = line_map(bytes);
    let ours = |line: usize| map.get(line).copied().unwrap_or(usize::MAX);
    let problems: Vec<(usize, String)> =
        inputs.problems.iter().map(|p| (p.pos.line as usize, format!("{}: {}", p.rule, p.message))).collect();
    let docs: Vec<(usize, Value)> =
        inputs.documents.iter().map(|d| (d.root.start().line as usize, d.root.to_json())).collect();
    let mut out = Vec::new();
    let mut checked_to = 0;
    for (i, s) in said.iter().enumerate() {
        let from = ours(s.line);
        if s.stream.is_some() {
            if !problems.iter().any(|(l, _)| *l == from) {
                out.push(format!(
                    "line {from}: Kubernetes refuses the stream here ({:?}); meterguard says nothing",
                    s.value
                ));
            }
            checked_to = usize::MAX;
            break;
        }
        let to = said.get(i + 1).map_or(usize::MAX, |n| ours(n.stream.unwrap_or(n.line)));
        checked_to = to;
        let here: Vec<&(usize, Value)> = docs.iter().filter(|(l, _)| (from..to).contains(l)).collect();
        let refused: Vec<&String> = problems.iter().filter(|(l, _)| (from..to).contains(l)).map(|(_, m)| m).collect();
        match &s.value {
            Err(e) if !here.is_empty() => {
                out.push(format!("line {from}: Kubernetes refuses the document ({e}); meterguard reads {}", here[0].1))
            }
            Err(e) if refused.is_empty() => {
                out.push(format!("line {from}: Kubernetes refuses the document ({e}); meterguard says nothing"))
            }
            Err(_) => {}
            Ok(Value::Null) => {
                if let Some((l, v)) = here.iter().find(|(_, v)| !v.is_null()) {
                    out.push(format!("line {l}: Kubernetes reads no document here; meterguard reads {v}"));
                }
            }
            Ok(v) => match here.as_slice() {
                [(_, mine)] if same(v, mine) => {}
                [(l, mine)] => out.push(format!("line {l}: Kubernetes reads {v}; meterguard reads {mine}")),
                [] => out.push(format!("line {from}: Kubernetes reads {v}; meterguard reads nothing ({refused:?})")),
                more => {
                    out.push(format!("line {from}: Kubernetes reads one document; meterguard reads {}", more.len()))
                }
            },
        }
    }
    if (said.is_empty() || checked_to == 0)
        && let Some((l, v)) = docs.iter().find(|(_, v)| !v.is_null())
    {
        out.push(format!("line {l}: Kubernetes reads no document; meterguard reads {v}"));
    }
    out
}

/// Runs the differential over `files`; returns each file's differences, files that agree left out.
fn compare(files: &[PathBuf]) -> Option<BTreeMap<PathBuf, Vec<String>>> {
    let oracle = oracle()?;
    let answers = ask(oracle, files);
    let mut out = BTreeMap::new();
    for f in files {
        let bytes = std::fs::read(f).expect("readable");
        let said = answers.get(f).unwrap_or_else(|| panic!("the oracle answered for {}", f.display()));
        let diff = differences(&bytes, said);
        if !diff.is_empty() {
            out.insert(f.clone(), diff);
        }
    }
    Some(out)
}

fn report(diffs: &BTreeMap<PathBuf, Vec<String>>) -> String {
    diffs.iter().map(|(f, d)| format!("{}:\n  {}", f.display(), d.join("\n  "))).collect::<Vec<_>>().join("\n")
}

#[test]
fn every_fixture_and_real_render_is_read_as_kubernetes_reads_it() {
    let files = common::yaml_files(&common::root().join("tests/fixtures"));
    assert!(files.len() > 100, "the fixtures, with the chart renders: {}", files.len());
    let Some(diffs) = compare(&files) else { return };
    assert!(diffs.is_empty(), "{} of {} files read differently:\n{}", diffs.len(), files.len(), report(&diffs));
}

#[test]
fn the_cloudzero_flow_sequence_is_read_with_exact_positions() {
    let text = "kind: ClusterRole\nrules:\n  - apiGroups: [\"\"]\n    resources: [\"secrets\"]\n    verbs: [\n      \
                # \"get\" - read\n      \"get\",\n      \"patch\"\n    ]\n  - verbs: [\"list\"]\n";
    let mut inputs = Inputs::default();
    inputs.add_bytes("cz.yaml", text.as_bytes());
    assert!(inputs.problems.is_empty(), "{:?}", inputs.problems);
    let rules = inputs.documents[0].root.get("rules").and_then(|r| r.as_seq()).expect("rules");
    let verbs = rules[0].get("verbs").expect("verbs");
    assert_eq!(verbs.start(), meterguard::input::Pos { line: 5, col: 12 });
    let items = verbs.as_seq().expect("a sequence");
    assert_eq!(items[1].start(), meterguard::input::Pos { line: 8, col: 7 });
    assert_eq!(items[1].as_str(), Some("patch"));
    assert_eq!(rules[1].start(), meterguard::input::Pos { line: 10, col: 5 });
}

/// The YAML test suite's cases (`tests/fixtures/yaml-test-suite`, MIT), each written to its own
/// file with the suite's visible markers undone, as its own tooling does.
fn suite_cases(dir: &Path) -> Vec<(String, PathBuf)> {
    let src = common::root().join("tests/fixtures/yaml-test-suite/src");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&src).expect("the suite").flatten().map(|e| e.path()).collect();
    entries.sort();
    let mut cases = Vec::new();
    for file in entries {
        let id = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let text = std::fs::read_to_string(&file).expect("UTF-8");
        let parsed = meterguard::input::yaml::parse_stream(&text);
        let list = parsed.documents.first().map(|d| d.root.to_json()).unwrap_or_default();
        for (n, case) in list.as_array().into_iter().flatten().enumerate() {
            let Some(yaml) = case.get("yaml").and_then(Value::as_str) else { continue };
            let name = if n == 0 { id.clone() } else { format!("{id}-{n}") };
            let path = dir.join(format!("{name}.yaml"));
            std::fs::write(&path, unmark(yaml)).expect("writable");
            cases.push((name, path));
        }
    }
    cases
}

/// The suite's visible markers: `␣` space, `—*»` (or `→`) tab, `↵` line end shown, `∎` no final
/// line break, `⇔` byte order mark, `←` carriage return.
fn unmark(yaml: &str) -> String {
    let mut s = yaml.replace('␣', " ").replace('→', "\t").replace('↵', "").replace('⇔', "\u{feff}").replace('←', "\r");
    while let Some(i) = s.find('»') {
        let start = s[..i].trim_end_matches('—').len();
        s.replace_range(start..i + '»'.len_utf8(), "\t");
    }
    if let Some(body) = s.strip_suffix("∎\n") {
        s = body.to_owned();
    }
    s
}

/// The suite's cases where meterguard and Kubernetes' reader part, each with its reason: the
/// file `tests/oracle/known-differences.txt` (`ID reason` per line; `#` starts a comment).
fn known_differences() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(common::root().join("tests/oracle/known-differences.txt")).expect("the list");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (id, why) = l.split_once(' ').unwrap_or((l, ""));
            (id.to_owned(), why.trim().to_owned())
        })
        .collect()
}

#[test]
fn the_yaml_test_suite_is_read_as_kubernetes_reads_it_but_for_the_listed_differences() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cases = suite_cases(dir.path());
    assert!(cases.len() > 400, "the suite's cases: {}", cases.len());
    let files: Vec<PathBuf> = cases.iter().map(|(_, p)| p.clone()).collect();
    let Some(diffs) = compare(&files) else { return };
    let differing: BTreeMap<&String, &Vec<String>> =
        cases.iter().filter_map(|(name, p)| diffs.get(p).map(|d| (name, d))).collect();
    let known = known_differences();
    let new: Vec<String> = differing
        .iter()
        .filter(|(name, _)| !known.contains_key(**name))
        .map(|(name, d)| format!("{name}: {}", d.join("; ")))
        .collect();
    let gone: Vec<&String> = known.keys().filter(|id| !differing.contains_key(id)).collect();
    eprintln!(
        "{} cases, {} read alike, {} listed differences",
        cases.len(),
        cases.len() - differing.len(),
        differing.len()
    );
    assert!(new.is_empty(), "{} cases read differently and are not listed:\n{}", new.len(), new.join("\n"));
    assert!(gone.is_empty(), "listed differences that are gone (remove them from the list): {gone:?}");
}

/// A small deterministic generator (xorshift), so that a failing shape can be found again.
struct Shapes(u64);

impl Shapes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// A scalar as Helm renders them, YAML 1.1's special words and numbers among them.
    fn scalar(&mut self) -> String {
        self.pick(&[
            "plain text",
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "n",
            "~",
            "null",
            "true",
            "0777",
            "0x1F",
            "1_000",
            "1e3",
            ".5",
            "+12",
            "-0",
            "0b101",
            "08",
            "2024-01-31",
            "12:30",
            "1.5Gi",
            "500m",
            "\"quoted: text\"",
            "'single ''q'''",
            "\"esc \\t \\u00e9 \\\"\"",
            "http://x.example:80/a#b",
            "a#b",
            "-dash",
            "\"\"",
            "''",
            "!!str 42",
            "!!int \"7\"",
            "!local thing",
            "&a1 anchored",
            "x: y",
        ])
        .to_owned()
    }

    fn block(&mut self, out: &mut String, indent: usize, depth: usize) {
        let pad = " ".repeat(indent);
        let entries = 1 + self.next() % 4;
        for i in 0..entries {
            let key = format!("k{depth}{i}");
            if self.chance(15) {
                out.push_str(&format!("{pad}# a comment {}\n", self.pick(&["", "with: colon", "- dash", "{ brace"])));
            }
            if self.chance(10) {
                out.push('\n');
            }
            match self.next() % 9 {
                0 | 1 if depth < 3 => {
                    out.push_str(&format!("{pad}{key}:\n"));
                    self.block(out, indent + 2, depth + 1);
                }
                2 if depth < 3 => {
                    let dash_pad = if self.chance(50) { pad.clone() } else { format!("{pad}  ") };
                    out.push_str(&format!("{pad}{key}:\n"));
                    for _ in 0..1 + self.next() % 3 {
                        if self.chance(50) {
                            out.push_str(&format!("{dash_pad}- {}\n", self.scalar()));
                        } else {
                            out.push_str(&format!("{dash_pad}- name: {}\n", self.scalar()));
                            out.push_str(&format!("{dash_pad}  value: {}\n", self.scalar()));
                        }
                    }
                }
                3 => {
                    // A flow sequence across lines, its `]` anywhere from the key's column on.
                    let close = " ".repeat(self.next() as usize % (indent + 3));
                    let inner = " ".repeat(indent + 2);
                    out.push_str(&format!("{pad}{key}: [\n"));
                    let n = 1 + self.next() % 3;
                    for j in 0..n {
                        let comma = if j + 1 < n || self.chance(30) { "," } else { "" };
                        let comment = if self.chance(30) { " # why" } else { "" };
                        out.push_str(&format!("{inner}\"{}\"{comma}{comment}\n", self.pick(&["get", "list", "a b"])));
                    }
                    out.push_str(&format!("{close}]\n"));
                }
                4 => {
                    let close = " ".repeat(self.next() as usize % (indent + 3));
                    out.push_str(&format!("{pad}{key}: {{\n{pad}  a: {},\n{pad}  b: [1, 2]\n{close}}}\n", self.scalar()));
                }
                5 => {
                    let header = self.pick(&["|", ">", "|-", ">-", "|+", ">+", "|2", ">2-", "|1+"]);
                    let body_pad = " ".repeat(indent + 2);
                    out.push_str(&format!("{pad}{key}: {header}\n"));
                    for line in ["first line", "  more indented", "", "last: line {{ $labels.pod }}"] {
                        if line.is_empty() {
                            out.push('\n');
                        } else {
                            out.push_str(&format!("{body_pad}{line}\n"));
                        }
                    }
                    if self.chance(30) {
                        out.push('\n');
                    }
                }
                6 => {
                    let sep = self.pick(&[":\t", ": ", ":  "]);
                    let tail = self.pick(&["", " # trailing comment", "   ", "\t"]);
                    out.push_str(&format!("{pad}{key}{sep}{}{tail}\n", self.scalar()));
                }
                7 => out.push_str(&format!("{pad}{key}: &ref{depth}{i} {{x: 1, y: {}}}\n{pad}m{depth}{i}:\n{pad}  <<: *ref{depth}{i}\n{pad}  y: 2\n", self.scalar())),
                _ => out.push_str(&format!("{pad}{key}: {}\n", self.scalar())),
            }
        }
    }

    fn stream(&mut self) -> Vec<u8> {
        let mut text = String::new();
        if self.chance(5) {
            text.push('\u{feff}');
        }
        for d in 0..1 + self.next() % 3 {
            if d > 0 || self.chance(50) {
                text.push_str(self.pick(&["---\n", "--- # next\n", "---   \n", "...\n---\n", "---\n\n", "--- \t\n"]));
            }
            if self.chance(40) {
                text.push_str("# Source: chart/templates/thing.yaml\n");
            }
            self.block(&mut text, 0, 0);
        }
        if self.chance(10) {
            text.push_str(self.pick(&["...\n", "---\n", "# end\n", "--- x\nk: v\n"]));
        }
        match self.next() % 10 {
            0 => text.replace('\n', "\r\n").into_bytes(),
            1 => text.replacen('\n', "\r\n", 3).into_bytes(),
            2 if self.chance(30) => text.replace('\n', "\r").into_bytes(),
            _ => text.into_bytes(),
        }
    }
}

#[test]
fn generated_helm_shapes_are_read_as_kubernetes_reads_them() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // MG_SHAPES_DIR keeps the shapes, to look at one that fails.
    let at = std::env::var_os("MG_SHAPES_DIR").map_or_else(|| dir.path().to_owned(), PathBuf::from);
    let mut shapes = Shapes(0x9e37_79b9_7f4a_7c15);
    let files: Vec<PathBuf> = (0..3000)
        .map(|i| {
            let path = at.join(format!("shape-{i}.yaml"));
            std::fs::write(&path, shapes.stream()).expect("writable");
            path
        })
        .collect();
    let Some(diffs) = compare(&files) else { return };
    let shown: BTreeMap<PathBuf, Vec<String>> = diffs.into_iter().take(5).collect();
    let texts: Vec<String> = shown
        .keys()
        .map(|f| format!("--- {}:\n{}", f.display(), String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default())))
        .collect();
    assert!(shown.is_empty(), "generated shapes read differently:\n{}\n{}", report(&shown), texts.join("\n"));
}

/// The inputs kept in `fuzz/regressions/yaml_roundtrip` (each shape where the two readers once
/// parted) must agree. `fuzz/oracle.sh` points `MG_ORACLE_INPUTS` at a fuzzer's corpus instead: the
/// differences are then listed for triage (a fuzzer's inputs fall in the listed classes too).
#[test]
fn inputs_kept_for_the_fuzzer_are_read_as_kubernetes_reads_them() {
    let triage = std::env::var_os("MG_ORACLE_INPUTS").map(PathBuf::from);
    let dir = triage.clone().unwrap_or_else(|| common::root().join("fuzz/regressions/yaml_roundtrip"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).expect("the inputs").flatten().map(|e| e.path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    let Some(diffs) = compare(&files) else { return };
    match triage {
        Some(_) => eprintln!("{} of {} inputs read differently:\n{}", diffs.len(), files.len(), report(&diffs)),
        None => assert!(diffs.is_empty(), "{}", report(&diffs)),
    }
}
