//! How a command fails: one line on stderr, `error: <what failed>: <cause>`, and a non-zero
//! exit code (2 for usage errors, as clap has it).

use std::io;
use std::process::ExitCode;

/// Help and version as clap prints them; a usage error as one line, like every other failure,
/// with clap's exit code for usage errors.
pub fn usage(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        err.exit();
    }
    let rendered = err.render().to_string();
    let message = rendered.split("\n\n").next().unwrap_or_default();
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .unwrap_or("error: invalid arguments")
        .to_string();
    let rest: Vec<&str> = lines.collect();
    let line = if rest.is_empty() {
        first
    } else {
        format!("{first} {}", rest.join(", "))
    };
    eprintln!("{line} (see --help)");
    ExitCode::from(2)
}

/// The error chain as one line. Some errors repeat their cause in their own message; the
/// repetition is dropped.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace(['\n', '\r'], " ")
}

/// The exit code of a command's result; a failure is said on stderr first.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Piped into `head`: the reader has what it wanted.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_causes_are_said_once() {
        let inner = anyhow::anyhow!("refused").context("IO error: refused");
        let err = inner.context("cannot connect to x");
        assert_eq!(one_line(&err), "cannot connect to x: IO error: refused");
    }
}
