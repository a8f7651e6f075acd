//! What every fuzz target does after building its input: run the pipeline and every output format,
//! because a panic in a renderer is as fatal to a CI gate as one in the parser.

use meterguard::check::{self, Options};
use meterguard::input::Inputs;
use meterguard::report;

pub fn check_all_formats(inputs: &Inputs) {
    let report = check::run(inputs, &Options::default());
    let style = report::human::Style { color: false, width: 100 };
    let _ = report::human::render(&report, &style);
    let _ = report::json::render(&report);
    let _ = report::markdown::render(&report);
    let _ = report::sarif::render(&report);
    let _ = report::github::render(&report);
}

pub fn diff_all_formats(inputs: &Inputs, split: usize) {
    let opts = Options::default();
    let d = meterguard::diff::run(inputs, split, &opts);
    let settings = report::annotate::Settings { context: 3, show_noise: true, split };
    let style = report::human::Style { color: false, width: 100 };
    let _ = report::human::render_diff(&d, &settings, true, &style);
    let _ = report::json::render_diff(&d, true, true);
    let _ = report::markdown::render_diff(&d, &settings, true);
    let _ = report::sarif::render(&d.check);
}
