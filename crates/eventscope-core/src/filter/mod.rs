//! The filter language of the search box and `tail --filter`: its syntax tree, the canonical
//! printing of a query, and the entry points (parse, match an event, derive NATS subjects).
//!
//! The grammar and the meaning of every term are documented in `docs/filter.md`; the parser is
//! in [`parse`], evaluation in [`eval`] (free text and regexes in [`search`]), server narrowing
//! in [`narrow`].

mod eval;
mod narrow;
mod parse;
mod search;
mod sieve;

pub use sieve::Sieve;

use std::cell::Cell;
use std::fmt::{self, Write};
use std::marker::PhantomData;

use chrono::{DateTime, SecondsFormat};
use thiserror::Error;

use crate::store::{EventRef, EventStore};
use crate::topic::TopicPattern;
use crate::wire::{QueryCheck, QueryProblem};

/// Groups and negations nested deeper than this are refused, so that no input can exhaust the
/// stack while parsing, printing or evaluating.
pub const MAX_DEPTH: usize = 64;

/// Why a query was refused: where (a byte offset into the query) and what was expected.
///
/// The text (`invalid filter at 6: unknown field `orgg` (did you mean `org`)`) is what the CLI
/// prints; the UI shows `message` and offers `suggestion` as a fix of its own.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid filter at {pos}: {}", self.explained())]
pub struct ParseError {
    /// Byte offset of the first character at fault (the query's length when it ended early).
    pub pos: usize,
    /// Byte offset just past the text at fault, for underlining; at least `pos`.
    pub end: usize,
    /// What is wrong, without the suggestion.
    pub message: String,
    /// The closest known name when a field name looks like a typo.
    pub suggestion: Option<String>,
}

/// A parsed query: a predicate over held events and the NATS subjects it implies.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    expr: Expr,
}

impl Filter {
    /// Parses a query; the empty query matches every event.
    pub fn parse(query: &str) -> Result<Filter, ParseError> {
        Ok(Filter {
            expr: parse::parse(query)?,
        })
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// True when the query has no term, so that every event matches.
    pub fn is_empty(&self) -> bool {
        matches!(&self.expr, Expr::And(terms) if terms.is_empty())
    }

    /// Whether `ev` satisfies the query; relative times count back from `now_ms`.
    ///
    /// Envelope terms read the store's index; the body is parsed at most once, and only when a
    /// payload or metadata term is reached.
    pub fn matches(&self, ev: &EventRef<'_>, now_ms: i64) -> bool {
        eval::matches(&self.expr, ev, now_ms, None)
    }

    /// The filter for evaluating many of `store`'s events, in ascending order of sequence
    /// number: its free-text and regex terms search each store chunk once, ahead of the event
    /// asked about, rather than each event's bytes apart. Skipping events is fine; going back
    /// only costs a new search.
    pub fn sweep<'s>(&self, store: &'s EventStore) -> Sweep<'_, 's> {
        Sweep::new(self, store)
    }

    /// The narrowest NATS subject patterns that hold every event the query can match, for
    /// events published on the subject their envelope implies (see `docs/filter.md`).
    pub fn subjects(&self) -> Vec<String> {
        narrow::subjects(&self.expr)
    }

    /// The query's top-level terms (its `AND`ed parts), each a filter of its own: an event that
    /// fails exactly one of them is a "closest miss" of a scenario's expectation.
    pub fn conjuncts(&self) -> Vec<Filter> {
        match &self.expr {
            Expr::And(all) => all.iter().map(|e| Filter { expr: e.clone() }).collect(),
            other => vec![Filter {
                expr: other.clone(),
            }],
        }
    }

