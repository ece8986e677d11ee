//! mex2fa as a library: the domain modules (`db`, `crypto`, `totp`, `qr`)
//! know nothing of the command line; `cli` and `cmd` are the command line.
//! The binary (`src/main.rs`) only calls [`main`]; the fuzz targets and
//! property tests call the domain modules directly.

pub mod backup;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod files;
pub mod qr;
pub mod spool;
pub mod totp;
pub mod ui;

use std::process::ExitCode;

use crate::cmd::Run;
use crate::error::{Error, Exit};

/// Parse → checked configuration → run → exit code (contract §6).
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let json = args.iter().any(|a| a == "--json");
    match run(args) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => report(e, json),
    }
}

fn run(args: Vec<std::ffi::OsString>) -> error::Result<()> {
    config::load_env_file(&args)?;
    config::drop_empty_settings();
    use clap::{CommandFactory, FromArgMatches};
    let matches = cli::Cli::command()
        .try_get_matches_from(args)
        .map_err(clap_error)?;
    let cli = cli::Cli::from_arg_matches(&matches).map_err(clap_error)?;
    let db_on_command_line =
        matches.value_source("db") == Some(clap::parser::ValueSource::CommandLine);
    let cfg = config::Config::new(&cli.global, db_on_command_line).map_err(config::explain)?;
    cli.command.run(&cfg).map_err(config::explain)
}

/// clap's own errors become one line and exit 2; help and version print as usual.
fn clap_error(e: clap::Error) -> Error {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return Error::Silent(
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                Exit::Usage
            } else {
                Exit::Ok
            },
        );
    }
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    Error::usage(format!("{}; see mex2fa --help", ui::escape(first)))
}

fn report(e: Error, json: bool) -> ExitCode {
    let exit = e.exit();
    if !matches!(e, Error::Silent(_)) {
        eprintln!("mex2fa: {e}");
        if json {
            ui::json(&serde_json::json!({
                "error": e.kind(),
                "message": e.to_string(),
                "exit": exit as u8,
            }));
        }
    }
    exit.into()
}
