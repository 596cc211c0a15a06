//! Contact-volume forecast per 15-minute interval, with its own backtest.
//!
//! # Input
//!
//! `history` holds the offered contacts of one queue per interval, starting at interval 0 =
//! Monday 00:00 of the caller's epoch, in whole days. Special days (holidays, a marketing
//! mailing, a card outage) are given as day indices from the same epoch (day 0 = that
//! Monday) with a label; they may lie in the history, in the forecast horizon, or both.
//!
//! # Method: seasonal decomposition
//!
//! The forecast of interval `i` of day `d` is
//!
//! ```text
//! volume(d, i) = max(0, a + b·t(d)) · w[dow(d)] · s[label(d)] · p[dow(d)][i]
//! ```
//!
//! * `a + b·t` is the daily level with a linear trend, `t` in weeks from the end of the
//!   history; `w` are seven day-of-week factors (mean 1). Both are fitted together by least
//!   squares on the daily totals of the last [`ForecastConfig::trend_weeks`] weeks, ordinary
//!   days only: `min Σ (y_d − w_k·(a + b·t_d))²`. The model is bilinear, so it is solved by
//!   alternating least squares (a 2×2 linear system for `a, b`, a ratio for each `w_k`),
//!   which converges in a handful of steps because the weekly pattern is far stronger than
//!   the trend. The trend window keeps an old level shift from steering the slope. The
//!   trend is extrapolated as a straight line, which suits the weeks ahead a schedule is
//!   built for; over months it should be checked against the planners' own outlook.
//! * `p[k]` is the intraday profile of weekday `k`: each interval's share of the day,
//!   pooled over the last [`ForecastConfig::profile_weeks`] ordinary occurrences of that
//!   weekday (Σ volume / Σ day total, so quiet nights do not get noisy shares), then
//!   smoothed with [`ForecastConfig::smoothing_passes`] passes of a (1, 2, 1)/4 filter and
//!   renormalised. Pooling eight weeks divides the Poisson noise of a share by about √8.
//! * `s[label]` is the factor of a special day, learned from its past occurrences in the
//!   history: Σ actual total / Σ expected total, where the expected total of an occurrence
//!   is the mean of the ordinary same-weekday days one and two weeks either side (the
//!   fitted model when none exist). Comparing with neighbours rather than with the fitted
//!   trend keeps occurrences from a year ago usable after a level change. A label never
//!   seen in the history has no factor: that day is forecast as the ordinary weekday (the
//!   caller sees `learned: false` in [`ModelSummary::special_factors`]). Special days are
//!   left out of the trend and profile fits, so a holiday does not drag its weekday down.
//!   A special day uses its weekday's intraday profile.
//!
//! # Why not Holt-Winters
//!
//! Multiplicative Holt-Winters over a weekly season of 672 intervals has 672 seasonal
//! states, each updated once a week: with the few months of history a new centre has, the
//! seasonal states are still mostly their initial guesses, and the noise of a single
//! 15-minute count goes straight into them. The decomposition above estimates 9 numbers from
//! daily totals (low relative noise) and 7 × 96 shares from pooled weeks; it needs two weeks
//! to start, is deterministic (no random start, fixed iteration order) and explains itself
//! through [`ModelSummary`]. It does not model a yearly season: a centre with one keeps it in
//! the trend window or as special days.
//!
//! # Backtest
//!
//! [`forecast`] refits the same model without the last [`ForecastConfig::backtest_weeks`]
//! weeks (fewer if the history is short; two weeks are always kept for fitting) and scores
//! its forecast of the held-out weeks: WAPE = Σ|actual − forecast| / Σ actual over
//! intervals, overall and per day, and the bias Σ(forecast − actual) / Σ actual. WAPE is
//! used instead of MAPE because MAPE divides by the (often zero) night intervals.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::INTERVALS_PER_DAY;

const DAYS_PER_WEEK: usize = 7;

/// Fewest days of history the forecast accepts: two of each weekday.
pub const MIN_HISTORY_DAYS: usize = 14;
/// Longest horizon [`forecast`] produces, in days.
pub const MAX_HORIZON_DAYS: usize = 400;

