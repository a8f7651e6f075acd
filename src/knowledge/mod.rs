//! Knowledge that changes with the world, embedded at build time from `knowledge/*.yaml`.
//! Each entry carries its source; this module only loads and indexes it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

const CATALOGUE: &str = include_str!("../../knowledge/catalogue.yaml");
const SIGNALS: &str = include_str!("../../knowledge/signals.yaml");
const API_REMOVALS: &str = include_str!("../../knowledge/api-removals.yaml");
const IMAGE_MAJORS: &str = include_str!("../../knowledge/image-majors.yaml");
const SYNCED_RULES: &str = include_str!("../../knowledge/synced-rules.yaml");
/// The fields and value types of the kinds `schema/unknown-field` and `schema/invalid-type` check,
/// as `model::schema` walks them: generated from k8s-openapi's `schemars` implementations by that
/// module's tests, which fail when the file no longer matches them.
pub const KUBERNETES_SCHEMAS: &str = include_str!("../../knowledge/kubernetes-schemas.json");

/// `knowledge/synced-rules.yaml` as a tree (its rule groups are read as any rule file is): the
/// upstream rule files victoria-metrics-k8s-stack's sync job installs, by the URL they come from.
pub fn synced_rules() -> &'static crate::input::Node {
    static TREE: OnceLock<crate::input::Node> = OnceLock::new();
    TREE.get_or_init(|| {
        let parsed = crate::input::yaml::parse_stream(SYNCED_RULES);
        // A literal file the tests parse: it holds one document.
        parsed.documents.into_iter().next().map(|d| d.root).expect("knowledge/synced-rules.yaml holds a document")
    })
}

/// The Kubernetes version checks assume when neither `--kube-version` nor the config names one:
/// the newest that k8s-openapi's `latest` feature describes.
pub const DEFAULT_KUBE_VERSION: &str = "1.37";

