//! Answering-machine detection: did a person or a machine answer an outbound call?
//!
//! The detector listens to the called party's audio from the answer on and decides, once,
//! within a few seconds: [`AmdVerdict::Human`], [`AmdVerdict::Machine`] or
//! [`AmdVerdict::Unsure`], with the [`AmdCause`] and the media time of the decision.
//!
//! # Method
//! The classic greeting-shape rules (as in the answering-machine detectors of the common
//! open-source PBXs): a person answers with a short greeting ("Hello?") and waits for the
//! caller; a machine plays a long, continuous message of many words.
//!
//! The audio is cut into 10 ms blocks (80 samples at 8 kHz; frames of any length are
//! accepted and carried over between calls). Each block's RMS level in dBFS is compared with
//! a **noise floor**: the quietest block of the last 1.6 s (the minimum of sixteen 100 ms
//! minima). Stationary line noise sits at its own minimum, so it never rises above the
//! floor; speech, which keeps dipping between syllables and words, does. A block is
//! **voice** when its level is at least [`AmdConfig::voice_margin_db`] (10 dB) above the
//! floor *and* at least [`AmdConfig::silence_threshold_dbfs`] (-45 dBFS); inside a run of
//! voice the margin is 4 dB lower (hysteresis, so a word is not split by its own dips).
//! The floor is learnt from what has been heard (digital silence, such as the frames before
//! the first packet arrives, is left out of it), so a voice already speaking in the very
//! first blocks is counted from its first dip onwards.
//!
//! From the voice/silence blocks:
//! - a **word** is a run of voice of at least `min_word_ms` (100 ms); a word ends after
//!   `between_words_silence_ms` (50 ms) of silence;
//! - the **greeting** starts with the first word; its length is the voice heard in total.
//!
//! Decisions, in the order they can be reached:
//!
//! | cause | rule | verdict |
//! |---|---|---|
//! | [`AmdCause::InitialSilence`] | no word within `initial_silence_ms` (2500 ms) of the start | machine |
//! | [`AmdCause::MaxWords`] | more than `max_words` (3) words | machine |
//! | [`AmdCause::LongGreeting`] | the greeting's voice reaches `greeting_ms` (1500 ms) | machine |
//! | [`AmdCause::ShortGreetingThenSilence`] | `after_greeting_silence_ms` (800 ms) of silence after the greeting started | human |
//! | [`AmdCause::TooLong`] | nothing of the above within `total_analysis_ms` (5000 ms) | unsure |
//!
//! Calling a person a machine hangs up on a customer (or leaves a message in their ear);
//! calling a machine a person only costs an agent a few seconds; campaigns decide what
//! "unsure" means. The known weak spot of these rules is a person who answers with four or
//! more words ("Hello, Anna speaking."): counted as a machine by `max_words`. Raising
//! `max_words` trades that against machines with short, choppy greetings.
//!
//! # Shape
//! Sans-IO: PCM and media time in, at most one [`AmdDecision`] out. No clock, no I/O and no
//! allocation after construction.

/// Samples per analysis block (10 ms at 8 kHz).
const BLOCK: usize = 80;
const BLOCK_MS: u64 = 10;
/// Blocks per noise-floor slot (100 ms) and slots in the floor's window (1.6 s).
const SLOT_BLOCKS: u32 = 10;
const SLOTS: usize = 16;
/// The level given to digital silence (log of zero).
const FLOOR_DBFS: f32 = -96.0;
/// Margin dropped inside a run of voice.
const HYSTERESIS_DB: f32 = 4.0;

/// Detection parameters. The defaults are the classic ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AmdConfig {
    /// With no word heard for this long from the start: machine (2500 ms).
    pub initial_silence_ms: u32,
    /// A greeting whose voice lasts this long in total: machine (1500 ms).
    pub greeting_ms: u32,
    /// Silence this long once the greeting has started: human (800 ms).
    pub after_greeting_silence_ms: u32,
    /// No decision by then: unsure (5000 ms).
    pub total_analysis_ms: u32,
    /// The shortest run of voice that counts as a word (100 ms).
    pub min_word_ms: u32,
    /// The silence that ends a word (50 ms).
    pub between_words_silence_ms: u32,
    /// More words than this: machine (3).
    pub max_words: u32,
    /// Absolute level under which a 10 ms block is never voice, as RMS in dBFS
    /// (0 dBFS: full-scale square wave). -45 dBFS is an average sample magnitude of about
    /// 150 on the 16-bit scale, some 25 dB below telephone speech.
    pub silence_threshold_dbfs: f32,
    /// How far above the noise floor a block must be to be voice (10 dB).
    pub voice_margin_db: f32,
}

