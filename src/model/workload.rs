//! Pod-bearing objects and their containers, typed with k8s-openapi.

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar, EnvVarSource,
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Probe, SecretVolumeSource, Volume,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;

use super::{Labels, ModelProblem, Object, string_map};
use crate::input::Node;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerRole {
    Main,
    Init,
    /// An init container with `restartPolicy: Always` (a native sidecar).
    Sidecar,
}

#[derive(Debug)]
pub struct ContainerInfo<'a> {
    pub name: String,
    pub role: ContainerRole,
    pub node: &'a Node,
    pub spec: ContainerSpec,
}

/// The fields of a container that the rules read, moved out of the typed `Container` once it has
/// been checked. A whole `Container` is 2.3 KB before its strings, and a large render holds tens of
/// thousands of them; the rest of a container is read from its node.
#[derive(Debug)]
pub struct ContainerSpec {
    pub image: Option<String>,
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    pub env: Option<Vec<Env>>,
    pub env_from: Option<Vec<EnvFromSource>>,
    pub ports: Option<Vec<ContainerPort>>,
    pub liveness_probe: Option<ProbeSpec>,
    pub readiness_probe: Option<ProbeSpec>,
    pub startup_probe: Option<ProbeSpec>,
}

impl From<Container> for ContainerSpec {
    fn from(c: Container) -> ContainerSpec {
        ContainerSpec {
            image: c.image,
            command: c.command,
            args: c.args,
            // Not collected in place: that would keep the `EnvVar`s' allocation, 6.4 times the size.
            env: c.env.map(|env| {
                let mut lean = Vec::with_capacity(env.len());
                lean.extend(env.into_iter().map(Env::from));
                lean
            }),
            env_from: c.env_from,
            ports: c.ports,
            liveness_probe: c.liveness_probe.map(ProbeSpec::from),
            readiness_probe: c.readiness_probe.map(ProbeSpec::from),
            startup_probe: c.startup_probe.map(ProbeSpec::from),
        }
    }
}

/// What the rules read of a probe: its timing and where it knocks. A `Probe` is 328 bytes, and
/// most containers have two or three.
#[derive(Debug)]
pub struct ProbeSpec {
    pub initial_delay_seconds: Option<i32>,
    pub period_seconds: Option<i32>,
    pub timeout_seconds: Option<i32>,
    pub failure_threshold: Option<i32>,
    pub http_get: Option<HttpGet>,
    pub tcp_socket: Option<IntOrString>,
    /// A gRPC probe's port.
    pub grpc: Option<i32>,
}

#[derive(Debug)]
pub struct HttpGet {
    pub path: Option<String>,
    pub port: IntOrString,
}

impl From<Probe> for ProbeSpec {
    fn from(p: Probe) -> ProbeSpec {
        ProbeSpec {
            initial_delay_seconds: p.initial_delay_seconds,
            period_seconds: p.period_seconds,
            timeout_seconds: p.timeout_seconds,
            failure_threshold: p.failure_threshold,
            http_get: p.http_get.map(|h| HttpGet { path: h.path, port: h.port }),
            tcp_socket: p.tcp_socket.map(|t| t.port),
            grpc: p.grpc.map(|g| g.port),
        }
    }
}

/// An environment variable: an `EnvVar` is 360 bytes with its sources inline, and most variables
/// have a plain value.
#[derive(Debug)]
pub struct Env {
    pub name: String,
    pub value: Option<String>,
    pub value_from: Option<Box<EnvVarSource>>,
}

impl From<EnvVar> for Env {
    fn from(e: EnvVar) -> Env {
        Env { name: e.name, value: e.value, value_from: e.value_from.map(Box::new) }
    }
}

/// The sources of a volume that the rules read: a whole `Volume` is 3.3 KB, one field for each
/// of its thirty kinds, and a real pod mounts several.
#[derive(Debug)]
pub struct VolumeSpec {
    pub name: String,
    pub config_map: Option<ConfigMapVolumeSource>,
    pub secret: Option<SecretVolumeSource>,
    pub persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
    pub empty_dir: Option<EmptyDirVolumeSource>,
    /// A generic ephemeral volume: a claim that lives and dies with the pod.
    pub ephemeral: bool,
}

