#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.yaml` file under `dir`, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .map(walkdir::DirEntry::into_path)
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

pub fn fixture(rel: &str) -> String {
    root().join(rel).to_string_lossy().into_owned()
}

pub fn meterguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meterguard"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

pub fn meterguard_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_meterguard"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("the binary runs");
    let _ = writer.join();
    out
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

pub fn check_json(path: &str) -> (i32, serde_json::Value) {
    let out = meterguard(&["check", "--format", "json", path]);
    (out.status.code().unwrap_or(-1), json(&out))
}

/// (line, rule) of every finding, alert coverage left out (tests/alerts.rs covers it).
pub fn located(v: &serde_json::Value) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| !f["rule"].as_str().unwrap_or_default().starts_with("alerts/"))
        .map(|f| (f["line"].as_u64().unwrap_or(0), f["rule"].as_str().unwrap_or_default().to_owned()))
        .collect();
    out.sort();
    out
}

/// The `# expect: rule rule` comments of a fixture, as (line, rule).
pub fn expected(path: &Path) -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(path).expect("fixture readable");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some((_, rules)) = line.split_once("# expect:") {
            for r in rules.split_whitespace() {
                out.push((i as u64 + 1, r.to_owned()));
            }
        }
    }
    out.sort();
    out
}

pub fn findings<'v>(v: &'v serde_json::Value, rule: &str) -> Vec<&'v serde_json::Value> {
    v["findings"].as_array().expect("findings").iter().filter(|f| f["rule"] == rule).collect()
}

/// `text` with kube-prometheus-stack's Prometheus scraping every `interval`.
pub fn scraped_every(text: &str, interval: &str) -> String {
    let at = text.find("kind: Prometheus\nmetadata:\n  name: kps-kube-prometheus-stack-prometheus\n").unwrap();
    let spec_at = at + text[at..].find("\nspec:\n").unwrap() + "\nspec:\n".len();
    format!("{}  scrapeInterval: {interval}\n{}", &text[..spec_at], &text[spec_at..])
}
