//! The query parser: recursive descent over the query's bytes, with byte positions in every
//! error and a depth bound, so that no input can make it panic or overflow the stack.

use chrono::{DateTime, Datelike};

use super::{
    Bound, Compare, EnvField, Expr, Flag, Glob, ParseError, Path, Regex, Root, Term, Text, Time,
    MAX_DEPTH,
};
use crate::topic::TopicPattern;

/// Duration units, smallest first, in milliseconds.
pub(super) const UNITS: [(&str, i64); 5] = [
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
];

/// Every name a term can start with, for "did you mean".
const KEYS: [&str; 15] = [
    "org",
    "source",
    "resource",
    "event",
    "name",
    "id",
    "resourceId",
    "subject",
    "payload",
    "metadata",
    "has",
    "is",
    "after",
    "before",
    "last",
];

/// Regexes run on every held event: their compiled size is bounded.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub(super) fn parse(query: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        text: query,
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.at_end() {
        return Ok(Expr::And(Vec::new()));
    }
    let expr = p.or_expr()?;
    p.skip_ws();
    if !p.at_end() {
        // Only a stray `)` stops `or_expr` before the end.
        return Err(p.error_here(1, "unexpected `)` without a matching `(`"));
    }
    Ok(expr)
}

/// Characters a bare field value may hold; others need quotes.
pub(super) fn bare_value_char(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || matches!(c, '(' | ')' | ',' | '"' | '\\'))
}

/// Characters the printer leaves bare in free text. Narrower than what the parser accepts, so
/// that a bare word never reads back as a field, a regex or an operator.
pub(super) fn plain_text_char(c: char) -> bool {
    c.is_alphanumeric() || "_-.@#$%&+=!?~^'[]{}|;,".contains(c)
}

fn key_start_char(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '$' | '@' | '.')
}

