//! Agents required per interval, from forecast volumes and a queue's targets.
//!
//! For each 15-minute interval of one queue:
//!
//! 1. **Workload per contact** = handle time + wrap-up + `difficult_fraction` ×
//!    `recovery_break_seconds`. The recovery break after a difficult contact is counted as
//!    extra handle time, not as shrinkage: like wrap-up, it follows a contact and keeps that
//!    agent off the queue, so it grows with the interval's contacts. As shrinkage it would
//!    be spread evenly over the day, too little at the peak and too much at night. The
//!    queueing formulas then treat it as part of the service time, which is slightly
//!    pessimistic for waiting (the break never delays the caller being talked to).
//! 2. **Agents on the phones**: the fewest agents meeting the service level (X% answered
//!    within T seconds) by Erlang C ([`hotline_sim::erlang::staff_erlang_c`]); when the
//!    queue has an abandonment target (mean patience and the highest abandon rate allowed),
//!    the fewest meeting both by Erlang A ([`hotline_sim::erlang::staff_erlang_a`]). Then
//!    agents are added while the model's occupancy is above the **occupancy ceiling**
//!    (the same setting as the routing engine's wellbeing rules). That occupancy counts the
//!    recovery breaks as busy time, so the ceiling leaves the idle time it promises on top
//!    of the breaks. Finally the queue's minimum (a 24/7 line keeps someone logged in).
//!    With **concurrency** (an agent holding `c` chats at once), the queueing model counts
//!    places, not agents: `c` places per agent, each held for the whole of a contact, and
//!    the agents are the places needed divided by `c`, rounded up. The service level and
//!    occupancy reported are the places'. A chat's handle time is its elapsed time, so
//!    this is the usual multi-slot approximation: it neither makes a chat shorter for being
//!    one of several nor slower.
//! 3. **Agents scheduled** = ⌈on phones / (1 − shrinkage)⌉, shrinkage being the sum of the
//!    fractions of paid time lost to breaks, training and meetings, absence and other
//!    causes. Summing (rather than compounding) is the usual planning convention: each
//!    fraction is measured against the same paid hours.
//!
//! The output repeats the service level, ASA, occupancy and (Erlang A) abandon rate the
//! model expects with the agents on the phones, and totals the agent-hours.
//!
//! ```
//! use hotline_workforce::staffing::{QueuePlan, ServiceTarget, Shrinkage, Wellbeing};
//!
//! let plan = QueuePlan {
//!     name: "cards".into(),
//!     handle_seconds: 180.0,
//!     wrap_up_seconds: 0.0,
//!     target: ServiceTarget { service_level: 0.8, target_seconds: 20.0, abandon: None },
//!     shrinkage: Shrinkage { breaks: 0.1, training: 0.05, absence: 0.1, other: 0.05 },
//!     wellbeing: Wellbeing { occupancy_ceiling: 0.85, ..Wellbeing::default() },
//!     min_agents: 1,
//!     concurrency: 1,
//! };
//! // 100 contacts in a quarter hour: 20 Erlangs, 24 on the phones for 80/20, 35 scheduled.
//! let s = hotline_workforce::staffing::staff_interval(100.0, &plan).unwrap();
//! assert_eq!((s.on_phones, s.scheduled), (24, 35));
//! ```

use hotline_sim::erlang::{self, ErlangError, ErlangResult};
use serde::{Deserialize, Serialize};

use crate::INTERVAL_MINUTES;

/// The service target of a queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTarget {
    /// Fraction of contacts to answer within `target_seconds`, e.g. 0.8 (below 1).
    pub service_level: f64,
    /// Service-level threshold, seconds (the scenario's `target_seconds`).
    pub target_seconds: f64,
    /// Abandonment target; with it the queue is staffed by Erlang A.
    #[serde(default)]
    pub abandon: Option<AbandonTarget>,
}

/// Callers' patience and the abandonment allowed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbandonTarget {
    /// Mean patience of callers, seconds (exponential, as in Erlang A).
    pub patience_seconds: f64,
    /// Highest fraction of callers allowed to hang up before being answered.
    pub max_abandon: f64,
}

/// Fractions of paid time not spent available for contacts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Shrinkage {
    /// Scheduled short breaks and lunch, if paid.
    pub breaks: f64,
    /// Training, coaching, meetings.
    pub training: f64,
    /// Sickness and unplanned absence.
    pub absence: f64,
    /// Anything else (system downtime, union duties).
    pub other: f64,
}