/// A day that does not behave like its weekday.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialDay {
    /// Days from the epoch: day 0 is the Monday the history starts on.
    pub day: usize,
    /// What kind of day, e.g. `christmas`, `bank_holiday`; occurrences of one label share a
    /// learned factor.
    pub label: String,
}

/// Tuning of the forecast. The defaults suit a centre with a few months of history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForecastConfig {
    /// Most recent weeks of daily totals the level, trend and weekday factors are fitted on.
    pub trend_weeks: usize,
    /// Most recent ordinary occurrences of each weekday pooled into its intraday profile.
    pub profile_weeks: usize,
    /// Passes of the (1, 2, 1)/4 smoothing over each intraday profile (0 = none).
    pub smoothing_passes: usize,
    /// Weeks held out at the end of the history for the backtest (0 = no backtest).
    pub backtest_weeks: usize,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        ForecastConfig {
            trend_weeks: 26,
            profile_weeks: 8,
            smoothing_passes: 1,
            backtest_weeks: 4,
        }
    }
}

/// Why a forecast was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// No history at all.
    #[error("the history is empty")]
    Empty,
    /// A volume is not a finite, non-negative number.
    #[error("history interval {interval}: volume {value} is not a finite non-negative number")]
    BadValue {
        /// Index of the interval in the history.
        interval: usize,
        /// The value found.
        value: f64,
    },
    /// The history does not end at midnight.
    #[error(
        "the history has {intervals} intervals, not a whole number of days of {INTERVALS_PER_DAY}"
    )]
    NotWholeDays {
        /// Length of the history.
        intervals: usize,
    },
    /// Too little history to fit (or to hold out the requested backtest weeks).
    #[error("{days} days of history to fit on; at least {needed} are needed")]
    TooShort {
        /// Days available for fitting.
        days: usize,
        /// Days needed.
        needed: usize,
    },
    /// The same day is listed twice as special.
    #[error("day {day} is listed as special more than once")]
    DuplicateSpecialDay {
        /// The day.
        day: usize,
    },
    /// A tuning value is out of range.
    #[error("invalid forecast setting `{name}`: {why}")]
    BadConfig {
        /// Setting.
        name: &'static str,
        /// What is expected.
        why: &'static str,
    },
}

/// A learned (or unknown) special-day factor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpecialFactor {
    /// Label of the special days.
    pub label: String,
    /// Volume of such a day relative to an ordinary day of the same weekday (1 when not
    /// learned).
    pub factor: f64,
    /// Past occurrences it was learned from.
    pub occurrences: usize,
    /// Whether the history held an occurrence to learn from.
    pub learned: bool,
}

/// The fitted model, for display and explanation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelSummary {
    /// Fitted contacts of an average day at the end of the history (before weekday factors).
    pub level: f64,
    /// Change of that level per week.
    pub trend_per_week: f64,
    /// Day-of-week factors, Monday first, mean 1.
    pub weekday_factors: [f64; 7],
    /// One entry per label of the special days given.
    pub special_factors: Vec<SpecialFactor>,
}

/// Error of a forecast against actuals on one held-out day.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DayError {
    /// Day index from the epoch.
    pub day: usize,
    /// Weekday, 0 = Monday.
    pub weekday: usize,
    /// Special-day label, if any.
    pub label: Option<String>,
    /// Actual contacts that day.
    pub actual: f64,
    /// Forecast contacts that day.
    pub forecast: f64,
    /// Σ|actual − forecast| / Σ actual over the day's intervals (`None` when the day had no
    /// contacts).
    pub wape: Option<f64>,
    /// (forecast − actual) / actual of the day's total (`None` when no contacts).
    pub bias: Option<f64>,
}

/// Scores of a forecast of held-out weeks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Backtest {
    /// Weeks held out.
    pub weeks: usize,
    /// First held-out day.
    pub first_day: usize,
    /// Σ|actual − forecast| / Σ actual over all held-out intervals (`None` without contacts).
    pub wape: Option<f64>,
    /// The same over daily totals: the error left for the intraday profile to add to.
    pub daily_wape: Option<f64>,
    /// Σ(forecast − actual) / Σ actual: positive means over-forecast.
    pub bias: Option<f64>,
    /// Actual contacts over the held-out weeks.
    pub actual_total: f64,
    /// Forecast contacts over the held-out weeks.
    pub forecast_total: f64,
    /// Per held-out day.
    pub days: Vec<DayError>,
}

