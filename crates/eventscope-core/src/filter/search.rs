//! Free text and regexes over the raw bytes of held events: the few short literals a term
//! cannot match without are found with a SIMD searcher across a whole store chunk, ahead of the
//! event being evaluated, and each find is confirmed in the event's subject or body with the
//! meaning `docs/filter.md` gives the term.
//!
//! Why: a free-text term reads every held byte (570 MB for a million simulated events). The
//! byte-at-a-time loop this replaced ran at 0.7-0.9 GB/s a core. Teddy (aho-corasick's packed
//! searcher) over the case spellings of four bytes of the needle runs at 6-13 GB/s, and one
//! search that crosses events costs less than two searches per event, whose fixed cost is most
//! of the time when the word is rare. `docs/decisions.md` has the alternatives measured.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::{packed, AhoCorasick, MatchKind};
use regex_automata::util::prefilter::Prefilter;

use crate::store::Arena;

/// How far past the event being evaluated a sweep looks for the next candidate: far enough
/// that a search's fixed cost vanishes, near enough that a range ending in mid-chunk reads
/// little past its end.
pub(super) const LOOKAHEAD: usize = 256 * 1024;

/// Candidates come from at most this many characters of the needle, spelt at most
/// `MAX_SPELLINGS` ways: Teddy is at its fastest with 16 short patterns or fewer.
const WINDOW: usize = 4;
const MAX_SPELLINGS: usize = 16;

/// Case-folded ASCII bytes from the most frequent in the simulated stream (JSON punctuation,
/// keys, ids, prose) to the least; any other byte is rarer still. Candidates are looked for
/// with the needle's rarest window, so that few need confirming: in `timeout` that is `meou`,
/// since every event holds `"timestamp"`.
const COMMON: &[u8] = b"\"eatsonr:idc,pmv_ulg01.kf2why}{6 b8z95437x-qj][";

/// Finds the leftmost occurrence of any of a few literals: where a term can start to match.
#[derive(Clone)]
pub(super) struct Finder {
    kind: FinderKind,
    /// The longest literal, so that a search of a bounded span misses none that start in it.
    max_len: usize,
}

#[derive(Clone)]
enum FinderKind {
    /// Teddy over the spellings of a needle's window.
    Packed(packed::Searcher),
    /// The same literals where Teddy cannot run (no SSSE3 or NEON).
    Automaton(AhoCorasick),
    /// A regex's prefix literals, with the searcher the regex crate itself would use.
    Prefix(Prefilter),
}

impl Finder {
    fn of_literals(literals: &[Vec<u8>]) -> Finder {
        let max_len = literals.iter().map(Vec::len).max().unwrap_or(0);
        match packed::Config::new().builder().extend(literals).build() {
            Some(teddy) => Finder {
                kind: FinderKind::Packed(teddy),
                max_len,
            },
            None => Finder::automaton(literals),
        }
    }

    /// The finder where Teddy cannot run.
    fn automaton(literals: &[Vec<u8>]) -> Finder {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(literals)
            .expect("16 literals of at most 16 bytes fit any automaton");
        Finder {
            max_len: ac.max_pattern_len(),
            kind: FinderKind::Automaton(ac),
        }
    }

    /// The regex crate's prefilter for the prefixes of `re`, when it has a fast one: every
    /// match of the regex starts with one of them. `None` when a match can start anywhere.
    pub(super) fn regex_prefix(re: &regex::Regex) -> Option<Finder> {
        // Parsed with the defaults `regex::Regex` parses with, so it is the same language.
        let hir = regex_automata::util::syntax::parse(re.as_str()).ok()?;
        let prefix = Prefilter::from_hir_prefix(regex_automata::MatchKind::LeftmostFirst, &hir)
            .filter(Prefilter::is_fast)?;
        Some(Finder {
            max_len: prefix.max_needle_len(),
            kind: FinderKind::Prefix(prefix),
        })
    }

