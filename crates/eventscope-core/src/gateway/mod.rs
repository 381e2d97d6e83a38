//! The WebSocket gateway's shared ground: its protocol, used by the gateway server
//! (`crates/eventscope-gateway`, which also owns token auth) and by Eventscope's gateway source.

pub mod client;
pub mod protocol;
