//! The user's configuration (`.meterguard.yaml`): extra metering selectors, profile overrides,
//! cluster scale, rule severities and exemptions.

pub mod scale;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::{Object, Workload};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub metering: Metering,
    pub scale: Option<scale::Scale>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metering {
    /// Workloads that meter although the catalogue does not know them.
    pub include: Vec<Selector>,
    /// Workloads that do not meter although the catalogue says so.
    pub exclude: Vec<Selector>,
}

/// Every given criterion must match; each list matches when any of its globs does.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Selector {
    pub kinds: Vec<String>,
    pub namespaces: Vec<String>,
    pub names: Vec<String>,
    pub images: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// The profile a matched workload gets (for `include`).
    pub profile: Option<String>,
}

fn glob_any(patterns: &[String], value: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| globset::Glob::new(p).is_ok_and(|g| g.compile_matcher().is_match(value)))
}

impl Selector {
    pub fn matches(&self, obj: &Object<'_>, w: &Workload<'_>) -> bool {
        let labels = obj.labels();
        glob_any(&self.kinds, &obj.id.kind)
            && glob_any(&self.namespaces, obj.namespace())
            && glob_any(&self.names, &obj.id.name)
            && (self.images.is_empty()
                || w.containers.iter().any(|c| glob_any(&self.images, c.spec.image.as_deref().unwrap_or_default())))
            && self.labels.iter().all(|(k, pat)| {
                let v = w.pod_labels.get(k.as_str()).or_else(|| labels.get(k.as_str()));
                v.is_some_and(|v| glob_any(std::slice::from_ref(pat), v))
            })
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (what, list) in
            [("kinds", &self.kinds), ("namespaces", &self.namespaces), ("names", &self.names), ("images", &self.images)]
        {
            if !list.is_empty() {
                parts.push(format!("{what}={}", list.join("|")));
            }
        }
        for (k, v) in &self.labels {
            parts.push(format!("{k}={v}"));
        }
        format!("{{{}}}", parts.join(", "))
    }
}