    /// The leftmost occurrence that starts in `span` and ends by its end.
    fn find(&self, hay: &[u8], span: Range<usize>) -> Option<Range<usize>> {
        match &self.kind {
            FinderKind::Packed(teddy) => teddy.find_in(hay, span.into()).map(|m| m.range()),
            FinderKind::Automaton(ac) => ac
                .find(aho_corasick::Input::new(hay).span(span))
                .map(|m| m.range()),
            FinderKind::Prefix(prefix) => prefix.find(hay, span.into()).map(|s| s.range()),
        }
    }
}

impl fmt::Debug for Finder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            FinderKind::Packed(_) => "teddy",
            FinderKind::Automaton(_) => "aho-corasick",
            FinderKind::Prefix(_) => "regex prefilter",
        };
        write!(f, "Finder({kind}, max_len {})", self.max_len)
    }
}

/// Where a sweep stands in one chunk for one term. No candidate starts in `from..to`, or, when
/// `next` is known, in `from..next.start`; `next` is a candidate.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cursor {
    lookahead: usize,
    /// The address of the chunk: a sweep keeps the store borrowed, so it names one chunk.
    arena: usize,
    from: usize,
    to: usize,
    next: Option<(usize, usize)>,
}

impl Cursor {
    /// A cursor that searches `lookahead` bytes past the event it is asked about (0 for an
    /// event evaluated alone).
    pub(super) fn new(lookahead: usize) -> Cursor {
        Cursor {
            lookahead,
            arena: 0,
            from: 0,
            to: 0,
            next: None,
        }
    }

    /// The leftmost candidate of `finder` in `hay` that starts in `from..end`, reusing what
    /// the last search found when the caller moves forward in the same chunk.
    fn next(
        &mut self,
        finder: &Finder,
        hay: &[u8],
        from: usize,
        end: usize,
    ) -> Option<Range<usize>> {
        if from >= end {
            return None;
        }
        if self.arena != hay.as_ptr() as usize || from < self.from {
            *self = Cursor {
                arena: hay.as_ptr() as usize,
                from,
                to: from,
                next: None,
                ..*self
            };
        }
        loop {
            match self.next {
                Some((start, stop)) if start >= from => {
                    return (start < end).then_some(start..stop)
                }
                // Past the known candidate nothing is known.
                Some(_) => {
                    (self.from, self.to, self.next) = (from, from, None);
                }
                None if end <= self.to => return None,
                None => {
                    let start = from.max(self.to);
                    if from > self.to {
                        self.from = from;
                    }
                    let stop = hay.len().min(end.max(start + self.lookahead));
                    // Every candidate starting before `stop` ends in the span searched, so the
                    // leftmost found is the leftmost; one found past `stop` may not be.
                    let span_end = hay.len().min(stop + finder.max_len.saturating_sub(1));
                    self.next = finder
                        .find(hay, start..span_end)
                        .filter(|at| at.start < stop)
                        .map(|at| (at.start, at.end));
                    self.to = stop;
                }
            }
        }
    }
}

/// Free text compiled for the search: its lowercase form and where candidates come from.
#[derive(Clone)]
pub(super) struct Needle {
    lower: String,
    kind: NeedleKind,
}

#[derive(Clone)]
enum NeedleKind {
    /// The empty text, which every event holds.
    Empty,
    /// ASCII text compares bytes, ASCII letters in either case, wherever they are (in bodies
    /// that are not UTF-8 too). Candidates are the spellings of a window that starts `before`
    /// bytes into the needle.
    Ascii { finder: Finder, before: usize },
    /// Other text compares the Unicode lowercase of the text. Candidates are the spellings of
    /// a window of the needle's characters, with `before` characters in front of it and `after`
    /// behind; `None` when some character of the needle is no character's lowercase.
    Unicode {
        finder: Option<Finder>,
        before: usize,
        after: usize,
    },
}

