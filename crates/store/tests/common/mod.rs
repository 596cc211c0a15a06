#![allow(dead_code, unused_imports)]

use hotline_model::*;

pub fn t(secs: i64) -> Timestamp {
    // 2026-11-23T00:00:00Z plus secs.
    Timestamp::from_unix_secs(1_795_392_000 + secs).unwrap()
}

pub fn ev(interaction: InteractionId, at: Timestamp, kind: EventKind) -> Event {
    Event::from(InteractionEvent::new(interaction, at, kind))
}

pub fn arrived(i: InteractionId, at: Timestamp, from: &str) -> Event {
    ev(
        i,
        at,
        EventKind::Arrived {
            channel: Channel::Voice,
            from: from.into(),
            to: "95588".into(),
            trunk: Some("carrier".into()),
        },
    )
}

/// A whole answered call: arrived, identified, queued, offered, answered, recorded,
/// measured, ended by the caller, wrapped up, surveyed. Starts at `start`.
pub fn answered_call(
    i: InteractionId,
    start: i64,
    customer: &str,
    queue: &str,
    agent: &str,
    disposition: &str,
) -> Vec<Event> {
    vec![
        arrived(i, t(start), "+442079460018"),
        ev(
            i,
            t(start + 1),
            EventKind::FlowStep {
                step: "menu".into(),
                detail: Some("9".into()),
            },
        ),
        ev(
            i,
            t(start + 2),
            EventKind::CustomerIdentified {
                customer: customer.into(),
            },
        ),
        ev(
            i,
            t(start + 3),
            EventKind::Queued {
                queue: queue.into(),
                priority: 0,
            },
        ),
        ev(
            i,
            t(start + 10),
            EventKind::Offered {
                agent: agent.into(),
            },
        ),
        ev(
            i,
            t(start + 12),
            EventKind::Answered {
                agent: agent.into(),
            },
        ),
        ev(
            i,
            t(start + 12),
            EventKind::RecordingStarted {
                path: format!("rec/{i}.wav"),
            },
        ),
        ev(
            i,
            t(start + 30),
            EventKind::QualitySample {
                leg: Leg::Caller,
                mos: 4.2,
                loss: 0.0,
                jitter_ms: 2.0,
                rtt_ms: None,
            },
        ),
        ev(
            i,
            t(start + 40),
            EventKind::QualitySample {
                leg: Leg::Agent,
                mos: 3.7,
                loss: 0.02,
                jitter_ms: 9.0,
                rtt_ms: None,
            },
        ),
        ev(
            i,
            t(start + 45),
            EventKind::Agitation {
                score: 0.4,
                leg: Leg::Caller,
            },
        ),
        ev(
            i,
            t(start + 50),
            EventKind::Agitation {
                score: 0.7,
                leg: Leg::Caller,
            },
        ),
        ev(
            i,
            t(start + 60),
            EventKind::Ended {
                reason: EndReason::CallerHangup,
            },
        ),
        ev(
            i,
            t(start + 70),
            EventKind::WrappedUp {
                disposition: disposition.into(),
                notes: Some(format!("notes on {i}")),
                by: Some(agent.into()),
            },
        ),
        ev(i, t(start + 80), EventKind::Surveyed { score: 4 }),
    ]
}

mod backends;
mod cluster;
pub use backends::*;
