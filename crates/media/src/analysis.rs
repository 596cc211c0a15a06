//! Voice analysis per leg: level, voice activity, pitch, talk-over, and an
//! agitation score.
//!
//! # Method
//! The analysis runs on the 20 ms frames the playout buffer produces, so it
//! sees audio in order and aligned to wall time.
//!
//! - **Level**: RMS of the frame in dBFS (0 dBFS = full-scale square wave).
//! - **Voice activity**: the frame is speech when its level is at least 9 dB
//!   above an adaptive noise floor (which follows quiet frames quickly and
//!   loud frames very slowly) and above -50 dBFS; a 160 ms hangover bridges
//!   the gaps between syllables.
//! - **Pitch** (60–400 Hz): a light YIN. On speech frames, the last 40 ms are
//!   decimated to 4 kHz, the difference function d(τ) is computed over the
//!   lags for 60–400 Hz, normalised by its cumulative mean, and the first dip
//!   below 0.2 (refined to its local minimum) gives the period. No dip means
//!   no pitch (unvoiced or noisy frame).
//! - **Talk-over**: frames where this leg and the other leg of the bridge are
//!   both speaking.
//!
//! - **Speaking rate**: syllable nuclei counted on the frame-level envelope
//!   (a rise of 6 dB from the last valley followed by a fall of 6 dB from the
//!   peak), per second of speech.
//!
//! Every window (3 s by default) with at least 0.6 s of speech yields a score
//! in 0–1, a weighted sum of six features, each mapped linearly onto 0–1
//! and clamped:
//!
//! | feature | 0 at | 1 at | weight |
//! |---|---|---|---|
//! | loudness: power-mean level of speech frames | -30 dBFS | -10 dBFS | 0.30 |
//! | pitch height: median pitch | 100 Hz | 220 Hz | 0.20 |
//! | speaking rate | 3 syllables/s | 6 syllables/s | 0.20 |
//! | pitch variability: std. dev. of pitch | 1.5 semitones | 6 semitones | 0.10 |
//! | speech density: share of the window spoken | 40 % | 90 % | 0.05 |
//! | talk-over: share of the window with both talking | 0 % | 20 % | 0.15 |
//!
//! Raised voice, raised and unsteady pitch, fast speech with few pauses and
//! talking over the other party are the acoustic marks of an agitated
//! caller; none alone is decisive, so they are blended. The call score is the
//! speech-weighted mean of the window scores; the peak is kept too. An event
//! is raised when a window score crosses the threshold (0.5 by default)
//! upwards, re-armed once a window falls 0.1 below it.
//!
//! ## Results on the test fixtures
//! `tests/fixtures/make-fixtures.sh` speaks the same complaint in English and
//! Mandarin, calmly (pitch 40, 150 words/min, amplitude 50) and agitated
//! (pitch 90, 240 words/min, amplitude 200). `tests/agitation.rs` prints:
//!
//! | fixture | speech level | median pitch | syllables/s | call score | windows over 0.5 |
//! |---|---|---|---|---|---|
//! | calm, English | -27 dBFS | 87–96 Hz | 4.0–5.1 | 0.20 | 0 of 7 |
//! | agitated, English | -14 dBFS | 154–158 Hz | 6.0–7.0 | 0.61 | 4 of 4 |
//! | calm, Mandarin | -25 to -29 dBFS | 67–87 Hz | 4.2–5.7 | 0.22 | 0 of 12 |
//! | agitated, Mandarin | -13 to -16 dBFS | 129–149 Hz | 6.5–7.7 | 0.55 | 7 of 7 |
//!
//! Absolute pitch depends on the speaker; the weights keep it to a quarter of
//! the score so a calm high voice is not enough to cross the default
//! threshold.

use crate::playout::FRAME;

/// Analysis settings.
#[derive(Debug, Clone, Copy)]
pub struct AnalysisConfig {
    /// Frames per scoring window (150 = 3 s).
    pub window_frames: u32,
    /// Window score at which an agitation event is raised.
    pub threshold: f32,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            window_frames: 150,
            threshold: 0.5,
        }
    }
}

