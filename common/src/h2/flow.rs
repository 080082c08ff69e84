//! Flow-control windows (RFC 9113 §5.2, §6.9): how many more bytes of DATA a side may send.
//!
//! Every DATA frame spends from two windows at once, its stream's and the connection's, and
//! WINDOW_UPDATE gives credit back. A window is signed: when the peer lowers
//! SETTINGS_INITIAL_WINDOW_SIZE, every open stream's window moves by the difference and may go
//! below zero (§6.9.2), and then that stream sends nothing until enough credit comes back.

use super::frame::MAX_WINDOW;

/// A window past 2^31-1: FLOW_CONTROL_ERROR, of the stream or of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window(i64);

impl Window {
    pub fn new(size: u32) -> Window {
        Window(i64::from(size))
    }

    /// What may be sent now (0 while the window is empty or negative).
    pub fn available(self) -> usize {
        self.0.max(0) as usize
    }

    /// Credit from a WINDOW_UPDATE (or a larger initial window): never past 2^31-1.
    pub fn grow(&mut self, by: i64) -> Result<(), Overflow> {
        let grown = self.0 + by;
        if grown > i64::from(MAX_WINDOW) {
            return Err(Overflow);
        }
        self.0 = grown;
        Ok(())
    }

    /// Spends `len` bytes. A receiver calls this on every DATA frame: `Err` when the sender
    /// went past what it was given (its FLOW_CONTROL_ERROR), and then nothing is spent.
    pub fn spend(&mut self, len: usize) -> Result<(), Overflow> {
        if len as i64 > self.0 {
            return Err(Overflow);
        }
        self.0 -= len as i64;
        Ok(())
    }

    #[cfg(test)]
    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        let mut window = Window::new(65_535);
        assert_eq!(
            window.spend(65_536),
            Err(Overflow),
            "one byte past the window"
        );
        assert_eq!(window.get(), 65_535, "a refused spend spends nothing");
        window.spend(65_535).unwrap();
        assert_eq!(window.available(), 0);
        assert_eq!(
            window.spend(0),
            Ok(()),
            "an empty frame fits an empty window"
        );
        // A smaller initial window: the difference may take the window below zero.
        window.grow(-1000).unwrap();
        assert_eq!((window.get(), window.available()), (-1000, 0));
        window.grow(1500).unwrap();
        assert_eq!(window.available(), 500);
        let mut full = Window::new(MAX_WINDOW - 1);
        assert_eq!(full.grow(1), Ok(()));
        assert_eq!(
            full.grow(1),
            Err(Overflow),
            "2^31 is past the largest window"
        );
        assert_eq!(full.get(), i64::from(MAX_WINDOW));
    }
}
