//! RTCP (RFC 3550 §6): sender and receiver reports, parsed and written, and the round-trip
//! time from a report block's LSR/DLSR (§6.4.1).
//!
//! Parsing borrows nothing past the call and never panics: any bytes give either reports or
//! an [`RtcpError`]. A compound packet is walked packet by packet; packet types other than
//! SR and RR (SDES, BYE, APP, feedback) are skipped by their length.

use thiserror::Error;

/// RTCP packet types (RFC 3550 §12.1).
pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;

/// Length of one report block.
const BLOCK_LEN: usize = 24;

/// Why a datagram is not usable RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    #[error("datagram shorter than an RTCP header")]
    TooShort,
    #[error("RTCP version is {0}, expected 2")]
    BadVersion(u8),
    #[error("packet type {0} is not RTCP")]
    NotRtcp(u8),
    #[error("an RTCP packet's length runs past the datagram")]
    Truncated,
    #[error("a report's count does not fit its length")]
    BadCount,
}

/// One report block: what the reporter received of `ssrc`'s stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The stream reported on (the sender of the media).
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Packets lost since the start (24-bit signed).
    pub cumulative_lost: i32,
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR the reporter received (0: none).
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

/// What a sender report adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    pub ntp: u64,
    pub rtp_ts: u32,
    pub packets: u32,
    pub octets: u32,
}

/// One SR or RR.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// The reporter.
    pub ssrc: u32,
    /// `Some` for a sender report.
    pub sender: Option<SenderInfo>,
    pub blocks: Vec<ReportBlock>,
}

/// Parses a (compound) RTCP datagram into its SR and RR packets. At most 8 reports and 31
/// blocks each are kept, whatever the datagram says.
pub fn parse(buf: &[u8]) -> Result<Vec<Report>, RtcpError> {
    if buf.len() < 8 {
        return Err(RtcpError::TooShort);
    }
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(RtcpError::Truncated);
        }
        let version = rest[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion(version));
        }
        let padding = rest[0] & 0x20 != 0;
        let count = usize::from(rest[0] & 0x1f);
        let pt = rest[1];
        if !(192..=223).contains(&pt) {
            return Err(RtcpError::NotRtcp(pt));
        }
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        let Some(pkt) = rest.get(..len) else {
            return Err(RtcpError::Truncated);
        };
        rest = &rest[len..];
        // Padding only on the last packet (RFC 3550 §6.4.1): its last octet says how much.
        let body_end = if padding {
            let p = usize::from(pkt[len - 1]);
            if p == 0 || p > len - 4 {
                return Err(RtcpError::Truncated);
            }
            len - p
        } else {
            len
        };
        let body = &pkt[4..body_end];
        let (sender, blocks_at) = match pt {
            PT_SR => {
                if body.len() < 24 {
                    return Err(RtcpError::BadCount);
                }
                let ntp = u64::from_be_bytes(arr8(&body[4..12]));
                let info = SenderInfo {
                    ntp,
                    rtp_ts: be32(&body[12..16]),
                    packets: be32(&body[16..20]),
                    octets: be32(&body[20..24]),
                };
                (Some(info), 24)
            }
            PT_RR => {
                if body.len() < 4 {
                    return Err(RtcpError::BadCount);
                }
                (None, 4)
            }
            _ => continue,
        };
        let blocks_bytes = &body[blocks_at..];
        if blocks_bytes.len() < count * BLOCK_LEN {
            return Err(RtcpError::BadCount);
        }
        let blocks = blocks_bytes
            .chunks_exact(BLOCK_LEN)
            .take(count)
            .map(|b| ReportBlock {
                ssrc: be32(&b[0..4]),
                fraction_lost: b[4],
                // 24-bit two's complement, sign-extended.
                cumulative_lost: (i32::from_be_bytes([b[5], b[6], b[7], 0])) >> 8,
                highest_seq: be32(&b[8..12]),
                jitter: be32(&b[12..16]),
                lsr: be32(&b[16..20]),
                dlsr: be32(&b[20..24]),
            })
            .collect();
        if out.len() < 8 {
            out.push(Report {
                ssrc: be32(&body[0..4]),
                sender,
                blocks,
            });
        }
    }
    Ok(out)
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn arr8(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    a
}

