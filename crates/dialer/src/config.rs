//! The campaign: its mode, rules, retries and contacts.

use serde::{Deserialize, Serialize};

use crate::zones::CallingHours;

/// How the campaign dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A contact is offered to a free agent, who decides to dial or skip it.
    Preview,
    /// One dial per free agent: never more calls in flight than free agents.
    Progressive,
    /// Dials ahead of free agents from measured answer rates, ring times and handle times,
    /// keeping the abandon rate under the limit; progressive below `predictive_min_agents`.
    Predictive,
    /// No agents: dials at `agentless_concurrency` and runs a flow on each answered call.
    Agentless,
}

/// What to do when the far end is an answering machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MachineAction {
    /// Hang up and retry by `retries.machine`.
    #[default]
    HangUp,
    /// Leave the campaign's message; the contact is done.
    LeaveMessage,
    /// Connect to an agent as if a person had answered (hang up if no agent is free).
    PassToAgent,
}

/// How often and how far apart to try again after one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Attempts ending in this outcome after which the contact is given up.
    pub max_attempts: u32,
    /// Seconds to wait before the next attempt.
    pub spacing_seconds: u64,
}

/// Retries per outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retries {
    /// Rang out without an answer. Default 3 attempts, 2 hours apart.
    pub no_answer: Retry,
    /// Busy. Default 3 attempts, 30 minutes apart.
    pub busy: Retry,
    /// Answering machine (with `machine_action = "hang_up"`). Default 2 attempts, 4 hours apart.
    pub machine: Retry,
    /// The network could not place the call. Default 2 attempts, 1 hour apart.
    pub failed: Retry,
    /// A person answered and no agent was free (the call was abandoned with the message).
    /// Default 2 attempts, 72 hours apart.
    pub abandoned: Retry,
}

impl Default for Retries {
    fn default() -> Self {
        Retries {
            no_answer: Retry {
                max_attempts: 3,
                spacing_seconds: 2 * 3600,
            },
            busy: Retry {
                max_attempts: 3,
                spacing_seconds: 1800,
            },
            machine: Retry {
                max_attempts: 2,
                spacing_seconds: 4 * 3600,
            },
            failed: Retry {
                max_attempts: 2,
                spacing_seconds: 3600,
            },
            abandoned: Retry {
                max_attempts: 2,
                spacing_seconds: 72 * 3600,
            },
        }
    }
}

/// The rules that keep the campaign legal and polite. Defaults follow the strictest of the
/// UK (Ofcom) and US (FTC Telemarketing Sales Rule) regimes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Highest abandoned-call rate allowed, both over any 24 hours (Ofcom) and over each
    /// 30-day period of the campaign (TSR). Default 0.03. At most 0.03.
    pub max_abandon_rate: f64,
    /// The predictive controller aims at `max_abandon_rate * (1 - safety_margin)`.
    /// Default 0.4 (aim at 1.8% for a 3% limit).
    pub safety_margin: f64,
    /// Seconds the far end rings before the dialer gives up. Default 20; at least 15.
    pub ring_seconds: f64,
    /// Hours a number that had an abandoned call is not dialled again by a predictive
    /// campaign. Default 72; at least 72.
    pub abandoned_redial_block_hours: f64,
    /// Attempts per contact per day (the called person's local day). Default 3.
    pub max_attempts_per_day: u32,
    /// Share of calls answering-machine detection marks "machine" that were in fact a person
    /// (Ofcom counts them as abandoned; the figure comes from the AMD's measured accuracy).
    /// Default 0.
    pub amd_false_positive_rate: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            max_abandon_rate: 0.03,
            safety_margin: 0.4,
            ring_seconds: 20.0,
            abandoned_redial_block_hours: 72.0,
            max_attempts_per_day: 3,
            amd_false_positive_rate: 0.0,
        }
    }
}

fn default_min_agents() -> u32 {
    10
}
fn default_concurrency() -> u32 {
    10
}
fn default_zone() -> String {
    "UTC".into()
}

