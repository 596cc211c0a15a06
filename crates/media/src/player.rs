//! Prompts and hold music: WAV loading, a prompt library per language, number
//! composition in English and Mandarin, and a frame-by-frame player.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use crate::playout::FRAME;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// Failure to load a prompt.
#[derive(Debug, Error)]
pub enum PromptError {
    #[error("cannot read WAV {path}: {source}")]
    Wav {
        path: PathBuf,
        #[source]
        source: hound::Error,
    },
    #[error("WAV {path}: unsupported format ({why}); prompts must be PCM or float WAV")]
    Format { path: PathBuf, why: String },
    #[error("cannot read prompt directory {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("prompt {lang}/{name} is missing")]
    Missing { lang: &'static str, name: String },
}

/// Decoded audio, 8 kHz mono 16-bit, shared between all calls playing it.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub name: Arc<str>,
    pub samples: Arc<[i16]>,
}

impl Prompt {
    /// A prompt from raw 8 kHz samples.
    pub fn from_samples(name: &str, samples: Vec<i16>) -> Self {
        Prompt {
            name: name.into(),
            samples: samples.into(),
        }
    }

    /// Loads a WAV file. 8 kHz mono 16-bit is used as is; other sample rates,
    /// channel counts and PCM depths (8/16/24/32-bit integer, 32-bit float)
    /// are converted (channels averaged, rate converted by linear interpolation).
    pub fn load(path: &Path) -> Result<Self, PromptError> {
        let file = std::fs::File::open(path).map_err(|e| PromptError::Wav {
            path: path.to_owned(),
            source: hound::Error::IoError(e),
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Prompt::decode(&name, path, std::io::BufReader::new(file))
    }

    /// Decodes WAV bytes from `reader` (as [`Prompt::load`]); `path` names it in errors.
    pub fn decode(
        name: &str,
        path: &Path,
        reader: impl std::io::Read,
    ) -> Result<Self, PromptError> {
        let wav_err = |source| PromptError::Wav {
            path: path.to_owned(),
            source,
        };
        let mut r = hound::WavReader::new(reader).map_err(wav_err)?;
        let spec = r.spec();
        let ch = usize::from(spec.channels);
        if ch == 0 || spec.sample_rate == 0 {
            return Err(PromptError::Format {
                path: path.to_owned(),
                why: format!("{} channels at {} Hz", spec.channels, spec.sample_rate),
            });
        }
        let mono_f: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Int, b @ (8 | 16 | 24 | 32)) => {
                let scale = 1.0 / (1u64 << (b - 1)) as f32;
                let all: Result<Vec<i32>, _> = r.samples::<i32>().collect();
                downmix(&all.map_err(wav_err)?, ch, |v| v as f32 * scale)
            }
            (hound::SampleFormat::Float, 32) => {
                let all: Result<Vec<f32>, _> = r.samples::<f32>().collect();
                downmix(&all.map_err(wav_err)?, ch, |v| v)
            }
            (f, b) => {
                return Err(PromptError::Format {
                    path: path.to_owned(),
                    why: format!("{b}-bit {f:?}"),
                });
            }
        };
        let resampled = if spec.sample_rate == 8000 {
            mono_f
        } else {
            resample_linear(&mono_f, spec.sample_rate, 8000)
        };
        let samples: Vec<i16> = resampled
            .iter()
            .map(|v| (v * 32768.0).clamp(-32768.0, 32767.0) as i16)
            .collect();
        Ok(Prompt::from_samples(name, samples))
    }

    /// Length in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 / 8
    }
}

fn downmix<T: Copy>(all: &[T], ch: usize, f: impl Fn(T) -> f32) -> Vec<f32> {
    all.chunks_exact(ch)
        .map(|c| c.iter().map(|v| f(*v)).sum::<f32>() / ch as f32)
        .collect()
}

fn resample_linear(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if x.is_empty() {
        return Vec::new();
    }
    let n_out = (x.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let step = f64::from(from) / f64::from(to);
    // A crude low-pass before decimation: average over the decimation span.
    let span = (step.floor() as usize).max(1);
    (0..n_out)
        .map(|i| {
            let pos = i as f64 * step;
            let i0 = pos.floor() as usize;
            let frac = (pos - i0 as f64) as f32;
            let avg = |k: usize| {
                let lo = k.min(x.len() - 1);
                let hi = (k + span).min(x.len());
                let s = &x[lo..hi.max(lo + 1)];
                s.iter().sum::<f32>() / s.len() as f32
            };
            avg(i0) * (1.0 - frac) + avg(i0 + 1) * frac
        })
        .collect()
}

/// Prompt languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }
}

/// All prompts of all languages, loaded once and shared.
#[derive(Debug, Clone, Default)]
pub struct PromptLibrary {
    prompts: HashMap<(Lang, String), Prompt>,
    music: HashMap<String, Prompt>,
}

