//! Input and schema rules: what Kubernetes itself would reject or silently drop.

use super::{Finding, Rule, Severity, rule};
use crate::input::Node;
use crate::model::quantity::{Quantity, Suffix, bytes_human};
use crate::model::{MAX_DATA_BYTES, Model, data_bytes};

rule!(
    YAML_SYNTAX,
    "input/yaml-syntax",
    Error,
    "the YAML cannot be parsed",
    "A document that is not valid YAML is rejected by kubectl and Helm. meterguard reports where the parser \
     stopped and still checks the other documents of the stream. Fix the syntax at the line shown."
);
rule!(
    NOT_AN_OBJECT,
    "input/not-an-object",
    Error,
    "a document is not a mapping",
    "Every Kubernetes object is a mapping with apiVersion, kind and metadata. A document that is a list or a \
     scalar is not an object; it is skipped. Remove it or turn it into an object."
);
rule!(
    MISSING_IDENTITY,
    "input/missing-identity",
    Error,
    "an object without apiVersion, kind or metadata.name",
    "Kubernetes identifies an object by its apiVersion, kind, namespace and name; without a string value for each \
     it cannot be applied, and meterguard cannot check it. Add the missing field."
);
rule!(
    ENCODING,
    "input/encoding",
    Error,
    "the file is not valid UTF-8 or UTF-16",
    "Kubernetes reads manifests as UTF-8. Invalid bytes were replaced so the rest could be analyzed; re-save the file as UTF-8."
);
rule!(
    UNREADABLE,
    "input/unreadable",
    Error,
    "a path could not be read",
    "The file or directory does not exist, cannot be opened, or loops through symbolic links. The other paths \
     were still checked; fix the path or its permissions."
);
rule!(
    TOO_LARGE,
    "input/too-large",
    Error,
    "an input is larger than --max-input-bytes",
    "meterguard stops reading an input past --max-input-bytes so that a runaway render cannot exhaust memory. \
     Raise the limit if the input is genuine."
);
rule!(
    NOT_A_FILE,
    "input/not-a-file",
    Error,
    "a path names a FIFO, socket, device or system file",
    "meterguard reads regular files only: reading a FIFO or a device can wait forever, and a file under /proc, \
     /sys or /dev can hold the environment of the job that runs the check (its tokens). The path was not read \
     and the other paths were still checked. Give the manifest itself, or `-` for standard input."
);
rule!(
    OUTSIDE_ROOT,
    "input/outside-root",
    Error,
    "a symbolic link leads out of the paths given",
    "A directory is read without leaving it: a symbolic link inside it whose target lies outside (a pull request \
     can add `env.yaml -> /proc/self/environ`) is reported and not read, and so is a named file that is a link \
     out of the current directory. Links inside the directory are not followed either: their targets are read \
     where they are. Replace the link by the file, or name the target's directory."
);
rule!(
    EMPTY,
    "input/empty",
    Error,
    "standard input holds no YAML document",
    "meterguard read nothing to check from standard input. In a pipe (`helm template . | meterguard check -`) \
     that usually means the command before it failed; passing would let a broken render through the gate."
);
rule!(
    ALIAS_BOMB,
    "input/alias-bomb",
    Error,
    "YAML aliases expand without bound",
    "A document whose anchors and aliases expand into more nodes than any manifest needs (a 'billion laughs' \
     document) is rejected before it can exhaust memory. Replace the aliases by the values they stand for."
);
rule!(
    TOO_DEEP,
    "input/too-deep",
    Error,
    "nesting deeper than any manifest needs",
    "A document nested more than 256 levels deep is rejected before it can exhaust the stack."
);
rule!(
    DUPLICATE_KEY,
    "schema/duplicate-key",
    Error,
    "a mapping holds the same key twice",
    "The API server rejects a manifest whose mapping repeats a key, while many tools silently keep one of the two \
     values: what you review is not what runs. Keep one key."
);
rule!(
    INVALID_TYPE,
    "schema/invalid-type",
    Error,
    "a field holds a value of the wrong type",
    "The API server rejects an object whose field has the wrong type (a number where a string belongs, a string \
     where a list belongs). Quote the value or give it the expected shape."
);
rule!(
    UNKNOWN_FIELD,
    "schema/unknown-field",
    Error,
    "a field the Kubernetes type does not have",
    "The API server drops unknown fields without an error, so a typo such as `resource:` for `resources:` silently \
     removes the limits it holds: the container runs unbounded, or with defaults. Rename the field as suggested."
);
rule!(
    INVALID_QUANTITY,
    "schema/invalid-quantity",
    Error,
    "a resource quantity Kubernetes rejects",
    "Quantities are a number with an optional suffix: Ki Mi Gi Ti Pi Ei (powers of 1024), n u m k M G T P E \
     (powers of 1000) or an exponent. `1GB`, `512MB` and `1gi` are rejected by the API server. Use `1Gi`."
);
rule!(
    SUSPICIOUS_QUANTITY,
    "schema/suspicious-quantity",
    Error,
    "a memory quantity that is almost certainly a mistake",
    "`memory: 512m` means 0.512 bytes (m is milli), and `memory: 1024` means 1 KiB: the container cannot start, or \
     is OOM-killed at once. `3G` is 3,000,000,000 bytes, 7% less than `3Gi`; that is reported as info, since \
     sizing floors are computed in binary units."
);

