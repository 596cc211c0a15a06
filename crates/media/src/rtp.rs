//! RTP packet parsing and serialisation (RFC 3550 §5.1).
//!
//! Parsing borrows from the datagram and never allocates; malformed input is
//! rejected with an [`RtpError`], never a panic.

use thiserror::Error;

/// Size of the fixed RTP header.
pub const HEADER_LEN: usize = 12;

/// Why a datagram is not an acceptable RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    #[error("datagram shorter than the RTP header")]
    TooShort,
    #[error("RTP version is {0}, expected 2")]
    BadVersion(u8),
    #[error("CSRC list or header extension runs past the end of the datagram")]
    Truncated,
    #[error("padding length is invalid")]
    BadPadding,
    #[error("payload type {0} is an RTCP packet type")]
    LooksLikeRtcp(u8),
}

/// The fields of an RTP header that hotline uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// A parsed RTP packet borrowing its payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub header: RtpHeader,
    /// Payload with CSRCs, extension and padding removed.
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses one datagram.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        if buf.len() < HEADER_LEN {
            return Err(RtpError::TooShort);
        }
        let b0 = buf[0];
        let version = b0 >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let padding = b0 & 0x20 != 0;
        let extension = b0 & 0x10 != 0;
        let csrc_count = usize::from(b0 & 0x0f);
        let b1 = buf[1];
        let marker = b1 & 0x80 != 0;
        let payload_type = b1 & 0x7f;
        // RFC 5761 §4: RTCP packet types 200..=204 land on PT 72..=76 with the marker set.
        if (72..=76).contains(&payload_type) {
            return Err(RtpError::LooksLikeRtcp(payload_type));
        }
        let sequence = u16::from_be_bytes([buf[2], buf[3]]);
        let timestamp = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let mut start = HEADER_LEN + 4 * csrc_count;
        if start > buf.len() {
            return Err(RtpError::Truncated);
        }
        if extension {
            if start + 4 > buf.len() {
                return Err(RtpError::Truncated);
            }
            let words = usize::from(u16::from_be_bytes([buf[start + 2], buf[start + 3]]));
            start += 4 + 4 * words;
            if start > buf.len() {
                return Err(RtpError::Truncated);
            }
        }
        let mut end = buf.len();
        if padding {
            let pad = usize::from(buf[end - 1]);
            if pad == 0 || start + pad > end {
                return Err(RtpError::BadPadding);
            }
            end -= pad;
        }
        Ok(RtpPacket {
            header: RtpHeader {
                marker,
                payload_type,
                sequence,
                timestamp,
                ssrc,
            },
            payload: &buf[start..end],
        })
    }
}

impl RtpHeader {
    /// Writes the 12-byte fixed header (no CSRCs, no extension, no padding).
    /// Returns the number of bytes written, or `None` if `out` is too small.
    pub fn write(&self, out: &mut [u8]) -> Option<usize> {
        let hdr = out.get_mut(..HEADER_LEN)?;
        hdr[0] = 0x80;
        hdr[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7f);
        hdr[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        hdr[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        hdr[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        Some(HEADER_LEN)
    }
}

/// Writes a whole packet (header then payload) into `out`; returns its length.
pub fn write_packet(header: &RtpHeader, payload: &[u8], out: &mut [u8]) -> Option<usize> {
    let n = header.write(out)?;
    let dst = out.get_mut(n..n + payload.len())?;
    dst.copy_from_slice(payload);
    Some(n + payload.len())
}

/// Serial-number comparison of 16-bit sequence numbers (RFC 1982): signed distance `b - a`.
#[inline]
pub fn seq_diff(a: u16, b: u16) -> i16 {
    b.wrapping_sub(a) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let h = RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 65535,
            timestamp: 0xdead_beef,
            ssrc: 0x0102_0304,
        };
        let mut buf = [0u8; 64];
        let n = write_packet(&h, &[1, 2, 3], &mut buf).unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert_eq!(p.header, h);
        assert_eq!(p.payload, &[1, 2, 3]);
    }

    #[test]
    fn csrc_extension_padding() {
        // V=2 P=1 X=1 CC=1, PT 0
        let mut b = vec![0xb1, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
        b.extend_from_slice(&[0, 0, 0, 7]); // CSRC
        b.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // extension of 1 word
        b.extend_from_slice(&[0xaa, 0xbb]); // payload
        b.extend_from_slice(&[0, 0, 3]); // padding of 3
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.payload, &[0xaa, 0xbb]);
        assert_eq!(p.header.ssrc, 9);
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(RtpPacket::parse(&[0x80; 5]), Err(RtpError::TooShort));
        assert_eq!(
            RtpPacket::parse(&[0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::BadVersion(1))
        );
        assert_eq!(
            RtpPacket::parse(&[0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::Truncated)
        );
        assert_eq!(
            RtpPacket::parse(&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::BadPadding)
        );
        assert_eq!(
            RtpPacket::parse(&[0x80, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::LooksLikeRtcp(72))
        );
    }

    #[test]
    fn seq_wrap() {
        assert_eq!(seq_diff(65535, 0), 1);
        assert_eq!(seq_diff(0, 65535), -1);
    }
}
