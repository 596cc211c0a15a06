//! One call of an outbound campaign: dialled through the trunk, its outcome found (busy, no
//! answer, a person or a machine, by answering-machine detection on the media engine), told
//! to the dialler, and then what the dialler says: to the agents' queue or the campaign's
//! flow (the ordinary call session from there on), the recorded message, or hang up.
//!
//! Every step is an event of the call's interaction: `dialled`, `customer_identified`,
//! `dial_outcome`, then the session's own events, and `ended`.

use std::sync::Arc;
use std::time::Duration;

use hotline_dialer::{CallId, Outcome};
use hotline_media::player::Lang;
use hotline_media::{AmdConfig, AmdVerdict, CallHandle, LegId, MediaEvent};
use hotline_model::{EndReason, EventKind, InteractionId};
use hotline_sip::calls::{EndReason as SipEnd, LegEvent};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::Shared;
use super::shell::{Answered, answer_media, log, place_call, run_session, sleep_opt};

/// How long the detector may take after the answer before the call is taken as a person's.
const AMD_LIMIT: Duration = Duration::from_secs(6);
/// How long a message may play.
const MESSAGE_LIMIT: Duration = Duration::from_secs(60);
/// How long an answering machine's greeting may go on before the message is left anyway.
const GREETING_LIMIT: Duration = Duration::from_secs(30);

/// One call to place.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub campaign: String,
    pub call: CallId,
    pub contact: u64,
    pub phone: String,
    pub caller_id: String,
    /// Ring at most this long (the dialler also cancels by [`Attempt`]'s cancel channel).
    pub ring: Duration,
    /// Run answering-machine detection on the answer.
    pub amd: bool,
    /// The language of the campaign's messages.
    pub lang: Lang,
    /// The message for a person nobody can take.
    pub abandon_message: String,
}

/// What the dialler says to do with an answered call.
#[derive(Debug, Clone, PartialEq)]
pub enum Instruction {
    /// Wait, on hold, for an agent of `queue` (for `agent` first: the agent who chose to
    /// dial it in preview).
    Connect {
        queue: String,
        priority: i32,
        agent: Option<String>,
    },
    /// Run this flow (agentless campaigns).
    RunFlow(String),
    /// Play this prompt now and hang up (a person answered and no agent is free).
    Abandon(String),
    /// Wait for the end of the machine's greeting, play this prompt and hang up.
    LeaveMessage(String),
    /// Hang up.
    HangUp,
}

/// What an attempt tells the dialler.
#[derive(Debug)]
pub enum Report {
    /// The outcome; for an answered call, the dialler answers on `reply`.
    Outcome {
        campaign: String,
        call: CallId,
        interaction: InteractionId,
        outcome: Outcome,
        reply: oneshot::Sender<Instruction>,
    },
    /// The call is over (its agent or flow is done with it).
    Ended { campaign: String, call: CallId },
}

