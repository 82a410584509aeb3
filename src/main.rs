//! `hbx-sa`: starts the command line (`hbx_service_accounts::cli`).

fn main() -> std::process::ExitCode {
    hbx_service_accounts::cli::main()
}
