//! The session's shell: runs one call's [`Call`] core against the world. It answers the
//! caller, turns SIP leg events, media events, router notices and API requests into
//! [`Input`]s, and carries out each [`Command`] in order: the log (never waiting for the
//! disk), the router, the agents' phones, calls out, media and recordings. The answer to a
//! command that has one (queued, looked up, rung or not) goes straight back into the core.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hotline_acd::ContactId;
use hotline_flow::{LookupBy, PromptItem};
use hotline_media::player::{Lang, Prompt, estimated_wait_names, number_names};
use hotline_media::srtp::{MasterKey, SrtpKeys};
use hotline_media::{CallHandle, LegId, LegParams, MediaEvent};
use hotline_model::{EndReason, EventKind, InteractionEvent, InteractionId, Timestamp};
use hotline_sip::calls::{EndReason as SipEnd, IncomingCall, Leg, LegEvent};
use hotline_sip::registrar::Caller;
use hotline_sip::sdes::{self, SrtpPolicy};
use hotline_sip::sdp::{self, LocalCrypto, LocalMedia};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::call::{
    Call, Command, Found, Input, LegRef, Recording, Request, Ring, Setup, SupervisorPhone,
};
use super::phones::{self, Phone, callback_srtp, choose_phone, params_from, rekey};
use super::{SessionCmd, Shared, TransferTarget, refer_user};
use crate::router::{Notice, Refusal, RouterCmd};

/// Runs one incoming call to its end.
pub async fn run_call(shared: Arc<Shared>, call: IncomingCall) {
    // The configuration as it is now is this call's to its end.
    let routes = shared.routes();
    let Some(route) = routes.numbers.route(&call.to) else {
        info!(from = %call.from, to = %call.to, source = %call.source, caller = ?call.caller, "call refused: 404, the number dialled is no service number, extension or direct number of this centre");
        let _ = call.leg.reject(404);
        return;
    };
    let id = InteractionId::new();
    let trunk = match &call.caller {
        Caller::Trunk(t) => Some(t.clone()),
        Caller::Agent(a) => Some(format!("agent:{a}")),
    };
    let arrived = EventKind::Arrived {
        channel: hotline_model::Channel::Voice,
        from: call.from.clone(),
        to: call.to.clone(),
        trunk,
    };
    // Handed to the log before the caller hears anything (not waiting for the disk).
    if let Err(e) = log(&shared, id, arrived).await {
        warn!(error = %e, "cannot log an arrival; refusing the call");
        let _ = call.leg.reject(503);
        return;
    }
    if let Err(e) = setup_and_run(shared.clone(), routes, id, call, route).await {
        warn!(interaction = %id, error = %e, "call failed");
        let _ = log(
            &shared,
            id,
            EventKind::Ended {
                reason: EndReason::Error,
            },
        )
        .await;
    }
}

/// Hands one event to the log, in order, without waiting for it to be durable.
pub(super) async fn log(shared: &Shared, id: InteractionId, kind: EventKind) -> Result<(), String> {
    shared
        .store
        .submit(vec![
            InteractionEvent::new(id, Timestamp::now(), kind).into(),
        ])
        .await
        .map_err(|e| e.to_string())
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x686f746c696e65);
    h.finish() >> 1
}

/// The core's clock: milliseconds of the monotonic clock since the process started.
fn core_now(t: tokio::time::Instant) -> hotline_flow::Instant {
    static START: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(tokio::time::Instant::now);
    hotline_flow::Instant::from_millis(t.saturating_duration_since(start).as_millis() as u64)
}

fn core_deadline(t: hotline_flow::Instant) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let now_core = core_now(now).as_millis();
    now + Duration::from_millis(t.as_millis().saturating_sub(now_core))
}