/// Places one campaign call and follows it to its end.
pub async fn run_attempt(
    shared: Arc<Shared>,
    attempt: Attempt,
    mut cancel: oneshot::Receiver<()>,
    reports: mpsc::UnboundedSender<Report>,
) {
    let id = InteractionId::new();
    let ended = |reason| EventKind::Ended { reason };
    let dialled = EventKind::Dialled {
        campaign: attempt.campaign.clone(),
        contact: attempt.contact,
        to: attempt.phone.clone(),
        caller_id: attempt.caller_id.clone(),
    };
    let report = |outcome, reply| Report::Outcome {
        campaign: attempt.campaign.clone(),
        call: attempt.call,
        interaction: id,
        outcome,
        reply,
    };
    let done = || Report::Ended {
        campaign: attempt.campaign.clone(),
        call: attempt.call,
    };
    if let Err(e) = log(&shared, id, dialled).await {
        warn!(error = %e, "cannot log a campaign's dial; not dialled");
        let (tx, _) = oneshot::channel();
        let _ = reports.send(report(Outcome::Failed, tx));
        let _ = reports.send(done());
        return;
    }
    if let Ok(Some(c)) = shared.store.customer_by_phone(&attempt.phone).await {
        let _ = log(
            &shared,
            id,
            EventKind::CustomerIdentified { customer: c.id },
        )
        .await;
    }
    let routes = shared.routes();
    let (media, mut media_events) = shared.media.spawn_call();
    let outcome_event = |outcome: &str, detail: Option<String>| EventKind::DialOutcome {
        outcome: outcome.to_string(),
        detail,
    };
    let placed = place_call(
        &shared,
        &routes,
        &media,
        id,
        &attempt.phone,
        attempt.caller_id.clone(),
    )
    .await;
    let mut dial = match placed {
        Ok(d) => d,
        Err(why) => {
            let _ = log(&shared, id, outcome_event("failed", Some(why))).await;
            let _ = log(&shared, id, ended(EndReason::Error)).await;
            let (tx, _) = oneshot::channel();
            let _ = reports.send(report(Outcome::Failed, tx));
            let _ = reports.send(done());
            let _ = media.close();
            return;
        }
    };
    info!(interaction = %id, campaign = %attempt.campaign, to = %attempt.phone, "campaign call placed");
    // Ringing, until an answer, a refusal, or the dialler's (or our own) ring timeout.
    // The phone rings at least `ring` from the INVITE on, however late the dialler's word
    // to give up comes or however early (it counts from its decision to dial).
    let invited = tokio::time::Instant::now();
    let ring_limit = tokio::time::sleep(attempt.ring + Duration::from_secs(5));
    tokio::pin!(ring_limit);
    let mut give_up: Option<tokio::time::Instant> = None;
    let answered = loop {
        let stop = give_up;
        tokio::select! {
            biased;
            ev = dial.leg.next_event() => match ev {
                Some(LegEvent::Answered { sdp }) => {
                    match answer_media(&media, dial.media, dial.peer, &dial.srtp, sdp) {
                        Ok(keys) => break Ok(keys),
                        Err(why) => break Err((Outcome::Failed, why.to_string(), true)),
                    }
                }
                Some(LegEvent::Ended(reason)) => {
                    let (outcome, detail) = match reason {
                        SipEnd::Rejected(s @ (486 | 600)) => (Outcome::Busy, format!("{s}")),
                        SipEnd::Rejected(s @ (408 | 480 | 487)) => (Outcome::NoAnswer, format!("{s}")),
                        SipEnd::Timeout => (Outcome::NoAnswer, "timeout".to_string()),
                        SipEnd::Rejected(s) => (Outcome::Failed, format!("{s}")),
                        other => (Outcome::Failed, format!("{other:?}")),
                    };
                    break Err((outcome, detail, false));
                }
                Some(_) => {}
                None => break Err((Outcome::Failed, "the call was lost".to_string(), false)),
            },
            _ = &mut cancel, if give_up.is_none() => {
                give_up = Some((invited + attempt.ring).max(tokio::time::Instant::now()));
            }
            _ = sleep_opt(stop) => break Err((Outcome::NoAnswer, "rang out".to_string(), true)),
            _ = &mut ring_limit => break Err((Outcome::NoAnswer, "rang out".to_string(), true)),
        }
    };
    let keys = match answered {
        Ok(keys) => keys,
        Err((outcome, detail, hang_up)) => {
            if hang_up {
                let _ = dial.leg.hangup().await;
            }
            let _ = log(&shared, id, outcome_event(outcome.as_str(), Some(detail))).await;
            let reason = if outcome == Outcome::Failed {
                EndReason::Error
            } else {
                EndReason::Rejected
            };
            let _ = log(&shared, id, ended(reason)).await;
            let (tx, _) = oneshot::channel();
            let _ = reports.send(report(outcome, tx));
            let _ = reports.send(done());
            let _ = media.close();
            return;
        }
    };
    // A person or a machine?
    let (outcome, detail) = if attempt.amd {
        let _ = media.start_amd(dial.media, AmdConfig::default());
        match wait_amd(&mut media_events, dial.media, &mut dial.leg, AMD_LIMIT).await {
            Some((AmdVerdict::Machine, why)) => (Outcome::Machine, format!("machine: {why}")),
            Some((verdict, why)) => (Outcome::Live, format!("{}: {why}", verdict.as_str())),
            None => {
                // The called person hung up while the detector listened.
                let _ = log(
                    &shared,
                    id,
                    outcome_event("no_answer", Some("hung up at once".into())),
                )
                .await;
                let _ = log(&shared, id, ended(EndReason::CallerHangup)).await;
                let (tx, _) = oneshot::channel();
                let _ = reports.send(report(Outcome::NoAnswer, tx));
                let _ = reports.send(done());
                let _ = media.close();
                return;
            }
        }
    } else {
        (Outcome::Live, "not analysed".to_string())
    };
    let _ = log(&shared, id, outcome_event(outcome.as_str(), Some(detail))).await;
    let (tx, rx) = oneshot::channel();
    let _ = reports.send(report(outcome, tx));
    // The dialler answers at once; should it not, a person hears the message rather than
    // silence.
    let instruction = tokio::time::timeout(Duration::from_secs(1), rx)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_else(|| match outcome {
            Outcome::Live => {
                warn!(interaction = %id, "no word from the dialler; the message is played");
                Instruction::Abandon(attempt.abandon_message.clone())
            }
            _ => Instruction::HangUp,
        });
    debug!(interaction = %id, ?instruction, "campaign call answered");
    match instruction {
        Instruction::Connect {
            queue,
            priority,
            agent,
        } => {
            let route = match agent {
                Some(extension) => crate::numbers::Route::Agent { extension, queue },
                None => crate::numbers::Route::Queue { queue, priority },
            };
            let parts = (dial, keys, media.clone(), media_events);
            hand_over(&shared, routes, id, &attempt, route, parts).await;
        }
        Instruction::RunFlow(flow) => {
            let route = crate::numbers::Route::Flow(flow);
            let parts = (dial, keys, media.clone(), media_events);
            hand_over(&shared, routes, id, &attempt, route, parts).await;
        }
        Instruction::Abandon(prompt) => {
            let heard = say_and_hang_up(
                &shared,
                id,
                &attempt,
                (&media, &mut media_events, &dial),
                "campaign.abandon_message",
                &prompt,
            )
            .await;
            let reason = if heard {
                EndReason::Abandoned
            } else {
                EndReason::CallerHangup
            };
            let _ = log(&shared, id, ended(reason)).await;
        }
        Instruction::LeaveMessage(prompt) => {
            // The end of the greeting: the detector again, listening for the silence after
            // it (the beep is short), however long the greeting is.
            let _ = media.start_amd(
                dial.media,
                AmdConfig {
                    initial_silence_ms: 1000,
                    greeting_ms: GREETING_LIMIT.as_millis() as u32,
                    total_analysis_ms: GREETING_LIMIT.as_millis() as u32,
                    max_words: u32::MAX,
                    ..AmdConfig::default()
                },
            );
            let _ = wait_amd(
                &mut media_events,
                dial.media,
                &mut dial.leg,
                GREETING_LIMIT + Duration::from_secs(1),
            )
            .await;
            say_and_hang_up(
                &shared,
                id,
                &attempt,
                (&media, &mut media_events, &dial),
                "campaign.message_left",
                &prompt,
            )
            .await;
            let _ = log(&shared, id, ended(EndReason::Voicemail)).await;
        }
        Instruction::HangUp => {
            let _ = dial.leg.hangup().await;
            let _ = log(&shared, id, ended(EndReason::Other)).await;
        }
    }
    let _ = media.close();
    let _ = reports.send(done());
}