    /// The literal texts the query looks for (free text, field values and the pieces of their
    /// globs), outside negations: what the detail pane highlights. No duplicates, longest first
    /// so that a highlighter that takes the first match marks the longest.
    pub fn highlights(&self) -> Vec<String> {
        fn walk(expr: &Expr, out: &mut Vec<String>) {
            match expr {
                Expr::And(all) | Expr::Or(all) => all.iter().for_each(|e| walk(e, out)),
                Expr::Not(_) => {}
                Expr::Term(term) => match term {
                    Term::Field(_, globs) | Term::Path(_, Compare::Eq(globs)) => {
                        out.extend(globs.iter().flat_map(|g| g.pieces().iter().cloned()));
                    }
                    Term::Text(text) => out.push(text.as_str().to_string()),
                    _ => {}
                },
            }
        }
        let mut out = Vec::new();
        walk(&self.expr, &mut out);
        out.retain(|s| !s.trim().is_empty());
        out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        out.dedup();
        out
    }
}

/// A filter evaluating a store's events in order (see [`Filter::sweep`]). It keeps the store
/// borrowed, so the chunks it has searched ahead stay as they were.
pub struct Sweep<'f, 's> {
    expr: &'f Expr,
    cursors: Vec<eval::Cursors<'f>>,
    store: PhantomData<&'s EventStore>,
}

impl<'f, 's> Sweep<'f, 's> {
    fn new(filter: &'f Filter, _store: &'s EventStore) -> Sweep<'f, 's> {
        fn walk<'f>(expr: &'f Expr, out: &mut Vec<&'f Term>) {
            match expr {
                Expr::And(all) | Expr::Or(all) => all.iter().for_each(|e| walk(e, out)),
                Expr::Not(inner) => walk(inner, out),
                Expr::Term(term @ (Term::Text(_) | Term::Regex(_))) => out.push(term),
                Expr::Term(_) => {}
            }
        }
        let mut terms = Vec::new();
        walk(&filter.expr, &mut terms);
        Sweep {
            expr: &filter.expr,
            cursors: terms
                .into_iter()
                .map(|t| (t, Cell::new(search::Cursor::new(search::LOOKAHEAD))))
                .collect(),
            store: PhantomData,
        }
    }

    /// [`Filter::matches`], for an event of the store the sweep was made for.
    pub fn matches(&self, ev: &EventRef<'s>, now_ms: i64) -> bool {
        eval::matches(self.expr, ev, now_ms, Some(self.cursors.as_slice()))
    }
}

/// What `query` means without applying it: the problem to underline, or the subjects it
/// narrows the capture to.
pub fn check(query: &str) -> QueryCheck {
    match Filter::parse(query) {
        Ok(filter) => QueryCheck {
            problem: None,
            subjects: filter.subjects(),
        },
        Err(e) => QueryCheck {
            problem: Some(e.to_problem(query)),
            subjects: Vec::new(),
        },
    }
}

impl ParseError {
    /// The message, and the suggestion when there is one.
    pub fn explained(&self) -> String {
        match &self.suggestion {
            Some(s) => format!("{} (did you mean `{s}`)", self.message),
            None => self.message.clone(),
        }
    }

    /// The error as the UI underlines it: offsets in UTF-16 code units of `query`.
    pub fn to_problem(&self, query: &str) -> QueryProblem {
        let utf16 = |byte: usize| {
            let byte = byte.min(query.len());
            let byte = (0..=byte)
                .rev()
                .find(|&b| query.is_char_boundary(b))
                .unwrap_or(0);
            query[..byte].encode_utf16().count() as u32
        };
        QueryProblem {
            pos: utf16(self.pos),
            end: utf16(self.end.max(self.pos)),
            message: self.message.clone(),
            suggestion: self.suggestion.clone(),
        }
    }
}

/// The empty query: every event.
impl Default for Filter {
    fn default() -> Filter {
        Filter {
            expr: Expr::And(Vec::new()),
        }
    }
}

impl std::str::FromStr for Filter {
    type Err = ParseError;
    fn from_str(query: &str) -> Result<Filter, ParseError> {
        Filter::parse(query)
    }
}

/// Prints the canonical form of the query: parsing it gives the same query back.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(f, &self.expr, Parent::Top)
    }
}

/// A boolean combination of terms. The parser never puts an `And` directly in an `And`, nor an
/// `Or` in an `Or`, and never builds one of fewer than two terms except the empty query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Term(Term),
}

