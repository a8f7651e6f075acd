//! Command-line interface: subcommands and their options. `main.rs` only calls [`main`].

use std::io::{IsTerminal, Write};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::check::{self, Options};
use crate::config::FailOnSetting;
use crate::config::load::{self, Loaded};
use crate::input::{DEFAULT_MAX_INPUT_BYTES, Inputs};
use crate::report::{self, guard};
use crate::rules::{self, Severity};

#[derive(Parser, Debug)]
#[command(
    name = "meterguard",
    version,
    about = "Check Kubernetes manifests so the workloads that meter usage and cost survive an upgrade"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check rendered manifests (files, directories, `-` for stdin).
    Check(CheckArgs),
    /// Compare an old render with a new one: the changes that matter, with findings at their lines.
    Diff(DiffArgs),
    /// Render Helm charts with `helm template` and check them (charts, or files inside charts).
    Helm(HelmArgs),
    /// List every rule with its default severity and summary.
    Rules {
        /// human (a table), json, or markdown (the rules' documentation page, docs/rules.md).
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
    },
    /// Explain one rule: the failure it prevents and how to fix it.
    Explain {
        /// Rule id, e.g. sizing/memory-below-floor
        rule: String,
        /// Manifests: for sizing rules, show the arithmetic for the Prometheus servers they hold.
        paths: Vec<String>,
        /// Config file (its cluster scale and profiles enter the arithmetic).
        #[arg(long)]
        config: Option<String>,
    },
    /// Print the JSON Schema of `.meterguard.yaml`.
    Schema,
    /// Alert coverage helpers.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Write a commented starter `.meterguard.yaml` (and its schema) into a directory.
    Init {
        /// The directory to write them into.
        #[arg(default_value = ".")]
        dir: String,
        /// Overwrite an existing config.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// Write a PrometheusRule that covers every uncovered metering workload for every failure mode.
    Generate {
        /// The render to cover: files, directories or `-` for stdin [default: stdin].
        paths: Vec<String>,
        /// Config file (its metering selectors, profiles and external evaluators apply).
        #[arg(long)]
        config: Option<String>,
        /// Namespace of objects that name none (Helm's release namespace).
        #[arg(long, short = 'n', default_value = "default")]
        namespace: String,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o')]
        output: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The running release (`helm get manifest`): a file, a directory, or `-`.
    pub old: String,
    /// The new render (`helm template`): a file, a directory, or `-`.
    pub new: String,
    /// Lines of context around each change.
    #[arg(long, default_value_t = 3)]
    pub context: usize,
    /// Show every changed object, not only metering workloads and what they depend on.
    #[arg(long)]
    pub all: bool,
    /// Show release noise (helm.sh/chart and version labels, checksum annotations).
    #[arg(long)]
    pub show_noise: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct HelmArgs {
    /// Chart directories, or any files inside charts (the pre-commit hook passes changed files).
    #[arg(required = true)]
    pub charts: Vec<String>,
    /// Release name [default: the chart directory's name].
    #[arg(long)]
    pub release: Option<String>,
    /// Values files, passed to helm as -f.
    #[arg(long = "values", short = 'f')]
    pub values: Vec<String>,
    /// Values, passed to helm as --set.
    #[arg(long)]
    pub set: Vec<String>,
    /// The running release to compare with (a render of the base, repeat for several): adds the
    /// change findings of `diff`.
    #[arg(long)]
    pub base: Vec<String>,
    #[command(flatten)]
    pub common: Common,
    /// Arguments after `--` go to `helm template` as they are (--set-string, --version,
    /// --include-crds...): the Helm plugin passes every flag meterguard does not know this way.
    #[arg(last = true)]
    pub helm_args: Vec<String>,
}

/// Options that `check` and `diff` share.
#[derive(Args, Debug)]
pub struct Common {
    /// Output format; repeat it with --output to write several formats in one run.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Vec<Format>,
    /// Where the --format before it goes (a format without one goes to stdout).
    #[arg(long, short = 'o')]
    pub output: Vec<String>,
    /// Formats paired with their outputs, from the order on the command line.
    #[arg(skip)]
    pub paired: Vec<(Format, Option<String>)>,
    /// Exit 1 when a finding at or above this severity remains [default: the config's fail_on, else error].
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// Config file [default: .meterguard.yaml in this directory or the nearest parent, up to the repository root].
    #[arg(long)]
    pub config: Option<String>,
    /// Namespace of objects that name none (Helm's release namespace).
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// Target Kubernetes version (1.NN) for API removal checks [default: the config's kube_version, else 1.37].
    #[arg(long)]
    pub kube_version: Option<String>,
    /// Stop reading an input past this many bytes (at most 4 GiB - 1: positions are 32-bit).
    #[arg(long, default_value_t = DEFAULT_MAX_INPUT_BYTES, value_parser = clap::value_parser!(u64).range(1..=u64::from(u32::MAX)))]
    pub max_input_bytes: u64,
    /// Colour in the human format: auto colours a terminal, unless NO_COLOR is set (FORCE_COLOR
    /// colours any target).
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Treat alert rules that no Prometheus in the input evaluates as loaded, without an info finding.
    #[arg(long)]
    pub assume_rules_loaded: bool,
    /// Skip YAML documents that are not Kubernetes objects (no apiVersion and kind) instead of reporting
    /// them: for hooks that see every YAML file of a repository.
    #[arg(long)]
    pub ignore_non_manifests: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Files, directories (recursive: *.yaml, *.yml, *.json) or `-` for stdin. Default: stdin when it is not a terminal.
    pub paths: Vec<String>,
    /// The running release to compare with (repeat for several paths): adds the change findings of `diff`.
    #[arg(long)]
    pub base: Vec<String>,
    /// Check every manifest in the directory of each file given (not in its subdirectories), not the
    /// files alone: for hooks that pass only the files that changed, so that the verdict does not
    /// depend on which did.
    #[arg(long)]
    pub with_directories: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Markdown,
    Sarif,
    Github,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Human,
    Json,
    /// The rules' documentation page (docs/rules.md, which SARIF's `helpUri`s point into).
    Markdown,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    Never,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Error => Some(Severity::Error),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Info => Some(Severity::Info),
            FailOn::Never => None,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// Colour for output to a terminal or not: `--color` decides, else NO_COLOR turns it off,
/// FORCE_COLOR on (for standard output only: a file never gets escape codes unasked), else a
/// terminal gets it.
fn use_color(c: Color, terminal: bool, to_file: bool) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    match c {
        Color::Always => true,
        Color::Never => false,
        Color::Auto if set("NO_COLOR") => false,
        Color::Auto => terminal || (!to_file && set("FORCE_COLOR")),
    }
}

/// Parses the command line and runs it; returns the process exit status.
pub fn main() -> i32 {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let common = match &mut cli.command {
        Command::Check(a) => Some(&mut a.common),
        Command::Diff(a) => Some(&mut a.common),
        Command::Helm(a) => Some(&mut a.common),
        _ => None,
    };
    if let Some(common) = common
        && let Err(e) = pair_outputs(&matches, common)
    {
        say(&e.to_string());
        return 2;
    }
    run(cli)
}

/// Runs the parsed command; returns the process exit status.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Check(args) => run_check(args),
        Command::Diff(args) => run_diff(args),
        Command::Helm(args) => run_helm(args),
        Command::Rules { format } => {
            print(&rules_list(format));
            0
        }
        Command::Schema => {
            print(&(serde_json::to_string_pretty(&load::schema()).unwrap_or_default() + "\n"));
            0
        }
        Command::Init { dir, force } => init(&dir, force),
        Command::Alerts { command: AlertsCommand::Generate { paths, config, namespace, output } } => {
            let Some(loaded) = load_config(config.as_deref()) else { return 2 };
            let paths = if paths.is_empty() { vec!["-".to_owned()] } else { paths };
            let inputs = Inputs::read_paths(&paths, DEFAULT_MAX_INPUT_BYTES);
            let opts = Options { namespace, config: loaded, ..Options::default() };
            let text = match check::generate_alerts(&inputs, &opts) {
                check::Generated::Rules(text) => text,
                check::Generated::Covered(n) => {
                    format!("# every metering workload ({n}) is covered for every failure mode: nothing to add\n")
                }
                check::Generated::NoMetering => {
                    "# no workload of the input meters usage or cost: nothing to cover (give the render that \
                     holds the metering product, or mark a workload with meterguard.io/metering: \"true\")\n"
                        .to_owned()
                }
                check::Generated::InputErrors(errors) => {
                    errors.iter().for_each(|e| say(e));
                    say("the input could not be read whole: no rules generated");
                    return 2;
                }
            };
            let scrub = guard::Scrub::new(&inputs.secret_values);
            match output {
                Some(f) => {
                    let written = std::fs::File::create(&f).and_then(|mut file| {
                        let mut guarded = guard::Guard::new(&mut file, &scrub, guard::Target::Text { color: false });
                        guarded.write_all(text.as_bytes())?;
                        guarded.finish()
                    });
                    match written {
                        Ok(()) => 0,
                        Err(e) => {
                            say(&format!("cannot write {f}: {e}"));
                            2
                        }
                    }
                }
                None => {
                    print_scrubbed(&text, &scrub);
                    0
                }
            }
        }
        Command::Explain { rule, paths, config } => match rules::find(&rule) {
            Some(r) => {
                print(&format!("{} ({})\n{}\n\n{}\n", r.id, r.severity.as_str(), r.summary, wrap(r.explanation, 100)));
                if !paths.is_empty() && r.id.starts_with("sizing/") {
                    let Some(loaded) = load_config(config.as_deref()) else { return 2 };
                    let inputs = Inputs::read_paths(&paths, DEFAULT_MAX_INPUT_BYTES);
                    let opts = Options { config: loaded, ..Options::default() };
                    let scrub = guard::Scrub::new(&inputs.secret_values);
                    for (id, arithmetic) in check::sizing_arithmetic(&inputs, &opts) {
                        print_scrubbed(&format!("\n{}:\n{}\n", id.display(), wrap(&arithmetic, 100)), &scrub);
                    }
                }
                0
            }
            None => {
                let ids: Vec<&str> = rules::all().map(|r| r.id).collect();
                let near = ids
                    .iter()
                    .map(|id| (strsim::jaro_winkler(id, &rule), *id))
                    .filter(|(score, _)| *score > 0.85)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, id)| format!(" (did you mean `{id}`?)"))
                    .unwrap_or_default();
                say(&format!("unknown rule `{rule}`{near}; `meterguard rules` lists them"));
                2
            }
        },
    }
}

