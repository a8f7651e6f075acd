//! YAML that is crafted to hurt a parser: aliases, depth, size, bytes a terminal should not see.

use super::*;

#[test]
fn alias_bomb_is_rejected_and_the_next_document_checked() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!("a{i}: &a{i} [{}]\n", [prev.as_str(); 9].join(", ")));
    }
    let (code, v) = check_text(dir.path(), "bomb.yaml", format!("{bomb}{GOOD}").as_bytes());
    assert_eq!(code, 2);
    let f = findings(&v, "input/alias-bomb");
    assert_eq!(f.len(), 1, "{:#}", v["findings"]);
    assert!(f[0]["message"].as_str().unwrap().contains("alias"), "{}", f[0]["message"]);
    assert!(f[0]["line"].as_u64().unwrap() >= 1 && f[0]["line"].as_u64().unwrap() <= 10);
    assert_eq!(objects(&v), 1);
}

#[test]
fn nesting_ten_thousand_levels_deep_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let block: String = (0..10_000).map(|i| format!("{}- \n", " ".repeat(i))).collect();
    let (code, v) = check_text(dir.path(), "block.yaml", format!("a:\n{block}{GOOD}").as_bytes());
    assert_eq!(code, 2);
    assert_at(&v, "input/too-deep", 257, 256, "deeper than 256 levels");
    assert_eq!(objects(&v), 1);

    let flow = format!("a: {}{}\n{GOOD}", "[".repeat(10_000), "]".repeat(10_000));
    let (code, v) = check_text(dir.path(), "flow.yaml", flow.as_bytes());
    assert_eq!(code, 2);
    assert_at(&v, "input/yaml-syntax", 1, 259, "recursion limit");
    assert_eq!(objects(&v), 1);
}

#[test]
fn a_fifty_megabyte_scalar_is_read_and_judged_too_large_for_the_api_server() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  blob: {}\n{GOOD}",
        "x".repeat(50 * 1024 * 1024)
    );
    let (code, v) = check_text(dir.path(), "big.yaml", text.as_bytes());
    assert_eq!(code, 1);
    assert_at(&v, "schema/object-too-large", 5, 1, "holds 50Mi of data; the API server accepts at most 1 MiB");
    assert_eq!(objects(&v), 2);
    // The human report shows the line cut, not fifty megabytes of it.
    let out = meterguard(&["check", &dir.path().join("big.yaml").to_string_lossy()]);
    assert!(out.stdout.len() < 4096, "{} bytes of human output", out.stdout.len());
}

#[test]
fn a_document_of_a_million_keys_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: many\ndata:\n");
    for i in 0..1_000_000 {
        text.push_str(&format!("  k{i}: value\n"));
    }
    text.push_str(GOOD);
    let (code, v) = check_text(dir.path(), "many.yaml", text.as_bytes());
    assert_eq!(code, 1);
    assert_at(&v, "schema/object-too-large", 5, 1, "ConfigMap default/many holds");
    assert_eq!(objects(&v), 2);
}

#[test]
fn nul_bytes_are_located_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\0ul\n{GOOD}");
    let (code, v) = check_text(dir.path(), "nul.yaml", text.as_bytes());
    assert_eq!(code, 2);
    assert_at(&v, "input/yaml-syntax", 4, 10, "the control character U+0000");
    assert_eq!(objects(&v), 1);
    let out = meterguard(&["check", &dir.path().join("nul.yaml").to_string_lossy()]);
    assert!(!out.stdout.contains(&0), "a NUL byte reached the terminal");
    assert!(String::from_utf8_lossy(&out.stdout).contains("n\u{2400}ul"), "the NUL is shown as a symbol");
}

#[test]
fn escape_sequences_from_the_input_do_not_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"a\\e[2Jb\"\n  bogus: 1\nspec: {\"\\e]0;x\\a\": 1}\n";
    let (code, v) = check_text(dir.path(), "esc.yaml", text.as_bytes());
    assert_eq!(code, 1);
    assert_at(&v, "schema/unknown-field", 5, 3, "`metadata.bogus` is not a field of ConfigMap");
    assert_at(&v, "schema/unknown-field", 6, 1, "`spec` is not a field of ConfigMap");
    let out = meterguard(&["check", &dir.path().join("esc.yaml").to_string_lossy()]);
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(!out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07), "{human}");
    assert!(human.contains("ConfigMap default/a\u{241b}[2Jb"), "the escape is shown as a symbol: {human}");
}

#[test]
fn tabs_in_indentation_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: t\n{GOOD}");
    let (code, v) = check_text(dir.path(), "tabs.yaml", text.as_bytes());
    assert_eq!(code, 2);
    assert_at(&v, "input/yaml-syntax", 4, 2, "tabs");
    assert_eq!(objects(&v), 1);
}

#[test]
fn duplicate_keys_are_errors_at_the_second_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\ndata:\n  a: one\n  a: two\n";
    let (code, v) = check_text(dir.path(), "dup.yaml", text.as_bytes());
    assert_eq!(code, 1);
    assert_at(&v, "schema/duplicate-key", 7, 3, "`a`");
}

#[test]
fn recording_rules_that_record_one_series_from_itself_are_followed_within_a_budget() {
    // Two thousand rules record `x`, each from `x` five times over, and an alert reads `x`:
    // followed without a bound, that is ten thousand to the third power selectors per alert.
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::from(
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: loop, namespace: kubecost}\n\
         spec:\n  groups:\n  - name: loop\n    rules:\n    - alert: OnX\n      expr: x > 0\n",
    );
    for _ in 0..2_000 {
        rules.push_str("    - record: x\n      expr: x + x + x + x + kube_pod_container_status_restarts_total\n");
    }
    let kubecost = std::fs::read_to_string(root().join("tests/fixtures/corpus/kubecost-2.3.3-default.yaml")).unwrap();
    let (code, v) = check_text(dir.path(), "loop.yaml", format!("{kubecost}\n---\n{rules}{GOOD}").as_bytes());
    assert_eq!(code, 1, "{:#}", v["findings"]);
    // The recorded series reads restarts: the alert covers crash loops (it has no evaluator in the
    // input, so it is assumed loaded).
    let analyzer = v["workloads"].as_array().unwrap().iter().find(|w| w["object"]["name"] == "kubecost-cost-analyzer");
    assert_eq!(analyzer.unwrap()["coverage"]["crashloop"][0]["alert"], "OnX");
}

#[test]
fn regex_repeats_past_gos_limit_are_invalid_and_never_compiled_large() {
    // Found by fuzzing: `\w{31201}` parses, but compiled with the room large patterns get it took
    // two gigabytes and five seconds. Prometheus's Go regexp refuses a repeat past 1,000.
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::from(
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: wide, namespace: kubecost}\n\
         spec:\n  groups:\n  - name: wide\n    rules:\n",
    );
    for i in 0..3 {
        rules.push_str(&format!("    - alert: Wide{i}\n      expr: 'up{{job=~\"\\\\w{{3120{i}}}\"}} == 0'\n"));
    }
    let (code, v) = check_text(dir.path(), "wide.yaml", format!("{rules}{GOOD}").as_bytes());
    assert_eq!(code, 1, "{:#}", v["findings"]);
    let invalid = findings(&v, "alerts/promql-invalid");
    assert_eq!(invalid.len(), 3, "{:#}", v["findings"]);
    assert!(invalid[0]["message"].as_str().unwrap().contains("invalid repeat count"), "{}", invalid[0]["message"]);
    assert_eq!((invalid[0]["line"].as_u64(), invalid[0]["column"].as_u64()), (Some(9), Some(13)));
    assert_eq!(objects(&v), 2);
}
