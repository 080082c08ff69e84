//! WebSocket (RFC 6455), sans-IO, in the style of wsproto and tungstenite: the opening
//! handshake, the frame codec, incremental UTF-8 validation and close codes.
