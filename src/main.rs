use clap::Parser;

fn main() {
    let cli = meterguard::cli::Cli::parse();
    std::process::exit(meterguard::cli::run(cli));
}