impl Needle {
    /// `lower` is the text as `str::to_lowercase` wrote it.
    pub(super) fn new(lower: &str) -> Needle {
        let kind = if lower.is_empty() {
            NeedleKind::Empty
        } else if lower.is_ascii() {
            let chars: Vec<char> = lower.chars().collect();
            let spellings: Vec<Vec<char>> = chars.iter().map(|&c| ascii_spellings(c)).collect();
            let window = window(&chars, &spellings);
            NeedleKind::Ascii {
                finder: Finder::of_literals(&spell(&spellings[window.clone()])),
                before: window.start,
            }
        } else {
            let chars: Vec<char> = lower.chars().collect();
            let spellings: Vec<Vec<char>> = chars.iter().map(|&c| unicode_spellings(c)).collect();
            let window = window(&chars, &spellings);
            NeedleKind::Unicode {
                finder: (!spellings.iter().any(Vec::is_empty))
                    .then(|| Finder::of_literals(&spell(&spellings[window.clone()]))),
                before: window.start,
                after: chars.len() - window.end,
            }
        };
        Needle {
            lower: lower.to_string(),
            kind,
        }
    }
}

impl fmt::Debug for Needle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Needle({:?})", self.lower)
    }
}

/// An ASCII character as ASCII case-insensitive comparison sees it.
fn ascii_spellings(c: char) -> Vec<char> {
    if c.is_ascii_alphabetic() {
        vec![c, c.to_ascii_uppercase()]
    } else {
        vec![c]
    }
}

/// The characters whose lowercase holds `c`: `k` is `k`, `K` and the Kelvin sign; `ς` is also
/// `Σ`, which `str::to_lowercase` writes so at the end of a word.
fn unicode_spellings(c: char) -> Vec<char> {
    static LOWERED_FROM: OnceLock<HashMap<char, Vec<char>>> = OnceLock::new();
    let table = LOWERED_FROM.get_or_init(|| {
        let mut table: HashMap<char, Vec<char>> = HashMap::new();
        for from in (0..=char::MAX as u32).filter_map(char::from_u32) {
            if !from.to_lowercase().eq([from]) {
                for to in from.to_lowercase() {
                    table.entry(to).or_default().push(from);
                }
            }
        }
        table
    });
    let mut out = Vec::new();
    if c.to_lowercase().eq([c]) {
        out.push(c);
    }
    out.extend(table.get(&c).into_iter().flatten());
    if c == 'ς' {
        out.push('Σ');
    }
    out
}

/// The characters of the needle to find candidates with: the rarest run of at most `WINDOW`
/// characters with at most `MAX_SPELLINGS` spellings. A run of two or more holds only
/// characters every spelling of which lowercases to one character, so that the run's
/// spellings are exactly the texts that lowercase to it.
fn window(chars: &[char], spellings: &[Vec<char>]) -> Range<usize> {
    let one_to_one = |i: usize| spellings[i].iter().all(|c| c.to_lowercase().len() == 1);
    let rarity = |c: char| {
        u8::try_from(c)
            .ok()
            .and_then(|b| COMMON.iter().position(|&x| x == b.to_ascii_lowercase()))
            .unwrap_or(COMMON.len())
    };
    let mut best = (0..1, 0);
    for start in 0..chars.len() {
        let (mut count, mut score) = (1, 0);
        for end in start + 1..=chars.len().min(start + WINDOW) {
            let i = end - 1;
            count *= spellings[i].len().max(1);
            let joins = end - start == 1 || (one_to_one(start) && one_to_one(i));
            if !joins || count > MAX_SPELLINGS {
                break;
            }
            score += rarity(chars[i]) + 1;
            if score > best.1 {
                best = (start..end, score);
            }
        }
    }
    best.0
}

/// Every way to write the characters, one choice from each set, in UTF-8.
fn spell(sets: &[Vec<char>]) -> Vec<Vec<u8>> {
    sets.iter().fold(vec![Vec::new()], |texts, set| {
        texts
            .iter()
            .flat_map(|text| {
                set.iter().map(move |c| {
                    let mut longer = text.clone();
                    longer.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    longer
                })
            })
            .collect()
    })
}

/// What one candidate says about the field it is in.
enum Verdict {
    Found,
    /// Not at this candidate; a later one may do.
    NotHere,
    /// The whole field was looked at.
    Field(bool),
}

/// A term that searches an event's raw bytes.
#[derive(Clone, Copy)]
pub(super) enum Search<'t> {
    Text(&'t Needle),
    Regex {
        re: &'t regex::Regex,
        prefix: Option<&'t Finder>,
    },
}

