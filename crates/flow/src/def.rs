//! The data model: flows as TOML.
//!
//! A [`FlowSet`] holds named flows, named schedules (business hours and holidays) and an
//! optional fault notice. A [`FlowDef`] is a map of steps keyed by their id, with a `start`
//! step. Every step has a `type` and its own fields; `next` and the other targets name steps
//! of the same flow. Unknown keys are rejected everywhere.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

use crate::validate::{LoadError, ValidationError};

/// Several named flows (e.g. `main`, `survey`) and what they share.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSet {
    /// Played to every caller at entry, before the flow starts, while an administrator has
    /// switched it on (see [`crate::CallContext::fault_notice`]).
    #[serde(default)]
    pub fault_notice: Option<FaultNotice>,
    /// Business hours and holidays by name, used by `branch` rules.
    #[serde(default)]
    pub schedules: BTreeMap<String, Schedule>,
    /// The flows by name.
    pub flows: BTreeMap<String, FlowDef>,
}

impl FlowSet {
    /// Parses TOML (syntax and types only; see [`FlowSet::validate`]).
    pub fn from_toml_unchecked(text: &str) -> Result<FlowSet, toml::de::Error> {
        toml::from_str(text)
    }

    /// Parses TOML and validates the result; every error carries the line and column of
    /// the key it is about.
    pub fn from_toml(text: &str) -> Result<FlowSet, LoadError> {
        let set: FlowSet = toml::from_str(text).map_err(|e| LoadError::parse(text, &e))?;
        set.validate().map_err(|mut errors| {
            for e in &mut errors {
                e.locate(text);
            }
            LoadError::Invalid(errors)
        })?;
        Ok(set)
    }

    /// Every problem found, each with the dotted key path and why.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        crate::validate::validate(self)
    }

    /// A flow by name.
    pub fn flow(&self, name: &str) -> Option<&FlowDef> {
        self.flows.get(name)
    }
}

/// The announcement played at entry while a fault notice is switched on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultNotice {
    /// What to play; `["fault_notice"]` by default.
    #[serde(default = "default_fault_prompts")]
    pub prompts: Vec<PromptDef>,
    /// Hang up after the notice instead of continuing into the flow.
    #[serde(default)]
    pub hangup: bool,
}

fn default_fault_prompts() -> Vec<PromptDef> {
    vec![PromptDef::Name("fault_notice".into())]
}

/// Opening hours in a time zone, with holidays.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// IANA time zone, e.g. `Asia/Shanghai`.
    pub timezone: String,
    /// Open periods; several a day are allowed.
    #[serde(default)]
    pub open: Vec<Period>,
    /// Local dates on which the schedule is closed all day.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

/// One open period: on `days`, from `from` (inclusive) to `to` (exclusive), local time.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// Week days; every day when empty or absent.
    #[serde(default)]
    pub days: Vec<Day>,
    /// Opening time, `HH:MM`.
    pub from: ClockTime,
    /// Closing time, `HH:MM` (`24:00` for midnight at the end of the day).
    pub to: ClockTime,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    /// The matching chrono week day.
    pub fn weekday(self) -> chrono::Weekday {
        match self {
            Day::Mon => chrono::Weekday::Mon,
            Day::Tue => chrono::Weekday::Tue,
            Day::Wed => chrono::Weekday::Wed,
            Day::Thu => chrono::Weekday::Thu,
            Day::Fri => chrono::Weekday::Fri,
            Day::Sat => chrono::Weekday::Sat,
            Day::Sun => chrono::Weekday::Sun,
        }
    }
}

/// A local time of day in minutes since midnight (0..=1440), written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(pub u16);

impl ClockTime {
    /// Parses `HH:MM` (00:00 to 24:00).
    pub fn parse(s: &str) -> Option<ClockTime> {
        let (h, m) = s.split_once(':')?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return None;
        }
        let h: u16 = h.parse().ok()?;
        let m: u16 = m.parse().ok()?;
        if m > 59 || h > 24 || (h == 24 && m != 0) {
            return None;
        }
        Some(ClockTime(h * 60 + m))
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ClockTime::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is not a time of day as HH:MM (00:00 to 24:00)"
            ))
        })
    }
}

