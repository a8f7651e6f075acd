//! Which workloads of the input a raw Prometheus scrape config finds through Kubernetes service
//! discovery (roles `pod`, `endpoints`, `endpointslice`, `service`) and keeps through its
//! `relabel_configs`: the prometheus chart's `kubernetes-service-endpoints` job scrapes Services
//! annotated `prometheus.io/scrape: "true"`, its `kubernetes-pods` job annotated pods, and
//! Kubecost's bundled one only Services named like node-exporter.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::relabel::{JobRename, TargetFilter};
use super::selectors::RoleSelectors;
use crate::model::references::services_selecting;
use crate::model::{Model, Object, Workload};

/// An object's labels and annotations (None: not known).
#[derive(Clone, Copy)]
pub(super) struct Tags<'m> {
    pub labels: &'m [(&'m str, &'m str)],
    pub annotations: Option<&'m [(&'m str, &'m str)]>,
}

/// The labels discovery gives a target, as far as the input tells them.
struct Meta<'m> {
    namespace: Option<&'m str>,
    /// The Service's name and tags, for the endpoints and service roles.
    service: Option<(&'m str, Tags<'m>)>,
    /// The pod's tags, for the pod and endpoints roles.
    pod: Option<Tags<'m>>,
}

impl Meta<'_> {
    /// A label's value (`""` when the object lacks it), or None when the input does not tell it
    /// (ports, node names, addresses...).
    fn label(&self, l: &str) -> Option<String> {
        if l == "__meta_kubernetes_namespace" {
            return self.namespace.map(str::to_owned);
        }
        if let Some((name, tags)) = self.service {
            if l == "__meta_kubernetes_service_name" || l == "__meta_kubernetes_endpoints_name" {
                return Some(name.to_owned());
            }
            if let Some(rest) = l.strip_prefix("__meta_kubernetes_service_") {
                return family(rest, tags);
            }
        }
        family(l.strip_prefix("__meta_kubernetes_pod_")?, self.pod?)
    }
}

/// `label_<name>`, `labelpresent_<name>`, `annotation_<name>`, `annotationpresent_<name>`: the
/// value (or `true`) of the label or annotation whose name, with every character but letters,
/// digits and `_` made `_` as Prometheus does, is `<name>`.
fn family(rest: &str, tags: Tags<'_>) -> Option<String> {
    let Tags { labels, annotations } = tags;
    let (pairs, name, present) = if let Some(n) = rest.strip_prefix("labelpresent_") {
        (labels, n, true)
    } else if let Some(n) = rest.strip_prefix("label_") {
        (labels, n, false)
    } else if let Some(n) = rest.strip_prefix("annotationpresent_") {
        (annotations?, n, true)
    } else if let Some(n) = rest.strip_prefix("annotation_") {
        (annotations?, n, false)
    } else {
        return None;
    };
    let found = pairs.iter().find(|(k, _)| sanitized(k).eq(name.chars()));
    Some(match found {
        Some(_) if present => "true".to_owned(),
        Some((_, v)) => (*v).to_owned(),
        None => String::new(),
    })
}

/// A label or annotation name as Prometheus puts it in a discovery label's name.
pub(super) fn sanitized(k: &str) -> impl Iterator<Item = char> + '_ {
    k.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
}

/// A workload's pod labels and annotations, as `Meta` reads them.
type Pairs<'a> = (Vec<(&'a str, &'a str)>, Vec<(&'a str, &'a str)>);

fn pod_pairs<'a>(w: &Workload<'a>) -> Pairs<'a> {
    (w.pod_labels.iter().collect(), w.pod_annotations.iter().collect())
}

/// The `job` a monitor's target is scraped under, after `rename`, from `initial`: the target's
/// namespace, its Service's name, labels and annotations (a ServiceMonitor's), and the workload
/// behind it (None when not known) give the discovery labels, and the operator's own `namespace`
/// and `service` labels.
pub(super) fn monitor_target_job(
    rename: &JobRename,
    initial: &str,
    ns: &str,
    service: Option<(&str, Tags<'_>)>,
    pod: Option<&Workload<'_>>,
) -> Option<String> {
    let pairs = pod.map(pod_pairs);
    let pod = pairs.as_ref().map(|(labels, annotations)| Tags { labels, annotations: Some(annotations) });
    let meta = Meta { namespace: Some(ns), service, pod };
    rename.job(initial, &|l| match l {
        "namespace" => Some(ns.to_owned()),
        "service" => service.map(|(name, _)| name.to_owned()),
        _ => meta.label(l),
    })
}

/// A scrape config's Kubernetes service discovery and the target relabelings it goes through.
pub struct Discovery<'v> {
    configs: &'v [Value],
    filter: TargetFilter,
}