impl Search<'_> {
    /// Whether the term is found in the subject or the body of the event at `arena`.
    pub(super) fn in_event(self, arena: &Arena<'_>, cursor: &mut Cursor) -> bool {
        [
            (arena.subject.clone(), true),
            (arena.body.clone(), arena.body_utf8),
        ]
        .into_iter()
        .any(|(field, utf8)| self.in_field(arena.bytes, field, utf8, cursor))
    }

    fn in_field(self, hay: &[u8], field: Range<usize>, utf8: bool, cursor: &mut Cursor) -> bool {
        let finder = match self {
            Search::Text(Needle {
                kind: NeedleKind::Ascii { finder, .. },
                ..
            }) => Some(finder),
            // Text that is not UTF-8 is searched as its lossy decoding: whole.
            Search::Text(Needle {
                kind: NeedleKind::Unicode { finder, .. },
                ..
            }) if utf8 => finder.as_ref(),
            Search::Regex { prefix, .. } if utf8 => prefix,
            _ => None,
        };
        let Some(finder) = finder else {
            return self.whole(&hay[field]);
        };
        let mut from = field.start;
        while let Some(at) = cursor.next(finder, hay, from, field.end) {
            // A literal running out of the field is not in it; a later one may be.
            if at.end > field.end {
                from = at.start + 1;
                continue;
            }
            let relative = at.start - field.start..at.end - field.start;
            match self.confirm(&hay[field.clone()], relative) {
                Verdict::Found => return true,
                Verdict::NotHere => from = at.start + 1,
                Verdict::Field(found) => return found,
            }
        }
        false
    }

    /// Whether the candidate at `at` in `field` shows the term.
    fn confirm(self, field: &[u8], at: Range<usize>) -> Verdict {
        match self {
            Search::Text(needle) => match needle.kind {
                NeedleKind::Empty => Verdict::Found,
                NeedleKind::Ascii { before, .. } => {
                    let lower = needle.lower.as_bytes();
                    let start = at.start.checked_sub(before);
                    match start.and_then(|s| field.get(s..s + lower.len())) {
                        Some(text) if text.eq_ignore_ascii_case(lower) => Verdict::Found,
                        _ => Verdict::NotHere,
                    }
                }
                NeedleKind::Unicode { before, after, .. } => {
                    // Every character lowercases to one or more, so the needle, if it is here,
                    // comes from at most `before` characters ahead of the window and `after`
                    // behind it.
                    let is_lead = |b: &u8| (*b as i8) >= -0x40;
                    let mut start = at.start;
                    for _ in 0..before {
                        match field[..start].iter().rposition(is_lead) {
                            Some(lead) => start = lead,
                            None => break,
                        }
                    }
                    let mut end = at.end;
                    for _ in 0..after {
                        match field
                            .get(end + 1..)
                            .and_then(|r| r.iter().position(is_lead))
                        {
                            Some(next) => end += 1 + next,
                            None => {
                                end = field.len();
                                break;
                            }
                        }
                    }
                    match std::str::from_utf8(&field[start..end]) {
                        // A capital sigma lowercases by what surrounds it, maybe far away.
                        Ok(text) if !text.contains('Σ') => {
                            if text.to_lowercase().contains(&needle.lower) {
                                Verdict::Found
                            } else {
                                Verdict::NotHere
                            }
                        }
                        _ => Verdict::Field(self.whole(field)),
                    }
                }
            },
            Search::Regex { .. } => Verdict::Field(self.whole(field)),
        }
    }

    /// The term's meaning on one field, without candidates.
    fn whole(self, field: &[u8]) -> bool {
        match self {
            Search::Text(needle) => match needle.kind {
                NeedleKind::Empty => true,
                NeedleKind::Ascii { .. } => field
                    .windows(needle.lower.len())
                    .any(|w| w.eq_ignore_ascii_case(needle.lower.as_bytes())),
                NeedleKind::Unicode { .. } => text_of(field).to_lowercase().contains(&needle.lower),
            },
            Search::Regex { re, .. } => re.is_match(&text_of(field)),
        }
    }
}

