//! HPACK (RFC 7541): how HTTP/2 compresses header lists, written by hand.
