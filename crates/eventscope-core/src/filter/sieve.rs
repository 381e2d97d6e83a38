//! One event at a time through a filter, for readers that hold nothing (`tail`, history).

use crate::store::{EventStore, Incoming, StoreLimits};

use super::Filter;

/// A filter and the one-event store it evaluates messages in: the filter reads events as the
/// app holds them, so the CLI, history and the app agree on every query.
pub struct Sieve {
    filter: Filter,
    store: EventStore,
}

impl Sieve {
    pub fn new(filter: Filter) -> Sieve {
        Sieve {
            filter,
            // Holding one event keeps at most two chunks allocated.
            store: EventStore::new(StoreLimits {
                capacity: 1,
                max_bytes: usize::MAX,
            }),
        }
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Whether the filter keeps this message, received at `now_ms` (relative times count back
    /// from it).
    pub fn keeps(&mut self, subject: &str, body: &[u8], now_ms: i64) -> bool {
        let seq = self.store.push(Incoming {
            subject,
            headers: &[],
            body,
            received_ms: now_ms,
        });
        self.store
            .get(seq)
            .is_some_and(|ev| self.filter.matches(&ev, now_ms))
    }
}