/// A forecast and how well the same method did on the end of the history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Forecast {
    /// Index of the first forecast interval: the history's length, so the forecast
    /// continues it (its first day is `start_interval / 96`).
    pub start_interval: usize,
    /// Forecast contacts per interval, `horizon_days × 96` of them.
    pub volumes: Vec<f64>,
    /// Forecast contacts per day.
    pub daily_totals: Vec<f64>,
    /// The model fitted on the whole history.
    pub model: ModelSummary,
    /// The backtest (`None` when the history is too short to hold out a week while keeping
    /// two to fit on, or when the configuration asks for none).
    pub backtest: Option<Backtest>,
}

/// Fits on the whole history, forecasts `horizon_days` days after it, and backtests the same
/// method on the last [`ForecastConfig::backtest_weeks`] weeks.
pub fn forecast(
    history: &[f64],
    special_days: &[SpecialDay],
    horizon_days: usize,
    config: &ForecastConfig,
) -> Result<Forecast, ForecastError> {
    check_config(config)?;
    let days = check_history(history)?;
    let special = special_map(special_days)?;
    if horizon_days > MAX_HORIZON_DAYS {
        return Err(ForecastError::BadConfig {
            name: "horizon_days",
            why: "at most 400 days",
        });
    }
    let model = Model::fit(history, days, &special, config);
    let mut volumes = Vec::with_capacity(horizon_days * INTERVALS_PER_DAY);
    let mut daily_totals = Vec::with_capacity(horizon_days);
    for d in days..days + horizon_days {
        let total = model.day_total(d, &special);
        daily_totals.push(total);
        volumes.extend(model.profiles[d % DAYS_PER_WEEK].iter().map(|p| total * p));
    }
    let holdout = config
        .backtest_weeks
        .min((days / DAYS_PER_WEEK).saturating_sub(MIN_HISTORY_DAYS / DAYS_PER_WEEK));
    let backtest = if holdout > 0 {
        Some(backtest(history, special_days, holdout, config)?)
    } else {
        None
    };
    Ok(Forecast {
        start_interval: history.len(),
        volumes,
        daily_totals,
        model: model.summary(&special),
        backtest,
    })
}

/// Fits on the history without its last `holdout_weeks` weeks and scores the forecast of
/// those weeks against what happened.
pub fn backtest(
    history: &[f64],
    special_days: &[SpecialDay],
    holdout_weeks: usize,
    config: &ForecastConfig,
) -> Result<Backtest, ForecastError> {
    check_config(config)?;
    let days = check_history(history)?;
    let special = special_map(special_days)?;
    if holdout_weeks == 0 {
        return Err(ForecastError::BadConfig {
            name: "holdout_weeks",
            why: "must be at least 1",
        });
    }
    let held = holdout_weeks.saturating_mul(DAYS_PER_WEEK);
    let train_days = days.saturating_sub(held);
    if train_days < MIN_HISTORY_DAYS {
        return Err(ForecastError::TooShort {
            days: train_days,
            needed: MIN_HISTORY_DAYS,
        });
    }
    let train = &history[..train_days * INTERVALS_PER_DAY];
    let model = Model::fit(train, train_days, &special, config);
    let (mut abs_err, mut actual_sum, mut forecast_sum, mut daily_abs) = (0.0, 0.0, 0.0, 0.0);
    let mut out = Vec::with_capacity(held);
    for d in train_days..days {
        let total = model.day_total(d, &special);
        let profile = &model.profiles[d % DAYS_PER_WEEK];
        let actual = &history[d * INTERVALS_PER_DAY..(d + 1) * INTERVALS_PER_DAY];
        let day_abs: f64 = actual
            .iter()
            .zip(profile)
            .map(|(a, p)| (a - total * p).abs())
            .sum();
        let day_actual: f64 = actual.iter().sum();
        abs_err += day_abs;
        actual_sum += day_actual;
        forecast_sum += total;
        daily_abs += (day_actual - total).abs();
        out.push(DayError {
            day: d,
            weekday: d % DAYS_PER_WEEK,
            label: special.get(&d).map(|l| l.to_string()),
            actual: day_actual,
            forecast: total,
            wape: ratio(day_abs, day_actual),
            bias: ratio(total - day_actual, day_actual),
        });
    }
    Ok(Backtest {
        weeks: holdout_weeks,
        first_day: train_days,
        wape: ratio(abs_err, actual_sum),
        daily_wape: ratio(daily_abs, actual_sum),
        bias: ratio(forecast_sum - actual_sum, actual_sum),
        actual_total: actual_sum,
        forecast_total: forecast_sum,
        days: out,
    })
}

fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

fn check_config(c: &ForecastConfig) -> Result<(), ForecastError> {
    if c.trend_weeks < 2 {
        return Err(ForecastError::BadConfig {
            name: "trend_weeks",
            why: "must be at least 2",
        });
    }
    if c.profile_weeks == 0 {
        return Err(ForecastError::BadConfig {
            name: "profile_weeks",
            why: "must be at least 1",
        });
    }
    if c.smoothing_passes > INTERVALS_PER_DAY {
        return Err(ForecastError::BadConfig {
            name: "smoothing_passes",
            why: "at most 96",
        });
    }
    Ok(())
}

/// Checks the history and returns its number of days.
fn check_history(history: &[f64]) -> Result<usize, ForecastError> {
    if history.is_empty() {
        return Err(ForecastError::Empty);
    }
    if let Some((interval, &value)) = history
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
    {
        return Err(ForecastError::BadValue { interval, value });
    }
    if !history.len().is_multiple_of(INTERVALS_PER_DAY) {
        return Err(ForecastError::NotWholeDays {
            intervals: history.len(),
        });
    }
    let days = history.len() / INTERVALS_PER_DAY;
    if days < MIN_HISTORY_DAYS {
        return Err(ForecastError::TooShort {
            days,
            needed: MIN_HISTORY_DAYS,
        });
    }
    Ok(days)
}

fn special_map(special_days: &[SpecialDay]) -> Result<BTreeMap<usize, &str>, ForecastError> {
    let mut map = BTreeMap::new();
    for s in special_days {
        if map.insert(s.day, s.label.as_str()).is_some() {
            return Err(ForecastError::DuplicateSpecialDay { day: s.day });
        }
    }
    Ok(map)
}

/// The fitted decomposition.
struct Model {
    /// Daily level at the end of the fitted history.
    level: f64,
    /// Level change per week.
    trend: f64,
    /// Weekday factors, mean 1.
    weekday: [f64; 7],
    /// Intraday shares per weekday, each summing to 1.
    profiles: [[f64; INTERVALS_PER_DAY]; 7],
    /// Label -> (factor, occurrences).
    special: BTreeMap<String, (f64, usize)>,
    /// Days fitted on.
    days: usize,
}

