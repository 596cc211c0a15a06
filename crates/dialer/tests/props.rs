//! Invariants of the campaign core under random inputs: never more in flight than free
//! agents in progressive; never a do-not-call or out-of-hours dial; never more attempts per
//! local day than the cap; never a predictive redial of an abandoned number within 72 h.

use std::collections::{HashMap, HashSet};

use hotline_dialer::{
    CallId, CallingHours, CampaignConfig, Contact, Control, Decision, Dialer, Input, Mode, Outcome,
    Time, local_day, zones_of_number,
};
use proptest::prelude::*;

/// Contacts in the campaign: enough for predictive pacing to warm up in a long case.
const CONTACTS: u64 = 400;

/// 2026-12-01 10:30 UTC, a Tuesday: London open, Tokyo closing at 12:00 UTC, the US
/// opening at 18:00 UTC.
const START: i64 = 1_764_547_200_000 + 10 * 3_600_000 + 1_800_000;

#[derive(Debug, Clone)]
enum Op {
    Advance(u32),
    Agents(u32, u32),
    Outcome(usize, u8),
    End(usize),
    Dnc(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u32..15).prop_map(Op::Advance),
        1 => (15u32..600).prop_map(Op::Advance),
        2 => (0u32..16, 6u32..16).prop_map(|(f, s)| Op::Agents(f, s.max(f))),
        9 => (any::<usize>(), 0u8..7).prop_map(|(i, o)| Op::Outcome(i, o)),
        5 => any::<usize>().prop_map(Op::End),
        1 => (1u64..=CONTACTS).prop_map(Op::Dnc),
    ]
}

fn contact(id: u64) -> Contact {
    let (phone, time_zone) = match id % 4 {
        0 => (format!("+4477009{id:05}"), None),
        1 => (format!("+1202555{id:04}"), None),
        2 => (format!("+99912345{id:04}"), None),
        _ => (format!("+3361234{id:04}"), Some("Asia/Tokyo".to_string())),
    };
    Contact {
        id,
        phone,
        time_zone,
    }
}