/// Logs `step`, plays `prompt` to its end and hangs up; whether it was heard to the end.
async fn say_and_hang_up(
    shared: &Shared,
    id: InteractionId,
    attempt: &Attempt,
    (media, events, dial): (
        &CallHandle,
        &mut mpsc::UnboundedReceiver<MediaEvent>,
        &super::shell::DialLeg,
    ),
    step: &str,
    prompt: &str,
) -> bool {
    // Played first, logged after: the log never holds the message up.
    let started = start_playing(shared, media, dial.media, attempt.lang, prompt);
    let _ = log(
        shared,
        id,
        EventKind::FlowStep {
            step: step.into(),
            detail: Some(prompt.to_string()),
        },
    )
    .await;
    let heard = started && played_to_end(events, dial.media).await;
    let _ = dial.leg.hangup().await;
    heard
}

/// The answered call becomes an ordinary session (queue or flow) with the called person as
/// the caller.
async fn hand_over(
    shared: &Arc<Shared>,
    routes: Arc<super::Routes>,
    id: InteractionId,
    attempt: &Attempt,
    route: crate::numbers::Route,
    (dial, keys, media, media_events): (
        super::shell::DialLeg,
        Option<hotline_media::srtp::SrtpKeys>,
        CallHandle,
        mpsc::UnboundedReceiver<MediaEvent>,
    ),
) {
    let answered = Answered {
        from: attempt.phone.clone(),
        to: attempt.caller_id.clone(),
        route,
        leg: dial.leg,
        peer: dial.peer,
        leg_media: dial.media,
        srtp: keys,
        codec: hotline_media::Codec::Pcmu,
        media,
        media_events,
    };
    if let Err(e) = run_session(shared.clone(), routes, id, answered).await {
        warn!(interaction = %id, error = %e, "campaign call failed");
        let _ = log(
            shared,
            id,
            EventKind::Ended {
                reason: EndReason::Error,
            },
        )
        .await;
    }
}

