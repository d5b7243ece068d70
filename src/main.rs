//! The `campanile` binary: parse the command line, run the library.

use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    campanile::telemetry::init_logging("info");
    let cli = campanile::cli::Cli::parse();
    match campanile::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("campanile: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
