//! Agitation on synthetic calm and agitated speech (see tests/fixtures/make-fixtures.sh):
//! the agitated versions (raised pitch, rate and amplitude) must score clearly higher.

mod common;

use common::*;
use hotline_media::analysis::{CallVoiceSummary, VoiceAnalyzer, WindowScore};
use hotline_media::playout::FRAME;

fn analyse(name: &str) -> (CallVoiceSummary, Vec<WindowScore>) {
    let audio = read_wav(&fixture(name));
    let mut a = VoiceAnalyzer::default();
    let mut windows = Vec::new();
    // Two passes so that every fixture fills several 3 s windows.
    for _ in 0..2 {
        for f in audio.chunks_exact(FRAME) {
            let f: &[i16; FRAME] = f.try_into().unwrap();
            if let Some(w) = a.frame(f, false) {
                windows.push(w);
            }
        }
        // A short pause between repetitions.
        for _ in 0..25 {
            a.frame(&[0; FRAME], false);
        }
    }
    (a.summary(), windows)
}

#[test]
fn agitated_speech_scores_clearly_higher_than_calm() {
    for lang in ["en", "zh"] {
        let (calm, cw) = analyse(&format!("calm_{lang}.wav"));
        let (agit, aw) = analyse(&format!("agitated_{lang}.wav"));
        for w in cw.iter().chain(&aw) {
            println!("{lang}: {w:?}");
        }
        println!(
            "{lang}: calm {:.2} (peak {:.2}), agitated {:.2} (peak {:.2})",
            calm.agitation, calm.peak_agitation, agit.agitation, agit.peak_agitation
        );
        assert!(calm.windows >= 2 && agit.windows >= 2);
        assert!(
            agit.agitation > calm.agitation + 0.25,
            "{lang}: agitated {} vs calm {}",
            agit.agitation,
            calm.agitation
        );
        assert!(
            calm.agitation < 0.4,
            "{lang}: calm scored {}",
            calm.agitation
        );
        assert!(
            agit.agitation > 0.5,
            "{lang}: agitated scored {}",
            agit.agitation
        );
        // The default threshold (0.5) is crossed by agitated speech, not calm.
        assert!(aw.iter().any(|w| w.crossed));
        assert!(!cw.iter().any(|w| w.crossed));
    }
}

#[test]
fn talk_over_raises_the_score() {
    let audio = read_wav(&fixture("calm_en.wav"));
    let run = |other: bool| {
        let mut a = VoiceAnalyzer::default();
        for f in audio.chunks_exact(FRAME) {
            a.frame(f.try_into().unwrap(), other);
        }
        a.summary()
    };
    let alone = run(false);
    let over = run(true);
    assert!(over.talk_over_secs > 3.0);
    assert_eq!(alone.talk_over_secs, 0.0);
    assert!(over.agitation > alone.agitation + 0.1);
}

#[test]
fn a_call_leg_raises_one_event_when_an_agitated_caller_crosses_the_threshold() {
    use hotline_media::call::{CallConfig, CallMedia, LegParams, MediaEvent};
    use hotline_media::g711::Codec;
    use hotline_media::rtp::{RtpHeader, write_packet};
    use std::time::{Duration, Instant};

    let run = |file: &str| {
        let audio = read_wav(&fixture(file));
        let t0 = Instant::now();
        let peer = "127.0.0.1:40200".parse().unwrap();
        let mut call = CallMedia::new(CallConfig::default(), t0, 11);
        let mut p = LegParams::new(Some(peer), Codec::Pcmu);
        p.analyse = true;
        let leg = call.add_leg(p, t0);
        let mut out = Captured::default();
        for (i, chunk) in audio.chunks_exact(FRAME).enumerate() {
            let t = t0 + Duration::from_millis(20 * (i as u64 + 1));
            let mut payload = [0u8; FRAME];
            Codec::Pcmu.encode_slice(chunk, &mut payload);
            let h = RtpHeader {
                marker: false,
                payload_type: 0,
                sequence: i as u16,
                timestamp: (i * FRAME) as u32,
                ssrc: 5,
            };
            let mut buf = [0u8; 200];
            let n = write_packet(&h, &payload, &mut buf).unwrap();
            call.handle_datagram(leg, peer, &buf[..n], t, &mut out);
            call.tick(t, &mut out);
        }
        call.remove_leg(leg);
        let mut crossings = 0;
        let mut score = None;
        while let Some(e) = call.poll_event() {
            match e {
                MediaEvent::Agitation { window, .. } => {
                    assert!(window.crossed);
                    crossings += 1;
                }
                MediaEvent::LegClosed { voice, .. } => score = voice.map(|v| v.agitation),
                _ => {}
            }
        }
        (crossings, score.unwrap())
    };
    let (calm_events, calm) = run("calm_en.wav");
    let (agit_events, agit) = run("agitated_en.wav");
    assert_eq!(calm_events, 0);
    assert_eq!(agit_events, 1, "one event per crossing, not per window");
    assert!(
        agit > calm + 0.25,
        "through G.711: calm {calm} agitated {agit}"
    );
}
