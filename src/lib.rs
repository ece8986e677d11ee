//! mex2fa as a library: the domain modules (`db`, `crypto`, `totp`, `qr`)
//! know nothing of the command line; `cli` and `cmd` are the command line.
//! The binary (`src/main.rs`) only calls [`main`]; the fuzz targets and
//! property tests call the domain modules directly, the power-loss test
//! runs whole commands through [`run_args`].

// Output goes through `ui`, whose writers never panic on a closed or full
// stream (`println!` and `eprintln!` do, after the work is done).
#![deny(clippy::print_stdout, clippy::print_stderr)]

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
pub mod transfer;
pub mod ui;

use std::ffi::OsString;
use std::process::ExitCode;

use crate::cmd::Run;
use crate::error::{Error, Exit};

/// Parse → checked configuration → run → exit code (the README's exit-code table).
pub fn main() -> ExitCode {
    // A TAB in a shell that sourced `mex2fa completions SHELL` lands here.
    cmd::completions::answer_if_asked();
    let args: Vec<OsString> = std::env::args_os().collect();
    // The `.env` file and the dropping of empty settings edit the process
    // environment: here, before any thread exists, and not in `run_args`.
    let exit = match config::load_env_file(&args).map(|()| config::drop_empty_settings()) {
        Ok(()) => exit_of(args),
        Err(e) => report(e, wants_json(&args)),
    };
    settle(exit)
}

/// Runs mex2fa on `args` (the program name first) as [`main`] does, and
/// returns the exit code; for running commands in process (the power-loss
/// test). Unlike `main` it reads no `.env` file (`--env-file` is accepted and
/// ignored) and never edits the process environment, so several threads may
/// call it at once; settings come from flags, else from the environment.
pub fn run_args(args: Vec<OsString>) -> u8 {
    exit_of(args) as u8
}

fn exit_of(args: Vec<OsString>) -> Exit {
    let json = wants_json(&args);
    match run(args) {
        Ok(()) => Exit::Ok,
        Err(e) => report(e, json),
    }
}

/// The exit code once stdout's fate is known. Output that could not be
/// written is a failure, never a success: a key or a report that did not
/// arrive is lost. A closed pipe (`| head`) gives 141, what a process ended
/// by SIGPIPE reports; any other write error, exit 5. A command that failed
/// keeps its own code either way.
fn settle(exit: Exit) -> ExitCode {
    if exit != Exit::Ok {
        return exit.into();
    }
    match ui::stdout_lost() {
        None => Exit::Ok.into(),
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(141),
        Some(e) => {
            ui::message(&format!(
                "mex2fa: cannot write to stdout: {e}; the command itself completed, but its output is lost"
            ));
            Exit::Database.into()
        }
    }
}

fn wants_json(args: &[OsString]) -> bool {
    args.iter().any(|a| a == "--json")
}

fn run(args: Vec<OsString>) -> error::Result<()> {
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

/// clap's own errors become one line and exit 2, keeping clap's suggestion
/// of what was meant; help and version print as usual.
fn clap_error(e: clap::Error) -> Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        if let Err(err) = e.print()
            && !e.use_stderr()
        {
            ui::lose_stdout(err);
        }
        return Error::Silent(
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                Exit::Usage
            } else {
                Exit::Ok
            },
        );
    }
    // The first paragraph: the message, with what it lists (the missing
    // arguments, the possible values) on the lines under it.
    let rendered = e.render().to_string();
    let first: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let first = match first.join(" ").trim_start_matches("error: ") {
        "" => "invalid arguments".to_string(),
        text => text.to_string(),
    };
    // `see mex2fa rotate-key --help` when the mistake is in a subcommand.
    let command: Vec<&str> = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .unwrap_or("mex2fa")
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    let see = format!("see {} --help", command.join(" "));
    let meant = [
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
    ]
    .into_iter()
    .find_map(|kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(vec![s.clone()]),
        Some(ContextValue::Strings(v)) if !v.is_empty() => Some(v.clone()),
        _ => None,
    });
    let line = if let Some(meant) = meant {
        let quoted: Vec<String> = meant.iter().map(|m| format!("'{m}'")).collect();
        format!("{first}; did you mean {}? {see}", quoted.join(" or "))
    } else if let Some(ContextValue::StyledStrs(tips)) = e.get(ContextKind::Suggested) {
        // clap's other tips, e.g. how to pass a value that starts with '-'.
        let tips: Vec<String> = tips.iter().map(|t| t.to_string().trim().into()).collect();
        format!("{first}; {}; {see}", tips.join("; "))
    } else {
        format!("{first}; {see}")
    };
    Error::usage(ui::escape(&line).into_owned())
}

/// Prints an error (stderr, and the JSON document with `--json`); its exit code.
fn report(e: Error, json: bool) -> Exit {
    let exit = e.exit();
    if !matches!(e, Error::Silent(_)) {
        ui::message(&format!("mex2fa: {e}"));
        if json {
            ui::json(&serde_json::json!({
                "error": e.kind(),
                "message": e.to_string(),
                "exit": exit as u8,
            }));
        }
    }
    exit
}