/// One flow: its first step and its steps by id.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowDef {
    /// Id of the first step.
    pub start: String,
    /// The steps, keyed by id.
    pub steps: BTreeMap<String, Step>,
}

/// An item of a prompt list as written in a flow.
///
/// A plain string names a recorded prompt; a table says a number, digits, a duration or the
/// value of a variable (`{ number = 3 }`, `{ digits = "95588" }`, `{ duration_secs = 90 }`,
/// `{ number_var = "balance" }`, `{ digits_var = "account" }`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum PromptDef {
    /// A recorded prompt by name.
    Name(String),
    /// A spoken value.
    Value(PromptValue),
}

/// A spoken value in a prompt list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PromptValue {
    /// A number.
    Number(i64),
    /// Digits, one by one.
    Digits(String),
    /// A duration in seconds.
    DurationSecs(u64),
    /// The number held in a variable (skipped when the variable is not a number).
    NumberVar(String),
    /// The digits held in a variable (skipped when unset).
    DigitsVar(String),
}

/// Why the flow hangs up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupReason {
    /// The flow ended normally.
    #[default]
    Normal,
    /// The caller accepted a callback.
    Callback,
    /// The caller was abusive.
    Abusive,
    /// The caller gave no usable input.
    NoInput,
    /// Authentication failed too many times.
    LockedOut,
    /// The service is closed.
    Closed,
    /// A fault notice that ends the call.
    Fault,
    /// The flow could not continue (a broken flow definition).
    Error,
}

impl fmt::Display for HangupReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            HangupReason::Normal => "normal",
            HangupReason::Callback => "callback",
            HangupReason::Abusive => "abusive",
            HangupReason::NoInput => "no_input",
            HangupReason::LockedOut => "locked_out",
            HangupReason::Closed => "closed",
            HangupReason::Fault => "fault",
            HangupReason::Error => "error",
        };
        f.write_str(s)
    }
}

/// A step. The `type` key selects the variant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Step {
    /// Play prompts, then go on.
    Play(PlayStep),
    /// Play a menu and go where the pressed digit says.
    Menu(MenuStep),
    /// Collect digits into a variable.
    Collect(CollectStep),
    /// Ask the shell to look the customer up.
    Lookup(LookupStep),
    /// Check the customer's PIN, with a lockout.
    Authenticate(AuthenticateStep),
    /// Choose the next step by rules.
    Branch(BranchStep),
    /// Set priority, skills, variables, language.
    Set(SetStep),
    /// Put the caller in a queue until an agent answers or a callback is accepted.
    Enqueue(EnqueueStep),
    /// Offer a callback outside a queue.
    Callback(CallbackStep),
    /// Leave a message.
    Voicemail(VoicemailStep),
    /// Post-call survey, a score by DTMF.
    Survey(SurveyStep),
    /// Say goodbye and hang up.
    Hangup(HangupStep),
    /// The caller's number joins the do-not-call list ("press 9 never to be called
    /// again"); then a confirmation and hang up.
    DoNotCall(DoNotCallStep),
    /// Transfer the call elsewhere.
    Transfer(TransferStep),
}