impl From<Volume> for VolumeSpec {
    fn from(v: Volume) -> VolumeSpec {
        VolumeSpec {
            name: v.name,
            config_map: v.config_map,
            secret: v.secret,
            persistent_volume_claim: v.persistent_volume_claim,
            empty_dir: v.empty_dir,
            ephemeral: v.ephemeral.is_some(),
        }
    }
}

#[derive(Debug)]
pub struct Workload<'a> {
    /// Index of the object in `Model::objects`.
    pub object: usize,
    /// The pod spec (`spec.template.spec`, or `spec` of a Pod); for a prometheus-operator
    /// `Prometheus` the object's `spec`.
    pub pod: &'a Node,
    pub pod_labels: Labels<'a>,
    pub pod_annotations: Labels<'a>,
    pub containers: Vec<ContainerInfo<'a>>,
    pub volumes: Vec<(&'a Node, VolumeSpec)>,
    pub claim_templates: Vec<(&'a Node, PersistentVolumeClaim)>,
    /// The operator that runs this workload from a custom resource, if one does.
    pub operated: Option<Operated>,
}

/// A workload an operator runs from a custom resource: the render holds the resource, not the
/// controller, pods or Service the operator makes of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operated {
    /// prometheus-operator `Prometheus`: StatefulSet `prometheus-<name>`, container `prometheus`,
    /// Service `prometheus-operated`.
    Prometheus,
    /// VictoriaMetrics operator `VMSingle`: Deployment, Service and container named
    /// `vmsingle-<name>` / `vmsingle` (VictoriaMetrics/operator api/operator/v1beta1 vmsingle_types.go
    /// `PrefixedName`, `SelectorLabels`).
    VmSingle,
}

impl Operated {
    /// The kind and name of the controller the operator creates for the resource `name`.
    pub fn controller(self, name: &str) -> (&'static str, String) {
        match self {
            Operated::Prometheus => ("StatefulSet", format!("prometheus-{name}")),
            Operated::VmSingle => ("Deployment", format!("vmsingle-{name}")),
        }
    }

    /// The container the operator generates.
    pub fn container(self) -> &'static str {
        match self {
            Operated::Prometheus => "prometheus",
            Operated::VmSingle => "vmsingle",
        }
    }

    /// The Service the operator creates itself, which other workloads name to reach it.
    pub fn service(self, name: &str) -> String {
        match self {
            Operated::Prometheus => "prometheus-operated".into(),
            Operated::VmSingle => format!("vmsingle-{name}"),
        }
    }
}

impl<'a> Workload<'a> {
    /// Without spare capacity: a pushed vector holds room for four containers, and a large
    /// render holds tens of thousands of workloads with one.
    fn fitted(mut self) -> Workload<'a> {
        self.containers.shrink_to_fit();
        self.volumes.shrink_to_fit();
        self.claim_templates.shrink_to_fit();
        self
    }

    /// A prometheus-operator `Prometheus`.
    pub fn operator_prometheus(&self) -> bool {
        self.operated == Some(Operated::Prometheus)
    }

    pub fn container(&self, name: &str) -> Option<&ContainerInfo<'a>> {
        self.containers.iter().find(|c| c.name == name)
    }

    pub fn running(&self) -> impl Iterator<Item = &ContainerInfo<'a>> {
        self.containers.iter().filter(|c| c.role != ContainerRole::Init)
    }

    /// The container named `primary` (a verdict's), else the first that runs.
    pub fn primary_or_first(&self, primary: Option<&str>) -> Option<&ContainerInfo<'a>> {
        primary.and_then(|p| self.container(p)).or_else(|| self.running().next())
    }

    pub fn volume(&self, name: &str) -> Option<&(&'a Node, VolumeSpec)> {
        self.volumes.iter().find(|(_, v)| v.name == name)
    }
}

