//! A pull request from a stranger, as an attacker writes it: Secrets in every shape YAML allows,
//! credentials in configs and encoded blobs, links out of the tree, FIFOs, workflow commands and
//! escape sequences in names, expressions built to overflow the stack, documents built to blow up.
//! Every case runs the real binary, bounded in time and memory (`bounded`), and every output of it
//! passes `assert_safe`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

use super::*;

/// Peak memory a case may reach (the issue's bound: 256 MiB on the 2-core machine).
const MAX_RSS_KIB: i64 = 256 * 1024;
/// A case still running after this is taken for a hang (the release binary takes well under the
/// 20 s the issue allows; this bound only catches a hang, in a debug build on a busy machine).
const HANG: Duration = Duration::from_secs(120);

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub peak_kib: i64,
}

/// The binary run to its end under GNU time, for its peak resident memory (measured from a small
/// parent: a process spawned from this test binary would count the test's own memory, which it
/// shares until it executes); killed, with its group, as hung past `HANG`. `.ci/run` installs time.
pub fn bounded(args: &[&str]) -> Run {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let time = std::path::Path::new("/usr/bin/time");
    assert!(time.exists(), "GNU time (Debian package `time`) measures the peak memory of each case");
    let peak = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(time)
        .args(["-f", "%M", "-o"])
        .arg(peak.path())
        .arg(env!("CARGO_BIN_EXE_meterguard"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("the binary starts");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut o = Vec::new();
        let _ = out.read_to_end(&mut o);
        o
    });
    let err_reader = std::thread::spawn(move || {
        let mut e = Vec::new();
        let _ = err.read_to_end(&mut e);
        e
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HANG {
            // SAFETY: signals the process group this test started.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            panic!("{args:?} hung: still running after {HANG:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    let measured = std::fs::read_to_string(peak.path()).unwrap_or_default();
    // GNU time writes "Command exited with non-zero status N" (or "terminated by signal") first.
    assert!(!measured.contains("signal"), "{args:?} died by a signal: {measured}{stderr}");
    let peak_kib = measured.lines().last().and_then(|l| l.trim().parse().ok()).expect("time reported the peak");
    let seconds = started.elapsed().as_secs_f64();
    // The figures docs/hostile.md gives: `cargo test --release --test hostile untrusted -- --nocapture --test-threads=1`.
    eprintln!(
        "bounded: {:.2} s {} KiB {}",
        seconds,
        peak_kib,
        args.join(" ").replace(std::env::temp_dir().to_str().unwrap_or("/tmp"), "")
    );
    let run = Run { code: status.code(), stdout, stderr, peak_kib };
    assert!(run.peak_kib < MAX_RSS_KIB, "{args:?} peaked at {} KiB", run.peak_kib);
    assert!(matches!(run.code, Some(0..=2)), "{args:?} exited {:?}: {}", run.code, run.stderr);
    run
}

/// No byte of the output can act on a terminal or a CI log: no control character but newline and
/// tab, no C1 control, no bidirectional override, and no workflow command but meterguard's own
/// annotations in `--format github`.
pub fn assert_safe(run: &Run, what: &str) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let bad = text.chars().find(|&c| {
            (c < ' ' && c != '\n' && c != '\t')
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
        });
        assert!(bad.is_none(), "{what}: {stream} carries {bad:?}");
        for line in text.lines() {
            let t = line.trim_start();
            let own = ["::error ", "::warning ", "::notice "].iter().any(|p| line.starts_with(p));
            assert!(!t.starts_with("::") || own, "{what}: {stream} holds a workflow command: {line}");
            assert!(!line.contains("##["), "{what}: {stream} holds a workflow command: {line}");
        }
    }
}

const FORMATS: [&str; 5] = ["human", "json", "markdown", "sarif", "github"];

/// Every command and format a pull request's render goes through, with `old` as the base.
fn every_output(old: &str, new: &str) -> Vec<(String, Run)> {
    let mut runs = Vec::new();
    for format in FORMATS {
        for args in [
            vec!["check", "--format", format, new],
            vec!["check", "--format", format, "--base", old, new],
            vec!["diff", "--all", "--show-noise", "--format", format, old, new],
            vec!["diff", "--all", "--format", format, new, old],
        ] {
            runs.push((format!("{args:?}"), bounded(&args)));
        }
    }
    runs.push(("alerts generate".into(), bounded(&["alerts", "generate", new])));
    runs
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// The canary, and the forms it must never take in an output: as it is, and base64-encoded at
/// each alignment it can have inside a longer blob.
fn forbidden(canary: &str) -> Vec<String> {
    let mut forms = vec![canary.to_owned()];
    for prefix in ["", "a", "ab"] {
        // The characters that depend on the canary alone: past the first group, before the last.
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{canary}"));
        let inner = &b64[4..(b64.len() - 4).clamp(4, 20)];
        if inner.len() >= 4 {
            forms.push(inner.to_owned());
        }
    }
    forms
}

fn assert_never_shown(runs: &[(String, Run)], canary: &str, case: &str) {
    for (what, run) in runs {
        for form in forbidden(canary) {
            assert!(
                !run.stdout.contains(&form) && !run.stderr.contains(&form),
                "{case}: {what} printed {form:?}:\n{}{}",
                run.stdout,
                run.stderr
            );
        }
        assert_safe(run, what);
    }
}

/// Secrets written in every shape Kubernetes reads as a Secret; each shape has a duplicate key
/// beside the canary, so that a snippet is shown right there.
fn secret_shapes(canary: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "list",
            format!(
                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {{name: l}}\n  data:\n    dup: eA==\n    token: {canary}\n    dup: eQ==\n"
            ),
        ),
        (
            "json",
            format!(
                "{{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{{\"name\":\"j\"}},\"stringData\":{{\"t\":\"{canary}\",\"t\":\"x\"}}}}\n"
            ),
        ),
        (
            "comment",
            format!(
                "apiVersion: v1\nkind: Secret # the credentials\nmetadata: {{name: c}}\nstringData:\n  a: x\n  t: {canary}\n  a: y\n"
            ),
        ),
        (
            "quoted-key",
            format!(
                "'apiVersion': v1\n'kind': Secret\n'metadata': {{'name': q}}\n'stringData':\n  a: x\n  t: '{canary}'\n  a: y\n"
            ),
        ),
        (
            "spaced-colon",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData :\n  a: x\n  t: {canary}\n  a: y\n"
            ),
        ),
        (
            "flow-lines",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: f}}\nstringData: {{a: x,\n  t: {canary},\n  a: y}}\n"
            ),
        ),
        (
            "escaped-kind",
            format!(
                "apiVersion: v1\nkind: \"Secr\\x65t\"\nmetadata: {{name: e}}\nstringData:\n  a: x\n  t: {canary}\n  a: y\n"
            ),
        ),
        (
            "cr-only",
            format!(
                "apiVersion: v1\rkind: Secret\rmetadata: {{name: r}}\rstringData:\r  a: x\r  t: {canary}\r  a: y\r"
            ),
        ),
        (
            "block",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: b}}\nstringData:\n  a: x\n  conf: |\n    user: admin\n    pass: {canary}\n  a: y\n"
            ),
        ),
        ("broken", format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: broken\nstringData:\n  t: {canary}\n")),
    ]
}