fn zones(c: &Contact) -> Vec<chrono_tz::Tz> {
    match &c.time_zone {
        Some(z) => vec![z.parse().unwrap()],
        None => zones_of_number(&c.phone).unwrap_or_else(|| vec![chrono_tz::UTC]),
    }
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Progressive),
        Just(Mode::Predictive),
        Just(Mode::Agentless)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn rules_hold_under_random_inputs(
        mode in mode(),
        ops in proptest::collection::vec(op(), 50..1500),
    ) {
        let mut cfg = CampaignConfig::new("p", mode, "+442079460000");
        cfg.retries.no_answer.spacing_seconds = 300;
        cfg.retries.no_answer.max_attempts = 6;
        cfg.retries.busy.spacing_seconds = 120;
        cfg.retries.busy.max_attempts = 6;
        cfg.retries.abandoned.spacing_seconds = 60;
        cfg.retries.abandoned.max_attempts = 5;
        cfg.agentless_concurrency = 5;
        let cap = cfg.rules.max_attempts_per_day;
        let hours = CallingHours::default();
        let mut d = Dialer::new(cfg).unwrap();
        let contacts: HashMap<u64, Contact> = (1..=CONTACTS).map(|i| (i, contact(i))).collect();
        let mut now = START;
        d.handle(Time(now), Input::AddContacts((1..=CONTACTS).map(contact).collect())).unwrap();
        d.handle(Time(now), Input::Control(Control::Start)).unwrap();
        let mut dnc: HashSet<String> = HashSet::new();
        let mut ringing: Vec<CallId> = Vec::new();
        let mut answered: Vec<CallId> = Vec::new();
        let mut connected: Vec<CallId> = Vec::new();
        let mut call_contact: HashMap<CallId, u64> = HashMap::new();
        let mut per_day: HashMap<(u64, i64), u32> = HashMap::new();
        let mut abandoned_at: HashMap<u64, i64> = HashMap::new();
        check(&mut d, now, mode, &hours, cap, &contacts, &dnc, &mut ringing,
            &mut answered, &mut connected, &mut call_contact, &mut per_day, &mut abandoned_at)?;

        for op in ops {
            match op {
                Op::Advance(s) => {
                    let target = now + i64::from(s) * 1000;
                    while let Some(t) = d.poll_timeout() {
                        if t.0 > target { break; }
                        now = now.max(t.0);
                        d.handle_timeout(Time(now));
                        check(&mut d, now, mode, &hours, cap, &contacts, &dnc, &mut ringing,
                            &mut answered, &mut connected, &mut call_contact, &mut per_day, &mut abandoned_at)?;
                    }
                    now = target;
                    d.handle_timeout(Time(now));
                }
                Op::Agents(free, staffed) => {
                    // A quarter of the time an arbitrary report (agents taken by other work, or
                    // logged out), else the agents as they are: staffed less those on calls.
                    let free = if free % 4 == 0 { free } else {
                        staffed.saturating_sub(connected.len() as u32)
                    };
                    d.handle(Time(now), Input::Agents { free, staffed }).unwrap();
                }
                Op::Outcome(i, o) => {
                    if ringing.is_empty() { continue; }
                    let call = ringing.remove(i % ringing.len());
                    let outcome = [Outcome::Live, Outcome::Live, Outcome::Live, Outcome::Machine,
                        Outcome::Busy, Outcome::NoAnswer, Outcome::Failed][o as usize];
                    d.handle(Time(now), Input::Outcome { call, outcome }).unwrap();
                }
                Op::End(i) => {
                    for call in answered.drain(..) {
                        d.handle(Time(now), Input::Ended { call }).unwrap();
                    }
                    // (Ending those may already have paced new dials: checked below either way.)
                    if !connected.is_empty() {
                        let call = connected.remove(i % connected.len());
                        d.handle(Time(now), Input::Ended { call }).unwrap();
                        let staffed = 12;
                        let free = staffed - (connected.len() as u32).min(staffed);
                        d.handle(Time(now), Input::Agents { free, staffed }).unwrap();
                    }
                }
                Op::Dnc(id) => {
                    let phone = contacts[&id].phone.clone();
                    d.handle(Time(now), Input::DncAdd(phone.clone())).unwrap();
                    dnc.insert(phone);
                }
            }
            check(&mut d, now, mode, &hours, cap, &contacts, &dnc, &mut ringing,
                &mut answered, &mut connected, &mut call_contact, &mut per_day, &mut abandoned_at)?;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check(
    d: &mut Dialer,
    now: i64,
    mode: Mode,
    hours: &CallingHours,
    cap: u32,
    contacts: &HashMap<u64, Contact>,
    dnc: &HashSet<String>,
    ringing: &mut Vec<CallId>,
    answered: &mut Vec<CallId>,
    connected: &mut Vec<CallId>,
    call_contact: &mut HashMap<CallId, u64>,
    per_day: &mut HashMap<(u64, i64), u32>,
    abandoned_at: &mut HashMap<u64, i64>,
) -> Result<(), TestCaseError> {
    let mut dialled = false;
    while let Some(dec) = d.poll_decision() {
        match dec {
            Decision::Dial {
                call,
                contact,
                phone,
                ring_seconds,
                ..
            } => {
                dialled = true;
                prop_assert!(ring_seconds >= 15.0);
                prop_assert!(
                    !dnc.contains(&phone),
                    "dialled {phone} on the do-not-call list"
                );
                let c = &contacts[&contact];
                let z = zones(c);
                prop_assert!(
                    hours.holds_in_all(&z, Time(now)),
                    "dialled {phone} out of hours"
                );
                let n = per_day
                    .entry((contact, local_day(z[0], Time(now))))
                    .or_default();
                *n += 1;
                prop_assert!(*n <= cap, "contact {contact}: {n} attempts in a day");
                if mode == Mode::Predictive
                    && let Some(a) = abandoned_at.get(&contact)
                {
                    prop_assert!(now - a >= 72 * 3_600_000, "redialled {contact} within 72 h");
                }
                ringing.push(call);
                call_contact.insert(call, contact);
            }
            Decision::CancelDial { call } => ringing.retain(|c| *c != call),
            Decision::PlayAbandonMessage { call, contact } => {
                abandoned_at.insert(contact, now);
                answered.push(call);
            }
            Decision::Connect { call, .. } => connected.push(call),
            Decision::RunFlow { call, .. }
            | Decision::LeaveMessage { call }
            | Decision::HangUp { call } => answered.push(call),
            _ => {}
        }
    }
    if dialled && mode == Mode::Progressive {
        prop_assert!(
            d.in_flight() <= d.free_agents(),
            "{} in flight for {} free agents",
            d.in_flight(),
            d.free_agents()
        );
    }
    Ok(())
}
