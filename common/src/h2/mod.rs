//! HTTP/2 (RFC 9113) and HPACK (RFC 7541), sans-IO: bytes in, events and bytes out.
//!
//! Laid out like hyper's `h2`: `hpack/` is the header compression (decoder, encoder, the
//! static and dynamic tables, Huffman coding), written by hand from the RFC; `frame/` reads and
//! writes the ten frame types; `connection.rs` is the connection object, in the style of
//! python-h2, with its streams (`stream.rs`), windows (`flow.rs`) and request checks
//! (`head.rs`). Nothing here touches a socket, a thread or a clock it was not given.

mod connection;
mod flow;
pub mod frame;
mod head;
pub mod hpack;
pub mod http;
mod stream;

pub use connection::{
    Connection, ConnectionError, Event, SendError, Settings, MAX_EMPTY_FRAMES, MAX_HEADER_BLOCK,
    MAX_PENDING_CONTROL, PREFACE, RESET_ALLOWANCE, RESET_SHARE,
};
pub use frame::{ErrorCode, StreamId};
pub use head::RequestHead;
pub use hpack::Field;

#[cfg(test)]
mod tests;
