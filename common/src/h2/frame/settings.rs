//! SETTINGS (RFC 9113 §6.5): each side's parameters, as (16-bit id, 32-bit value) pairs, and
//! the empty ACK that says "applied". Values are checked here (§6.5.2), so the connection only
//! ever sees settings it can apply; unknown ids are ignored, as the RFC requires.

use super::{conn_err, flags, ErrorCode, FrameError, Head, Kind, StreamId};
use super::{DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE, MAX_WINDOW};

/// The ids of RFC 9113 §6.5.2, in the order `SettingsFrame::write` sends them.
pub const SETTINGS_IDS: [u16; 6] = [1, 2, 3, 4, 5, 6];

/// One SETTINGS frame: the values it carries (`None`: not mentioned, keep the current one).
/// When an id appears twice, the last value wins (§6.5.3 processes them in order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SettingsFrame {
    pub ack: bool,
    pub header_table_size: Option<u32>,
    pub enable_push: Option<u32>,
    pub max_concurrent_streams: Option<u32>,
    pub initial_window_size: Option<u32>,
    pub max_frame_size: Option<u32>,
    pub max_header_list_size: Option<u32>,
}

impl SettingsFrame {
    pub fn ack() -> SettingsFrame {
        SettingsFrame {
            ack: true,
            ..SettingsFrame::default()
        }
    }

    pub fn parse(head: &Head, payload: &[u8]) -> Result<SettingsFrame, FrameError> {
        if !head.stream.is_connection() {
            return conn_err(ErrorCode::PROTOCOL_ERROR, "SETTINGS on a stream");
        }
        if head.has(flags::ACK) {
            if !payload.is_empty() {
                return conn_err(ErrorCode::FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
            }
            return Ok(SettingsFrame::ack());
        }
        if !payload.len().is_multiple_of(6) {
            return conn_err(
                ErrorCode::FRAME_SIZE_ERROR,
                "SETTINGS not a multiple of 6 bytes",
            );
        }
        let mut frame = SettingsFrame::default();
        for pair in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([pair[0], pair[1]]);
            let value = u32::from_be_bytes([pair[2], pair[3], pair[4], pair[5]]);
            match id {
                1 => frame.header_table_size = Some(value),
                2 if value > 1 => {
                    return conn_err(ErrorCode::PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH not 0 or 1")
                }
                2 => frame.enable_push = Some(value),
                3 => frame.max_concurrent_streams = Some(value),
                4 if value > MAX_WINDOW => {
                    return conn_err(
                        ErrorCode::FLOW_CONTROL_ERROR,
                        "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
                    )
                }
                4 => frame.initial_window_size = Some(value),
                5 if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) => {
                    return conn_err(
                        ErrorCode::PROTOCOL_ERROR,
                        "SETTINGS_MAX_FRAME_SIZE outside 16384..=16777215",
                    )
                }
                5 => frame.max_frame_size = Some(value),
                6 => frame.max_header_list_size = Some(value),
                // Unknown or extension settings (RFC 8441's 8, RFC 9218's 9...): ignored.
                _ => {}
            }
        }
        Ok(frame)
    }

    fn values(&self) -> [Option<u32>; 6] {
        [
            self.header_table_size,
            self.enable_push,
            self.max_concurrent_streams,
            self.initial_window_size,
            self.max_frame_size,
            self.max_header_list_size,
        ]
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        let values = self.values();
        let count = values.iter().flatten().count() as u32;
        Head {
            length: count * 6,
            kind: Kind::Settings,
            flags: if self.ack { flags::ACK } else { 0 },
            stream: StreamId::CONNECTION,
        }
        .write(out);
        for (id, value) in SETTINGS_IDS.iter().zip(values) {
            if let Some(value) = value {
                out.extend_from_slice(&id.to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
        }
    }
}
