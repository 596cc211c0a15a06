//! In-band DTMF detection (Goertzel) for callers whose carrier sends key
//! presses as audio, and a tone generator.
//!
//! The detector works on blocks of 205 samples (25.6 ms at 8 kHz). In each
//! block it measures the eight DTMF frequencies and accepts a (row, column)
//! pair only if all of these hold:
//! - **energy**: both tones are loud enough (about -32 dBFS each);
//! - **purity**: the two tones carry most of the block's energy, so broadband
//!   sounds such as speech and noise fail;
//! - **dominance**: each tone is well above the other candidates in its group;
//! - **twist**: the row/column level difference is within 8 dB (normal) or
//!   4 dB (reverse), as ITU-T Q.24 allows;
//! - **harmonics**: the second harmonics of both tones are weak (the row's
//!   only where it is clear of the column tone). Voiced speech is rich in
//!   harmonics, a DTMF tone has none.
//!
//! A key is reported after two consecutive valid blocks with the same pair
//! (≥ 40 ms of tone), once per key press; it can be reported again only after
//! two blocks without it.

use crate::dtmf::Digit;

const N: usize = 205;
const RATE: f32 = 8000.0;
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Tunable thresholds of the detector.
#[derive(Debug, Clone, Copy)]
pub struct InbandConfig {
    /// Minimum power of each tone, as a fraction of full-scale sine power.
    pub min_tone_power: f32,
    /// Minimum share of block energy in the two tones (0–1).
    pub min_purity: f32,
    /// Each tone must exceed the other tones of its group by this factor (power).
    pub dominance: f32,
    /// Maximum row-over-column power ratio (normal twist, 8 dB).
    pub max_normal_twist: f32,
    /// Maximum column-over-row power ratio (reverse twist, 4 dB).
    pub max_reverse_twist: f32,
    /// Maximum second-harmonic to fundamental power ratio.
    pub max_harmonic: f32,
    /// Consecutive valid blocks needed.
    pub min_blocks: u8,
}

