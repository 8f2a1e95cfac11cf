//! `cairn-server`: a thin S3 HTTP layer over `cairn-engine`.
//!
//! `s3s` parses and signs S3 requests and writes responses; `service.rs` maps each S3 operation
//! onto the engine's public API; `error.rs` maps every engine error to the S3 error AWS returns,
//! in one place; `http.rs` accepts connections; `config.rs` is the configuration.
//!
//! Tests start the server in-process with [`start`] on an ephemeral 127.0.0.1 port.

pub mod config;
mod error;
mod guard;
mod http;
mod service;

pub use config::{Config, Credentials, User};
pub use guard::PRESIGNED_EXPIRES_SECONDS_MAX;
pub use http::{REQUEST_HEAD_BYTES_MAX, ServerHandle, start};
