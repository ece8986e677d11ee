//! `completions SHELL`: the completion script, as committed in `completions/`.

use clap::CommandFactory;
use clap_complete::Shell;

use super::Run;
use crate::cli::{Cli, Completions};
use crate::config::Config;
use crate::error::Result;
use crate::ui;

/// clap_complete's fish generator leaves positional arguments out; the one
/// with fixed values (the shell names) is added by hand.
const FISH_SHELL_NAMES: &str = "complete -c mex2fa -n \"__fish_mex2fa_using_subcommand completions\" -f -a \"bash elvish fish powershell zsh\"\n";

/// The script for `shell`, exactly as committed in `completions/`.
pub fn script(shell: Shell) -> String {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "mex2fa", &mut buf);
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if shell == Shell::Fish {
        text.push_str(FISH_SHELL_NAMES);
    }
    text
}

impl Run for Completions {
    fn run(&self, cfg: &Config) -> Result<()> {
        let text = script(self.shell);
        if cfg.json {
            ui::json(&serde_json::json!({ "shell": self.shell.to_string(), "script": text }));
        } else {
            ui::out(&text);
        }
        Ok(())
    }
}
