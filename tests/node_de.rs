//! The typed model is read from the tree with `input::de`; it must read what `Node::to_json` and
//! serde_json's `Value` deserializer read together, the errors included, on every container,
//! volume and claim of the fixtures and on values chosen to differ.

mod common;

use std::fmt::Debug;

use k8s_openapi::api::core::v1::{Container, PersistentVolumeClaim, Volume};
use meterguard::input::de::from_node;
use meterguard::input::node::Node;
use meterguard::input::yaml::parse_stream;
use serde::de::DeserializeOwned;

fn same<T: DeserializeOwned + Debug>(node: &Node) {
    let direct = from_node::<T>(node).map(|v| format!("{v:?}")).map_err(|e| e.to_string());
    let via_json = serde_json::from_value::<T>(node.to_json()).map(|v| format!("{v:?}")).map_err(|e| e.to_string());
    assert_eq!(direct, via_json, "at line {}", node.start().line);
}

/// Every item of a list under one of `keys`, anywhere in the tree.
fn items_under<'n>(node: &'n Node, keys: &[&str], out: &mut Vec<&'n Node>) {
    if let Some(entries) = node.as_map() {
        for e in entries {
            if keys.contains(&e.key.text())
                && let Some(items) = e.value.as_seq()
            {
                out.extend(items);
            }
            items_under(&e.value, keys, out);
        }
    } else if let Some(items) = node.as_seq() {
        items.iter().for_each(|i| items_under(i, keys, out));
    }
}

#[test]
fn every_fixture_container_volume_and_claim_reads_as_through_json() {
    let mut files = common::yaml_files(&common::root().join("tests/fixtures"));
    files.extend(common::yaml_files(&common::root().join("examples")));
    let (mut containers, mut volumes, mut claims) = (0, 0, 0);
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        for doc in parse_stream(&text).documents {
            let mut found = Vec::new();
            items_under(&doc.root, &["containers", "initContainers"], &mut found);
            found.iter().for_each(|n| same::<Container>(n));
            containers += found.len();
            found.clear();
            items_under(&doc.root, &["volumes"], &mut found);
            found.iter().for_each(|n| same::<Volume>(n));
            volumes += found.len();
            found.clear();
            items_under(&doc.root, &["volumeClaimTemplates"], &mut found);
            found.iter().for_each(|n| same::<PersistentVolumeClaim>(n));
            claims += found.len();
        }
    }
    // The fixtures hold hundreds of each; a walk that found none would compare nothing.
    assert!(containers > 100 && volumes > 50 && claims > 5, "{containers} {volumes} {claims}");
}

#[test]
fn values_chosen_to_differ_read_as_through_json() {
    let text = r#"
name: a
image: 12
imagePullPolicy: yes
args: [1, -2, 0x1F, 1.5, .nan, .inf, ~, true, "x"]
command: {a: b}
workingDir: ~
terminationMessagePath: .nan
terminationMessagePolicy: -.inf
tty: on
ports:
  - {containerPort: 80, name: http, protocol: 7}
  - {containerPort: -1}
  - {containerPort: 1.5}
  - {containerPort: "80"}
env:
  - {name: A, value: 1}
  - {name: B, valueFrom: {fieldRef: {fieldPath: x}}, unknown: {deep: [1]}}
stdin: 1
name: b
livenessProbe: {httpGet: {port: http}, periodSeconds: 1e3}
readinessProbe: {httpGet: {port: 8080}, timeoutSeconds: -3}
startupProbe: []
"#;
    let doc = &parse_stream(text).documents[0].root;
    same::<Container>(doc);
    // Each field alone too, so that an error early in the mapping does not hide the others.
    for e in doc.as_map().unwrap_or_default() {
        let one = parse_stream(&format!("name: x\n{}: {}", e.key.text(), field_text(text, e.key.text()))).documents;
        same::<Container>(&one[0].root);
    }
}

/// The text of a top-level field's value in `text` (single-line values).
fn field_text<'t>(text: &'t str, key: &str) -> &'t str {
    let prefix = format!("{key}: ");
    text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).unwrap_or("~")
}

#[test]
fn a_quantity_written_as_a_number_is_its_text() {
    let doc =
        &parse_stream("name: a\nresources: {requests: {cpu: 0.50, memory: 1e3}, limits: {cpu: 2}}").documents[0].root;
    let c: Container = from_node(doc).unwrap_or_else(|e| panic!("{e}"));
    let r = c.resources.unwrap_or_default();
    let text =
        |m: Option<std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
         k: &str| m.and_then(|m| m.get(k).map(|q| q.0.clone()));
    assert_eq!(text(r.requests.clone(), "cpu").as_deref(), Some("0.50"));
    assert_eq!(text(r.requests, "memory").as_deref(), Some("1e3"));
    assert_eq!(text(r.limits, "cpu").as_deref(), Some("2"));
}
