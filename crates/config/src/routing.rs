//! Routing settings: the engine-wide `[routing]` table, the agent wellbeing rules of
//! `[wellbeing]`, and each queue's ring timeout, maximum-wait action and overflow steps.
//!
//! Every key is optional and defaults to the routing engine's own default; every value is
//! checked with its line, so that a bad one is reported before the centre starts.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use toml::Spanned;

use crate::{Config, Invalid};

/// Engine-wide routing settings (`[routing]`). The ring timeout is `centre.ring_timeout_seconds`
/// (and a queue's own `ring_timeout_seconds`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// After this many offers in a row not answered (rang out, or the phone could not be
    /// reached), the agent goes not-ready with the reason `no-answer` (0: never).
    #[serde(default)]
    pub max_no_answer: Option<u32>,
    /// Seconds an agent who did not take an offer is not offered that caller again (1..=3600).
    #[serde(default)]
    pub retry_seconds: Option<Spanned<u32>>,
    /// Longest such wait: each further refusal of the same caller by the same agent doubles
    /// `retry_seconds`, up to this (at least `retry_seconds`, at most 3600).
    #[serde(default)]
    pub retry_max_seconds: Option<Spanned<u32>>,
    /// After this many offers in a row declined by the phone (busy, do-not-disturb, 603),
    /// the agent goes not-ready with the reason `declined` (0: never).
    #[serde(default)]
    pub max_declines: Option<u32>,
    /// Priority added to VIP callers.
    #[serde(default)]
    pub vip_boost: Option<i32>,
    /// Seconds a caller with a preferred agent (a call to an agent's own number, a transfer
    /// to a colleague) waits for that agent alone (0: not at all).
    #[serde(default)]
    pub preferred_agent_seconds: Option<u32>,
    /// The skill escalated callers need (any level).
    #[serde(default)]
    pub senior_skill: Option<Spanned<String>>,
    /// Most agents a `ring-all` queue rings at once (1..=1000).
    #[serde(default)]
    pub ring_all_limit: Option<Spanned<u32>>,
    /// What may interrupt what (`[routing.blend]`).
    #[serde(default)]
    pub blend: Blend,
    /// How many contacts of each channel an agent holds at once, unless the agent's own
    /// `capacity` says otherwise (`[routing.capacity]`).
    #[serde(default)]
    pub capacity: Capacity,
}

/// Which channels an agent already holding contacts may be offered (`[routing.blend]`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blend {
    /// Chats, e-mails and text messages may be offered to an agent on a call (default false).
    #[serde(default)]
    pub written_during_call: Option<bool>,
    /// A call may be offered to an agent holding chats or e-mails (default false).
    #[serde(default)]
    pub call_during_written: Option<bool>,
    /// Chats beside e-mails and e-mails beside chats (default true).
    #[serde(default)]
    pub chat_with_email: Option<bool>,
}

impl Blend {
    pub fn written_during_call(&self) -> bool {
        self.written_during_call.unwrap_or(false)
    }
    pub fn call_during_written(&self) -> bool {
        self.call_during_written.unwrap_or(false)
    }
    pub fn chat_with_email(&self) -> bool {
        self.chat_with_email.unwrap_or(true)
    }
}

/// Contacts of each channel an agent may hold at once. Text messages (SMS) count as chats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Calls: 0 (takes no calls) or 1 (default 1).
    #[serde(default)]
    pub voice: Option<Spanned<u32>>,
    /// Chats and text-message conversations, 0..=20 (default 3).
    #[serde(default)]
    pub chat: Option<Spanned<u32>>,
    /// E-mails, 0..=20 (default 1).
    #[serde(default)]
    pub email: Option<Spanned<u32>>,
}

impl Capacity {
    /// This capacity, with what it leaves unsaid taken from `default`, then hotline's
    /// defaults: `(voice, chat, email)`.
    pub fn resolve(&self, default: &Capacity) -> (u8, u8, u8) {
        let pick = |own: &Option<Spanned<u32>>, dflt: &Option<Spanned<u32>>, v: u32| {
            let v = own.as_ref().or(dflt.as_ref()).map_or(v, |s| *s.get_ref());
            u8::try_from(v).unwrap_or(u8::MAX)
        };
        (
            pick(&self.voice, &default.voice, 1),
            pick(&self.chat, &default.chat, 3),
            pick(&self.email, &default.email, 1),
        )
    }

