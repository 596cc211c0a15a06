//! DTMF: RFC 4733 from sipp's captures, in-band tones clean and noisy, and no
//! false digits over speech.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use hotline_media::call::{CallConfig, CallMedia, DtmfSource, LegParams, MediaEvent};
use hotline_media::dtmf::{Digit, Rfc4733Receiver};
use hotline_media::g711::Codec;
use hotline_media::inband::{InbandDetector, dtmf_tone};
use hotline_media::rtp::{RtpHeader, RtpPacket, write_packet};

const SIPP: &str = "/usr/share/sip-tester";

fn sipp_cases() -> Vec<(String, char)> {
    let mut v: Vec<(String, char)> = (0..=9)
        .map(|d| (format!("dtmf_2833_{d}.pcap"), char::from(b'0' + d)))
        .collect();
    v.push(("dtmf_2833_star.pcap".into(), '*'));
    v.push(("dtmf_2833_pound.pcap".into(), '#'));
    v
}

#[test]
fn rfc4733_every_sipp_digit_once() {
    for (file, want) in sipp_cases() {
        let dgrams = pcap_udp_payloads(&Path::new(SIPP).join(&file));
        assert!(dgrams.len() >= 3, "{file}: too few packets");
        let mut r = Rfc4733Receiver::new();
        let mut got = Vec::new();
        for d in &dgrams {
            let p = RtpPacket::parse(d).expect("sipp RTP parses");
            assert_eq!(p.header.payload_type, 101);
            if let Some(x) = r.on_packet(&p) {
                got.push(x.digit.as_char());
            }
        }
        assert_eq!(got, vec![want], "{file}");
    }
}

#[test]
fn rfc4733_every_sipp_digit_through_a_call_leg() {
    let t0 = Instant::now();
    let peer = "127.0.0.1:40000".parse().unwrap();
    let mut all = String::new();
    let mut call = CallMedia::new(CallConfig::default(), t0, 1);
    let leg = call.add_leg(LegParams::new(Some(peer), Codec::Pcmu), t0);
    let mut out = Captured::default();
    let mut t = t0;
    for (k, (file, _)) in sipp_cases().into_iter().enumerate() {
        let base = pcap_udp_payloads(&Path::new(SIPP).join(&file));
        let first = RtpPacket::parse(&base[0]).expect("sipp RTP parses").header;
        for mut d in base {
            // The captures were made separately; lay the key presses one
            // after another on one stream, as a phone would in one call.
            let p = RtpPacket::parse(&d).expect("sipp RTP parses").header;
            let seq = 1000 + 50 * k as u16 + p.sequence.wrapping_sub(first.sequence);
            let ts = 100_000 + 16000 * k as u32 + p.timestamp.wrapping_sub(first.timestamp);
            d[2..4].copy_from_slice(&seq.to_be_bytes());
            d[4..8].copy_from_slice(&ts.to_be_bytes());
            t += Duration::from_millis(20);
            call.handle_datagram(leg, peer, &d, t, &mut out);
            // Retransmit everything once more: duplicates must not double digits.
            call.handle_datagram(leg, peer, &d, t, &mut out);
            call.tick(t, &mut out);
        }
        // A second from the next file.
        t += Duration::from_secs(1);
        call.tick(t, &mut out);
    }
    while let Some(ev) = call.poll_event() {
        if let MediaEvent::Dtmf { digit, source, .. } = ev {
            assert_eq!(source, DtmfSource::Rfc4733);
            all.push(digit.as_char());
        }
    }
    assert_eq!(all, "0123456789*#");
}

fn detect(samples: &[i16]) -> String {
    let mut d = InbandDetector::default();
    let mut s = String::new();
    d.feed(samples, |k| s.push(k.as_char()));
    s
}

fn keypad_audio(noise_amp: f32, tone_amp: f32, law: Codec) -> Vec<i16> {
    let keys = "0123456789*#ABCD";
    let mut audio = vec![0i16; 800];
    for c in keys.chars() {
        dtmf_tone(Digit::from_char(c).unwrap(), 70, tone_amp, &mut audio);
        audio.extend(std::iter::repeat_n(0, 400));
    }
    let mut n = Noise(0x1234_5678);
    for s in &mut audio {
        *s = s.saturating_add(n.next(noise_amp));
        // Through the codec, as a carrier would deliver it.
        *s = law.decode(law.encode(*s));
    }
    audio
}

