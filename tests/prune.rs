//! A plain check drops the bodies of kinds no rule reads (src/model/prune.rs), and, when no report
//! shows snippets, the source text once parsed (`Source::release_text`). That must change no
//! finding and no workload verdict: every fixture, and a generated stream with CRDs, custom
//! resources, PrometheusRules and metering workloads, gives the same JSON report either way.

mod common;

#[path = "../benches/generate.rs"]
mod generate;

use meterguard::check::{self, Options};
use meterguard::input::Inputs;
use meterguard::model::prune::unread_bodies;

fn report(name: &str, text: &str, prune: bool) -> String {
    let mut inputs =
        Inputs { prune: prune.then_some(unread_bodies as fn(&mut _)), release_text: prune, ..Inputs::default() };
    inputs.add_bytes(name, text.as_bytes());
    let opts = Options { today: jiff::civil::date(2026, 11, 25), ..Options::default() };
    // As the command runs a check: pruned, the alert rules are taken out of their documents.
    meterguard::report::json::render(&check::run_keeping(&mut inputs, &opts).0)
}

#[test]
fn pruning_changes_no_finding_on_any_fixture() {
    let files = common::yaml_files(&common::root().join("tests/fixtures"));
    assert!(files.len() > 20, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.display().to_string();
        assert_eq!(report(&name, &text, true), report(&name, &text, false), "{name}");
    }
}

#[test]
fn pruning_changes_no_finding_on_a_generated_stream() {
    let text = generate::manifests(600, 7);
    assert!(text.contains("kind: CustomResourceDefinition") && text.contains("kind: PrometheusRule"));
    let pruned = report("stream.yaml", &text, true);
    assert!(pruned.contains("alerts/"), "the stream has metering workloads and alert findings");
    assert_eq!(pruned, report("stream.yaml", &text, false));
}

#[test]
fn bodies_of_unread_kinds_go_and_read_kinds_stay() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apiextensions.k8s.io/v1\n  kind: CustomResourceDefinition\n  metadata: {name: a.example.com}\n  spec: {group: example.com}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d}\n  spec: {replicas: 1}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, annotations: {a: b}}\nspec: {size: 3}\nstatus: {}\n---\ngroups: []\n";
    let mut inputs = Inputs { prune: Some(unread_bodies), ..Inputs::default() };
    inputs.add_bytes("x.yaml", text.as_bytes());
    let keys = |n: &meterguard::input::Node| -> Vec<String> {
        n.as_map().unwrap().iter().filter_map(|e| e.key.as_str().map(str::to_owned)).collect()
    };
    let items = inputs.documents[0].root.get("items").and_then(|i| i.as_seq()).unwrap();
    assert_eq!(keys(&items[0]), ["apiVersion", "kind", "metadata"]);
    assert_eq!(keys(&items[1]), ["apiVersion", "kind", "metadata", "spec"]);
    assert_eq!(keys(&inputs.documents[1].root), ["apiVersion", "kind", "metadata"]);
    assert_eq!(inputs.documents[1].root.str_at(&["metadata", "annotations", "a"]), Some("b"));
    assert_eq!(keys(&inputs.documents[2].root), ["groups"]);
}

#[test]
fn alert_rules_keep_what_the_coverage_reads() {
    let text = "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: r, labels: {release: kps}}\nspec:\n  groups:\n  - name: g\n    interval: 1m\n    rules:\n    - alert: Down\n      expr: up == 0\n      for: 5m\n      keep_firing_for: 10m\n      labels: {severity: critical}\n      annotations: {summary: down, description: long text}\n    - record: job:up:sum\n      expr: sum by (job) (up)\n---\napiVersion: example.com/v1\nkind: PrometheusRule\nmetadata: {name: other}\nspec: {groups: [{name: g, rules: [{alert: A, expr: up, annotations: {a: b}}]}]}\n";
    let mut inputs = Inputs { prune: Some(unread_bodies), ..Inputs::default() };
    inputs.add_bytes("x.yaml", text.as_bytes());
    let keys = |n: &meterguard::input::Node| -> Vec<String> {
        n.as_map().unwrap().iter().map(|e| e.key.text().to_owned()).collect()
    };
    let group = &inputs.documents[0].root.path(&["spec", "groups"]).and_then(|g| g.as_seq()).unwrap()[0];
    assert_eq!(keys(group), ["name", "rules"]);
    let rules = group.get("rules").and_then(|r| r.as_seq()).unwrap();
    assert_eq!(keys(&rules[0]), ["alert", "expr", "for", "labels"]);
    assert_eq!(keys(&rules[1]), ["record", "expr"]);
    assert_eq!(rules[0].str_at(&["labels", "severity"]), Some("critical"));
    // A kind of the same name in another API group is not prometheus-operator's: read kinds are
    // kept whole in any group, and its rules are not trimmed as alert rules.
    let other = inputs.documents[1].root.path(&["spec", "groups"]).and_then(|g| g.as_seq()).unwrap();
    assert_eq!(other[0].get("rules").and_then(|r| r.as_seq()).unwrap()[0].str_at(&["annotations", "a"]), Some("b"));
}