/// One condition on an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// An envelope field matches any of the globs.
    Field(EnvField, Vec<Glob>),
    Subject(TopicPattern),
    /// A payload or metadata value, by path.
    Path(Path, Compare),
    /// The path leads to a value that is not `null`.
    Has(Path),
    /// Case-insensitive substring of the subject or the raw body.
    Text(Text),
    Regex(Regex),
    /// The event's timestamp is at or after this time.
    After(Time),
    /// The event's timestamp is before this time.
    Before(Time),
    Is(Flag),
}

/// The envelope fields a term can name, in the order of the subject's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvField {
    Org,
    Source,
    Resource,
    Event,
    ResourceId,
    /// `resource.eventName`.
    Name,
    Id,
}

impl EnvField {
    pub fn key(self) -> &'static str {
        match self {
            EnvField::Org => "org",
            EnvField::Source => "source",
            EnvField::Resource => "resource",
            EnvField::Event => "event",
            EnvField::ResourceId => "resourceId",
            EnvField::Name => "name",
            EnvField::Id => "id",
        }
    }
}

/// What `is:` can ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// Not JSON, not an object, or a field missing or of the wrong type.
    Invalid,
    /// Over [`crate::store::LARGE_BODY`].
    Large,
}

impl Flag {
    pub fn name(self) -> &'static str {
        match self {
            Flag::Invalid => "invalid",
            Flag::Large => "large",
        }
    }
}

/// Where a path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Payload,
    Metadata,
}

/// `payload.a.b` or `metadata.tags`: a root and object keys (or array indexes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub root: Root,
    pub keys: Vec<String>,
}

/// How a path's value is compared.
#[derive(Debug, Clone, PartialEq)]
pub enum Compare {
    /// `:` any of the globs (numbers compare as numbers).
    Eq(Vec<Glob>),
    Gt(Bound),
    Ge(Bound),
    Lt(Bound),
    Le(Bound),
}

/// The right side of an ordering comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    Number(f64),
    Time(Time),
}

/// A point in time: absolute, or a duration before "now" at evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Time {
    /// Milliseconds since the Unix epoch.
    At(i64),
    /// Milliseconds before now.
    Ago(i64),
}

impl Time {
    fn resolve(self, now_ms: i64) -> i64 {
        match self {
            Time::At(ms) => ms,
            Time::Ago(ms) => now_ms.saturating_sub(ms),
        }
    }
}

/// A value with `*` wildcards, kept as the literal pieces between the stars: `conv_*` is
/// `["conv_", ""]`, a value without a star is one piece. Consecutive stars are one star.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pieces: Vec<String>,
}

impl Glob {
    pub fn literal(text: &str) -> Glob {
        Glob {
            pieces: vec![text.to_string()],
        }
    }

    /// A glob from pieces between stars; empty inner pieces (`**`) are merged.
    pub fn from_pieces(pieces: Vec<String>) -> Glob {
        let mut out: Vec<String> = Vec::with_capacity(pieces.len());
        let last = pieces.len().saturating_sub(1);
        for (i, piece) in pieces.into_iter().enumerate() {
            if piece.is_empty() && i > 0 && i < last {
                continue;
            }
            out.push(piece);
        }
        if out.is_empty() {
            out.push(String::new());
        }
        Glob { pieces: out }
    }

    pub fn pieces(&self) -> &[String] {
        &self.pieces
    }

    /// The text when the glob has no star.
    pub fn as_literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        let pieces = &self.pieces;
        let (first, last) = match pieces.as_slice() {
            [only] => return text == only,
            [first, .., last] => (first, last),
            [] => return text.is_empty(),
        };
        let Some(rest) = text.strip_prefix(first.as_str()) else {
            return false;
        };
        if rest.len() < last.len() || !rest.ends_with(last.as_str()) {
            return false;
        }
        let mut middle = &rest[..rest.len() - last.len()];
        for piece in &pieces[1..pieces.len() - 1] {
            match middle.find(piece.as_str()) {
                Some(at) => middle = &middle[at + piece.len()..],
                None => return false,
            }
        }
        true
    }
}