impl Step {
    /// The `type` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Play(_) => "play",
            Step::Menu(_) => "menu",
            Step::Collect(_) => "collect",
            Step::Lookup(_) => "lookup",
            Step::Authenticate(_) => "authenticate",
            Step::Branch(_) => "branch",
            Step::Set(_) => "set",
            Step::Enqueue(_) => "enqueue",
            Step::Callback(_) => "callback",
            Step::Voicemail(_) => "voicemail",
            Step::Survey(_) => "survey",
            Step::Hangup(_) => "hangup",
            Step::DoNotCall(_) => "do_not_call",
            Step::Transfer(_) => "transfer",
        }
    }

    /// Every step this one may go to, with the key (relative to the step) naming it.
    pub fn targets(&self) -> Vec<(String, &str)> {
        let mut v: Vec<(String, &str)> = Vec::new();
        match self {
            Step::Play(s) => v.push(("next".into(), &s.next)),
            Step::Menu(s) => {
                for (d, t) in &s.options {
                    v.push((format!("options.{d}"), t));
                }
                if let Some(t) = &s.on_timeout {
                    v.push(("on_timeout".into(), t));
                }
                v.push(("default".into(), &s.default));
            }
            Step::Collect(s) => {
                v.push(("next".into(), &s.next));
                v.push(("on_failure".into(), &s.on_failure));
            }
            Step::Lookup(s) => {
                v.push(("next".into(), &s.next));
                if let Some(t) = &s.not_found {
                    v.push(("not_found".into(), t));
                }
            }
            Step::Authenticate(s) => {
                v.push(("next".into(), &s.next));
                v.push(("on_failure".into(), &s.on_failure));
            }
            Step::Branch(s) => {
                for (i, r) in s.rules.iter().enumerate() {
                    v.push((format!("rules.{i}.goto"), &r.goto));
                }
                v.push(("else".into(), &s.otherwise));
            }
            Step::Set(s) => v.push(("next".into(), &s.next)),
            Step::Callback(s) => v.push(("on_declined".into(), &s.on_declined)),
            Step::Survey(s) => {
                v.push(("next".into(), &s.next));
                for (k, t) in &s.options {
                    v.push((format!("options.{k}"), t));
                }
            }
            Step::Enqueue(_)
            | Step::Voicemail(_)
            | Step::Hangup(_)
            | Step::DoNotCall(_)
            | Step::Transfer(_) => {}
        }
        v
    }

    /// Whether entering this step waits for something (the caller, the media or the shell)
    /// before going on. Steps that do not wait run at once; a loop made only of them would
    /// spin.
    pub fn waits(&self) -> bool {
        match self {
            Step::Branch(_) | Step::Set(_) => false,
            Step::Play(s) => !s.prompts.is_empty(),
            _ => true,
        }
    }
}

fn yes() -> bool {
    true
}
fn invalid_prompts() -> Vec<PromptDef> {
    vec![PromptDef::Name("invalid".into())]
}
fn five() -> u64 {
    5
}
fn three() -> u64 {
    3
}
fn ten() -> u64 {
    10
}
fn two() -> u32 {
    2
}
fn one_len() -> usize {
    1
}
fn hash() -> Option<char> {
    Some('#')
}

/// `type = "play"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlayStep {
    /// What to play.
    pub prompts: Vec<PromptDef>,
    /// A key press stops the prompt; the digit is kept for the next menu or collect step.
    #[serde(default)]
    pub barge_in: bool,
    /// Where to go after.
    pub next: String,
}

/// `type = "menu"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuStep {
    /// The menu prompt.
    pub prompts: Vec<PromptDef>,
    /// Digit → step.
    pub options: BTreeMap<String, String>,
    /// A key press stops the prompt (default true).
    #[serde(default = "yes")]
    pub barge_in: bool,
    /// Seconds to wait for a key after the prompt (default 5).
    #[serde(default = "five")]
    pub timeout_secs: u64,
    /// How many times the menu is repeated after an invalid key or a timeout (default 2).
    #[serde(default = "two")]
    pub retries: u32,
    /// Played before repeating the menu after an invalid key (default `["invalid"]`).
    #[serde(default = "invalid_prompts")]
    pub invalid_prompts: Vec<PromptDef>,
    /// Played before repeating the menu after a timeout (default none).
    #[serde(default)]
    pub timeout_prompts: Vec<PromptDef>,
    /// Where a timeout goes at once; without it a timeout repeats the menu like an invalid key.
    #[serde(default)]
    pub on_timeout: Option<String>,
    /// Where to go when the retries are used up.
    pub default: String,
}