impl Default for AmdConfig {
    fn default() -> Self {
        AmdConfig {
            initial_silence_ms: 2500,
            greeting_ms: 1500,
            after_greeting_silence_ms: 800,
            total_analysis_ms: 5000,
            min_word_ms: 100,
            between_words_silence_ms: 50,
            max_words: 3,
            silence_threshold_dbfs: -45.0,
            voice_margin_db: 10.0,
        }
    }
}

/// Who answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmdVerdict {
    Human,
    Machine,
    Unsure,
}

impl AmdVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            AmdVerdict::Human => "human",
            AmdVerdict::Machine => "machine",
            AmdVerdict::Unsure => "unsure",
        }
    }
}

/// Which rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmdCause {
    /// Nobody spoke within the initial-silence time.
    InitialSilence,
    /// The greeting went on longer than a person's would.
    LongGreeting,
    /// More words than a person's greeting has.
    MaxWords,
    /// A short greeting, then the silence of someone waiting for an answer.
    ShortGreetingThenSilence,
    /// The total analysis time ran out.
    TooLong,
}

impl AmdCause {
    pub fn as_str(self) -> &'static str {
        match self {
            AmdCause::InitialSilence => "initial_silence",
            AmdCause::LongGreeting => "long_greeting",
            AmdCause::MaxWords => "max_words",
            AmdCause::ShortGreetingThenSilence => "short_greeting_then_silence",
            AmdCause::TooLong => "too_long",
        }
    }
}

/// The detector's one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmdDecision {
    pub verdict: AmdVerdict,
    pub cause: AmdCause,
    /// Media time of the decision, in ms on the clock of the times fed in.
    pub at_ms: u64,
    /// Milliseconds of audio analysed until the decision.
    pub analysed_ms: u64,
    /// Words counted.
    pub words: u32,
    /// Voice heard in total, ms.
    pub voice_ms: u32,
}

/// The detector for one call leg. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct AmdDetector {
    cfg: AmdConfig,
    /// Media time of the first sample fed, ms.
    origin_ms: Option<u64>,
    /// Samples analysed (including filled gaps).
    pos: u64,
    /// The block being filled: sum of squares and sample count.
    acc: u64,
    acc_n: usize,
    /// Noise-floor minima per 100 ms slot (the current slot is `slot`).
    slots: [f32; SLOTS],
    slot: usize,
    slot_blocks: u32,
    slots_filled: usize,
    voiced: bool,
    in_word: bool,
    in_greeting: bool,
    voice_run_ms: u32,
    silence_run_ms: u32,
    voice_ms: u32,
    words: u32,
    decision: Option<AmdDecision>,
}

impl AmdDetector {
    pub fn new(cfg: AmdConfig) -> Self {
        AmdDetector {
            cfg,
            origin_ms: None,
            pos: 0,
            acc: 0,
            acc_n: 0,
            slots: [f32::INFINITY; SLOTS],
            slot: 0,
            slot_blocks: 0,
            slots_filled: 1,
            voiced: false,
            in_word: false,
            in_greeting: false,
            voice_run_ms: 0,
            silence_run_ms: 0,
            voice_ms: 0,
            words: 0,
            decision: None,
        }
    }

    pub fn config(&self) -> &AmdConfig {
        &self.cfg
    }

    /// The decision, once reached.
    pub fn decision(&self) -> Option<AmdDecision> {
        self.decision
    }

    /// Words counted so far.
    pub fn words(&self) -> u32 {
        self.words
    }