impl PromptLibrary {
    /// The directory of prompts shipped with the crate (`assets/`).
    pub fn bundled_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets")
    }

    /// The prompts and hold music built into the binary (`assets/` of this crate).
    pub fn embedded() -> Result<Self, PromptError> {
        let mut lib = PromptLibrary::default();
        for (kind, name, bytes) in embedded::EMBEDDED {
            let path = PathBuf::from(format!("(built in)/{kind}/{name}.wav"));
            let prompt = Prompt::decode(name, &path, std::io::Cursor::new(bytes))?;
            match *kind {
                "en" => lib.prompts.insert((Lang::En, name.to_string()), prompt),
                "zh" => lib.prompts.insert((Lang::Zh, name.to_string()), prompt),
                _ => lib.music.insert(name.to_string(), prompt),
            };
        }
        Ok(lib)
    }

    /// Loads `dir/prompts/{en,zh}/*.wav` and `dir/music/*.wav`.
    pub fn load(dir: &Path) -> Result<Self, PromptError> {
        let mut lib = PromptLibrary::default();
        for lang in [Lang::En, Lang::Zh] {
            let d = dir.join("prompts").join(lang.code());
            for p in wav_files(&d)? {
                let prompt = Prompt::load(&p)?;
                lib.prompts.insert((lang, prompt.name.to_string()), prompt);
            }
        }
        let m = dir.join("music");
        if m.is_dir() {
            for p in wav_files(&m)? {
                let prompt = Prompt::load(&p)?;
                lib.music.insert(prompt.name.to_string(), prompt);
            }
        }
        Ok(lib)
    }

    /// One prompt.
    pub fn get(&self, lang: Lang, name: &str) -> Result<Prompt, PromptError> {
        self.prompts
            .get(&(lang, name.to_string()))
            .cloned()
            .ok_or_else(|| PromptError::Missing {
                lang: lang.code(),
                name: name.to_string(),
            })
    }

    /// A sequence of prompts by name.
    pub fn sequence<S: AsRef<str>>(
        &self,
        lang: Lang,
        names: &[S],
    ) -> Result<Vec<Prompt>, PromptError> {
        names.iter().map(|n| self.get(lang, n.as_ref())).collect()
    }

    /// A music track (e.g. `hold`).
    pub fn music(&self, name: &str) -> Result<Prompt, PromptError> {
        self.music
            .get(name)
            .cloned()
            .ok_or_else(|| PromptError::Missing {
                lang: "music",
                name: name.to_string(),
            })
    }

    /// Number of prompts loaded (all languages).
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

fn wav_files(d: &Path) -> Result<Vec<PathBuf>, PromptError> {
    let rd = std::fs::read_dir(d).map_err(|source| PromptError::Dir {
        path: d.to_owned(),
        source,
    })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
        .collect();
    v.sort();
    Ok(v)
}

/// Prompt names that say `n` (0–999; larger values are clamped) in `lang`.
///
/// English: "three hundred forty two" (num_3 hundred num_40 num_2).
/// Mandarin: 三百四十二 (num_3 hundred num_4 num_10 num_2), with 两 (liang)
/// before 百, 零 for an inner zero (三百零五), and 十 alone for 10–19 at the
/// start (十二) but 一十 after 百 (一百一十二).
pub fn number_names(lang: Lang, n: u32) -> Vec<String> {
    let n = n.min(999);
    let mut v = Vec::new();
    let num = |k: u32| format!("num_{k}");
    match lang {
        Lang::En => {
            let h = n / 100;
            let r = n % 100;
            if h > 0 {
                v.push(num(h));
                v.push("hundred".into());
            }
            if r > 0 || h == 0 {
                if r <= 20 {
                    v.push(num(r));
                } else {
                    let t = r / 10 * 10;
                    v.push(num(t));
                    if !r.is_multiple_of(10) {
                        v.push(num(r % 10));
                    }
                }
            }
        }
        Lang::Zh => {
            let h = n / 100;
            let t = n % 100 / 10;
            let u = n % 10;
            if h > 0 {
                v.push(if h == 2 { "liang".into() } else { num(h) });
                v.push("hundred".into());
                if t == 0 && u != 0 {
                    v.push(num(0));
                }
                if t > 0 {
                    v.push(num(t));
                    v.push(num(10));
                }
                if u > 0 {
                    v.push(num(u));
                }
            } else if n <= 20 {
                v.push(num(n));
            } else {
                v.push(num(t));
                v.push(num(10));
                if u > 0 {
                    v.push(num(u));
                }
            }
        }
    }
    v
}

/// "You are number N in the queue."
pub fn queue_position_names(lang: Lang, position: u32) -> Vec<String> {
    let mut v = vec!["you_are_number".to_string()];
    v.extend(number_names(lang, position));
    v.push("in_queue".into());
    v
}

/// "Your estimated wait is about N minutes" (or seconds under a minute).
/// Waits are rounded to whole minutes (at least 1); under 60 s to 10 s steps.
pub fn estimated_wait_names(lang: Lang, wait_secs: u32) -> Vec<String> {
    let mut v = vec!["wait_about".to_string()];
    if wait_secs < 60 {
        let s = (wait_secs.div_ceil(10) * 10).max(10);
        v.extend(number_names(lang, s));
        v.push("seconds".into());
    } else {
        let m = (wait_secs + 30) / 60;
        v.extend(number_names(lang, m));
        v.push(if m == 1 { "minute" } else { "minutes" }.into());
    }
    v
}

