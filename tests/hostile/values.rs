//! Values Kubernetes reads differently than they look, and objects of the wrong shape.

use super::*;

/// A Deployment whose container list (from line 10 on) is `containers`.
fn deployment(containers: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: w}}\nspec:\n  selector: {{matchLabels: {{app: w}}}}\n  template:\n    metadata: {{labels: {{app: w}}}}\n    spec:\n      containers:\n{containers}"
    )
}

#[test]
fn yaml_1_1_values_are_read_as_kubernetes_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: w
  labels:
    enabled: yes
spec:
  selector: {matchLabels: {app: w}}
  template:
    metadata: {labels: {app: w}}
    spec:
      containers:
      - name: c
        image: nginx
        env:
        - name: A
          value: on
        - name: B
          value: 0755
        - name: C
          value: \"no\"
        volumeMounts:
        - name: v
          mountPath: /x
          readOnly: yes
      volumes:
      - name: v
        configMap: {name: x, defaultMode: 0644}
";
    let (code, v) = check_text(dir.path(), "yaml11.yaml", text.as_bytes());
    assert_eq!(code, 1);
    assert_at(
        &v,
        "schema/invalid-type",
        6,
        14,
        "`metadata.labels[enabled]`: expected a string, found a boolean `true` (written `yes`)",
    );
    assert_at(&v, "schema/invalid-type", 17, 18, "found a boolean `true` (written `on`)");
    assert_at(&v, "schema/invalid-type", 19, 18, "found a number `493` (written `0755`)");
    // `readOnly: yes` is a boolean field and `0644` the octal mode 420: both are fine; "no" is quoted.
    assert_eq!(findings(&v, "schema/invalid-type").len(), 3, "{:#}", v["findings"]);
}

#[test]
fn numbers_and_strings_in_each_other_s_place() {
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: apps/v1
kind: Deployment
metadata: {name: w, namespace: kubecost}
spec:
  replicas: \"3\"
  selector: {matchLabels: {app: w}}
  template:
    metadata: {labels: {app: w}}
    spec:
      containers:
      - name: c
        image: 1.27
        readinessProbe:
          periodSeconds: ten
          httpGet: {path: /, port: 80}
        resources:
          requests: {memory: 1024, cpu: 0.5}
";
    let (code, v) = check_text(dir.path(), "swapped.yaml", text.as_bytes());
    assert_eq!(code, 1);
    assert_at(&v, "schema/invalid-type", 5, 13, "`spec.replicas`: expected an integer, found a string \"3\"");
    assert_at(&v, "schema/invalid-type", 12, 16, "expected a string, found a number `1.27`");
    assert_at(&v, "schema/invalid-type", 14, 26, "expected an integer, found a string \"ten\"");
}

#[test]
fn a_bare_number_as_memory_is_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let text = deployment(
        "      - name: c
        image: nginx
        resources:
          requests: {memory: 1024}
",
    );
    let (code, v) = check_text(dir.path(), "bytes.yaml", text.as_bytes());
    assert_eq!(code, 1);
    assert_at(&v, "schema/suspicious-quantity", 13, 30, "memory: 1024 is only 1024 bytes");
}

#[test]
fn merge_keys_and_anchors_across_fields_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let text = deployment(
        "      - &base
        name: a
        image: nginx
        resources: &res
          requests: {memory: 1Gi, cpu: 100m}
          limits: {memory: 1Gi}
      - <<: *base
        name: b
      - name: c
        image: nginx
        resources: *res
",
    );
    let (code, v) = check_text(dir.path(), "anchors.yaml", text.as_bytes());
    assert_eq!(code, 0, "{:#}", v["findings"]);
    let names: Vec<&str> = v["findings"].as_array().unwrap().iter().filter_map(|f| f["container"].as_str()).collect();
    assert!(names.is_empty(), "merged and aliased resources are read: {names:?}");
}

#[test]
fn documents_that_are_not_objects() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "- a\n- b\n---\njust a string\n---\napiVersion: v1\nkind: List\nitems:\n- 42\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: in-list}}\n---\nkind: ConfigMap\nmetadata: {{name: no-version}}\n---\napiVersion: 1\nkind: ConfigMap\nmetadata: {{name: number-version}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: [x]}}\n{GOOD}"
    );
    let (code, v) = check_text(dir.path(), "shapes.yaml", text.as_bytes());
    assert_eq!(code, 2, "{:#}", v["findings"]);
    assert_at(&v, "input/not-an-object", 1, 1, "document");
    assert_at(&v, "input/not-an-object", 4, 1, "document");
    assert_at(&v, "input/not-an-object", 9, 3, "List item");
    assert_at(&v, "input/missing-identity", 14, 1, "apiVersion");
    assert_at(&v, "input/missing-identity", 17, 13, "apiVersion");
    assert_at(&v, "input/missing-identity", 23, 18, "metadata.name");
    // The List's ConfigMap and the last one are checked.
    assert_eq!(objects(&v), 2);
}

/// Found by fuzzing (fuzz/ promql_coverage): promql-parser panics on a range that overflows
/// `Duration`; the binary used to exit 101. Now it is an invalid expression at its line.
#[test]
fn an_alert_expression_that_crashes_the_promql_parser_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {{name: r, namespace: m}}\nspec:\n  groups:\n  - name: g\n    rules:\n    - alert: Huge\n      expr: last_over_time(x[{}]) > 0\n{GOOD}",
        "1".repeat(120)
    );
    let path = dir.path().join("rule.yaml");
    std::fs::write(&path, &text).unwrap();
    let out = meterguard(&["check", "--format", "json", &path.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let v = json(&out);
    assert_at(
        &v,
        "alerts/promql-invalid",
        9,
        13,
        "alert Huge: invalid PromQL: the PromQL parser cannot read this expression",
    );
    assert_eq!(objects(&v), 2);
}

/// Found by fuzzing (fuzz/ quantity): rounding a 38-digit fraction overflowed, and the release
/// build wrapped silently and lost the finding.
#[test]
fn a_quantity_with_a_very_long_fraction_is_still_judged() {
    let dir = tempfile::tempdir().unwrap();
    let text = deployment(
        "      - name: c
        image: nginx
        resources:
          requests: {memory: \".00000000085680000000000085680000000000054775807\"}
",
    );
    let (code, v) = check_text(dir.path(), "fraction.yaml", text.as_bytes());
    assert_eq!(code, 1);
    assert_at(&v, "schema/suspicious-quantity", 13, 30, "is only 1 bytes");
}