impl Model {
    fn fit(
        history: &[f64],
        days: usize,
        special: &BTreeMap<usize, &str>,
        config: &ForecastConfig,
    ) -> Model {
        let totals: Vec<f64> = history
            .chunks_exact(INTERVALS_PER_DAY)
            .map(|d| d.iter().sum())
            .collect();
        let ordinary = |d: usize| !special.contains_key(&d);
        let first = days.saturating_sub(config.trend_weeks.saturating_mul(DAYS_PER_WEEK));
        let fit_days: Vec<usize> = (first..days).filter(|&d| ordinary(d)).collect();
        let t = |d: usize| (d as f64 - days as f64) / DAYS_PER_WEEK as f64;

        // Weekday factors start from the weekday means.
        let mut weekday = [1.0; 7];
        let (mut sum, mut n) = ([0.0; 7], [0usize; 7]);
        for &d in &fit_days {
            sum[d % 7] += totals[d];
            n[d % 7] += 1;
        }
        let seen: Vec<usize> = (0..7).filter(|&k| n[k] > 0).collect();
        let overall: f64 =
            seen.iter().map(|&k| sum[k] / n[k] as f64).sum::<f64>() / seen.len().max(1) as f64;
        if overall > 0.0 {
            for &k in &seen {
                weekday[k] = sum[k] / n[k] as f64 / overall;
            }
        }
        let (mut level, mut trend) = (overall, 0.0);
        for _ in 0..50 {
            // Level and trend given the weekday factors: weighted 2×2 least squares.
            let (mut s00, mut s01, mut s11, mut r0, mut r1) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for &d in &fit_days {
                let (w, td, y) = (weekday[d % 7], t(d), totals[d]);
                s00 += w * w;
                s01 += w * w * td;
                s11 += w * w * td * td;
                r0 += w * y;
                r1 += w * y * td;
            }
            let det = s00 * s11 - s01 * s01;
            let (new_level, new_trend) = if det > 1e-9 * s00 * s11 && det > 0.0 {
                ((r0 * s11 - r1 * s01) / det, (s00 * r1 - s01 * r0) / det)
            } else if s00 > 0.0 {
                (r0 / s00, 0.0)
            } else {
                (0.0, 0.0)
            };
            // Weekday factors given the level.
            let (mut num, mut den) = ([0.0; 7], [0.0; 7]);
            for &d in &fit_days {
                let l = new_level + new_trend * t(d);
                num[d % 7] += totals[d] * l;
                den[d % 7] += l * l;
            }
            let mut new_weekday = weekday;
            for k in 0..7 {
                if den[k] > 0.0 {
                    new_weekday[k] = num[k] / den[k];
                }
            }
            let mean = seen.iter().map(|&k| new_weekday[k]).sum::<f64>() / seen.len().max(1) as f64;
            let (mut l2, mut t2) = (new_level, new_trend);
            if mean > 0.0 {
                for &k in &seen {
                    new_weekday[k] /= mean;
                }
                l2 *= mean;
                t2 *= mean;
            }
            let change = (l2 - level).abs()
                + (t2 - trend).abs()
                + (0..7)
                    .map(|k| (new_weekday[k] - weekday[k]).abs())
                    .sum::<f64>()
                    * l2.abs();
            level = l2;
            trend = t2;
            weekday = new_weekday;
            if change <= 1e-9 * level.abs().max(1.0) {
                break;
            }
        }

        let profiles = std::array::from_fn(|k| profile(history, days, k, config, &ordinary));

        let mut model = Model {
            level,
            trend,
            weekday,
            profiles,
            special: BTreeMap::new(),
            days,
        };
        // Special-day factors from their past occurrences.
        let mut acc: BTreeMap<String, (f64, f64, usize)> = BTreeMap::new();
        for (&d, &label) in special.range(..days) {
            let neighbours: Vec<f64> = [
                d.checked_sub(14),
                d.checked_sub(7),
                Some(d + 7),
                Some(d + 14),
            ]
            .into_iter()
            .flatten()
            .filter(|&e| e < days && ordinary(e))
            .map(|e| totals[e])
            .collect();
            let expected = if neighbours.is_empty() {
                model.ordinary_total(d)
            } else {
                neighbours.iter().sum::<f64>() / neighbours.len() as f64
            };
            let e = acc.entry(label.to_string()).or_insert((0.0, 0.0, 0));
            e.0 += totals[d];
            e.1 += expected;
            e.2 += 1;
        }
        model.special = acc
            .into_iter()
            .map(|(label, (actual, expected, n))| {
                // With no expected volume there is nothing to scale: treat as ordinary.
                let factor = if expected > 0.0 {
                    actual / expected
                } else {
                    1.0
                };
                (label, (factor, n))
            })
            .collect();
        model
    }

    /// Forecast total of day `d` as an ordinary day of its weekday.
    fn ordinary_total(&self, d: usize) -> f64 {
        let t = (d as f64 - self.days as f64) / DAYS_PER_WEEK as f64;
        (self.level + self.trend * t).max(0.0) * self.weekday[d % DAYS_PER_WEEK]
    }

    /// Forecast total of day `d`, special-day factor included.
    fn day_total(&self, d: usize, special: &BTreeMap<usize, &str>) -> f64 {
        let factor = special
            .get(&d)
            .and_then(|l| self.special.get(*l))
            .map_or(1.0, |&(f, _)| f);
        self.ordinary_total(d) * factor
    }

    fn summary(&self, special: &BTreeMap<usize, &str>) -> ModelSummary {
        let mut labels: Vec<&str> = special.values().copied().collect();
        labels.sort_unstable();
        labels.dedup();
        ModelSummary {
            level: self.level,
            trend_per_week: self.trend,
            weekday_factors: self.weekday,
            special_factors: labels
                .into_iter()
                .map(|label| match self.special.get(label) {
                    Some(&(factor, occurrences)) => SpecialFactor {
                        label: label.to_string(),
                        factor,
                        occurrences,
                        learned: true,
                    },
                    None => SpecialFactor {
                        label: label.to_string(),
                        factor: 1.0,
                        occurrences: 0,
                        learned: false,
                    },
                })
                .collect(),
        }
    }
}