fn rules_list(format: ListFormat) -> String {
    match format {
        ListFormat::Human => {
            let mut s = String::new();
            for r in rules::all() {
                s.push_str(&format!("{:<40} {:<8} {}\n", r.id, r.severity.as_str(), r.summary));
            }
            s
        }
        ListFormat::Json => {
            let list: Vec<_> = rules::all()
                .map(|r| serde_json::json!({"id": r.id, "severity": r.severity, "summary": r.summary, "explanation": r.explanation}))
                .collect();
            serde_json::to_string_pretty(&list).unwrap_or_default() + "\n"
        }
        ListFormat::Markdown => rules::docs_page(),
    }
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

fn print(s: &str) {
    print_scrubbed(s, &guard::Scrub::none());
}

/// Text to stdout through the guard, with the secrets of the input it came from.
fn print_scrubbed(s: &str, scrub: &guard::Scrub) {
    let mut out = std::io::stdout().lock();
    let mut guarded = guard::Guard::new(&mut out, scrub, guard::Target::Text { color: false });
    // A closed pipe (`meterguard check | head`) is not an error worth reporting.
    let _ = guarded.write_all(s.as_bytes()).and_then(|()| guarded.finish());
}

/// An error on standard error, its input-made parts (paths, config text) made safe to print.
fn say(message: &str) {
    eprintln!("meterguard: {}", guard::text(message));
}

/// Config, inputs and options shared by `check` and `diff`: the old side's paths (if any) are read first.
struct Prepared {
    inputs: Inputs,
    opts: Options,
    fail_on: FailOn,
    split: usize,
}

fn prepare(common: &Common, old: Option<&[String]>, new: &[String]) -> Option<Prepared> {
    let config_path = common.config.clone().or_else(|| {
        let cwd = std::env::current_dir().ok()?;
        load::discover(&cwd).map(|p| p.to_string_lossy().into_owned())
    });
    let mut loaded = load_config(config_path.as_deref())?;
    if let Some(v) = &common.kube_version {
        if crate::knowledge::kube_minor(v).is_none() {
            say(&format!("--kube-version {v}: expected 1.NN"));
            return None;
        }
        loaded.config.kube_version = Some(v.clone());
    }
    let mut inputs = Inputs::default();
    if old.is_none() {
        inputs.prune = Some(crate::model::prune::unread_bodies);
    }
    // Only the human report shows snippets of the input; a diff compares trees.
    inputs.release_text = !common.format.contains(&Format::Human);
    if let Some(old) = old {
        inputs.extend_paths(old, common.max_input_bytes);
    }
    let split = inputs.sources.len();
    inputs.extend_paths(new, common.max_input_bytes);
    let config_source = loaded.file.as_deref().map(|f| inputs.add_source_only(f, &loaded.text));
    let fail_on = common.fail_on.unwrap_or(match loaded.config.fail_on {
        Some(FailOnSetting::Warning) => FailOn::Warning,
        Some(FailOnSetting::Info) => FailOn::Info,
        Some(FailOnSetting::Never) => FailOn::Never,
        Some(FailOnSetting::Error) | None => FailOn::Error,
    });
    let opts = Options {
        namespace: common.namespace.clone(),
        config: loaded,
        config_source,
        assume_rules_loaded: common.assume_rules_loaded,
        ignore_non_manifests: common.ignore_non_manifests,
        ..Options::default()
    };
    Some(Prepared { inputs, opts, fail_on, split })
}

fn render_check(
    report: &check::Report<'_>,
    format: Format,
    style: &report::human::Style,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let text = match format {
        Format::Human => return report::human::write(report, style, out),
        Format::Json => return report::json::write(report, out),
        Format::Markdown => report::markdown::render(report),
        Format::Sarif => return report::sarif::write(report, out),
        Format::Github => report::github::render(report),
    };
    out.write_all(text.as_bytes())
}

/// Each `--output` belongs to the `--format` before it on the command line, or, written before
/// every format, to the first format after it (`-o report.sarif --format sarif`); a format without
/// one goes to stdout. Positions come from clap's argument indices.
pub fn pair_outputs(matches: &clap::ArgMatches, common: &mut Common) -> Result<(), String> {
    let Some((_, sub)) = matches.subcommand() else { return Ok(()) };
    let format_at: Vec<usize> = sub.indices_of("format").map(Iterator::collect).unwrap_or_default();
    let output_at: Vec<usize> = sub.indices_of("output").map(Iterator::collect).unwrap_or_default();
    if format_at.is_empty() {
        // Only the default format: its output, if any, is the first one.
        if output_at.len() > 1 {
            return Err("more --output than --format".into());
        }
        common.paired = vec![(common.format[0], common.output.first().cloned())];
        return Ok(());
    }
    let mut paired: Vec<(Format, Option<String>)> = common.format.iter().map(|f| (*f, None)).collect();
    for (i, at) in output_at.iter().enumerate() {
        let before = format_at.iter().rposition(|f| f < at);
        let after = || (0..format_at.len()).find(|&k| format_at[k] > *at && paired[k].1.is_none());
        let Some(owner) = before.or_else(after) else {
            return Err("--output must stand next to the --format it is for".into());
        };
        if paired[owner].1.is_some() {
            return Err("two --output for one --format".into());
        }
        paired[owner].1 = common.output.get(i).cloned();
    }
    if paired.iter().filter(|(_, o)| o.is_none()).count() > 1 {
        return Err("only one --format can go to stdout: give the others an --output".into());
    }
    common.paired = paired;
    Ok(())
}

/// How the guard treats each format's bytes.
fn target(format: Format, common: &Common, to_file: bool) -> guard::Target {
    match format {
        Format::Json | Format::Sarif => guard::Target::Json,
        Format::Github => guard::Target::Github,
        Format::Human => guard::Target::Text { color: style(common, to_file).color },
        Format::Markdown => guard::Target::Text { color: false },
    }
}

/// Renders each requested format to its output, through the guard (`report/guard.rs`) with the
/// input's secrets; false (after saying why) when one cannot be written.
fn write_outputs(
    common: &Common,
    secrets: &std::collections::BTreeSet<String>,
    render: impl Fn(Format, &report::human::Style, &mut dyn Write) -> std::io::Result<()>,
) -> bool {
    let scrub = guard::Scrub::new(secrets);
    let paired = if common.paired.is_empty() {
        common.format.iter().map(|f| (*f, None)).collect()
    } else {
        common.paired.clone()
    };
    for (format, output) in paired {
        match output {
            Some(path) => {
                let written = std::fs::File::create(&path).and_then(|f| {
                    let mut out = std::io::BufWriter::new(f);
                    let mut guarded = guard::Guard::new(&mut out, &scrub, target(format, common, true));
                    render(format, &style(common, true), &mut guarded)?;
                    guarded.finish()
                });
                if let Err(e) = written {
                    say(&format!("cannot write {path}: {e}"));
                    return false;
                }
            }
            None => {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                let mut guarded = guard::Guard::new(&mut out, &scrub, target(format, common, false));
                // A closed pipe (`meterguard check | head`) is not an error worth reporting.
                let _ = render(format, &style(common, false), &mut guarded).and_then(|()| guarded.finish());
            }
        }
    }
    true
}

fn exit_status(report: &check::Report<'_>, fail_on: FailOn) -> i32 {
    if report.has_input_errors() {
        return 2;
    }
    match (fail_on.threshold(), report.worst()) {
        (Some(t), Some(w)) if w >= t => 1,
        _ => 0,
    }
}

/// The human format's style for one output: colour and width from where it goes (a terminal's
/// own width; 100 columns for files and pipes, so that their text does not depend on a window).
fn style(common: &Common, to_file: bool) -> report::human::Style {
    let terminal = !to_file && std::io::stdout().is_terminal();
    let width = match terminal_size::terminal_size_of(std::io::stdout()) {
        Some((terminal_size::Width(w), _)) if terminal => usize::from(w).clamp(60, 200),
        _ => 100,
    };
    report::human::Style { color: use_color(common.color, terminal, to_file), width }
}

/// Each file given with the manifests beside it (regular files named *.yaml, *.yml or *.json in
/// the same directory, links left out), each once, sorted by directory; stdin and directories
/// stay as given.
fn with_siblings(paths: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    for p in paths {
        let path = std::path::Path::new(p);
        if p == "-" || path.is_dir() {
            out.push(p.clone());
            continue;
        }
        out.push(p.clone());
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        dirs.insert(dir.to_path_buf());
    }
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut siblings: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json"))
            .map(
                |p| if dir == std::path::Path::new(".") { p.strip_prefix("./").unwrap_or(&p).to_path_buf() } else { p },
            )
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        siblings.sort();
        out.extend(siblings);
    }
    let mut seen = std::collections::HashSet::new();
    let plain = |p: &str| -> std::path::PathBuf {
        std::path::Path::new(p).components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect()
    };
    out.retain(|p| seen.insert(plain(p)));
    out
}

