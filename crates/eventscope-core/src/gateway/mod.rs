//! The WebSocket gateway's wire protocol, shared by the gateway server
//! (`crates/eventscope-gateway`, which also owns token auth) and by Eventscope's gateway source
//! (`source::gateway`).

pub mod history;
pub mod protocol;
