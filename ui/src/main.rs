fn main() -> std::process::ExitCode {
    bosun_ui::cli::main()
}
