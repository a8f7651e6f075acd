//! Links between objects: which Service selects which workload, and which Prometheus a
//! metering component reads through its endpoint setting.

use foldhash::{HashMap, HashMapExt};
use std::collections::BTreeMap;

use super::{LabelSet, Model, Object, Workload, string_map};
use crate::classify::Classification;
use crate::input::{Node, Span};
use crate::knowledge::catalogue;

/// A Service (or anything with an equality selector) selects pods whose labels hold every pair.
pub fn selects(selector: &BTreeMap<&str, &str>, labels: &impl LabelSet) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.label(k) == Some(*v))
}

/// A `metav1.LabelSelector`: every `matchLabels` pair and every `matchExpressions` requirement
/// (an unknown operator matches nothing, as the API server refuses it). Null and `{}` are the
/// caller's to judge: their meaning differs between APIs.
pub fn label_selector_matches(sel: &Node, labels: &impl LabelSet) -> bool {
    let ml = string_map(sel.get("matchLabels"));
    if !ml.iter().all(|(k, v)| labels.label(k) == Some(*v)) {
        return false;
    }
    sel.get("matchExpressions").and_then(Node::as_seq).unwrap_or_default().iter().all(|e| {
        let key = e.str_at(&["key"]).unwrap_or_default();
        let values: Vec<&str> =
            e.get("values").and_then(Node::as_seq).unwrap_or_default().iter().filter_map(Node::as_str).collect();
        match e.str_at(&["operator"]).unwrap_or_default() {
            "In" => labels.label(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => labels.label(key).is_none_or(|v| !values.contains(&v)),
            "Exists" => labels.label(key).is_some(),
            "DoesNotExist" => labels.label(key).is_none(),
            _ => false,
        }
    })
}

/// The Services in the workload's namespace whose selector matches its pods.
pub fn services_selecting<'m, 'a>(model: &'m Model<'a>, w: &Workload<'a>) -> Vec<&'m Object<'a>> {
    let Some(by_label) = model.services.get(model.objects[w.object].namespace()) else { return Vec::new() };
    let mut found: Vec<usize> = w
        .pod_labels
        .iter()
        .filter_map(|(k, v)| by_label.get(&(k, v)))
        .flatten()
        .copied()
        .filter(|&i| selects(&string_map(model.objects[i].node.path(&["spec", "selector"])), &w.pod_labels))
        .collect();
    // In the order of the input, as a pass over the objects would give them.
    found.sort_unstable();
    found.into_iter().map(|i| &model.objects[i]).collect()
}

/// The budgets of the `policy` group in the workload's namespace that select its pods. policy/v1
/// reads an empty selector as every pod of the namespace, v1beta1 as none; null selects none.
pub fn budgets_selecting<'m, 'a>(model: &'m Model<'a>, w: &Workload<'a>) -> Vec<&'m Object<'a>> {
    let ns = model.objects[w.object].namespace();
    model
        .of_kind("PodDisruptionBudget", ns)
        .filter(|b| b.id.group() == "policy")
        .filter(|b| match b.node.path(&["spec", "selector"]) {
            None => false,
            Some(s) if s.is_null() => false,
            Some(s) if s.as_map().is_some_and(<[_]>::is_empty) => b.id.api_version == "policy/v1",
            Some(s) => label_selector_matches(s, &w.pod_labels),
        })
        .collect()
}

/// The HorizontalPodAutoscaler that scales this object, if the input holds one.
pub fn autoscaler_of<'m, 'a>(model: &'m Model<'a>, obj: &Object<'_>) -> Option<&'m Object<'a>> {
    model.of_kind("HorizontalPodAutoscaler", obj.namespace()).find(|h| {
        let target = h.node.path(&["spec", "scaleTargetRef"]);
        target.and_then(|t| t.str_at(&["kind"])) == Some(obj.id.kind.as_str())
            && target.and_then(|t| t.str_at(&["name"])) == Some(obj.id.name.as_str())
    })
}

/// The fewest pods a controller runs: the `minReplicas` (1 when unset) of a HorizontalPodAutoscaler
/// that scales it, returned beside the count, else its declared count. None for kinds that keep
/// no count.
pub fn fewest_replicas<'m, 'a>(model: &'m Model<'a>, obj: &Object<'_>) -> Option<(i64, Option<&'m Object<'a>>)> {
    let declared = super::workload::replicas(obj)?;
    Some(match autoscaler_of(model, obj) {
        Some(h) => (super::workload::spec_count(h.node, "minReplicas"), Some(h)),
        None => (declared, None),
    })
}

/// `http://name.ns.svc.cluster.local:9090/path` -> (name, namespace if given).
pub fn service_of_url(url: &str) -> Option<(&str, Option<&str>)> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next()?;
    // `user:password@host:port`: the host follows the userinfo.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host_port.split(':').next()?;
    if host.is_empty() || host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let mut parts = host.split('.');
    let name = parts.next()?;
    let ns = parts.next().filter(|p| *p != "svc");
    Some((name, ns))
}

/// Where a metering component names the Prometheus it reads: the setting, its URL, and the node
/// that holds the URL (in the container's env, or in the ConfigMap the env refers to).
pub struct Endpoint<'a> {
    pub setting: String,
    pub url: String,
    pub holder: &'a Object<'a>,
    pub at: Span,
}

