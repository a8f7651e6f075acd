//! Wiring: can a metering component reach the Prometheus it reads?

use super::{Context, Finding, Rule, Severity, rule};
use crate::input::Node;
use crate::model::references::{Endpoint, endpoints, selects, service_of_url};
use crate::model::{Object, string_map};

rule!(
    PROMETHEUS_UNREACHABLE,
    "wiring/prometheus-unreachable",
    Error,
    "a metering component's Prometheus endpoint leads to no Prometheus",
    "Kubecost and OpenCost read every metric through the URL in PROMETHEUS_SERVER_ENDPOINT (Kubecost: the \
     prometheus-server-endpoint key of its ConfigMap, from prometheus.fqdn or the bundled server). When the URL \
     names a Service of the input, that Service has to listen on the URL's port (80 for http and 443 for https \
     when the URL gives none), select pods, and send to a port they declare when it names one. Otherwise every \
     query fails: cost-model logs connection errors, allocation and the billing data built on it are missing for \
     as long as it lasts, and no pod is down for an alert to notice. The prometheus chart's server Service \
     listens on 80, not on Prometheus's 9090. A Service that selects no pod of the input is a warning (its pods \
     may come from elsewhere); a URL whose Service is not in the input (another release, a Prometheus outside \
     the cluster) is not judged."
);

pub static RULES: &[&Rule] = &[&PROMETHEUS_UNREACHABLE];

/// The port a URL connects to: its own, else its scheme's.
fn url_port(url: &str) -> Option<i64> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.split_once(':') {
        Some((_, port)) => port.parse().ok(),
        None => match scheme.to_ascii_lowercase().as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        },
    }
}

pub fn check(ctx: &Context<'_, '_>, out: &mut Vec<Finding>) {
    for (w, _, _) in ctx.metering() {
        let reader = &ctx.model.objects[w.object];
        for e in endpoints(ctx.model, w) {
            if let Some(f) = unreachable(ctx, reader, &e) {
                out.push(f);
            }
        }
    }
}

fn unreachable(ctx: &Context<'_, '_>, reader: &Object<'_>, e: &Endpoint<'_>) -> Option<Finding> {
    let (name, ns) = service_of_url(&e.url)?;
    let ns = ns.unwrap_or(reader.namespace());
    let service = ctx.model.core_object("Service", ns, name)?;
    let spec = service.node.get("spec")?;
    let selector = string_map(spec.get("selector"));
    if spec.str_at(&["type"]) == Some("ExternalName") || selector.is_empty() {
        return None;
    }
    let port = url_port(&e.url)?;
    let url = crate::input::redact::mask_credential_line(&e.url);
    let finding = |severity: Severity, problem: String, help: String| {
        let message = format!("{} reads Prometheus at {url} through {}, but {problem}", reader.id.display(), e.setting);
        Some(Finding::on_object(&PROMETHEUS_UNREACHABLE, e.holder, e.at, message, help).with_severity(severity))
    };
    let ports = spec.get("ports").and_then(Node::as_seq).unwrap_or_default();
    let number = |p: &Node| p.str_at(&["port"]).and_then(|n| n.parse::<i64>().ok());
    let Some(matched) = ports.iter().find(|p| number(p) == Some(port)) else {
        let listens: Vec<String> = ports.iter().filter_map(number).map(|n| n.to_string()).collect();
        let suggested = listens.first().map_or(String::new(), |p| format!(" (:{p})"));
        return finding(
            Severity::Error,
            format!(
                "Service {ns}/{name} listens on {}, not on {port}: every query is refused",
                if listens.is_empty() { "no port".to_owned() } else { listens.join(", ") }
            ),
            format!("point the URL at the Service's port{suggested}, or give the Service port {port}"),
        );
    };
    let selected: Vec<_> = ctx
        .model
        .workloads
        .iter()
        .filter(|t| ctx.model.objects[t.object].namespace() == ns && selects(&selector, &t.pod_labels))
        .collect();
    if selected.is_empty() {
        let pairs: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        return finding(
            Severity::Warning,
            format!("Service {ns}/{name} selects no pod of the input ({})", pairs.join(", ")),
            "make the Service's selector match the Prometheus pod's labels".into(),
        );
    }
    // A named target port must be declared by the pods; a number may be listened on undeclared.
    let target = matched.str_at(&["targetPort"]).filter(|t| t.parse::<i64>().is_err())?;
    let declares = |t: &&crate::model::Workload<'_>| {
        t.operated.is_some()
            || t.running().any(|c| c.spec.ports.iter().flatten().any(|p| p.name.as_deref() == Some(target)))
    };
    if selected.iter().any(declares) {
        return None;
    }
    finding(
        Severity::Error,
        format!("Service {ns}/{name} sends port {port} to the port named {target}, which no pod it selects declares"),
        format!("name the Prometheus container's port {target}, or give the Service the port's number"),
    )
}

#[cfg(test)]
mod tests {
    use super::url_port;

    #[test]
    fn ports_of_urls() {
        assert_eq!(url_port("http://kubecost-prometheus-server.kubecost"), Some(80));
        assert_eq!(url_port("https://prom.monitoring.svc/api"), Some(443));
        assert_eq!(url_port("http://prometheus-server.monitoring.svc.cluster.local:9090"), Some(9090));
        assert_eq!(url_port("http://user:p:ss@prom:9091/"), Some(9091));
        assert_eq!(url_port("prom:8080"), Some(8080));
        assert_eq!(url_port("grpc://prom"), None);
    }
}