impl Default for InbandConfig {
    fn default() -> Self {
        InbandConfig {
            min_tone_power: 10f32.powf(-32.0 / 10.0),
            min_purity: 0.70,
            dominance: 10f32.powf(8.0 / 10.0),
            max_normal_twist: 10f32.powf(8.0 / 10.0),
            max_reverse_twist: 10f32.powf(4.0 / 10.0),
            max_harmonic: 10f32.powf(-15.0 / 10.0),
            min_blocks: 2,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Coefs {
    rows: [f32; 4],
    cols: [f32; 4],
    rows2: [f32; 4],
    cols2: [f32; 4],
}

fn coef(f: f32) -> f32 {
    2.0 * (2.0 * std::f32::consts::PI * f / RATE).cos()
}

/// Goertzel power of `x` at the frequency with coefficient `c`, normalised so a
/// full-scale sine at that frequency gives about 1.0 (times the block share).
fn goertzel(x: &[f32], c: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &v in x {
        let s0 = v + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - c * s1 * s2;
    // A sine of amplitude A gives p ≈ (A·N/2)²; normalise to A².
    p * 4.0 / (x.len() as f32 * x.len() as f32)
}

/// [`goertzel`] at the four row and four column frequencies in one pass over `x`: the eight
/// filters are independent, so they run side by side (SIMD lanes) instead of eight passes
/// of one serial recursion each. Same arithmetic per filter, so the same results.
fn goertzel8(x: &[f32], rows: &[f32; 4], cols: &[f32; 4]) -> ([f32; 4], [f32; 4]) {
    let mut c = [0f32; 8];
    c[..4].copy_from_slice(rows);
    c[4..].copy_from_slice(cols);
    let (mut s1, mut s2) = ([0f32; 8], [0f32; 8]);
    for &v in x {
        for k in 0..8 {
            let s0 = v + c[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s0;
        }
    }
    let n2 = x.len() as f32 * x.len() as f32;
    let p: [f32; 8] =
        std::array::from_fn(|k| (s1[k] * s1[k] + s2[k] * s2[k] - c[k] * s1[k] * s2[k]) * 4.0 / n2);
    ([p[0], p[1], p[2], p[3]], [p[4], p[5], p[6], p[7]])
}

/// Streaming in-band DTMF detector.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    cfg: InbandConfig,
    coefs: Coefs,
    block: [f32; N],
    fill: usize,
    candidate: Option<Digit>,
    run: u8,
    reported: Option<Digit>,
    miss: u8,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new(InbandConfig::default())
    }
}

impl InbandDetector {
    pub fn new(cfg: InbandConfig) -> Self {
        let coefs = Coefs {
            rows: ROWS.map(coef),
            cols: COLS.map(coef),
            rows2: ROWS.map(|f| coef(2.0 * f)),
            cols2: COLS.map(|f| coef(2.0 * f)),
        };
        InbandDetector {
            cfg,
            coefs,
            block: [0.0; N],
            fill: 0,
            candidate: None,
            run: 0,
            reported: None,
            miss: 0,
        }
    }

    /// Feeds linear samples; calls `on_digit` for each key press detected.
    pub fn feed(&mut self, samples: &[i16], mut on_digit: impl FnMut(Digit)) {
        for &s in samples {
            self.block[self.fill] = f32::from(s) / 32768.0;
            self.fill += 1;
            if self.fill == N {
                self.fill = 0;
                let d = self.analyse();
                self.step(d, &mut on_digit);
            }
        }
    }

    fn step(&mut self, d: Option<Digit>, on_digit: &mut impl FnMut(Digit)) {
        match d {
            Some(d) if Some(d) == self.candidate => {
                self.run = self.run.saturating_add(1);
            }
            Some(d) => {
                self.candidate = Some(d);
                self.run = 1;
            }
            None => {
                self.candidate = None;
                self.run = 0;
            }
        }
        if let Some(c) = self.candidate
            && self.run >= self.cfg.min_blocks
        {
            self.miss = 0;
            if self.reported != Some(c) {
                self.reported = Some(c);
                on_digit(c);
            }
            return;
        }
        if self.reported.is_some() && self.candidate != self.reported {
            self.miss += 1;
            if self.miss >= 2 {
                self.reported = None;
                self.miss = 0;
            }
        }
    }

    fn analyse(&self) -> Option<Digit> {
        let x = &self.block;
        let energy: f32 = x.iter().map(|v| v * v).sum::<f32>() * 2.0 / N as f32;
        // Quick reject: total power below what two minimum tones would give.
        if energy < 2.0 * self.cfg.min_tone_power {
            return None;
        }
        let (rows, cols) = goertzel8(x, &self.coefs.rows, &self.coefs.cols);
        let (ri, rp) = max_idx(&rows);
        let (ci, cp) = max_idx(&cols);
        let cfg = &self.cfg;
        if rp < cfg.min_tone_power || cp < cfg.min_tone_power {
            return None;
        }
        if (rp + cp) < cfg.min_purity * energy {
            return None;
        }
        if rows
            .iter()
            .enumerate()
            .any(|(i, &p)| i != ri && p * cfg.dominance > rp)
            || cols
                .iter()
                .enumerate()
                .any(|(i, &p)| i != ci && p * cfg.dominance > cp)
        {
            return None;
        }
        if rp > cp * cfg.max_normal_twist || cp > rp * cfg.max_reverse_twist {
            return None;
        }
        let c2 = goertzel(x, self.coefs.cols2[ci]);
        if c2 > cp * cfg.max_harmonic {
            return None;
        }
        // A row tone's second harmonic can sit within a bin or two of the
        // column tone (2×697 = 1394 vs 1336), where the column leaks into it;
        // measure it only when it is clear of the column.
        if (2.0 * ROWS[ri] - COLS[ci]).abs() > 100.0 {
            let r2 = goertzel(x, self.coefs.rows2[ri]);
            if r2 > rp * cfg.max_harmonic {
                return None;
            }
        }
        Digit::from_char(KEYS[ri][ci])
    }
}

fn max_idx(v: &[f32; 4]) -> (usize, f32) {
    let mut best = (0, v[0]);
    for (i, &p) in v.iter().enumerate().skip(1) {
        if p > best.1 {
            best = (i, p);
        }
    }
    best
}

/// Generates a DTMF tone: `ms` milliseconds at `amplitude` (0–1 of full scale
/// per tone), appended to `out`.
pub fn dtmf_tone(digit: Digit, ms: u32, amplitude: f32, out: &mut Vec<i16>) {
    let (fr, fc) = digit.frequencies();
    let n = ms.saturating_mul(8) as usize;
    let w1 = 2.0 * std::f32::consts::PI * fr / RATE;
    let w2 = 2.0 * std::f32::consts::PI * fc / RATE;
    for i in 0..n {
        let t = i as f32;
        let v = amplitude * ((w1 * t).sin() + (w2 * t).sin());
        out.push((v * 32767.0).clamp(-32768.0, 32767.0) as i16);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(samples: &[i16]) -> String {
        let mut d = InbandDetector::default();
        let mut s = String::new();
        d.feed(samples, |k| s.push(k.as_char()));
        s
    }

    #[test]
    fn eight_filters_in_one_pass_match_one_at_a_time() {
        let mut audio = Vec::new();
        dtmf_tone(Digit::from_char('7').unwrap(), 40, 0.3, &mut audio);
        let x: Vec<f32> = audio.iter().take(N).map(|&v| f32::from(v)).collect();
        let c = InbandDetector::default().coefs;
        let (rows, cols) = goertzel8(&x, &c.rows, &c.cols);
        assert_eq!(rows, c.rows.map(|k| goertzel(&x, k)));
        assert_eq!(cols, c.cols.map(|k| goertzel(&x, k)));
    }

    #[test]
    fn all_keys_clean() {
        let mut audio = Vec::new();
        let keys = "0123456789*#ABCD";
        for c in keys.chars() {
            dtmf_tone(Digit::from_char(c).unwrap(), 80, 0.25, &mut audio);
            audio.extend(std::iter::repeat_n(0, 480));
        }
        assert_eq!(detect(&audio), keys);
    }

    #[test]
    fn repeated_key_needs_a_pause() {
        let mut audio = Vec::new();
        let five = Digit::from_char('5').unwrap();
        dtmf_tone(five, 300, 0.2, &mut audio);
        assert_eq!(detect(&audio), "5");
        audio.extend(std::iter::repeat_n(0, 480));
        dtmf_tone(five, 100, 0.2, &mut audio);
        assert_eq!(detect(&audio), "55");
    }

    #[test]
    fn too_short_or_too_quiet_is_ignored() {
        let mut audio = Vec::new();
        dtmf_tone(Digit::from_char('1').unwrap(), 20, 0.3, &mut audio);
        assert_eq!(detect(&audio), "");
        let mut quiet = Vec::new();
        dtmf_tone(Digit::from_char('1').unwrap(), 200, 0.005, &mut quiet);
        assert_eq!(detect(&quiet), "");
    }

    #[test]
    fn single_tone_and_bad_twist_rejected() {
        let mut audio = Vec::new();
        for i in 0..1600 {
            let v = 0.3 * (2.0 * std::f32::consts::PI * 697.0 * i as f32 / RATE).sin();
            audio.push((v * 32767.0) as i16);
        }
        assert_eq!(detect(&audio), "");
        let mut twisted = Vec::new();
        for i in 0..1600 {
            let t = i as f32 / RATE;
            let v = 0.4 * (2.0 * std::f32::consts::PI * 697.0 * t).sin()
                + 0.05 * (2.0 * std::f32::consts::PI * 1209.0 * t).sin();
            twisted.push((v * 32767.0) as i16);
        }
        assert_eq!(detect(&twisted), "");
    }
}