/// The Prometheus endpoints a workload's containers name, by the catalogue's settings.
pub fn endpoints<'a>(model: &'a Model<'a>, w: &Workload<'a>) -> Vec<Endpoint<'a>> {
    let refs = &catalogue().prometheus_references;
    let obj = &model.objects[w.object];
    let ns = obj.namespace();
    let mut out = Vec::new();
    for c in w.running() {
        let env_nodes = c.node.get("env").and_then(Node::as_seq).unwrap_or_default();
        for env in c.spec.env.iter().flatten() {
            if !refs.env.iter().any(|e| e == &env.name) {
                continue;
            }
            if let Some(v) = &env.value {
                let node = env_nodes.iter().find(|n| n.str_at(&["name"]) == Some(env.name.as_str()));
                let at = node.map_or(c.node.span(), |n| n.get("value").map_or(n.span(), Node::span));
                out.push(Endpoint { setting: env.name.clone(), url: v.clone(), holder: obj, at });
            } else if let Some(r) = env.value_from.as_ref().and_then(|f| f.config_map_key_ref.as_ref()) {
                let Some(cm) = model.core_object("ConfigMap", ns, &r.name) else { continue };
                let Some(value) = cm.node.path(&["data"]).and_then(|d| d.get(&r.key)) else { continue };
                let Some(url) = value.as_str() else { continue };
                out.push(Endpoint {
                    setting: format!("{} (ConfigMap {} key {})", env.name, r.name, r.key),
                    url: url.to_owned(),
                    holder: cm,
                    at: value.span(),
                });
            }
        }
    }
    out
}

/// For every workload that a metering component reads as its Prometheus: why.
pub fn prometheus_readers(model: &Model<'_>, verdicts: &[Classification]) -> HashMap<usize, String> {
    let mut out = HashMap::new();
    for (_, prometheus, why) in prometheus_reads(model, verdicts) {
        out.entry(prometheus).or_insert(why);
    }
    out
}

/// Whether the Service `svc` routes to the workload's pods: by its selector when the input holds
/// it, else when an operator creates it for the workload (`prometheus-operated`,
/// `vmsingle-<name>`), which puts it in no render.
struct Route<'m> {
    svc: &'m str,
    /// The selector of the Service, when the input holds it.
    selector: Option<BTreeMap<&'m str, &'m str>>,
}

impl<'m> Route<'m> {
    fn of(service: Option<&'m Object<'_>>, svc: &'m str) -> Route<'m> {
        Route { svc, selector: service.map(|s| string_map(s.node.path(&["spec", "selector"]))) }
    }

    fn reaches(&self, model: &Model<'_>, target: &Workload<'_>) -> bool {
        match &self.selector {
            Some(selector) => selects(selector, &target.pod_labels),
            None => target.operated.is_some_and(|op| self.svc == op.service(&model.objects[target.object].id.name)),
        }
    }
}

/// The first workload, in input order, that a URL reaches through a Service
/// (`http://name.ns.svc:port`; `default_ns` when the host names no namespace). A pass over the
/// workloads, for the few URLs of an evaluator's spec.
pub fn workload_at(model: &Model<'_>, url: &str, default_ns: &str) -> Option<usize> {
    let (svc, ns) = service_of_url(url)?;
    let ns = ns.unwrap_or(default_ns);
    let route = Route::of(model.core_object("Service", ns, svc), svc);
    let mut in_ns = model.workloads.iter().enumerate().filter(|(_, w)| model.objects[w.object].namespace() == ns);
    in_ns.find(|(_, w)| route.reaches(model, w)).map(|(i, _)| i)
}

/// Each (metering reader, the workload it reads as its Prometheus, why), readers in input order.
pub fn prometheus_reads(model: &Model<'_>, verdicts: &[Classification]) -> Vec<(usize, usize, String)> {
    use rayon::prelude::*;
    // Looked up once per reader: indexes keep the pass linear in the size of the render.
    let mut services: HashMap<(&str, &str), &super::Object<'_>> = HashMap::new();
    for (_, o) in model.every("", "Service") {
        services.entry((o.namespace(), o.id.name.as_str())).or_insert(o);
    }
    let mut by_namespace: HashMap<&str, Vec<usize>> = HashMap::new();
    for (j, target) in model.workloads.iter().enumerate() {
        by_namespace.entry(model.objects[target.object].namespace()).or_default().push(j);
    }
    // Each reader on all cores, joined in input order.
    let readers = model.workloads.par_iter().enumerate().filter(|(i, _)| verdicts[*i].metering);
    readers
        .flat_map_iter(|(i, w)| {
            let reader = &model.objects[w.object];
            let mut out = Vec::new();
            for Endpoint { setting, url, .. } in endpoints(model, w) {
                let Some((svc, ns)) = service_of_url(&url) else { continue };
                let ns = ns.unwrap_or(reader.namespace());
                let route = Route::of(services.get(&(ns, svc)).copied(), svc);
                let targets = by_namespace.get(ns).map(Vec::as_slice).unwrap_or_default();
                for &j in targets.iter().filter(|&&j| j != i && route.reaches(model, &model.workloads[j])) {
                    out.push((
                        i,
                        j,
                        format!(
                            "read by metering {} through {setting} = {}",
                            reader.id.display(),
                            crate::input::redact::mask_credential_line(&url)
                        ),
                    ));
                }
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_to_services() {
        use super::service_of_url as s;
        assert_eq!(
            s("http://kubecost-prometheus-server.kubecost"),
            Some(("kubecost-prometheus-server", Some("kubecost")))
        );
        assert_eq!(
            s("http://prometheus-server.prometheus-system.svc.cluster.local:80"),
            Some(("prometheus-server", Some("prometheus-system")))
        );
        assert_eq!(s("http://prom:9090/api"), Some(("prom", None)));
        assert_eq!(s("http://localhost:8005/workspaces/x"), None);
        assert_eq!(s("https://metering:p@ss@prom.monitoring:9090/"), Some(("prom", Some("monitoring"))));
    }
}
