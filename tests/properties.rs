//! Invariants that hold for every input, checked on generated ones (proptest).

use std::collections::BTreeMap;

use meterguard::check::Options;
use meterguard::diff::{Change, DiffReport};
use meterguard::input::Inputs;
use meterguard::model::quantity::{Quantity, QuantityError};
use proptest::prelude::*;
use serde_json::{Value, json};

fn quantity_text() -> impl Strategy<Value = String> {
    let sign = prop_oneof![Just(""), Just("+"), Just("-")];
    let suffix = prop_oneof![
        prop::sample::select(vec!["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"])
            .prop_map(str::to_owned),
        (prop::sample::select(vec!["e", "E"]), prop::sample::select(vec!["", "+", "-"]), 0u32..40)
            .prop_map(|(e, s, n)| format!("{e}{s}{n}")),
    ];
    (sign, "[0-9]{0,20}", prop::option::of("[0-9]{0,12}"), suffix).prop_filter_map(
        "needs a digit",
        |(sign, int, frac, suffix)| {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            (int.len() + frac.len() > 1 || !int.is_empty()).then(|| format!("{sign}{int}{frac}{suffix}"))
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// What the parser accepts prints canonically, and the canonical text means the same quantity.
    /// As in apimachinery, a binary quantity that no binary suffix divides prints as a plain number
    /// (`187.5Ki` is `192000`), which reads back as decimal (`192k`): the text is canonical from
    /// its second printing on.
    #[test]
    fn quantity_print_parse_round_trip(text in quantity_text()) {
        match Quantity::parse(&text) {
            Ok(q) => {
                let printed = q.to_string();
                let again = Quantity::parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
                prop_assert_eq!(again.nanos, q.nanos, "{} printed as {}", text, printed);
                let canonical = again.to_string();
                let third = Quantity::parse(&canonical).map_err(|e| TestCaseError::fail(format!("{canonical}: {e}")))?;
                prop_assert_eq!(third.nanos, q.nanos);
                prop_assert_eq!(third.to_string(), canonical);
            }
            Err(QuantityError::TooLarge(_)) => {}
            Err(e) => prop_assert!(false, "{text} is in the grammar but was rejected: {e}"),
        }
    }
}

/// A small world of objects whose names collide across generated renders, so diffs see adds,
/// removes and changes of the same objects.
fn object() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(vec!["kubecost-cost-analyzer", "prometheus-server", "api", "web"]);
    let ns = prop::sample::select(vec!["kubecost", "default"]);
    let mem = prop::sample::select(vec!["256Mi", "1Gi", "2Gi", "4Gi"]);
    let image = prop::sample::select(vec![
        "gcr.io/kubecost1/cost-model:prod-2.3.3",
        "quay.io/prometheus/prometheus:v2.55.1",
        "quay.io/prometheus/prometheus:v3.1.0",
        "nginx:1.27",
    ]);
    let env = prop::collection::btree_map("[A-Z]{1,3}", "[a-z0-9]{0,4}", 0..4);
    let container = (prop::sample::select(vec!["main", "sidecar", "proxy"]), image, mem.clone(), mem, env);
    let containers =
        prop::collection::btree_map(prop::sample::select(vec!["main", "sidecar", "proxy"]), container, 1..3);
    let kind = prop::sample::select(vec!["Deployment", "StatefulSet", "ConfigMap", "Secret"]);
    let version = prop::sample::select(vec!["apps/v1", "apps/v1beta2"]);
    let data = prop::collection::btree_map("[a-z]{1,4}", "[a-z0-9 ]{0,8}", 0..4);
    (kind, name, ns, version, 1u32..4, containers, data, any::<bool>()).prop_map(
        |(kind, name, ns, version, replicas, containers, data, probe)| {
            let meta = json!({"name": name, "namespace": ns, "labels": {"app": name}});
            match kind {
                "ConfigMap" => json!({"apiVersion": "v1", "kind": kind, "metadata": meta, "data": data}),
                "Secret" => json!({"apiVersion": "v1", "kind": kind, "metadata": meta, "stringData": data}),
                _ => {
                    let containers: Vec<Value> = containers
                        .into_iter()
                        .map(|(_, (cname, image, req, lim, env))| {
                            let env: Vec<Value> =
                                env.into_iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
                            let mut c = json!({"name": cname, "image": image, "env": env,
                                "resources": {"requests": {"memory": req}, "limits": {"memory": lim}}});
                            if probe {
                                c["readinessProbe"] = json!({"httpGet": {"path": "/healthz", "port": 9090}});
                            }
                            c
                        })
                        .collect();
                    // Container names must be unique, as the API server requires.
                    let mut seen = std::collections::BTreeSet::new();
                    let containers: Vec<Value> =
                        containers.into_iter().filter(|c| seen.insert(c["name"].to_string())).collect();
                    json!({"apiVersion": version, "kind": kind, "metadata": meta, "spec": {
                        "replicas": replicas,
                        "selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}}})
                }
            }
        },
    )
}

fn objects() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(object(), 0..6).prop_map(|objects| {
        // One object per identity, as a valid render has; later ones win.
        let mut unique = BTreeMap::new();
        for o in objects {
            let id = (o["kind"].to_string(), o["metadata"]["namespace"].to_string(), o["metadata"]["name"].to_string());
            unique.insert(id, o);
        }
        unique.into_values().collect()
    })
}

fn print(objects: &[Value]) -> String {
    objects.iter().map(|o| format!("---\n{}\n", serde_json::to_string_pretty(o).expect("JSON values print"))).collect()
}

fn render() -> impl Strategy<Value = String> {
    objects().prop_map(|o| print(&o))
}

fn with_diff<T>(old: &str, new: &str, f: impl FnOnce(&DiffReport<'_>) -> T) -> T {
    let mut inputs = Inputs::default();
    inputs.add_bytes("old.yaml", old.as_bytes());
    let split = inputs.sources.len();
    inputs.add_bytes("new.yaml", new.as_bytes());
    let opts = Options::default();
    let d = meterguard::diff::run(&inputs, split, &opts);
    f(&d)
}

type Summary = BTreeMap<(String, String, String), (Change, Vec<(String, Option<Value>, Option<Value>)>)>;

fn summary(d: &DiffReport<'_>, mirrored: bool) -> Summary {
    d.changes
        .iter()
        .map(|c| {
            let id = (c.object.kind.clone(), c.object.namespace.clone().unwrap_or_default(), c.object.name.clone());
            let change = match (c.change, mirrored) {
                (Change::Added, true) => Change::Removed,
                (Change::Removed, true) => Change::Added,
                (other, _) => other,
            };
            let mut fields: Vec<_> = c
                .fields
                .iter()
                .map(|f| {
                    let (o, n) = if mirrored { (f.new.clone(), f.old.clone()) } else { (f.old.clone(), f.new.clone()) };
                    (f.path.clone(), o, n)
                })
                .collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            (id, (change, fields))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn diff_of_a_render_with_itself_is_empty(a in render()) {
        with_diff(&a, &a, |d| {
            prop_assert!(d.changes.is_empty(), "{:?}", d.changes);
            prop_assert!(!d.check.findings.iter().any(|f| f.rule.starts_with("diff/")));
            Ok(())
        })?;
    }

    #[test]
    fn diff_backwards_mirrors_diff_forwards(a in render(), b in render()) {
        let forwards = with_diff(&a, &b, |d| summary(d, false));
        let backwards = with_diff(&b, &a, |d| summary(d, true));
        prop_assert_eq!(forwards, backwards);
    }

    /// Reordering documents, and the named items inside them, is never a change.
    #[test]
    fn diff_ignores_order(a in objects()) {
        let mut b = a.clone();
        b.reverse();
        for o in &mut b {
            if let Some(Value::Array(containers)) = o.pointer_mut("/spec/template/spec/containers") {
                containers.reverse();
                for c in containers {
                    if let Some(Value::Array(env)) = c.get_mut("env") {
                        env.reverse();
                    }
                }
            }
        }
        with_diff(&print(&a), &print(&b), |d| {
            prop_assert!(d.changes.is_empty(), "{:?}", d.changes);
            Ok(())
        })?;
    }
}

/// A scalar as written in YAML: plain, single-quoted or double-quoted (with escapes).
fn scalar_token() -> impl Strategy<Value = String> {
    let any = "[a-zA-Z0-9é日 _.:/#\"'\\\\\t-]{0,12}";
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9é日_./-]{0,10}",
        any.prop_map(|t| format!("'{}'", t.replace('\'', "''"))),
        any.prop_map(|t| serde_json::to_string(&t).expect("strings print")),
    ]
}

/// Every scalar's span and text, keys included.
fn scalars(n: &meterguard::input::Node, out: &mut Vec<(meterguard::input::Span, String)>) {
    match &n.kind {
        meterguard::input::Kind::Scalar(text) => out.push((n.span(), text.to_string())),
        meterguard::input::Kind::Seq(items) => items.iter().for_each(|i| scalars(i, out)),
        meterguard::input::Kind::Map(entries) => entries.iter().for_each(|e| {
            out.push((e.key.span(), e.key.text().to_owned()));
            scalars(&e.value, out);
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The tree keeps a node's start and computes its end: where it has one, the text between
    /// them is the token, which reads back as the node's text; plain keys always have one.
    #[test]
    fn scalar_spans_cover_their_tokens(tokens in prop::collection::vec(scalar_token(), 1..8)) {
        let mut text = String::new();
        for (i, t) in tokens.iter().enumerate() {
            text.push_str(&format!("k{i}: {t}\nl{i}: [{t}, x]\n"));
        }
        let parsed = meterguard::input::yaml::parse_stream(&text);
        prop_assert!(parsed.problems.is_empty(), "{text}\n{:?}", parsed.problems);
        let lines: Vec<&str> = text.lines().collect();
        let mut found = Vec::new();
        scalars(&parsed.documents[0].root, &mut found);
        for (span, scalar) in found {
            if span.end == span.start {
                prop_assert!(scalar.contains(['\\', '\t', '\'', '"']), "{text}: {:?} has no end", scalar);
                continue;
            }
            let line = lines[span.start.line as usize - 1];
            let token: String =
                line.chars().skip(span.start.col as usize - 1).take((span.end.col - span.start.col) as usize).collect();
            let again = meterguard::input::yaml::parse_stream(&format!("x: {token}\n"));
            let read = again.documents[0].root.get("x").and_then(|x| x.as_scalar()).map(|x| x.text);
            prop_assert_eq!(read, Some(scalar.as_str()), "{}", text);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A credential flag's value never survives the masking a snippet applies, written in any of
    /// the ways a manifest passes it: `--flag=value`, the next word of a shell line, the next item
    /// of a flow sequence, or the next item of a block sequence.
    #[test]
    fn credential_flags_never_survive_masking(
        flag in prop_oneof![Just("--password"), Just("--api-key"), Just("-token"), Just("--storage.remote.password"), Just("--auth.token")],
        value in "[A-Za-z0-9/+._:][A-Za-z0-9/+=._:-]{5,39}[A-Za-z]",
        form in 0usize..4,
        indent in 0usize..8,
    ) {
        use meterguard::input::redact::{mask_after, mask_credential_line};
        let pad = " ".repeat(indent);
        let text = match form {
            0 => format!("{pad}args:\n{pad}- {flag}={value}\n{pad}- -v\n"),
            1 => format!("{pad}command: [sh, -c, \"exec app {flag} {value} -v\"]\n"),
            2 => format!("{pad}args: [\"{flag}\", \"{value}\", -v]\n"),
            _ => format!("{pad}args:\n{pad}- {flag}\n{pad}- {value}\n{pad}- -v\n"),
        };
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let previous = if i > 0 { lines[i - 1] } else { "" };
            let shown = mask_after(previous, &mask_credential_line(line)).into_owned();
            prop_assert!(!shown.contains(&value), "{text} -> {shown}");
        }
    }
}

fn credential_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("password".to_owned()),
        Just("bearer_token".to_owned()),
        Just("client_secret".to_owned()),
        Just("slack_api_url".to_owned()),
        Just("globalSlackWebhookUrl".to_owned()),
        Just("routing_key".to_owned()),
        Just("auth_password".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A credential written as a YAML value or a JSON string never survives masking, whatever
    /// surrounds it, and the text keeps its lines.
    #[test]
    fn credentials_never_survive_masking(
        key in credential_key(),
        value in "[A-Za-z0-9/+=._:-]{6,40}[A-Za-z]",
        indent in 0usize..8,
        json in any::<bool>(),
        before in "[a-z]{1,8}: [a-z0-9]{1,8}",
    ) {
        prop_assume!(!before.contains(&value) && !key.contains(&value));
        let line = if json {
            format!("{}cfg: '{{\"{key}\": \"{value}\", \"x\": 1}}'", " ".repeat(indent))
        } else {
            format!("{}{key}: {value}", " ".repeat(indent))
        };
        let text = format!("{before}\n{line}\n{before}\n");
        let masked = meterguard::input::redact::mask_credentials(&text);
        prop_assert!(!masked.contains(&value), "{masked}");
        prop_assert_eq!(masked.lines().count(), 3);
        prop_assert!(masked.starts_with(&before));
    }
}

/// One relabel config as a scrape config writes it.
fn relabel_step() -> impl Strategy<Value = Value> {
    let action = prop_oneof![Just("replace"), Just("lowercase"), Just("hashmod"), Just("keep"), Just("drop")];
    let label = prop_oneof![Just("__meta_kubernetes_namespace"), Just("__address__"), Just("team"), Just("job")];
    (action, proptest::collection::vec(label, 0..3), "[a-z_]{1,8}", "[a-z.*()|]{0,6}", "[a-z$1]{0,6}").prop_map(
        |(action, sources, target, regex, replacement)| {
            json!({"action": action, "source_labels": sources, "target_label": format!("x_{target}"),
                   "regex": regex, "replacement": replacement, "modulus": 2})
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Steps that write other labels leave `job` as the scrape config names it, whatever they read;
    /// a last step that writes a literal into `job` decides it.
    #[test]
    fn only_steps_that_write_job_rename_it(
        steps in proptest::collection::vec(relabel_step(), 0..6),
        last in proptest::option::of("[a-z][a-z-]{0,10}"),
    ) {
        use meterguard::coverage::relabel::{JobRename, Relabel};
        let mut all = steps.clone();
        if let Some(name) = &last {
            all.push(json!({"target_label": "job", "replacement": name}));
        }
        let rename = JobRename::of(None, all.iter().map(Relabel::from_config));
        let label = |l: &str| (l == "__meta_kubernetes_namespace").then(|| "monitoring".to_owned());
        let job = rename.job("kubecost", &label);
        prop_assert_eq!(job.as_deref(), Some(last.as_deref().unwrap_or("kubecost")), "{:?}", all);
    }
}