/// Features and score of one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowScore {
    /// Index of the window in the call (0-based).
    pub index: u32,
    pub score: f32,
    pub speech_fraction: f32,
    pub mean_level_dbfs: f32,
    pub median_pitch_hz: f32,
    pub pitch_std_semitones: f32,
    /// Speaking rate: syllable nuclei per second of speech.
    pub syllables_per_sec: f32,
    pub talk_over_fraction: f32,
    /// Whether this window crossed the threshold upwards.
    pub crossed: bool,
}

/// Whole-call summary.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallVoiceSummary {
    /// Speech-weighted mean of window scores (0 with no scored window).
    pub agitation: f32,
    pub peak_agitation: f32,
    pub speech_secs: f32,
    pub talk_over_secs: f32,
    pub windows: u32,
}

/// Streaming analyser for one leg.
#[derive(Debug, Clone)]
pub struct VoiceAnalyzer {
    cfg: AnalysisConfig,
    noise_db: f32,
    hang: u8,
    prev: [i16; FRAME],
    // Current window.
    frames: u32,
    speech_frames: u32,
    talk_over: u32,
    level_sum: f32,
    loud_frames: u32,
    pitches: Vec<f32>,
    // Syllable counting on the level envelope (hysteresis peak picking).
    env_max: f32,
    env_min: f32,
    rising: bool,
    syllables: u32,
    // Call totals.
    index: u32,
    armed: bool,
    weighted: f32,
    weight: f32,
    peak: f32,
    speech_total: u32,
    talk_over_total: u32,
    last_level: f32,
    active: bool,
}

impl Default for VoiceAnalyzer {
    fn default() -> Self {
        Self::new(AnalysisConfig::default())
    }
}

impl VoiceAnalyzer {
    pub fn new(cfg: AnalysisConfig) -> Self {
        VoiceAnalyzer {
            cfg,
            noise_db: -60.0,
            hang: 0,
            prev: [0; FRAME],
            frames: 0,
            speech_frames: 0,
            talk_over: 0,
            level_sum: 0.0,
            loud_frames: 0,
            pitches: Vec::with_capacity(cfg.window_frames as usize),
            env_max: -100.0,
            env_min: -100.0,
            rising: false,
            syllables: 0,
            index: 0,
            armed: true,
            weighted: 0.0,
            weight: 0.0,
            peak: 0.0,
            speech_total: 0,
            talk_over_total: 0,
            last_level: -100.0,
            active: false,
        }
    }

    /// Level of the last frame in dBFS.
    pub fn level_dbfs(&self) -> f32 {
        self.last_level
    }

    /// Whether the last frame was speech.
    pub fn voice_active(&self) -> bool {
        self.active
    }

    /// Analyses one frame. `other_active` is whether the other party was
    /// speaking at the same time. Returns a score when a window completes.
    pub fn frame(&mut self, f: &[i16; FRAME], other_active: bool) -> Option<WindowScore> {
        let level = level_dbfs(f);
        self.last_level = level;
        // Noise floor: fast down, slow up.
        if level < self.noise_db {
            self.noise_db = 0.7 * self.noise_db + 0.3 * level;
        } else {
            self.noise_db += 0.02;
        }
        let loud = level > -50.0 && level > self.noise_db + 9.0;
        if loud {
            self.hang = 8;
        } else {
            self.hang = self.hang.saturating_sub(1);
        }
        self.active = loud || self.hang > 0;
        self.frames += 1;
        if self.active {
            self.speech_frames += 1;
            if other_active {
                self.talk_over += 1;
            }
        }
        // Syllable nuclei: a rise of 6 dB from the last valley, then a fall of
        // 6 dB from the peak, counts one.
        let env = level.max(self.noise_db);
        if self.rising {
            self.env_max = self.env_max.max(env);
            if env < self.env_max - 6.0 {
                self.syllables += 1;
                self.rising = false;
                self.env_min = env;
            }
        } else {
            self.env_min = self.env_min.min(env);
            if env > self.env_min + 6.0 && loud {
                self.rising = true;
                self.env_max = env;
            }
        }
        if loud {
            self.level_sum += 10f32.powf(level / 10.0);
            self.loud_frames += 1;
            if let Some(p) = pitch_hz(&self.prev, f) {
                self.pitches.push(p);
            }
        }
        self.prev = *f;
        if self.frames >= self.cfg.window_frames {
            return self.close_window();
        }
        None
    }

