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
