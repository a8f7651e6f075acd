//! Wiring: can a metering component reach the Prometheus it reads?

use super::{Context, Finding, Rule, Severity, rule};
use crate::coverage::jobs::Job;
use crate::coverage::rules::Embedding;
use crate::input::{Node, Span, yaml};
use crate::knowledge::signals;
use crate::model::references::{Endpoint, endpoints, selects, service_of_url};
use crate::model::{Object, prometheus, string_map};

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

rule!(
    METRIC_DROPPED,
    "wiring/metric-dropped",
    Error,
    "the Prometheus a cost model reads drops a series it allocates with",
    "A cost model (Kubecost's cost-model, OpenCost) allocates from series its Prometheus stores: CPU and memory \
     usage from cAdvisor, requests and pod labels from kube-state-metrics or cost-model itself \
     (knowledge/signals.yaml, metering_inputs). A keep-list trimmed to save memory (metric_relabel_configs with \
     action keep or drop on __name__) that no longer lets one through leaves every allocation without it: no \
     pod is down and no alert fires, the costs are simply wrong or missing from then on. Judged when every \
     scrape job of that Prometheus that exposes the series drops it; the finding stands at the job's \
     metric_relabel_configs in a plain server's config file, or at the metricRelabelings of the ServiceMonitor \
     or PodMonitor that makes it for the operator. Add the name back to the keep regex."
);

pub static RULES: &[&Rule] = &[&PROMETHEUS_UNREACHABLE, &METRIC_DROPPED];

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

/// For each Prometheus server a cost model reads, the metering inputs that every job exposing them
/// drops. Needs the coverage analysis: its scrape jobs with what they store.
pub fn check_stored(ctx: &Context<'_, '_>, coverage: &crate::coverage::Analysis, out: &mut Vec<Finding>) {
    let mut judged = std::collections::BTreeSet::new();
    for &(reader, server) in &coverage.cost_model_reads {
        if !judged.insert(server) {
            continue;
        }
        let w = &ctx.model.workloads[server];
        let evaluator = coverage.evaluators.iter().find(|e| e.workload == Some(server));
        let Some(jobs) = evaluator.and_then(|e| e.jobs.as_deref()) else { continue };
        // A plain server's scrape configs are in its config file (read again, with positions, only
        // for a finding); an operator's, in its monitors.
        let c = w.primary_or_first(ctx.classes[server].primary.as_deref());
        let file = || c.filter(|_| w.operated.is_none()).and_then(|c| prometheus::config_file(ctx.model, w, c));
        for input in &signals().metering_inputs {
            let exposing: Vec<&Job> =
                jobs.iter().filter(|j| !j.in_secret && j.exposes(&input.source, &input.metric)).collect();
            if exposing.is_empty() || exposing.iter().any(|j| j.stores(&input.source, &input.metric)) {
                continue;
            }
            let names: Vec<&str> = exposing.iter().map(|j| j.name.as_str()).collect();
            let reader = ctx.model.objects[ctx.model.workloads[reader].object].id.display();
            let message = format!(
                "{} drops {} in the metric relabelings of {} {}, and {reader} reads it there for {}",
                ctx.model.objects[w.object].id.display(),
                input.metric,
                if names.len() == 1 { "job" } else { "jobs" },
                names.join(", "),
                input.purpose
            );
            let help = format!("let {} through the job's relabelings (source: {})", input.metric, input.doc);
            let finding = match (file(), exposing.iter().find_map(|j| j.relabeled_for(&input.source))) {
                (Some(file), _) => {
                    Finding::on_object(&METRIC_DROPPED, file.configmap, relabel_at(&file, names[0]), message, help)
                }
                (None, Some(at)) => {
                    let place = (at.object.clone(), at.source, at.template.clone());
                    Finding::placed(&METRIC_DROPPED, place, at.span, message, help)
                }
                (None, None) => continue,
            };
            out.push(finding);
        }
    }
}

/// Where a job's metric_relabel_configs stand in the manifest: the config file is a ConfigMap
/// value, parsed again here with positions; else the key that holds the file.
fn relabel_at(file: &prometheus::ConfigFile<'_>, job: &str) -> Span {
    let entry = file.configmap.node.get("data").and_then(|d| d.entry(&file.key));
    let Some(entry) = entry else { return file.configmap.node.span() };
    let Some(text) = entry.value.as_scalar() else { return entry.key.span() };
    let embed = Embedding::of(&entry.value);
    let parsed = yaml::parse_stream(text.text);
    let configs = parsed.documents.first().and_then(|d| d.root.get("scrape_configs")).and_then(Node::as_seq);
    let scrape = configs.unwrap_or_default().iter().find(|s| s.str_at(&["job_name"]) == Some(job));
    match scrape.and_then(|s| s.entry("metric_relabel_configs")) {
        Some(e) => Span::point(embed.map(e.key.start())),
        None => entry.key.span(),
    }
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
