//! Fuzzes the ingress guard: any bytes, as a datagram and as a framed TCP message.
//! Run: `cargo fuzz run ingress_guard -- -dict=... ` from crates/sip (corpus: tests/fixtures).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hotline_sip::guard::fuzz_one(data);
});