    /// Feeds 8 kHz linear PCM whose first sample is at media time `at_ms` (any frame
    /// length; times need not start at zero). A jump forward in time (lost packets) counts
    /// as silence; audio that overlaps what was already fed is taken as following it.
    /// Returns the decision the one time it is reached, `None` before and after.
    pub fn feed(&mut self, pcm: &[i16], at_ms: u64) -> Option<AmdDecision> {
        if self.decision.is_some() {
            return None;
        }
        let origin = *self.origin_ms.get_or_insert(at_ms);
        let expected = origin.saturating_add(self.pos / 8);
        if at_ms > expected {
            let gap = (at_ms - expected).saturating_mul(8);
            if let Some(d) = self.silence(gap) {
                return Some(d);
            }
        }
        for &s in pcm {
            let v = i64::from(s);
            self.acc += (v * v) as u64;
            self.acc_n += 1;
            self.pos += 1;
            if self.acc_n == BLOCK
                && let Some(d) = self.block()
            {
                return Some(d);
            }
        }
        None
    }

    /// `n` samples of digital silence (a gap in the audio).
    fn silence(&mut self, n: u64) -> Option<AmdDecision> {
        let mut left = n;
        while left > 0 {
            let take = (BLOCK - self.acc_n).min(usize::try_from(left).unwrap_or(BLOCK));
            self.acc_n += take;
            self.pos += take as u64;
            left -= take as u64;
            if self.acc_n == BLOCK
                && let Some(d) = self.block()
            {
                return Some(d);
            }
        }
        None
    }

    /// The noise floor: the quietest block of the window.
    fn floor(&self) -> f32 {
        self.slots[..self.slots_filled]
            .iter()
            .fold(f32::INFINITY, |a, &b| a.min(b))
    }

    fn block(&mut self) -> Option<AmdDecision> {
        let mean = self.acc as f64 / BLOCK as f64;
        self.acc = 0;
        self.acc_n = 0;
        let full = 32768.0f64 * 32768.0;
        let level = if mean > 0.0 {
            ((10.0 * (mean / full).log10()) as f32).max(FLOOR_DBFS)
        } else {
            FLOOR_DBFS
        };
        // Noise floor over the window, this block included. Digital silence (no audio yet,
        // or a gap) says nothing about the line's noise: it is left out, so that line noise
        // arriving after it is not taken for speech.
        if mean > 0.0 {
            let s = &mut self.slots[self.slot];
            *s = s.min(level);
        }
        self.slot_blocks += 1;
        let floor = self.floor();
        if self.slot_blocks == SLOT_BLOCKS {
            self.slot_blocks = 0;
            self.slot = (self.slot + 1) % SLOTS;
            self.slots[self.slot] = f32::INFINITY;
            self.slots_filled = (self.slots_filled + 1).min(SLOTS);
        }
        let margin = if self.voiced {
            self.cfg.voice_margin_db - HYSTERESIS_DB
        } else {
            self.cfg.voice_margin_db
        };
        self.voiced = level >= floor + margin && level >= self.cfg.silence_threshold_dbfs;
        self.step(self.voiced)
    }

    fn step(&mut self, voice: bool) -> Option<AmdDecision> {
        let c = self.cfg;
        let ms = BLOCK_MS as u32;
        if voice {
            self.silence_run_ms = 0;
            self.voice_run_ms += ms;
            self.voice_ms += ms;
            if !self.in_word && self.voice_run_ms >= c.min_word_ms {
                self.in_word = true;
                self.in_greeting = true;
                self.words += 1;
                if self.words > c.max_words {
                    return self.decide(AmdVerdict::Machine, AmdCause::MaxWords);
                }
            }
            if self.in_greeting && self.voice_ms >= c.greeting_ms {
                return self.decide(AmdVerdict::Machine, AmdCause::LongGreeting);
            }
        } else {
            self.silence_run_ms += ms;
            if self.silence_run_ms >= c.between_words_silence_ms {
                self.in_word = false;
                self.voice_run_ms = 0;
            }
            if self.in_greeting && self.silence_run_ms >= c.after_greeting_silence_ms {
                return self.decide(AmdVerdict::Human, AmdCause::ShortGreetingThenSilence);
            }
        }
        let elapsed = self.pos / 8;
        if !self.in_greeting && elapsed >= u64::from(c.initial_silence_ms) {
            return self.decide(AmdVerdict::Machine, AmdCause::InitialSilence);
        }
        if elapsed >= u64::from(c.total_analysis_ms) {
            return self.decide(AmdVerdict::Unsure, AmdCause::TooLong);
        }
        None
    }

