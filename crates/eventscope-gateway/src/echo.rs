//! What the gateway repeats of a client's input, in `error` frames and in logs: a short prefix,
//! never the whole request, and in logs with control characters escaped.
//!
//! A client chooses what it sends; echoing it whole let one client multiply its own bytes in the
//! gateway's memory and fill the disk through the log, and raw newlines or ANSI codes in a log
//! line can forge other lines or repaint an operator's terminal.

use eventscope_core::gateway::protocol::MAX_ECHO_BYTES;

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// An `error` frame's message, at most a few hundred bytes whatever the request held.
pub fn message(text: String) -> String {
    // Twice the echo: the message's own words around an echoed prefix.
    let max = 2 * MAX_ECHO_BYTES;
    if text.len() <= max {
        return text;
    }
    format!("{}… ({} bytes in all)", prefix(&text, max), text.len())
}

/// Client input for a log line: at most [`MAX_ECHO_BYTES`] of it, with control characters (a
/// newline, the escape that starts an ANSI sequence) written as escapes, and its full length
/// when it was cut.
pub fn shown(text: &str) -> String {
    let cut = prefix(text, MAX_ECHO_BYTES);
    let mut out = String::with_capacity(cut.len() + 24);
    for c in cut.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if cut.len() < text.len() {
        out.push_str(&format!("… ({} bytes)", text.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_input_is_short_and_on_one_line() {
        assert_eq!(shown("events.org_1.>"), "events.org_1.>");
        assert_eq!(shown("u\n\u{1b}[31mroot"), "u\\n\\u{1b}[31mroot");
        let long = "é".repeat(300);
        let got = shown(&long);
        assert!(got.starts_with(&"é".repeat(100)), "{got}");
        assert!(got.ends_with("… (600 bytes)"), "{got}");
    }

    #[test]
    fn error_messages_are_cut_on_a_character_boundary() {
        assert_eq!(message("short".into()), "short");
        let long = format!("topic {:?} is bad", "\u{300}".repeat(1000));
        let got = message(long.clone());
        assert!(got.len() < 2 * MAX_ECHO_BYTES + 40, "{}", got.len());
        assert!(got.ends_with(&format!("… ({} bytes in all)", long.len())));
    }
}