rule!(
    DUPLICATE_OBJECT,
    "schema/duplicate-object",
    Error,
    "two objects with the same identity",
    "Two objects with the same API group, kind, namespace and name: the second replaces the first when applied, \
     and Helm refuses to install such a release. Remove or rename one."
);
rule!(
    OBJECT_TOO_LARGE,
    "schema/object-too-large",
    Error,
    "an object larger than the API server accepts",
    "The API server rejects a ConfigMap or Secret whose data adds up to more than 1 MiB, and any object whose \
     annotations add up to more than 256 KiB (`Too long: must have at most 1048576 bytes`). The apply fails \
     mid-upgrade. Split the data (one ConfigMap per dashboard), mount it from elsewhere, or use server-side apply \
     instead of the last-applied annotation."
);

pub static RULES: &[&Rule] = &[
    &YAML_SYNTAX,
    &NOT_AN_OBJECT,
    &MISSING_IDENTITY,
    &ENCODING,
    &UNREADABLE,
    &TOO_LARGE,
    &EMPTY,
    &ALIAS_BOMB,
    &TOO_DEEP,
    &NOT_A_FILE,
    &OUTSIDE_ROOT,
    &DUPLICATE_KEY,
    &DUPLICATE_OBJECT,
    &INVALID_TYPE,
    &UNKNOWN_FIELD,
    &INVALID_QUANTITY,
    &SUSPICIOUS_QUANTITY,
    &OBJECT_TOO_LARGE,
];

/// k8s.io/apimachinery pkg/api/validation/objectmeta.go `TotalAnnotationSizeLimitB`.
const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

/// Sizes the API server validates: ConfigMap and Secret data, and annotations on any object.
pub fn check_sizes(model: &Model<'_>, out: &mut Vec<Finding>) {
    for o in &model.objects {
        if let Some((total, span)) = data_bytes(o.id.group(), &o.id.kind, o.node)
            && total > MAX_DATA_BYTES
        {
            out.push(Finding::on_object(
                &OBJECT_TOO_LARGE,
                o,
                span,
                format!(
                    "{} holds {} of data; the API server accepts at most 1 MiB",
                    o.id.display(),
                    bytes_human(total as f64)
                ),
                "split the data over several objects, or mount it from a volume".into(),
            ));
        }
        if let Some(a) = o.node.path(&["metadata", "annotations"]).and_then(Node::as_map) {
            let size: usize =
                a.iter().map(|e| e.key.text().len() + e.value.as_scalar().map_or(0, |s| s.text.len())).sum();
            if size > MAX_ANNOTATION_BYTES
                && let Some(e) = o.node.path(&["metadata"]).and_then(|m| m.entry("annotations"))
            {
                out.push(Finding::on_object(
                    &OBJECT_TOO_LARGE,
                    o,
                    e.key.span(),
                    format!("the annotations of {} add up to {}; the API server accepts at most 256 KiB", o.id.display(), bytes_human(size as f64)),
                    "move large values out of annotations; with `kubectl apply`, use --server-side so the object is not copied into the last-applied annotation".into(),
                ));
            }
        }
    }
}