    fn decide(&mut self, verdict: AmdVerdict, cause: AmdCause) -> Option<AmdDecision> {
        let analysed_ms = self.pos / 8;
        let d = AmdDecision {
            verdict,
            cause,
            at_ms: self.origin_ms.unwrap_or(0).saturating_add(analysed_ms),
            analysed_ms,
            words: self.words,
            voice_ms: self.voice_ms,
        };
        self.decision = Some(d);
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: usize = 8000;

    /// Deterministic white noise at about `dbfs` RMS.
    struct Noise(u64, f32);

    impl Noise {
        fn new(dbfs: f32) -> Self {
            // Uniform noise in [-a, a] has RMS a/sqrt(3).
            let rms = 32768.0 * 10f32.powf(dbfs / 20.0);
            Noise(0x2545_f491_4f6c_dd1d, rms * 3f32.sqrt())
        }

        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0) * self.1
        }
    }

    /// A signal built from segments: `(ms, voice)`; voice is a 180 Hz buzz with harmonics
    /// whose loudness rises and falls four times a second (syllables) without reaching
    /// silence (6 dB), at about -18 dBFS; white noise under everything (a quiet line when
    /// `None`: -65 dBFS).
    fn signal(segments: &[(usize, bool)], noise_dbfs: Option<f32>) -> Vec<i16> {
        let mut out = Vec::new();
        let mut noise = Some(Noise::new(noise_dbfs.unwrap_or(-65.0)));
        let mut t = 0usize;
        for &(ms, voice) in segments {
            for i in 0..ms * RATE / 1000 {
                let mut x = 0.0f32;
                if voice {
                    let s = i as f32 / RATE as f32;
                    let env = 0.75 + 0.25 * (2.0 * std::f32::consts::PI * 4.0 * s).sin();
                    let ph = 2.0 * std::f32::consts::PI * 180.0 * (t as f32 / RATE as f32);
                    x = 5000.0 * env * (ph.sin() + 0.5 * (2.0 * ph).sin() + 0.3 * (3.0 * ph).sin());
                }
                if let Some(n) = &mut noise {
                    x += n.next();
                }
                out.push(x.clamp(-32768.0, 32767.0) as i16);
                t += 1;
            }
        }
        out
    }

    /// Runs the detector in 20 ms frames starting at media time `t0`.
    fn run(pcm: &[i16], cfg: AmdConfig, t0: u64) -> Option<AmdDecision> {
        let mut d = AmdDetector::new(cfg);
        let mut found = None;
        for (k, f) in pcm.chunks(160).enumerate() {
            if let Some(x) = d.feed(f, t0 + k as u64 * 20) {
                assert!(found.is_none(), "decided twice");
                found = Some(x);
            }
        }
        found
    }

    #[test]
    fn silence_is_a_machine_by_initial_silence() {
        for pcm in [vec![0; 48_000], signal(&[(6000, false)], None)] {
            let d = run(&pcm, AmdConfig::default(), 0).expect("decision");
            assert_eq!(
                (d.verdict, d.cause),
                (AmdVerdict::Machine, AmdCause::InitialSilence)
            );
            assert_eq!(d.at_ms, 2500);
            assert_eq!(d.words, 0);
        }
    }

    #[test]
    fn line_noise_is_not_speech() {
        for db in [-50.0, -40.0, -30.0] {
            let d = run(&signal(&[(6000, false)], Some(db)), AmdConfig::default(), 0)
                .expect("decision");
            assert_eq!(
                (d.verdict, d.cause, d.words),
                (AmdVerdict::Machine, AmdCause::InitialSilence, 0),
                "noise at {db} dBFS"
            );
        }
    }

    #[test]
    fn noise_after_digital_silence_is_not_speech() {
        // No packet for the first 600 ms (the playout gives zeros), then a noisy line.
        let mut pcm = vec![0i16; 4800];
        pcm.extend(signal(&[(5000, false)], Some(-40.0)));
        let d = run(&pcm, AmdConfig::default(), 0).expect("decision");
        assert_eq!(
            (d.verdict, d.cause, d.words),
            (AmdVerdict::Machine, AmdCause::InitialSilence, 0)
        );
        // And a person after the zeros and the noise is still heard.
        let mut pcm = vec![0i16; 4800];
        pcm.extend(signal(
            &[(300, false), (500, true), (3000, false)],
            Some(-40.0),
        ));
        let d = run(&pcm, AmdConfig::default(), 0).expect("decision");
        assert_eq!((d.verdict, d.words), (AmdVerdict::Human, 1), "{d:?}");
    }

    #[test]
    fn short_hello_then_silence_is_a_human() {
        for noise in [None, Some(-50.0), Some(-35.0)] {
            let pcm = signal(&[(400, false), (500, true), (4000, false)], noise);
            let d = run(&pcm, AmdConfig::default(), 1_000).expect("decision");
            assert_eq!(
                (d.verdict, d.cause),
                (AmdVerdict::Human, AmdCause::ShortGreetingThenSilence),
                "noise {noise:?}: {d:?}"
            );
            assert_eq!(d.words, 1);
            // 0.4 s before, 0.5 s of hello, 0.8 s of silence after it (± a block or two).
            assert!(
                (2680..=2740).contains(&d.at_ms),
                "decided at {} ms (media time from 1000)",
                d.at_ms
            );
        }
    }

    #[test]
    fn long_continuous_greeting_is_a_machine() {
        let pcm = signal(&[(300, false), (6000, true)], Some(-45.0));
        let d = run(&pcm, AmdConfig::default(), 0).expect("decision");
        assert_eq!(
            (d.verdict, d.cause),
            (AmdVerdict::Machine, AmdCause::LongGreeting)
        );
        // The greeting's 1500 ms of voice counted from its start (0.3 s).
        assert!((1780..=1900).contains(&d.at_ms), "{d:?}");
    }

    #[test]
    fn many_words_are_a_machine() {
        let mut segs = vec![(300, false)];
        for _ in 0..8 {
            segs.push((150, true));
            segs.push((120, false));
        }
        segs.push((3000, false));
        let d = run(&signal(&segs, None), AmdConfig::default(), 0).expect("decision");
        assert_eq!(
            (d.verdict, d.cause),
            (AmdVerdict::Machine, AmdCause::MaxWords)
        );
        assert_eq!(d.words, 4);
        assert!(d.voice_ms < 1500);
    }

    #[test]
    fn sparse_short_words_run_out_of_time() {
        let cfg = AmdConfig {
            max_words: 100,
            ..AmdConfig::default()
        };
        let mut segs = vec![(200, false)];
        for _ in 0..20 {
            segs.push((120, true));
            segs.push((400, false));
        }
        let d = run(&signal(&segs, None), cfg, 0).expect("decision");
        assert_eq!(
            (d.verdict, d.cause),
            (AmdVerdict::Unsure, AmdCause::TooLong)
        );
        assert_eq!(d.at_ms, 5000);
    }

    #[test]
    fn frame_length_does_not_matter() {
        let pcm = signal(&[(400, false), (500, true), (3000, false)], Some(-45.0));
        let want = run(&pcm, AmdConfig::default(), 0).expect("decision");
        for len in [1usize, 37, 80, 240, 1000] {
            let mut d = AmdDetector::new(AmdConfig::default());
            let mut got = None;
            for (k, f) in pcm.chunks(len).enumerate() {
                let t = (k * len / 8) as u64;
                if let Some(x) = d.feed(f, t) {
                    got = Some(x);
                    break;
                }
            }
            assert_eq!(got, Some(want), "frames of {len} samples");
            assert_eq!(d.feed(&pcm[..160], 10_000), None, "decides only once");
            assert_eq!(d.decision(), Some(want));
        }
    }

    #[test]
    fn a_gap_in_media_time_counts_as_silence() {
        // "Hello" then nothing arrives for a second: a person waiting.
        let pcm = signal(&[(400, false), (500, true)], None);
        let mut d = AmdDetector::new(AmdConfig::default());
        for (k, f) in pcm.chunks(160).enumerate() {
            assert_eq!(d.feed(f, k as u64 * 20), None);
        }
        let got = d.feed(&[0; 160], 2_000).expect("decision after the gap");
        assert_eq!(got.verdict, AmdVerdict::Human);
        assert_eq!(got.at_ms, 1_700);
        // A huge jump ends at the decision rather than looping for it.
        let mut d = AmdDetector::new(AmdConfig::default());
        assert_eq!(d.feed(&[0; 160], 0), None);
        let got = d.feed(&[0; 160], u64::MAX / 16).expect("decision");
        assert_eq!(got.cause, AmdCause::InitialSilence);
    }
}
