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

use clap::Parser;

use crate::cmd::Run;
use crate::error::{Error, Exit};

/// Parse → checked configuration → run → exit code (contract §6).
pub fn main() -> ExitCode {
    // A TAB in a shell that sourced `mex2fa completions SHELL` lands here.
    cmd::completions::answer_if_asked();
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
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return Err(clap_error(e)),
    };
    let cfg = config::Config::new(&cli.global)?;
    cli.command.run(&cfg)
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
        let _ = e.print();
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
