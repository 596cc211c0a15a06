//! Workforce management, sans-IO: numbers in, plans out, no clock, files or sockets.
//!
//! Time is counted in whole minutes from an epoch the caller chooses (the shell uses the
//! centre's local Monday 00:00 of the planned week, or Unix minutes for the live day), and
//! demand in 15-minute intervals from the same epoch.
//!
//! - [`forecast`]: contacts per interval from interval history, with its backtest error.
//! - [`history`]: interval history of a new centre from CSV text.
//! - [`staffing`]: agents required per interval from the forecast, the queue's targets,
//!   shrinkage and wellbeing costs.
//! - [`schedule`]: named agents' shifts and breaks for a week against the requirement.
//! - [`plan`]: forecast, staffing and schedule of a week in one step.
//! - [`simulate`]: a week's schedule run through the simulator and its routing engine.
//! - [`adherence`]: the planned activity against what an agent actually did.

pub mod adherence;
pub mod forecast;
pub mod history;
pub mod matching;
pub mod plan;
pub mod schedule;
pub mod simulate;
pub mod staffing;

use serde::{Deserialize, Serialize};

/// Minutes from the caller's epoch.
pub type Minute = i64;

/// Length of a planning interval.
pub const INTERVAL_MINUTES: i64 = 15;
/// Planning intervals in a day.
pub const INTERVALS_PER_DAY: usize = 96;
/// Planning intervals in a week.
pub const INTERVALS_PER_WEEK: usize = 7 * INTERVALS_PER_DAY;

/// What an agent is planned to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// Taking contacts.
    Work,
    /// A short paid break.
    Break,
    /// The meal break.
    Lunch,
    /// Training, coaching, a meeting: planned, away from the queues.
    Offline,
}

impl Activity {
    /// The name in JSON and in the API (`work`, `break`, `lunch`, `offline`).
    pub fn name(self) -> &'static str {
        match self {
            Activity::Work => "work",
            Activity::Break => "break",
            Activity::Lunch => "lunch",
            Activity::Offline => "offline",
        }
    }

    /// The activity of a [`Activity::name`].
    pub fn from_name(s: &str) -> Option<Activity> {
        [
            Activity::Work,
            Activity::Break,
            Activity::Lunch,
            Activity::Offline,
        ]
        .into_iter()
        .find(|a| a.name() == s)
    }
}

/// One planned stretch of an agent's day: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub start: Minute,
    pub end: Minute,
    pub activity: Activity,
}

impl Segment {
    pub fn minutes(&self) -> i64 {
        self.end - self.start
    }
}
