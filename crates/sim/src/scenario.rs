//! The scenario file: TOML, every key checked.

use std::collections::BTreeMap;
use std::path::Path;

use hotline_acd::{Channel, MaxWait, OverflowStep, Strategy, WellbeingRules};
use serde::{Deserialize, Serialize};

use crate::Error;

/// A probability distribution of durations, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawDist", into = "RawDist")]
pub enum Dist {
    /// Exponential with this mean.
    Exponential {
        /// Mean, seconds.
        mean: f64,
    },
    /// Log-normal with this mean and standard deviation.
    LogNormal {
        /// Mean, seconds.
        mean: f64,
        /// Standard deviation, seconds.
        sd: f64,
    },
    /// Always this value.
    Fixed {
        /// Value, seconds.
        value: f64,
    },
}

impl Dist {
    /// Mean of the distribution, seconds.
    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Exponential { mean } | Dist::LogNormal { mean, .. } => mean,
            Dist::Fixed { value } => value,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDist {
    dist: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
}

impl TryFrom<RawDist> for Dist {
    type Error = String;
    fn try_from(r: RawDist) -> Result<Self, String> {
        let pos = |name: &str, v: Option<f64>| -> Result<f64, String> {
            match v {
                Some(x) if x.is_finite() && x > 0.0 => Ok(x),
                Some(x) => Err(format!("`{name}` must be a positive number, got {x}")),
                None => Err(format!("`{name}` is missing for dist = \"{}\"", r.dist)),
            }
        };
        let only = |allowed: &[&str]| -> Result<(), String> {
            for (name, v) in [("mean", r.mean), ("sd", r.sd), ("value", r.value)] {
                if v.is_some() && !allowed.contains(&name) {
                    return Err(format!("`{name}` does not apply to dist = \"{}\"", r.dist));
                }
            }
            Ok(())
        };
        match r.dist.as_str() {
            "exponential" => {
                only(&["mean"])?;
                Ok(Dist::Exponential {
                    mean: pos("mean", r.mean)?,
                })
            }
            "lognormal" | "log_normal" => {
                only(&["mean", "sd"])?;
                Ok(Dist::LogNormal {
                    mean: pos("mean", r.mean)?,
                    sd: pos("sd", r.sd)?,
                })
            }
            "fixed" => {
                only(&["value", "mean"])?;
                Ok(Dist::Fixed {
                    value: pos("value", r.value.or(r.mean))?,
                })
            }
            other => Err(format!(
                "unknown dist `{other}`, expected `exponential`, `lognormal` or `fixed`"
            )),
        }
    }
}

impl From<Dist> for RawDist {
    fn from(d: Dist) -> Self {
        match d {
            Dist::Exponential { mean } => RawDist {
                dist: "exponential".into(),
                mean: Some(mean),
                sd: None,
                value: None,
            },
            Dist::LogNormal { mean, sd } => RawDist {
                dist: "lognormal".into(),
                mean: Some(mean),
                sd: Some(sd),
                value: None,
            },
            Dist::Fixed { value } => RawDist {
                dist: "fixed".into(),
                mean: None,
                sd: None,
                value: Some(value),
            },
        }
    }
}

/// A non-negative finite number.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize, Default)]
#[serde(try_from = "f64", into = "f64")]
pub struct NonNeg(pub f64);

impl TryFrom<f64> for NonNeg {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if v.is_finite() && v >= 0.0 {
            Ok(NonNeg(v))
        } else {
            Err(format!("expected a non-negative number, got {v}"))
        }
    }
}

impl From<NonNeg> for f64 {
    fn from(v: NonNeg) -> f64 {
        v.0
    }
}

/// A fraction in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize, Default)]
#[serde(try_from = "f64", into = "f64")]
pub struct Fraction(pub f64);

impl TryFrom<f64> for Fraction {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&v) {
            Ok(Fraction(v))
        } else {
            Err(format!("expected a fraction between 0 and 1, got {v}"))
        }
    }
}

impl From<Fraction> for f64 {
    fn from(v: Fraction) -> f64 {
        v.0
    }
}

fn default_target() -> NonNeg {
    NonNeg(20.0)
}
fn default_one() -> Fraction {
    Fraction(1.0)
}
fn default_factor() -> NonNeg {
    NonNeg(1.0)
}
fn default_count() -> u32 {
    1
}

