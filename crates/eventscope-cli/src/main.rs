//! `eventscope-cli`: tail, publish, simulate and count platform events from a terminal or a script.
//!
//! Its flags and output formats are a contract that scripts rely on: change them only in ways
//! that keep old invocations working. Every failure ends with one line on stderr,
//! `error: <what failed>: <cause>`, and a non-zero exit code.

mod args;
mod bus;
mod failure;
mod generate;
mod history;
mod notify;
mod print;
mod publish;
mod record;
mod scenario;
mod simulate;
mod stats;
mod tail;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return failure::usage(err),
    };
    let cli = match cli.command {
        Command::Scenario(command) => return scenario::run(command).await,
        Command::Notify(args) => return notify::run(args).await,
        _ => cli,
    };
    failure::exit_code(match cli.command {
        Command::Tail(args) => tail::run(args).await,
        Command::Publish(args) => publish::run(args).await,
        Command::Simulate(args) => simulate::run(args).await,
        Command::Stats(args) => stats::run(args).await,
        Command::History(args) => history::run(args).await,
        Command::Record(args) => record::run(args).await,
        Command::Generate { what } => generate::run(what),
        Command::Scenario(_) | Command::Notify(_) => unreachable!("handled above"),
    })
}