/// `type = "collect"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectStep {
    /// The prompt asking for digits.
    pub prompts: Vec<PromptDef>,
    /// Variable receiving the digits.
    pub into: String,
    /// Fewest digits accepted (default 1).
    #[serde(default = "one_len")]
    pub min_len: usize,
    /// Most digits; reaching it ends the entry.
    pub max_len: usize,
    /// Key ending the entry (default `#`).
    #[serde(default = "hash")]
    pub terminator: Option<char>,
    /// Seconds to wait for the first digit (default 5).
    #[serde(default = "five")]
    pub first_digit_timeout_secs: u64,
    /// Seconds to wait between digits (default 3).
    #[serde(default = "three")]
    pub inter_digit_timeout_secs: u64,
    /// Repeats after a bad entry or a timeout (default 2).
    #[serde(default = "two")]
    pub retries: u32,
    /// Played before asking again (default `["invalid"]`).
    #[serde(default = "invalid_prompts")]
    pub invalid_prompts: Vec<PromptDef>,
    /// A key press stops the prompt (default true).
    #[serde(default = "yes")]
    pub barge_in: bool,
    /// Where to go with the digits.
    pub next: String,
    /// Where to go when the retries are used up.
    pub on_failure: String,
}

/// `type = "lookup"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupStep {
    /// Look up by the account number in this variable; by the caller's number when absent.
    #[serde(default)]
    pub account_var: Option<String>,
    /// Seconds to wait for the shell's answer; no answer counts as not found (default 5).
    #[serde(default = "five")]
    pub timeout_secs: u64,
    /// Where to go (found, or not found without `not_found`).
    pub next: String,
    /// Where to go when nobody is found.
    #[serde(default)]
    pub not_found: Option<String>,
}

/// `type = "authenticate"`: the caller keys a PIN; the shell checks it against the hash on
/// file and answers with [`crate::FlowInput::AuthResult`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticateStep {
    /// The prompt asking for the PIN.
    pub prompts: Vec<PromptDef>,
    /// The account being accessed (a variable, e.g. from a `collect`); it must belong to the
    /// customer found.
    #[serde(default)]
    pub account_var: Option<String>,
    /// Fewest PIN digits (default 4).
    #[serde(default = "four_len")]
    pub pin_min_len: usize,
    /// Most PIN digits (default 6).
    #[serde(default = "six_len")]
    pub pin_max_len: usize,
    /// Failed attempts before the lockout (default 3).
    #[serde(default = "three_u32")]
    pub max_attempts: u32,
    /// Skip the PIN when the caller's number is one the customer has on file (default true).
    #[serde(default = "yes")]
    pub skip_if_caller_on_file: bool,
    /// Seconds to wait for the first digit (default 5).
    #[serde(default = "five")]
    pub first_digit_timeout_secs: u64,
    /// Seconds between digits (default 3).
    #[serde(default = "three")]
    pub inter_digit_timeout_secs: u64,
    /// Seconds to wait for the shell's check (default 5; no answer is a failed attempt).
    #[serde(default = "five")]
    pub verify_timeout_secs: u64,
    /// Played before asking again (default `["invalid"]`).
    #[serde(default = "invalid_prompts")]
    pub invalid_prompts: Vec<PromptDef>,
    /// Where an authenticated caller goes.
    pub next: String,
    /// Where a locked-out (or unknown) caller goes.
    pub on_failure: String,
}

fn four_len() -> usize {
    4
}
fn six_len() -> usize {
    6
}
fn three_u32() -> u32 {
    3
}

/// `type = "branch"`: the first rule whose conditions all hold wins, else `else`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchStep {
    /// Rules in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Where to go when no rule holds.
    #[serde(rename = "else")]
    pub otherwise: String,
}