    fn check(&self, key: &str) -> Result<(), Invalid> {
        within(format!("{key}.voice"), &self.voice, 0, 1)?;
        within(format!("{key}.chat"), &self.chat, 0, 20)?;
        within(format!("{key}.email"), &self.email, 0, 20)
    }
}

impl Routing {
    pub fn max_no_answer(&self) -> u32 {
        self.max_no_answer.unwrap_or(2)
    }
    pub fn retry_seconds(&self) -> u32 {
        self.retry_seconds.as_ref().map_or(5, |v| *v.get_ref())
    }
    pub fn retry_max_seconds(&self) -> u32 {
        self.retry_max_seconds
            .as_ref()
            .map_or(60, |v| *v.get_ref())
            .max(self.retry_seconds())
    }
    pub fn max_declines(&self) -> u32 {
        self.max_declines.unwrap_or(3)
    }
    pub fn vip_boost(&self) -> i32 {
        self.vip_boost.unwrap_or(100)
    }
    pub fn preferred_agent_seconds(&self) -> u32 {
        self.preferred_agent_seconds.unwrap_or(30)
    }
    pub fn senior_skill(&self) -> &str {
        self.senior_skill
            .as_ref()
            .map_or("senior", |v| v.get_ref().as_str())
    }
    pub fn ring_all_limit(&self) -> u32 {
        self.ring_all_limit.as_ref().map_or(16, |v| *v.get_ref())
    }
}

/// Agent wellbeing rules (`[wellbeing]`); absent keys take the defaults below.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wellbeing {
    /// Master switch (default on).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// A call whose measured agitation is at least this (0..=1), or that the agent flagged as
    /// abusive, is difficult (default 0.7).
    #[serde(default)]
    pub agitation_threshold: Option<Spanned<f64>>,
    /// Seconds of recovery break after a difficult call (default 120; 0: off).
    #[serde(default)]
    pub recovery_break_seconds: Option<u32>,
    /// At most this many difficult calls in a row per agent (default 2; 0: off).
    #[serde(default)]
    pub max_difficult_in_row: Option<u32>,
    /// Difficult calls go to the agent who has had the fewest (default on).
    #[serde(default)]
    pub fair_spread: Option<bool>,
    /// Occupancy ceiling over the window, 0..=1 (default 0: off).
    #[serde(default)]
    pub occupancy_ceiling: Option<Spanned<f64>>,
    /// The occupancy window in minutes (default 60; at least 1).
    #[serde(default)]
    pub occupancy_window_minutes: Option<Spanned<u32>>,
    /// Longest pause the occupancy ceiling imposes, in seconds (default 300).
    #[serde(default)]
    pub max_pause_seconds: Option<u32>,
    /// Callers announced with an agitation at least this (0..=1) are escalated to the senior
    /// skill (default 0: off).
    #[serde(default)]
    pub escalate_agitation: Option<Spanned<f64>>,
}

/// What happens to a caller who has waited a queue's `max_wait_seconds`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaxWaitAction {
    /// The `voicemail` flow takes the call (the call ends when there is none).
    #[default]
    Voicemail,
    /// The call ends (the flows' goodbye, if any).
    Disconnect,
    /// The caller moves to `overflow_queue`, keeping its place by arrival.
    Overflow,
}

/// A timed overflow step of a queue (`[[queues.overflow]]`): after `after_seconds` of waiting,
/// more agents may take the caller. Steps add up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverflowStep {
    pub after_seconds: Spanned<u32>,
    /// Lower every minimum level of the queue's skills by this much (never below 1).
    #[serde(default)]
    pub lower_levels_by: Option<Spanned<u8>>,
    /// Also agents with all of these skills at these levels.
    #[serde(default)]
    pub add_skills: BTreeMap<String, Spanned<u8>>,
    /// Also agents who may answer these queues (defined above this one).
    #[serde(default)]
    pub add_queues: Vec<Spanned<String>>,
}

