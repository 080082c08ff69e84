//! HTTP/2 (RFC 9113) and HPACK (RFC 7541), sans-IO: bytes in, events and bytes out.
//!
//! Laid out like hyper's `h2`: `hpack/` is the header compression (decoder, encoder, the
//! static and dynamic tables, Huffman coding), written by hand from the RFC; `frame/` reads and
//! writes the ten frame types. The connection object (`connection.rs`, in the style of
//! python-h2) sits on both. Nothing here touches a socket, a thread or a clock it was not given.

pub mod frame;
pub mod hpack;

pub use frame::{ErrorCode, StreamId};
