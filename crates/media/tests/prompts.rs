//! The shipped prompts: every prompt the flows need exists in both languages,
//! every composed number resolves, formats are right, and other WAV formats
//! are converted on load.

use std::path::Path;

use hotline_media::player::{
    Lang, Player, Prompt, PromptLibrary, estimated_wait_names, number_names, queue_position_names,
};
use hotline_media::playout::FRAME;

const NEEDED: &[&str] = &[
    "welcome",
    "menu",
    "invalid",
    "please_hold",
    "you_are_number",
    "in_queue",
    "wait_about",
    "minute",
    "minutes",
    "second",
    "seconds",
    "callback_offer",
    "callback_confirmed",
    "goodbye",
    "survey",
    "fault",
    "abusive_end",
    "voicemail",
    "hundred",
];

fn lib() -> PromptLibrary {
    PromptLibrary::load(&PromptLibrary::bundled_dir()).expect("bundled prompts load")
}

#[test]
fn every_needed_prompt_exists_in_both_languages() {
    let lib = lib();
    for lang in [Lang::En, Lang::Zh] {
        for name in NEEDED {
            let p = lib.get(lang, name).unwrap();
            assert!(p.duration_ms() > 150, "{lang:?}/{name} too short");
            assert!(p.duration_ms() < 15000, "{lang:?}/{name} too long");
            // Not silence.
            assert!(
                p.samples.iter().any(|s| s.unsigned_abs() > 2000),
                "{lang:?}/{name}"
            );
        }
        for n in 0..=20 {
            lib.get(lang, &format!("num_{n}")).unwrap();
        }
    }
    let hold = lib.music("hold").unwrap();
    assert!((10_000..=20_000).contains(&hold.duration_ms()));
    assert!(lib.get(Lang::Zh, "liang").is_ok());
}

#[test]
fn every_number_to_999_and_every_wait_can_be_said() {
    let lib = lib();
    for lang in [Lang::En, Lang::Zh] {
        for n in 0..=999 {
            lib.sequence(lang, &number_names(lang, n))
                .unwrap_or_else(|e| panic!("{lang:?} {n}: {e}"));
        }
        for secs in (0..3600).step_by(7) {
            lib.sequence(lang, &estimated_wait_names(lang, secs))
                .unwrap();
        }
        let seq = lib.sequence(lang, &queue_position_names(lang, 3)).unwrap();
        let total: usize = seq.iter().map(|p| p.samples.len()).sum();
        let mut player = Player::new(seq, false, true);
        let mut f = [0i16; FRAME];
        let mut frames = 0;
        while player.next_frame(&mut f) {
            frames += 1;
        }
        assert_eq!(frames, total.div_ceil(FRAME));
    }
}

#[test]
fn shipped_files_are_8k_mono_16bit_and_small() {
    let root = PromptLibrary::bundled_dir();
    let mut total = 0;
    for sub in ["prompts/en", "prompts/zh", "music"] {
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let p = e.unwrap().path();
            let r = hound::WavReader::open(&p).unwrap();
            let s = r.spec();
            assert_eq!(
                (s.sample_rate, s.channels, s.bits_per_sample),
                (8000, 1, 16),
                "{}",
                p.display()
            );
            total += std::fs::metadata(&p).unwrap().len();
        }
    }
    assert!(total < 3 * 1024 * 1024, "assets are {total} bytes");
}

#[test]
fn other_formats_are_converted_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stereo16k.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 16000,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..16000 {
        let v = (0.5
            * (2.0 * std::f32::consts::PI * 500.0 * i as f32 / 16000.0).sin()
            * 8_388_607.0) as i32;
        w.write_sample(v).unwrap();
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
    let p = Prompt::load(&path).unwrap();
    assert!(
        (7990..=8000).contains(&p.samples.len()),
        "{}",
        p.samples.len()
    );
    let peak = p.samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!((14000..=17500).contains(&peak), "peak {peak}");

    std::fs::write(dir.path().join("bad.wav"), b"RIFF....WAVEjunk").unwrap();
    let e = Prompt::load(&dir.path().join("bad.wav")).unwrap_err();
    assert!(e.to_string().contains("bad.wav"), "{e}");
    assert!(Prompt::load(Path::new("/nonexistent.wav")).is_err());
}

#[test]
fn the_built_in_library_is_the_bundled_directory() {
    let from_dir = lib();
    let built_in = PromptLibrary::embedded().expect("built-in prompts decode");
    assert_eq!(built_in.len(), from_dir.len());
    for lang in [Lang::En, Lang::Zh] {
        for name in ["welcome", "menu", "abusive_end", "voicemail"] {
            assert_eq!(
                built_in.get(lang, name).unwrap().samples,
                from_dir.get(lang, name).unwrap().samples,
                "{lang:?} {name}"
            );
        }
    }
    assert_eq!(
        built_in.music("hold").unwrap().samples,
        from_dir.music("hold").unwrap().samples
    );
}
