//! `generate`: the manual page and the shell completions, written from the same definitions the
//! parser uses, so the packages never document a flag that does not exist.

use std::io::{self, Write};

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::{Cli, Generated};

pub fn run(what: Generated) -> Result<()> {
    let mut command = Cli::command();
    let mut out = io::stdout().lock();
    let shell = match what {
        Generated::Man => {
            return clap_mangen::Man::new(command)
                .render(&mut out)
                .and_then(|()| out.flush())
                .context("cannot write the manual page")
        }
        Generated::Bash => Shell::Bash,
        Generated::Zsh => Shell::Zsh,
        Generated::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut command, "eventscope-cli", &mut out);
    out.flush().context("cannot write the completions")
}