impl Shrinkage {
    /// Total shrinkage: the sum of the fractions.
    pub fn total(&self) -> f64 {
        self.breaks + self.training + self.absence + self.other
    }
}

/// Wellbeing settings that cost agents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Wellbeing {
    /// Highest planned occupancy, 0..1 (0 = no ceiling).
    pub occupancy_ceiling: f64,
    /// Fraction of contacts that are difficult (agitated or abusive callers).
    pub difficult_fraction: f64,
    /// Recovery break after a difficult contact, seconds (0 = none).
    pub recovery_break_seconds: f64,
}

/// One queue's staffing inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuePlan {
    /// Queue name, copied to the output.
    pub name: String,
    /// Mean handle time (talk and hold) of all contacts, difficult ones included, seconds.
    pub handle_seconds: f64,
    /// Mean wrap-up after a contact, seconds.
    #[serde(default)]
    pub wrap_up_seconds: f64,
    /// Service target.
    pub target: ServiceTarget,
    /// Shrinkage.
    #[serde(default)]
    pub shrinkage: Shrinkage,
    /// Wellbeing costs.
    #[serde(default)]
    pub wellbeing: Wellbeing,
    /// Fewest agents on the phones in any interval, even one without contacts.
    #[serde(default)]
    pub min_agents: u32,
    /// Contacts an agent holds at once (chats: 3 by default in routing; calls and most
    /// e-mail queues: 1). 0 is taken as 1.
    #[serde(default = "one")]
    pub concurrency: u32,
}

fn one() -> u32 {
    1
}

impl QueuePlan {
    /// Seconds of agent time per contact: handle + wrap-up + the expected recovery break.
    pub fn workload_seconds(&self) -> f64 {
        self.handle_seconds
            + self.wrap_up_seconds
            + self.wellbeing.difficult_fraction * self.wellbeing.recovery_break_seconds
    }
}

/// Why a staffing computation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StaffingError {
    /// A queue setting is out of range.
    #[error("invalid `{name}` = {value}: {why}")]
    Invalid {
        /// Setting.
        name: &'static str,
        /// Value given.
        value: f64,
        /// What is expected.
        why: &'static str,
    },
    /// A forecast volume is not a finite non-negative number.
    #[error("interval {interval}: volume {value} is not a finite non-negative number")]
    Volume {
        /// Index of the interval.
        interval: usize,
        /// The value.
        value: f64,
    },
    /// The Erlang computation refused the interval.
    #[error("interval {interval}: {source}")]
    Erlang {
        /// Index of the interval.
        interval: usize,
        /// Cause.
        source: ErlangError,
    },
}

/// What set the number of agents on the phones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    /// No contacts and no minimum: nobody needed.
    NoContacts,
    /// The service level (and abandonment, under Erlang A).
    Target,
    /// The occupancy ceiling asked for more.
    OccupancyCeiling,
    /// The queue's minimum asked for more.
    Minimum,
}

/// The requirement of one interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntervalStaffing {
    /// Index of the interval in the volumes given.
    pub interval: usize,
    /// Forecast contacts in the interval.
    pub volume: f64,
    /// Agents needed on the phones.
    pub on_phones: u32,
    /// Agents to schedule so that, after shrinkage, `on_phones` are available.
    pub scheduled: u32,
    /// What set `on_phones`.
    pub binding: Binding,
    /// Fraction answered within the target the model expects with `on_phones` agents.
    pub service_level: f64,
    /// Expected mean wait of answered contacts, seconds (`None` if the queue is unstable).
    pub asa: Option<f64>,
    /// Expected occupancy of the agents on the phones (recovery breaks count as busy).
    pub occupancy: f64,
    /// Expected abandon rate (Erlang A only).
    pub abandon_rate: Option<f64>,
}

/// The requirement of a run of intervals of one queue.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StaffingPlan {
    /// Queue name.
    pub queue: String,
    /// `erlang_c` or `erlang_a`.
    pub model: &'static str,
    /// Agent seconds per contact used (handle + wrap-up + expected recovery break).
    pub workload_seconds: f64,
    /// Total shrinkage used.
    pub shrinkage: f64,
    /// Per interval.
    pub intervals: Vec<IntervalStaffing>,
    /// Agent-hours on the phones over all intervals.
    pub on_phones_hours: f64,
    /// Agent-hours to schedule over all intervals.
    pub scheduled_hours: f64,
}

