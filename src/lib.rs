//! mex2fa as a library: the domain modules (`db`, `crypto`, `totp`, `qr`)
//! know nothing of the command line; `cli` and `cmd` are the command line.
//! The binary (`src/main.rs`) only calls [`main`]; the fuzz targets and
//! property tests call the domain modules directly, the power-loss test
//! runs whole commands through [`run_args`].

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

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::cmd::Run;
use crate::error::{Error, Exit};

/// Parse → checked configuration → run → exit code (contract §6).
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // The `.env` file and the dropping of empty settings edit the process
    // environment: here, before any thread exists, and not in `run_args`.
    let prepared = config::load_env_file(&args).map(|()| config::drop_empty_settings());
    ExitCode::from(match prepared {
        Ok(()) => run_args(args),
        Err(e) => report(e, wants_json(&args)),
    })
}

/// Runs mex2fa on `args` (the program name first) as [`main`] does, and
/// returns the exit code; for running commands in process (the power-loss
/// test). Unlike `main` it reads no `.env` file (`--env-file` is accepted and
/// ignored) and never edits the process environment, so several threads may
/// call it at once; settings come from flags, else from the environment.
pub fn run_args(args: Vec<OsString>) -> u8 {
    let json = wants_json(&args);
    match run(args) {
        Ok(()) => Exit::Ok as u8,
        Err(e) => report(e, json),
    }
}

fn wants_json(args: &[OsString]) -> bool {
    args.iter().any(|a| a == "--json")
}

fn run(args: Vec<OsString>) -> error::Result<()> {
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return Err(clap_error(e)),
    };
    let cfg = config::Config::new(&cli.global)?;
    cli.command.run(&cfg)
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

fn report(e: Error, json: bool) -> u8 {
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
    exit as u8
}
