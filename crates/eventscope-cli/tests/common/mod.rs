//! What every test of the built `eventscope-cli` binary does: start it with piped output and no
//! NATS URL from the environment, and wait for it within a bound.
// Each test file uses the part it needs.
#![allow(dead_code)]

use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_eventscope-cli");
pub const WAIT: Duration = Duration::from_secs(30);

pub fn cli(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("EVENTSCOPE_NATS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

pub async fn finish(child: Child) -> Output {
    tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("the CLI finishes in time")
        .expect("the CLI runs")
}