fn run_check(args: CheckArgs) -> i32 {
    let mut paths = args.paths.clone();
    if paths.is_empty() {
        if std::io::stdin().is_terminal() {
            eprintln!(
                "meterguard: no input: give files or directories, or pipe a render (`helm template . | meterguard check -`)"
            );
            return 2;
        }
        paths.push("-".into());
    }
    if args.with_directories {
        paths = with_siblings(&paths);
    }
    let base = (!args.base.is_empty()).then(|| args.base.clone());
    let Some(p) = prepare(&args.common, base.as_deref(), &paths) else { return 2 };
    check_and_write(&args.common, p, base.is_some())
}

/// The check of what `p` read, with the change findings against its first `split` sources when
/// there is a base; every requested format written; the exit status.
fn check_and_write(common: &Common, mut p: Prepared, with_base: bool) -> i32 {
    let status = if with_base {
        let d = crate::diff::run(&p.inputs, p.split, &p.opts);
        let written = write_outputs(common, &d.check.inputs.secret_values, |format, style, out| {
            render_check(&d.check, format, style, out)
        });
        let status = if written { exit_status(&d.check, p.fail_on) } else { 2 };
        leave(d);
        status
    } else {
        let (report, a) = check::run_keeping(&mut p.inputs, &p.opts);
        let written = write_outputs(common, &report.inputs.secret_values, |format, style, out| {
            render_check(&report, format, style, out)
        });
        let status = if written { exit_status(&report, p.fail_on) } else { 2 };
        leave((report, a));
        status
    };
    leave(p);
    status
}