/// A campaign's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignConfig {
    /// Name.
    pub name: String,
    /// Dialling mode.
    pub mode: Mode,
    /// The number shown to the called person: one that can be called back (E.164, required).
    pub caller_id: String,
    /// The centre's IANA time zone: the calling hours of a number whose country is unknown
    /// and whose record gives no zone. Default `UTC`.
    #[serde(default = "default_zone")]
    pub centre_time_zone: String,
    /// Calling hours in the called person's local time.
    #[serde(default)]
    pub calling_hours: CallingHours,
    /// Retries per outcome.
    #[serde(default)]
    pub retries: Retries,
    /// The rules.
    #[serde(default)]
    pub rules: Rules,
    /// Priority of the campaign's answered calls against inbound work (given to the routing
    /// engine with each connected call).
    #[serde(default)]
    pub priority: i32,
    /// Predictive dialling needs at least this many agents logged in; below, the campaign
    /// paces progressively. Default 10.
    #[serde(default = "default_min_agents")]
    pub predictive_min_agents: u32,
    /// Agentless: calls in flight and flows running at once. Default 10.
    #[serde(default = "default_concurrency")]
    pub agentless_concurrency: u32,
    /// What to do with an answering machine.
    #[serde(default)]
    pub machine_action: MachineAction,
}

impl CampaignConfig {
    /// A campaign with the default rules.
    pub fn new(name: &str, mode: Mode, caller_id: &str) -> Self {
        CampaignConfig {
            name: name.into(),
            mode,
            caller_id: caller_id.into(),
            centre_time_zone: default_zone(),
            calling_hours: CallingHours::default(),
            retries: Retries::default(),
            rules: Rules::default(),
            priority: 0,
            predictive_min_agents: default_min_agents(),
            agentless_concurrency: default_concurrency(),
            machine_action: MachineAction::default(),
        }
    }

    /// Checks every field; the message names the field at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("`name` must not be empty".into());
        }
        check_phone(&self.caller_id).map_err(|e| format!("`caller_id`: {e}"))?;
        if self.centre_time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(format!(
                "`centre_time_zone`: `{}` is not an IANA time zone",
                self.centre_time_zone
            ));
        }
        let r = &self.rules;
        if !(r.max_abandon_rate > 0.0 && r.max_abandon_rate <= 0.03) {
            return Err(format!(
                "`rules.max_abandon_rate`: {} is outside (0, 0.03]",
                r.max_abandon_rate
            ));
        }
        if !(0.0..1.0).contains(&r.safety_margin) {
            return Err(format!(
                "`rules.safety_margin`: {} is outside [0, 1)",
                r.safety_margin
            ));
        }
        if !(r.ring_seconds >= 15.0 && r.ring_seconds <= 120.0) {
            return Err(format!(
                "`rules.ring_seconds`: {} is outside 15..=120 (calls ring at least 15 s)",
                r.ring_seconds
            ));
        }
        if !(r.abandoned_redial_block_hours >= 72.0 && r.abandoned_redial_block_hours <= 8760.0) {
            return Err(format!(
                "`rules.abandoned_redial_block_hours`: {} is outside 72..=8760",
                r.abandoned_redial_block_hours
            ));
        }
        if r.max_attempts_per_day == 0 {
            return Err("`rules.max_attempts_per_day` must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&r.amd_false_positive_rate) {
            return Err("`rules.amd_false_positive_rate` must be within 0..=1".into());
        }
        if self.mode == Mode::Agentless && self.agentless_concurrency == 0 {
            return Err("`agentless_concurrency` must be at least 1".into());
        }
        Ok(())
    }
}

/// A person to call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The shell's id (e.g. the customer record's), unique within the campaign.
    pub id: u64,
    /// E.164 number: `+` and 8 to 15 digits.
    pub phone: String,
    /// IANA time zone from the customer record, if known.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// Checks an E.164 number: `+`, then 8 to 15 digits, the first not 0.
pub fn check_phone(phone: &str) -> Result<(), String> {
    let digits = phone
        .strip_prefix('+')
        .ok_or_else(|| format!("`{phone}` must start with + (E.164)"))?;
    if !(8..=15).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return Err(format!(
            "`{phone}` is not an E.164 number (+ and 8 to 15 digits, no leading 0)"
        ));
    }
    Ok(())
}

/// Checks an IANA time zone name (`Europe/London`).
pub fn check_time_zone(zone: &str) -> Result<(), String> {
    zone.parse::<chrono_tz::Tz>()
        .map(|_| ())
        .map_err(|_| format!("`{zone}` is not an IANA time zone"))
}
