//! Snapshots of the human and JSON reports on the incident example.

mod common;
use common::*;

#[test]
fn human_report_on_the_incident() {
    let out = meterguard(&["check", "examples/incident/incident.yaml"]);
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn json_report_on_a_small_manifest() {
    let out = meterguard(&["check", "--format", "json", "tests/fixtures/rules/probes-bad.yaml"]);
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn human_diff_of_the_incident() {
    let out = meterguard(&["diff", "examples/incident/fix.yaml", "examples/incident/incident.yaml"]);
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn markdown_diff_of_the_incident() {
    let out =
        meterguard(&["diff", "--format", "markdown", "examples/incident/fix.yaml", "examples/incident/incident.yaml"]);
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn markdown_check_of_the_incident() {
    let out = meterguard(&["check", "--format", "markdown", "examples/incident/incident.yaml"]);
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}
