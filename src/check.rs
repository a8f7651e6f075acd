//! The `check` pipeline: input -> model -> classify -> rules -> one report.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::classify::{self, Classification};
use crate::config::load::Loaded;
use crate::coverage::rules::Taken;
use crate::coverage::{self, WorkloadCoverage};
use crate::input::{Inputs, SourceId, Span};
use crate::knowledge::Profile;
use crate::model::{self, Model, ModelProblem, ObjectId};
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
    /// Documents that are not Kubernetes objects are skipped without a finding.
    pub ignore_non_manifests: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            namespace: "default".into(),
            config: Loaded::default(),
            config_source: None,
            today: jiff::Zoned::now().date(),
            assume_rules_loaded: false,
            ignore_non_manifests: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorkloadVerdict {
    pub object: Arc<ObjectId>,
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
    /// The config file in effect, as named; None when the defaults ran (every format says which).
    pub config: Option<String>,
}

impl Report<'_> {
    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.suppressed.is_none() && f.severity == s).count()
    }

    pub fn suppressed(&self) -> usize {
        self.findings.iter().filter(|f| f.suppressed.is_some()).count()
    }

    /// Which config ran, in words: "config .meterguard.yaml" or "no config file".
    pub fn config_in_effect(&self) -> String {
        match &self.config {
            Some(file) => format!("config {file}"),
            None => "no config file".to_owned(),
        }
    }

    pub fn metering_workloads(&self) -> usize {
        self.workloads.iter().filter(|w| w.class.metering).count()
    }

    /// An input finding (bad YAML, unreadable file) makes the run's exit status 2, unless the
    /// user accepted it (the rule turned off, or an exemption): it is then still listed.
    pub fn has_input_errors(&self) -> bool {
        self.findings.iter().any(|f| rules::is_input(f.rule) && f.suppressed.is_none())
    }

    /// The most severe unsuppressed finding.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().filter(|f| f.suppressed.is_none()).map(|f| f.severity).max()
    }
}

/// Everything the rules read about one input (or one side of a diff).
pub struct Analysis<'a> {
    pub model: Model<'a>,
    pub classes: Vec<Classification>,
    pub profiles: BTreeMap<String, Profile>,
    pub coverage: coverage::Analysis,
}

impl<'a> Analysis<'a> {
    pub fn context<'m>(&'m self, inputs: &'a Inputs, opts: &'m Options) -> Context<'m, 'a> {
        Context {
            inputs,
            model: &self.model,
            classes: &self.classes,
            config: &opts.config.config,
            profiles: &self.profiles,
        }
    }
}

/// The analysis of the documents whose source passes `take` (one side of a diff).
pub fn analyze<'a>(inputs: &'a Inputs, opts: &Options, take: &dyn Fn(SourceId) -> bool) -> Analysis<'a> {
    examine(inputs, opts, take, false, Taken::default()).0
}

/// `analyze`, and with `find` every finding of it, before suppressions and sorting; `taken` holds
/// the rules read out of the documents before (`coverage::rules::take`). The steps run
/// as soon as what they read is there, beside each other: each has stretches on one core (a
/// large render's bookkeeping), which the others' work then fills.
pub fn examine<'a>(
    inputs: &'a Inputs,
    opts: &Options,
    take: &dyn Fn(SourceId) -> bool,
    find: bool,
    taken: Taken,
) -> (Analysis<'a>, Vec<Finding>) {
    let model = model::build_from(inputs, &opts.namespace, take);
    let config = &opts.config.config;
    let profiles = crate::config::effective_profiles(config);
    // The model alone: the schema's findings, the classes, and the alert rules.
    let (schema, (classes, (rules, records))) = rayon::join(
        || {
            let mut out = Vec::new();
            if find {
                rules::schema::check(&model, &mut out);
                rules::schema::check_sizes(&model, &mut out);
            }
            out
        },
        || {
            rayon::join(
                || classify::classify(&model, config),
                || coverage::rules::extract(&model.objects, &model.rule_files, taken),
            )
        },
    );
    // With the classes: the rules that read no alert coverage, and the coverage.
    let ctx = Context { inputs, model: &model, classes: &classes, config, profiles: &profiles };
    let (mut found, coverage) = rayon::join(
        || if find { rules::run(&ctx) } else { Vec::new() },
        || coverage::analyze(&model, &classes, config, rules, &records, opts.assume_rules_loaded),
    );
    let a = Analysis { model, classes, profiles, coverage };
    if !find {
        return (a, Vec::new());
    }
    let ctx = a.context(inputs, opts);
    rules::wiring::check_stored(&ctx, &a.coverage, &mut found);
    rules::alerts::check(&ctx, &a.coverage, &mut found);
    // `found` holds most of a large render's findings (a job-mismatch for each of thousands of
    // rules), in room of their exact size: the rest are added to it, which grows a block that
    // large in place, where gathering all in a new vector copied it (18 MB at 100k objects). None
    // of its rules are theirs, so no two findings tie across the parts and the sorted report is
    // the same.
    let problems = problem_findings(inputs, &a.model, opts, take);
    let before = found.len();
    found.reserve_exact(problems.len() + schema.len());
    found.extend(problems);
    found.extend(schema);
    debug_assert!({
        let theirs: std::collections::HashSet<&str> = found[before..].iter().map(|f| f.rule).collect();
        found[..before].iter().all(|f| !theirs.contains(f.rule))
    });
    (a, found)
}