pub(super) async fn sleep_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// How an agent's phone is reached: a SIP phone's leg, or a browser phone's call.
enum PhoneLeg {
    Sip(Leg),
    Browser {
        phone: crate::browser::BrowserPhone,
        token: u64,
        /// Where its media connection (ICE, DTLS) and the page's answer stand: the phone
        /// counts as answered only once both are there, so that the agent's talk time and
        /// the caller's "answered" start with audio that flows.
        media: BrowserMedia,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BrowserMedia {
    /// Neither the answer nor the connection yet.
    Waiting,
    /// The page answered; the connection is being made.
    Answered,
    /// Connected before the answer reached the session.
    Connected,
    /// Both: the answer has gone to the core.
    Up,
}

impl BrowserMedia {
    /// The state after the page's answer, and whether the phone now counts as answered.
    fn answered(self) -> (BrowserMedia, bool) {
        match self {
            BrowserMedia::Waiting => (BrowserMedia::Answered, false),
            BrowserMedia::Connected => (BrowserMedia::Up, true),
            other => (other, false),
        }
    }

    /// The state after the media connected, and whether the phone now counts as answered.
    fn connected(self) -> (BrowserMedia, bool) {
        match self {
            BrowserMedia::Waiting => (BrowserMedia::Connected, false),
            BrowserMedia::Answered => (BrowserMedia::Up, true),
            other => (other, false),
        }
    }
}

impl PhoneLeg {
    async fn hangup(&self) -> Result<(), String> {
        match self {
            PhoneLeg::Sip(leg) => leg.hangup().await,
            PhoneLeg::Browser { phone, token, .. } => {
                let _ = phone
                    .tx
                    .send(crate::browser::PhoneMsg::Hangup { token: *token });
                Ok(())
            }
        }
    }

    async fn notify_refer(&self, status: u16) -> Result<(), String> {
        match self {
            PhoneLeg::Sip(leg) => leg.notify_refer(status).await,
            // A browser transfers through the API, never by REFER.
            PhoneLeg::Browser { .. } => Ok(()),
        }
    }
}

/// The leg number of the supervisor's phone on the agent legs' event channel.
const MONITOR_RING: Ring = Ring::MAX;

/// An agent's phone being rung or talking (or a supervisor's, monitoring).
struct AgentPhone {
    ext: String,
    /// Where the agent's signalling goes: its phone (or the NAT in front of it).
    peer: IpAddr,
    leg: PhoneLeg,
    media: LegId,
    /// The phone's SRTP policy, and hotline's key offered to it (tag 1), if any.
    srtp: (SrtpPolicy, Option<MasterKey>),
    /// The leg's SRTP keys once answered (kept across re-INVITEs), if it is encrypted.
    keys: Option<SrtpKeys>,
}

/// A call hotline places: a callback's customer, or a transfer's outside party.
pub(super) struct DialLeg {
    pub leg: Leg,
    pub media: LegId,
    pub peer: IpAddr,
    pub srtp: (SrtpPolicy, Option<MasterKey>),
    keys: Option<SrtpKeys>,
    callback: bool,
}

struct Shell {
    shared: Arc<Shared>,
    /// The configuration this call started with (flows, trunk), kept to its end.
    routes: Arc<super::Routes>,
    id: InteractionId,
    contact: ContactId,
    caller: Leg,
    /// Where the caller's signalling comes from (a trunk, a phone, its NAT).
    caller_peer: IpAddr,
    caller_media: LegId,
    /// The caller's SRTP keys (kept across re-INVITEs), if the leg is encrypted.
    caller_srtp: Option<SrtpKeys>,
    /// The caller's G.711 law: what a browser phone is offered, so nothing is transcoded.
    caller_codec: hotline_media::Codec,
    caller_live: bool,
    media: CallHandle,
    agents: HashMap<Ring, AgentPhone>,
    agent_events: mpsc::UnboundedSender<(Ring, Option<LegEvent>)>,
    dial: Option<DialLeg>,
    /// The phone of the supervisor monitoring the call, and the supervisor.
    monitor: Option<(AgentPhone, String)>,
    notices: mpsc::UnboundedSender<Notice>,
    lang: Lang,
    /// Events kept for the next append (see [`Command::Note`]).
    pending: Vec<hotline_model::Event>,
    /// Recordings made so far (the first is `<id>.wav`).
    recordings: u32,
    replies: HashMap<u64, oneshot::Sender<Result<(), String>>>,
    next_request: u64,
}

async fn setup_and_run(
    shared: Arc<Shared>,
    routes: Arc<super::Routes>,
    id: InteractionId,
    call: IncomingCall,
    route: crate::numbers::Route,
) -> Result<(), String> {
    let IncomingCall {
        from,
        to,
        offer,
        leg,
        srtp,
        source,
        admission: _admission,
        ..
    } = call;
    let rejected = EventKind::Ended {
        reason: EndReason::Rejected,
    };
    let offer = match offer {
        Ok(o) => o,
        Err(e) => {
            debug!(error = %e, "unacceptable offer");
            let _ = leg.reject(488);
            return log(&shared, id, rejected).await;
        }
    };
    let port = shared.media.bind_leg().await.map_err(|e| e.to_string())?;
    // An encrypted leg: hotline answers with a key of its own under the caller's tag.
    let keys = match srtp {
        Some(remote) => Some((MasterKey::random()?, remote)),
        None => None,
    };
    let local = LocalMedia {
        address: shared.calls.media_address(source.ip()),
        port: port.local_addr().port(),
        session_id: rand_id(),
        version: 1,
        crypto: keys.as_ref().map(|(k, r)| LocalCrypto {
            tag: r.tag,
            inline: k.to_inline(),
            savp: true,
        }),
    };
    let Ok(negotiated) = sdp::answer(&offer, &local) else {
        let _ = leg.reject(488);
        return log(&shared, id, rejected).await;
    };
    let (media, media_events) = shared.media.spawn_call();
    let mut caller_params = params_from(&offer, negotiated.codec, source.ip());
    caller_params.srtp = keys.map(|(local, remote)| SrtpKeys {
        local,
        remote: MasterKey::from_bytes(&remote.key),
    });
    let caller_srtp = caller_params.srtp.clone();
    let caller_media = media
        .add_leg(port, caller_params)
        .await
        .map_err(|e| e.to_string())?;
    leg.answer(local, negotiated.sdp)?;
    run_session(
        shared,
        routes,
        id,
        Answered {
            from,
            to,
            route,
            leg,
            peer: source.ip(),
            leg_media: caller_media,
            srtp: caller_srtp,
            codec: phones::sip_to_media_codec(negotiated.codec),
            media,
            media_events,
        },
    )
    .await
}

/// A caller's leg that is up, with its media: an incoming call hotline answered, or a
/// campaign's call the called person answered.
pub(super) struct Answered {
    pub from: String,
    pub to: String,
    /// The flow that answers, or the queue or agent the call waits for.
    pub route: crate::numbers::Route,
    pub leg: Leg,
    pub peer: IpAddr,
    pub leg_media: LegId,
    pub srtp: Option<SrtpKeys>,
    pub codec: hotline_media::Codec,
    pub media: CallHandle,
    pub media_events: mpsc::UnboundedReceiver<MediaEvent>,
}

/// Runs the session of a caller whose leg is up to its end.
pub(super) async fn run_session(
    shared: Arc<Shared>,
    routes: Arc<super::Routes>,
    id: InteractionId,
    answered: Answered,
) -> Result<(), String> {
    let Answered {
        from,
        to,
        route,
        leg,
        peer,
        leg_media: caller_media,
        srtp: caller_srtp,
        codec: caller_codec,
        media,
        media_events,
    } = answered;
    let now = core_now(tokio::time::Instant::now());
    let resolver_shared = shared.clone();
    let setup = Setup {
        from: from.clone(),
        to: to.clone(),
        route,
        flows: routes.flows.clone(),
        resolve: Arc::new(move |to: &str| super::destination(&resolver_shared, to)),
        senior_skill: shared.senior_skill.clone(),
        can_call_out: routes.outbound.is_some(),
        fault_notice: shared.fault_notice.load(Ordering::Relaxed),
        wall_clock: chrono::Utc::now(),
    };
    let (notices_tx, notices) = mpsc::unbounded_channel();
    let (agent_tx, agent_rx) = mpsc::unbounded_channel();
    let (cmd_tx, commands) = mpsc::unbounded_channel();
    let mut shell = Shell {
        contact: ContactId(shared.next_contact.fetch_add(1, Ordering::Relaxed)),
        shared,
        routes,
        id,
        caller: leg,
        caller_peer: peer,
        caller_media,
        caller_srtp,
        caller_codec,
        caller_live: true,
        media,
        agents: HashMap::new(),
        agent_events: agent_tx,
        dial: None,
        monitor: None,
        notices: notices_tx,
        lang: Lang::Zh,
        pending: Vec::new(),
        recordings: 0,
        replies: HashMap::new(),
        next_request: 0,
    };
    info!(interaction = %id, %from, %to, "call answered");
    shell.shared.sessions.lock().insert(id, cmd_tx);
    let result = match Call::new(setup, now) {
        Ok(mut core) => {
            shell
                .drive(&mut core, media_events, notices, agent_rx, commands)
                .await;
            Ok(())
        }
        Err(e) => {
            let _ = shell.caller.hangup().await;
            Err(e)
        }
    };
    // The id may have changed (a callback is an interaction of its own).
    shell.shared.sessions.lock().remove(&shell.id);
    shell.shared.quality.end(shell.id, None);
    if shell.id != id {
        shell.shared.quality.end(id, None);
    }
    for (_, a) in shell.agents.drain() {
        tokio::spawn(async move {
            let _ = a.leg.hangup().await;
        });
    }
    shell.drop_monitor();
    let _ = shell.media.close();
    result
}

impl Shell {
    async fn drive(
        &mut self,
        core: &mut Call,
        mut media_events: mpsc::UnboundedReceiver<MediaEvent>,
        mut notices: mpsc::UnboundedReceiver<Notice>,
        mut agent_events: mpsc::UnboundedReceiver<(Ring, Option<LegEvent>)>,
        mut commands: mpsc::UnboundedReceiver<SessionCmd>,
    ) {
        self.run_commands(core).await;
        let mut media_live = true;
        while !core.is_over() {
            let deadline = core.poll_timeout().map(core_deadline);
            let caller_live = self.caller_live;
            let input = tokio::select! {
                ev = self.caller.next_event(), if caller_live => self.caller_input(ev),
                ev = media_events.recv(), if media_live => match ev {
                    Some(ev) => self.media_input(ev),
                    None => {
                        media_live = false;
                        Some(Input::MediaLost)
                    }
                },
                n = notices.recv() => n.map(Input::Notice),
                c = commands.recv() => c.and_then(|c| self.request(c)),
                ev = agent_events.recv() => match ev {
                    Some((ring, ev)) => self.agent_input(ring, ev),
                    None => None,
                },
                ev = next_dial_event(&mut self.dial) => self.dial_input(ev),
                _ = sleep_opt(deadline) => {
                    core.handle_timeout(core_now(tokio::time::Instant::now()));
                    None
                },
            };
            if let Some(input) = input {
                core.handle(core_now(tokio::time::Instant::now()), input);
            }
            self.run_commands(core).await;
        }
    }

    /// Carries out the core's commands in order; an answer goes straight back in.
    async fn run_commands(&mut self, core: &mut Call) {
        while let Some(cmd) = core.poll_command() {
            if let Some(input) = self.execute(cmd).await {
                core.handle(core_now(tokio::time::Instant::now()), input);
            }
        }
    }

    fn caller_input(&mut self, ev: Option<LegEvent>) -> Option<Input> {
        let Some(ev) = ev else {
            self.caller_live = false;
            return Some(Input::CallerGone);
        };
        match ev {
            LegEvent::Dtmf(d) => Some(Input::CallerDigit(d)),
            LegEvent::Hold(on) => Some(Input::CallerHold(on)),
            LegEvent::MediaChanged(s) => {
                remedia(
                    &self.media,
                    self.caller_media,
                    self.caller_peer,
                    &mut self.caller_srtp,
                    &s,
                );
                None
            }
            LegEvent::Ended(_) => {
                self.caller_live = false;
                Some(Input::CallerGone)
            }
            LegEvent::SessionExpired => Some(Input::CallerExpired),
            LegEvent::Refer(target) => {
                debug!(%target, "caller asked for a transfer; ignored");
                None
            }
            LegEvent::Confirmed | LegEvent::Ringing | LegEvent::Answered { .. } => None,
        }
    }

    fn leg_ref(&self, leg: LegId) -> Option<LegRef> {
        if leg == self.caller_media {
            return Some(LegRef::Caller);
        }
        if let Some((r, _)) = self.agents.iter().find(|(_, a)| a.media == leg) {
            return Some(LegRef::Agent(*r));
        }
        if self.monitor.as_ref().is_some_and(|(m, _)| m.media == leg) {
            return Some(LegRef::Monitor);
        }
        self.dial
            .as_ref()
            .filter(|d| d.media == leg)
            .map(|_| LegRef::Dial)
    }

    fn media_input(&mut self, ev: MediaEvent) -> Option<Input> {
        match ev {
            MediaEvent::Dtmf { leg, digit, .. } if leg == self.caller_media => {
                Some(Input::CallerDigit(digit.as_char()))
            }
            MediaEvent::PlaybackFinished { leg, .. } if leg == self.caller_media => {
                Some(Input::PlaybackFinished)
            }
            MediaEvent::Agitation { leg, window } if leg == self.caller_media => {
                Some(Input::Agitation {
                    score: window.score,
                    crossed: window.crossed,
                })
            }
            MediaEvent::Quality { leg, report } => Some(Input::Quality {
                leg: self.leg_ref(leg)?,
                sample: crate::quality::LegSample::from_report(&report),
            }),
            MediaEvent::Browser {
                leg,
                state: hotline_media::BrowserState::Connected,
            } => {
                // A browser phone's media is up: with the page's answer, it is answered.
                let monitor = self.monitor.as_mut().filter(|(m, _)| m.media == leg);
                if let Some((m, _)) = monitor {
                    let PhoneLeg::Browser { media, .. } = &mut m.leg else {
                        return None;
                    };
                    let (next, up) = media.connected();
                    *media = next;
                    return up.then_some(Input::MonitorAnswered);
                }
                let (ring, a) = self.agents.iter_mut().find(|(_, a)| a.media == leg)?;
                let PhoneLeg::Browser { media, .. } = &mut a.leg else {
                    return None;
                };
                let (next, up) = media.connected();
                *media = next;
                up.then_some(Input::AgentAnswered { ring: *ring })
            }
            MediaEvent::Browser {
                leg,
                state: hotline_media::BrowserState::Disconnected,
            } => {
                // A browser phone whose connection is gone for good: its leg ends (the page,
                // if still there, is told).
                let ring = self
                    .agents
                    .iter()
                    .find(|(_, a)| a.media == leg)
                    .map(|(r, a)| (*r, a))
                    .or_else(|| {
                        self.monitor
                            .as_ref()
                            .filter(|(m, _)| m.media == leg)
                            .map(|(m, _)| (MONITOR_RING, m))
                    });
                if let Some((ring, a)) = ring {
                    if let PhoneLeg::Browser { phone, token, .. } = &a.leg {
                        let _ = phone
                            .tx
                            .send(crate::browser::PhoneMsg::Hangup { token: *token });
                    }
                    warn!(interaction = %self.id, "a browser phone's media connection is lost");
                    let _ = self
                        .agent_events
                        .send((ring, Some(LegEvent::Ended(SipEnd::Timeout))));
                }
                None
            }
            MediaEvent::Inactive { leg } => Some(Input::Silent {
                leg: self.leg_ref(leg)?,
            }),
            MediaEvent::Active { leg } => Some(Input::Active {
                leg: self.leg_ref(leg)?,
            }),
            MediaEvent::RecordingFailed { path, error } => {
                warn!(interaction = %self.id, path = %path.display(), %error, "recording failed");
                Some(Input::RecordingFailed {
                    path: path.display().to_string(),
                    error,
                })
            }
            _ => None,
        }
    }

    fn request(&mut self, cmd: SessionCmd) -> Option<Input> {
        let (request, reply) = match cmd {
            SessionCmd::Quality { leg, sample } => {
                return Some(Input::ReportedQuality { leg, sample });
            }
            SessionCmd::LegQuality { media, sample } => {
                return Some(Input::LegReport {
                    leg: self.leg_ref(media)?,
                    sample,
                });
            }
            SessionCmd::Hangup { reply } => (Request::Hangup, reply),
            SessionCmd::Escalate { reason, reply } => (Request::Escalate { reason }, reply),
            SessionCmd::Transfer { to, reply } => (Request::Transfer(to), reply),
            SessionCmd::Abusive { reply } => (Request::Abusive, reply),
            SessionCmd::Shutdown { reply } => (Request::Shutdown, reply),
            SessionCmd::PauseRecording { pause, reply } => (Request::PauseRecording(pause), reply),
            SessionCmd::Monitor {
                supervisor,
                phone,
                mode,
                reply,
            } => (
                Request::Monitor {
                    supervisor,
                    phone,
                    mode,
                },
                reply,
            ),
            SessionCmd::MonitorMode {
                supervisor,
                mode,
                reply,
            } => (Request::MonitorMode { supervisor, mode }, reply),
            SessionCmd::MonitorStop { supervisor, reply } => {
                (Request::MonitorStop { supervisor }, reply)
            }
            SessionCmd::TakeOver { supervisor, reply } => (Request::TakeOver { supervisor }, reply),
        };
        let id = self.next_request;
        self.next_request += 1;
        self.replies.insert(id, reply);
        Some(Input::Api { id, request })
    }

    fn agent_input(&mut self, ring: Ring, ev: Option<LegEvent>) -> Option<Input> {
        if ring == MONITOR_RING {
            return self.monitor_input(ev);
        }
        let a = self.agents.get_mut(&ring)?;
        let Some(ev) = ev else {
            // The leg is gone without an end event.
            let a = self.agents.remove(&ring)?;
            let _ = self.media.remove_leg(a.media);
            return Some(Input::AgentGone { ring });
        };
        match ev {
            LegEvent::Answered { .. } if matches!(a.leg, PhoneLeg::Browser { .. }) => {
                // The browser's answer was taken by the media engine before this event; the
                // phone counts as answered once its media connects too.
                let PhoneLeg::Browser { media, .. } = &mut a.leg else {
                    return None;
                };
                let (next, up) = media.answered();
                *media = next;
                up.then_some(Input::AgentAnswered { ring })
            }
            LegEvent::Answered { sdp } => {
                // The phone's key, if hotline offered one: a leg whose policy it breaks ends.
                match answer_media(&self.media, a.media, a.peer, &a.srtp, sdp) {
                    Ok(keys) => a.keys = keys,
                    Err(why) => {
                        warn!(agent = %a.ext, why, "agent's answer refused");
                        return Some(Input::AgentFailed {
                            ring,
                            reason: why.to_string(),
                            refusal: Refusal::Missed,
                        });
                    }
                }
                Some(Input::AgentAnswered { ring })
            }
            LegEvent::Ended(reason) => {
                // The core knows whether the agent had answered (then the agent left).
                let media = a.media;
                self.agents.remove(&ring);
                let _ = self.media.remove_leg(media);
                let (reason, refusal) = match reason {
                    // Busy and decline are the agent's choice; anything else (408, 480,
                    // 5xx) is a phone that did not take the call.
                    SipEnd::Rejected(code @ (486 | 600 | 603)) => {
                        (format!("rejected {code}"), Refusal::Declined)
                    }
                    SipEnd::Rejected(code) => (format!("rejected {code}"), Refusal::Missed),
                    SipEnd::Timeout => ("no answer".to_string(), Refusal::Missed),
                    other => (format!("{other:?}"), Refusal::Missed),
                };
                debug!(interaction = %self.id, ring, %reason, "an agent's leg ended");
                Some(Input::AgentFailed {
                    ring,
                    reason,
                    refusal,
                })
            }
            LegEvent::Refer(target) => {
                let to = refer_user(&target).and_then(|u| TransferTarget::resolve(&self.shared, u));
                if to.is_none() {
                    debug!(%target, "transfer to an unknown target");
                }
                Some(Input::AgentRefer { ring, target: to })
            }
            LegEvent::Hold(on) => Some(Input::AgentHold { ring, on }),
            LegEvent::MediaChanged(s) => {
                remedia(&self.media, a.media, a.peer, &mut a.keys, &s);
                None
            }
            LegEvent::SessionExpired => Some(Input::AgentExpired { ring }),
            LegEvent::Dtmf(digit) => Some(Input::AgentDigit { ring, digit }),
            LegEvent::Ringing | LegEvent::Confirmed => None,
        }
    }

    /// What the supervisor's phone did.
    fn monitor_input(&mut self, ev: Option<LegEvent>) -> Option<Input> {
        let (m, _) = self.monitor.as_mut()?;
        match ev {
            // A browser's answer was taken by the media engine before this event.
            Some(LegEvent::Answered { .. }) if matches!(m.leg, PhoneLeg::Browser { .. }) => {
                let PhoneLeg::Browser { media, .. } = &mut m.leg else {
                    return None;
                };
                let (next, up) = media.answered();
                *media = next;
                up.then_some(Input::MonitorAnswered)
            }
            Some(LegEvent::Answered { sdp }) => {
                match answer_media(&self.media, m.media, m.peer, &m.srtp, sdp) {
                    Ok(keys) => m.keys = keys,
                    Err(why) => {
                        warn!(interaction = %self.id, why, "the supervisor's answer refused");
                        self.drop_monitor();
                        return Some(Input::MonitorGone);
                    }
                }
                Some(Input::MonitorAnswered)
            }
            Some(LegEvent::MediaChanged(s)) => {
                remedia(&self.media, m.media, m.peer, &mut m.keys, &s);
                None
            }
            Some(LegEvent::Ended(_)) | None => {
                self.drop_monitor();
                Some(Input::MonitorGone)
            }
            Some(_) => None,
        }
    }

    /// Hangs the supervisor's phone up (if still on), drops its media, and frees the
    /// supervisor for another call.
    fn drop_monitor(&mut self) {
        if let Some((m, supervisor)) = self.monitor.take() {
            let _ = self.media.remove_leg(m.media);
            let mut monitors = self.shared.monitors.lock();
            if monitors.get(&supervisor) == Some(&self.id) {
                monitors.remove(&supervisor);
            }
            tokio::spawn(async move {
                let _ = m.leg.hangup().await;
            });
        }
    }

    fn dial_input(&mut self, ev: Option<LegEvent>) -> Option<Input> {
        let d = self.dial.as_mut()?;
        match ev {
            Some(LegEvent::Answered { sdp }) => {
                // The far end's key, if hotline offered one: an answer that breaks the
                // trunk's policy ends the call out.
                match answer_media(&self.media, d.media, d.peer, &d.srtp, sdp) {
                    Ok(keys) => d.keys = keys,
                    Err(why) => {
                        warn!(interaction = %self.id, why, "the answer to a call out refused");
                        self.drop_dial();
                        return Some(Input::DialFailed {
                            reason: why.to_string(),
                        });
                    }
                }
                if d.callback
                    && let Some(d) = self.dial.take()
                {
                    // The customer called back is the caller from now on.
                    self.caller = d.leg;
                    self.caller_media = d.media;
                    self.caller_srtp = d.keys;
                    self.caller_peer = d.peer;
                    self.caller_live = true;
                }
                Some(Input::DialAnswered)
            }
            // The core knows whether it was answered (then the outside party left).
            Some(LegEvent::Ended(reason)) => {
                self.drop_dial();
                Some(Input::DialFailed {
                    reason: format!("ended: {reason:?}"),
                })
            }
            None => {
                self.drop_dial();
                Some(Input::DialFailed {
                    reason: "the call out was lost".to_string(),
                })
            }
            Some(LegEvent::Hold(on)) => Some(Input::DialHold(on)),
            Some(LegEvent::SessionExpired) => Some(Input::DialExpired),
            Some(LegEvent::MediaChanged(s)) => {
                remedia(&self.media, d.media, d.peer, &mut d.keys, &s);
                None
            }
            Some(_) => None,
        }
    }

    fn drop_dial(&mut self) {
        if let Some(d) = self.dial.take() {
            let _ = self.media.remove_leg(d.media);
        }
    }

    fn media_of(&self, leg: LegRef) -> Option<LegId> {
        match leg {
            LegRef::Caller => Some(self.caller_media),
            LegRef::Agent(r) => self.agents.get(&r).map(|a| a.media),
            LegRef::Dial => self.dial.as_ref().map(|d| d.media),
            LegRef::Monitor => self.monitor.as_ref().map(|(m, _)| m.media),
        }
    }

    async fn execute(&mut self, cmd: Command) -> Option<Input> {
        match cmd {
            Command::LiveQuality {
                leg,
                sample,
                alert,
                change,
            } => {
                let at = Timestamp::now();
                if let Some(change) = change {
                    self.shared.quality.alerted(crate::quality::AlertEntry {
                        interaction: self.id,
                        leg,
                        kind: match change {
                            crate::quality::AlertChange::Raised => "quality_alert",
                            crate::quality::AlertChange::Cleared => "quality_recovered",
                        },
                        sample,
                        at,
                    });
                }
                self.shared.quality.publish(crate::quality::LiveLeg {
                    interaction: self.id,
                    leg,
                    sample,
                    alert,
                    at,
                });
            }
            Command::Note(kind) => {
                self.pending
                    .push(InteractionEvent::new(self.id, Timestamp::now(), kind).into());
            }
            Command::Log(kind) => {
                // The notes kept since the last append and this event, as one append, in
                // order, without waiting for the disk (only when the log's queue is full
                // does this wait for room, so that no event is lost).
                let mut batch = std::mem::take(&mut self.pending);
                batch.push(InteractionEvent::new(self.id, Timestamp::now(), kind).into());
                if let Err(e) = self.shared.store.submit(batch).await {
                    warn!(interaction = %self.id, error = %e, "cannot log");
                }
            }
            Command::DoNotCall { number } => {
                // With the notes kept, in order; the dialler hears of it from the log.
                let mut batch = std::mem::take(&mut self.pending);
                let mut e = hotline_model::CampaignEvent::new(
                    Timestamp::now(),
                    crate::campaign::DNC,
                    hotline_model::CampaignChange::DncAdded {
                        phone: hotline_model::normalize_phone(&number).unwrap_or(number),
                        source: format!("flow:{}", self.id),
                    },
                );
                e.by = Some("caller".into());
                batch.push(e.into());
                if let Err(e) = self.shared.store.submit(batch).await {
                    warn!(interaction = %self.id, error = %e, "cannot log a do-not-call request");
                }
            }
            Command::NewInteraction => {
                let old = self.id;
                self.id = InteractionId::new();
                // The new interaction's first recording is `<id>.wav`.
                self.recordings = 0;
                let mut sessions = self.shared.sessions.lock();
                if let Some(tx) = sessions.remove(&old) {
                    sessions.insert(self.id, tx);
                }
            }
            Command::Arrive {
                queue,
                priority,
                vip,
                escalate,
                preferred_agent,
                skills,
            } => {
                self.contact = ContactId(self.shared.next_contact.fetch_add(1, Ordering::Relaxed));
                let (done, result) = oneshot::channel();
                let _ = self.shared.router.send(RouterCmd::Arrive {
                    contact: self.contact,
                    queue,
                    priority,
                    vip,
                    escalate,
                    preferred_agent,
                    skills,
                    notify: self.notices.clone(),
                    done,
                });
                let result = result
                    .await
                    .unwrap_or_else(|_| Err("the router has stopped".to_string()));
                return Some(Input::Queued(result));
            }
            Command::Abandon => self.router(RouterCmd::Abandon(self.contact)),
            Command::Reject { agent, refusal } => self.router(RouterCmd::Reject {
                contact: self.contact,
                agent,
                refusal,
            }),
            Command::Answer { ring, agent } => {
                let (done, result) = oneshot::channel();
                self.router(RouterCmd::Answer {
                    contact: self.contact,
                    agent,
                    done,
                });
                let result = result
                    .await
                    .unwrap_or_else(|_| Err("the router has stopped".to_string()));
                return Some(Input::AnswerTaken { ring, result });
            }
            Command::End { agitation, abusive } => self.router(RouterCmd::End {
                contact: self.contact,
                agitation: Some(agitation),
                abusive,
            }),
            Command::KeepPlace => self.router(RouterCmd::Callback(self.contact)),
            Command::RingAgent {
                ring,
                agent,
                caller_id,
            } => {
                if let Err((reason, refusal)) = self.ring(ring, &agent, &caller_id).await {
                    return Some(Input::AgentFailed {
                        ring,
                        reason: reason.to_string(),
                        refusal,
                    });
                }
            }
            Command::HangupAgent { ring } => {
                if let Some(a) = self.agents.remove(&ring) {
                    let _ = self.media.remove_leg(a.media);
                    // A phone that does not answer the CANCEL or BYE never holds the call up.
                    tokio::spawn(async move {
                        let _ = a.leg.hangup().await;
                    });
                }
            }
            Command::NotifyRefer { ring, status } => {
                if let Some(a) = self.agents.get(&ring)
                    && let Err(e) = a.leg.notify_refer(status).await
                {
                    debug!(error = %e, "transfer NOTIFY");
                }
            }
            Command::HangupCaller => {
                self.caller_live = false;
                let _ = tokio::time::timeout(Duration::from_secs(2), self.caller.hangup()).await;
            }
            Command::DropCallerMedia => {
                self.caller_live = false;
                let _ = self.media.remove_leg(self.caller_media);
            }
            Command::Dial {
                number,
                callback,
                caller_id,
            } => {
                return Some(match self.dial(number.clone(), callback, caller_id).await {
                    Ok(()) => Input::DialPlaced { number },
                    Err(why) => Input::DialFailed { reason: why },
                });
            }
            Command::HangupDial => {
                if let Some(d) = self.dial.take() {
                    let _ = self.media.remove_leg(d.media);
                    tokio::spawn(async move {
                        let _ = d.leg.hangup().await;
                    });
                }
            }
            Command::Play {
                prompts,
                language,
                barge_in,
            } => {
                self.lang = if language == "en" { Lang::En } else { Lang::Zh };
                let resolved = self.resolve(&prompts);
                if resolved.is_empty() {
                    return Some(Input::PlaybackFinished);
                }
                let _ = self
                    .media
                    .play(self.caller_media, resolved, false, barge_in);
            }
            Command::SendDigit { leg, digit } => {
                if let (Some(m), Some(d)) =
                    (self.media_of(leg), hotline_media::Digit::from_char(digit))
                {
                    let _ = self.media.send_dtmf(m, d, 160);
                }
            }
            Command::HoldMusic => {
                if let Ok(m) = self.shared.prompts.music("hold") {
                    let _ = self.media.play(self.caller_media, vec![m], true, false);
                }
            }
            Command::StopPlayback => {
                let _ = self.media.stop_playback(self.caller_media);
            }
            Command::Bridge(other) => {
                if let Some(m) = self.media_of(other) {
                    let _ = self.media.bridge(self.caller_media, m);
                }
            }
            Command::Record { what, with } => {
                let path = self.recording_path(&what);
                let with = with.and_then(|l| self.media_of(l));
                return Some(
                    match self
                        .media
                        .start_recording(path.clone(), self.caller_media, with)
                        .await
                    {
                        Ok(_) => Input::RecordingStarted {
                            path: path.display().to_string(),
                        },
                        Err(e) => {
                            warn!(interaction = %self.id, path = %path.display(), error = %e, "cannot record");
                            Input::RecordingFailed {
                                path: path.display().to_string(),
                                error: e.to_string(),
                            }
                        }
                    },
                );
            }
            Command::StopRecording => {
                let _ = self.media.stop_recording();
            }
            Command::PauseRecording(pause) => {
                if let Err(e) = self.media.pause_recording(pause) {
                    warn!(interaction = %self.id, error = %e, pause, "cannot pause the recording");
                }
            }
            Command::Lookup(by) => return Some(Input::LookedUp(self.lookup(by).await)),
            Command::VerifyPin { customer, pin } => {
                return Some(Input::PinChecked(self.verify_pin(&customer, pin).await));
            }
            Command::Reply { id, result } => {
                if let Some(reply) = self.replies.remove(&id) {
                    let _ = reply.send(result);
                }
            }
            Command::RingMonitor {
                supervisor,
                phone,
                caller_id,
            } => {
                return Some(Input::MonitorRung(
                    self.ring_supervisor(supervisor, &phone, &caller_id).await,
                ));
            }
            Command::Mix { agent, mode } => {
                if let (Some(a), Some(m)) = (self.media_of(agent), self.media_of(LegRef::Monitor)) {
                    let _ = self
                        .media
                        .conference(vec![self.caller_media, a, m], monitor_matrix(mode));
                }
            }
            Command::HangupMonitor => self.drop_monitor(),
            Command::RecordWith(leg) => {
                let _ = self.media.set_recording_agent(self.media_of(leg));
            }
        }
        None
    }

    /// Rings the supervisor's phone to monitor the call. The one place that knows the kinds
    /// of phone a supervisor may use.
    async fn ring_supervisor(
        &mut self,
        supervisor: String,
        phone: &SupervisorPhone,
        caller_id: &str,
    ) -> Result<(), String> {
        let rung = match phone {
            SupervisorPhone::Sip { extension } => self
                .ring_phone(MONITOR_RING, extension, caller_id)
                .await
                .map_err(|(why, _)| why.to_string())?,
            SupervisorPhone::Browser { user } => {
                let key = crate::browser::user_phone(user);
                let Some(phone) = self.shared.browser_phones.lookup(&key) else {
                    return Err("the supervisor's browser phone is not open".to_string());
                };
                self.ring_browser(MONITOR_RING, &key, caller_id, phone)
                    .await
                    .map_err(|(why, _)| why.to_string())?
            }
        };
        self.shared
            .monitors
            .lock()
            .insert(supervisor.clone(), self.id);
        self.monitor = Some((rung, supervisor));
        Ok(())
    }

    fn router(&self, cmd: RouterCmd) {
        let _ = self.shared.router.send(cmd);
    }

    /// Rings `ext`'s phone as leg `ring`. Refused: why, and whose doing it was.
    async fn ring(
        &mut self,
        ring: Ring,
        ext: &str,
        caller_id: &str,
    ) -> Result<(), (&'static str, Refusal)> {
        let phone = self.ring_phone(ring, ext, caller_id).await?;
        self.agents.insert(ring, phone);
        Ok(())
    }

    /// Rings the SIP phone registered as `ext` (an agent's, or a supervisor's) as leg
    /// `ring`: its events come on the agent legs' channel under `ring`.
    async fn ring_phone(
        &mut self,
        ring: Ring,
        ext: &str,
        caller_id: &str,
    ) -> Result<AgentPhone, (&'static str, Refusal)> {
        if let Some(phone) = self.shared.browser_phones.lookup(ext) {
            return self.ring_browser(ring, ext, caller_id, phone).await;
        }
        let bindings = self.shared.registrar.lookup(ext, std::time::Instant::now());
        if bindings.is_empty() {
            info!(interaction = %self.id, agent = %ext, "agent offered a call but no phone is registered");
            return Err(("not registered", Refusal::Missed));
        }
        let policy = self.shared.calls.srtp.read().for_agent(ext);
        let Phone {
            binding: b,
            destination,
            transport,
            srtp,
        } = choose_phone(bindings, policy).map_err(|why| {
            info!(agent = %ext, why, "agent not rung");
            (why, Refusal::Missed)
        })?;
        // Through a proxy (a Path), signalling goes to the proxy, media to the phone.
        let phone_ip = b.phone_ip();
        let (local, media, key) = outbound_media(&self.shared, &self.media, phone_ip, srtp)
            .await
            .map_err(|e| {
                warn!(error = %e, "no media for the agent leg");
                ("media", Refusal::Failed)
            })?;
        let options = hotline_sip::calls::DialOptions {
            from_user: caller_id.to_string(),
            route: b.path.clone(),
            ..Default::default()
        };
        match self
            .shared
            .calls
            .dial_with(&b.uri, destination, transport, &options, local)
        {
            Ok(mut leg) => {
                let mut events = leg.take_events();
                let tx = self.agent_events.clone();
                tokio::spawn(async move {
                    while let Some(ev) = events.recv().await {
                        if tx.send((ring, Some(ev))).is_err() {
                            return;
                        }
                    }
                    let _ = tx.send((ring, None));
                });
                Ok(AgentPhone {
                    ext: ext.to_string(),
                    peer: phone_ip,
                    leg: PhoneLeg::Sip(leg),
                    media,
                    srtp: (policy, key),
                    keys: None,
                })
            }
            Err(e) => {
                warn!(error = %e, "cannot call the agent");
                let _ = self.media.remove_leg(media);
                Err(("dial failed", Refusal::Missed))
            }
        }
    }

    /// Rings `ext`'s browser phone as leg `ring`: a WebRTC leg on the media engine, its offer
    /// sent to the page; what the page does comes back as the leg's events.
    async fn ring_browser(
        &mut self,
        ring: Ring,
        ext: &str,
        caller_id: &str,
        phone: crate::browser::BrowserPhone,
    ) -> Result<AgentPhone, (&'static str, Refusal)> {
        let port = self.shared.media.bind_leg().await.map_err(|e| {
            warn!(error = %e, "no media port for the browser phone");
            ("media", Refusal::Failed)
        })?;
        let advertise = self.shared.calls.media_address(phone.ip);
        let local = port.local_addr();
        let (browser, offer) = hotline_media::BrowserLeg::offer(
            local,
            advertise,
            self.caller_codec,
            std::time::Instant::now(),
        )
        .map_err(|e| {
            warn!(error = %e, "no browser leg");
            ("media", Refusal::Failed)
        })?;
        let media = self
            .media
            .add_browser_leg(port, browser, self.caller_codec)
            .await
            .map_err(|e| {
                warn!(error = %e, "no media for the browser phone");
                ("media", Refusal::Failed)
            })?;
        let token = self.shared.browser_phones.token();
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let sent = phone.tx.send(crate::browser::PhoneMsg::Ring {
            token,
            interaction: self.id,
            from: caller_id.to_string(),
            sdp: offer,
            monitor: ring == MONITOR_RING,
            events: events_tx,
        });
        if sent.is_err() {
            let _ = self.media.remove_leg(media);
            return Err(("not registered", Refusal::Missed));
        }
        // The page's answers become the leg's events; its answer SDP goes to the media
        // engine first. A supervisor's page (monitoring) neither holds nor sends keys.
        let monitor = ring == MONITOR_RING;
        let tx = self.agent_events.clone();
        let handle = self.media.clone();
        let page = phone.tx.clone();
        let session = self.shared.sessions.lock().get(&self.id).cloned();
        tokio::spawn(async move {
            use crate::browser::{BrowserEvent, PhoneMsg};
            let mut answered = false;
            while let Some(ev) = events.recv().await {
                let ev = match ev {
                    // Once answered, another answer from the page is ignored.
                    BrowserEvent::Answer(_) if answered => {
                        debug!("a second answer from the browser ignored");
                        continue;
                    }
                    BrowserEvent::Answer(sdp) => match handle.browser_answer(media, sdp).await {
                        Ok(Ok(())) => {
                            answered = true;
                            LegEvent::Answered { sdp: None }
                        }
                        Ok(Err(why)) => {
                            warn!(why, "the browser's answer was refused");
                            let _ = page.send(PhoneMsg::Hangup { token });
                            LegEvent::Ended(SipEnd::Rejected(488))
                        }
                        Err(_) => {
                            let _ = page.send(PhoneMsg::Hangup { token });
                            LegEvent::Ended(SipEnd::LocalHangup)
                        }
                    },
                    BrowserEvent::Decline => LegEvent::Ended(SipEnd::Rejected(603)),
                    BrowserEvent::Hangup => LegEvent::Ended(SipEnd::RemoteHangup),
                    BrowserEvent::Gone => LegEvent::Ended(SipEnd::Rejected(480)),
                    // The browser's own figures of what it receives, for the leg's quality.
                    BrowserEvent::Stats(sample) => {
                        if answered && let Some(session) = &session {
                            let _ = session.send(super::SessionCmd::LegQuality { media, sample });
                        }
                        continue;
                    }
                    BrowserEvent::Hold(_) | BrowserEvent::Dtmf(_) if monitor => continue,
                    BrowserEvent::Hold(on) => LegEvent::Hold(on),
                    BrowserEvent::Dtmf(c) => LegEvent::Dtmf(c),
                };
                let end = matches!(ev, LegEvent::Ended(_));
                if tx.send((ring, Some(ev))).is_err() || end {
                    return;
                }
            }
            let _ = tx.send((ring, None));
        });
        info!(interaction = %self.id, agent = %ext, "browser phone rung");
        Ok(AgentPhone {
            ext: ext.to_string(),
            peer: phone.ip,
            leg: PhoneLeg::Browser {
                phone,
                token,
                media: BrowserMedia::Waiting,
            },
            media,
            srtp: (SrtpPolicy::Off, None),
            keys: None,
        })
    }

    /// Calls `number` out through the trunk (a callback's customer, a transfer's outside
    /// party): the number in E.164, the trunk's caller id, and its credentials.
    async fn dial(&mut self, number: String, callback: bool, to: String) -> Result<(), String> {
        let mut leg = place_call(
            &self.shared,
            &self.routes,
            &self.media,
            self.id,
            &number,
            to,
        )
        .await?;
        leg.callback = callback;
        self.dial = Some(leg);
        Ok(())
    }

    /// Today's directory of recordings (`recordings/YYYY-MM-DD/`, UTC): one directory a day
    /// keeps directories small and makes retention a matter of removing old days.
    fn recording_dir(&self) -> PathBuf {
        let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let dir = self.shared.recordings.join(day);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            warn!(error = %e, dir = %dir.display(), "cannot create the day's recordings directory");
        }
        dir
    }

    fn recording_path(&mut self, what: &Recording) -> PathBuf {
        let name = match what {
            Recording::Call => {
                let n = self.recordings;
                self.recordings += 1;
                match n {
                    0 => format!("{}.wav", self.id),
                    n => format!("{}-{n}.wav", self.id),
                }
            }
            Recording::Voicemail { queue } => format!("{}-voicemail-{queue}.wav", self.id),
        };
        self.recording_dir().join(name)
    }

    /// The customer: by the caller's number (the phone table) or by an account number.
    async fn lookup(&self, by: LookupBy) -> Option<Found> {
        let store = &self.shared.store;
        let found = match &by {
            LookupBy::CallerNumber(n) => store.customer_by_phone(n).await,
            LookupBy::Account(a) => store.customer_by_account(a).await,
        };
        let c = match found {
            Ok(c) => c?,
            Err(e) => {
                warn!(interaction = %self.id, error = %e, "customer lookup failed");
                return None;
            }
        };
        let since =
            Timestamp::from_unix_nanos(Timestamp::now().unix_nanos() - 30 * 86_400 * 1_000_000_000);
        let repeat = store.repeat_complaints(&c.id, since).await.unwrap_or(0) >= 2;
        Some(Found {
            id: c.id.clone(),
            vip: c.vip,
            flow: hotline_flow::Customer {
                id: c.id.to_string(),
                name: c.name,
                vip: c.vip,
                language: c.language,
                repeat_complaint: repeat,
                accounts: c.accounts,
                phones: c.phones,
            },
        })
    }

    /// Checks a keyed PIN against the customer's argon2 hash on file (on the bounded hashing
    /// pool, off the async threads: argon2 is slow on purpose). No hash on file: refused.
    async fn verify_pin(&self, customer: &str, pin: String) -> bool {
        let id = hotline_model::CustomerId::new(customer.to_string());
        let hash = match self.shared.store.customer(&id).await {
            Ok(Some(c)) => c.pin_hash,
            _ => None,
        };
        let Some(hash) = hash else {
            return false;
        };
        crate::hashpool::HashPool::global()
            .verify_waiting(hash, pin.into_bytes())
            .await
    }

    fn resolve(&self, items: &[PromptItem]) -> Vec<Prompt> {
        let lib = &self.shared.prompts;
        let mut names: Vec<String> = Vec::new();
        for item in items {
            match item {
                // The flows' names for the media library's recordings.
                PromptItem::Prompt(n) => names.push(match n.as_str() {
                    "estimated_wait" => "wait_about".to_string(),
                    "fault_notice" => "fault".to_string(),
                    other => other.to_string(),
                }),
                PromptItem::Number(n) => {
                    names.extend(number_names(self.lang, (*n).clamp(0, 999_999) as u32))
                }
                PromptItem::Digits(d) => {
                    for c in d.chars().filter_map(|c| c.to_digit(10)) {
                        names.extend(number_names(self.lang, c));
                    }
                }
                PromptItem::DurationSecs(s) => names.extend(
                    estimated_wait_names(self.lang, (*s).min(86_400) as u32)
                        .into_iter()
                        .skip(1),
                ),
            }
        }
        names
            .iter()
            .filter_map(|n| match lib.get(self.lang, n) {
                Ok(p) => Some(p),
                Err(e) => {
                    warn!(prompt = %n, error = %e, "prompt missing; skipped");
                    None
                }
            })
            .collect()
    }
}

/// Who hears whom among the caller (0), the agent (1) and the supervisor (2).
fn monitor_matrix(mode: hotline_model::MonitorMode) -> hotline_media::mixer::MixMatrix {
    use hotline_media::mixer::MixMatrix;
    match mode {
        hotline_model::MonitorMode::Listen => MixMatrix::listen(3, 2),
        hotline_model::MonitorMode::Whisper => MixMatrix::whisper(3, 2, 1),
        hotline_model::MonitorMode::Barge => MixMatrix::conference(3),
    }
}

/// Calls `number` out through the trunk, presenting `to` as the caller: the leg rings (its
/// events say what becomes of it) with a media leg of `media` waiting for the answer.
pub(super) async fn place_call(
    shared: &Shared,
    routes: &super::Routes,
    media: &CallHandle,
    id: InteractionId,
    number: &str,
    to: String,
) -> Result<DialLeg, String> {
    let Some(dest) = routes.outbound else {
        return Err("no outbound trunk".to_string());
    };
    let (target, options) = match &routes.trunk {
        Some(t) => match t.target(number) {
            Ok(target) => (target, t.dial_options(&to)),
            Err(e) => {
                warn!(interaction = %id, error = %e, "cannot call out");
                return Err("bad number".to_string());
            }
        },
        None => (
            format!("sip:{number}@{dest}"),
            hotline_sip::calls::DialOptions {
                from_user: to,
                ..Default::default()
            },
        ),
    };
    // The trunk's SRTP policy, judged by the transport calls out use (UDP).
    let transport = "udp";
    let policy = match &routes.trunk {
        Some(t) => shared.calls.srtp.read().for_trunk(&t.name),
        None => shared.calls.srtp.read().default,
    };
    let srtp = callback_srtp(policy, transport).map_err(|why| {
        warn!(interaction = %id, why, "not called out");
        why.to_string()
    })?;
    let (local, leg_media, key) = outbound_media(shared, media, dest.ip(), srtp)
        .await
        .map_err(|e| format!("media: {e}"))?;
    match shared
        .calls
        .dial_with(&target, dest, transport, &options, local)
    {
        Ok(leg) => Ok(DialLeg {
            leg,
            media: leg_media,
            peer: dest.ip(),
            srtp: (policy, key),
            keys: None,
            callback: false,
        }),
        Err(e) => {
            warn!(error = %e, "cannot call out");
            let _ = media.remove_leg(leg_media);
            Err("dial failed".to_string())
        }
    }
}

/// A media leg for a call hotline places; its remote end is learnt from the answer.
/// With `srtp` (`Some(savp)`), the leg is encrypted from its first packet and hotline's
/// key is offered (tag 1) and returned.
async fn outbound_media(
    shared: &Shared,
    media: &CallHandle,
    peer: IpAddr,
    srtp: Option<bool>,
) -> Result<(LocalMedia, LegId, Option<MasterKey>), String> {
    let port = shared.media.bind_leg().await.map_err(|e| e.to_string())?;
    let key = match srtp {
        Some(_) => Some(MasterKey::random()?),
        None => None,
    };
    let local = LocalMedia {
        address: shared.calls.media_address(peer),
        port: port.local_addr().port(),
        session_id: rand_id(),
        version: 1,
        crypto: key.as_ref().map(|k| LocalCrypto {
            tag: 1,
            inline: k.to_inline(),
            savp: srtp == Some(true),
        }),
    };
    let mut p = LegParams::new(None, hotline_media::Codec::Pcmu);
    p.srtp = key.clone().map(|local| SrtpKeys {
        local,
        remote: None,
    });
    let leg = media.add_leg(port, p).await.map_err(|e| e.to_string())?;
    Ok((local, leg, key))
}

/// A leg hotline placed was answered with `sdp`: the answer is judged against the leg's
/// SRTP policy and hotline's offered key (`srtp`), and the media leg is pointed at the far
/// end with the keys agreed. Returns the leg's keys (`None`: plain RTP), or why the answer
/// is refused (`required` without a usable key).
pub(super) fn answer_media(
    media: &CallHandle,
    leg: LegId,
    peer: IpAddr,
    srtp: &(SrtpPolicy, Option<MasterKey>),
    sdp: Option<sdp::Session>,
) -> Result<Option<SrtpKeys>, &'static str> {
    let (policy, key) = srtp;
    let remote = match &sdp {
        Some(s) => sdes::judge_answer(*policy, key.as_ref().map(|_| 1), s)?,
        None if key.is_some() && *policy == SrtpPolicy::Required => {
            return Err("SRTP required: the answer has no SDP");
        }
        None => None,
    };
    let keys = match (key, &remote) {
        (Some(local), Some(r)) => Some(SrtpKeys {
            local: local.clone(),
            remote: MasterKey::from_bytes(&r.key),
        }),
        (Some(_), None) => {
            // Offered, declined: plain RTP (never with `required`, refused above).
            let _ = media.plain_rtp(leg);
            None
        }
        (None, _) => None,
    };
    if let Some(s) = sdp
        && let Some(c) = s.codecs.first()
    {
        let mut p = params_from(&s, *c, peer);
        p.srtp = keys.clone();
        let _ = media.update_leg(leg, p);
    }
    Ok(keys)
}