#[test]
fn a_secret_in_any_shape_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let canary = "cAnArY-7f3a9e-secret";
    let old = write(dir.path(), "old.yaml", GOOD);
    for (shape, text) in secret_shapes(canary) {
        let new = write(dir.path(), &format!("{shape}.yaml"), &(text + GOOD));
        let runs = every_output(&old, &new);
        assert_never_shown(&runs, canary, shape);
        // The rest of the input was still checked.
        let v = json(&meterguard(&["check", "--format", "json", &new]));
        assert!(objects(&v) >= 1, "{shape}");
        // Piped, as `helm template . | meterguard check -` reads it.
        for format in FORMATS {
            let out = meterguard_stdin(&["check", "--format", format, "-"], std::fs::read(&new).unwrap().as_slice());
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(!text.contains(canary), "{shape} on stdin, {format}: {text}");
        }
    }
}

#[test]
fn a_secret_s_neighbouring_values_are_masked_in_snippets() {
    let dir = tempfile::tempdir().unwrap();
    for (shape, text) in secret_shapes("cAnArY-7f3a9e-secret") {
        let new = write(dir.path(), &format!("{shape}.yaml"), &text);
        let human = bounded(&["check", &new]).stdout;
        // The duplicate keys' values (`x`, `y`, `eA==`) are a Secret's too.
        for value in [": x", ": y", "eA==", "eQ=="] {
            assert!(!human.contains(value), "{shape}: {value:?} shown:\n{human}");
        }
    }
}

