//! Step 4: the rules. Each family lives in its own file and declares each of its rules once
//! (id, default severity, summary, explanation); `meterguard rules` and `explain` print those
//! declarations, and every finding names one of them.

pub mod alerts;
pub mod changes;
pub mod config;
pub mod probes;
pub mod schema;
pub mod sizing;
pub mod storage;
pub mod upgrade;
pub mod wiring;

use std::sync::Arc;

use serde::Serialize;

use crate::classify::Classification;
use crate::config::Config;
use crate::input::{Inputs, SourceId, Span};
use crate::knowledge::Profile;
use crate::model::{ContainerInfo, Model, ObjectId, Workload};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    /// The failure the rule prevents, and how to fix it.
    pub explanation: &'static str,
}

pub fn all() -> impl Iterator<Item = &'static Rule> {
    schema::RULES
        .iter()
        .chain(sizing::RULES)
        .chain(probes::RULES)
        .chain(storage::RULES)
        .chain(alerts::RULES)
        .chain(upgrade::RULES)
        .chain(wiring::RULES)
        .chain(changes::RULES)
        .chain(config::RULES)
        .copied()
}

pub fn find(id: &str) -> Option<&'static Rule> {
    all().find(|r| r.id == id)
}

/// Where a rule's documentation is on the web: its section of docs/rules.md, which
/// `meterguard rules --format markdown` writes (a test keeps the two the same).
pub fn help_uri(id: &str) -> String {
    format!("{DOCS_PAGE}#{}", id.replace('/', ""))
}

pub const DOCS_PAGE: &str = "https://github.com/meterguard/meterguard/blob/main/docs/rules.md";

/// docs/rules.md: every rule, with its severity, summary and explanation, one section each (a
/// section's GitHub anchor is its id without the slash: `help_uri`).
pub fn docs_page() -> String {
    let mut s = String::from(
        "# Rules\n\nWritten by `meterguard rules --format markdown`; `meterguard explain ID` prints the same \
         text. Severities are defaults: `.meterguard.yaml` can change them per rule.\n",
    );
    for r in all() {
        s.push_str(&format!("\n## {}\n\n**{}**: {}.\n\n{}\n", r.id, r.severity.as_str(), r.summary, r.explanation));
    }
    s
}

/// A rule about the input itself (a file or document that could not be read): its findings make
/// the run's exit status 2.
pub fn is_input(id: &str) -> bool {
    id.starts_with("input/")
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppression {
    pub by: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    /// Shared: findings of one kind often give the same help (a job-mismatch names the same nearest
    /// jobs for every rule that wants one job).
    pub help: Arc<str>,
    /// Shared with the model's object: a render's findings name a few objects many times.
    pub object: Option<Arc<ObjectId>>,
    pub container: Option<String>,
    pub source: Option<SourceId>,
    /// The file as named when there is no source (a file that could not be read), else empty:
    /// `report::file_of` names a finding's file.
    pub file: String,
    pub span: Span,
    pub template: Option<Arc<str>>,
    pub suppressed: Option<Box<Suppression>>,
}

impl Finding {
    /// A finding about a whole object (not one of its containers), at `span` in its source.
    pub fn on_object(
        rule: &'static Rule,
        o: &crate::model::Object<'_>,
        span: Span,
        message: String,
        help: String,
    ) -> Finding {
        Finding::placed(rule, (o.id.clone(), o.source, o.template.cloned()), span, message, help)
    }

    /// `on_object` for an object known by its identity, source and template.
    pub fn placed(
        rule: &'static Rule,
        (object, source, template): (Arc<crate::model::ObjectId>, SourceId, Option<Arc<str>>),
        span: Span,
        message: String,
        help: String,
    ) -> Finding {
        Finding {
            rule: rule.id,
            severity: rule.severity,
            message,
            help: help.into(),
            object: Some(object),
            container: None,
            source: Some(source),
            file: String::new(),
            span,
            template,
            suppressed: None,
        }
    }

    /// A finding about a workload, or one of its containers.
    pub fn in_workload(
        model: &Model<'_>,
        rule: &'static Rule,
        w: &Workload<'_>,
        container: Option<&ContainerInfo<'_>>,
        span: Span,
        message: String,
        help: String,
    ) -> Finding {
        let mut f = Finding::on_object(rule, &model.objects[w.object], span, message, help);
        f.container = container.map(|c| c.name.clone());
        f
    }

    pub fn with_severity(mut self, s: Severity) -> Finding {
        self.severity = s;
        self
    }

    pub fn sort_key(&self) -> impl Ord + '_ {
        (self.source, self.span.start, self.rule, self.container.as_deref(), self.message.as_str())
    }
}

/// What a rule family reads.
pub struct Context<'m, 'a> {
    pub inputs: &'a Inputs,
    pub model: &'m Model<'a>,
    pub classes: &'m [Classification],
    pub config: &'m Config,
    pub profiles: &'m std::collections::BTreeMap<String, Profile>,
}

impl<'m, 'a> Context<'m, 'a> {
    /// The metering workloads, each with its classification and profile.
    pub fn metering(&self) -> impl Iterator<Item = (&'m Workload<'a>, &'m Classification, &'m Profile)> + '_ {
        self.model.workloads.iter().zip(self.classes).filter(|(_, c)| c.metering).map(|(w, c)| {
            let p = c.profile.as_deref().and_then(|p| self.profiles.get(p));
            (w, c, p.unwrap_or_else(|| generic_profile()))
        })
    }

    pub fn finding(
        &self,
        rule: &'static Rule,
        w: &Workload<'a>,
        container: Option<&ContainerInfo<'a>>,
        span: Span,
        message: String,
        help: String,
    ) -> Finding {
        Finding::in_workload(self.model, rule, w, container, span, message, help)
    }
}

fn generic_profile() -> &'static Profile {
    static GENERIC: std::sync::OnceLock<Profile> = std::sync::OnceLock::new();
    GENERIC.get_or_init(Profile::default)
}

/// Runs every family over the model.
pub fn run(ctx: &Context<'_, '_>) -> Vec<Finding> {
    let mut out = Vec::new();
    sizing::check(ctx, &mut out);
    probes::check(ctx, &mut out);
    storage::check(ctx, &mut out);
    upgrade::check(ctx, &mut out);
    wiring::check(ctx, &mut out);
    out
}

/// Declares a rule once: its id, default severity, one-line summary and explanation.
macro_rules! rule {
    ($name:ident, $id:literal, $sev:ident, $summary:literal, $expl:literal) => {
        pub static $name: $crate::rules::Rule = $crate::rules::Rule {
            id: $id,
            severity: $crate::rules::Severity::$sev,
            summary: $summary,
            explanation: $expl,
        };
    };
}
pub(crate) use rule;
