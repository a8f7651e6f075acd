//! The `check` pipeline: input -> model -> classify -> rules -> one report.

use crate::classify::{self, Classification};
use crate::config::Config;
use crate::input::{Inputs, Span};
use crate::model::{self, ModelProblem, ObjectId};
use crate::rules::{self, Context, Finding, Severity};

#[derive(Debug, Clone)]
pub struct Options {
    pub namespace: String,
    pub config: Config,
}

impl Default for Options {
    fn default() -> Options {
        Options { namespace: "default".into(), config: Config::default() }
    }
}

#[derive(Debug, Clone)]
pub struct WorkloadVerdict {
    pub object: ObjectId,
    pub class: Classification,
}

#[derive(Debug)]
pub struct Report<'a> {
    pub inputs: &'a Inputs,
    pub findings: Vec<Finding>,
    pub workloads: Vec<WorkloadVerdict>,
    pub objects: usize,
}

impl Report<'_> {
    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.suppressed.is_none() && f.severity == s).count()
    }

    pub fn suppressed(&self) -> usize {
        self.findings.iter().filter(|f| f.suppressed.is_some()).count()
    }

    pub fn metering_workloads(&self) -> usize {
        self.workloads.iter().filter(|w| w.class.metering).count()
    }

    /// An input finding (bad YAML, unreadable file) makes the run's exit status 2.
    pub fn has_input_errors(&self) -> bool {
        self.findings.iter().any(|f| f.rule.starts_with("input/"))
    }

    /// The most severe unsuppressed finding.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().filter(|f| f.suppressed.is_none()).map(|f| f.severity).max()
    }
}

fn rule_severity(id: &str) -> Severity {
    rules::find(id).map(|r| r.severity).unwrap_or(Severity::Error)
}

fn from_model_problem(inputs: &Inputs, p: ModelProblem) -> Finding {
    Finding {
        rule: rules::find(p.rule).map(|r| r.id).unwrap_or(p.rule),
        severity: rule_severity(p.rule),
        message: p.message,
        help: p.help,
        object: p.object,
        container: p.container,
        source: Some(p.source),
        file: inputs.sources[p.source].name.clone(),
        span: p.span,
        template: p.template,
        suppressed: None,
    }
}

pub fn run<'a>(inputs: &'a Inputs, opts: &Options) -> Report<'a> {
    let mut findings: Vec<Finding> = inputs
        .problems
        .iter()
        .map(|p| Finding {
            rule: p.rule,
            severity: rule_severity(p.rule),
            message: p.message.clone(),
            help: String::new(),
            object: None,
            container: None,
            source: p.source,
            file: p.file.clone(),
            span: Span::point(p.pos),
            template: None,
            suppressed: None,
        })
        .collect();
    let model = model::build(inputs, &opts.namespace);
    let classes = classify::classify(&model, &opts.config);
    let ctx = Context { inputs, model: &model, classes: &classes, config: &opts.config };
    findings.extend(model.problems.iter().cloned().map(|p| from_model_problem(inputs, p)));
    rules::schema::check(&ctx, &mut findings);
    findings.extend(rules::run(&ctx));
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    findings.dedup();
    let workloads = model
        .workloads
        .iter()
        .zip(classes)
        .map(|(w, class)| WorkloadVerdict { object: model.objects[w.object].id.clone(), class })
        .collect();
    Report { inputs, findings, workloads, objects: model.objects.len() }
}