/// Free text, with its search (of its lowercase form) compiled once.
#[derive(Debug, Clone)]
pub struct Text {
    text: String,
    needle: search::Needle,
}

impl Text {
    pub fn new(text: &str) -> Text {
        Text {
            text: text.to_string(),
            needle: search::Needle::new(&text.to_lowercase()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.text == other.text
    }
}

/// A compiled regular expression; two are equal when written the same.
#[derive(Debug, Clone)]
pub struct Regex {
    re: regex::Regex,
    /// What every match starts with, when the regex crate has a fast search for it: a sweep
    /// runs the regex only on the subjects and bodies holding one.
    prefix: Option<search::Finder>,
}

impl Regex {
    pub fn new(re: regex::Regex) -> Regex {
        Regex {
            prefix: search::Finder::regex_prefix(&re),
            re,
        }
    }

    pub fn as_str(&self) -> &str {
        self.re.as_str()
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.as_str() == other.as_str()
    }
}

/// Where an expression is printed, to know when it needs parentheses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parent {
    Top,
    And,
    Or,
    Not,
}

fn write_expr(f: &mut fmt::Formatter<'_>, expr: &Expr, parent: Parent) -> fmt::Result {
    let (list, sep, needs_parens) = match expr {
        Expr::Term(term) => return write_term(f, term),
        Expr::Not(inner) => {
            f.write_char('-')?;
            return write_expr(f, inner, Parent::Not);
        }
        // AND binds tighter than OR, so only a negation or another AND needs the parentheses.
        Expr::And(list) => (list, " ", parent == Parent::Not || parent == Parent::And),
        Expr::Or(list) => (list, " OR ", parent != Parent::Top),
    };
    // An empty AND (the empty query) can only stand alone; `()` would not parse.
    let needs_parens = needs_parens && !list.is_empty();
    let child = if matches!(expr, Expr::And(_)) {
        Parent::And
    } else {
        Parent::Or
    };
    if needs_parens {
        f.write_char('(')?;
    }
    for (i, e) in list.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write_expr(f, e, child)?;
    }
    if needs_parens {
        f.write_char(')')?;
    }
    Ok(())
}

fn write_term(f: &mut fmt::Formatter<'_>, term: &Term) -> fmt::Result {
    match term {
        Term::Field(field, globs) => {
            write!(f, "{}:", field.key())?;
            write_globs(f, globs)
        }
        Term::Subject(pattern) => write!(f, "subject:{pattern}"),
        Term::Path(path, compare) => {
            write_path(f, path)?;
            match compare {
                Compare::Eq(globs) => {
                    f.write_char(':')?;
                    write_globs(f, globs)
                }
                Compare::Gt(b) => write!(f, ">{}", BoundText(b)),
                Compare::Ge(b) => write!(f, ">={}", BoundText(b)),
                Compare::Lt(b) => write!(f, "<{}", BoundText(b)),
                Compare::Le(b) => write!(f, "<={}", BoundText(b)),
            }
        }
        Term::Has(path) => {
            f.write_str("has:")?;
            write_path(f, path)
        }
        Term::Text(text) => write_text(f, &text.text),
        Term::Regex(re) => {
            f.write_char('/')?;
            let mut chars = re.as_str().chars();
            while let Some(c) = chars.next() {
                match c {
                    // An escape pair is kept as written; only a bare `/` would end the regex.
                    '\\' => {
                        f.write_char('\\')?;
                        if let Some(next) = chars.next() {
                            f.write_char(next)?;
                        }
                    }
                    '/' => f.write_str("\\/")?,
                    c => f.write_char(c)?,
                }
            }
            f.write_char('/')
        }
        Term::After(Time::Ago(ms)) => write!(f, "last:{}", Duration(*ms)),
        Term::After(t) => write!(f, "after:{}", TimeText(t)),
        Term::Before(t) => write!(f, "before:{}", TimeText(t)),
        Term::Is(flag) => write!(f, "is:{}", flag.name()),
    }
}