/// How many pods a controller keeps: `spec.replicas` (1 when unset), times `spec.shards` for a
/// prometheus-operator Prometheus, `spec.replicaCount` for a VMSingle. None for kinds that keep no
/// count (DaemonSet, Job, Pod...).
pub fn replicas(obj: &Object<'_>) -> Option<i64> {
    let count = |key: &str| spec_count(obj.node, key);
    match obj.id.kind.as_str() {
        "Deployment" | "StatefulSet" | "ReplicaSet" | "ReplicationController" => Some(count("replicas")),
        "Prometheus" if obj.id.group() == "monitoring.coreos.com" => {
            Some(count("replicas").saturating_mul(count("shards")))
        }
        "VMSingle" if obj.id.group() == "operator.victoriametrics.com" => Some(count("replicaCount")),
        _ => None,
    }
}

/// A count under `spec` (`replicas`, `minReplicas`...), 1 when unset, as Kubernetes defaults them.
pub fn spec_count(node: &Node, key: &str) -> i64 {
    node.path(&["spec", key]).and_then(|n| n.as_str()?.parse::<i64>().ok()).unwrap_or(1)
}

/// apimachinery's `GetScaledValueFromIntOrPercent`: a count, or a percentage of `total` rounded
/// up or down. None for anything else (the API server refuses it).
pub fn scaled(value: &Node, total: i64, round_up: bool) -> Option<i64> {
    let text = value.as_str()?;
    let Some(percent) = text.strip_suffix('%') else { return text.parse().ok() };
    let p: i64 = percent.parse().ok()?;
    let whole = total.checked_mul(p)?;
    Some(whole.div_euclid(100) + i64::from(round_up && whole.rem_euclid(100) != 0))
}

/// A workload an operator runs from the resource's spec: its pods carry the operator's `labels`
/// besides spec.podMetadata's, and spec.containers override or add to the container it generates.
fn operated<'a>(
    obj: &Object<'a>,
    index: usize,
    op: Operated,
    labels: &[(&'a str, &'a str)],
    problems: &mut Vec<ModelProblem>,
) -> Option<Workload<'a>> {
    let spec = obj.node.get("spec")?;
    let mut pod_labels = string_map(spec.path(&["podMetadata", "labels"]));
    pod_labels.extend(labels.iter().copied());
    let mut w = Workload {
        object: index,
        pod: spec,
        pod_labels: pod_labels.into(),
        pod_annotations: string_map(spec.path(&["podMetadata", "annotations"])).into(),
        containers: Vec::new(),
        volumes: Vec::new(),
        claim_templates: Vec::new(),
        operated: Some(op),
    };
    add_containers(&mut w, obj, spec.get("containers"), ContainerRole::Main, problems);
    Some(w.fitted())
}

/// Where the pod template of each workload kind lives.
fn pod_template_path(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pod" => &[],
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ReplicationController" | "Job" => {
            &["spec", "template"]
        }
        "CronJob" => &["spec", "jobTemplate", "spec", "template"],
        _ => return None,
    })
}

pub fn extract<'a>(obj: &Object<'a>, index: usize, problems: &mut Vec<ModelProblem>) -> Option<Workload<'a>> {
    let name: &'a str = obj.node.str_at(&["metadata", "name"]).unwrap_or_default();
    if obj.is("monitoring.coreos.com", "Prometheus") {
        // Labels the operator puts on every pod it creates for this Prometheus.
        let labels = [
            ("app.kubernetes.io/name", "prometheus"),
            ("app.kubernetes.io/managed-by", "prometheus-operator"),
            ("app.kubernetes.io/instance", name),
            ("operator.prometheus.io/name", name),
            ("prometheus", name),
        ];
        return operated(obj, index, Operated::Prometheus, &labels, problems);
    }
    if obj.is("operator.victoriametrics.com", "VMSingle") {
        let labels = [
            ("app.kubernetes.io/name", "vmsingle"),
            ("app.kubernetes.io/instance", name),
            ("app.kubernetes.io/component", "monitoring"),
            ("managed-by", "vm-operator"),
        ];
        return operated(obj, index, Operated::VmSingle, &labels, problems);
    }
    let path = pod_template_path(&obj.id.kind)?;
    let template = obj.node.path(path)?;
    let pod = template.get("spec")?;
    let meta = template.get("metadata");
    let mut w = Workload {
        object: index,
        pod,
        pod_labels: string_map(meta.and_then(|m| m.get("labels"))).into(),
        pod_annotations: string_map(meta.and_then(|m| m.get("annotations"))).into(),
        containers: Vec::new(),
        volumes: Vec::new(),
        claim_templates: Vec::new(),
        operated: None,
    };
    add_containers(&mut w, obj, pod.get("containers"), ContainerRole::Main, problems);
    add_containers(&mut w, obj, pod.get("initContainers"), ContainerRole::Init, problems);
    for v in pod.get("volumes").and_then(Node::as_seq).unwrap_or_default() {
        if let Some(vol) = typed::<Volume>(obj, v, None, problems) {
            w.volumes.push((v, vol.into()));
        }
    }
    if obj.id.kind == "StatefulSet" {
        for t in obj.node.path(&["spec", "volumeClaimTemplates"]).and_then(Node::as_seq).unwrap_or_default() {
            if let Some(pvc) = typed::<PersistentVolumeClaim>(obj, t, None, problems) {
                w.claim_templates.push((t, pvc));
            }
        }
    }
    Some(w.fitted())
}