/// Intraday shares of weekday `k`, pooled over its last ordinary occurrences and smoothed.
fn profile(
    history: &[f64],
    days: usize,
    k: usize,
    config: &ForecastConfig,
    ordinary: &dyn Fn(usize) -> bool,
) -> [f64; INTERVALS_PER_DAY] {
    let mut sum = [0.0; INTERVALS_PER_DAY];
    for d in (0..days)
        .rev()
        .filter(|d| d % DAYS_PER_WEEK == k && ordinary(*d))
        .take(config.profile_weeks)
    {
        for (s, v) in sum
            .iter_mut()
            .zip(&history[d * INTERVALS_PER_DAY..(d + 1) * INTERVALS_PER_DAY])
        {
            *s += v;
        }
    }
    for _ in 0..config.smoothing_passes {
        let prev = sum;
        for i in 0..INTERVALS_PER_DAY {
            // The day's edges repeat their own value, so no share leaks across midnight.
            let left = prev[i.saturating_sub(1)];
            let right = prev[(i + 1).min(INTERVALS_PER_DAY - 1)];
            sum[i] = (left + 2.0 * prev[i] + right) / 4.0;
        }
    }
    let total: f64 = sum.iter().sum();
    if total > 0.0 {
        sum.map(|s| s / total)
    } else {
        [1.0 / INTERVALS_PER_DAY as f64; INTERVALS_PER_DAY]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(days: usize, per_interval: f64) -> Vec<f64> {
        vec![per_interval; days * INTERVALS_PER_DAY]
    }

    #[test]
    fn flat_history_forecasts_flat() {
        let f = forecast(&flat(28, 5.0), &[], 7, &ForecastConfig::default()).unwrap();
        assert_eq!(f.start_interval, 28 * INTERVALS_PER_DAY);
        assert_eq!(f.volumes.len(), 7 * INTERVALS_PER_DAY);
        for v in &f.volumes {
            assert!((v - 5.0).abs() < 1e-6, "{v}");
        }
        let b = f.backtest.unwrap();
        assert_eq!(b.weeks, 2);
        assert!(b.wape.unwrap() < 1e-9);
    }

    #[test]
    fn linear_trend_is_extrapolated() {
        // Daily totals grow by 96 a week: one contact per interval more each week.
        let mut h = Vec::new();
        for d in 0..42 {
            let per = 10.0 + d as f64 / 7.0;
            h.extend(std::iter::repeat_n(per, INTERVALS_PER_DAY));
        }
        let f = forecast(&h, &[], 7, &ForecastConfig::default()).unwrap();
        assert!(
            (f.model.trend_per_week - 96.0).abs() < 1e-6,
            "{:?}",
            f.model
        );
        let expected_first = (10.0 + 42.0 / 7.0) * INTERVALS_PER_DAY as f64;
        assert!((f.daily_totals[0] - expected_first).abs() < 1e-6);
    }

    #[test]
    fn zero_history_forecasts_zero() {
        let f = forecast(&flat(14, 0.0), &[], 3, &ForecastConfig::default()).unwrap();
        assert!(f.volumes.iter().all(|v| *v == 0.0));
        assert!(f.backtest.is_none());
    }

    #[test]
    fn unknown_label_is_forecast_as_ordinary() {
        let specials = [SpecialDay {
            day: 30,
            label: "new".into(),
        }];
        let f = forecast(&flat(28, 2.0), &specials, 7, &ForecastConfig::default()).unwrap();
        assert!((f.daily_totals[2] - 192.0).abs() < 1e-6);
        assert!(!f.model.special_factors[0].learned);
    }

    #[test]
    fn bad_config_is_refused() {
        let c = ForecastConfig {
            profile_weeks: 0,
            ..ForecastConfig::default()
        };
        assert!(matches!(
            forecast(&flat(14, 1.0), &[], 7, &c),
            Err(ForecastError::BadConfig {
                name: "profile_weeks",
                ..
            })
        ));
    }
}