#[derive(Debug, Clone, Deserialize)]
pub struct ApiRemoval {
    pub api: String,
    pub kinds: Vec<String>,
    pub deprecated: String,
    pub removed: String,
    pub replacement: String,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
struct ApiRemovals {
    apis: Vec<ApiRemoval>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FlagNote {
    pub flag: String,
    pub note: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ImageMajor {
    pub component: String,
    pub from: u32,
    pub to: u32,
    pub source: String,
    pub removed_flags: Vec<FlagNote>,
    pub removed_feature_flags: Vec<FlagNote>,
    pub behaviours: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct ImageMajors {
    images: Vec<ImageMajor>,
}

/// The minor version of `1.NN`.
pub fn kube_minor(v: &str) -> Option<u32> {
    v.trim().trim_start_matches('v').strip_prefix("1.")?.split('.').next()?.parse().ok()
}

pub fn api_removals() -> &'static [ApiRemoval] {
    static CELL: OnceLock<Vec<ApiRemoval>> = OnceLock::new();
    CELL.get_or_init(|| match parse_embedded::<ApiRemovals>("api-removals.yaml", API_REMOVALS) {
        Ok(a) => a.apis,
        // Compiled in and parsed by `tests::tables_load`.
        Err(e) => panic!("embedded API removal table is invalid: {e}"),
    })
}

pub fn image_majors() -> &'static [ImageMajor] {
    static CELL: OnceLock<Vec<ImageMajor>> = OnceLock::new();
    CELL.get_or_init(|| match parse_embedded::<ImageMajors>("image-majors.yaml", IMAGE_MAJORS) {
        Ok(a) => a.images,
        // Compiled in and parsed by `tests::tables_load`.
        Err(e) => panic!("embedded image major table is invalid: {e}"),
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct Signal {
    pub metric: String,
    /// `kube-state-metrics`, `cadvisor`, or `target` (the workload's own scrape).
    pub source: String,
    pub identity: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub when: Option<String>,
    /// Failure mode -> label values the series carries during that failure.
    pub modes: BTreeMap<String, BTreeMap<String, String>>,
    pub doc: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KsmOnly {
    pub metric: String,
    pub major: u32,
    pub doc: String,
}

/// A workload that emits some kube-state-metrics series itself (cost-model, OpenCost).
#[derive(Debug, Clone, Deserialize)]
pub struct KsmEmitter {
    pub profile: String,
    pub metrics: Vec<String>,
    /// Emitted only with `EMIT_DEPRECATED_METRICS=true`.
    pub deprecated: Vec<String>,
    pub doc: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Signals {
    pub version: u32,
    pub modes: BTreeMap<String, String>,
    pub signals: Vec<Signal>,
    pub ksm_only: Vec<KsmOnly>,
    pub ksm_emitters: Vec<KsmEmitter>,
    pub metering_inputs: Vec<MeteringInput>,
}

/// A series a cost model reads to allocate usage.
#[derive(Debug, Clone, Deserialize)]
pub struct MeteringInput {
    pub metric: String,
    pub source: String,
    pub purpose: String,
    pub doc: String,
}

impl Signals {
    pub fn get(&self, metric: &str) -> Option<&Signal> {
        self.signals.iter().find(|s| s.metric == metric)
    }
}

pub fn signals() -> &'static Signals {
    static CELL: OnceLock<Signals> = OnceLock::new();
    CELL.get_or_init(|| match parse_embedded("signals.yaml", SIGNALS) {
        Ok(s) => s,
        // Compiled in and parsed by `tests::signals_load`.
        Err(e) => panic!("embedded signal catalogue is invalid: {e}"),
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SizingModel {
    pub bytes_per_active_series: Sourced<f64>,
    pub replay_factor: Sourced<f64>,
    pub limit_headroom: Sourced<f64>,
    pub go_runtime_overhead_bytes: Sourced<f64>,
    pub default_steady_state_bytes: Sourced<f64>,
    pub series_per_node: Sourced<f64>,
    pub series_per_pod: Sourced<f64>,
    pub bytes_per_sample: Sourced<f64>,
    pub disk_headroom: Sourced<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Profile {
    pub summary: String,
    #[serde(default)]
    pub critical: bool,
    /// `prometheus`: floors come from the sizing model.
    #[serde(default)]
    pub memory_model: Option<String>,
    #[serde(default)]
    pub memory_floor_bytes: Option<f64>,
    #[serde(default)]
    pub memory_source: Option<String>,
    #[serde(default)]
    pub restart_spike: bool,
    /// Limit over the floor (fixed-floor profiles); the sizing model's headroom otherwise.
    #[serde(default)]
    pub headroom_ratio: Option<f64>,
    #[serde(default)]
    pub startup_gated_paths: Vec<String>,
    #[serde(default)]
    pub liveness_safe_paths: Vec<String>,
    #[serde(default)]
    pub worst_case_start_seconds: Option<f64>,
    #[serde(default)]
    pub start_source: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    Component,
    Feeder,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Component {
    pub id: String,
    pub kind: ComponentKind,
    pub profile: String,
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub args_any: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub label_keys: Vec<String>,
    #[serde(default)]
    pub charts: Vec<String>,
    pub source: String,
    #[serde(skip)]
    pub image_set: Option<GlobSet>,
}

/// A part of a metering product that does not meter, known by its image or container name.
#[derive(Debug, Clone, Deserialize)]
pub struct Role {
    pub id: String,
    pub role: String,
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub containers: Vec<String>,
    pub source: String,
    #[serde(skip)]
    pub image_set: Option<GlobSet>,
}

impl Role {
    pub fn image_matches(&self, image: &globset::Candidate<'_>) -> bool {
        self.image_set.as_ref().is_some_and(|s| s.is_match_candidate(image))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Names {
    pub names: Vec<String>,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PrometheusReferences {
    pub env: Vec<String>,
    pub configmap_keys: Vec<String>,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Catalogue {
    pub version: u32,
    pub sizing_model: SizingModel,
    pub profiles: BTreeMap<String, Profile>,
    pub components: Vec<Component>,
    /// Parts of metering products that do not meter (a UI, automation, setup), with their role.
    #[serde(default)]
    pub not_metering: Vec<Role>,
    pub metering_namespaces: Names,
    pub prometheus_references: PrometheusReferences,
}

impl Component {
    /// `image` prepared once for every component (`globset::Candidate::new`): preparing it is
    /// most of a match, and a render has tens of thousands of containers.
    pub fn image_matches(&self, image: &globset::Candidate<'_>) -> bool {
        self.image_set.as_ref().is_some_and(|s| s.is_match_candidate(image))
    }
}

pub fn glob_set(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p)?);
    }
    b.build()
}

/// Reads one of the embedded YAML data files with the project's own reader.
pub fn parse_embedded<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> Result<T, String> {
    let parsed = crate::input::yaml::parse_stream(text);
    if let Some(p) = parsed.problems.first() {
        return Err(format!("{name}:{}:{}: {}", p.pos.line, p.pos.col, p.message));
    }
    let doc = parsed.documents.first().ok_or_else(|| format!("{name}: empty"))?;
    serde_json::from_value(doc.root.to_json()).map_err(|e| format!("{name}: {e}"))
}

fn load() -> Result<Catalogue, String> {
    let mut c: Catalogue = parse_embedded("catalogue.yaml", CATALOGUE)?;
    for role in &mut c.not_metering {
        role.image_set = Some(glob_set(&role.images).map_err(|e| format!("catalogue.yaml: {}: {e}", role.id))?);
    }
    for comp in &mut c.components {
        comp.image_set = Some(glob_set(&comp.images).map_err(|e| format!("catalogue.yaml: {}: {e}", comp.id))?);
        if !c.profiles.contains_key(&comp.profile) {
            return Err(format!("catalogue.yaml: {} names unknown profile {}", comp.id, comp.profile));
        }
    }
    Ok(c)
}

pub fn catalogue() -> &'static Catalogue {
    static CELL: OnceLock<Catalogue> = OnceLock::new();
    CELL.get_or_init(|| match load() {
        Ok(c) => c,
        // The file is compiled in and `tests::catalogue_loads` parses it, so this cannot happen in a tested build.
        Err(e) => panic!("embedded catalogue is invalid: {e}"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn tables_load() {
        let a: super::ApiRemovals =
            super::parse_embedded("api-removals.yaml", super::API_REMOVALS).expect("removals parse");
        assert!(a.apis.iter().all(|x| super::kube_minor(&x.removed) > super::kube_minor(&x.deprecated)));
        let i: super::ImageMajors =
            super::parse_embedded("image-majors.yaml", super::IMAGE_MAJORS).expect("majors parse");
        assert!(!i.images.is_empty());
    }

    #[test]
    fn synced_rules_load() {
        let parsed = crate::input::yaml::parse_stream(super::SYNCED_RULES);
        assert!(parsed.problems.is_empty() && parsed.documents.len() == 1, "{:?}", parsed.problems);
        let sources = super::synced_rules().get("sources").and_then(crate::input::Node::as_seq).unwrap();
        for s in sources {
            assert!(s.str_at(&["url_suffix"]).is_some_and(|u| u.starts_with('/')) && s.str_at(&["source"]).is_some());
            let groups = s.get("groups").and_then(crate::input::Node::as_seq).unwrap();
            let rules = groups.iter().flat_map(|g| g.get("rules").and_then(crate::input::Node::as_seq).unwrap());
            assert!(rules.clone().all(|r| r.str_at(&["alert"]).is_some() && r.str_at(&["expr"]).is_some()));
            assert!(rules.count() > 10);
        }
    }

    #[test]
    fn signals_load() {
        let s: super::Signals = super::parse_embedded("signals.yaml", super::SIGNALS).expect("signals parse");
        assert!(s.signals.iter().all(|x| x.modes.keys().all(|m| s.modes.contains_key(m))));
        let profiles = super::load().expect("catalogue parses").profiles;
        for e in &s.ksm_emitters {
            assert!(profiles.contains_key(&e.profile), "{}", e.profile);
            assert!(e.metrics.iter().chain(&e.deprecated).all(|m| m.starts_with("kube_")));
        }
    }

    #[test]
    fn catalogue_loads() {
        let c = super::load().expect("catalogue parses");
        assert!(c.profiles.contains_key("prometheus-server"));
        assert!(c.components.iter().all(|x| !x.source.is_empty()));
    }
}