/// One queue of the scenario and the traffic offered to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// Unique name.
    pub name: String,
    /// Required skill -> minimum level.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Service-level threshold, seconds.
    #[serde(default = "default_target")]
    pub target_seconds: NonNeg,
    /// Mean Poisson arrivals per hour (times the current step's `curve` factor, if any).
    pub arrivals_per_hour: NonNeg,
    /// Intraday curve: a factor per step of `curve_minutes`, repeating (empty = flat). With
    /// the default 60-minute steps, 24 factors are a day; with 15-minute steps, 672 factors
    /// are a week of planning intervals.
    #[serde(default)]
    pub curve: Vec<NonNeg>,
    /// Length of one step of `curve`, minutes (1 to 1440; default 60).
    #[serde(default = "default_curve_minutes")]
    pub curve_minutes: u32,
    /// Handle time (talk), seconds.
    pub handle_time: Dist,
    /// Patience, seconds; absent = callers never hang up.
    #[serde(default)]
    pub patience: Option<Dist>,
    /// Channel.
    #[serde(default)]
    pub channel: Channel,
    /// Queue priority.
    #[serde(default)]
    pub priority: i32,
    /// Agent selection strategy.
    #[serde(default)]
    pub strategy: Strategy,
    /// Maximum wait and its action.
    #[serde(default)]
    pub max_wait: Option<MaxWait>,
    /// Timed overflow steps.
    #[serde(default)]
    pub overflow: Vec<OverflowStep>,
    /// Wrap-up after each contact, seconds.
    #[serde(default)]
    pub wrap_up_seconds: NonNeg,
    /// Fraction of contacts that are difficult (agitated or abusive callers).
    #[serde(default)]
    pub difficult_fraction: Fraction,
    /// Fraction of difficult contacts recognised before routing (by the IVR or history).
    #[serde(default = "default_one")]
    pub difficult_known_fraction: Fraction,
    /// Difficult contacts last this many times longer.
    #[serde(default = "default_factor")]
    pub difficult_handle_factor: NonNeg,
    /// Fraction of callers who are VIPs.
    #[serde(default)]
    pub vip_fraction: Fraction,
}

/// A daily shift, in hours of the day (the end may be past midnight: `start = 22, end = 6`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    /// Start hour (0..24, fractions allowed).
    pub start: NonNeg,
    /// End hour (0..24).
    pub end: NonNeg,
}

fn default_curve_minutes() -> u32 {
    60
}

/// A stretch of the run an agent is on duty, in hours from the run's start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Start, hours from the run's start.
    pub start: NonNeg,
    /// End, hours from the run's start (after `start`).
    pub end: NonNeg,
}

/// A group of identical agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// How many.
    #[serde(default = "default_count")]
    pub count: u32,
    /// Name, or name prefix when `count > 1`.
    #[serde(default)]
    pub name: Option<String>,
    /// Skills and levels.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Daily shift; absent = logged in the whole run.
    #[serde(default)]
    pub shift: Option<Shift>,
    /// A plan instead of a daily shift: the stretches on duty (a schedule's work segments,
    /// with breaks and days off between them), in order. An agent still on a contact at a
    /// stretch's end finishes it first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_duty: Vec<Window>,
}

/// A simulation scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// RNG seed.
    pub seed: u64,
    /// Simulated hours.
    pub duration_hours: NonNeg,
    /// Hours at the start not counted in the queue figures.
    #[serde(default)]
    pub warmup_hours: NonNeg,
    /// Queues.
    #[serde(rename = "queue", default)]
    pub queues: Vec<QueueSpec>,
    /// Agents.
    #[serde(default)]
    pub agents: Vec<AgentSpec>,
    /// Wellbeing rules; absent = all off.
    #[serde(default)]
    pub wellbeing: Option<WellbeingRules>,
    /// An outbound campaign instead of inbound queues.
    #[serde(default)]
    pub outbound: Option<crate::outbound::OutboundSpec>,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
    (line, col)
}