/// Writes an SR (with `report.sender`) or RR, followed by an SDES with the CNAME (a compound
/// packet as RFC 3550 §6.1 asks). Answers the length written, or `None` if `out` is too
/// small. At most 31 blocks are written.
pub fn write(report: &Report, cname: &str, out: &mut [u8]) -> Option<usize> {
    let blocks = &report.blocks[..report.blocks.len().min(31)];
    let fixed = if report.sender.is_some() { 28 } else { 8 };
    let first = fixed + blocks.len() * BLOCK_LEN;
    let cname = &cname.as_bytes()[..cname.len().min(255)];
    // SDES: header, SSRC, item (type, length, text), end (0) and padding to 32 bits.
    let sdes = (4 + 4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    let total = first + sdes;
    let out = out.get_mut(..total)?;
    out.fill(0);
    out[0] = 0x80 | blocks.len() as u8;
    out[1] = if report.sender.is_some() {
        PT_SR
    } else {
        PT_RR
    };
    out[2..4].copy_from_slice(&((first / 4 - 1) as u16).to_be_bytes());
    out[4..8].copy_from_slice(&report.ssrc.to_be_bytes());
    if let Some(s) = report.sender {
        out[8..16].copy_from_slice(&s.ntp.to_be_bytes());
        out[16..20].copy_from_slice(&s.rtp_ts.to_be_bytes());
        out[20..24].copy_from_slice(&s.packets.to_be_bytes());
        out[24..28].copy_from_slice(&s.octets.to_be_bytes());
    }
    for (i, b) in blocks.iter().enumerate() {
        let o = &mut out[fixed + i * BLOCK_LEN..fixed + (i + 1) * BLOCK_LEN];
        o[0..4].copy_from_slice(&b.ssrc.to_be_bytes());
        o[4] = b.fraction_lost;
        let lost = b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff);
        o[5..8].copy_from_slice(&lost.to_be_bytes()[1..4]);
        o[8..12].copy_from_slice(&b.highest_seq.to_be_bytes());
        o[12..16].copy_from_slice(&b.jitter.to_be_bytes());
        o[16..20].copy_from_slice(&b.lsr.to_be_bytes());
        o[20..24].copy_from_slice(&b.dlsr.to_be_bytes());
    }
    let s = &mut out[first..];
    s[0] = 0x81;
    s[1] = PT_SDES;
    s[2..4].copy_from_slice(&((sdes / 4 - 1) as u16).to_be_bytes());
    s[4..8].copy_from_slice(&report.ssrc.to_be_bytes());
    s[8] = 1; // CNAME
    s[9] = cname.len() as u8;
    s[10..10 + cname.len()].copy_from_slice(cname);
    Some(total)
}

/// The middle 32 bits of a 64-bit NTP timestamp (the "compact" form LSR and RTT use).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// A duration as a 64-bit NTP timestamp offset (32.32 fixed point seconds).
pub fn ntp_from_micros(micros: u64) -> u64 {
    let secs = micros / 1_000_000;
    let frac = ((micros % 1_000_000) << 32) / 1_000_000;
    (secs << 32) | frac
}

/// Round-trip time in milliseconds from a report block that came back (RFC 3550 §6.4.1):
/// `arrival` is the compact NTP time it arrived (on the same clock our SRs carry). `None`
/// when the reporter has had no SR of ours (LSR 0) or the figures are impossible (a negative
/// or over-a-minute round trip: another clock, or a forged report).
pub fn round_trip_ms(arrival: u32, lsr: u32, dlsr: u32) -> Option<f64> {
    if lsr == 0 {
        return None;
    }
    let rtt = arrival.wrapping_sub(lsr).wrapping_sub(dlsr);
    // Wrapping arithmetic: a "negative" result is a huge u32.
    if rtt > 60 * 65536 {
        return None;
    }
    Some(f64::from(rtt) * 1000.0 / 65536.0)
}

/// Whether a datagram on an RTP port is RTCP (RFC 5761 §4: the second octet, 192–223, falls
/// where RTP's marker bit and payload types 64–95 would be, which RTP does not use).
pub fn looks_like_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 8 && buf[0] >> 6 == 2 && (192..=223).contains(&buf[1])
}