/// Agents required in each interval of `volumes` (contacts per 15-minute interval).
pub fn staff_intervals(volumes: &[f64], plan: &QueuePlan) -> Result<StaffingPlan, StaffingError> {
    check_plan(plan)?;
    let mut intervals = Vec::with_capacity(volumes.len());
    for (i, &v) in volumes.iter().enumerate() {
        intervals.push(interval(i, v, plan)?);
    }
    let hours = INTERVAL_MINUTES as f64 / 60.0;
    Ok(StaffingPlan {
        queue: plan.name.clone(),
        model: if plan.target.abandon.is_some() {
            "erlang_a"
        } else {
            "erlang_c"
        },
        workload_seconds: plan.workload_seconds(),
        shrinkage: plan.shrinkage.total(),
        on_phones_hours: intervals
            .iter()
            .map(|s| f64::from(s.on_phones) * hours)
            .sum(),
        scheduled_hours: intervals
            .iter()
            .map(|s| f64::from(s.scheduled) * hours)
            .sum(),
        intervals,
    })
}

/// Agents required for one interval with `volume` contacts.
pub fn staff_interval(volume: f64, plan: &QueuePlan) -> Result<IntervalStaffing, StaffingError> {
    check_plan(plan)?;
    interval(0, volume, plan)
}

fn interval(
    index: usize,
    volume: f64,
    plan: &QueuePlan,
) -> Result<IntervalStaffing, StaffingError> {
    if !(volume.is_finite() && volume >= 0.0) {
        return Err(StaffingError::Volume {
            interval: index,
            value: volume,
        });
    }
    let erl = |source| StaffingError::Erlang {
        interval: index,
        source,
    };
    let schedule = |on_phones: u32| scheduled(on_phones, plan.shrinkage.total());
    if volume == 0.0 {
        let on_phones = plan.min_agents;
        return Ok(IntervalStaffing {
            interval: index,
            volume,
            on_phones,
            scheduled: schedule(on_phones)?,
            binding: if on_phones > 0 {
                Binding::Minimum
            } else {
                Binding::NoContacts
            },
            service_level: 1.0,
            asa: Some(0.0),
            occupancy: 0.0,
            abandon_rate: plan.target.abandon.map(|_| 0.0),
        });
    }
    // 60 / 15 = 4 exactly, so the rate is the volume times 4 with no rounding.
    let rate = volume * (60.0 / INTERVAL_MINUTES as f64);
    let aht = plan.workload_seconds();
    let t = &plan.target;
    let metrics = |n: u32| -> Result<ErlangResult, ErlangError> {
        match t.abandon {
            Some(a) => erlang::erlang_a_metrics(rate, aht, n, t.target_seconds, a.patience_seconds),
            None => erlang::erlang_c_metrics(rate, aht, n, t.target_seconds),
        }
    };
    let by_target = match t.abandon {
        Some(a) => erlang::staff_erlang_a(
            rate,
            aht,
            t.target_seconds,
            a.patience_seconds,
            t.service_level,
            a.max_abandon,
        ),
        None => erlang::staff_erlang_c(rate, aht, t.target_seconds, t.service_level),
    }
    .map_err(erl)?;
    let mut n = by_target;
    let mut binding = Binding::Target;
    let mut result = metrics(n).map_err(erl)?;
    let ceiling = plan.wellbeing.occupancy_ceiling;
    if ceiling > 0.0 && result.occupancy > ceiling {
        // Occupancy falls as agents are added and is at most load / agents, so `hi` meets
        // the ceiling; search the fewest that do.
        let load = rate * aht / 3600.0;
        let max = erlang::MAX_AGENTS;
        // The float-to-int cast saturates; the bound keeps `hi` within what Erlang accepts.
        let mut hi = ((load / ceiling).ceil().min(f64::from(max)) as u32)
            .max(n + 1)
            .min(max);
        while hi < max && load / f64::from(hi) > ceiling {
            hi += 1;
        }
        let mut hi_result = metrics(hi).map_err(erl)?;
        if hi_result.occupancy > ceiling {
            return Err(erl(ErlangError::TooLarge(
                "more than 1,000,000 agents needed for the occupancy ceiling",
            )));
        }
        let mut lo = n;
        if t.abandon.is_none() {
            // Erlang C occupancy is exactly load / agents: `hi` is the answer once float
            // rounding in the ceiling's division is undone; no search needed.
            while hi - 1 > n && load / f64::from(hi - 1) <= ceiling {
                hi -= 1;
            }
            lo = hi - 1;
            hi_result = metrics(hi).map_err(erl)?;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let r = metrics(mid).map_err(erl)?;
            if r.occupancy <= ceiling {
                hi = mid;
                hi_result = r;
            } else {
                lo = mid;
            }
        }
        n = hi;
        result = hi_result;
        binding = Binding::OccupancyCeiling;
    }
    // `n` counts places; an agent brings `c` of them.
    let c = plan.concurrency.max(1);
    let mut agents = n.div_ceil(c);
    if agents < plan.min_agents {
        agents = plan.min_agents;
        binding = Binding::Minimum;
    }
    let places = agents.saturating_mul(c).min(erlang::MAX_AGENTS);
    if places != n {
        result = metrics(places).map_err(erl)?;
    }
    let n = agents;
    Ok(IntervalStaffing {
        interval: index,
        volume,
        on_phones: n,
        scheduled: schedule(n)?,
        binding,
        service_level: result.service_level,
        asa: result.asa,
        occupancy: result.occupancy,
        abandon_rate: result.abandon_rate,
    })
}