/// Parses a scenario. `path` only names the file in errors.
pub fn parse_scenario(text: &str, path: &Path) -> Result<Scenario, Error> {
    let scenario: Scenario = toml::from_str(text).map_err(|e| {
        let message = e.message().to_string();
        let (line, column, line_text) = match e.span() {
            Some(span) => {
                let (l, c) = line_col(text, span.start);
                (l, c, text.lines().nth(l - 1).unwrap_or("").to_string())
            }
            None => (0, 0, String::new()),
        };
        // Name the key: the unknown field in the message, else the key on that line.
        let key = message
            .split('`')
            .nth(1)
            .filter(|_| {
                message.starts_with("unknown field") || message.starts_with("missing field")
            })
            .map(str::to_string)
            .or_else(|| {
                line_text
                    .split_once('=')
                    .map(|(k, _)| k.trim().trim_matches('"').to_string())
                    .filter(|k| !k.is_empty())
            })
            .or_else(|| {
                let t = line_text.trim();
                t.strip_prefix('[')
                    .map(|s| s.trim_matches(|c| c == '[' || c == ']').to_string())
            });
        Error::Parse {
            path: path.display().to_string(),
            line,
            column,
            key,
            message,
        }
    })?;
    let invalid = |message: String| Error::Invalid {
        path: path.display().to_string(),
        message,
    };
    if let Some(spec) = &scenario.outbound {
        if !scenario.queues.is_empty() || !scenario.agents.is_empty() {
            return Err(invalid(
                "key `outbound`: an outbound scenario has its agents in `outbound.agents` and no [[queue]] or [[agents]] (blended inbound and outbound is not simulated)".into(),
            ));
        }
        crate::outbound::validate(spec).map_err(invalid)?;
    } else if scenario.queues.is_empty() {
        return Err(invalid(
            "key `queue`: at least one [[queue]] is needed".into(),
        ));
    }
    if scenario.duration_hours.0 <= 0.0 {
        return Err(invalid("key `duration_hours`: must be positive".into()));
    }
    if scenario.warmup_hours.0 >= scenario.duration_hours.0 {
        return Err(invalid(
            "key `warmup_hours`: must be shorter than `duration_hours`".into(),
        ));
    }
    if scenario.duration_hours.0 > 100_000.0 {
        return Err(invalid(
            "key `duration_hours`: at most 100,000 hours".into(),
        ));
    }
    let agents: u64 = scenario.agents.iter().map(|a| u64::from(a.count)).sum();
    if agents > 1_000_000 {
        return Err(invalid(
            "key `count`: at most 1,000,000 agents in all".into(),
        ));
    }
    let expected: f64 = scenario
        .queues
        .iter()
        .map(|q| {
            let peak = q
                .curve
                .iter()
                .map(|c| c.0)
                .fold(if q.curve.is_empty() { 1.0 } else { 0.0 }, f64::max);
            q.arrivals_per_hour.0 * peak * scenario.duration_hours.0
        })
        .sum();
    if expected > 500_000_000.0 {
        return Err(invalid(format!(
            "key `arrivals_per_hour`: about {expected:.0} contacts; at most 500 million per run"
        )));
    }
    for q in &scenario.queues {
        if !(1..=1440).contains(&q.curve_minutes) {
            return Err(invalid(format!(
                "queue `{}` key `curve_minutes`: must be 1 to 1440",
                q.name
            )));
        }
        if q.curve.len() as u64 * u64::from(q.curve_minutes) > 7 * 24 * 60 {
            return Err(invalid(format!(
                "queue `{}` key `curve`: at most a week of steps",
                q.name
            )));
        }
    }
    for a in &scenario.agents {
        if let Some(s) = a.shift
            && (s.start.0 >= 24.0 || s.end.0 > 24.0)
        {
            return Err(invalid("key `shift`: hours must be within 0..24".into()));
        }
        if a.shift.is_some() && !a.on_duty.is_empty() {
            return Err(invalid(
                "key `on_duty`: an agent has either a daily `shift` or `on_duty` stretches".into(),
            ));
        }
        let mut last_end = 0.0;
        for w in &a.on_duty {
            if w.end.0 <= w.start.0 || w.start.0 < last_end {
                return Err(invalid(format!(
                    "key `on_duty`: stretches must be in order, not overlapping, each ending after it starts (at {}..{})",
                    w.start.0, w.end.0
                )));
            }
            last_end = w.end.0;
        }
    }
    Ok(scenario)
}