/// Ends the life of the run's trees without freeing them node by node: the process exits right
/// after, the system takes the memory back at once, and on a large render the frees cost a tenth of
/// the run (measured with perf on 10k objects).
fn leave<T>(value: T) {
    std::mem::forget(value);
}

fn run_helm(args: HelmArgs) -> i32 {
    let base = (!args.base.is_empty()).then(|| args.base.clone());
    let Some(mut p) = prepare(&args.common, base.as_deref(), &[]) else { return 2 };
    let roots = crate::helm::chart_roots(&args.charts);
    if roots.is_empty() {
        eprintln!("meterguard: no Helm chart (a directory with Chart.yaml) holds the given paths");
        return 2;
    }
    let mut helm_args: Vec<String> = Vec::new();
    if args.common.namespace != "default" {
        helm_args.extend(["--namespace".to_owned(), args.common.namespace.clone()]);
    }
    for v in &args.values {
        helm_args.extend(["-f".to_owned(), v.clone()]);
    }
    for s in &args.set {
        helm_args.extend(["--set".to_owned(), s.clone()]);
    }
    helm_args.extend(args.helm_args.iter().cloned());
    for chart in &roots {
        let release = args.release.clone().unwrap_or_else(|| {
            chart.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "release".into())
        });
        // The values files given (the hook's changed files) are layered over the configured ones.
        let mut chart_args = helm_args.clone();
        for v in crate::helm::changed_values(&args.charts, chart) {
            if !args.values.contains(&v) {
                chart_args.extend(["-f".to_owned(), v]);
            }
        }
        if let Err(e) = crate::helm::render(&mut p.inputs, chart, &release, &chart_args) {
            say(&e.to_string());
            return 2;
        }
    }
    check_and_write(&args.common, p, base.is_some())
}