    fn close_window(&mut self) -> Option<WindowScore> {
        let frames = self.frames as f32;
        let loud_frames = self.loud_frames.max(1) as f32;
        let speech_fraction = self.speech_frames as f32 / frames;
        let talk_over_fraction = self.talk_over as f32 / frames;
        self.speech_total += self.speech_frames;
        self.talk_over_total += self.talk_over;
        let n_speech = self.speech_frames;
        let level_n = self.level_sum;
        let mut result = None;
        if n_speech as f32 >= 30.0_f32.min(frames * 0.2) && self.pitches.len() >= 5 {
            // Power-mean level over the loud frames.
            let mean_level = 10.0 * (level_n / loud_frames).max(1e-10).log10();
            self.pitches.sort_by(|a, b| a.total_cmp(b));
            let median = self.pitches[self.pitches.len() / 2];
            let st: Vec<f32> = self
                .pitches
                .iter()
                .map(|p| 12.0 * (p / median).log2())
                .collect();
            let mean_st = st.iter().sum::<f32>() / st.len() as f32;
            let var = st.iter().map(|s| (s - mean_st).powi(2)).sum::<f32>() / st.len() as f32;
            let std_st = var.sqrt();
            let ramp = |v: f32, lo: f32, hi: f32| ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
            let rate = self.syllables as f32 / (n_speech as f32 * 0.02);
            let score = 0.30 * ramp(mean_level, -30.0, -10.0)
                + 0.20 * ramp(median, 100.0, 220.0)
                + 0.10 * ramp(std_st, 1.5, 6.0)
                + 0.20 * ramp(rate, 3.0, 6.0)
                + 0.05 * ramp(speech_fraction, 0.4, 0.9)
                + 0.15 * ramp(talk_over_fraction, 0.0, 0.2);
            let crossed = self.armed && score >= self.cfg.threshold;
            if crossed {
                self.armed = false;
            } else if score < self.cfg.threshold - 0.1 {
                self.armed = true;
            }
            self.weighted += score * n_speech as f32;
            self.weight += n_speech as f32;
            self.peak = self.peak.max(score);
            result = Some(WindowScore {
                index: self.index,
                score,
                speech_fraction,
                mean_level_dbfs: mean_level,
                median_pitch_hz: median,
                pitch_std_semitones: std_st,
                syllables_per_sec: rate,
                talk_over_fraction,
                crossed,
            });
        }
        self.index += 1;
        self.frames = 0;
        self.speech_frames = 0;
        self.talk_over = 0;
        self.level_sum = 0.0;
        self.loud_frames = 0;
        self.syllables = 0;
        self.pitches.clear();
        result
    }

    /// Summary so far (windows completed).
    pub fn summary(&self) -> CallVoiceSummary {
        CallVoiceSummary {
            agitation: if self.weight > 0.0 {
                self.weighted / self.weight
            } else {
                0.0
            },
            peak_agitation: self.peak,
            speech_secs: self.speech_total as f32 * 0.02,
            talk_over_secs: self.talk_over_total as f32 * 0.02,
            windows: self.index,
        }
    }
}

/// RMS level of a frame in dBFS (-100 for digital silence).
pub fn level_dbfs(f: &[i16]) -> f32 {
    if f.is_empty() {
        return -100.0;
    }
    let e: i64 = f.iter().map(|s| i64::from(*s) * i64::from(*s)).sum();
    let ms = e as f32 / f.len() as f32;
    if ms <= 0.0 {
        return -100.0;
    }
    (10.0 * (ms / (32768.0 * 32768.0)).log10()).max(-100.0)
}