/// Checks a value of 0..=1.
fn unit(key: String, v: &Option<Spanned<f64>>) -> Result<(), Invalid> {
    match v {
        Some(v) if !(0.0..=1.0).contains(v.get_ref()) => Err(Invalid {
            key,
            offset: v.span().start,
            message: "must be between 0 and 1".into(),
        }),
        _ => Ok(()),
    }
}

fn within(key: String, v: &Option<Spanned<u32>>, lo: u32, hi: u32) -> Result<(), Invalid> {
    match v {
        Some(v) if !(lo..=hi).contains(v.get_ref()) => Err(Invalid {
            key,
            offset: v.span().start,
            message: format!("must be {lo} to {hi}"),
        }),
        _ => Ok(()),
    }
}

impl Config {
    /// `[routing]`, `[wellbeing]`, the ring timeouts, and each queue's maximum-wait action and
    /// overflow steps.
    pub(crate) fn validate_routing(&self) -> Result<(), Invalid> {
        let r = &self.routing;
        within("routing.retry_seconds".into(), &r.retry_seconds, 1, 3600)?;
        within(
            "routing.retry_max_seconds".into(),
            &r.retry_max_seconds,
            r.retry_seconds(),
            3600,
        )?;
        within("routing.ring_all_limit".into(), &r.ring_all_limit, 1, 1000)?;
        r.capacity.check("routing.capacity")?;
        for a in &self.agents {
            if let Some(c) = &a.capacity {
                c.check(&format!("agents.{}.capacity", a.extension.get_ref()))?;
            }
        }
        let known_skills: HashSet<&String> =
            self.agents.iter().flat_map(|a| a.skills.keys()).collect();
        if let Some(s) = &r.senior_skill
            && !known_skills.contains(s.get_ref())
        {
            return Err(Invalid {
                key: "routing.senior_skill".into(),
                offset: s.span().start,
                message: format!(
                    "no agent has the skill `{}`, so escalated callers could not be answered",
                    s.get_ref()
                ),
            });
        }
        let w = &self.wellbeing;
        unit(
            "wellbeing.agitation_threshold".into(),
            &w.agitation_threshold,
        )?;
        unit("wellbeing.occupancy_ceiling".into(), &w.occupancy_ceiling)?;
        unit("wellbeing.escalate_agitation".into(), &w.escalate_agitation)?;
        within(
            "wellbeing.occupancy_window_minutes".into(),
            &w.occupancy_window_minutes,
            1,
            24 * 60,
        )?;
        if !(1..=3600).contains(&self.centre.ring_timeout_seconds) {
            return Err(Invalid {
                key: "centre.ring_timeout_seconds".into(),
                offset: 0,
                message: "must be 1 to 3600".into(),
            });
        }
        for (i, q) in self.queues.iter().enumerate() {
            within(
                format!("queues[{i}].ring_timeout_seconds"),
                &q.ring_timeout_seconds,
                1,
                3600,
            )?;
            let name = q.name.get_ref();
            let other_queue = |key: String, target: &Spanned<String>, earlier: bool| {
                let t = target.get_ref();
                let pos = self.queues.iter().position(|x| x.name.get_ref() == t);
                let message = match pos {
                    None => format!("no queue `{t}` in the configuration"),
                    Some(_) if t == name => "a queue cannot name itself here".to_string(),
                    Some(p) if earlier && p > i => {
                        format!("queue `{t}` must be defined above queue `{name}` to be named here")
                    }
                    Some(_) => return Ok(()),
                };
                Err(Invalid {
                    key,
                    offset: target.span().start,
                    message,
                })
            };
            match (&q.max_wait_action, &q.overflow_queue) {
                (Some(a), None) if *a.get_ref() == MaxWaitAction::Overflow => {
                    return Err(Invalid {
                        key: format!("queues[{i}].max_wait_action"),
                        offset: a.span().start,
                        message: "`overflow` needs `overflow_queue`".into(),
                    });
                }
                (a, Some(t)) => {
                    if a.as_ref().map(|a| *a.get_ref()) != Some(MaxWaitAction::Overflow) {
                        return Err(Invalid {
                            key: format!("queues[{i}].overflow_queue"),
                            offset: t.span().start,
                            message: "needs `max_wait_action = \"overflow\"`".into(),
                        });
                    }
                    other_queue(format!("queues[{i}].overflow_queue"), t, false)?;
                }
                _ => {}
            }
            if let Some(a) = &q.max_wait_action
                && q.max_wait_seconds.is_none()
            {
                return Err(Invalid {
                    key: format!("queues[{i}].max_wait_action"),
                    offset: a.span().start,
                    message: "needs `max_wait_seconds`".into(),
                });
            }
            let mut last = 0;
            for (k, step) in q.overflow.iter().enumerate() {
                let key = |field: &str| format!("queues[{i}].overflow[{k}].{field}");
                let after = *step.after_seconds.get_ref();
                if after < last {
                    return Err(Invalid {
                        key: key("after_seconds"),
                        offset: step.after_seconds.span().start,
                        message: format!(
                            "steps go in increasing order: this one comes before the one above ({last} s)"
                        ),
                    });
                }
                last = after;
                if let Some(l) = &step.lower_levels_by
                    && *l.get_ref() > 9
                {
                    return Err(Invalid {
                        key: key("lower_levels_by"),
                        offset: l.span().start,
                        message: "must be 0 to 9 (levels run from 1 to 10)".into(),
                    });
                }
                for (skill, level) in &step.add_skills {
                    if !(1..=10).contains(level.get_ref()) {
                        return Err(Invalid {
                            key: key(&format!("add_skills.{skill}")),
                            offset: level.span().start,
                            message: "minimum levels run from 1 to 10".into(),
                        });
                    }
                    if !known_skills.contains(skill) {
                        return Err(Invalid {
                            key: key(&format!("add_skills.{skill}")),
                            offset: level.span().start,
                            message: format!("no agent has the skill `{skill}`"),
                        });
                    }
                }
                for (j, t) in step.add_queues.iter().enumerate() {
                    other_queue(format!("{}[{j}]", key("add_queues")), t, true)?;
                }
                if step.lower_levels_by.is_none()
                    && step.add_skills.is_empty()
                    && step.add_queues.is_empty()
                {
                    return Err(Invalid {
                        key: key("after_seconds"),
                        offset: step.after_seconds.span().start,
                        message:
                            "a step needs `lower_levels_by`, `add_skills` or `add_queues` to widen who may answer"
                                .into(),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, ConfigError, DEMO_TOML};

    fn err(text: &str) -> ConfigError {
        match Config::from_toml("t.toml", text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e,
        }
    }

    /// The demo with `extra` after the line `name = "<queue>"`.
    fn queue_with(queue: &str, extra: &str) -> String {
        DEMO_TOML.replace(
            &format!("name = \"{queue}\"\n"),
            &format!("name = \"{queue}\"\n{extra}\n"),
        )
    }

    fn line_of(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    #[test]
    fn routing_keys_default_to_the_engines_defaults() {
        let cfg = Config::from_toml("t.toml", DEMO_TOML).unwrap();
        assert_eq!(cfg.routing.max_no_answer(), 2);
        assert_eq!(cfg.routing.retry_seconds(), 5);
        assert_eq!(cfg.routing.retry_max_seconds(), 60);
        assert_eq!(cfg.routing.max_declines(), 3);
        assert_eq!(cfg.routing.vip_boost(), 100);
        assert_eq!(cfg.routing.preferred_agent_seconds(), 30);
        assert_eq!(cfg.routing.senior_skill(), "senior");
        assert_eq!(cfg.routing.ring_all_limit(), 16);
        assert!(cfg.queues.iter().all(|q| q.overflow.is_empty()
            && q.ring_timeout_seconds.is_none()
            && q.max_wait_action.is_none()));
    }

    #[test]
    fn every_routing_key_is_read() {
        let text = queue_with(
            "cards",
            "ring_timeout_seconds = 30\nmax_wait_action = \"overflow\"\noverflow_queue = \"general\"",
        ) + "\n[[queues.overflow]]\nafter_seconds = 30\nlower_levels_by = 1\n\
             add_skills = { accounts = 2 }\nadd_queues = [\"cards\"]\n\
             \n[routing]\nmax_no_answer = 0\nretry_seconds = 10\nvip_boost = 5\n\
             preferred_agent_seconds = 0\nsenior_skill = \"senior\"\nring_all_limit = 4\n\
             \n[wellbeing]\nenabled = true\nagitation_threshold = 0.6\nrecovery_break_seconds = 90\n\
             max_difficult_in_row = 3\nfair_spread = false\noccupancy_ceiling = 0.9\n\
             occupancy_window_minutes = 30\nmax_pause_seconds = 120\nescalate_agitation = 1\n";
        let cfg = Config::from_toml("t.toml", &text).unwrap();
        let cards = cfg
            .queues
            .iter()
            .find(|q| q.name.get_ref() == "cards")
            .unwrap();
        assert_eq!(
            cards.ring_timeout_seconds.as_ref().map(|v| *v.get_ref()),
            Some(30)
        );
        assert_eq!(
            cards.max_wait_action.as_ref().map(|v| *v.get_ref()),
            Some(super::MaxWaitAction::Overflow)
        );
        let general = cfg.queues.last().unwrap();
        assert_eq!(general.overflow.len(), 1);
        assert_eq!(*general.overflow[0].after_seconds.get_ref(), 30);
        assert_eq!(cfg.routing.retry_seconds(), 10);
        assert_eq!(cfg.routing.ring_all_limit(), 4);
        assert_eq!(cfg.routing.max_no_answer(), 0);
        assert_eq!(cfg.wellbeing.max_pause_seconds, Some(120));
        assert_eq!(
            cfg.wellbeing
                .escalate_agitation
                .as_ref()
                .map(|v| *v.get_ref()),
            Some(1.0)
        );
    }

    #[test]
    fn bad_routing_values_name_their_line_and_key() {
        // An overflow to a queue that does not exist.
        let text = queue_with(
            "cards",
            "max_wait_action = \"overflow\"\noverflow_queue = \"nowhere\"",
        );
        let e = err(&text);
        assert_eq!(e.key, "queues[1].overflow_queue", "{e}");
        assert_eq!(e.line, line_of(&text, "nowhere"), "{e}");
        assert!(e.message.contains("no queue `nowhere`"), "{e}");
        // To itself.
        let e = err(&queue_with(
            "cards",
            "max_wait_action = \"overflow\"\noverflow_queue = \"cards\"",
        ));
        assert!(e.message.contains("itself"), "{e}");
        // `overflow` without a queue, a queue without `overflow`, an unknown action.
        let e = err(&queue_with("cards", "max_wait_action = \"overflow\""));
        assert_eq!(e.key, "queues[1].max_wait_action", "{e}");
        let e = err(&queue_with("cards", "overflow_queue = \"general\""));
        assert_eq!(e.key, "queues[1].overflow_queue", "{e}");
        let text = queue_with("cards", "max_wait_action = \"hang-up\"");
        let e = err(&text);
        assert_eq!(e.key, "queues[1].max_wait_action", "{e}");
        assert_eq!(e.line, line_of(&text, "hang-up"), "{e}");
        // Negative and zero seconds.
        let text = queue_with("cards", "ring_timeout_seconds = -5");
        let e = err(&text);
        assert_eq!(e.key, "queues[1].ring_timeout_seconds", "{e}");
        assert_eq!(e.line, line_of(&text, "-5"), "{e}");
        let e = err(&queue_with("cards", "ring_timeout_seconds = 0"));
        assert_eq!(e.key, "queues[1].ring_timeout_seconds", "{e}");
        let e = err(&DEMO_TOML.replace(
            "service_numbers = [\"95588\"]",
            "service_numbers = [\"95588\"]\nring_timeout_seconds = 0",
        ));
        assert_eq!(e.key, "centre.ring_timeout_seconds", "{e}");
        let text = format!("{DEMO_TOML}\n[routing]\nretry_seconds = 0\n");
        let e = err(&text);
        assert_eq!(e.key, "routing.retry_seconds", "{e}");
        assert_eq!(e.line, text.lines().count(), "{e}");
        // The longest wait between offers may not be shorter than the first.
        let text = format!("{DEMO_TOML}\n[routing]\nretry_seconds = 10\nretry_max_seconds = 9\n");
        let e = err(&text);
        assert_eq!(e.key, "routing.retry_max_seconds", "{e}");
        assert_eq!(e.line, text.lines().count(), "{e}");
        assert!(e.to_string().contains("10 to 3600"), "{e}");
        let e = err(&format!(
            "{DEMO_TOML}\n[routing]\npreferred_agent_seconds = -1\n"
        ));
        assert_eq!(e.key, "routing.preferred_agent_seconds", "{e}");
        let e = err(&format!(
            "{DEMO_TOML}\n[routing]\nsenior_skill = \"wizard\"\n"
        ));
        assert!(e.message.contains("wizard"), "{e}");
        let e = err(&format!("{DEMO_TOML}\n[routing]\nretry = 3\n"));
        assert_eq!(e.key, "routing.retry", "{e}");
        // Shares outside 0..=1.
        let text = format!("{DEMO_TOML}\n[wellbeing]\noccupancy_ceiling = 1.5\n");
        let e = err(&text);
        assert_eq!(e.key, "wellbeing.occupancy_ceiling", "{e}");
        assert_eq!(e.line, text.lines().count(), "{e}");
        let e = err(&format!(
            "{DEMO_TOML}\n[wellbeing]\nagitation_threshold = -0.1\n"
        ));
        assert_eq!(e.key, "wellbeing.agitation_threshold", "{e}");
        let e = err(&format!(
            "{DEMO_TOML}\n[wellbeing]\noccupancy_window_minutes = 0\n"
        ));
        assert_eq!(e.key, "wellbeing.occupancy_window_minutes", "{e}");
    }

    #[test]
    fn overflow_steps_are_checked() {
        let step = |body: &str| format!("{DEMO_TOML}\n[[queues.overflow]]\n{body}\n");
        // Levels out of 1..=10, an unknown skill, lowering by 10.
        let text = step("after_seconds = 30\nadd_skills = { accounts = 11 }");
        let e = err(&text);
        assert_eq!(e.key, "queues[3].overflow[0].add_skills.accounts", "{e}");
        assert_eq!(e.line, text.lines().count(), "{e}");
        let e = err(&step("after_seconds = 30\nadd_skills = { juggling = 2 }"));
        assert!(e.message.contains("juggling"), "{e}");
        let e = err(&step("after_seconds = 30\nlower_levels_by = 10"));
        assert_eq!(e.key, "queues[3].overflow[0].lower_levels_by", "{e}");
        // A queue not defined above, or unknown.
        let e = err(&step("after_seconds = 30\nadd_queues = [\"nowhere\"]"));
        assert_eq!(e.key, "queues[3].overflow[0].add_queues[0]", "{e}");
        let mut text = String::from(DEMO_TOML);
        let at = text.find("[[queues]]\nname = \"complaints\"").unwrap();
        text.insert_str(
            at,
            "[[queues.overflow]]\nafter_seconds = 10\nadd_queues = [\"general\"]\n\n",
        );
        let e = err(&text);
        assert_eq!(e.key, "queues[1].overflow[0].add_queues[0]", "{e}");
        assert!(e.message.contains("above"), "{e}");
        // Out of order, and a step that widens nothing.
        let e = err(&step(
            "after_seconds = 30\nlower_levels_by = 1\n\n[[queues.overflow]]\nafter_seconds = 20\nlower_levels_by = 2",
        ));
        assert_eq!(e.key, "queues[3].overflow[1].after_seconds", "{e}");
        let e = err(&step("after_seconds = 30"));
        assert!(e.message.contains("widen"), "{e}");
        let e = err(&step("after_seconds = -30\nlower_levels_by = 1"));
        assert!(e.key.contains("after_seconds"), "{e}");
        // A good one passes.
        Config::from_toml(
            "t.toml",
            &step("after_seconds = 30\nlower_levels_by = 1\nadd_skills = { accounts = 2 }\nadd_queues = [\"accounts\"]"),
        )
        .unwrap();
    }
}