/// Credentials outside Secrets: flow-style auth blocks in prometheus.yml and alertmanager.yml,
/// Kubecost's HELM_VALUES, a last-applied annotation holding a Secret, and a number under a
/// credential-named key (reported by `schema/invalid-type`).
fn credential_shapes(canary: &str, other: &str) -> String {
    let helm = base64::engine::general_purpose::STANDARD
        .encode(format!("kubecostToken: {canary}\ngrafana:\n  adminPassword: {other}\nprometheus: {{server: {{}}}}\n"));
    let applied = format!(
        "{{\\\"apiVersion\\\":\\\"v1\\\",\\\"kind\\\":\\\"Secret\\\",\\\"data\\\":{{\\\"token\\\":\\\"{canary}\\\"}}}}"
    );
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: prometheus-server, namespace: kubecost}}\ndata:\n  \
         prometheus.yml: |\n    remote_write:\n    - url: https://mimir.example.com/push\n      basic_auth: {{username: u, password: {canary}}}\n    \
         - url: https://a.example.com/push\n      http_config: {{bearer_token: {canary}}}\n    - url: https://b.example.com\n      \
         sigv4: {{region: x, secret_key: {canary}}}\n  alertmanager.yml: |\n    global: {{slack_api_url: 'https://hooks.slack.com/{canary}'}}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: kubecost-cost-analyzer\n  namespace: kubecost\n  annotations:\n    \
         kubectl.kubernetes.io/last-applied-configuration: \"{applied}\"\nspec:\n  selector: {{matchLabels: {{app: cost-analyzer}}}}\n  \
         template:\n    metadata: {{labels: {{app: cost-analyzer}}}}\n    spec:\n      containers:\n      - name: cost-model\n        \
         image: gcr.io/kubecost1/cost-model:prod-2.3.3\n        env:\n        - name: HELM_VALUES\n          value: {helm}\n        \
         - name: DB_PASSWORD\n          value: {other}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\ndata:\n  DB_PASSWORD: 12345678\n"
    )
}

#[test]
fn credentials_in_configs_blobs_and_annotations_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let canary = "cAnArY-91b2c4-cred";
    let old = write(dir.path(), "old.yaml", &credential_shapes("old-value-5d6e7f-cred", "0ld-0th3r-pass"));
    let new = write(dir.path(), "new.yaml", &credential_shapes(canary, "n3w-0th3r-pass"));
    let runs = every_output(&old, &new);
    assert_never_shown(&runs, canary, "credentials");
    assert_never_shown(&runs, "n3w-0th3r-pass", "credentials");
    assert_never_shown(&runs, "0ld-0th3r-pass", "credentials");
    // The number under a credential key is reported, without itself.
    let v = json(&meterguard(&["check", "--format", "json", &new]));
    assert!(!findings(&v, "schema/invalid-type").is_empty(), "{:#}", v["findings"]);
    assert_never_shown(&runs, "12345678", "a number under a credential key");
    // A changed blob says it changed, and nothing of either side.
    let d = bounded(&["diff", "--all", &old, &new]).stdout;
    assert!(d.contains("value: *** (before)") && d.contains("value: *** (after)"), "{d}");
}