/// A branch rule: every condition given must hold (at least one must be given).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Where to go.
    pub goto: String,
    /// The named schedule is open now (not a holiday, inside an open period).
    #[serde(default)]
    pub open: Option<String>,
    /// Today (in the schedule's time zone) is one of the schedule's holidays.
    #[serde(default)]
    pub holiday: Option<String>,
    /// The customer is (or is not) a VIP. Unknown callers are not VIPs.
    #[serde(default)]
    pub vip: Option<bool>,
    /// The customer has (or has not) complained recently.
    #[serde(default)]
    pub repeat_complaint: Option<bool>,
    /// The caller was (or was not) found by a lookup.
    #[serde(default)]
    pub known_customer: Option<bool>,
    /// The fault notice is (or is not) switched on.
    #[serde(default)]
    pub fault_notice: Option<bool>,
    /// The current language is this one.
    #[serde(default)]
    pub language: Option<String>,
    /// The queue whose figures `wait_over_secs` and `waiting_over` test.
    #[serde(default)]
    pub queue: Option<String>,
    /// The queue's estimated wait is over this many seconds.
    #[serde(default)]
    pub wait_over_secs: Option<u64>,
    /// More than this many callers wait in the queue.
    #[serde(default)]
    pub waiting_over: Option<u32>,
    /// A variable to test (with `equals`, or alone: the variable is set).
    #[serde(default)]
    pub var: Option<String>,
    /// The value `var` must have.
    #[serde(default)]
    pub equals: Option<String>,
}

/// `type = "set"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStep {
    /// Caller priority (higher first).
    #[serde(default)]
    pub priority: Option<i32>,
    /// Added to the caller priority.
    #[serde(default)]
    pub priority_add: Option<i32>,
    /// Required skills with their minimum level, added to or overriding the queue's.
    #[serde(default)]
    pub skills: BTreeMap<String, u32>,
    /// Skills preferred (not required) for this caller.
    #[serde(default)]
    pub preferred_skills: Vec<String>,
    /// Variables to set.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Prompt language (`zh`, `en`).
    #[serde(default)]
    pub language: Option<String>,
    /// Where to go after.
    pub next: String,
}

fn please_hold() -> Vec<PromptDef> {
    vec![PromptDef::Name("please_hold".into())]
}
fn callback_offer() -> Vec<PromptDef> {
    vec![PromptDef::Name("callback_offer".into())]
}
fn callback_confirmed() -> Vec<PromptDef> {
    vec![PromptDef::Name("callback_confirmed".into())]
}

/// `type = "enqueue"`: the caller waits in a queue with hold music and announcements. The
/// flow ends when an agent answers ([`crate::Outcome::Connected`]) or a callback is
/// accepted.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnqueueStep {
    /// Queue name (as in the routing configuration).
    pub queue: String,
    /// Added to the caller priority for this queue.
    #[serde(default)]
    pub priority: Option<i32>,
    /// Played on entry (default `["please_hold"]`).
    #[serde(default = "please_hold")]
    pub prompts: Vec<PromptDef>,
    /// Hold music between announcements (default true).
    #[serde(default = "yes")]
    pub hold_music: bool,
    /// Announce every N seconds (none by default).
    #[serde(default)]
    pub announce_every_secs: Option<u64>,
    /// Say the position in announcements (default true).
    #[serde(default = "yes")]
    pub announce_position: bool,
    /// Say the estimated wait in announcements (default true).
    #[serde(default = "yes")]
    pub announce_wait: bool,
    /// The recorded words of announcements.
    #[serde(default)]
    pub announce_prompts: AnnouncePrompts,
    /// The key that accepts a callback keeping one's place (none by default).
    #[serde(default)]
    pub callback_digit: Option<char>,
    /// The callback offer, appended to each announcement (default `["callback_offer"]`).
    #[serde(default = "callback_offer")]
    pub callback_offer_prompts: Vec<PromptDef>,
    /// Played once the callback is booked, before hanging up (default
    /// `["callback_confirmed"]`).
    #[serde(default = "callback_confirmed")]
    pub callback_confirmed_prompts: Vec<PromptDef>,
    /// Seconds to wait for the shell to accept a callback (default 10); then hold resumes.
    #[serde(default = "ten")]
    pub callback_reply_timeout_secs: u64,
    /// Flow to run with the caller after the agent hangs up (e.g. `survey`).
    #[serde(default)]
    pub after_call: Option<String>,
}

