//! Bytes that are not clean UTF-8 YAML, directories that fight back, and standard input at its limits.

use std::io::Write;

use super::*;

fn sizing_bad() -> String {
    std::fs::read_to_string(fixture("tests/fixtures/rules/sizing-bad.yaml")).unwrap()
}

#[test]
fn invalid_utf8_is_located_and_the_rest_analyzed() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  a: \xff\xfe\n".to_vec();
    bytes.extend_from_slice(GOOD.as_bytes());
    let (code, v) = check_text(dir.path(), "latin1.yaml", &bytes);
    assert_eq!(code, 2);
    assert_at(&v, "input/encoding", 6, 6, "invalid UTF-8 at byte 64");
    assert_eq!(objects(&v), 2);
}

#[test]
fn bom_utf16_and_crlf_give_the_same_findings_at_the_same_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text = sizing_bad();
    let (_, plain) = check_text(dir.path(), "plain.yaml", text.as_bytes());
    let want = located(&plain);
    assert!(!want.is_empty());
    let bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
    let le: Vec<u8> = [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let be: Vec<u8> = [0xFE, 0xFF].into_iter().chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect();
    let crlf = text.replace('\n', "\r\n");
    for (name, bytes) in [("bom.yaml", bom), ("le.yaml", le), ("be.yaml", be), ("crlf.yaml", crlf.into_bytes())] {
        let (code, v) = check_text(dir.path(), name, &bytes);
        assert_eq!(code, 1, "{name}");
        assert_eq!(located(&v), want, "{name}");
    }
}

#[test]
fn a_directory_with_loops_dangling_links_and_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("good.yaml"), GOOD).unwrap();
    std::fs::write(d.join("README.md"), "# not a manifest: skipped by extension\n").unwrap();
    std::fs::write(d.join("image.yaml"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    std::os::unix::fs::symlink(d, d.join("loop")).unwrap();
    std::os::unix::fs::symlink(d.join("nowhere.yaml"), d.join("dangling.yaml")).unwrap();
    let locked = d.join("locked.yaml");
    std::fs::write(&locked, GOOD.replace("still-checked", "locked")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads any file: the permission case can only be asserted for other users.
    let denied = std::fs::read(&locked).is_err();

    let (code, v) = check_json(&d.to_string_lossy());
    assert_eq!(code, 2);
    let unreadable = findings(&v, "input/unreadable");
    let named = |part: &str| unreadable.iter().any(|f| f["file"].as_str().unwrap_or_default().contains(part));
    // A link into the directory itself is not followed: what it leads to is read where it stands.
    assert!(!named("loop"), "{:#}", v["findings"]);
    assert!(named("dangling.yaml"), "the dangling link is named: {:#}", v["findings"]);
    if denied {
        assert!(named("locked.yaml"), "{:#}", v["findings"]);
    }
    assert!(unreadable.iter().all(|f| f["line"] == 1 && f["column"] == 1));
    assert!(!findings(&v, "input/encoding").is_empty() || !findings(&v, "input/yaml-syntax").is_empty());
    assert!(!v["findings"].to_string().contains("README"), "non-YAML files are not read");
    assert!(objects(&v) >= 1, "good.yaml is still checked");
}

/// A file of the system's trees (it could be read by root, CI runs as root) is refused by where it
/// is, and named; the others are checked.
#[test]
fn a_system_file_is_named_and_the_others_checked() {
    let good = fixture("tests/fixtures/rules/sizing-good.yaml");
    let out = meterguard(&["check", "--format", "json", "/proc/self/mem", &good]);
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    assert_at(&v, "input/not-a-file", 1, 1, "/proc/self/mem: not read: a file under /proc");
    assert!(objects(&v) >= 1);
}

#[test]
fn a_path_that_does_not_exist_is_named_and_the_others_checked() {
    let good = fixture("tests/fixtures/rules/sizing-good.yaml");
    let out = meterguard(&["check", "--format", "json", "no/such/file.yaml", &good]);
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    assert_at(&v, "input/unreadable", 1, 1, "no/such/file.yaml");
    assert!(objects(&v) >= 1);
}

#[test]
fn empty_standard_input_fails_closed() {
    for input in [&b""[..], b"\n\n", b"# Source: chart/templates/empty.yaml\n---\n"] {
        let out = meterguard_stdin(&["check", "--format", "json", "-"], input);
        assert_eq!(out.status.code(), Some(2), "{input:?}");
        let v = json(&out);
        assert_at(&v, "input/empty", 1, 1, "standard input holds no YAML document");
        assert_eq!(findings(&v, "input/empty")[0]["file"], "<stdin>");
    }
}

#[test]
fn standard_input_past_the_limit_stops_with_a_size_error() {
    let two_mib = GOOD.repeat(2 * 1024 * 1024 / GOOD.len() + 1);
    let out = meterguard_stdin(&["check", "--format", "json", "--max-input-bytes", "1048576", "-"], two_mib.as_bytes());
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    assert_at(&v, "input/too-large", 1, 1, "larger than --max-input-bytes (1048576 bytes)");
}

#[test]
fn a_gigabyte_on_standard_input_stops_at_the_default_limit() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_meterguard"))
        .args(["check", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'#'; 1 << 20];
        // Stops early when meterguard closes the pipe at its limit.
        for _ in 0..1024 {
            if stdin.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    assert_at(&v, "input/too-large", 1, 1, "larger than --max-input-bytes (536870912 bytes)");
}

#[test]
fn a_library_caller_may_set_no_limit() {
    // The command caps --max-input-bytes below 4 GiB; the library takes any u64, and the one more
    // byte it reads to see the limit passed must not wrap to a limit of nothing.
    let paths = [fixture("tests/fixtures/rules/sizing-bad.yaml")];
    let unlimited = meterguard::input::Inputs::read_paths(&paths, u64::MAX);
    assert!(unlimited.problems.is_empty(), "{:?}", unlimited.problems);
    let limited = meterguard::input::Inputs::read_paths(&paths, 1 << 20);
    assert!(!limited.documents.is_empty());
    assert_eq!(unlimited.documents.len(), limited.documents.len());
}

/// `alerts generate` and `diff` fail closed: an input that could not be read is an error, never
/// "everything is covered" or a diff that looks like every object was added.
#[test]
fn generate_and_diff_fail_closed_on_input_they_cannot_read() {
    let incident = fixture("examples/incident/incident.yaml");
    for out in
        [meterguard(&["alerts", "generate", "/nonexistent.yaml"]), meterguard_stdin(&["alerts", "generate"], b"")]
    {
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(out.stdout.is_empty());
        assert!(stderr(&out).contains("no rules generated"), "{}", stderr(&out));
    }
    let readme = meterguard(&["alerts", "generate", "README.md"]);
    assert_eq!(readme.status.code(), Some(2));
    assert!(stderr(&readme).contains("README.md:") && stderr(&readme).contains("input/yaml-syntax"));
    let none = meterguard(&["alerts", "generate", &fixture("tests/fixtures/diff/old.yaml")]);
    let said = String::from_utf8_lossy(&none.stdout);
    assert!(none.status.success() && (said.contains("no workload") || said.contains("kind: PrometheusRule")), "{said}");
    for format in ["human", "markdown"] {
        let out = meterguard(&["diff", "--format", format, "/nonexistent", &incident]);
        assert_eq!(out.status.code(), Some(2));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Input errors") && text.contains("/nonexistent"), "{format}: {text}");
    }
}