/// A separator after a term: the next term may start there.
fn ends_term(c: char) -> bool {
    c.is_whitespace() || c == '(' || c == ')'
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

/// The comparison between a key and its value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Colon,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Colon => ":",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn error(&self, pos: usize, end: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            pos,
            end: end.max(pos),
            message: message.into(),
            suggestion: None,
        }
    }

    /// An error on the next `len` bytes (clamped to a character boundary).
    fn error_here(&self, len: usize, message: impl Into<String>) -> ParseError {
        let mut end = (self.pos + len).min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end += 1;
        }
        self.error(self.pos, end, message)
    }

    /// Is the next word exactly `word`, standing alone?
    fn at_keyword(&self, word: &str) -> bool {
        self.rest().strip_prefix(word).is_some_and(|after| {
            after.is_empty() || after.starts_with(|c: char| c.is_whitespace() || c == '(')
        })
    }

    /// One level deeper, for the `(` or `-` at `start`.
    fn enter(&mut self, start: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let message = format!("nested deeper than {MAX_DEPTH} levels");
            return Err(self.error(start, start + 1, message));
        }
        Ok(())
    }

    /// `and_expr { "OR" and_expr }`; stops before a `)` or at the end.
    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        let mut branches = Vec::new();
        loop {
            push_flat(&mut branches, self.and_expr()?, true);
            self.skip_ws();
            if self.at_keyword("OR") {
                self.pos += 2;
                self.skip_ws();
                if self.at_end() || self.peek() == Some(')') || self.at_keyword("OR") {
                    return Err(self.error_here(2, "expected a term after OR"));
                }
                continue;
            }
            break;
        }
        Ok(single_or(branches, Expr::Or))
    }

    /// `unary { unary }`, optionally joined by `AND`; stops before `OR`, `)` or the end.
    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut terms = Vec::new();
        loop {
            self.skip_ws();
            if self.at_end() || self.peek() == Some(')') || self.at_keyword("OR") {
                break;
            }
            if self.at_keyword("AND") {
                if terms.is_empty() {
                    return Err(self.error_here(3, "expected a term before AND"));
                }
                self.pos += 3;
                self.skip_ws();
                if self.at_end() || self.peek() == Some(')') || self.at_keyword("OR") {
                    return Err(self.error_here(2, "expected a term after AND"));
                }
                continue;
            }
            push_flat(&mut terms, self.unary()?, false);
        }
        if terms.is_empty() {
            return Err(match self.peek() {
                Some(')') => self.error_here(1, "expected a term before `)`"),
                Some(_) => self.error_here(2, "expected a term before OR"),
                None => self.error_here(1, "expected a term"),
            });
        }
        Ok(single_or(terms, Expr::And))
    }

    /// `"-" unary | "(" or_expr ")" | term`.
    fn unary(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        match self.peek() {
            Some('-') => {
                self.bump();
                if self.peek().is_none_or(char::is_whitespace) || self.peek() == Some(')') {
                    return Err(self.error(start, self.pos, "expected a term after `-`"));
                }
                self.enter(start)?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(inner)))
            }
            Some('(') => {
                self.bump();
                self.enter(start)?;
                self.skip_ws();
                if self.peek() == Some(')') {
                    return Err(self.error_here(1, "expected a term inside `(`"));
                }
                let inner = self.or_expr()?;
                self.skip_ws();
                if self.peek() != Some(')') {
                    return Err(self.error(
                        self.pos,
                        self.pos,
                        format!("expected `)` to close the `(` at {start}"),
                    ));
                }
                self.bump();
                self.depth -= 1;
                Ok(inner)
            }
            _ => {
                let term = self.term()?;
                if self.peek().is_some_and(|c| !ends_term(c)) {
                    return Err(self.error_here(1, "expected a space after the term"));
                }
                Ok(Expr::Term(term))
            }
        }
    }

    fn term(&mut self) -> Result<Term, ParseError> {
        match self.peek() {
            Some('"') => Ok(Term::Text(Text::new(&self.quoted()?))),
            Some('/') => self.regex(),
            Some(c) if key_start_char(c) => {
                let start = self.pos;
                let key_len = self
                    .rest()
                    .find(|c: char| !key_char(c))
                    .unwrap_or(self.rest().len());
                let key = &self.rest()[..key_len];
                let after = &self.rest()[key_len..];
                let op = if after.starts_with(">=") {
                    Some(Op::Ge)
                } else if after.starts_with("<=") {
                    Some(Op::Le)
                } else if after.starts_with('>') {
                    Some(Op::Gt)
                } else if after.starts_with('<') {
                    Some(Op::Lt)
                } else if after.starts_with(':') {
                    Some(Op::Colon)
                } else {
                    None
                };
                match op {
                    Some(op) => {
                        self.pos += key_len + op.text().len();
                        self.field_term(start, key, op)
                    }
                    None => Ok(Term::Text(Text::new(&self.bare_word()?))),
                }
            }
            _ => Ok(Term::Text(Text::new(&self.bare_word()?))),
        }
    }

    /// A bare word: up to a space or a parenthesis; `\` escapes the next character.
    fn bare_word(&mut self) -> Result<String, ParseError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if ends_term(c) || c == '"' {
                break;
            }
            self.bump();
            if c == '\\' {
                match self.bump() {
                    Some(next) => out.push(next),
                    None => {
                        return Err(self.error(
                            self.pos - 1,
                            self.pos,
                            "expected a character after `\\`",
                        ))
                    }
                }
            } else {
                out.push(c);
            }
        }
        if out.is_empty() {
            return Err(self.error_here(1, "expected a term"));
        }
        Ok(out)
    }

    /// `"..."` with `\"` and `\\` (any `\x` is `x`).
    fn quoted(&mut self) -> Result<String, ParseError> {
        Ok(self.quoted_pieces()?.concat_literal())
    }

    fn quoted_pieces(&mut self) -> Result<Pieces, ParseError> {
        let start = self.pos;
        self.bump();
        let mut pieces = Pieces::default();
        loop {
            match self.bump() {
                None => {
                    return Err(self.error(start, self.pos, "expected `\"` to close the quote"))
                }
                Some('"') => return Ok(pieces),
                Some('\\') => match self.bump() {
                    Some(c) => pieces.push_literal(c),
                    None => {
                        return Err(self.error(start, self.pos, "expected `\"` to close the quote"))
                    }
                },
                Some('*') => pieces.star(),
                Some(c) => pieces.push_literal(c),
            }
        }
    }

    fn regex(&mut self) -> Result<Term, ParseError> {
        let start = self.pos;
        self.bump();
        let mut source = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error(start, self.pos, "expected `/` to close the regex")),
                Some('/') => break,
                Some('\\') => match self.bump() {
                    Some('/') => source.push('/'),
                    Some(c) => {
                        source.push('\\');
                        source.push(c);
                    }
                    None => {
                        return Err(self.error(start, self.pos, "expected `/` to close the regex"))
                    }
                },
                Some(c) => source.push(c),
            }
        }
        if source.is_empty() {
            return Err(self.error(start, self.pos, "expected a regex between `/` and `/`"));
        }
        match regex::RegexBuilder::new(&source)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(re) => Ok(Term::Regex(Regex::new(re))),
            Err(e) => {
                let reason = match e {
                    regex::Error::CompiledTooBig(_) => "it is too large".to_string(),
                    // The syntax error spans several lines, with a drawing; its last line
                    // says what is wrong.
                    e => e
                        .to_string()
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("syntax error")
                        .trim()
                        .trim_start_matches("error: ")
                        .to_string(),
                };
                Err(self.error(start, self.pos, format!("invalid regex: {reason}")))
            }
        }
    }

    /// The value list of `key:` — `item { "," item }`, each bare or quoted, `*` a wildcard.
    fn globs(&mut self, key: &str) -> Result<Vec<Glob>, ParseError> {
        let mut globs = Vec::new();
        loop {
            let item_start = self.pos;
            let pieces = match self.peek() {
                Some('"') => self.quoted_pieces()?,
                _ => {
                    let mut pieces = Pieces::default();
                    while let Some(c) = self.peek() {
                        if ends_term(c) || c == ',' || c == '"' {
                            break;
                        }
                        self.bump();
                        match c {
                            '\\' => match self.bump() {
                                Some(next) => pieces.push_literal(next),
                                None => {
                                    return Err(self.error(
                                        self.pos - 1,
                                        self.pos,
                                        "expected a character after `\\`",
                                    ))
                                }
                            },
                            '*' => pieces.star(),
                            c => pieces.push_literal(c),
                        }
                    }
                    if self.pos == item_start {
                        let what = if globs.is_empty() {
                            format!("expected a value after `{key}:`")
                        } else {
                            "expected a value after `,`".to_string()
                        };
                        return Err(self.error_here(1, what));
                    }
                    pieces
                }
            };
            globs.push(Glob::from_pieces(pieces.0));
            if self.peek() == Some(',') {
                self.bump();
                continue;
            }
            return Ok(globs);
        }
    }

    /// One value up to a separator, bare or quoted, without wildcards.
    fn single_value(&mut self, key: &str, op: Op) -> Result<(usize, String), ParseError> {
        let start = self.pos;
        let value = match self.peek() {
            Some('"') => self.quoted()?,
            _ => {
                let len = self.rest().find(ends_term).unwrap_or(self.rest().len());
                self.pos += len;
                self.text[start..self.pos].to_string()
            }
        };
        if value.is_empty() {
            return Err(self.error_here(1, format!("expected a value after `{key}{}`", op.text())));
        }
        Ok((start, value))
    }

    fn field_term(&mut self, start: usize, key: &str, op: Op) -> Result<Term, ParseError> {
        let key_end = start + key.len();
        let (head, tail) = match key.split_once('.') {
            Some((head, tail)) => (head, Some(tail)),
            None => (key, None),
        };
        let env = match head {
            "org" | "organizationId" => Some(EnvField::Org),
            "source" => Some(EnvField::Source),
            "resource" => Some(EnvField::Resource),
            "event" | "eventName" => Some(EnvField::Event),
            "resourceId" => Some(EnvField::ResourceId),
            "name" => Some(EnvField::Name),
            "id" => Some(EnvField::Id),
            _ => None,
        };
        let root = match head {
            "payload" => Some(Root::Payload),
            "metadata" => Some(Root::Metadata),
            _ => None,
        };
        if let Some(root) = root {
            let path = self.path(start, root, tail)?;
            let compare = match op {
                Op::Colon => Compare::Eq(self.globs(key)?),
                _ => {
                    let (at, value) = self.single_value(key, op)?;
                    let bound = bound(&value).map_err(|m| self.error(at, self.pos, m))?;
                    match op {
                        Op::Gt => Compare::Gt(bound),
                        Op::Ge => Compare::Ge(bound),
                        Op::Lt => Compare::Lt(bound),
                        _ => Compare::Le(bound),
                    }
                }
            };
            return Ok(Term::Path(path, compare));
        }
        let known = env.is_some() || KEYS.contains(&head);
        if !known {
            return Err(ParseError {
                suggestion: closest(head),
                ..self.error(start, start + head.len(), format!("unknown field `{head}`"))
            });
        }
        if tail.is_some() {
            return Err(self.error(
                start,
                key_end,
                format!("`{head}` has no sub-fields; paths start with payload. or metadata."),
            ));
        }
        if op != Op::Colon {
            return Err(self.error(
                key_end,
                key_end + op.text().len(),
                format!("`{head}` takes `:`, not `{}`", op.text()),
            ));
        }
        if let Some(field) = env {
            return Ok(Term::Field(field, self.globs(key)?));
        }
        let (at, value) = self.single_value(key, op)?;
        let fail = |p: &Parser, m: String| p.error(at, p.pos, m);
        match head {
            "subject" => TopicPattern::parse(&value)
                .map(Term::Subject)
                .map_err(|e| fail(self, e.to_string())),
            "has" => {
                let (root, tail) = match value.split_once('.') {
                    Some((r, t)) => (r, Some(t)),
                    None => (value.as_str(), None),
                };
                let root = match root {
                    "payload" => Root::Payload,
                    "metadata" => Root::Metadata,
                    _ => {
                        return Err(fail(
                            self,
                            "expected a path starting with payload or metadata".into(),
                        ))
                    }
                };
                Ok(Term::Has(self.path(at, root, tail)?))
            }
            "is" => match value.as_str() {
                "invalid" => Ok(Term::Is(Flag::Invalid)),
                "large" => Ok(Term::Is(Flag::Large)),
                _ => Err(fail(
                    self,
                    format!("unknown flag `{value}` (expected invalid or large)"),
                )),
            },
            "after" => Ok(Term::After(time(&value).map_err(|m| fail(self, m))?)),
            "before" => Ok(Term::Before(time(&value).map_err(|m| fail(self, m))?)),
            _ => Ok(Term::After(Time::Ago(
                duration(&value).map_err(|m| fail(self, m))?,
            ))),
        }
    }

    /// The keys after `payload` or `metadata`; `tail` is what followed the first `.`.
    fn path(&self, start: usize, root: Root, tail: Option<&str>) -> Result<Path, ParseError> {
        let mut keys = Vec::new();
        let root_len = match root {
            Root::Payload => "payload".len(),
            Root::Metadata => "metadata".len(),
        };
        let end = start + root_len + tail.map_or(0, |t| t.len() + 1);
        if let Some(tail) = tail {
            for key in tail.split('.') {
                if key.is_empty() {
                    return Err(self.error(
                        start,
                        end,
                        "expected a key between the dots of the path",
                    ));
                }
                if !key.chars().all(key_char) {
                    return Err(self.error(
                        start,
                        end,
                        format!("path key `{key}` may only hold letters, digits, _ - $ @"),
                    ));
                }
                keys.push(key.to_string());
            }
        }
        Ok(Path { root, keys })
    }
}

