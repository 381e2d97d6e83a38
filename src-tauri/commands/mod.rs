//! Tauri commands: adapters that parse the request, call the core and map the error.
pub mod connection;
pub mod events;
pub mod files;
pub mod notify;
pub mod publish;
pub mod recording;
pub mod shape;
pub mod timeline;
pub mod views;
