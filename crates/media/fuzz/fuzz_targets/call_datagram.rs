//! A bridged, recorded-free call leg fed arbitrary datagrams.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotline_media::call::{CallConfig, CallMedia, LegId, LegParams, Transmit};
use hotline_media::g711::Codec;
use libfuzzer_sys::fuzz_target;

struct Null;
impl Transmit for Null {
    fn send(&mut self, _: LegId, _: SocketAddr, _: &[u8]) {}
}

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let peer: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 40000));
    let mut call = CallMedia::new(CallConfig::default(), t0, 1);
    let mut p = LegParams::new(Some(peer), Codec::Pcmu);
    p.inband_dtmf = true;
    p.analyse = true;
    let a = call.add_leg(p, t0);
    let b = call.add_leg(LegParams::new(Some(peer), Codec::Pcma), t0);
    call.bridge(a, b);
    let mut t = t0;
    // Split the input into datagrams at 0xff 0xff.
    for (i, d) in data.split(|x| *x == 0xff).enumerate() {
        t += Duration::from_millis(5);
        call.handle_datagram(if i % 2 == 0 { a } else { b }, peer, d, t, &mut Null);
        call.tick(t, &mut Null);
    }
    while call.poll_event().is_some() {}
});
