//! Eventscope's core: everything but the UI, with no knowledge of Tauri.
//!
//! The desktop shell, the CLI and the benchmarks are thin layers over these modules.

pub mod compose;
pub mod event;
pub mod export;
pub mod facets;
pub mod filter;
pub mod gateway;
pub mod history;
pub mod json_scan;
pub mod live;
pub mod nats_context;
pub mod ndjson;
pub mod notify;
pub mod profile;
pub mod publish;
pub mod record;
pub mod saved;
pub mod scenario;
pub mod sent;
pub mod shape;
pub mod simulate;
pub mod source;
pub mod store;
pub mod template;
pub mod timeline;
pub mod topic;
pub mod view;
pub mod wire;

/// Where Eventscope looks for NATS when nothing else is configured.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
