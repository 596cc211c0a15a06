//! A small driver for tests: keeps virtual time and collects actions.
#![allow(dead_code)]

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use hotline_flow::*;

pub fn demo() -> Arc<FlowSet> {
    Arc::new(FlowSet::from_toml(DEMO_FLOWS).expect("demo flows are valid"))
}

/// 2026-11-23 (a Monday) 10:00 in Shanghai.
pub fn office_hours() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

pub fn ctx() -> CallContext {
    CallContext::new("13800138000", "95588", office_hours())
}

pub struct Call {
    pub run: FlowRun,
    pub now: u64,
    /// Everything the run asked for so far.
    pub all: Vec<FlowAction>,
    /// The id of the latest play.
    pub last_play: Option<PlayId>,
}

impl Call {
    pub fn start(flows: Arc<FlowSet>, flow: &str, ctx: CallContext) -> (Call, Vec<FlowAction>) {
        let run = FlowRun::new(flows, flow, ctx, Instant::ZERO).expect("flow exists");
        let mut c = Call {
            run,
            now: 0,
            all: Vec::new(),
            last_play: None,
        };
        let a = c.drain();
        (c, a)
    }

    pub fn drain(&mut self) -> Vec<FlowAction> {
        let v: Vec<FlowAction> = std::iter::from_fn(|| self.run.poll_action()).collect();
        for a in &v {
            if let FlowAction::Play { id, .. } = a {
                self.last_play = Some(*id);
            }
        }
        self.all.extend(v.iter().cloned());
        v
    }

    /// Feeds `input` `ms` after the previous event.
    pub fn after(&mut self, ms: u64, input: FlowInput) -> Vec<FlowAction> {
        self.now += ms;
        self.run.handle(Instant(self.now), input);
        self.drain()
    }

    pub fn send(&mut self, input: FlowInput) -> Vec<FlowAction> {
        self.after(100, input)
    }

    pub fn key(&mut self, d: char) -> Vec<FlowAction> {
        self.send(FlowInput::Digit(d))
    }

    /// The latest play ends.
    pub fn played(&mut self) -> Vec<FlowAction> {
        let id = self.last_play.expect("something was played");
        self.after(1500, FlowInput::PlaybackFinished(id))
    }

    /// Jumps to the timer and fires it.
    pub fn fire(&mut self) -> Vec<FlowAction> {
        let t = self.run.poll_timeout().expect("a timer is armed");
        assert!(t.0 > self.now, "timer {t:?} not after now {}", self.now);
        self.now = t.0;
        self.run.handle_timeout(t);
        self.drain()
    }

    /// Lookup answered (demo flow starts with one).
    pub fn lookup(&mut self, c: Option<Customer>) -> Vec<FlowAction> {
        self.after(50, FlowInput::LookupResult(c))
    }
}

pub fn plays(actions: &[FlowAction]) -> Vec<Vec<PromptItem>> {
    actions
        .iter()
        .filter_map(|a| match a {
            FlowAction::Play { prompts, .. } => Some(prompts.clone()),
            _ => None,
        })
        .collect()
}

pub fn p(names: &[&str]) -> Vec<PromptItem> {
    names.iter().map(|n| PromptItem::prompt(n)).collect()
}

pub fn enqueued(actions: &[FlowAction]) -> Option<(String, i32, Vec<String>)> {
    actions.iter().find_map(|a| match a {
        FlowAction::Enqueue {
            queue,
            priority,
            preferred_skills,
            ..
        } => Some((queue.clone(), *priority, preferred_skills.clone())),
        _ => None,
    })
}

pub fn finished(actions: &[FlowAction]) -> Option<Outcome> {
    actions.iter().find_map(|a| match a {
        FlowAction::Finished { outcome } => Some(outcome.clone()),
        _ => None,
    })
}

pub fn var_set(actions: &[FlowAction], name: &str) -> Option<String> {
    actions.iter().find_map(|a| match a {
        FlowAction::SetVariable { name: n, value } if n == name => Some(value.clone()),
        _ => None,
    })
}

pub fn customer() -> Customer {
    Customer {
        id: "C42".into(),
        name: "Li Wei".into(),
        vip: false,
        language: None,
        repeat_complaint: false,
        accounts: vec!["6222020001".into()],
        phones: vec!["13800138000".into()],
    }
}

/// Starts the demo main flow in office hours and gets to the menu prompt (unknown caller).
pub fn at_menu() -> Call {
    let (mut c, _) = Call::start(demo(), "main", ctx());
    c.lookup(None);
    let a = c.played(); // welcome ends
    assert_eq!(plays(&a), vec![p(&["menu"])]);
    c
}
