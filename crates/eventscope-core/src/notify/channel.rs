//! How each channel formats a rendered notification, as the platform's deliverers do: in-app
//! keeps title and body, push shortens them for a phone's banner, email has a subject and a
//! body as text and as escaped HTML.

use serde::{Deserialize, Serialize};
#[cfg(test)]
use ts_rs::TS;

use super::rules::Channel;

/// Characters of a push title a phone shows before cutting it.
pub const PUSH_TITLE_CHARS: usize = 65;
/// Characters of a push body.
pub const PUSH_BODY_CHARS: usize = 178;

/// One channel's rendering of a notification, as its recipient would see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub channel: Channel,
    /// The title; an email's subject.
    pub title: String,
    /// The body as text.
    pub body: String,
    /// Email only: the body as HTML, every character of the text escaped.
    pub html: Option<String>,
}

/// The title and body rendered for `channel` (its own templates when the rule has them).
pub(crate) fn format(channel: Channel, title: &str, body: &str) -> Message {
    match channel {
        Channel::Websocket => Message {
            channel,
            title: title.to_string(),
            body: body.to_string(),
            html: None,
        },
        Channel::Push => Message {
            channel,
            title: truncate(&one_line(title), PUSH_TITLE_CHARS),
            body: truncate(&one_line(body), PUSH_BODY_CHARS),
            html: None,
        },
        Channel::Email => Message {
            channel,
            title: one_line(title),
            body: body.to_string(),
            html: Some(html(body)),
        },
    }
}

/// Whitespace runs (line breaks too) as one space, trimmed: a banner and a subject are one line.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters (Unicode scalar values): a longer text keeps `max - 1` and ends
/// with "…", never cutting a character in two.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", keep.trim_end())
}

/// The text as HTML: every `&`, `<`, `>`, `"` and `'` escaped, paragraphs at blank lines and
/// `<br>` at single line breaks. Nothing of the text can become markup.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str("<p>");
    let normalized = text.replace("\r\n", "\n");
    let mut paragraphs = normalized.split("\n\n").peekable();
    while let Some(p) = paragraphs.next() {
        for (i, line) in p.split('\n').enumerate() {
            if i > 0 {
                out.push_str("<br>");
            }
            escape_into(line, &mut out);
        }
        if paragraphs.peek().is_some() {
            out.push_str("</p><p>");
        }
    }
    out.push_str("</p>");
    out
}

fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}
