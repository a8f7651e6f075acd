//! The GitHub Action's shell step, run locally in a simulated GitHub environment: step summary,
//! outputs, annotations, the sticky comment (through a fake `gh`), and a base-ref diff.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

struct Gh {
    dir: tempfile::TempDir,
}

impl Gh {
    /// A fake `gh` that logs its arguments and answers the comment listing with `existing`.
    fn new(existing: &str) -> Gh {
        Gh::with(&format!(
            "echo \"$*\" >> \"$(dirname \"$0\")/gh.log\"\nif [[ \"$*\" == *--paginate* ]]; then echo '{existing}'; fi"
        ))
    }

    /// A `gh` whose token may not write: every call fails as GitHub answers a fork's token.
    fn refused() -> Gh {
        Gh::with("echo 'HTTP 403: Resource not accessible by integration' >&2\nexit 1")
    }

    fn with(body: &str) -> Gh {
        let dir = tempfile::tempdir().unwrap();
        let gh = dir.path().join("gh");
        std::fs::write(&gh, format!("#!/usr/bin/env bash\n{body}\n")).unwrap();
        Command::new("chmod").arg("+x").arg(&gh).status().unwrap();
        Gh { dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gh.log")).unwrap_or_default()
    }
}

struct Run {
    status: i32,
    stdout: String,
    summary: String,
    outputs: String,
}

fn run_action(cwd: &Path, gh: &Gh, env: &[(&str, &str)]) -> Run {
    let gh_env = tempfile::tempdir().unwrap();
    let summary = gh_env.path().join("summary.md");
    let outputs = gh_env.path().join("output");
    let event = gh_env.path().join("event.json");
    std::fs::write(&event, r#"{"action": "opened", "number": 7, "pull_request": {"number": 7}}"#).unwrap();
    let path = format!("{}:{}", gh.dir.path().display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/action/run.sh"))
        .current_dir(cwd)
        .env_clear()
        .env("PATH", path)
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("METERGUARD_BIN", env!("CARGO_BIN_EXE_meterguard"))
        .env("RUNNER_TEMP", gh_env.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_REPOSITORY", "acme/platform")
        .env("GH_TOKEN", "test-token");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        outputs: std::fs::read_to_string(&outputs).unwrap_or_default(),
    }
}

#[test]
fn action_writes_summary_outputs_annotations_and_a_sticky_comment() {
    let gh = Gh::new("");
    let sarif = tempfile::NamedTempFile::new().unwrap();
    let sarif_path = sarif.path().to_string_lossy().into_owned();
    let r = run_action(
        &root(),
        &gh,
        &[("MG_PATHS", "examples/incident/incident.yaml"), ("MG_COMMENT", "true"), ("MG_SARIF_FILE", &sarif_path)],
    );
    assert_eq!(r.status, 1, "{}", r.stdout);
    assert!(r.stdout.contains("::error file=cost-analyzer/charts/prometheus/templates/server-deployment.yaml,title=sizing/memory-below-floor::"));
    assert!(r.summary.starts_with("## meterguard"), "{}", r.summary);
    assert!(r.outputs.contains("errors=11\n"), "{}", r.outputs);
    assert!(r.outputs.contains("warnings=4\n"));
    assert!(r.outputs.contains("report="));
    let log = gh.log();
    assert!(log.contains("api repos/acme/platform/issues/7/comments --paginate"), "{log}");
    assert!(log.contains("api --method POST repos/acme/platform/issues/7/comments -F body=@"), "{log}");
    let sarif: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sarif.path()).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");

    // A second run updates the same comment instead of adding one.
    let again = Gh::new("4242");
    let r = run_action(&root(), &again, &[("MG_PATHS", "examples/incident/incident.yaml"), ("MG_COMMENT", "true")]);
    assert_eq!(r.status, 1);
    assert!(
        again.log().contains("api --method PATCH repos/acme/platform/issues/comments/4242 -F body=@"),
        "{}",
        again.log()
    );
}

#[test]
fn action_fail_on_and_clean_input() {
    let gh = Gh::new("");
    let r = run_action(&root(), &gh, &[("MG_PATHS", "examples/incident/incident.yaml"), ("MG_FAIL_ON", "never")]);
    assert_eq!(r.status, 0);
    assert!(gh.log().is_empty(), "no comment unless asked");
    let r = run_action(&root(), &gh, &[]);
    assert_eq!(r.status, 2, "no paths and no chart");
    assert!(r.stdout.contains("::error title=meterguard::"));
}

#[test]
fn action_diffs_against_the_base_ref() {
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        git_in(repo.path(), args);
    };
    git(&["init", "-q"]);
    std::fs::copy(root().join("examples/incident/fix.yaml"), repo.path().join("manifest.yaml")).unwrap();
    git(&["add", "manifest.yaml"]);
    git(&["commit", "-qm", "running release"]);
    std::fs::copy(root().join("examples/incident/incident.yaml"), repo.path().join("manifest.yaml")).unwrap();
    git(&["commit", "-qam", "lower Prometheus memory"]);
    let gh = Gh::new("");
    let r = run_action(repo.path(), &gh, &[("MG_PATHS", "manifest.yaml"), ("MG_BASE_REF", "HEAD~1")]);
    assert_eq!(r.status, 1, "{}", r.stdout);
    assert!(r.stdout.contains("title=diff/memory-reduced::"), "{}", r.stdout);
    assert!(r.summary.contains("diff/memory-reduced"));
}

#[test]
fn action_yml_runs_only_the_scripts_with_inputs_from_the_environment() {
    let action = std::fs::read_to_string(root().join("action.yml")).unwrap();
    // No `${{ inputs.* }}` inside a run: script (template injection); they go through env.
    for line in action.lines().filter(|l| l.trim_start().starts_with("run:")) {
        assert!(!line.contains("${{"), "{line}");
    }
    let parsed = meterguard::input::yaml::parse_stream(&action);
    assert!(parsed.problems.is_empty());
    let root_node = &parsed.documents[0].root;
    assert_eq!(root_node.str_at(&["runs", "using"]), Some("composite"));
    for input in [
        "paths",
        "chart",
        "values",
        "release",
        "namespace",
        "set",
        "kube-version",
        "dependency-build",
        "base-ref",
        "config",
    ]
    .into_iter()
    .chain(["fail-on", "sarif-file", "comment", "version"])
    {
        assert!(root_node.path(&["inputs", input]).is_some(), "input {input}");
    }
    for output in ["errors", "warnings", "report"] {
        assert!(root_node.path(&["outputs", output]).is_some(), "output {output}");
    }
}

/// A git command in `dir` that must succeed.
fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn action_fetches_a_base_ref_the_shallow_checkout_lacks() {
    // The repository as the server has it: the running release, then the change.
    let origin = tempfile::tempdir().unwrap();
    git_in(origin.path(), &["init", "-q", "-b", "main"]);
    std::fs::copy(root().join("examples/incident/fix.yaml"), origin.path().join("manifest.yaml")).unwrap();
    git_in(origin.path(), &["add", "manifest.yaml"]);
    git_in(origin.path(), &["commit", "-qm", "running release"]);
    git_in(origin.path(), &["branch", "base"]);
    std::fs::copy(root().join("examples/incident/incident.yaml"), origin.path().join("manifest.yaml")).unwrap();
    git_in(origin.path(), &["commit", "-qam", "lower Prometheus memory"]);
    // actions/checkout's default: one commit, no other branch.
    let work = tempfile::tempdir().unwrap();
    let url = format!("file://{}", origin.path().display());
    git_in(work.path(), &["clone", "-q", "--depth=1", "--single-branch", "--branch", "main", &url, "co"]);
    let checkout = work.path().join("co");
    let gh = Gh::new("");
    let r = run_action(&checkout, &gh, &[("MG_PATHS", "manifest.yaml"), ("MG_BASE_REF", "base")]);
    assert_eq!(r.status, 1, "{}", r.stdout);
    assert!(r.stdout.contains("title=diff/memory-reduced::"), "{}", r.stdout);
    // A base that exists nowhere: a visible error, in the log and the summary, exit 2.
    let r = run_action(&checkout, &gh, &[("MG_PATHS", "manifest.yaml"), ("MG_BASE_REF", "no-such-branch")]);
    assert_eq!(r.status, 2, "{}", r.stdout);
    assert!(
        r.stdout.contains("::error title=meterguard::base-ref no-such-branch is not in the checkout"),
        "{}",
        r.stdout
    );
    assert!(r.summary.contains("meterguard could not run"), "{}", r.summary);
}

#[test]
fn a_comment_the_token_cannot_write_is_a_warning_not_a_failure() {
    let fake = Gh::refused();
    let r = run_action(
        &root(),
        &fake,
        &[("MG_PATHS", "tests/fixtures/rules/sizing-good.yaml"), ("MG_COMMENT", "true"), ("MG_FAIL_ON", "never")],
    );
    assert_eq!(r.status, 0, "the check's own status: {}", r.stdout);
    assert!(
        r.stdout.contains("::warning title=meterguard::the pull-request comment could not be written"),
        "{}",
        r.stdout
    );
    assert!(r.outputs.contains("report="), "{}", r.outputs);
}

#[test]
fn action_passes_the_namespace_and_kube_version_and_names_files_as_given() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        \
         - name: web\n          image: nginx:1.27\n          resources: {requests: {cpu: 100m}, limits: {cpu: 50m}}\n",
    )
    .unwrap();
    let gh = Gh::new("");
    let r = run_action(
        dir.path(),
        &gh,
        &[("MG_PATHS", "web.yaml"), ("MG_NAMESPACE", "billing"), ("MG_KUBE_VERSION", "1.30")],
    );
    assert_eq!(r.status, 1, "{}", r.stdout);
    assert!(r.stdout.contains("::error file=web.yaml,"), "a path of the repository, as given: {}", r.stdout);
    assert!(r.summary.contains("billing/web"), "objects without a namespace land in the input's: {}", r.summary);
}

