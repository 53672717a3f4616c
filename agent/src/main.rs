//! The `bosun-agent` command: a thin shell over the library's command line.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    bosun_agent::cli::main()
}
