//! `common`: the HTTP toolbox every stage of the workbook shares.
//!
//! Sans-IO by design: parsing, path resolution, conditional logic and response building take
//! bytes and values and return values, never touching a socket, thread or clock they were not
//! given. That is what lets a blocking server, a thread pool and an epoll loop share every
//! line of it, and what lets it be tested with plain byte strings. The one exception is
//! [`setup`], the start-up edge (binding, opening the log), kept apart and named for it.

#[cfg(feature = "auth")]
pub mod auth;
pub mod blocking;
pub mod cache;
pub mod cli;
pub mod conditional;
pub mod encoding;
pub mod framing;
#[cfg(feature = "h2")]
pub mod h2;
pub mod log;
pub mod mime;
pub mod path;
pub mod proxy;
pub mod range;
pub mod request;
pub mod response;
pub mod setup;
pub mod site;
pub mod status;
#[cfg(feature = "ws")]
pub mod ws;

pub use cache::FileCache;
pub use cli::{CommonArgs, GraceArgs, TimeoutArgs};
pub use framing::{connection_for, BodySkipper};
pub use log::LogEntry;
pub use request::{parse_head, BodyFraming, Method, Parsed, Refusal, Request, Version};
pub use response::{Body, Connection, DateCache, FileBody, Response};
pub use setup::AccessLog;
pub use site::{Reply, Site};
pub use status::Status;