#[test]
fn inband_all_keys_clean_and_noisy_both_laws() {
    for law in [Codec::Pcmu, Codec::Pcma] {
        assert_eq!(detect(&keypad_audio(0.0, 0.3, law)), "0123456789*#ABCD");
        // Tone about -13 dBFS per tone, white noise about -25 dBFS.
        assert_eq!(detect(&keypad_audio(0.1, 0.2, law)), "0123456789*#ABCD");
        // Quieter tones (about -23 dBFS each) in noise at about -35 dBFS.
        assert_eq!(detect(&keypad_audio(0.03, 0.07, law)), "0123456789*#ABCD");
    }
}

#[test]
fn inband_through_a_call_leg_with_reordering() {
    let t0 = Instant::now();
    let peer = "127.0.0.1:40002".parse().unwrap();
    let mut p = LegParams::new(Some(peer), Codec::Pcma);
    p.inband_dtmf = true;
    p.telephone_event_pt = None;
    let mut call = CallMedia::new(CallConfig::default(), t0, 2);
    let leg = call.add_leg(p, t0);
    let audio = keypad_audio(0.05, 0.2, Codec::Pcma);
    let mut pkts = Vec::new();
    for (i, chunk) in audio.chunks_exact(160).enumerate() {
        let h = RtpHeader {
            marker: false,
            payload_type: 8,
            sequence: 100 + i as u16,
            timestamp: 5000 + 160 * i as u32,
            ssrc: 77,
        };
        let mut payload = [0u8; 160];
        Codec::Pcma.encode_slice(chunk, &mut payload);
        let mut buf = [0u8; 200];
        let n = write_packet(&h, &payload, &mut buf).unwrap();
        pkts.push(buf[..n].to_vec());
    }
    // Swap neighbours every 7 packets: the playout buffer puts them back in order.
    for i in (0..pkts.len() - 1).step_by(7) {
        pkts.swap(i, i + 1);
    }
    let mut out = Captured::default();
    let mut t = t0;
    for d in &pkts {
        t += Duration::from_millis(20);
        call.handle_datagram(leg, peer, d, t, &mut out);
        call.tick(t, &mut out);
    }
    t += Duration::from_millis(200);
    call.tick(t, &mut out);
    let mut got = String::new();
    while let Some(ev) = call.poll_event() {
        if let MediaEvent::Dtmf { digit, source, .. } = ev {
            assert_eq!(source, DtmfSource::Inband);
            got.push(digit.as_char());
        }
    }
    assert_eq!(got, "0123456789*#ABCD");
}

#[test]
fn no_false_digits_over_sipp_speech() {
    let dgrams = pcap_udp_payloads(&Path::new(SIPP).join("g711a.pcap"));
    let mut audio = Vec::new();
    for d in &dgrams {
        let p = RtpPacket::parse(d).expect("sipp RTP parses");
        let mut pcm = vec![0i16; p.payload.len()];
        Codec::Pcma.decode_slice(p.payload, &mut pcm);
        audio.extend(pcm);
    }
    assert!(audio.len() > 8000 * 5, "expected several seconds of speech");
    assert_eq!(detect(&audio), "");
    // Louder (+6 dB) and with the block boundaries shifted.
    let loud: Vec<i16> = audio[37..].iter().map(|s| s.saturating_mul(2)).collect();
    assert_eq!(detect(&loud), "");
}

#[test]
fn no_false_digits_over_speech_fixtures() {
    for f in [
        "calm_en.wav",
        "agitated_en.wav",
        "calm_zh.wav",
        "agitated_zh.wav",
    ] {
        let audio = read_wav(&fixture(f));
        assert_eq!(detect(&audio), "", "{f}");
        for law in [Codec::Pcmu, Codec::Pcma] {
            let coded: Vec<i16> = audio.iter().map(|s| law.decode(law.encode(*s))).collect();
            assert_eq!(detect(&coded), "", "{f} via {law:?}");
        }
    }
}

#[test]
fn digits_still_found_when_mixed_into_speech_pauses() {
    // Speech, then a key, then speech: the key is found and nothing else.
    let speech = read_wav(&fixture("calm_en.wav"));
    let mut audio = speech[..16000].to_vec();
    audio.extend(std::iter::repeat_n(0, 400));
    dtmf_tone(Digit::from_char('7').unwrap(), 100, 0.2, &mut audio);
    audio.extend(std::iter::repeat_n(0, 400));
    audio.extend_from_slice(&speech[16000..32000]);
    assert_eq!(detect(&audio), "7");
}
