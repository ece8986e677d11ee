//! `completions SHELL`: the completion script, as committed in `completions/`.

use clap::CommandFactory;

use super::Run;
use crate::cli::{Cli, Completions};
use crate::config::Config;
use crate::error::Result;

impl Run for Completions {
    fn run(&self, _cfg: &Config) -> Result<()> {
        let mut buf = Vec::new();
        clap_complete::generate(self.shell, &mut Cli::command(), "mex2fa", &mut buf);
        crate::ui::out(&String::from_utf8_lossy(&buf));
        Ok(())
    }
}