/// Adds `expr` to a list, merging a nested list of the same kind so that the tree is flat.
fn push_flat(list: &mut Vec<Expr>, expr: Expr, or: bool) {
    match expr {
        Expr::Or(inner) if or => list.extend(inner),
        Expr::And(inner) if !or => list.extend(inner),
        e => list.push(e),
    }
}

fn single_or(mut list: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    if list.len() == 1 {
        list.pop().expect("one element")
    } else {
        make(list)
    }
}

/// The literal pieces of a value between its wildcards.
#[derive(Default)]
struct Pieces(Vec<String>);

impl Pieces {
    fn push_literal(&mut self, c: char) {
        if self.0.is_empty() {
            self.0.push(String::new());
        }
        self.0.last_mut().expect("just ensured").push(c);
    }

    fn star(&mut self) {
        if self.0.is_empty() {
            self.0.push(String::new());
        }
        self.0.push(String::new());
    }

    /// The text with any wildcard read as a literal `*` (free text has no wildcards).
    fn concat_literal(self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        self.0.join("*")
    }
}

/// The closest key to a misspelt one, when it is close enough to be a typo.
fn closest(word: &str) -> Option<String> {
    let lower = word.to_lowercase();
    KEYS.iter()
        .map(|k| (edit_distance(&lower, &k.to_lowercase()), *k))
        .filter(|(d, k)| *d <= 2 && *d < k.len().min(word.chars().count()).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_string())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// A number or a time, for `>`, `>=`, `<`, `<=`.
fn bound(text: &str) -> Result<Bound, String> {
    if let Some(n) = number(text) {
        return if n.is_finite() {
            Ok(Bound::Number(n))
        } else {
            Err(format!("number `{text}` is out of range"))
        };
    }
    time(text).map(Bound::Time).map_err(|_| {
        format!("expected a number or a time (2026-11-27T10:00Z, -5m), found `{text}`")
    })
}

/// A JSON-like number: `-?digits(.digits)?([eE][+-]?digits)?`; f64's parser alone would also
/// take `inf` and `NaN`.
pub(super) fn number(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let s = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > s
    };
    if !digits(&mut i) {
        return None;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    text.parse().ok()
}

/// An absolute time (RFC 3339, also without seconds, or a date) or `-<duration>` before now.
pub(super) fn time(text: &str) -> Result<Time, String> {
    if let Some(rest) = text.strip_prefix('-') {
        return duration(rest).map(Time::Ago);
    }
    absolute_time(text)
        .map(Time::At)
        .ok_or_else(|| format!("expected a time like 2026-11-27T10:00Z or -5m, found `{text}`"))
}

/// Milliseconds since the epoch of an RFC 3339 time; also `…THH:MM` plus zone, and a bare
/// date (midnight UTC), which people type. Years outside 0000-9999 are refused, so that the
/// time prints back as RFC 3339.
pub(super) fn absolute_time(text: &str) -> Option<i64> {
    let parsed = DateTime::parse_from_rfc3339(text).ok().or_else(|| {
        let b = text.as_bytes();
        if b.len() == 10 && text.is_ascii() {
            return DateTime::parse_from_rfc3339(&format!("{text}T00:00:00Z")).ok();
        }
        // `2026-11-27T10:00Z` or `2026-11-27T10:00+01:00`: seconds left out.
        if b.len() > 16 && text.is_char_boundary(16) && matches!(b[10], b'T' | b't') {
            let (head, zone) = text.split_at(16);
            return DateTime::parse_from_rfc3339(&format!("{head}:00{zone}")).ok();
        }
        None
    })?;
    let utc = parsed.to_utc();
    (0..=9999)
        .contains(&utc.year())
        .then(|| utc.timestamp_millis())
}

/// `15m`: digits then one of s, m, h, d, w; milliseconds.
pub(super) fn duration(text: &str) -> Result<i64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let unit_ms = UNITS.iter().find(|(u, _)| *u == unit).map(|(_, ms)| *ms);
    match (digits.parse::<i64>(), unit_ms) {
        (Ok(n), Some(ms)) => n
            .checked_mul(ms)
            .ok_or_else(|| format!("duration `{text}` is too long")),
        (Err(_), Some(_)) if !digits.is_empty() => Err(format!("duration `{text}` is too long")),
        _ => Err(format!(
            "expected a duration like 15m (units s, m, h, d, w), found `{text}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::super::{Bound, Compare, EnvField, Expr, Filter, Flag, Glob, Path, Root, Term};
    use super::*;

    /// Parses `query` and renders the outcome: the canonical print, or `pos..end: message`.
    fn check(query: &str, expected: &str) {
        let got = match Filter::parse(query) {
            Ok(f) => format!("ok {f}"),
            Err(e) => format!("{}..{}: {}", e.pos, e.end, e.explained()),
        };
        assert_eq!(got, expected, "{query:?}");
    }

    #[test]
    fn canonical_printing() {
        check("", "ok ");
        check("   ", "ok ");
        check("  org:a   source:b ", "ok org:a source:b");
        check("org:a AND source:b", "ok org:a source:b");
        check("(org:a source:b) c", "ok org:a source:b c");
        check("a OR (b OR c)", "ok a OR b OR c");
        check("a b OR c", "ok a b OR c");
        check("a (b OR c)", "ok a (b OR c)");
        check("-(a b) -(c OR d) --e", "ok -(a b) -(c OR d) --e");
        check("organizationId:o eventName:e", "ok org:o event:e");
        check("org:\"a b\",c*,\"*\"", "ok org:\"a b\",c*,*");
        check("org:a\\*b,\"\"", "ok org:a\\*b,\"\"");
        check(
            "\"hello\" \"two words\" \"OR\" \"-x\"",
            "ok hello \"two words\" \"OR\" \"-x\"",
        );
        check(
            "after:-15m before:2026-11-27T10:00+01:00",
            "ok last:15m before:2026-11-27T09:00:00Z",
        );
        check(
            "after:2026-11-27 last:90m last:120m",
            "ok after:2026-11-27T00:00:00Z last:90m last:2h",
        );
        check(
            "payload.x>=1e3 payload.y<-0.5",
            "ok payload.x>=1000 payload.y<-0.5",
        );
        check("/a\\/b\\d/", "ok /a\\/b\\d/");
        check(
            "is:invalid is:large has:payload.a.0",
            "ok is:invalid is:large has:payload.a.0",
        );
        check("a(b)c", "ok a b c");
        check("\"a\"b", "3..4: expected a space after the term");
        check("a (b)", "ok a b");
    }

    #[test]
    fn errors_name_the_position_and_what_was_expected() {
        check("orgg:x", "0..4: unknown field `orgg` (did you mean `org`)");
        check(
            "a resourceid:x",
            "2..12: unknown field `resourceid` (did you mean `resourceId`)",
        );
        check(
            "paylod.status:x",
            "0..6: unknown field `paylod` (did you mean `payload`)",
        );
        check("zzz:x", "0..3: unknown field `zzz`");
        check("org:", "4..4: expected a value after `org:`");
        check("org:a,", "6..6: expected a value after `,`");
        check("org:a,,b", "6..7: expected a value after `,`");
        check("org>3", "3..4: `org` takes `:`, not `>`");
        check(
            "org.x:3",
            "0..5: `org` has no sub-fields; paths start with payload. or metadata.",
        );
        check("(a b", "4..4: expected `)` to close the `(` at 0");
        check("a)", "1..2: unexpected `)` without a matching `(`");
        check("()", "1..2: expected a term inside `(`");
        check("a OR", "4..4: expected a term after OR");
        check("OR a", "0..2: expected a term before OR");
        check("a OR OR b", "5..7: expected a term after OR");
        check("- a", "0..1: expected a term after `-`");
        check("\"abc", "0..4: expected `\"` to close the quote");
        check("/ab", "0..3: expected `/` to close the regex");
        check("/(a/", "0..4: invalid regex: unclosed group");
        check("/a{1000}{1000}/", "0..15: invalid regex: it is too large");
        check(
            "payload.x>abc",
            "10..13: expected a number or a time (2026-11-27T10:00Z, -5m), found `abc`",
        );
        check("payload.x>1e999", "10..15: number `1e999` is out of range");
        check(
            "payload..x:1",
            "0..10: expected a key between the dots of the path",
        );
        check(
            "after:yesterday",
            "6..15: expected a time like 2026-11-27T10:00Z or -5m, found `yesterday`",
        );
        check(
            "last:15",
            "5..7: expected a duration like 15m (units s, m, h, d, w), found `15`",
        );
        check(
            "last:99999999999999w",
            "5..20: duration `99999999999999w` is too long",
        );
        check(
            "is:big",
            "3..6: unknown flag `big` (expected invalid or large)",
        );
        check(
            "has:x.y",
            "4..7: expected a path starting with payload or metadata",
        );
        check(
            "subject:events..x",
            "8..17: invalid subject pattern \"events..x\": it has an empty token",
        );
        // Positions are bytes: `é` is two.
        check("é:x b\\", "6..7: expected a character after `\\`");
        check(&"(".repeat(100), "64..65: nested deeper than 64 levels");
        check(&"-".repeat(100_000), "64..65: nested deeper than 64 levels");
        check(
            "payload.x:\"a\"b",
            "13..14: expected a space after the term",
        );
        let e = Filter::parse("orgg:x").unwrap_err();
        assert_eq!(
            (e.to_string(), e.suggestion.as_deref()),
            (
                "invalid filter at 0: unknown field `orgg` (did you mean `org`)".into(),
                Some("org")
            )
        );
    }

    #[test]
    fn random_strings_never_panic_and_print_back_to_the_same_query() {
        let mut rng = StdRng::seed_from_u64(3);
        let atoms = [
            "org:",
            "payload.",
            "metadata.tags",
            "has:",
            "is:",
            "after:",
            "before:",
            "last:",
            "subject:",
            "name:",
            "OR",
            "AND",
            " ",
            " ",
            "(",
            ")",
            "-",
            "\"",
            "\\",
            "/",
            "*",
            ",",
            ":",
            ">",
            ">=",
            "<",
            "=",
            ".",
            "a",
            "b",
            "é",
            "🎉",
            "\u{0}",
            "\t",
            "3",
            "-5m",
            "2026-11-27T10:00Z",
            "events.>",
            "x",
            "invalid",
            "e9",
        ];
        for _ in 0..30_000 {
            let n = rng.random_range(0..12);
            let query: String = (0..n)
                .map(|_| atoms[rng.random_range(0..atoms.len())])
                .collect();
            if let Ok(filter) = Filter::parse(&query) {
                let printed = filter.to_string();
                let again = Filter::parse(&printed)
                    .unwrap_or_else(|e| panic!("{query:?} printed as {printed:?}: {e}"));
                assert_eq!(again, filter, "{query:?} printed as {printed:?}");
                assert_eq!(again.to_string(), printed);
            }
        }
        for _ in 0..5_000 {
            let bytes: Vec<u8> = (0..rng.random_range(0..40)).map(|_| rng.random()).collect();
            let _ = Filter::parse(&String::from_utf8_lossy(&bytes));
        }
    }

    fn pick<'a, T: ?Sized>(rng: &mut StdRng, items: &'a [&'a T]) -> &'a T {
        items[rng.random_range(0..items.len())]
    }

    fn random_glob(rng: &mut StdRng) -> Glob {
        let parts = [
            "", "a", "conv_1", "a b", "x,y", "q\"t", "b\\s", "*", "ü", "\u{1}", "(", "-",
        ];
        let pieces = (0..rng.random_range(1..4))
            .map(|_| pick(rng, &parts).to_string())
            .collect();
        Glob::from_pieces(pieces)
    }

    fn random_path(rng: &mut StdRng) -> Path {
        let keys = ["a", "b_c", "0", "ü", "x-y", "$k"];
        Path {
            root: if rng.random() {
                Root::Payload
            } else {
                Root::Metadata
            },
            keys: (0..rng.random_range(0..3))
                .map(|_| pick(rng, &keys).to_string())
                .collect(),
        }
    }

    fn random_time(rng: &mut StdRng) -> Time {
        if rng.random() {
            Time::At(rng.random_range(0..4_000_000_000_000))
        } else {
            Time::Ago(rng.random_range(0..100_000) * 1000)
        }
    }

    fn random_term(rng: &mut StdRng) -> Term {
        let fields = [
            EnvField::Org,
            EnvField::Source,
            EnvField::Resource,
            EnvField::Event,
            EnvField::ResourceId,
            EnvField::Name,
            EnvField::Id,
        ];
        match rng.random_range(0..10) {
            0 => Term::Field(
                fields[rng.random_range(0..fields.len())],
                (0..rng.random_range(1..4))
                    .map(|_| random_glob(rng))
                    .collect(),
            ),
            1 => Term::Subject(
                TopicPattern::parse(pick(rng, &["events.>", "events.*.apps.>", "a.b"])).unwrap(),
            ),
            2 => {
                let bound = if rng.random() {
                    Bound::Number([0.5, -3.0, 1e21, 7.0, -0.001][rng.random_range(0..5)])
                } else {
                    Bound::Time(random_time(rng))
                };
                let compare = match rng.random_range(0..5) {
                    0 => Compare::Gt(bound),
                    1 => Compare::Ge(bound),
                    2 => Compare::Lt(bound),
                    3 => Compare::Le(bound),
                    _ => Compare::Eq(
                        (0..rng.random_range(1..3))
                            .map(|_| random_glob(rng))
                            .collect(),
                    ),
                };
                Term::Path(random_path(rng), compare)
            }
            3 => Term::Has(random_path(rng)),
            4 | 5 => Term::Text(Text::new(pick(
                rng,
                &[
                    "a",
                    "OR",
                    "AND",
                    "-x",
                    "/x",
                    "",
                    "two words",
                    "q\"t",
                    "b\\s",
                    "k:v",
                    "ü🎉",
                    "a*",
                ],
            ))),
            6 => Term::Regex(Regex::new(
                regex::Regex::new(pick(rng, &["a/b", "\\d+", "x\\\\", "(?i)é"])).unwrap(),
            )),
            7 => Term::After(random_time(rng)),
            8 => Term::Before(random_time(rng)),
            _ => Term::Is(if rng.random() {
                Flag::Invalid
            } else {
                Flag::Large
            }),
        }
    }

    /// A random query in the parser's normal form: no AND directly in an AND, no OR in an OR.
    fn random_expr(rng: &mut StdRng, depth: usize) -> Expr {
        let kind = if depth == 0 {
            0
        } else {
            rng.random_range(0..4)
        };
        let children = |rng: &mut StdRng, avoid_and: bool| -> Vec<Expr> {
            (0..rng.random_range(2..4))
                .map(|_| loop {
                    let e = random_expr(rng, depth - 1);
                    match (&e, avoid_and) {
                        (Expr::And(_), true) | (Expr::Or(_), false) => continue,
                        _ => break e,
                    }
                })
                .collect()
        };
        match kind {
            0 => Expr::Term(random_term(rng)),
            1 => Expr::Not(Box::new(random_expr(rng, depth - 1))),
            2 => Expr::And(children(rng, true)),
            _ => Expr::Or(children(rng, false)),
        }
    }

    #[test]
    fn generated_queries_print_and_parse_back_to_themselves() {
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..5_000 {
            let filter = Filter {
                expr: random_expr(&mut rng, 4),
            };
            let printed = filter.to_string();
            let parsed = Filter::parse(&printed).unwrap_or_else(|e| panic!("{printed:?}: {e}"));
            assert_eq!(parsed, filter, "{printed:?}");
        }
    }
}