/// Σ (a[j] − b[j])² over `a`, in eight independent sums so the compiler can use SIMD (one
/// running sum is a chain of dependent float additions it may not reorder). This is the
/// inner loop of [`pitch_hz`], run for every lag of every loud frame of every analysed leg.
fn sq_diff(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 8;
    let b = &b[..a.len()];
    let mut acc = [0f32; L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..L {
            let diff = x[k] - y[k];
            acc[k] += diff * diff;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        let diff = x - y;
        s += diff * diff;
    }
    s
}

/// YIN-lite pitch estimate over two consecutive frames (40 ms), 60–400 Hz.
pub fn pitch_hz(prev: &[i16; FRAME], cur: &[i16; FRAME]) -> Option<f32> {
    // Decimate 8 kHz -> 4 kHz by averaging pairs (a crude low-pass).
    let mut x = [0f32; FRAME];
    for (i, v) in x.iter_mut().enumerate() {
        let src = if i < FRAME / 2 { &prev[..] } else { &cur[..] };
        let j = (i % (FRAME / 2)) * 2;
        *v = (f32::from(src[j]) + f32::from(src[j + 1])) * 0.5;
    }
    const MIN_LAG: usize = 10; // 400 Hz at 4 kHz
    const MAX_LAG: usize = 67; // ~60 Hz
    const W: usize = FRAME - MAX_LAG;
    let mut d = [0f32; MAX_LAG + 2];
    for (tau, dv) in d.iter_mut().enumerate().take(MAX_LAG + 2).skip(1) {
        *dv = sq_diff(&x[..W.min(FRAME - tau)], &x[tau..]);
    }
    // Cumulative mean normalised difference.
    let mut cm = [1f32; MAX_LAG + 2];
    let mut run = 0.0;
    for tau in 1..MAX_LAG + 2 {
        run += d[tau];
        cm[tau] = if run > 0.0 {
            d[tau] * tau as f32 / run
        } else {
            1.0
        };
    }
    let mut tau = MIN_LAG;
    while tau <= MAX_LAG {
        if cm[tau] < 0.2 {
            while tau < MAX_LAG && cm[tau + 1] < cm[tau] {
                tau += 1;
            }
            // Parabolic refinement.
            let (a, b, c) = (cm[tau - 1], cm[tau], cm[tau + 1]);
            let den = a - 2.0 * b + c;
            let shift = if den.abs() > 1e-9 {
                (0.5 * (a - c) / den).clamp(-0.5, 0.5)
            } else {
                0.0
            };
            let period = tau as f32 + shift;
            return Some(4000.0 / period);
        }
        tau += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(f: f32, amp: f32, n: usize, phase0: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = (i + phase0) as f32 / 8000.0;
                // A harmonic-rich voiced-like signal.
                let v = (2.0 * std::f32::consts::PI * f * t).sin()
                    + 0.5 * (4.0 * std::f32::consts::PI * f * t).sin()
                    + 0.3 * (6.0 * std::f32::consts::PI * f * t).sin();
                (amp * v / 1.8 * 32767.0) as i16
            })
            .collect()
    }

    #[test]
    fn pitch_of_harmonic_tones() {
        for f in [80.0f32, 120.0, 200.0, 300.0] {
            let s = tone(f, 0.5, 320, 0);
            let prev: [i16; FRAME] = s[..FRAME].try_into().unwrap();
            let cur: [i16; FRAME] = s[FRAME..].try_into().unwrap();
            let p = pitch_hz(&prev, &cur).unwrap();
            assert!((p - f).abs() / f < 0.05, "{f} -> {p}");
        }
        let silence = [0i16; FRAME];
        assert!(pitch_hz(&silence, &silence).is_none());
    }

    #[test]
    fn squared_differences_in_lanes_match_one_sum() {
        let a: Vec<f32> = (0..93).map(|i| ((i * 37) % 101) as f32 - 50.0).collect();
        let b: Vec<f32> = (0..120).map(|i| ((i * 53) % 89) as f32 * 2.5).collect();
        let one: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        let lanes = sq_diff(&a, &b);
        assert!((one - lanes).abs() <= one * 1e-5, "{one} vs {lanes}");
    }

    #[test]
    fn levels() {
        assert_eq!(level_dbfs(&[0; 160]), -100.0);
        let full = [32767i16; 160];
        assert!(level_dbfs(&full).abs() < 0.01);
        let s = tone(440.0, 0.1, 160, 0);
        assert!(level_dbfs(&s) < -20.0);
    }

    #[test]
    fn loud_high_voice_scores_higher_than_quiet_low_voice() {
        let score = |f: f32, amp: f32| {
            let mut a = VoiceAnalyzer::default();
            let mut last = None;
            let s = tone(f, amp, 160 * 150, 0);
            for fr in s.chunks_exact(FRAME) {
                let fr: &[i16; FRAME] = fr.try_into().unwrap();
                if let Some(w) = a.frame(fr, false) {
                    last = Some(w);
                }
            }
            last.unwrap().score
        };
        let calm = score(110.0, 0.05);
        let loud = score(250.0, 0.6);
        assert!(loud > calm + 0.3, "calm {calm} loud {loud}");
    }
}