fn write_path(f: &mut fmt::Formatter<'_>, path: &Path) -> fmt::Result {
    f.write_str(match path.root {
        Root::Payload => "payload",
        Root::Metadata => "metadata",
    })?;
    for key in &path.keys {
        write!(f, ".{key}")?;
    }
    Ok(())
}

fn write_globs(f: &mut fmt::Formatter<'_>, globs: &[Glob]) -> fmt::Result {
    for (i, glob) in globs.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        let plain = glob
            .pieces
            .iter()
            .all(|p| p.chars().all(parse::bare_value_char))
            && glob.pieces != [""];
        let quote = if plain { "" } else { "\"" };
        f.write_str(quote)?;
        for (j, piece) in glob.pieces.iter().enumerate() {
            if j > 0 {
                f.write_char('*')?;
            }
            for c in piece.chars() {
                if matches!(c, '*' | '\\' | '"') {
                    f.write_char('\\')?;
                }
                f.write_char(c)?;
            }
        }
        f.write_str(quote)?;
    }
    Ok(())
}

/// A bare word when it would read back as the same free text, else a quoted phrase.
fn write_text(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    let plain = !text.is_empty()
        && text.chars().all(parse::plain_text_char)
        && !text.starts_with(['-', '/'])
        && text != "OR"
        && text != "AND";
    if plain {
        return f.write_str(text);
    }
    f.write_char('"')?;
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

struct BoundText<'a>(&'a Bound);

impl fmt::Display for BoundText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Bound::Number(n) => write!(f, "{n}"),
            Bound::Time(t) => write!(f, "{}", TimeText(t)),
        }
    }
}

struct TimeText<'a>(&'a Time);

impl fmt::Display for TimeText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self.0 {
            Time::Ago(ms) => write!(f, "-{}", Duration(ms)),
            Time::At(ms) => match DateTime::from_timestamp_millis(ms) {
                Some(t) => f.write_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
                // The parser only builds times chrono can show.
                None => write!(f, "{ms}"),
            },
        }
    }
}

/// A duration in the largest unit that divides it exactly.
struct Duration(i64);

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, ms) in parse::UNITS.iter().rev() {
            if self.0 % ms == 0 && self.0 != 0 {
                return write!(f, "{}{unit}", self.0 / ms);
            }
        }
        write!(f, "0s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, expected: &[&str]) {
        let got = Filter::parse(query).unwrap().highlights();
        assert_eq!(got, expected, "{query}");
    }

    #[test]
    fn problems_are_positioned_in_utf16_units() {
        let show = |q: &str| {
            let c = crate::filter::check(q);
            match c.problem {
                Some(p) => format!("{}..{} {} [{:?}]", p.pos, p.end, p.message, p.suggestion),
                None => format!("ok {}", c.subjects.join(" ")),
            }
        };
        assert_eq!(show("org:org_1"), "ok events.org_1.>");
        let plain = show("orgg:x");
        let after_emoji = show("\u{1F600} orgg:x");
        // The emoji is 4 bytes in UTF-8 and 2 units in UTF-16, plus the space.
        let start = |s: &str| s.split("..").next().unwrap().parse::<u32>().unwrap();
        assert_eq!(
            start(&after_emoji),
            start(&plain) + 3,
            "{plain} / {after_emoji}"
        );
        // The UI gets the suggestion apart, to offer it as a fix, and not again in the message.
        assert_eq!(plain, r#"0..4 unknown field `orgg` [Some("org")]"#);
    }

    #[test]
    fn highlights_are_the_literals_looked_for_outside_negations() {
        check("", &[]);
        check("org:org_1 timeout", &["timeout", "org_1"]);
        check(
            r#"resourceId:conv_* payload.sender.name:"Ada Lovelace""#,
            &["Ada Lovelace", "conv_"],
        );
        check(
            "-org:org_2 (source:flows OR \"disk full\")",
            &["disk full", "flows"],
        );
        check(
            "source:flows,tasks payload.n>3 has:payload.error",
            &["flows", "tasks"],
        );
        check("-(timeout OR org:org_1) is:invalid", &[]);
        check("a A a", &["A", "a"]);
    }
}
