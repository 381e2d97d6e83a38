//! Errors as the UI receives them: `{code, message}`, a code only where the UI branches. Every
//! code is chosen here, from the core's error types, so the commands only say `?`.

use eventscope_core::compose::ComposeError;
use eventscope_core::filter::ParseError;
use eventscope_core::profile::ProfileError;
use eventscope_core::publish::PublishError;
use eventscope_core::scenario::RunError;
use eventscope_core::source::SourceError;
use eventscope_core::wire::{ErrorCode, WireError};
use serde::Serialize;

#[derive(Debug)]
pub struct CommandError(WireError);

pub type CommandResult<T> = Result<T, CommandError>;

impl CommandError {
    fn coded(code: ErrorCode, message: impl Into<String>) -> CommandError {
        CommandError(WireError {
            code: Some(code),
            message: message.into(),
        })
    }

    /// A failure the UI only shows.
    pub fn plain(message: impl std::fmt::Display) -> CommandError {
        CommandError(WireError {
            code: None,
            message: message.to_string(),
        })
    }

    /// A request field the user must fix.
    pub fn invalid_input(message: impl Into<String>) -> CommandError {
        CommandError::coded(ErrorCode::InvalidInput, message)
    }

    /// The event `seq` is no longer held.
    pub fn evicted(seq: u64) -> CommandError {
        CommandError::coded(
            ErrorCode::Evicted,
            format!("event #{seq} is no longer held"),
        )
    }
}

/// A profile that is wrong in itself is `invalid_input` (the dialog stays open for a fix);
/// anything else failed on the way to the server: `connect_failed`.
impl From<SourceError> for CommandError {
    fn from(e: SourceError) -> CommandError {
        let code = if e.is_invalid_input() {
            ErrorCode::InvalidInput
        } else {
            ErrorCode::ConnectFailed
        };
        CommandError::coded(code, e.to_string())
    }
}

/// A nats context the profile names that is gone or unusable is a field to fix; anything else
/// failed on the way to the disk.
impl From<ProfileError> for CommandError {
    fn from(e: ProfileError) -> CommandError {
        match e {
            ProfileError::Context(_) => CommandError::invalid_input(e.to_string()),
            _ => CommandError::plain(e),
        }
    }
}

/// A read-only connection has its own code (the composer says so instead of a red error); an
/// envelope to fix is `invalid_input`.
impl From<ComposeError> for CommandError {
    fn from(e: ComposeError) -> CommandError {
        if e.is_read_only() {
            CommandError::coded(ErrorCode::ReadOnly, e.to_string())
        } else if e.is_invalid_input() {
            CommandError::invalid_input(e.to_string())
        } else {
            CommandError::plain(e)
        }
    }
}

impl From<PublishError> for CommandError {
    fn from(e: PublishError) -> CommandError {
        ComposeError::from(e).into()
    }
}

/// A scenario that cannot connect failed on the way to the server; one refused as read-only
/// says so with its code.
impl From<RunError> for CommandError {
    fn from(e: RunError) -> CommandError {
        match e {
            RunError::Connect(e) => e.into(),
            RunError::Publish(e) => e.into(),
        }
    }
}

impl From<ParseError> for CommandError {
    fn from(e: ParseError) -> CommandError {
        CommandError::coded(ErrorCode::InvalidFilter, e.to_string())
    }
}

impl Serialize for CommandError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}
