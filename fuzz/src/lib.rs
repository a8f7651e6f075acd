//! What every fuzz target does after building its input: run the pipeline and every output format,
//! because a panic in a renderer is as fatal to a CI gate as one in the parser.

use meterguard::check::{self, Options};
use meterguard::input::Inputs;
use meterguard::report;

/// As the command runs a check: pruned inputs have their alert rules taken out of their documents
/// first (`check::run_keeping`).
pub fn check_all_formats(inputs: &mut Inputs) {
    let (report, _) = check::run_keeping(inputs, &Options::default());
    let style = report::human::Style { color: false, width: 100 };
    let _ = report::human::render(&report, &style);
    let _ = report::json::render(&report);
    let _ = report::markdown::render(&report);
    let _ = report::sarif::render(&report);
    let _ = report::github::render(&report);
}

/// Every format of a check of `inputs` and of a diff of `both` (its first source old), each through
/// the report guard with the secrets of what it read, as the command writes them.
pub fn guarded_outputs(inputs: &mut Inputs, both: &Inputs) -> Vec<String> {
    use report::guard::{Guard, Scrub, Target};
    use std::io::Write;
    let guarded = |text: String, secrets: &std::collections::BTreeSet<String>, target: Target| {
        let scrub = Scrub::new(secrets);
        let mut out = Vec::new();
        let mut g = Guard::new(&mut out, &scrub, target);
        let _ = g.write_all(text.as_bytes());
        let _ = g.finish();
        String::from_utf8_lossy(&out).into_owned()
    };
    let text = Target::Text { color: false };
    let mut outs = Vec::new();
    let secrets = inputs.secret_values.clone();
    let (r, _) = check::run_keeping(inputs, &Options::default());
    let style = report::human::Style { color: false, width: 100 };
    outs.push(guarded(report::human::render(&r, &style), &secrets, text));
    outs.push(guarded(report::json::render(&r), &secrets, Target::Json));
    outs.push(guarded(report::markdown::render(&r), &secrets, text));
    outs.push(guarded(report::sarif::render(&r), &secrets, Target::Json));
    outs.push(guarded(report::github::render(&r), &secrets, Target::Github));
    let opts = Options::default();
    let d = meterguard::diff::run(both, 1, &opts);
    let settings = report::annotate::Settings { context: 3, show_noise: true, split: 1 };
    let secrets = &both.secret_values;
    outs.push(guarded(report::human::render_diff(&d, &settings, true, &style), secrets, text));
    outs.push(guarded(report::json::render_diff(&d, true, true), secrets, Target::Json));
    outs.push(guarded(report::markdown::render_diff(&d, &settings, true), secrets, text));
    outs
}

pub fn diff_all_formats(inputs: &Inputs, split: usize) {
    let opts = Options::default();
    let d = meterguard::diff::run(inputs, split, &opts);
    let settings = report::annotate::Settings { context: 3, show_noise: true, split };
    let style = report::human::Style { color: false, width: 100 };
    let _ = report::human::render_diff(&d, &settings, true, &style);
    let _ = report::json::render_diff(&d, true, true);
    let _ = report::markdown::render_diff(&d, &settings, true);
    let _ = report::sarif::render(&d.check);
}

/// The typed model's reading of every mapping in the tree (`input::de`) must be the one of
/// `Node::to_json` with serde_json's `Value` deserializer, errors included. Probes, environment
/// variables and container ports hold no `Quantity`, the one type the two read differently on
/// purpose (a number's text as written).
pub fn typed_reading_agrees(node: &meterguard::input::node::Node) {
    use k8s_openapi::api::core::v1::{ContainerPort, EnvVar, Probe};
    fn same<T: k8s_openapi::serde::de::DeserializeOwned + std::fmt::Debug>(node: &meterguard::input::node::Node) {
        let direct = meterguard::input::de::from_node::<T>(node).map(|v| format!("{v:?}")).map_err(|e| e.to_string());
        let json = serde_json::from_value::<T>(node.to_json()).map(|v| format!("{v:?}")).map_err(|e| e.to_string());
        assert_eq!(direct, json);
    }
    if node.as_map().is_some() {
        same::<Probe>(node);
        same::<EnvVar>(node);
        same::<ContainerPort>(node);
    }
    let children: Vec<&meterguard::input::node::Node> = match (node.as_map(), node.as_seq()) {
        (Some(entries), _) => entries.iter().map(|e| &e.value).collect(),
        (_, Some(items)) => items.iter().collect(),
        _ => Vec::new(),
    };
    children.into_iter().for_each(typed_reading_agrees);
}

/// Reads `data` as a manifest, writes each document as JSON (the value Kubernetes would get), and
/// reads that again: every value must come back the same, and nothing may be refused. Documents
/// nested deeper than the scanner's flow limit (255 levels) cannot be written as JSON flow and are
/// left out.
pub fn json_round_trip(data: &[u8]) {
    let mut inputs = Inputs::default();
    inputs.add_bytes("fuzz.yaml", data);
    let values: Vec<serde_json::Value> = inputs
        .documents
        .iter()
        .filter(|d| depth(&d.root) < 250)
        .map(|d| d.root.to_json())
        .filter(|v| !v.is_null())
        .collect();
    let mut text = String::new();
    for v in &values {
        text.push_str("---\n");
        text.push_str(&serde_json::to_string(v).expect("a JSON value"));
        text.push('\n');
    }
    let mut again = Inputs::default();
    again.add_bytes("again.json", text.as_bytes());
    assert!(again.problems.is_empty(), "the JSON of what was read is refused: {:?}\n{text}", again.problems);
    let back: Vec<serde_json::Value> = again.documents.iter().map(|d| d.root.to_json()).collect();
    assert_eq!(back.len(), values.len(), "{text}");
    for (a, b) in values.iter().zip(&back) {
        assert!(same(a, b), "read {a}\nthen {b}");
    }
}

fn depth(node: &meterguard::input::Node) -> usize {
    use meterguard::input::Kind;
    match &node.kind {
        Kind::Scalar(_) => 0,
        Kind::Seq(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Kind::Map(entries) => 1 + entries.iter().map(|e| depth(&e.value)).max().unwrap_or(0),
    }
}

/// Same JSON, numbers by value: a float written as `1.0` is read back as the integer 1.
pub fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
