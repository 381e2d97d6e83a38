//! Errors as the UI receives them: `{code, message}`, a code only where the UI branches.

use eventscope_core::wire::WireError;
use serde::Serialize;

#[derive(Debug)]
pub struct CommandError(WireError);

impl CommandError {
    pub fn new(code: &str, message: impl Into<String>) -> CommandError {
        CommandError(WireError {
            code: Some(code.to_string()),
            message: message.into(),
        })
    }

    pub fn plain(message: impl std::fmt::Display) -> CommandError {
        CommandError(WireError {
            code: None,
            message: message.to_string(),
        })
    }
}

impl Serialize for CommandError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

pub type CommandResult<T> = Result<T, CommandError>;
