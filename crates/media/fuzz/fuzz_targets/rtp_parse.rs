//! RTP parsing and the telephone-event decoder on arbitrary bytes.
#![no_main]

use hotline_media::dtmf::{Rfc4733Receiver, TelephoneEvent};
use hotline_media::rtp::{RtpPacket, write_packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = RtpPacket::parse(data) {
        assert!(p.payload.len() + 12 <= data.len());
        // What parses re-serialises to a packet that parses to the same header.
        let mut buf = vec![0u8; data.len() + 12];
        if let Some(n) = write_packet(&p.header, p.payload, &mut buf) {
            let q = RtpPacket::parse(&buf[..n]).expect("own output parses");
            assert_eq!(q.header, p.header);
            assert_eq!(q.payload, p.payload);
        }
        let mut r = Rfc4733Receiver::new();
        let _ = r.on_packet(&p);
        let _ = r.flush_stale();
    }
    let _ = TelephoneEvent::parse(data);
});