#[test]
fn a_check_takes_alert_rules_out_of_their_documents() {
    use meterguard::coverage::rules::{Origin, extract, take};
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\napiVersion: monitoring.coreos.com/v1\n\
                kind: PrometheusRule\nmetadata: {name: r, namespace: monitoring}\nspec:\n  groups:\n  - name: g\n    \
                rules:\n    - alert: Down\n      expr: up{job=\"x\"} == 0\n      labels: {severity: page}\n    \
                - record: job:up\n      expr: sum by (job) (up)\n";
    let keys = |n: &meterguard::input::Node| -> Vec<String> {
        n.as_map().unwrap().iter().map(|e| e.key.text().to_owned()).collect()
    };
    // Unpruned inputs (a diff's) keep every tree.
    let mut whole = Inputs::default();
    whole.add_bytes("x.yaml", text.as_bytes());
    let _ = take(&mut whole);
    assert_eq!(keys(&whole.documents[1].root), ["apiVersion", "kind", "metadata", "spec"]);
    let mut inputs = Inputs { prune: Some(unread_bodies), ..Inputs::default() };
    inputs.add_bytes("x.yaml", text.as_bytes());
    let taken = take(&mut inputs);
    assert_eq!(keys(&inputs.documents[1].root), ["apiVersion", "kind", "metadata"]);
    // The rules are still found, placed in the object the model makes of their document.
    let model = meterguard::model::build(&inputs, "default");
    let (alerts, records) = extract(&model.objects, &model.rule_files, taken);
    assert_eq!(alerts.len(), 1);
    let down = &alerts[0];
    assert_eq!((down.alert.as_str(), down.holder.as_ref()), ("Down", "monitoring/r"));
    assert_eq!((down.span.start.line, down.span.start.col), (13, 13));
    assert_eq!(down.origin, Origin::Object(1), "after the Service");
    assert_eq!(down.object.as_ref().unwrap().name, "r");
    assert_eq!(down.labels.len(), 1);
    assert!(down.parsed.is_ok());
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].origin, Origin::Object(1));
}

/// A ConfigMap whose `data` holds these values, as block scalars.
fn configmap(name: &str, data: &[(&str, &str)]) -> String {
    let mut s = format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata:\n");
    for (k, v) in data {
        s += &format!("  {k}: |\n");
        v.lines().for_each(|l| s += &format!("    {l}\n"));
    }
    s
}

/// A JSON object of `bytes` bytes or more, with these top-level keys before its panels.
fn json_with(keys: &str, panel_key: &str, bytes: usize) -> String {
    let panel = r#"{"type": "timeseries", "targets": [{"expr": "sum(rate(http_requests_total[5m]))"}]}"#;
    let panels = vec![panel; bytes / panel.len() + 1].join(",\n");
    format!("{{{keys}\"{panel_key}\": [\n{panels}\n]}}")
}

#[test]
fn dashboards_in_configmaps_go_unless_the_size_limit_needs_them() {
    let rules = "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n";
    let text = [
        configmap(
            "dashboards",
            &[
                ("modern.json", &json_with("\"title\": \"a\", ", "panels", 5000)),
                ("legacy.json", &json_with("", "rows", 5000)),
                ("small.json", &json_with("", "panels", 100)),
                ("rules.json", &json_with("\"groups\": [], ", "panels", 5000)),
                ("rules.yaml", rules),
                ("broken.json", &format!("{}\n,", json_with("", "panels", 5000))),
            ],
        ),
        configmap(
            "huge",
            &[("a.json", &json_with("", "panels", 600_000)), ("b.json", &json_with("", "panels", 600_000))],
        ),
    ]
    .join("---\n");
    let mut inputs = Inputs { prune: Some(unread_bodies), ..Inputs::default() };
    inputs.add_bytes("x.yaml", text.as_bytes());
    let value = |doc: usize, key: &str| inputs.documents[doc].root.str_at(&["data", key]).unwrap().len();
    assert_eq!((value(0, "modern.json"), value(0, "legacy.json")), (2, 2));
    assert!(value(0, "small.json") > 100, "small values are not worth recognizing");
    assert!(value(0, "rules.json") > 5000, "a rule file is read, whatever else it holds");
    assert_eq!(value(0, "rules.yaml"), rules.len());
    assert!(value(0, "broken.json") > 5000, "not JSON: kept");
    assert!(value(1, "a.json") > 600_000 && value(1, "b.json") > 600_000, "over 1 MiB: every byte counts");
    // And the report is the one an unpruned check gives: the oversized ConfigMap is found.
    let pruned = report("x.yaml", &text, true);
    assert!(pruned.contains("schema/object-too-large") && pruned.contains("ConfigMap default/huge holds"), "{pruned}");
    assert_eq!(pruned, report("x.yaml", &text, false));
}