/// The field as text: borrowed when it is UTF-8, else decoded with replacement characters.
fn text_of(bytes: &[u8]) -> Cow<'_, str> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::{Cursor, Finder};
    use crate::filter::{Expr, Filter, Regex, Term, Text};
    use crate::simulate::{SimConfig, Simulator};
    use crate::store::{EventRef, EventStore, Incoming};

    /// Free text as it was searched before this module (0.7-0.9 GB/s), kept as the oracle:
    /// `lower` is the text's `to_lowercase`.
    fn old_contains_ci(hay: &[u8], lower: &str) -> bool {
        let needle = lower.as_bytes();
        if needle.is_empty() {
            return true;
        }
        if !lower.is_ascii() {
            return String::from_utf8_lossy(hay).to_lowercase().contains(lower);
        }
        if hay.len() < needle.len() {
            return false;
        }
        let first = needle[0];
        let upper = first.to_ascii_uppercase();
        (0..=hay.len() - needle.len()).any(|i| {
            (hay[i] == first || hay[i] == upper)
                && hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
        })
    }

    /// A free-text or regex term as it was evaluated before this module.
    fn old_matches(term: &Term, ev: &EventRef<'_>) -> bool {
        match term {
            Term::Text(text) => {
                let lower = text.as_str().to_lowercase();
                old_contains_ci(ev.subject().as_bytes(), &lower)
                    || old_contains_ci(ev.body(), &lower)
            }
            Term::Regex(re) => {
                re.re.is_match(ev.subject()) || re.re.is_match(&String::from_utf8_lossy(ev.body()))
            }
            _ => panic!("not a search term"),
        }
    }

    /// One message: subject, headers, body.
    type Held = (String, Vec<(String, String)>, Vec<u8>);

    fn held(subject: &str, body: impl AsRef<[u8]>) -> Held {
        (subject.to_string(), Vec::new(), body.as_ref().to_vec())
    }

    fn text(word: &str) -> Term {
        Term::Text(Text::new(word))
    }

    fn regex(pattern: &str) -> Term {
        Term::Regex(Regex::new(regex::Regex::new(pattern).unwrap()))
    }

    /// The events (by index) each term matches. Every way of evaluating it is checked against
    /// the implementation this module replaced: each event alone, one sweep over every event,
    /// and a sweep that skips events and sometimes goes back, as an AND's other terms make it.
    fn check(events: &[Held], terms: &[Term]) -> Vec<Vec<usize>> {
        let mut store = EventStore::default();
        for (subject, headers, body) in events {
            store.push(Incoming {
                subject,
                headers,
                body,
                received_ms: 0,
            });
        }
        let held: Vec<EventRef<'_>> = store.window(0, events.len()).collect();
        assert_eq!(held.len(), events.len(), "the store holds every event");
        let mut rng = StdRng::seed_from_u64(5);
        let mut failures = Vec::new();
        let mut answers = Vec::new();
        for term in terms {
            let filter = Filter {
                expr: Expr::Term(term.clone()),
            };
            let want: Vec<bool> = held.iter().map(|ev| old_matches(term, ev)).collect();
            let mut differs = |how: &str, i: usize, got: bool| {
                if got != want[i] && failures.len() < 20 {
                    let body = String::from_utf8_lossy(&events[i].2);
                    let shown: String = body.chars().take(120).collect();
                    failures.push(format!(
                        "{term:?} {how} on event {i} ({:?}, {shown:?}): got {got}",
                        events[i].0
                    ));
                }
            };
            for (i, ev) in held.iter().enumerate() {
                differs("alone", i, filter.matches(ev, 0));
            }
            let sweep = filter.sweep(&store);
            for (i, ev) in held.iter().enumerate() {
                differs("in a sweep", i, sweep.matches(ev, 0));
            }
            let sweep = filter.sweep(&store);
            for (i, ev) in held.iter().enumerate() {
                if rng.random_bool(0.4) {
                    continue;
                }
                differs("in a skipping sweep", i, sweep.matches(ev, 0));
                if i > 0 && rng.random_bool(0.05) {
                    let back = rng.random_range(0..i);
                    differs("going back", back, sweep.matches(&held[back], 0));
                }
            }
            answers.push((0..want.len()).filter(|&i| want[i]).collect());
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
        answers
    }

    /// Bodies and subjects that test the edges: escapes, characters whose lowercase is
    /// special, text that is not UTF-8, words across the boundaries between subject, headers,
    /// body, the unescaped id copied after the body, and the next event.
    fn hostile() -> Vec<Held> {
        let mut events = vec![
            held(
                "events.o.s.r.e.a",
                br#"{"payload":{"text":"Zo\u00eb said \"hi\" \\ back","k":"\u212a"}}"#,
            ),
            held(
                "events.o.s.r.e.b",
                r#"{"t":"KELVIN \u{212A} İstanbul İX ΟΔΟΣ ΣΑΣ σας ΣΑΣ. ΣΣ aΣ ẞIG STRASSE ǅ ǈ"}"#,
            ),
            held(
                "events.o.s.r.e.c",
                b"\xff\xfeZo\xc3\xab timeout \xc3 Zo\xeb \xe2\x82 \xef\xbf\xbd",
            ),
            held("events.o.s.r.e.TIMEOUT", b"{}"),
            held("events.a.b.c.d.xy", b"zzy"),
            (
                "events.o.s.r.e.h".to_string(),
                vec![("X-Note".to_string(), "hedgehog Zoë".to_string())],
                b"{}".to_vec(),
            ),
            held(
                "events.o.s.r.e.i",
                br#"{"id":"evt_\u00e9hedgehog","resourceId":"r\"quill"}"#,
            ),
            held("events.o.s.r.e.j", "ends with an event"),
            held("s.o.s.r.e.k", "i\u{307}x \u{FFFD} replacement Σ"),
            held("events.o.s.r.e.l", b""),
            held("events.o.s.r.e.m", "ΣΑΣ"),
            held("events.o.s.r.e.n", "\u{1F389}🎉 Zoë"),
            // `zoë` across a subject and its body, and across a body and the next subject.
            held("events.o.s.r.e.Zo", "ë is next; so is Zo"),
            held("ë.o.s.r.e.o", "{}"),
        ];
        let mut sim = Simulator::new(SimConfig {
            seed: 9,
            ..SimConfig::default()
        });
        events.extend((0..400).map(|_| {
            let env = sim.next();
            held(&env.subject().unwrap(), serde_json::to_vec(&env).unwrap())
        }));
        events
    }

    const WORDS: &[&str] = &[
        "",
        " ",
        "zoë",
        "ZOË",
        "Zoë",
        "zo\\u00eb",
        "\\u00eb",
        "\"hi\"",
        "\\\"hi\\\"",
        "\\",
        "k",
        "K",
        "\u{212A}",
        "kelvin \u{212a}",
        "i\u{307}",
        "\u{307}",
        "i\u{307}x",
        "istanbul",
        "İstanbul",
        "σας",
        "ΣΑΣ",
        "ς",
        "σ",
        "ΟΔΟΣ",
        "οδος",
        "οδοσ",
        "σσ",
        "ß",
        "ẞ",
        "strasse",
        "ǆ",
        "ǅ",
        "timeout",
        "TIMEOUT",
        "xyzzy",
        "xy",
        "zzy",
        "hedgehog",
        "ÉVT",
        "evt_é",
        "evt_\\u00e9",
        "events",
        "eventevents",
        "\u{FFFD}",
        "\u{FFFD} r",
        "é",
        "ë",
        "🎉",
        "}",
        "{",
        "\"",
        "a",
        "e",
        "quill",
        "disk full",
    ];

    const REGEXES: &[&str] = &[
        "timeout",
        "(?i)zoë",
        "^\\{",
        "\\}$",
        "^events\\.",
        "\\bhi\\b",
        "Zo\\x{eb}",
        "\\x{FFFD}",
        "\\d+",
        "a|b",
        "(?i)σας",
        ".",
        "^$",
        "x*",
        "\\\\u00eb",
        "kelvin|hedgehog",
        "(?i)hedgehog",
        "^eout",
        "xyzzy",
        "evt_é",
        "(?m)^tim",
        "timed out after \\d+s",
        "\\d+ Bad Gateway",
        "(?i)TIMEOUT",
        "[a-z]+_[0-9]",
        "event$",
        "\\x{212A}",
    ];

    /// Words and phrases cut from the events (any script, any length up to 12 characters), in
    /// their case or another, and words found nowhere.
    fn random_words(rng: &mut StdRng, events: &[Held], count: usize) -> Vec<String> {
        (0..count)
            .map(|_| {
                let (subject, _, body) = &events[rng.random_range(0..events.len())];
                let bytes = if rng.random_bool(0.1) {
                    subject.as_bytes()
                } else {
                    body
                };
                let at = rng.random_range(0..=bytes.len());
                let near = &bytes[at.saturating_sub(48)..(at + 48).min(bytes.len())];
                let chars: Vec<char> = String::from_utf8_lossy(near).chars().collect();
                if chars.is_empty() || rng.random_bool(0.05) {
                    return "qzxv".to_string();
                }
                let start = rng.random_range(0..chars.len());
                let len = rng.random_range(1..=12).min(chars.len() - start);
                let word: String = chars[start..start + len].iter().collect();
                match rng.random_range(0..4) {
                    0 => word.to_uppercase(),
                    1 => word.to_lowercase(),
                    2 => word
                        .chars()
                        .map(|c| match rng.random_bool(0.5) {
                            true => c.to_ascii_uppercase(),
                            false => c,
                        })
                        .collect(),
                    _ => word,
                }
            })
            .collect()
    }

    /// Regexes made from words: the literal, with case-insensitivity, anchors, boundaries,
    /// classes around it.
    fn random_regexes(rng: &mut StdRng, words: &[String]) -> Vec<String> {
        words
            .iter()
            .map(|w| {
                let lit = regex::escape(w);
                match rng.random_range(0..6) {
                    0 => lit,
                    1 => format!("(?i){lit}"),
                    2 => format!("{lit}\\w*\\d"),
                    3 => format!("\\b{lit}"),
                    4 => format!("^.*{lit}$"),
                    _ => format!("(?:{lit}|[A-Z]{{3}}_)"),
                }
            })
            .collect()
    }

    #[test]
    fn the_meaning_docs_filter_md_gives_free_text() {
        let kelvin_koln = "{\"city\":\"\u{212A}ÖLN\"}";
        let events = [
            held("events.o.s.r.e.a", br#"{"name":"Zo\u00eb"}"#),
            held("events.o.s.r.e.b", kelvin_koln),
            held("events.o.s.r.e.c", r#"{"name":"zoë"}"#),
            held("events.o.s.r.e.d", b"Zo\xc3\xab \xff"),
            (
                "events.o.s.r.e.e".to_string(),
                vec![("X-Note".to_string(), "hedgehog".to_string())],
                b"{}".to_vec(),
            ),
            held("events.o.s.r.e.ZOË", b"{}"),
        ];
        let terms = [
            text("zoë"),
            text("ZOË"),
            text("k"),
            text("kö"),
            text("\\u00eb"),
            text("hedgehog"),
            text("E.ZO"),
            regex("Zo\\x{eb}"),
            regex("\\x{FFFD}"),
        ];
        assert_eq!(
            check(&events, &terms),
            [
                vec![2, 3, 5],
                vec![2, 3, 5],
                vec![],
                vec![1],
                vec![0],
                vec![],
                vec![5],
                vec![3],
                vec![3],
            ]
        );
    }

    /// However the cursor is asked (forward in small and large steps, back, in another
    /// chunk, with lookaheads that cut literals in two), it answers the leftmost literal that
    /// starts in `from..end`.
    #[test]
    fn the_cursor_finds_the_leftmost_candidate_however_it_is_asked() {
        // `x` inside `bxb`: a short literal found where a long one was cut off.
        let literals: Vec<Vec<u8>> = ["k", "\u{212A}", "x", "bxb"]
            .iter()
            .map(|l| l.as_bytes().to_vec())
            .collect();
        let finders = [Finder::of_literals(&literals), Finder::automaton(&literals)];
        let leftmost = |hay: &[u8], from: usize, end: usize| {
            (from..end).find(|&s| literals.iter().any(|l| hay[s..].starts_with(l)))
        };
        let mut rng = StdRng::seed_from_u64(8);
        let pieces: [&[u8]; 5] = [b"a", b"b", b"k", "\u{212A}".as_bytes(), b"x"];
        let mut wrong = Vec::new();
        for _ in 0..500 {
            let hays: Vec<Vec<u8>> = (0..2)
                .map(|_| {
                    (0..rng.random_range(0..120))
                        .flat_map(|_| pieces[rng.random_range(0..pieces.len())].to_vec())
                        .collect()
                })
                .collect();
            let finder = &finders[usize::from(rng.random_bool(0.5))];
            let mut cursor = Cursor::new(rng.random_range(0..12));
            let mut from = 0;
            for _ in 0..40 {
                let hay = &hays[usize::from(rng.random_bool(0.1))];
                from = match rng.random_range(0..10) {
                    0 => rng.random_range(0..=hay.len()),
                    _ => (from + rng.random_range(0..12)).min(hay.len()),
                };
                let end = (from + rng.random_range(0..30)).min(hay.len());
                let got = cursor.next(finder, hay, from, end);
                let found = got
                    .clone()
                    .filter(|at| literals.iter().any(|l| &hay[at.clone()] == l));
                if got.as_ref().map(|at| at.start) != leftmost(hay, from, end)
                    || got.is_some() && found.is_none()
                {
                    wrong.push(format!(
                        "{finder:?} at {from}..{end} of {:?}: {got:?}",
                        String::from_utf8_lossy(hay)
                    ));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{}",
            wrong[..wrong.len().min(10)].join("\n")
        );
    }

    /// [`check`] of free text and regexes, most of which find something: two searches that
    /// agree on finding nothing prove little.
    fn check_found(events: &[Held], words: &[impl AsRef<str>], regexes: &[impl AsRef<str>]) {
        let terms: Vec<Term> = words
            .iter()
            .map(|w| text(w.as_ref()))
            .chain(regexes.iter().map(|r| regex(r.as_ref())))
            .collect();
        let answers = check(events, &terms);
        let found = answers.iter().filter(|a| !a.is_empty()).count();
        assert!(
            found * 3 > terms.len() * 2,
            "{found} of {} find",
            terms.len()
        );
    }

    #[test]
    fn fixed_words_and_regexes_agree_with_the_old_search() {
        check_found(&hostile(), WORDS, REGEXES);
    }

    #[test]
    fn random_words_and_regexes_agree_with_the_old_search() {
        let events = hostile();
        let mut rng = StdRng::seed_from_u64(21);
        let words = random_words(&mut rng, &events, 300);
        let regexes = random_regexes(&mut rng, &words[..100]);
        check_found(&events, &words, &regexes);
    }

    /// Bodies of 1,000,000 bytes (the most NATS delivers) among small ones: the store's 4 MiB
    /// chunks hold four of them at most, so the five spread over two chunks or more, and the
    /// sweep's lookahead ends inside them.
    #[test]
    fn one_megabyte_bodies_agree_with_the_old_search() {
        let mut rng = StdRng::seed_from_u64(33);
        let filler = "lorem ipsum dolor sit amet Zoë ΣΑΣ timeou tEVENT ";
        let mut events = hostile();
        for i in 0..5 {
            let mut body = format!(r#"{{"payload":"timeout {i} "#);
            while body.len() < 1_000_000 - 40 {
                body.push_str(filler);
                if rng.random_bool(0.001) {
                    body.push_str("hedgehog ");
                }
            }
            body.push_str(" Zoë ends\"}");
            events.insert(100 + i * 50, held("events.o.s.r.e.big", body));
        }
        let mut words = random_words(&mut rng, &events, 20);
        words.extend(["ends", "Zoë ends", "hedgehog", "timeout 4", "disk full"].map(String::from));
        check_found(&events, &words, &["hedgehog", "ends\"\\}$", "(?i)zoë ends"]);
    }
}
