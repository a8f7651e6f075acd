//! The user's configuration (`.meterguard.yaml`): extra metering selectors, profile overrides,
//! cluster scale, rule severities and exemptions. Its JSON Schema is generated from these types
//! (`meterguard schema`), and every file is validated against it before use.

pub mod load;
pub mod scale;
pub mod suppress;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Object, Workload};

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[schemars(title = "meterguard configuration")]
pub struct Config {
    /// Which workloads count as metering, beyond the built-in catalogue.
    pub metering: Metering,
    /// Override a built-in profile's requirements, or define profiles for in-house components.
    pub profiles: BTreeMap<String, ProfileConfig>,
    /// How large the cluster is; turns the Prometheus sizing model into memory floors.
    pub scale: scale::Scale,
    /// Per rule id: `off`, or the severity to report it at.
    pub rules: BTreeMap<String, RuleSetting>,
    /// Findings that are accepted, with a reason, optionally until a date.
    pub exemptions: Vec<Exemption>,
    /// Kubernetes version of the target cluster, e.g. "1.33".
    #[schemars(regex(pattern = r"^1\.[0-9]+$"))]
    pub kube_version: Option<String>,
    /// Default for `--fail-on`.
    pub fail_on: Option<FailOnSetting>,
    /// Alert evaluators that live outside the input.
    pub alerting: Alerting,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Metering {
    /// Workloads that meter although the catalogue does not know them.
    pub include: Vec<Selector>,
    /// Workloads that do not meter although the catalogue says so.
    pub exclude: Vec<Selector>,
}

/// Every given criterion must match; each list matches when any of its globs (or `re:` regular
/// expressions) does.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Selector {
    pub kinds: Vec<String>,
    pub namespaces: Vec<String>,
    pub names: Vec<String>,
    /// Container images.
    pub images: Vec<String>,
    /// Pod template or object labels: key -> glob.
    pub labels: BTreeMap<String, String>,
    /// The profile a matched workload gets (for `metering.include`).
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileConfig {
    pub summary: Option<String>,
    /// Minimum memory request, as a Kubernetes quantity (`512Mi`).
    pub memory_floor: Option<String>,
    /// The limit must be at least this many times the restart peak (Prometheus) or the floor.
    #[schemars(range(min = 1.0, max = 10.0))]
    pub headroom_ratio: Option<f64>,
    /// Longest expected start, in seconds: liveness budgets below it are findings.
    #[schemars(range(min = 1.0, max = 86400.0))]
    pub start_budget_seconds: Option<f64>,
    /// Whether losing this workload must page someone (alert coverage severity).
    pub critical: Option<bool>,
    /// For a new profile: the workloads it applies to (they become metering).
    #[serde(rename = "match")]
    pub selector: Selector,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleSetting {
    Off,
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailOnSetting {
    Error,
    Warning,
    Info,
    Never,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exemption {
    /// Rule ids (globs allowed: `probes/*`).
    pub rules: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
    /// Why the finding is accepted. Required.
    #[schemars(length(min = 1))]
    pub reason: String,
    /// Date (YYYY-MM-DD) after which the exemption stops applying and is itself reported.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub expires: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Alerting {
    /// Prometheus servers that evaluate rules but are not in the input.
    pub external: Vec<ExternalEvaluator>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ExternalEvaluator {
    pub name: String,
    pub rule_selector: BTreeMap<String, String>,
    pub rule_namespace_selector: BTreeMap<String, String>,
    pub jobs: Vec<String>,
}

/// The catalogue's profiles with the config's overrides and additions applied.
pub fn effective_profiles(config: &Config) -> BTreeMap<String, crate::knowledge::Profile> {
    let mut out = crate::knowledge::catalogue().profiles.clone();
    for (name, pc) in &config.profiles {
        let p = out.entry(name.clone()).or_insert_with(|| crate::knowledge::Profile {
            summary: format!("profile {name} from the config"),
            ..Default::default()
        });
        if let Some(s) = &pc.summary {
            p.summary = s.clone();
        }
        if let Some(q) = pc.memory_floor.as_deref().and_then(|q| crate::model::quantity::Quantity::parse(q).ok()) {
            p.memory_floor_bytes = Some(q.as_f64());
            p.memory_source = Some("the config's memory_floor".into());
            // A declared floor replaces the sizing model.
            p.memory_model = None;
        }
        if let Some(h) = pc.headroom_ratio {
            p.headroom_ratio = Some(h);
        }
        if let Some(b) = pc.start_budget_seconds {
            p.worst_case_start_seconds = Some(b);
            p.start_source = Some("the config's start_budget_seconds".into());
        }
        if let Some(c) = pc.critical {
            p.critical = c;
        }
    }
    out
}

/// A pattern compiled once for the run: a config's patterns are matched against every object
/// and finding (compiled at each match, a few regexes took a large render past a minute).
enum Compiled {
    Regex(regex::Regex),
    Glob(globset::GlobMatcher),
}

/// Distinct patterns kept compiled; past this many (only a hostile input has them) each is
/// compiled where it is used.
const MAX_COMPILED: usize = 4096;
/// A regular expression from the input or the config compiles to at most this much: more is
/// refused rather than let one pattern take seconds and hundreds of megabytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn compiled(pattern: &str) -> Option<std::sync::Arc<Compiled>> {
    use std::sync::{Arc, Mutex, OnceLock};
    type Cache = Mutex<foldhash::HashMap<String, Option<Arc<Compiled>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    if let Some(c) = cache.lock().ok().and_then(|c| c.get(pattern).cloned()) {
        return c;
    }
    let made = match pattern.strip_prefix("re:") {
        Some(re) => anchored_regex(re).map(Compiled::Regex),
        None => globset::Glob::new(pattern).ok().map(|g| Compiled::Glob(g.compile_matcher())),
    }
    .map(Arc::new);
    if let Ok(mut c) = cache.lock()
        && c.len() < MAX_COMPILED
    {
        c.insert(pattern.to_owned(), made.clone());
    }
    made
}

/// A regular expression anchored at both ends, as Prometheus and Alertmanager anchor theirs,
/// within the size limit.
pub fn anchored_regex(re: &str) -> Option<regex::Regex> {
    regex::RegexBuilder::new(&format!("^(?:{re})$")).size_limit(REGEX_SIZE_LIMIT).build().ok()
}

/// A glob, or a regular expression written `re:...`.
pub fn pattern_matches(pattern: &str, value: &str) -> bool {
    match compiled(pattern).as_deref() {
        Some(Compiled::Regex(r)) => r.is_match(value),
        Some(Compiled::Glob(g)) => g.is_match(value),
        None => false,
    }
}

fn any_matches(patterns: &[String], value: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| pattern_matches(p, value))
}

impl Selector {
    pub fn matches(&self, obj: &Object<'_>, w: &Workload<'_>) -> bool {
        let labels = obj.labels();
        any_matches(&self.kinds, &obj.id.kind)
            && any_matches(&self.namespaces, obj.namespace())
            && any_matches(&self.names, &obj.id.name)
            && (self.images.is_empty()
                || w.containers.iter().any(|c| any_matches(&self.images, c.spec.image.as_deref().unwrap_or_default())))
            && self.labels.iter().all(|(k, pat)| {
                let v = w.pod_labels.get(k).or_else(|| labels.get(k.as_str()).copied());
                v.is_some_and(|v| pattern_matches(pat, v))
            })
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
            && self.namespaces.is_empty()
            && self.names.is_empty()
            && self.images.is_empty()
            && self.labels.is_empty()
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

    /// Every pattern of the selector that does not compile.
    pub fn bad_patterns(&self) -> Vec<(String, String)> {
        let all = self
            .kinds
            .iter()
            .chain(&self.namespaces)
            .chain(&self.names)
            .chain(&self.images)
            .chain(self.labels.values());
        all.filter_map(|p| {
            let err = match p.strip_prefix("re:") {
                Some(re) => regex::Regex::new(re).err().map(|e| e.to_string()),
                None => globset::Glob::new(p).err().map(|e| e.to_string()),
            };
            err.map(|e| (p.clone(), e))
        })
        .collect()
    }
}

impl Exemption {
    pub fn matches(&self, rule: &str, obj: Option<&crate::model::ObjectId>) -> bool {
        if !self.rules.iter().any(|r| pattern_matches(r, rule)) {
            return false;
        }
        match obj {
            Some(o) => {
                any_matches(&self.kinds, &o.kind)
                    && any_matches(&self.namespaces, o.namespace.as_deref().unwrap_or_default())
                    && any_matches(&self.names, &o.name)
            }
            None => self.kinds.is_empty() && self.namespaces.is_empty() && self.names.is_empty(),
        }
    }
}
