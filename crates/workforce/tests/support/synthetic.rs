//! A synthetic contact history with known structure, for the forecast's tests and benchmark.
//!
//! Weekly season (weekday factors), daily season (a two-peak weekday profile, a one-peak
//! weekend profile, a night floor for a 24/7 line), a linear trend of +15% a year, holidays
//! at a known factor, and Poisson noise from a seeded generator, so the same seed gives the
//! same history on every machine.

#![allow(dead_code)]

use hotline_workforce::INTERVALS_PER_DAY;
use hotline_workforce::forecast::SpecialDay;
use rand::SeedableRng;
use rand_distr::{Distribution, Poisson};
use rand_pcg::Pcg64;

/// True volume of a bank holiday relative to the same weekday.
pub const HOLIDAY_FACTOR: f64 = 0.35;
/// Weekday factors, Monday first (mean 1).
pub const WEEKDAY: [f64; 7] = [1.25, 1.12, 1.05, 1.02, 1.08, 0.80, 0.68];
/// Days of the bank holidays in a 56-week history: Mondays, a Friday and a Thursday, one of
/// them (days 367 and 378) in the last four weeks, where the backtest looks.
pub const BANK_HOLIDAYS: [usize; 7] = [28, 119, 151, 245, 301, 367, 378];

pub struct Synthetic {
    /// The true mean per interval.
    pub mean: Vec<f64>,
    /// Poisson draws around it.
    pub actual: Vec<f64>,
    /// The holidays within the history.
    pub special: Vec<SpecialDay>,
}

/// Share of the day's volume in each interval of weekday `k` (0 = Monday).
pub fn profile(k: usize) -> [f64; INTERVALS_PER_DAY] {
    let bump = |h: f64, centre: f64, sd: f64| (-0.5 * ((h - centre) / sd).powi(2)).exp();
    let mut p = [0.0; INTERVALS_PER_DAY];
    for (i, v) in p.iter_mut().enumerate() {
        let h = (i as f64 + 0.5) / 4.0;
        *v = if k < 5 {
            0.04 + bump(h, 10.5, 1.5) + 0.8 * bump(h, 14.5, 2.0) + 0.3 * bump(h, 19.0, 1.5)
        } else {
            0.04 + bump(h, 12.0, 3.0)
        };
    }
    let total: f64 = p.iter().sum();
    p.map(|v| v / total)
}

/// Mean volume of day `d` (before holiday factors): `per_day` contacts on an average day at
/// day 0, growing 15% a year.
pub fn day_mean(d: usize, per_day: f64) -> f64 {
    per_day * (1.0 + 0.15 * d as f64 / 365.0) * WEEKDAY[d % 7]
}

pub fn holiday_days() -> Vec<SpecialDay> {
    BANK_HOLIDAYS
        .iter()
        .map(|&day| SpecialDay {
            day,
            label: "bank_holiday".into(),
        })
        .collect()
}

/// `weeks` weeks of history with `per_day` contacts on an average day at the start.
pub fn synthetic(weeks: usize, per_day: f64, seed: u64) -> Synthetic {
    let days = weeks * 7;
    let special: Vec<SpecialDay> = holiday_days()
        .into_iter()
        .filter(|s| s.day < days)
        .collect();
    let profiles: Vec<_> = (0..7).map(profile).collect();
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut mean = Vec::with_capacity(days * INTERVALS_PER_DAY);
    let mut actual = Vec::with_capacity(days * INTERVALS_PER_DAY);
    for d in 0..days {
        let holiday = if special.iter().any(|s| s.day == d) {
            HOLIDAY_FACTOR
        } else {
            1.0
        };
        let total = day_mean(d, per_day) * holiday;
        for share in profiles[d % 7] {
            let m = total * share;
            mean.push(m);
            let draw = match Poisson::new(m) {
                Ok(p) => p.sample(&mut rng),
                Err(_) => 0.0,
            };
            actual.push(draw);
        }
    }
    Synthetic {
        mean,
        actual,
        special,
    }
}

/// Σ|actual − truth| / Σ actual over `range` of intervals: the WAPE the true mean scores.
pub fn noise_floor(s: &Synthetic, range: std::ops::Range<usize>) -> f64 {
    let err: f64 = range.clone().map(|i| (s.actual[i] - s.mean[i]).abs()).sum();
    let total: f64 = range.map(|i| s.actual[i]).sum();
    err / total
}