#[test]
fn chart_mode_names_the_repositorys_templates_everywhere() {
    let has_helm =
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("helm").is_file()));
    if !has_helm {
        assert!(std::env::var_os("CI").is_none(), "CI must install helm (see .ci/run)");
        eprintln!("helm is not installed here: skipping (CI installs it)");
        return;
    }
    let gh = Gh::new("");
    let sarif = tempfile::NamedTempFile::new().unwrap();
    let sarif_path = sarif.path().to_string_lossy().into_owned();
    let r = run_action(
        &root(),
        &gh,
        &[
            ("MG_CHART", "tests/fixtures/charts/metering"),
            ("MG_SET", "prometheus.memoryRequest=2Gi"),
            ("MG_NAMESPACE", "kubecost"),
            ("MG_KUBE_VERSION", "1.31.0"),
            // The fixture chart has no dependencies: the build is run, and changes nothing.
            ("MG_DEPENDENCY_BUILD", "true"),
            ("MG_SARIF_FILE", &sarif_path),
        ],
    );
    assert_eq!(r.status, 1, "{}", r.stdout);
    let template = "tests/fixtures/charts/metering/templates/prometheus.yaml";
    assert!(r.stdout.contains(&format!("::error file={template},title=sizing/memory-below-floor::")), "{}", r.stdout);
    assert!(r.summary.contains(template), "{}", r.summary);
    assert!(!r.summary.contains("(rendered)"), "no render that is not a file: {}", r.summary);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sarif.path()).unwrap()).unwrap();
    let floor = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "sizing/memory-below-floor")
        .unwrap();
    assert_eq!(floor["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], template);
    assert!(floor["message"]["text"].as_str().unwrap().contains("rendered at line"), "{floor}");
}
