//! Splitting a byte stream into whole PDUs.

use crate::pdu::{HEADER_LEN, MAX_PDU_LEN};

/// A `command_length` this splitter refuses.
///
/// After this the stream cannot be resynchronised: SMPP has no frame marker. The session
/// answers `generic_nack` with `ESME_RINVCMDLEN` and drops the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("command_length {command_length} is outside 16..={max}")]
pub struct FrameError {
    /// The length the peer declared.
    pub command_length: u32,
    /// The limit in force.
    pub max: u32,
    /// The declared sequence number, when the header arrived far enough to read it.
    pub sequence_number: Option<u32>,
}

/// Collects arbitrary chunks of bytes and yields whole PDUs (`command_length` octets each).
#[derive(Debug, Clone)]
pub struct FrameSplitter {
    buf: Vec<u8>,
    max: u32,
    failed: Option<FrameError>,
}

impl Default for FrameSplitter {
    fn default() -> Self {
        Self::new(MAX_PDU_LEN)
    }
}

impl FrameSplitter {
    /// A splitter accepting PDUs of up to `max` octets (at least 16).
    pub fn new(max: u32) -> FrameSplitter {
        FrameSplitter {
            buf: Vec::new(),
            max: max.max(HEADER_LEN as u32),
            failed: None,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Octets buffered but not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Forgets everything (for a new connection).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.failed = None;
    }

    /// The next whole PDU, `Ok(None)` if more bytes are needed, or the error that stopped
    /// the stream (returned again on every later call until [`reset`](Self::reset)).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let Some(len_bytes) = self.buf.get(0..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        if len < HEADER_LEN as u32 || len > self.max {
            let sequence_number = self
                .buf
                .get(12..16)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            let e = FrameError {
                command_length: len,
                max: self.max,
                sequence_number,
            };
            self.failed = Some(e);
            self.buf.clear();
            return Err(e);
        }
        let len = len as usize;
        if self.buf.len() < len {
            return Ok(None);
        }
        let rest = self.buf.split_off(len);
        Ok(Some(std::mem::replace(&mut self.buf, rest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::{Body, Pdu};
    use proptest::prelude::*;

    #[test]
    fn yields_whole_pdus_from_byte_by_byte_input() {
        let a = Pdu::new(1, Body::EnquireLink).encode().unwrap();
        let b = Pdu::new(2, Body::UnbindResp).encode().unwrap();
        let stream: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        let mut s = FrameSplitter::default();
        let mut frames = Vec::new();
        for byte in stream {
            s.push(&[byte]);
            while let Some(f) = s.next_frame().unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames, vec![a, b]);
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn rejects_short_and_huge_lengths() {
        let mut s = FrameSplitter::default();
        s.push(&[0, 0, 0, 8, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 9]);
        let e = s.next_frame().unwrap_err();
        assert_eq!(e.command_length, 8);
        assert_eq!(e.sequence_number, Some(9));
        assert_eq!(s.next_frame().unwrap_err(), e);
        s.reset();
        s.push(&[0, 2, 0, 1]);
        let e = s.next_frame().unwrap_err();
        assert_eq!(e.command_length, 0x0002_0001);
        assert_eq!(e.sequence_number, None);
        assert!(e.to_string().contains("outside 16..=65536"));
    }

    proptest! {
        #[test]
        fn arbitrary_chunks_never_panic(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)
        ) {
            let mut s = FrameSplitter::default();
            for c in chunks {
                s.push(&c);
                while let Ok(Some(f)) = s.next_frame() {
                    let _ = Pdu::decode(&f);
                }
            }
        }

        #[test]
        fn chunking_does_not_change_the_frames(cuts in proptest::collection::vec(0usize..80, 0..10)) {
            let pdus: Vec<Vec<u8>> = (1..5)
                .map(|i| Pdu::new(i, Body::EnquireLink).encode().unwrap())
                .collect();
            let stream: Vec<u8> = pdus.concat();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.sort();
            let mut s = FrameSplitter::default();
            let mut out = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain(std::iter::once(stream.len())) {
                s.push(&stream[at..c]);
                at = c;
                while let Some(f) = s.next_frame().unwrap() {
                    out.push(f);
                }
            }
            prop_assert_eq!(out, pdus);
        }
    }
}
