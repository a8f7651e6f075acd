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
