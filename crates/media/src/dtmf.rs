//! RFC 4733 telephone-events: receiving (one report per event, however many
//! end packets arrive) and sending (growing duration, three end packets).

use crate::rtp::RtpPacket;

/// A DTMF key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digit(char);

impl Digit {
    /// Digit from its character `0-9 * # A-D`.
    pub fn from_char(c: char) -> Option<Digit> {
        let c = c.to_ascii_uppercase();
        matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(Digit(c))
    }

    /// Digit from an RFC 4733 event code (0–15).
    pub fn from_event(code: u8) -> Option<Digit> {
        let c = match code {
            0..=9 => char::from(b'0' + code),
            10 => '*',
            11 => '#',
            12..=15 => char::from(b'A' + code - 12),
            _ => return None,
        };
        Some(Digit(c))
    }

    /// RFC 4733 event code.
    pub fn event_code(self) -> u8 {
        match self.0 {
            '*' => 10,
            '#' => 11,
            // Only validated characters are stored: '0'..='9' | 'A'..='D'.
            c @ '0'..='9' => c as u8 - b'0',
            c => c as u8 - b'A' + 12,
        }
    }

    /// The key as a character.
    pub fn as_char(self) -> char {
        self.0
    }

    /// (row, column) frequencies in Hz.
    pub fn frequencies(self) -> (f32, f32) {
        const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
        const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
        let (r, c) = match self.0 {
            '1' => (0, 0),
            '2' => (0, 1),
            '3' => (0, 2),
            'A' => (0, 3),
            '4' => (1, 0),
            '5' => (1, 1),
            '6' => (1, 2),
            'B' => (1, 3),
            '7' => (2, 0),
            '8' => (2, 1),
            '9' => (2, 2),
            'C' => (2, 3),
            '*' => (3, 0),
            '0' => (3, 1),
            '#' => (3, 2),
            _ => (3, 3),
        };
        (ROWS[r], COLS[c])
    }
}

impl std::fmt::Display for Digit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The 4-byte telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses a payload; `None` when shorter than 4 bytes.
    pub fn parse(p: &[u8]) -> Option<Self> {
        let b = p.get(..4)?;
        Some(TelephoneEvent {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// Serialises to the 4-byte payload.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }
}

/// A completed key press received as telephone-events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedDigit {
    pub digit: Digit,
    /// RTP timestamp identifying the event.
    pub timestamp: u32,
    /// Duration in timestamp units (samples at 8 kHz).
    pub duration: u16,
}

/// RFC 4733 receiver: reports each event exactly once.
///
/// Events are identified by their RTP timestamp (RFC 4733 §2.5.1.2). An event
/// is reported at its first end packet; retransmitted end packets, and late
/// packets of an event already reported, are ignored. An event whose end
/// packets were all lost is reported when the next event starts, or by
/// [`Rfc4733Receiver::flush_stale`] when the stream goes quiet.
#[derive(Debug, Default, Clone)]
pub struct Rfc4733Receiver {
    current: Option<Current>,
    last_done_ts: Option<u32>,
    ssrc: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    ts: u32,
    event: u8,
    duration: u16,
    reported: bool,
}

impl Rfc4733Receiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event RTP packet. Returns a digit when an event completes.
    /// A malformed payload is ignored.
    pub fn on_packet(&mut self, pkt: &RtpPacket<'_>) -> Option<ReceivedDigit> {
        let ev = TelephoneEvent::parse(pkt.payload)?;
        let ts = pkt.header.timestamp;
        if self.ssrc != Some(pkt.header.ssrc) {
            // A new source: forget the old one's event identities.
            self.ssrc = Some(pkt.header.ssrc);
            self.last_done_ts = None;
            let prev = self.current.take();
            let out = prev.and_then(Self::report_unended);
            return self.start_or_update(ts, ev).or(out);
        }
        if let Some(done) = self.last_done_ts {
            // Same or older event than one already reported: retransmission or late.
            if (ts.wrapping_sub(done) as i32) <= 0 {
                return None;
            }
        }
        match self.current {
            Some(cur) if cur.ts == ts => self.start_or_update(ts, ev),
            Some(cur) if (ts.wrapping_sub(cur.ts) as i32) < 0 => None,
            Some(cur) => {
                // A newer event began before the current one's end arrived.
                self.last_done_ts = Some(cur.ts);
                self.current = None;
                let prev = Self::report_unended(cur);
                let next = self.start_or_update(ts, ev);
                prev.or(next)
            }
            None => self.start_or_update(ts, ev),
        }
    }

    fn report_unended(cur: Current) -> Option<ReceivedDigit> {
        if cur.reported {
            return None;
        }
        Some(ReceivedDigit {
            digit: Digit::from_event(cur.event)?,
            timestamp: cur.ts,
            duration: cur.duration,
        })
    }

    fn start_or_update(&mut self, ts: u32, ev: TelephoneEvent) -> Option<ReceivedDigit> {
        let cur = self.current.get_or_insert(Current {
            ts,
            event: ev.event,
            duration: 0,
            reported: false,
        });
        cur.duration = cur.duration.max(ev.duration);
        if ev.end && !cur.reported {
            cur.reported = true;
            let out = ReceivedDigit {
                digit: Digit::from_event(cur.event)?,
                timestamp: ts,
                duration: cur.duration,
            };
            self.last_done_ts = Some(ts);
            self.current = None;
            return Some(out);
        }
        None
    }

    /// Reports an event whose end never arrived; call when no telephone-event has
    /// arrived for a while (e.g. 200 ms after the last one).
    pub fn flush_stale(&mut self) -> Option<ReceivedDigit> {
        let cur = self.current.take()?;
        self.last_done_ts = Some(cur.ts);
        Self::report_unended(cur)
    }

    /// Whether an event is in progress (not yet ended).
    pub fn in_progress(&self) -> bool {
        self.current.is_some()
    }
}