fn scheduled(on_phones: u32, shrinkage: f64) -> Result<u32, StaffingError> {
    // A hair below the integer so 10 / (1 − 0.5) is 20, not 21 from rounding noise.
    let x = (f64::from(on_phones) / (1.0 - shrinkage) - 1e-9)
        .ceil()
        .max(0.0);
    if x > f64::from(u32::MAX) {
        return Err(StaffingError::Invalid {
            name: "shrinkage",
            value: shrinkage,
            why: "leaves too few available agents to count",
        });
    }
    Ok((x as u32).max(on_phones))
}

fn check_plan(plan: &QueuePlan) -> Result<(), StaffingError> {
    let invalid = |name, value, why| Err(StaffingError::Invalid { name, value, why });
    let fraction = |name, value: f64| {
        if (0.0..1.0).contains(&value) {
            Ok(())
        } else {
            invalid(name, value, "must be a fraction at least 0 and below 1")
        }
    };
    let non_neg = |name, value: f64| {
        if value.is_finite() && value >= 0.0 {
            Ok(())
        } else {
            invalid(name, value, "must be a finite non-negative number")
        }
    };
    if !(plan.handle_seconds.is_finite() && plan.handle_seconds > 0.0) {
        return invalid(
            "handle_seconds",
            plan.handle_seconds,
            "must be a positive number",
        );
    }
    non_neg("wrap_up_seconds", plan.wrap_up_seconds)?;
    fraction("service_level", plan.target.service_level)?;
    non_neg("target_seconds", plan.target.target_seconds)?;
    if let Some(a) = plan.target.abandon {
        if !(a.patience_seconds.is_finite() && a.patience_seconds > 0.0) {
            return invalid(
                "patience_seconds",
                a.patience_seconds,
                "must be a positive number",
            );
        }
        if !(0.0..=1.0).contains(&a.max_abandon) {
            return invalid("max_abandon", a.max_abandon, "must be a fraction");
        }
    }
    let s = &plan.shrinkage;
    fraction("shrinkage.breaks", s.breaks)?;
    fraction("shrinkage.training", s.training)?;
    fraction("shrinkage.absence", s.absence)?;
    fraction("shrinkage.other", s.other)?;
    fraction("shrinkage (total)", s.total())?;
    let w = &plan.wellbeing;
    if !(0.0..=1.0).contains(&w.occupancy_ceiling) {
        return invalid(
            "occupancy_ceiling",
            w.occupancy_ceiling,
            "must be a fraction (0 = no ceiling)",
        );
    }
    if !(0.0..=1.0).contains(&w.difficult_fraction) {
        return invalid(
            "difficult_fraction",
            w.difficult_fraction,
            "must be a fraction",
        );
    }
    non_neg("recovery_break_seconds", w.recovery_break_seconds)?;
    Ok(())
}