impl<'v> Discovery<'v> {
    /// None when the scrape config has no `kubernetes_sd_configs`.
    pub fn of(sc: &'v Value) -> Option<Discovery<'v>> {
        let configs = sc.get("kubernetes_sd_configs").and_then(Value::as_array)?;
        let relabels = sc.get("relabel_configs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        Some(Discovery { configs, filter: TargetFilter::of(relabels) })
    }

    /// The workloads the scrape config's Kubernetes service discovery keeps, or None when it has no
    /// discovery of pods or Services. `own_ns` is the Prometheus's namespace (`own_namespace: true`).
    pub fn targets(&self, model: &Model<'_>, own_ns: &str) -> Option<BTreeSet<usize>> {
        let filter = &self.filter;
        let mut out = None;
        for c in self.configs {
            let role = c.get("role").and_then(Value::as_str).unwrap_or_default();
            if !matches!(role, "pod" | "endpoints" | "endpointslice" | "service") {
                continue;
            }
            let found = out.get_or_insert_with(BTreeSet::new);
            // Selectors that cannot be judged here: this config is taken to find nothing.
            let Some(selectors) = RoleSelectors::of(c) else { continue };
            let names: Vec<&str> = c
                .pointer("/namespaces/names")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .chain(c.pointer("/namespaces/own_namespace").and_then(Value::as_bool).filter(|o| *o).map(|_| own_ns))
                .collect();
            let in_scope = |ns: &str| names.is_empty() || names.contains(&ns);
            // Per workload, through the Services that select it (the model's index), not per Service
            // over every workload: a monorepo holds thousands of each.
            for (i, w) in model.workloads.iter().enumerate() {
                let namespace = model.objects[w.object].namespace();
                if !in_scope(namespace) {
                    continue;
                }
                let (labels, annotations) = pod_pairs(w);
                let pod = Tags { labels: &labels, annotations: Some(&annotations) };
                let kept = if role == "pod" {
                    let meta = Meta { namespace: Some(namespace), service: None, pod: Some(pod) };
                    selectors.admits("pod", namespace, None, &w.pod_labels) && filter.admits(&|l| meta.label(l))
                } else {
                    let pod_listed = role == "service" || selectors.admits("pod", namespace, None, &w.pod_labels);
                    pod_listed
                        && services_selecting(model, w)
                            .iter()
                            .any(|s| service_listed(&selectors, role, s) && service_keeps(s, pod, role, filter))
                };
                if kept {
                    found.insert(i);
                }
            }
        }
        out
    }

    /// Whether the scrape config's discovery may find a kube-state-metrics that is not in the input:
    /// one under a usual name (`kube-state-metrics`, `<release>-kube-state-metrics`), labelled
    /// `app.kubernetes.io/name: kube-state-metrics` as its chart and kube-prometheus label it, with
    /// no other label, annotated in any way, in any namespace for relabelings and in `kube-system` or
    /// `monitoring` for discovery's field selectors. Kubecost's bundled Prometheus keeps
    /// only node-exporter, network-costs and dcgm-exporter targets: none of them.
    pub fn may_find_unseen_ksm(&self) -> bool {
        let labels = [("app.kubernetes.io/name", "kube-state-metrics")];
        let label_map: BTreeMap<&str, &str> = labels.into_iter().collect();
        // Annotations vary by install (`prometheus.io/scrape` or not): not known; nor its namespace.
        let tags = Tags { labels: &labels, annotations: None };
        let names = ["kube-state-metrics", "prometheus-kube-state-metrics"];
        let listed = |c: &Value, name: &str| {
            let role = c.get("role").and_then(Value::as_str).unwrap_or_default();
            let Some(selectors) = RoleSelectors::of(c) else { return false };
            // It usually runs in one of these namespaces.
            let admits = |r: &str, n: Option<&str>| {
                ["kube-system", "monitoring"].iter().any(|ns| selectors.admits(r, ns, n, &label_map))
            };
            match role {
                "pod" => admits("pod", None),
                "service" => admits("service", Some(name)),
                "endpoints" | "endpointslice" => {
                    let own = (role == "endpoints").then_some(name);
                    admits("pod", None) && admits("service", Some(name)) && admits(role, own)
                }
                _ => false,
            }
        };
        names.iter().any(|name| {
            let meta = Meta { namespace: None, service: Some((name, tags)), pod: Some(tags) };
            self.configs.iter().any(|c| listed(c, name)) && self.filter.admits(&|l| meta.label(l))
        })
    }
}

/// Whether discovery lists this Service (service role), or its Endpoints or EndpointSlices, which
/// carry its labels; an EndpointSlice's name is generated.
fn service_listed(selectors: &RoleSelectors, role: &str, s: &Object<'_>) -> bool {
    let (ns, name, labels) = (s.namespace(), s.id.name.as_str(), s.labels());
    let own_name = (role != "endpointslice").then_some(name);
    selectors.admits("service", ns, Some(name), &labels) && selectors.admits(role, ns, own_name, &labels)
}

/// Whether the filter keeps a workload as an endpoint of this Service that selects it (or, for
/// the service role, the Service itself).
fn service_keeps(s: &Object<'_>, pod: Tags<'_>, role: &str, filter: &TargetFilter) -> bool {
    let labels: Vec<(&str, &str)> = s.labels().into_iter().collect();
    let annotations: Vec<(&str, &str)> = s.annotations().into_iter().collect();
    let meta = Meta {
        namespace: Some(s.namespace()),
        service: Some((s.id.name.as_str(), Tags { labels: &labels, annotations: Some(&annotations) })),
        pod: (role != "service").then_some(pod),
    };
    filter.admits(&|l| meta.label(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_families_are_found_by_sanitized_name() {
        let labels = [("app.kubernetes.io/name", "kube-state-metrics")];
        let annotations = [("prometheus.io/scrape", "true")];
        let meta = Meta {
            namespace: Some("monitoring"),
            service: None,
            pod: Some(Tags { labels: &labels, annotations: Some(&annotations) }),
        };
        let l = |n: &str| meta.label(n);
        assert_eq!(l("__meta_kubernetes_pod_label_app_kubernetes_io_name").as_deref(), Some("kube-state-metrics"));
        assert_eq!(l("__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name").as_deref(), Some("true"));
        assert_eq!(l("__meta_kubernetes_pod_annotation_prometheus_io_scrape").as_deref(), Some("true"));
        assert_eq!(l("__meta_kubernetes_pod_annotation_prometheus_io_port").as_deref(), Some(""));
        assert_eq!(l("__meta_kubernetes_namespace").as_deref(), Some("monitoring"));
        assert_eq!(l("__meta_kubernetes_service_name"), None, "no Service for the pod role");
        assert_eq!(l("__meta_kubernetes_pod_container_port_name"), None);
    }

    fn job(yaml: &str) -> Value {
        crate::input::yaml::parse_stream(yaml).documents[0].root.to_json()
    }

    fn may_find_unseen_ksm(sc: &Value) -> bool {
        Discovery::of(sc).is_some_and(|d| d.may_find_unseen_ksm())
    }

    #[test]
    fn an_unseen_kube_state_metrics_is_found_only_where_the_relabelings_may_keep_it() {
        let annotated = "kubernetes_sd_configs: [{role: endpoints}]\nrelabel_configs:\n- {source_labels: \
                         [__meta_kubernetes_service_annotation_prometheus_io_scrape], action: keep, regex: true}\n";
        assert!(may_find_unseen_ksm(&job(annotated)), "annotations are not known");
        let by_name = format!(
            "{annotated}- {{source_labels: [__meta_kubernetes_endpoints_name], action: keep, regex: \
             '(.*node-exporter|kubecost-network-costs)'}}\n"
        );
        assert!(!may_find_unseen_ksm(&job(&by_name)), "Kubecost's kubernetes-service-endpoints");
        let ksm_by_name = "kubernetes_sd_configs: [{role: endpoints}]\nrelabel_configs:\n- {source_labels: \
                           [__meta_kubernetes_service_name], action: keep, regex: '.*kube-state-metrics'}\n";
        assert!(may_find_unseen_ksm(&job(ksm_by_name)));
        let by_label = "kubernetes_sd_configs: [{role: pod}]\nrelabel_configs:\n- {source_labels: \
                        [__meta_kubernetes_pod_label_app_kubernetes_io_name], action: keep, regex: network-costs}\n";
        assert!(!may_find_unseen_ksm(&job(by_label)), "Kubecost's kubecost-networking");
        let dcgm = "kubernetes_sd_configs: [{role: endpoints}]\nrelabel_configs:\n- {source_labels: \
                    [__meta_kubernetes_pod_label_app, __meta_kubernetes_pod_label_app_kubernetes_io_name], \
                    action: keep, regex: '(?i)(.*dcgm-exporter.*|.*dcgm-exporter.*)'}\n";
        assert!(!may_find_unseen_ksm(&job(dcgm)));
        assert!(!may_find_unseen_ksm(&job("kubernetes_sd_configs: [{role: node}]\n")), "nodes are kubelets");
        assert!(!may_find_unseen_ksm(&job("static_configs: [{targets: ['localhost:9090']}]\n")));
    }
}