/// The words an announcement is built from: `position` N `position_after`, `wait` N
/// `minutes` (or `minute` for one, or `seconds` under a minute, in steps of 10 s). The
/// numbers are [`crate::PromptItem::Number`]s, spoken by the player.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnnouncePrompts {
    /// Before the position (default `["you_are_number"]`).
    pub position: Vec<PromptDef>,
    /// After the position (default none).
    pub position_after: Vec<PromptDef>,
    /// Before the wait (default `["estimated_wait"]`).
    pub wait: Vec<PromptDef>,
    /// After a number of minutes (default `minutes`).
    pub minutes: String,
    /// After "one" minute (default `minutes`).
    pub minute: String,
    /// After a number of seconds (default `seconds`).
    pub seconds: String,
}

impl Default for AnnouncePrompts {
    fn default() -> Self {
        AnnouncePrompts {
            position: vec![PromptDef::Name("you_are_number".into())],
            position_after: Vec::new(),
            wait: vec![PromptDef::Name("estimated_wait".into())],
            minutes: "minutes".into(),
            minute: "minutes".into(),
            seconds: "seconds".into(),
        }
    }
}

/// `type = "callback"`: offer a callback outside a queue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackStep {
    /// The queue that will call back.
    pub queue: String,
    /// Played when accepted, before hanging up (default `["callback_confirmed"]`).
    #[serde(default = "callback_confirmed")]
    pub prompts: Vec<PromptDef>,
    /// Seconds to wait for the shell's answer (default 10).
    #[serde(default = "ten")]
    pub timeout_secs: u64,
    /// Where to go when the callback is declined or unanswered.
    pub on_declined: String,
}

fn voicemail_prompts() -> Vec<PromptDef> {
    vec![PromptDef::Name("voicemail".into())]
}

/// `type = "voicemail"`: play the prompt, then hand over to recording.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoicemailStep {
    /// The queue (mailbox) the message is for.
    pub queue: String,
    /// Played first (default `["voicemail"]`).
    #[serde(default = "voicemail_prompts")]
    pub prompts: Vec<PromptDef>,
}

fn survey_prompts() -> Vec<PromptDef> {
    vec![PromptDef::Name("survey".into())]
}
fn max_score() -> u8 {
    5
}
fn eight() -> u64 {
    8
}
fn one() -> u32 {
    1
}

/// `type = "survey"`: a score from 1 to `max_score` by one key press.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyStep {
    /// The question (default `["survey"]`).
    #[serde(default = "survey_prompts")]
    pub prompts: Vec<PromptDef>,
    /// Highest score (default 5, at most 9).
    #[serde(default = "max_score")]
    pub max_score: u8,
    /// Seconds to wait for the key (default 8).
    #[serde(default = "eight")]
    pub timeout_secs: u64,
    /// Repeats after an invalid key or a timeout (default 1).
    #[serde(default = "one")]
    pub retries: u32,
    /// Played before asking again (default `["invalid"]`).
    #[serde(default = "invalid_prompts")]
    pub invalid_prompts: Vec<PromptDef>,
    /// Variable receiving the score.
    #[serde(default)]
    pub into: Option<String>,
    /// Other keys and the steps they lead to (e.g. `{ "9" = "never_again" }`, a
    /// `do_not_call` step); no score is stored for them.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Where to go after (with or without a score).
    pub next: String,
}

/// `type = "hangup"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HangupStep {
    /// Played before hanging up (none by default).
    #[serde(default)]
    pub prompts: Vec<PromptDef>,
    /// Why (default `normal`).
    #[serde(default)]
    pub reason: HangupReason,
}

/// `type = "do_not_call"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoNotCallStep {
    /// Played before hanging up (default `["dnc_confirmed"]`).
    #[serde(default = "dnc_prompts")]
    pub prompts: Vec<PromptDef>,
}

fn dnc_prompts() -> Vec<PromptDef> {
    vec![PromptDef::Name("dnc_confirmed".into())]
}

/// `type = "transfer"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferStep {
    /// Where to: a number or a SIP URI, as the shell understands it.
    pub to: String,
    /// Played before transferring (none by default).
    #[serde(default)]
    pub prompts: Vec<PromptDef>,
}
