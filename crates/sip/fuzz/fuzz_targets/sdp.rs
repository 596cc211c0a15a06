//! Fuzzes SDP parsing and answering: any text, never a panic, and an answer always parses.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(offer) = hotline_sip::sdp::parse(&text) {
        let local = hotline_sip::sdp::LocalMedia {
            address: std::net::IpAddr::from([127, 0, 0, 1]),
            port: 30000,
            session_id: 1,
            version: 1,
        };
        if let Ok(answer) = hotline_sip::sdp::answer(&offer, &local) {
            assert!(hotline_sip::sdp::parse(&answer.sdp).is_ok());
        }
    }
});
