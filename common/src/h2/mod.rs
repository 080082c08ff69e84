//! HTTP/2 (RFC 9113) and HPACK (RFC 7541), sans-IO: bytes in, events and bytes out.
//!
//! Laid out like hyper's `h2`: `hpack/` is the header compression (decoder, encoder, the
//! static and dynamic tables, Huffman coding), written by hand from the RFC. The frame layer
//! and the connection object (in the style of python-h2) sit beside it. Nothing here touches a
//! socket, a thread or a clock it was not given.

pub mod hpack;