/// The problems of the input's sources that `take` takes, and the model's, as findings.
fn problem_findings(
    inputs: &Inputs,
    model: &Model<'_>,
    opts: &Options,
    take: &dyn Fn(SourceId) -> bool,
) -> Vec<Finding> {
    let input = inputs.problems.iter().filter(|p| p.source.is_none_or(take)).map(|p| Finding {
        rule: p.rule,
        severity: rule_severity(p.rule),
        message: p.message.clone(),
        help: "".into(),
        object: None,
        container: None,
        source: p.source,
        file: p.file.clone(),
        span: Span::point(p.pos),
        template: None,
        suppressed: None,
    });
    let skip = |p: &&ModelProblem| opts.ignore_non_manifests && p.not_manifest;
    input.chain(model.problems.iter().filter(|p| !skip(p)).cloned().map(from_model_problem)).collect()
}

fn rule_severity(id: &str) -> Severity {
    rules::find(id).map(|r| r.severity).unwrap_or(Severity::Error)
}

fn from_model_problem(p: ModelProblem) -> Finding {
    Finding {
        rule: rules::find(p.rule).map(|r| r.id).unwrap_or(p.rule),
        severity: rule_severity(p.rule),
        message: p.message,
        help: p.help.into(),
        object: p.object,
        container: p.container,
        source: Some(p.source),
        file: String::new(),
        span: p.span,
        template: p.template,
        suppressed: None,
    }
}

/// Findings of one rule on one object (or in one file, for findings of no object) past which the
/// rest are counted, not listed: a hostile document can hold a finding in every two bytes.
pub const MAX_FINDINGS_PER_RULE_AND_OBJECT: usize = 1000;