/// The detector's verdict and its cause, or `None` if the leg ended first. A detector that
/// says nothing in time is taken as unsure.
async fn wait_amd(
    events: &mut mpsc::UnboundedReceiver<MediaEvent>,
    leg: LegId,
    sip: &mut hotline_sip::calls::Leg,
    within: Duration,
) -> Option<(AmdVerdict, String)> {
    let limit = tokio::time::sleep(within);
    tokio::pin!(limit);
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(MediaEvent::Amd { leg: l, decision }) if l == leg => {
                    return Some((decision.verdict, format!("{:?}", decision.cause)));
                }
                Some(_) => {}
                None => return None,
            },
            ev = sip.next_event() => match ev {
                Some(LegEvent::Ended(_)) | None => return None,
                Some(_) => {}
            },
            _ = &mut limit => return Some((AmdVerdict::Unsure, "no decision in time".into())),
        }
    }
}

/// Starts a prompt; false if it is missing or the media is gone.
fn start_playing(
    shared: &Shared,
    media: &CallHandle,
    leg: LegId,
    lang: Lang,
    prompt: &str,
) -> bool {
    let p = match shared.prompts.get(lang, prompt) {
        Ok(p) => p,
        Err(e) => {
            warn!(prompt, error = %e, "campaign message missing");
            return false;
        }
    };
    media.play(leg, vec![p], false, false).is_ok()
}

/// Waits for the end of what plays on `leg`; false if the media ended first.
async fn played_to_end(events: &mut mpsc::UnboundedReceiver<MediaEvent>, leg: LegId) -> bool {
    let limit = tokio::time::sleep(MESSAGE_LIMIT);
    tokio::pin!(limit);
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(MediaEvent::PlaybackFinished { leg: l, interrupted }) if l == leg => {
                    return !interrupted;
                }
                Some(_) => {}
                None => return false,
            },
            _ = &mut limit => return false,
        }
    }
}