/// A re-INVITE or UPDATE changed a leg's media (hold, resume, a new address or key): the
/// media leg follows, keeping hotline's key and taking the far end's new one.
fn remedia(
    media: &CallHandle,
    leg: LegId,
    peer: IpAddr,
    keys: &mut Option<SrtpKeys>,
    s: &sdp::Session,
) {
    if let Some(c) = s.codecs.first() {
        let mut p = params_from(s, *c, peer);
        *keys = rekey(keys.as_ref(), s);
        p.srtp = keys.clone();
        let _ = media.update_leg(leg, p);
    }
}

async fn next_dial_event(dial: &mut Option<DialLeg>) -> Option<LegEvent> {
    match dial {
        Some(d) => d.leg.next_event().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::BrowserMedia;

    #[test]
    fn a_browser_phone_is_answered_once_both_its_answer_and_its_media_are_there() {
        // The page answers, then the media connects (the usual order).
        let (s, up) = BrowserMedia::Waiting.answered();
        assert!(!up);
        let (s, up) = s.connected();
        assert!(up);
        assert_eq!(s, BrowserMedia::Up);
        // The media first (the answer event still on its way).
        let (s, up) = BrowserMedia::Waiting.connected();
        assert!(!up);
        let (s, up) = s.answered();
        assert!(up);
        // Once up, a reconnection or a repeated answer answers nothing again.
        assert_eq!(s.connected(), (BrowserMedia::Up, false));
        assert_eq!(s.answered(), (BrowserMedia::Up, false));
        assert_eq!(
            BrowserMedia::Answered.answered(),
            (BrowserMedia::Answered, false)
        );
    }
}
