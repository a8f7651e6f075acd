fn main() {
    std::process::exit(meterguard::cli::main());
}