/// Checks every quantity in containers' resources, emptyDir size limits and claim templates.
pub fn check(model: &Model<'_>, out: &mut Vec<Finding>) {
    for w in &model.workloads {
        for c in &w.containers {
            for section in ["limits", "requests"] {
                let Some(entries) = c.node.path(&["resources", section]).and_then(Node::as_map) else { continue };
                for e in entries {
                    let resource = e.key.as_str().unwrap_or_default();
                    if let Some(f) = judge(resource, &e.value) {
                        out.push(
                            Finding::in_workload(model, f.0, w, Some(c), e.value.span(), f.1, f.2).with_severity(f.3),
                        );
                    }
                }
            }
        }
        for (node, _) in &w.volumes {
            if let Some(v) = node.path(&["emptyDir", "sizeLimit"])
                && let Some(f) = judge("sizeLimit", v)
            {
                out.push(Finding::in_workload(model, f.0, w, None, v.span(), f.1, f.2).with_severity(f.3));
            }
        }
    }
}

type Judged = (&'static Rule, String, String, Severity);

fn judge(resource: &str, value: &Node) -> Option<Judged> {
    let text = value.as_scalar()?.text;
    let q = match Quantity::parse(text) {
        Ok(q) => q,
        Err(e) => {
            let help =
                fix_for(text).map(|s| format!("write `{s}`")).unwrap_or_else(|| "use a suffix such as Mi or Gi".into());
            return Some((&INVALID_QUANTITY, format!("{resource}: {e}"), help, Severity::Error));
        }
    };
    let memory_like = matches!(resource, "memory" | "ephemeral-storage" | "storage" | "sizeLimit")
        || resource.starts_with("hugepages-");
    if !memory_like {
        return None;
    }
    match q.suffix {
        Suffix::Decimal(e) if e < 0 => Some((
            &SUSPICIOUS_QUANTITY,
            format!("{resource}: {text} is {} bytes ({} is milli, not mega)", q.as_f64(), &text[text.len() - 1..]),
            format!(
                "write `{}Mi` (or `{}M`)",
                text.trim_end_matches(['m', 'u', 'n']),
                text.trim_end_matches(['m', 'u', 'n'])
            ),
            Severity::Error,
        )),
        Suffix::Decimal(0) | Suffix::Exponent(_) if q.value() > 0 && q.value() < 1024 * 1024 => Some((
            &SUSPICIOUS_QUANTITY,
            format!("{resource}: {text} is only {} bytes", q.value()),
            format!("a bare number counts bytes; write `{text}Mi` if mebibytes were meant"),
            Severity::Error,
        )),
        Suffix::Decimal(e) if e >= 6 => Some((
            &SUSPICIOUS_QUANTITY,
            format!("{resource}: {text} is {} in binary units, not {}i", bytes_human(q.as_f64()), text),
            format!("`G`, `M` are powers of 1000; if {}i was meant, write it", text),
            Severity::Info,
        )),
        _ => None,
    }
}

fn fix_for(text: &str) -> Option<String> {
    let lower = text.trim().to_ascii_lowercase();
    for (bad, good) in [
        ("kb", "Ki"),
        ("mb", "Mi"),
        ("gb", "Gi"),
        ("tb", "Ti"),
        ("ki", "Ki"),
        ("mi", "Mi"),
        ("gi", "Gi"),
        ("ti", "Ti"),
        ("k", "Ki"),
    ] {
        if let Some(num) = lower.strip_suffix(bad)
            && !num.is_empty()
            && num.parse::<f64>().is_ok()
        {
            return Some(format!("{num}{good}"));
        }
    }
    None
}