/// The same canary, placed at random among the positions above, never leaves in any form.
mod property {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn a_canary_anywhere_is_never_printed(shape in 0usize..10, which in 0usize..2, seed in "[a-z0-9]{6,12}") {
            let canary = format!("cAnArY-{seed}");
            let dir = tempfile::tempdir().unwrap();
            let text = match which {
                0 => secret_shapes(&canary).swap_remove(shape).1,
                _ => credential_shapes(&canary, &format!("pw-{seed}")),
            };
            let old = write(dir.path(), "old.yaml", GOOD);
            let new = write(dir.path(), "new.yaml", &text);
            let mut runs = Vec::new();
            for format in FORMATS {
                runs.push((format.to_owned(), bounded(&["check", "--format", format, "--base", &old, &new])));
                runs.push((format.to_owned(), bounded(&["diff", "--all", "--format", format, &old, &new])));
            }
            assert_never_shown(&runs, &canary, &text);
        }
    }
}

#[test]
fn links_out_of_the_tree_and_fifos_are_reported_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("repo");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("good.yaml"), GOOD).unwrap();
    let outside = dir.path().join("outside.yaml");
    std::fs::write(&outside, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: outside-cAnArY}\n").unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", d.join("env.yaml")).unwrap();
    std::os::unix::fs::symlink(&outside, d.join("other.yaml")).unwrap();
    std::os::unix::fs::symlink("/usr", d.join("usr")).unwrap();
    std::os::unix::fs::symlink("/proc", d.join("proc")).unwrap();
    let fifo = d.join("pipe.yaml");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let run = bounded(&["check", "--format", "json", &d.to_string_lossy()]);
    assert_eq!(run.code, Some(2));
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let names = |rule: &str| -> Vec<String> {
        findings(&v, rule).iter().map(|f| f["file"].as_str().unwrap().rsplit('/').next().unwrap().to_owned()).collect()
    };
    assert_eq!(names("input/outside-root"), ["env.yaml", "other.yaml", "proc", "usr"]);
    assert_eq!(names("input/not-a-file"), ["pipe.yaml"]);
    assert_eq!(objects(&v), 1, "only good.yaml is read");
    assert!(!run.stdout.contains("cAnArY") && !run.stdout.contains("PATH="), "{}", run.stdout);
    // Named on the command line: a FIFO, a system file, and a link out of the current directory.
    let run = bounded(&[
        "check",
        "--format",
        "json",
        &fifo.to_string_lossy(),
        "/proc/self/environ",
        &d.join("env.yaml").to_string_lossy(),
    ]);
    assert_eq!(run.code, Some(2));
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(findings(&v, "input/not-a-file").len(), 3, "{:#}", v["findings"]);
    assert!(!run.stdout.contains("PATH="));
}

#[test]
fn the_byte_limit_bounds_all_inputs_together() {
    let dir = tempfile::tempdir().unwrap();
    let chunk = GOOD.repeat(700_000 / GOOD.len());
    let a = write(dir.path(), "a.yaml", &chunk);
    let b = write(dir.path(), "b.yaml", &chunk);
    let run = bounded(&["check", "--format", "json", "--max-input-bytes", "1000000", &a, &b]);
    assert_eq!(run.code, Some(2));
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let too_large = findings(&v, "input/too-large");
    assert_eq!(too_large.len(), 1, "{:#}", v["findings"]);
    assert!(too_large[0]["file"].as_str().unwrap().ends_with("b.yaml"));
    assert!(too_large[0]["message"].as_str().unwrap().contains("the inputs together"));
}

/// Names that carry workflow commands and escape sequences, in every place a name is printed.
fn injected() -> String {
    let name = "x\\n::error file=pwn::owned\\n::add-mask::a\\n::stop-commands::tok\\n##[error]old\\r\\u001b]0;title\\u0007\\u001b[2J\\u009b31m\\u202eevil";
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: \"kubecost-{name}\", namespace: \"kubecost{name}\"}}\nspec:\n  \
         selector: {{matchLabels: {{app: prometheus}}}}\n  template:\n    metadata: {{labels: {{app: prometheus, component: server}}}}\n    \
         spec:\n      containers:\n      - name: \"cost-model{name}\"\n        image: gcr.io/kubecost1/cost-model:prod-2.3.3\n        \
         args: [--storage.tsdb.retention.time=15d]\n        resources: {{requests: {{memory: 1Gi}}, limits: {{memory: 1Gi}}}}\n---\n\
         apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {{name: \"r{name}\", namespace: kubecost}}\nspec:\n  groups:\n  \
         - name: \"g{name}\"\n    rules:\n    - alert: \"Down{name}\"\n      expr: 'up{{job=\"{name}\"}} == 0'\n      labels: {{severity: \"{name}\"}}\n"
    )
}