/// Keeps the first `MAX_FINDINGS_PER_RULE_AND_OBJECT` findings (in report order) of each rule and
/// object, and puts in place of the rest one finding that says how many were left out, where the
/// first of them was.
fn cap(findings: &mut Vec<Finding>) {
    type Key = (&'static str, Option<Arc<ObjectId>>, Option<SourceId>, String);
    let key = |f: &Finding| -> Key {
        let file = if f.source.is_some() { String::new() } else { f.file.clone() };
        (f.rule, f.object.clone(), f.source, file)
    };
    let mut seen: foldhash::HashMap<Key, usize> = foldhash::HashMap::default();
    let mut left_out: BTreeMap<usize, usize> = BTreeMap::new();
    let mut first_of: foldhash::HashMap<Key, usize> = foldhash::HashMap::default();
    for (i, f) in findings.iter().enumerate() {
        let k = key(f);
        let n = seen.entry(k.clone()).or_default();
        *n += 1;
        if *n > MAX_FINDINGS_PER_RULE_AND_OBJECT {
            let at = *first_of.entry(k).or_insert(i);
            *left_out.entry(at).or_default() += 1;
        }
    }
    if left_out.is_empty() {
        return;
    }
    let mut summaries = Vec::new();
    for (&at, &n) in &left_out {
        let f = &findings[at];
        let mut summary = f.clone();
        summary.message = format!(
            "{n} more {} findings {} were left out: meterguard lists at most {MAX_FINDINGS_PER_RULE_AND_OBJECT} of one rule on one object",
            f.rule,
            if f.object.is_some() { "on this object" } else { "in this file" }
        );
        summary.help = "".into();
        summaries.push(summary);
    }
    let mut counts: foldhash::HashMap<Key, usize> = foldhash::HashMap::default();
    findings.retain(|f| {
        let n = counts.entry(key(f)).or_default();
        *n += 1;
        *n <= MAX_FINDINGS_PER_RULE_AND_OBJECT
    });
    findings.extend(summaries);
    findings.sort_by(|x, y| x.sort_key().cmp(&y.sort_key()));
}

/// Applies suppressions, sorts, caps, and builds the report.
pub fn finish<'a>(inputs: &'a Inputs, a: &Analysis<'_>, mut findings: Vec<Finding>, opts: &Options) -> Report<'a> {
    crate::config::suppress::apply(&mut findings, &opts.config, opts.config_source, &a.model, opts.today);
    findings.sort_by(|x, y| x.sort_key().cmp(&y.sort_key()));
    findings.dedup();
    cap(&mut findings);
    let workloads = a
        .model
        .workloads
        .iter()
        .zip(&a.classes)
        .enumerate()
        .map(|(i, (w, class))| WorkloadVerdict {
            object: a.model.objects[w.object].id.clone(),
            class: class.clone(),
            coverage: a.coverage.per_workload.get(&i).cloned(),
        })
        .collect();
    Report { inputs, findings, workloads, objects: a.model.objects.len(), config: opts.config.file.clone() }
}

/// The check of the inputs as they are.
pub fn run<'a>(inputs: &'a Inputs, opts: &Options) -> Report<'a> {
    let (a, f) = examine(inputs, opts, &|_| true, true, Taken::default());
    finish(inputs, &a, f, opts)
}

/// `run` as the command runs it: the alert rules of pruned inputs are read out of their documents
/// first, and their trees dropped (`coverage::rules::take`); the analysis is handed back too (the
/// command leaves it to the system at exit instead of freeing it).
pub fn run_keeping<'a>(inputs: &'a mut Inputs, opts: &Options) -> (Report<'a>, Analysis<'a>) {
    let taken = coverage::rules::take(inputs);
    let inputs: &'a Inputs = inputs;
    let (a, f) = examine(inputs, opts, &|_| true, true, taken);
    (finish(inputs, &a, f, opts), a)
}

/// What `alerts generate` found to write.
pub enum Generated {
    /// The input could not be read whole: the input findings, as `file:line:col: message`.
    InputErrors(Vec<String>),
    /// No workload of the input meters: nothing to cover.
    NoMetering,
    /// Every metering workload is covered for every failure mode.
    Covered(usize),
    /// A PrometheusRule (or VMRule) covering what nothing covers.
    Rules(String),
}

/// For `alerts generate`: a PrometheusRule covering what nothing covers. Fails closed: an input
/// that could not be read is no input whose workloads are all covered.
pub fn generate_alerts(inputs: &Inputs, opts: &Options) -> Generated {
    let errors: Vec<String> = inputs
        .problems
        .iter()
        .filter(|p| rules::is_input(p.rule))
        .map(|p| {
            let file = p.source.map_or(p.file.as_str(), |s| inputs.sources[s].name.as_str());
            format!("{file}:{}:{}: {} ({})", p.pos.line, p.pos.col, p.message, p.rule)
        })
        .collect();
    if !errors.is_empty() {
        return Generated::InputErrors(errors);
    }
    let a = analyze(inputs, opts, &|_| true);
    let metering = a.classes.iter().filter(|c| c.metering).count();
    match coverage::generate::prometheus_rule(&a.model, &a.coverage) {
        Some(text) => Generated::Rules(text),
        None if metering == 0 => Generated::NoMetering,
        None => Generated::Covered(metering),
    }
}

/// For `explain sizing/memory-below-floor`: the Prometheus floor arithmetic of each metering Prometheus.
pub fn sizing_arithmetic(inputs: &Inputs, opts: &Options) -> Vec<(Arc<ObjectId>, String)> {
    let a = analyze(inputs, opts, &|_| true);
    let ctx = a.context(inputs, opts);
    ctx.metering()
        .filter(|(_, _, p)| p.memory_model.as_deref() == Some("prometheus"))
        .map(|(w, _, _)| (a.model.objects[w.object].id.clone(), rules::sizing::prometheus_floor(&ctx, w).arithmetic))
        .collect()
}
