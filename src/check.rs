//! The `check` pipeline: input -> model -> classify -> rules -> one report.

use crate::classify::{self, Classification};
use crate::config::load::Loaded;
use crate::coverage::{self, WorkloadCoverage};
use crate::input::SourceId;
use crate::input::{Inputs, Span};
use crate::model::{self, ModelProblem, ObjectId};
use crate::rules::{self, Context, Finding, Severity};

#[derive(Debug, Clone)]
pub struct Options {
    pub namespace: String,
    pub config: Loaded,
    /// The config file's text registered as a source, so findings about it can point into it.
    pub config_source: Option<SourceId>,
    /// Exemptions expire against this date.
    pub today: jiff::civil::Date,
    /// Treat alert rules with no evaluator in the input as loaded, without saying so.
    pub assume_rules_loaded: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            namespace: "default".into(),
            config: Loaded::default(),
            config_source: None,
            today: jiff::ZonedDateTime::now().date(),
            assume_rules_loaded: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorkloadVerdict {
    pub object: ObjectId,
    pub class: Classification,
    /// Alert coverage by failure mode; metering workloads only.
    pub coverage: Option<WorkloadCoverage>,
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

/// For `alerts generate`: a PrometheusRule covering what nothing covers.
pub fn generate_alerts(inputs: &Inputs, opts: &Options) -> Option<String> {
    let model = model::build(inputs, &opts.namespace);
    let config = &opts.config.config;
    let classes = classify::classify(&model, config);
    let analysis = coverage::analyze(&model, inputs, &classes, config, opts.assume_rules_loaded);
    coverage::generate::prometheus_rule(&model, &analysis)
}

/// For `explain sizing/memory-below-floor`: the Prometheus floor arithmetic of each metering Prometheus.
pub fn sizing_arithmetic(inputs: &Inputs, opts: &Options) -> Vec<(ObjectId, String)> {
    let model = model::build(inputs, &opts.namespace);
    let config = &opts.config.config;
    let classes = classify::classify(&model, config);
    let profiles = crate::config::effective_profiles(config);
    let ctx = Context { inputs, model: &model, classes: &classes, config, profiles: &profiles };
    ctx.metering()
        .filter(|(_, _, p)| p.memory_model.as_deref() == Some("prometheus"))
        .map(|(w, _, _)| (model.objects[w.object].id.clone(), rules::sizing::prometheus_floor(&ctx, w).arithmetic))
        .collect()
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
    let config = &opts.config.config;
    let classes = classify::classify(&model, config);
    let profiles = crate::config::effective_profiles(config);
    let ctx = Context { inputs, model: &model, classes: &classes, config, profiles: &profiles };
    findings.extend(model.problems.iter().cloned().map(|p| from_model_problem(inputs, p)));
    rules::schema::check(&ctx, &mut findings);
    findings.extend(rules::run(&ctx));
    let mut analysis = coverage::analyze(&model, inputs, &classes, config, opts.assume_rules_loaded);
    rules::alerts::check(&ctx, &analysis, &mut findings);
    crate::config::suppress::apply(&mut findings, &opts.config, opts.config_source, &model, inputs, opts.today);
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    findings.dedup();
    let workloads = model
        .workloads
        .iter()
        .zip(classes)
        .enumerate()
        .map(|(i, (w, class))| WorkloadVerdict {
            object: model.objects[w.object].id.clone(),
            class,
            coverage: analysis.per_workload.remove(&i),
        })
        .collect();
    Report { inputs, findings, workloads, objects: model.objects.len() }
}
