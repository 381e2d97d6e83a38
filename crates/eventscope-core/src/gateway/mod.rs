//! The WebSocket gateway's shared ground: its protocol and its authorization rule, used by the
//! gateway server (`crates/eventscope-gateway`) and by Eventscope's gateway source.

pub mod auth;
pub mod protocol;