/// The RTCP transmission interval (RFC 3550 §6.3.1): `base` randomised to between 0.5 and
/// 1.5 times itself by `r` (0–1), so that the reports of many calls started together do
/// not stay in step. (A call has two parties and a handful of reports a minute: the
/// bandwidth share and timer reconsideration of large sessions do not apply.)
pub fn interval_micros(base_micros: u64, r: f64) -> u64 {
    let r = if r.is_finite() {
        r.clamp(0.0, 1.0)
    } else {
        0.5
    };
    (base_micros as f64 * (0.5 + r)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ssrc: u32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 51,
            cumulative_lost: -3,
            highest_seq: 0x0001_0203,
            jitter: 160,
            lsr: 0xabcd_0001,
            dlsr: 0x0002_8000,
        }
    }

    #[test]
    fn sr_and_rr_round_trip() {
        let sr = Report {
            ssrc: 0x1122_3344,
            sender: Some(SenderInfo {
                ntp: 0x0102_0304_0506_0708,
                rtp_ts: 99,
                packets: 7,
                octets: 7 * 160,
            }),
            blocks: vec![block(5), block(6)],
        };
        let mut buf = [0u8; 512];
        let n = write(&sr, "hotline@example", &mut buf).unwrap();
        assert_eq!(n % 4, 0);
        assert!(looks_like_rtcp(&buf[..n]));
        assert_eq!(parse(&buf[..n]).unwrap(), vec![sr]);
        let rr = Report {
            ssrc: 9,
            sender: None,
            blocks: vec![block(1)],
        };
        let n = write(&rr, "x", &mut buf).unwrap();
        assert_eq!(parse(&buf[..n]).unwrap(), vec![rr]);
        // Too small a buffer is refused, not overrun.
        assert_eq!(write(&Report::default(), "x", &mut buf[..10]), None);
    }

    #[test]
    fn a_known_rr_from_the_wire() {
        // RR from SSRC 0x01020304, one block about 0x0a0b0c0d: 25% lost, 2 cumulative,
        // highest 1000, jitter 80, LSR 0x00010000, DLSR 0x00008000 (0.5 s).
        let mut b = vec![
            0x81, 201, 0, 7, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 64, 0, 0, 2,
        ];
        b.extend_from_slice(&1000u32.to_be_bytes());
        b.extend_from_slice(&80u32.to_be_bytes());
        b.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        b.extend_from_slice(&0x0000_8000u32.to_be_bytes());
        let r = parse(&b).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].ssrc, 0x0102_0304);
        let k = r[0].blocks[0];
        assert_eq!(
            (k.ssrc, k.fraction_lost, k.cumulative_lost),
            (0x0a0b_0c0d, 64, 2)
        );
        assert_eq!(
            (k.highest_seq, k.jitter, k.lsr, k.dlsr),
            (1000, 80, 0x10000, 0x8000)
        );
    }

    #[test]
    fn rtt_arithmetic() {
        // SR sent at compact time 10.0 s; the peer held it 0.25 s; back at 10.35 s: 100 ms.
        let lsr = 10 << 16;
        let dlsr = 65536 / 4;
        let arrival = (10 << 16) + (65536 * 35 / 100);
        let rtt = round_trip_ms(arrival, lsr, dlsr).unwrap();
        assert!((rtt - 100.0).abs() < 0.1, "{rtt}");
        // Across the 32-bit wrap.
        let lsr = u32::MAX - 100;
        let rtt = round_trip_ms(lsr.wrapping_add(6554 + 1000), lsr, 1000).unwrap();
        assert!((rtt - 100.0).abs() < 0.1, "{rtt}");
        // No SR seen, or a negative round trip: nothing.
        assert_eq!(round_trip_ms(5, 0, 0), None);
        assert_eq!(round_trip_ms(10 << 16, 10 << 16, 100), None);
        // NTP conversion: 1.5 s.
        assert_eq!(ntp_middle(ntp_from_micros(1_500_000)), (1 << 16) + 32768);
    }

    #[test]
    fn other_packets_are_skipped_and_padding_honoured() {
        let mut buf = [0u8; 256];
        let rr = Report {
            ssrc: 3,
            sender: None,
            blocks: vec![],
        };
        let n = write(&rr, "cname", &mut buf).unwrap();
        // A BYE after it, padded with 4 octets.
        let mut b = buf[..n].to_vec();
        b.extend_from_slice(&[0xa1, 203, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
        assert_eq!(parse(&b).unwrap(), vec![rr]);
    }

    #[test]
    fn interval_is_randomised_around_the_base() {
        assert_eq!(interval_micros(5_000_000, 0.0), 2_500_000);
        assert_eq!(interval_micros(5_000_000, 1.0), 7_500_000);
        assert_eq!(interval_micros(5_000_000, f64::NAN), 5_000_000);
    }

    /// Any bytes: an answer, never a panic; and mutations of a good packet the same.
    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut good = [0u8; 256];
        let sr = Report {
            ssrc: 1,
            sender: Some(SenderInfo::default()),
            blocks: vec![block(2), block(3)],
        };
        let n = write(&sr, "c", &mut good).unwrap();
        for i in 0..20_000 {
            let len = (next() % 200) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 2 == 0 {
                // Version 2 and an RTCP type, so the walk goes deeper.
                if let Some(f) = b.get_mut(0) {
                    *f = 0x80 | (*f & 0x3f);
                }
                if let Some(f) = b.get_mut(1) {
                    *f = 200 + (*f % 4);
                }
            }
            let _ = parse(&b);
            let mut m = good[..n].to_vec();
            let at = (next() as usize) % m.len();
            m[at] = next() as u8;
            m.truncate((next() as usize) % (n + 1));
            let _ = parse(&m);
            let _ = looks_like_rtcp(&m);
        }
        assert!(parse(&[]).is_err());
        assert!(parse(&[0x80, 201, 0xff, 0xff, 0, 0, 0, 0]).is_err());
        // A count larger than the packet holds.
        assert_eq!(
            parse(&[0x9f, 201, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::BadCount)
        );
    }
}