/// Plays a sequence of prompts frame by frame, optionally looping.
#[derive(Debug, Clone)]
pub struct Player {
    items: Vec<Prompt>,
    idx: usize,
    pos: usize,
    looping: bool,
    barge_in: bool,
}

impl Player {
    /// Plays `items` once (or forever if `looping`); `barge_in` lets a key press stop it.
    pub fn new(items: Vec<Prompt>, looping: bool, barge_in: bool) -> Self {
        Player {
            items,
            idx: 0,
            pos: 0,
            looping,
            barge_in,
        }
    }

    /// Whether a key press should stop this playback.
    pub fn barge_in(&self) -> bool {
        self.barge_in
    }

    /// Fills the next frame; returns `false` (and silence) when finished.
    pub fn next_frame(&mut self, out: &mut [i16; FRAME]) -> bool {
        let mut filled = 0;
        let mut empty_rounds = 0;
        while filled < FRAME {
            let Some(item) = self.items.get(self.idx) else {
                if self.looping && !self.items.is_empty() && empty_rounds == 0 {
                    self.idx = 0;
                    self.pos = 0;
                    empty_rounds += 1;
                    continue;
                }
                out[filled..].fill(0);
                return filled > 0;
            };
            let s = &item.samples[self.pos.min(item.samples.len())..];
            let n = s.len().min(FRAME - filled);
            out[filled..filled + n].copy_from_slice(&s[..n]);
            filled += n;
            self.pos += n;
            if n > 0 {
                empty_rounds = 0;
            }
            if self.pos >= item.samples.len() {
                self.idx += 1;
                self.pos = 0;
            }
        }
        true
    }

    /// Whether everything has been played.
    pub fn finished(&self) -> bool {
        !self.looping && self.idx >= self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_numbers() {
        assert_eq!(number_names(Lang::En, 0), ["num_0"]);
        assert_eq!(number_names(Lang::En, 17), ["num_17"]);
        assert_eq!(number_names(Lang::En, 42), ["num_40", "num_2"]);
        assert_eq!(number_names(Lang::En, 300), ["num_3", "hundred"]);
        assert_eq!(
            number_names(Lang::En, 999),
            ["num_9", "hundred", "num_90", "num_9"]
        );
        assert_eq!(number_names(Lang::En, 120), ["num_1", "hundred", "num_20"]);
    }

    #[test]
    fn mandarin_numbers() {
        assert_eq!(number_names(Lang::Zh, 3), ["num_3"]);
        assert_eq!(number_names(Lang::Zh, 15), ["num_15"]);
        assert_eq!(number_names(Lang::Zh, 42), ["num_4", "num_10", "num_2"]);
        assert_eq!(number_names(Lang::Zh, 30), ["num_3", "num_10"]);
        assert_eq!(number_names(Lang::Zh, 200), ["liang", "hundred"]);
        assert_eq!(
            number_names(Lang::Zh, 305),
            ["num_3", "hundred", "num_0", "num_5"]
        );
        assert_eq!(
            number_names(Lang::Zh, 112),
            ["num_1", "hundred", "num_1", "num_10", "num_2"]
        );
    }

    #[test]
    fn waits() {
        assert_eq!(
            estimated_wait_names(Lang::En, 125),
            ["wait_about", "num_2", "minutes"]
        );
        assert_eq!(
            estimated_wait_names(Lang::En, 70),
            ["wait_about", "num_1", "minute"]
        );
        assert_eq!(
            estimated_wait_names(Lang::Zh, 25),
            ["wait_about", "num_3", "num_10", "seconds"]
        );
        assert_eq!(
            queue_position_names(Lang::Zh, 3),
            ["you_are_number", "num_3", "in_queue"]
        );
    }

    #[test]
    fn player_sequences_and_loops() {
        let a = Prompt::from_samples("a", vec![1; 100]);
        let b = Prompt::from_samples("b", vec![2; 100]);
        let mut p = Player::new(vec![a.clone(), b.clone()], false, false);
        let mut f = [0i16; FRAME];
        assert!(p.next_frame(&mut f));
        assert_eq!(f[99], 1);
        assert_eq!(f[100], 2);
        assert!(p.next_frame(&mut f));
        assert_eq!(f[39], 2);
        assert_eq!(f[40], 0);
        assert!(!p.next_frame(&mut f));
        assert!(p.finished());

        let mut l = Player::new(vec![a], true, false);
        for _ in 0..10 {
            assert!(l.next_frame(&mut f));
            assert!(f.iter().all(|s| *s == 1));
        }
        let mut empty = Player::new(vec![Prompt::from_samples("e", vec![])], true, false);
        assert!(!empty.next_frame(&mut f));
    }
}
