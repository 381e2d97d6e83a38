//! `scenario run` and `scenario check`: a scenario file validated (exit 2 with the file
//! position), run against the bus with one line per step (exit 1 when a step failed), and a
//! JUnit report for CI.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Map;
use tokio_util::sync::CancellationToken;

use eventscope_core::publish as core_publish;
use eventscope_core::scenario::{self, RunReport, Scenario};
use eventscope_core::wire::{ConnectionProfile, StepStatus, StepUpdate};

use crate::args::{ScenarioCheckArgs, ScenarioCommand, ScenarioRunArgs};
use crate::failure;
use crate::publish::key_value;

/// Exit code of a scenario that is not valid.
const INVALID: u8 = 2;

pub async fn run(command: ScenarioCommand) -> ExitCode {
    match command {
        ScenarioCommand::Check(args) => match load(&args) {
            Ok(Ok(s)) => {
                println!("{}: {} steps, valid", args.file, s.steps.len());
                ExitCode::SUCCESS
            }
            Ok(Err(line)) => invalid(&line),
            Err(err) => failure::exit_code(Err(err)),
        },
        ScenarioCommand::Run(args) => match load(&args.check) {
            Ok(Ok(s)) => match run_scenario(&args, &s).await {
                Ok(report) if report.passed() => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(err) => failure::exit_code(Err(err)),
            },
            Ok(Err(line)) => invalid(&line),
            Err(err) => failure::exit_code(Err(err)),
        },
    }
}

fn invalid(line: &str) -> ExitCode {
    eprintln!("error: {line}");
    ExitCode::from(INVALID)
}

/// The scenario, or the line that says why it is invalid (`FILE:LINE:COL: what`); `Err` when the
/// file cannot be read or a `--var` is malformed.
fn load(args: &ScenarioCheckArgs) -> Result<Result<Scenario, String>> {
    let mut vars = Map::new();
    for text in &args.vars {
        let (key, value) = key_value("--var", text)?;
        vars.insert(key, value);
    }
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file))?;
    Ok(scenario::parse(&text, &vars).map_err(|e| format!("{}:{e}", args.file)))
}

async fn run_scenario(args: &ScenarioRunArgs, s: &Scenario) -> Result<RunReport> {
    let read_only = core_publish::read_only_from_env();
    let profile = ConnectionProfile {
        servers: vec![args.server.nats_url.clone()],
        ..ConnectionProfile::default()
    };
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
    });
    let json = args.json;
    let mut stdout = std::io::stdout();
    let mut write_error = None;
    let report = scenario::run(s, &profile, read_only, &cancel, |u| {
        if u.status == StepStatus::Running || write_error.is_some() {
            return;
        }
        let result = if json {
            serde_json::to_writer(&mut stdout, u)
                .map_err(std::io::Error::from)
                .and_then(|_| writeln!(stdout))
        } else {
            writeln!(stdout, "{}", step_line(u))
        };
        if let Err(e) = result.and_then(|_| stdout.flush()) {
            write_error = Some(e);
        }
    })
    .await
    .map_err(|e| match e {
        scenario::RunError::Publish(e @ core_publish::PublishError::ReadOnly) => {
            anyhow::Error::from(e).context(format!("{} is set", core_publish::READ_ONLY_ENV))
        }
        e => anyhow::Error::from(e),
    })?;
    if let Some(e) = write_error {
        return Err(e).context("cannot write the report");
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit(s, &report)).with_context(|| format!("cannot write {path}"))?;
    }
    let failed = report
        .steps
        .iter()
        .filter(|u| u.status != StepStatus::Passed)
        .count();
    if !json {
        println!(
            "{} {} of {} steps passed in {}",
            if failed == 0 { "passed:" } else { "failed:" },
            report.steps.len() - failed,
            report.steps.len(),
            human(report.elapsed)
        );
    }
    Ok(report)
}

/// `✓ create 12 ms`, or `✗ completed 5.0 s` and the message's lines indented.
fn step_line(u: &StepUpdate) -> String {
    let mark = match u.status {
        StepStatus::Passed => "✓",
        StepStatus::Skipped => "-",
        _ => "✗",
    };
    let mut line = format!(
        "{mark} {} {}",
        u.name,
        human(Duration::from_millis(u.elapsed_ms))
    );
    if let Some(message) = &u.message {
        for l in message.lines() {
            line.push_str("\n    ");
            line.push_str(l.trim_start());
        }
    }
    line
}

fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// JUnit XML: one testsuite for the scenario, one testcase per step, failures with the message.
fn junit(s: &Scenario, report: &RunReport) -> String {
    let suite = if s.name.is_empty() {
        "scenario"
    } else {
        &s.name
    };
    let failures = report
        .steps
        .iter()
        .filter(|u| u.status == StepStatus::Failed)
        .count();
    let skipped = report
        .steps
        .iter()
        .filter(|u| u.status == StepStatus::Skipped)
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    out.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">\n",
        xml(suite),
        report.steps.len(),
        report.elapsed.as_secs_f64()
    ));
    for u in &report.steps {
        out.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
            xml(&u.name),
            xml(suite),
            u.elapsed_ms as f64 / 1000.0
        ));
        match (u.status, &u.message) {
            (StepStatus::Failed, message) => {
                let message = message.as_deref().unwrap_or("failed");
                out.push_str(&format!(
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                    xml(message.lines().next().unwrap_or("")),
                    u.kind,
                    xml(message)
                ));
            }
            (StepStatus::Skipped, _) => out.push_str(">\n      <skipped/>\n    </testcase>\n"),
            _ => out.push_str("/>\n"),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Text and attribute escaping; characters XML 1.0 cannot hold at all are dropped.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_what_it_must() {
        assert_eq!(xml("a<b>&\"c'\u{1}\n"), "a&lt;b&gt;&amp;&quot;c&apos;\n");
    }
}