fn add_containers<'a>(
    w: &mut Workload<'a>,
    obj: &Object<'a>,
    list: Option<&'a Node>,
    role: ContainerRole,
    problems: &mut Vec<ModelProblem>,
) {
    for c in list.and_then(Node::as_seq).unwrap_or_default() {
        let name = c.str_at(&["name"]).map(str::to_owned);
        let Some(spec) = typed::<Container>(obj, c, name.clone(), problems) else { continue };
        let role = if role == ContainerRole::Init && spec.restart_policy.as_deref() == Some("Always") {
            ContainerRole::Sidecar
        } else {
            role
        };
        w.containers.push(ContainerInfo { name: spec.name.clone(), role, node: c, spec: spec.into() });
    }
}

/// Deserializes a node into a k8s-openapi type. A value of the wrong type is reported at its own
/// line (Kubernetes rejects such an object) and the item is left out of the typed model.
fn typed<T: DeserializeOwned>(
    obj: &Object<'_>,
    node: &Node,
    container: Option<String>,
    problems: &mut Vec<ModelProblem>,
) -> Option<T> {
    use crate::input::de::{NodeDeserializer, from_node};
    // Most values are well typed: the path of the wrong value is only tracked when there is one.
    if let Ok(v) = from_node(node) {
        return Some(v);
    }
    match serde_path_to_error::deserialize::<_, T>(NodeDeserializer(node)) {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            let at = locate(node, e.path());
            problems.push(ModelProblem::invalid_type(obj, container, at.span(), format!("`{path}`: {}", e.inner())));
            None
        }
    }
}

fn locate<'n>(node: &'n Node, path: &serde_path_to_error::Path) -> &'n Node {
    use serde_path_to_error::Segment;
    let mut cur = node;
    for seg in path.iter() {
        let next = match seg {
            Segment::Map { key } => cur.entry(key).map(|e| &e.value),
            Segment::Seq { index } => cur.as_seq().and_then(|s| s.get(*index)),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::scaled;
    use crate::input::yaml::parse_stream;

    fn scale(text: &str, total: i64, round_up: bool) -> Option<i64> {
        scaled(&parse_stream(text).documents[0].root, total, round_up)
    }

    #[test]
    fn int_or_percent_scales_as_apimachinery_does() {
        assert_eq!(scale("1", 3, true), Some(1));
        assert_eq!(scale("10%", 2, true), Some(1));
        assert_eq!(scale("10%", 2, false), Some(0));
        assert_eq!(scale("67%", 2, true), Some(2));
        assert_eq!(scale("50%", 3, true), Some(2));
        assert_eq!(scale("100%", 4, false), Some(4));
        assert_eq!(scale("ten", 4, false), None);
        // A count no manifest holds must not overflow.
        assert_eq!(scale("99%", i64::MAX / 99, true), Some(92_233_720_368_547_758));
        assert_eq!(scale("98%", i64::MAX / 99, true), Some(91_302_066_627_451_316));
        assert_eq!(scale("200%", i64::MAX, true), None);
    }
}
