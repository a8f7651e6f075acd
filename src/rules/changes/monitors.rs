//! Change rules on scraping: monitors removed, and jobs taken out of a metering Prometheus
//! server's scrape configs.

use std::collections::{BTreeMap, BTreeSet};

use super::{Key, MONITOR_REMOVED};
use crate::coverage::Analysis;
use crate::model::{identity_key, prometheus};
use crate::rules::{Context, Finding};

/// Jobs a metering Prometheus server (not the operator's, whose jobs come and go with monitors)
/// scraped in the old render and does not in the new one, by name.
pub(super) fn scrape_jobs_removed(
    (old, old_cov): (&Context<'_, '_>, &Analysis),
    (new, new_cov): (&Context<'_, '_>, &Analysis),
    new_keys: &BTreeMap<Key<'_>, usize>,
    out: &mut Vec<Finding>,
) {
    for e in &old_cov.evaluators {
        let Some(oi) = e.workload.filter(|&w| old.classes[w].metering) else { continue };
        let ow = &old.model.workloads[oi];
        let Some(&ni) = new_keys.get(&identity_key(&old.model.objects[ow.object].id)) else { continue };
        let nw = &new.model.workloads[ni];
        if ow.operated.is_some() {
            continue;
        }
        let evaluator = new_cov.evaluators.iter().find(|n| n.workload == Some(ni));
        let (Some(before), Some(after)) = (e.jobs.as_deref(), evaluator.and_then(|n| n.jobs.as_deref())) else {
            continue;
        };
        let kept: BTreeSet<&str> = after.iter().map(|j| j.name.as_str()).collect();
        let c = nw.primary_or_first(new.classes[ni].primary.as_deref());
        let file = c.and_then(|c| prometheus::config_file(new.model, nw, c));
        let at = file.as_ref().and_then(|f| f.configmap.node.get("data")?.entry(&f.key).map(|e| e.key.span()));
        let server = new.model.objects[nw.object].id.display();
        for j in before.iter().filter(|j| !j.in_secret && !j.any_name && !kept.contains(j.name.as_str())) {
            let metering: Vec<String> = j
                .targets
                .iter()
                .filter(|&&t| old.classes[t].metering && t != oi)
                .map(|&t| old.model.objects[old.model.workloads[t].object].id.display())
                .collect();
            // What else scrapes a target is not known for sure (discovery is judged loosely): only
            // what this job scraped is said.
            let scraped = if metering.is_empty() {
                "what it scraped is no longer scraped under that name".to_owned()
            } else {
                format!("it scraped metering {}", metering.join(", "))
            };
            let message = format!("job {} is removed from the scrape configs of {server}: {scraped}", j.name);
            let help = "alerts on its metrics, and on `up`, go silent, and a cost model reading this Prometheus loses \
                        the series it stored"
                .to_owned();
            let finding = match (&file, at) {
                (Some(f), Some(at)) => Finding::on_object(&MONITOR_REMOVED, f.configmap, at, message, help),
                _ => new.finding(
                    &MONITOR_REMOVED,
                    nw,
                    None,
                    crate::coverage::workload_span(new.model, nw),
                    message,
                    help,
                ),
            };
            out.push(finding);
        }
    }
}

pub(super) fn monitors(old: &Context<'_, '_>, new: &Context<'_, '_>, out: &mut Vec<Finding>) {
    let kept: foldhash::HashSet<Key<'_>> = new.model.objects.iter().map(|n| identity_key(&n.id)).collect();
    for o in old.model.objects.iter().filter(|o| crate::coverage::victoria::is_scrape_object(o)) {
        if kept.contains(&identity_key(&o.id)) {
            continue;
        }
        let span = o.node.path(&["metadata", "name"]).map(|n| n.span()).unwrap_or(o.node.span());
        let message = format!("{} is removed: what it scraped is no longer scraped", o.id.display());
        let help = "alerts on its metrics, and on `up`, go silent".into();
        out.push(Finding::on_object(&MONITOR_REMOVED, o, span, message, help));
    }
}