#[test]
fn names_cannot_inject_workflow_commands_or_escape_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(dir.path(), "old.yaml", &injected().replace("kubecost-x", "kubecost-y"));
    let new = write(dir.path(), "new.yaml", &injected());
    let runs = every_output(&old, &new);
    for (what, run) in &runs {
        assert_safe(run, what);
    }
    // The generated rules are YAML whose structure no name can change.
    let generated = bounded(&["alerts", "generate", &new]).stdout;
    let parsed = meterguard::input::yaml::parse_stream(&generated);
    assert!(parsed.problems.is_empty() && parsed.documents.len() == 1, "{:?}\n{generated}", parsed.problems);
    assert!(generated.contains("kind: PrometheusRule"), "{generated}");
    // With colour forced, only meterguard's own colours reach the terminal.
    let colored = bounded(&["check", "--color", "always", &new]);
    let escapes: Vec<String> = colored.stdout.split('\u{1b}').skip(1).map(|s| s.chars().take(8).collect()).collect();
    assert!(!escapes.is_empty());
    for e in escapes {
        assert!(
            e.starts_with('[') && e[1..].trim_start_matches(|c: char| c.is_ascii_digit() || c == ';').starts_with('m'),
            "{e:?}"
        );
    }
    // A config error quotes the config: the same holds on standard error.
    let config = write(dir.path(), "bad.yaml", "rules:\n  \"x\\n::error::cfg\\u001b[2J\": off\nwhat: 1\n");
    let run = bounded(&["check", "--config", &config, &new]);
    assert_safe(&run, "config error");
}

#[test]
fn expressions_built_to_overflow_the_stack_are_located_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let rule = |expr: &str| {
        format!(
            "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {{name: r, namespace: m}}\nspec:\n  groups:\n  \
             - name: g\n    rules:\n    - alert: Deep\n      expr: '{expr}'\n{GOOD}"
        )
    };
    let deep = format!("{}up{}", "abs(".repeat(4000), ")".repeat(4000));
    let long = vec!["up"; 6000].join(" + ");
    let parens = format!("{}up{}", "(".repeat(50_000), ")".repeat(50_000));
    for (name, expr) in [("deep", deep), ("long", long), ("parens", parens)] {
        let path = write(dir.path(), &format!("{name}.yaml"), &rule(&expr));
        for format in FORMATS {
            let run = bounded(&["check", "--format", format, &path]);
            assert_safe(&run, name);
        }
        let run = bounded(&["check", "--format", "json", &path]);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(run.code, Some(2), "{name}: a rule not read fails closed");
        let invalid = findings(&v, "input/promql-too-large");
        assert_eq!(invalid.len(), 1, "{name}: {:#}", v["findings"]);
        assert_eq!(invalid[0]["line"], 9, "{name}");
        assert_eq!(objects(&v), 2, "{name}: the next document is still checked");
    }
}