fn run_diff(args: DiffArgs) -> i32 {
    if args.old == "-" && args.new == "-" {
        eprintln!("meterguard: only one of OLD and NEW can be `-`");
        return 2;
    }
    let Some(p) = prepare(&args.common, Some(std::slice::from_ref(&args.old)), std::slice::from_ref(&args.new)) else {
        return 2;
    };
    let d = crate::diff::run(&p.inputs, p.split, &p.opts);
    let settings = report::annotate::Settings { context: args.context, show_noise: args.show_noise, split: p.split };
    let written = write_outputs(&args.common, &d.check.inputs.secret_values, |format, style, out| {
        let text = match format {
            Format::Human => report::human::render_diff(&d, &settings, args.all, style),
            Format::Json => return report::json::write_diff(&d, args.all, args.show_noise, out),
            Format::Markdown => report::markdown::render_diff(&d, &settings, args.all),
            Format::Sarif => return report::sarif::write(&d.check, out),
            Format::Github => report::github::render(&d.check),
        };
        out.write_all(text.as_bytes())
    });
    let status = if written { exit_status(&d.check, p.fail_on) } else { 2 };
    leave(d);
    leave(p);
    status
}

fn init(dir: &str, force: bool) -> i32 {
    let dir = std::path::Path::new(dir);
    let config = dir.join(load::FILE_NAME);
    if config.exists() && !force {
        say(&format!("{} exists; use --force to overwrite it", config.display()));
        return 2;
    }
    let schema = serde_json::to_string_pretty(&load::schema()).unwrap_or_default() + "\n";
    let written = std::fs::write(&config, load::STARTER)
        .and_then(|()| std::fs::write(dir.join(".meterguard.schema.json"), schema));
    match written {
        Ok(()) => {
            print(&format!("wrote {} and .meterguard.schema.json\n", config.display()));
            0
        }
        Err(e) => {
            say(&format!("cannot write {}: {e}", config.display()));
            2
        }
    }
}

/// The config at `path`, or the defaults; None (after saying why) when it is invalid.
fn load_config(path: Option<&str>) -> Option<Loaded> {
    let ids: Vec<&str> = rules::all().map(|r| r.id).collect();
    let loaded = path.map(load::load_file).map(|l| l.and_then(|l| load::check_rule_ids(&l, &ids).map(|()| l)));
    match loaded {
        None => Some(Loaded::default()),
        Some(Ok(l)) => Some(l),
        Some(Err(e)) => {
            say(&format!("invalid config: {e}"));
            None
        }
    }
}
