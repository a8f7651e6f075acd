//! Applying the user's decisions to findings: rule severities, annotations on objects, and
//! exemptions in the config. Suppressed findings are kept and marked, never dropped.

use foldhash::HashMap;

use super::load::{Loaded, exemption_pos};
use super::{RuleSetting, pattern_matches};
use crate::input::{SourceId, Span};
use crate::model::{Model, ObjectId};
use crate::rules::{self, Finding, Severity, Suppression};

pub const IGNORE: &str = "meterguard.io/ignore";
pub const IGNORE_REASON: &str = "meterguard.io/ignore-reason";

/// A finding about an object's suppression annotation, at `at` (else the object).
fn on_annotation(
    obj: &crate::model::Object<'_>,
    rule: &rules::Rule,
    at: Option<Span>,
    message: String,
    help: std::sync::Arc<str>,
) -> Finding {
    Finding {
        rule: rule.id,
        severity: rule.severity,
        message,
        help,
        object: Some(obj.id.clone()),
        container: None,
        source: Some(obj.source),
        file: String::new(),
        span: at.unwrap_or(obj.node.span()),
        template: obj.template.cloned(),
        suppressed: None,
    }
}

pub fn apply(
    findings: &mut Vec<Finding>,
    loaded: &Loaded,
    config_source: Option<SourceId>,
    model: &Model<'_>,
    today: jiff::civil::Date,
) {
    let mut extra = Vec::new();
    // Annotations on objects: only the few objects that carry one are indexed, so that a render of
    // a hundred thousand objects does not hash every identity for none (a lookup in an empty map
    // hashes nothing).
    let annotated: Vec<(&ObjectId, usize)> = {
        use rayon::prelude::*;
        model
            .objects
            .par_iter()
            .enumerate()
            .filter(|(_, o)| o.node.path(&["metadata", "annotations"]).and_then(|a| a.get(IGNORE)).is_some())
            .map(|(i, o)| (&*o.id, i))
            .collect()
    };
    // Each annotation's ids must name rules: a misspelled one silences nothing, silently.
    for &(_, i) in &annotated {
        let obj = &model.objects[i];
        let Some(list) = obj.annotations().get(IGNORE).copied() else { continue };
        for id in list.split(',').map(str::trim).filter(|id| !id.is_empty()) {
            if rules::all().any(|r| pattern_matches(id, r.id)) {
                continue;
            }
            let at = obj.node.path(&["metadata", "annotations"]).and_then(|a| a.get(IGNORE)).map(|v| v.span());
            extra.push(on_annotation(
                obj,
                &rules::config::UNKNOWN_RULE,
                at,
                format!("{IGNORE} on {} names `{id}`, which matches no rule", obj.id.display()),
                "`meterguard rules` lists the rule ids".into(),
            ));
        }
    }
    let by_object: HashMap<&ObjectId, usize> = annotated.into_iter().collect();
    let mut warned = foldhash::HashSet::default();
    for f in findings.iter_mut() {
        let Some(obj) = f.object.as_deref().and_then(|id| by_object.get(id)).map(|i| &model.objects[*i]) else {
            continue;
        };
        let ann = obj.annotations();
        let Some(list) = ann.get(IGNORE) else { continue };
        if !list.split(',').map(str::trim).any(|r| pattern_matches(r, f.rule)) {
            continue;
        }
        let reason = ann.get(IGNORE_REASON).map(|r| r.to_string());
        if reason.is_none() && warned.insert(obj.id.clone()) {
            let at = obj.node.path(&["metadata", "annotations"]).and_then(|a| a.entry(IGNORE)).map(|e| e.key.span());
            extra.push(on_annotation(
                obj,
                &rules::config::SUPPRESSION_WITHOUT_REASON,
                at,
                format!("{IGNORE} on {} has no {IGNORE_REASON}", obj.id.display()),
                format!("add the annotation {IGNORE_REASON}: \"why this is accepted\"").into(),
            ));
        }
        f.suppressed = Some(Box::new(Suppression { by: format!("annotation {IGNORE}"), reason }));
    }
    // Exemptions in the config.
    let file = loaded.file.clone().unwrap_or_else(|| super::load::FILE_NAME.into());
    for (i, ex) in loaded.config.exemptions.iter().enumerate() {
        let pos = exemption_pos(&loaded.text, i);
        let expired =
            ex.expires.as_deref().and_then(|d| d.parse::<jiff::civil::Date>().ok()).is_some_and(|d| d < today);
        if expired {
            extra.push(Finding {
                rule: rules::config::EXEMPTION_EXPIRED.id,
                severity: rules::config::EXEMPTION_EXPIRED.severity,
                message: format!(
                    "exemption for {} expired on {}; the findings it covered are reported again",
                    ex.rules.join(", "),
                    ex.expires.as_deref().unwrap_or_default()
                ),
                help: format!("reason given: {}", ex.reason).into(),
                object: None,
                container: None,
                source: config_source,
                file: file.clone(),
                span: Span::point(pos),
                template: None,
                suppressed: None,
            });
            continue;
        }
        for f in findings.iter_mut().filter(|f| f.suppressed.is_none()) {
            if ex.matches(f.rule, f.object.as_deref()) {
                f.suppressed = Some(Box::new(Suppression {
                    by: format!("exemption at {file}:{}:{}", pos.line, pos.col),
                    reason: Some(ex.reason.clone()),
                }));
            }
        }
    }
    findings.reserve_exact(extra.len());
    findings.extend(extra);
    // Severities and rules turned off. An input rule turned off is marked, not dropped: its
    // finding is all that says a document or file was not read.
    let settings = &loaded.config.rules;
    findings.retain(|f| settings.get(f.rule) != Some(&RuleSetting::Off) || rules::is_input(f.rule));
    for f in findings.iter_mut().filter(|f| f.suppressed.is_none() && settings.get(f.rule) == Some(&RuleSetting::Off)) {
        f.suppressed = Some(Box::new(Suppression {
            by: format!("`{}: off` in {file}", f.rule),
            reason: Some("what it reports was not read".to_owned()),
        }));
    }
    for f in findings.iter_mut() {
        match settings.get(f.rule) {
            Some(RuleSetting::Error) => f.severity = Severity::Error,
            Some(RuleSetting::Warning) => f.severity = Severity::Warning,
            Some(RuleSetting::Info) => f.severity = Severity::Info,
            _ => {}
        }
    }
}