#[test]
fn documents_built_to_blow_up_finish_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(&str, String)> = Vec::new();
    // 500,000 merged keys, and 400,000 duplicate keys.
    let keys: String = (0..500_000).map(|i| format!("k{i}: v\n")).collect::<String>();
    let merged = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: m}}\nbase: &b\n{}data:\n  <<: *b\n",
        keys.lines().map(|l| format!("  {l}\n")).collect::<String>()
    );
    cases.push(("merge", merged));
    let dups = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: d}}\ndata:\n{}",
        (0..400_000).map(|i| format!("  k: v{i}\n")).collect::<String>()
    );
    cases.push(("duplicates", dups));
    // 600 documents, each under the per-document alias limit.
    let laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d]\n";
    cases.push(("many-documents", format!("---\n{laughs}").repeat(600)));
    // The same inside a Secret that configures scrape jobs.
    let inner = base64::engine::general_purpose::STANDARD.encode(format!("---\n- {laughs}").repeat(200));
    cases.push((
        "embedded",
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: additional-scrape-configs, namespace: m}}\ndata:\n  prometheus-additional.yaml: {inner}\n---\n\
             apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {{name: p, namespace: m}}\nspec:\n  \
             additionalScrapeConfigs: {{name: additional-scrape-configs, key: prometheus-additional.yaml}}\n"
        ),
    ));
    // Anchors nested in anchors, each a copy of all below it.
    let mut nested = String::from("x");
    for i in 0..200 {
        nested = format!("&n{i} [{nested}, {}]", "y, ".repeat(40) + "y");
    }
    cases.push(("nested-anchors", format!("a: {nested}\nb: *n199\n")));
    for (name, text) in cases {
        let path = write(dir.path(), &format!("{name}.yaml"), &(text + "\n---\n" + GOOD));
        let run = bounded(&["check", "--format", "json", &path]);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["message"].as_str().unwrap_or_default().contains("still-checked"))
                || objects(&v) >= 1,
            "{name}: the good document is checked"
        );
        assert!(run.stdout.len() < 64 << 20, "{name}: {} bytes of output", run.stdout.len());
    }
}

/// A map of 50,000 keys and a list of 20,000 named items, every value changed: compared and
/// annotated in time and memory that grow with their size (both were quadratic).
#[test]
fn large_diffs_finish_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let map = |v: &str| {
        let data: String = (0..50_000).map(|i| format!("  k{i}: v{i}{v}\n")).collect();
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big}}\ndata:\n{data}")
    };
    let env = |v: &str| {
        let items: String = (0..20_000).map(|i| format!("        - {{name: E{i}, value: '{v}{i}'}}\n")).collect();
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  template:\n    spec:\n      \
             containers:\n      - name: c\n        image: x\n        env:\n{items}"
        )
    };
    for (name, make) in [("map", &map as &dyn Fn(&str) -> String), ("env", &env)] {
        let old = write(dir.path(), &format!("{name}-old.yaml"), &make("a"));
        let new = write(dir.path(), &format!("{name}-new.yaml"), &make("b"));
        assert!(std::fs::metadata(&new).unwrap().len() < 1 << 20);
        for format in ["human", "json", "markdown"] {
            let run = bounded(&["diff", "--all", "--format", format, &old, &new]);
            assert_safe(&run, name);
            // Markdown stays under GitHub's comment limit and leaves the rows out.
            let shown = run.stdout.contains("v19999b") || run.stdout.contains("b19999");
            assert!(shown || format == "markdown", "{name} {format}");
        }
    }
}

/// Three hundred distinct regular expressions, each past regex's 10 MiB (`\w{1000}`): each took
/// over a second to compile; each is now declined before it is compiled, at its rule's line. Half
/// start with a brace Go reads as text (`y{c`), which once hid the size (found by fuzzing).
#[test]
fn oversized_regular_expressions_are_declined_uncompiled() {
    let dir = tempfile::tempdir().unwrap();
    let rules: String = (0..300)
        .map(|i| {
            let prefix = if i % 2 == 0 { "" } else { "y{c" };
            format!("    - alert: R{i}\n      expr: 'up{{job=~\"{prefix}\\\\w{{1000}}{i}\"}} == 0'\n")
        })
        .collect();
    let text = format!(
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {{name: r, namespace: m}}\nspec:\n  groups:\n  \
         - name: g\n    rules:\n{rules}---\n{GOOD}"
    );
    let path = write(dir.path(), "regexes.yaml", &text);
    let run = bounded(&["check", "--format", "json", &path]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(run.code, Some(2));
    let declined = findings(&v, "input/promql-too-large");
    assert_eq!(declined.len(), 300, "{:#}", v["findings"]);
    assert_eq!(declined[0]["line"], 9);
    assert!(declined[0]["message"].as_str().unwrap().contains("declines to judge"));
    assert_eq!(objects(&v), 2);
}