/// One telephone-event packet to send: the stream stamps sequence and SSRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    pub payload: [u8; 4],
    pub marker: bool,
    /// Offset added to the event's start timestamp: always 0 (all packets of an
    /// event carry its start timestamp).
    pub end: bool,
}

/// RFC 4733 sender for one key press, one packet per 20 ms tick.
#[derive(Debug, Clone)]
pub struct Rfc4733Sender {
    event: u8,
    volume: u8,
    total: u16,
    sent_duration: u16,
    end_sent: u8,
    first: bool,
}

/// Samples per 20 ms packet at 8 kHz.
const STEP: u16 = 160;

impl Rfc4733Sender {
    /// A key press lasting `duration_ms` (clamped to 40..=2000 ms), at `volume` dBm0 below 0 (0–63).
    pub fn new(digit: Digit, duration_ms: u32, volume: u8) -> Self {
        let ms = duration_ms.clamp(40, 2000);
        Rfc4733Sender {
            event: digit.event_code(),
            volume: volume.min(63),
            // ms * 8 <= 16000, fits u16.
            total: (ms * 8) as u16,
            sent_duration: 0,
            end_sent: 0,
            first: true,
        }
    }

    /// The next packet, or `None` when the event and its three end packets are sent.
    pub fn next_packet(&mut self) -> Option<EventPacket> {
        if self.end_sent >= 3 {
            return None;
        }
        let end = if self.sent_duration < self.total {
            self.sent_duration = (self.sent_duration + STEP).min(self.total);
            self.sent_duration >= self.total
        } else {
            true
        };
        if end {
            self.end_sent += 1;
        }
        let marker = std::mem::replace(&mut self.first, false);
        Some(EventPacket {
            payload: TelephoneEvent {
                event: self.event,
                end,
                volume: self.volume,
                duration: self.sent_duration,
            }
            .to_bytes(),
            marker,
            end,
        })
    }

    /// Whether all packets have been produced.
    pub fn done(&self) -> bool {
        self.end_sent >= 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpHeader;

    fn pkt(ts: u32, payload: &[u8; 4]) -> RtpPacket<'_> {
        RtpPacket {
            header: RtpHeader {
                marker: false,
                payload_type: 101,
                sequence: 0,
                timestamp: ts,
                ssrc: 1,
            },
            payload,
        }
    }

    #[test]
    fn digit_codes_roundtrip() {
        for code in 0..16 {
            let d = Digit::from_event(code).unwrap();
            assert_eq!(d.event_code(), code);
            assert_eq!(Digit::from_char(d.as_char()), Some(d));
        }
        assert_eq!(Digit::from_event(16), None);
        assert_eq!(Digit::from_char('x'), None);
    }

    #[test]
    fn sender_then_receiver_counts_once() {
        let mut s = Rfc4733Sender::new(Digit::from_char('5').unwrap(), 100, 10);
        let mut r = Rfc4733Receiver::new();
        let mut got = Vec::new();
        let mut packets = Vec::new();
        while let Some(p) = s.next_packet() {
            packets.push(p);
        }
        assert_eq!(packets.len(), 5 + 2);
        assert!(packets[0].marker);
        assert_eq!(packets.iter().filter(|p| p.end).count(), 3);
        for p in &packets {
            if let Some(d) = r.on_packet(&pkt(1000, &p.payload)) {
                got.push(d);
            }
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].digit.as_char(), '5');
        assert_eq!(got[0].duration, 800);
        // A late retransmission of the same event is not a new digit.
        assert!(r.on_packet(&pkt(1000, &packets[6].payload)).is_none());
        // The same key again is a new event (new timestamp).
        assert!(r.on_packet(&pkt(5000, &packets[6].payload)).is_some());
    }

    #[test]
    fn lost_end_reported_on_next_event() {
        let mut r = Rfc4733Receiver::new();
        let a = TelephoneEvent {
            event: 1,
            end: false,
            volume: 10,
            duration: 320,
        }
        .to_bytes();
        let b = TelephoneEvent {
            event: 2,
            end: false,
            volume: 10,
            duration: 160,
        }
        .to_bytes();
        assert!(r.on_packet(&pkt(100, &a)).is_none());
        let d = r.on_packet(&pkt(2000, &b)).unwrap();
        assert_eq!(d.digit.as_char(), '1');
        let d = r.flush_stale().unwrap();
        assert_eq!(d.digit.as_char(), '2');
        assert!(r.flush_stale().is_none());
    }
}
