//! Call legs over rsipstack's dialogs: calls coming in from trunks and phones, and calls
//! hotline places to agents' phones. The call-session layer sees plain events (ringing,
//! answered, hung up, DTMF by SIP INFO, hold by re-INVITE, transfer by REFER) and plain
//! commands (ring, answer with SDP, reject, hang up), never SIP transactions.

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, StatusCode, headers as h};
use rsipstack::transport::SipAddr;
use tokio::sync::mpsc;
use tracing::debug;

use crate::registrar::Caller;
use crate::sdp::{self, Direction, LocalMedia, Session};

/// Why a leg ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The far end hung up (BYE).
    RemoteHangup,
    /// hotline hung up.
    LocalHangup,
    /// The caller gave up before the call was answered (CANCEL).
    Cancelled,
    /// The far end refused or failed with this status (486 busy, 480, 603 decline, ...).
    Rejected(u16),
    /// No answer, or no ACK, in time.
    Timeout,
}

/// What happens on a leg.
#[derive(Debug, Clone, PartialEq)]
pub enum LegEvent {
    /// An outbound leg is ringing (180/183).
    Ringing,
    /// An outbound leg was answered, with the phone's SDP.
    Answered { sdp: Option<Session> },
    /// An inbound leg's answer was acknowledged: media may flow both ways.
    Confirmed,
    /// The far end put the call on hold (`true`) or took it off hold (`false`).
    Hold(bool),
    /// A new media address or codec from a re-INVITE or UPDATE.
    MediaChanged(Session),
    /// A DTMF digit by SIP INFO (`application/dtmf-relay` or `application/dtmf`).
    Dtmf(char),
    /// The far end asked to transfer the call (REFER) to this URI.
    Refer(String),
    /// The session timer the far end asked for (RFC 4028) ran out without a refresh
    /// (re-INVITE or UPDATE): the far end is gone. The leg is still up: hang it up.
    SessionExpired,
    /// The leg is over.
    Ended(EndReason),
}

/// One call leg: commands in, events out.
pub struct Leg {
    dialog: InviteDialog,
    /// hotline's side of the media: what it answers re-INVITEs with.
    local: Arc<Mutex<Option<LocalMedia>>>,
    /// The session interval agreed with the far end (RFC 4028), once answered.
    timer: Arc<Mutex<Option<std::time::Duration>>>,
    events: mpsc::UnboundedReceiver<LegEvent>,
}

/// The longest session interval hotline agrees to (a day); a longer one is cut to it, as RFC
/// 4028 §9 lets the answerer do.
pub const MAX_SESSION_EXPIRES: u64 = 86_400;

/// The session interval a request asks for (`Session-Expires: 1800;refresher=uac`, compact
/// form `x`), in seconds, with the refresher it names (`uac`, `uas`, or none).
fn session_expires(headers: &rsipstack::sip::Headers) -> Option<(u64, Option<String>)> {
    let value = headers.iter().find_map(|hd| match hd {
        Header::SessionExpires(v) => Some(v.value().to_string()),
        Header::Other(name, v)
            if name.eq_ignore_ascii_case("session-expires") || name.eq_ignore_ascii_case("x") =>
        {
            Some(v.clone())
        }
        _ => None,
    })?;
    let mut parts = value.split(';');
    let secs: u64 = parts.next()?.trim().parse().ok()?;
    let refresher = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("refresher")
            .then(|| v.trim().to_ascii_lowercase())
    });
    (secs > 0).then_some((secs, refresher))
}

/// Whether a request says its sender implements session timers (`Supported: timer` or
/// `Require: timer`, RFC 4028 §7.1). Without it a `Session-Expires` was put in by a proxy
/// on the way, and the caller itself will never refresh.
fn supports_timer(headers: &rsipstack::sip::Headers) -> bool {
    headers.iter().any(|hd| {
        let name = hd.name();
        (name.eq_ignore_ascii_case("supported")
            || name.eq_ignore_ascii_case("k")
            || name.eq_ignore_ascii_case("require"))
            && hd
                .value()
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("timer"))
    })
}

/// What hotline does with a caller's request for a session timer (RFC 4028 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTimer {
    /// No timer: none asked for, the caller does not implement timers (a proxy added the
    /// header), or the caller wants hotline to refresh (hotline only lets callers refresh).
    Off,
    /// The caller refreshes every this many seconds; a session not refreshed in time ends.
    Caller(u64),
    /// Shorter than hotline's minimum: answer `422` with `Min-SE`.
    TooShort,
}

/// Judges an INVITE's session-timer request against hotline's minimum interval.
pub fn session_timer(headers: &rsipstack::sip::Headers, min_se: u64) -> SessionTimer {
    let Some((secs, refresher)) = session_expires(headers) else {
        return SessionTimer::Off;
    };
    if !supports_timer(headers) || refresher.as_deref() == Some("uas") {
        return SessionTimer::Off;
    }
    if secs < min_se {
        return SessionTimer::TooShort;
    }
    SessionTimer::Caller(secs.min(MAX_SESSION_EXPIRES))
}

/// The headers of a 2xx that agrees to the far end's session timer, the far end refreshing.
fn timer_headers(secs: u64) -> Vec<Header> {
    vec![
        Header::Other(
            "Session-Expires".to_string(),
            format!("{secs};refresher=uac"),
        ),
        Header::Other("Require".to_string(), "timer".to_string()),
    ]
}

/// When a session with this interval is given up if not refreshed: RFC 4028 §10, the
/// interval less the smaller of 32 s and a third of it.
fn expiry(interval: std::time::Duration) -> std::time::Duration {
    interval - (interval / 3).min(std::time::Duration::from_secs(32))
}

impl Leg {
    pub fn id(&self) -> String {
        self.dialog.id().to_string()
    }

    /// The next event; `None` once the leg is gone.
    pub async fn next_event(&mut self) -> Option<LegEvent> {
        self.events.recv().await
    }

    /// Takes the leg's events away to be read elsewhere (a task forwarding them); the leg
    /// keeps its controls (hang up, NOTIFY), and [`Leg::next_event`] answers `None` after.
    pub fn take_events(&mut self) -> mpsc::UnboundedReceiver<LegEvent> {
        let (_, closed) = mpsc::unbounded_channel();
        std::mem::replace(&mut self.events, closed)
    }

    /// 180 Ringing (inbound legs).
    pub fn ring(&self) -> Result<(), String> {
        self.dialog.ringing(None, None).map_err(|e| e.to_string())
    }

    /// 200 OK with hotline's SDP answer (inbound legs). A caller that asked for a session
    /// timer (RFC 4028 `Session-Expires`) gets it, as the refresher: a session it does not
    /// refresh in time ends with [`LegEvent::SessionExpired`].
    pub fn answer(&self, local: LocalMedia, sdp_answer: String) -> Result<(), String> {
        *self.local.lock() = Some(local);
        let mut headers = vec![Header::ContentType(h::ContentType::new("application/sdp"))];
        // Too short a timer was refused with 422 before the call was taken.
        if let SessionTimer::Caller(secs) = session_timer(&self.dialog.initial_request().headers, 0)
        {
            *self.timer.lock() = Some(std::time::Duration::from_secs(secs));
            headers.extend(timer_headers(secs));
        }
        self.dialog
            .accept(Some(headers), Some(sdp_answer.into_bytes()))
            .map_err(|e| e.to_string())
    }

    /// A final refusal (inbound legs not yet answered): 486, 480, 503, ...
    pub fn reject(&self, status: u16) -> Result<(), String> {
        self.dialog
            .reject(Some(StatusCode::from(status)), None)
            .map_err(|e| e.to_string())
    }

    /// Ends the leg: BYE when answered, CANCEL or a final refusal before.
    pub async fn hangup(&self) -> Result<(), String> {
        self.dialog.hangup().await.map_err(|e| e.to_string())
    }

    /// Tells the far end how the transfer it asked for (REFER) went, ending the implicit
    /// subscription (RFC 3515 NOTIFY with a `message/sipfrag` status line). Waits up to two
    /// seconds for the phone's answer, so that the NOTIFY comes before anything else the
    /// call does next.
    pub async fn notify_refer(&self, status: u16) -> Result<(), String> {
        let sent = self
            .dialog
            .notify_refer(StatusCode::from(status), "terminated;reason=noresource");
        match tokio::time::timeout(std::time::Duration::from_secs(2), sent).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer to the NOTIFY".into()),
        }
    }
}

/// A place among the calls in progress; given back when dropped.
pub struct Admission(Arc<std::sync::atomic::AtomicU32>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Admits calls up to a limit, so that accepted calls keep their quality.
#[derive(Clone)]
pub struct CallLimit {
    active: Arc<std::sync::atomic::AtomicU32>,
    max: u32,
}

impl CallLimit {
    pub fn new(max: u32) -> Self {
        CallLimit {
            active: Arc::default(),
            max,
        }
    }

    /// A place, unless `max` calls are in progress.
    pub fn admit(&self) -> Option<Admission> {
        use std::sync::atomic::Ordering;
        let mut now = self.active.load(Ordering::Acquire);
        loop {
            if now >= self.max {
                return None;
            }
            match self
                .active
                .compare_exchange(now, now + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(Admission(self.active.clone())),
                Err(v) => now = v,
            }
        }
    }
}

/// A call arriving at hotline.
pub struct IncomingCall {
    pub caller: Caller,
    /// The calling number (From user part).
    pub from: String,
    /// The dialled number (Request-URI user part).
    pub to: String,
    pub source: SocketAddr,
    /// The call came over TLS.
    pub secure: bool,
    /// The caller's SRTP key when its leg is to be encrypted (its SRTP policy allowed the
    /// offer): answer with a key of hotline's own under the same tag.
    pub srtp: Option<crate::sdes::RemoteKey>,
    /// The caller's SDP offer, or why it cannot be answered (then refuse with 488).
    pub offer: Result<Session, sdp::SdpError>,
    pub leg: Leg,
    /// Keep it for as long as the call lasts.
    pub admission: Admission,
}

/// Creates legs on the server's dialog layer.
/// The Retry-After a standby node refuses calls and registrations with (seconds).
pub const STANDBY_RETRY_AFTER: u32 = 2;

#[derive(Clone)]
pub struct Calls {
    pub(crate) dialog_layer: Arc<DialogLayer>,
    pub(crate) contact: rsipstack::sip::Uri,
    pub(crate) advertiser: Arc<crate::advertise::Advertiser>,
    /// The SIP port, for Contact.
    pub(crate) port: u16,
    /// Calls with phones behind NATs and where those phones really are.
    pub(crate) nat_flows: Arc<crate::nat::NatFlows>,
    /// Non-zero: new calls are refused with 503 and this many seconds in Retry-After (set
    /// by the call layer, e.g. while its event log is too far behind).
    pub(crate) refusing: Arc<std::sync::atomic::AtomicU32>,
    /// A standby node: registrations are refused too (503), since it may not write them.
    pub(crate) standby: Arc<std::sync::atomic::AtomicBool>,
    /// Calls that ended lately, so that a BYE crossing ours is answered 200, not 481.
    pub(crate) ended: RecentlyEnded,
    /// The TLS listener, when TLS is on: what it advertises to each peer and its port (for
    /// Contact on TLS legs).
    pub(crate) tls: Option<(Arc<crate::advertise::Advertiser>, u16)>,
    /// SRTP policies of trunks and agents.
    pub srtp: Arc<parking_lot::RwLock<crate::sdes::Policies>>,
}

/// How a call out presents itself and authenticates (calls through a carrier trunk).
#[derive(Clone, Default)]
pub struct DialOptions {
    /// The From user: the calling number presented.
    pub from_user: String,
    /// A `P-Asserted-Identity` value: a number (made a URI at the destination) or a URI.
    pub asserted_identity: Option<String>,
    /// Digest credentials answering a 401/407 challenge: user name and password.
    pub credential: Option<(String, String)>,
    /// A pre-loaded route set (a phone's Path, RFC 3327): the URIs, in order, sent as the
    /// INVITE's `Route` headers; the request goes to the first of them (`destination`).
    pub route: Vec<String>,
}

/// Never shows the password.
impl std::fmt::Debug for DialOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialOptions")
            .field("from_user", &self.from_user)
            .field("asserted_identity", &self.asserted_identity)
            .field("user", &self.credential.as_ref().map(|(u, _)| u))
            .field("route", &self.route)
            .finish()
    }
}

/// Call-IDs of dialogs ended in the last 32 seconds (64 × T1, how long a crossing request
/// may still be retransmitted).
#[derive(Clone, Default)]
pub(crate) struct RecentlyEnded(
    Arc<Mutex<std::collections::VecDeque<(String, std::time::Instant)>>>,
);

impl RecentlyEnded {
    const KEEP: std::time::Duration = std::time::Duration::from_secs(32);

    pub(crate) fn note(&self, call_id: &str, now: std::time::Instant) {
        let mut q = self.0.lock();
        while q
            .front()
            .is_some_and(|(_, t)| now.duration_since(*t) > Self::KEEP)
        {
            q.pop_front();
        }
        q.push_back((call_id.to_string(), now));
    }

    pub(crate) fn contains(&self, call_id: &str, now: std::time::Instant) -> bool {
        self.0
            .lock()
            .iter()
            .any(|(c, t)| c == call_id && now.duration_since(*t) <= Self::KEEP)
    }
}

impl Calls {
    /// hotline's Contact URI for messages to `peer`: the address advertised on the
    /// interface that reaches it, never a wildcard.
    pub fn contact_for(&self, peer: std::net::IpAddr) -> rsipstack::sip::Uri {
        let uri = crate::advertise::contact_uri(&self.advertiser, peer, self.port, None);
        rsipstack::sip::Uri::try_from(uri.as_str()).unwrap_or_else(|_| self.contact.clone())
    }

    /// hotline's Contact URI on TLS legs with `peer`: the address the TLS listener advertises
    /// to it, the TLS port and `;transport=tls`. `None` when TLS is off.
    pub fn tls_contact_for(&self, peer: std::net::IpAddr) -> Option<rsipstack::sip::Uri> {
        let (adv, port) = self.tls.as_ref()?;
        let uri = crate::advertise::contact_uri(adv, peer, *port, Some("tls"));
        rsipstack::sip::Uri::try_from(uri.as_str()).ok()
    }

    /// The address for hotline's SDP towards `peer`.
    pub fn media_address(&self, peer: std::net::IpAddr) -> std::net::IpAddr {
        self.advertiser.media_for(peer)
    }

    /// Refuses new calls with `503 Service Unavailable` and `Retry-After: secs` (`Some`), or
    /// takes them again (`None`). Calls in progress are not affected. OPTIONS follows it
    /// (see [`crate::server::options_answer`]): a proxy probing hotline takes it out while
    /// it refuses.
    pub fn refuse_new_calls(&self, retry_after: Option<u32>) {
        self.refusing.store(
            retry_after.map_or(0, |s| s.max(1)),
            std::sync::atomic::Ordering::Release,
        );
    }

    /// A standby node (`true`), or a leader that cannot vouch for its lease: new calls and
    /// registrations are refused with 503 and `Retry-After: STANDBY_RETRY_AFTER`, whatever
    /// else refuses or takes calls meanwhile (OPTIONS still answers 200: the node is up, and
    /// a proxy sends it calls the moment it leads); `false` gives new calls back to
    /// [`Calls::refuse_new_calls`].
    pub fn set_standby(&self, standby: bool) {
        self.standby
            .store(standby, std::sync::atomic::Ordering::Release);
    }

    /// Whether this node is a standby (see [`Calls::set_standby`]).
    pub fn is_standby(&self) -> bool {
        self.standby.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The Retry-After new calls are refused with, if they are.
    pub fn refusing_new_calls(&self) -> Option<u32> {
        if self.is_standby() {
            return Some(STANDBY_RETRY_AFTER);
        }
        let s = self.refusing.load(std::sync::atomic::Ordering::Acquire);
        (s > 0).then_some(s)
    }

    /// Wraps a server dialog just created for an incoming INVITE.
    pub(crate) fn inbound(
        &self,
        dialog: InviteDialog,
        state: rsipstack::dialog::dialog::DialogStateReceiver,
    ) -> Leg {
        let local = Arc::new(Mutex::new(None));
        let timer = Arc::new(Mutex::new(None));
        let events = spawn_mapper(
            self.dialog_layer.clone(),
            self.ended.clone(),
            state,
            local.clone(),
            timer.clone(),
            false,
            self.nat_flows.clone(),
        );
        Leg {
            dialog,
            local,
            timer,
            events,
        }
    }

    /// Places a call to `target` (a registered contact URI) reached at `destination`, offering
    /// `local`'s media. Events tell whether it rings, is answered or fails.
    ///
    /// When `destination` is not the address the URI names (a phone behind a NAT), the
    /// INVITE carries a loose `Route` to `destination`, so that a CANCEL, which copies the
    /// INVITE's Route, goes where the INVITE went (RFC 3261 §9.1).
    pub fn dial(
        &self,
        target: &str,
        destination: SocketAddr,
        tcp: bool,
        from_user: &str,
        local: LocalMedia,
    ) -> Result<Leg, String> {
        let transport = if tcp { "tcp" } else { "udp" };
        let options = DialOptions {
            from_user: from_user.to_string(),
            ..DialOptions::default()
        };
        self.dial_with(target, destination, transport, &options, local)
    }

    /// Like [`Calls::dial`] over `transport` (`udp`, `tcp` or `tls`, as a binding records
    /// it), with the options: a presented identity, credentials for the far end's
    /// challenges, a pre-loaded route set. Over TCP and TLS the request goes on the phone's
    /// own connection.
    pub fn dial_with(
        &self,
        target: &str,
        destination: SocketAddr,
        transport: &str,
        options: &DialOptions,
        local: LocalMedia,
    ) -> Result<Leg, String> {
        use rsipstack::sip::transport::Transport;
        let callee = rsipstack::sip::Uri::try_from(target).map_err(|e| e.to_string())?;
        let transport = match transport {
            "tls" => Transport::Tls,
            "tcp" => Transport::Tcp,
            _ => Transport::Udp,
        };
        let mut contact = match transport {
            Transport::Tls => self
                .tls_contact_for(destination.ip())
                .ok_or("a TLS binding but no TLS listener")?,
            _ => self.contact_for(destination.ip()),
        };
        let mut caller = contact.clone();
        if transport == Transport::Tcp {
            // Naming the transport keeps the stack from putting its listener's (possibly
            // wildcard) address in its place.
            contact
                .params
                .push(rsipstack::sip::Param::Transport(Transport::Tcp));
        }
        caller.auth = Some(rsipstack::sip::Auth {
            user: options.from_user.clone(),
            password: None,
        });
        let offer = sdp::offer(&local, Direction::SendRecv);
        let names_destination = crate::addr::parse_uri(target).is_some_and(|u| {
            u.ip() == Some(destination.ip()) && u.port.unwrap_or(5060) == destination.port()
        });
        let preloaded = options
            .route
            .iter()
            .map(|u| Header::Route(h::Route::new(format!("<{u}>"))));
        let route = (!names_destination && options.route.is_empty()).then(|| {
            let t = match transport {
                Transport::Tcp => ";transport=tcp",
                Transport::Tls => ";transport=tls",
                _ => "",
            };
            let host = match destination {
                SocketAddr::V4(a) => a.to_string(),
                SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
            };
            Header::Route(h::Route::new(format!("<sip:{host};lr{t}>")))
        });
        let asserted = options.asserted_identity.as_ref().map(|pai| {
            let value = if pai.contains(':') {
                format!("<{}>", pai.trim_matches(['<', '>']))
            } else {
                format!("<sip:{pai}@{}>", caller.host_with_port.host)
            };
            Header::Other("P-Asserted-Identity".into(), value)
        });
        let headers: Vec<Header> = preloaded.chain(route).chain(asserted).collect();
        let headers = (!headers.is_empty()).then_some(headers);
        let credential = options.credential.as_ref().map(|(user, password)| {
            rsipstack::dialog::authenticate::Credential {
                username: user.clone(),
                password: password.clone(),
                ..Default::default()
            }
        });
        // A phone behind a NAT (its Contact private, reached at another address): the call's
        // requests after the INVITE (ACK, BYE, re-INVITE) go to the same flow.
        // Through a proxy (a pre-loaded route), the proxy owns the flow to the phone.
        let call_id = crate::advertise::uri_ip(target)
            .filter(|ip| {
                transport == Transport::Udp
                    && options.route.is_empty()
                    && crate::advertise::behind_nat(*ip, destination.ip())
            })
            .map(|_| {
                let id = format!("{:032x}@hotline", rand::random::<u128>());
                self.nat_flows.insert(&id, destination);
                id
            });
        let opt = InviteOption {
            caller,
            callee,
            contact,
            credential,
            headers,
            call_id,
            destination: Some(SipAddr {
                r#type: Some(transport),
                addr: destination.into(),
            }),
            content_type: Some("application/sdp".to_string()),
            offer: Some(offer.into_bytes()),
            ..Default::default()
        };
        let (sender, state) = self.dialog_layer.new_dialog_state_channel();
        let (dialog, _join) = self
            .dialog_layer
            .do_invite_async(opt, sender)
            .map_err(|e| e.to_string())?;
        let local = Arc::new(Mutex::new(Some(local)));
        let timer = Arc::new(Mutex::new(None));
        let events = spawn_mapper(
            self.dialog_layer.clone(),
            self.ended.clone(),
            state,
            local.clone(),
            timer.clone(),
            true,
            self.nat_flows.clone(),
        );
        Ok(Leg {
            dialog,
            local,
            timer,
            events,
        })
    }
}

impl Calls {
    /// Keeps hotline registered with a carrier at `server` as `user` (answering its digest
    /// challenges with `password`), refreshing before each registration runs out, until
    /// `cancel`. Outcomes are logged: a refused registration at warn, with the status.
    pub fn register_with_carrier(
        &self,
        server: SocketAddr,
        user: String,
        password: String,
        expires: u32,
        cancel: tokio_util::sync::CancellationToken,
    ) {
        let endpoint = self.dialog_layer.endpoint.clone();
        let mut contact_uri = self.contact_for(server.ip());
        contact_uri.auth = Some(rsipstack::sip::Auth {
            user: user.clone(),
            password: None,
        });
        tokio::spawn(async move {
            let credential = rsipstack::dialog::authenticate::Credential {
                username: user.clone(),
                password,
                ..Default::default()
            };
            let mut reg =
                rsipstack::dialog::registration::Registration::new(endpoint, Some(credential));
            reg.contact = Some(rsipstack::sip::typed::Contact {
                display_name: None,
                uri: contact_uri,
                params: vec![],
            });
            let uri = match rsipstack::sip::Uri::try_from(format!("sip:{server}").as_str()) {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!(%server, error = %e, "cannot register with the carrier");
                    return;
                }
            };
            loop {
                let wait = match reg.register(uri.clone(), Some(expires)).await {
                    Ok(resp) if resp.status_code.code() == 200 => {
                        let granted = reg.expires().max(30);
                        tracing::info!(%server, %user, granted, "registered with the carrier");
                        u64::from(granted) * 3 / 4
                    }
                    Ok(resp) => {
                        tracing::warn!(%server, %user, status = resp.status_code.code(), "the carrier refused the registration");
                        60
                    }
                    Err(e) => {
                        tracing::warn!(%server, %user, error = %e, "registration with the carrier failed");
                        30
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(wait)) => {}
                    _ = cancel.cancelled() => return,
                }
            }
        });
    }
}

/// Turns one dialog's states into leg events, answering in-dialog requests on the way.
fn spawn_mapper(
    dialog_layer: Arc<DialogLayer>,
    ended: RecentlyEnded,
    mut state: rsipstack::dialog::dialog::DialogStateReceiver,
    local: Arc<Mutex<Option<LocalMedia>>>,
    timer: Arc<Mutex<Option<std::time::Duration>>>,
    outbound: bool,
    nat_flows: Arc<crate::nat::NatFlows>,
) -> mpsc::UnboundedReceiver<LegEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut confirmed = false;
        let mut on_hold = false;
        // A REFER answered 202, told only once the dialog is back to confirmed: the 202 has
        // then been sent, so the NOTIFYs that follow cannot overtake it.
        let mut refer: Option<String> = None;
        // When the session ends unless the far end refreshes it (RFC 4028).
        let mut expires: Option<tokio::time::Instant> = None;
        let restart = |timer: &Mutex<Option<std::time::Duration>>| {
            timer
                .lock()
                .and_then(|interval| tokio::time::Instant::now().checked_add(expiry(interval)))
        };
        loop {
            let s = tokio::select! {
                s = state.recv() => match s {
                    Some(s) => s,
                    None => break,
                },
                _ = async {
                    match expires {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {
                    expires = None;
                    debug!("session timer ran out without a refresh");
                    let _ = tx.send(LegEvent::SessionExpired);
                    continue;
                }
            };
            match s {
                DialogState::Confirmed(..) if refer.is_some() => {
                    if let Some(t) = refer.take() {
                        let _ = tx.send(LegEvent::Refer(t));
                    }
                }
                DialogState::Early(_, resp) if outbound && resp.status_code.code() != 100 => {
                    let _ = tx.send(LegEvent::Ringing);
                }
                DialogState::Confirmed(_, resp) if !confirmed => {
                    confirmed = true;
                    expires = restart(&timer);
                    let event = if outbound {
                        let body = String::from_utf8_lossy(&resp.body).into_owned();
                        LegEvent::Answered {
                            sdp: sdp::parse(&body).ok(),
                        }
                    } else {
                        LegEvent::Confirmed
                    };
                    let _ = tx.send(event);
                }
                DialogState::Updated(_, req, handle) => {
                    // A re-INVITE or UPDATE refreshes the session (with the interval it asks
                    // for, if it names one), and the answer agrees to it.
                    let refreshed = {
                        let mut t = timer.lock();
                        if t.is_some()
                            && let Some((secs, _)) = session_expires(&req.headers)
                        {
                            let secs = secs.min(MAX_SESSION_EXPIRES);
                            *t = Some(std::time::Duration::from_secs(secs));
                        }
                        t.map(|d| d.as_secs())
                    };
                    if refreshed.is_some() {
                        expires = restart(&timer);
                    }
                    let extra = refreshed.map(timer_headers).unwrap_or_default();
                    let body = String::from_utf8_lossy(&req.body).into_owned();
                    let offer = sdp::parse(&body).ok();
                    let answer = match (&offer, local.lock().as_mut()) {
                        (Some(o), Some(l)) => {
                            l.version += 1;
                            sdp::answer(o, l).ok()
                        }
                        _ => None,
                    };
                    match answer {
                        Some(a) => {
                            let mut headers =
                                vec![Header::ContentType(h::ContentType::new("application/sdp"))];
                            headers.extend(extra);
                            let _ = handle
                                .respond(StatusCode::OK, Some(headers), Some(a.sdp.into_bytes()))
                                .await;
                        }
                        None if body.trim().is_empty() => {
                            let _ = handle.respond(StatusCode::OK, Some(extra), None).await;
                        }
                        None => {
                            let _ = handle.reply(StatusCode::NotAcceptableHere).await;
                        }
                    }
                    if let Some(o) = offer {
                        if o.is_hold() != on_hold {
                            on_hold = o.is_hold();
                            let _ = tx.send(LegEvent::Hold(on_hold));
                        }
                        let _ = tx.send(LegEvent::MediaChanged(o));
                    }
                }
                DialogState::Info(_, req, handle) => {
                    let digit = dtmf_from_info(&String::from_utf8_lossy(&req.body));
                    let _ = handle.reply(StatusCode::OK).await;
                    if let Some(d) = digit {
                        let _ = tx.send(LegEvent::Dtmf(d));
                    }
                }
                DialogState::Refer(_, req, handle) => {
                    let target = req.headers.iter().find_map(|hd| match hd {
                        Header::ReferTo(r) => Some(r.value().to_string()),
                        _ => None,
                    });
                    match target {
                        Some(t) => {
                            let _ = handle.reply(StatusCode::Accepted).await;
                            refer = Some(t);
                        }
                        None => {
                            let _ = handle.reply(StatusCode::BadRequest).await;
                        }
                    }
                }
                DialogState::Options(_, _, handle)
                | DialogState::Notify(_, _, handle)
                | DialogState::Message(_, _, handle)
                | DialogState::Publish(_, _, handle) => {
                    let _ = handle.reply(StatusCode::OK).await;
                }
                DialogState::Terminated(id, reason) => {
                    debug!(%id, ?reason, "leg ended");
                    ended.note(&id.call_id, std::time::Instant::now());
                    dialog_layer.remove_dialog(&id);
                    nat_flows.remove(&id.call_id);
                    let _ = tx.send(LegEvent::Ended(end_reason(&reason, outbound)));
                    break;
                }
                _ => {}
            }
        }
    });
    rx
}

fn end_reason(reason: &TerminatedReason, outbound: bool) -> EndReason {
    // "Uac" and "Uas" name who did it: for an inbound leg the far end is the UAC.
    let (remote_bye, local_bye) = if outbound {
        (
            matches!(reason, TerminatedReason::UasBye),
            matches!(reason, TerminatedReason::UacBye),
        )
    } else {
        (
            matches!(reason, TerminatedReason::UacBye),
            matches!(reason, TerminatedReason::UasBye),
        )
    };
    match reason {
        _ if remote_bye => EndReason::RemoteHangup,
        _ if local_bye => EndReason::LocalHangup,
        TerminatedReason::UacCancel => {
            if outbound {
                EndReason::LocalHangup
            } else {
                EndReason::Cancelled
            }
        }
        TerminatedReason::Timeout => EndReason::Timeout,
        TerminatedReason::UasBusy | TerminatedReason::UacBusy => EndReason::Rejected(486),
        TerminatedReason::UasDecline => EndReason::Rejected(603),
        TerminatedReason::ProxyAuthRequired => EndReason::Rejected(407),
        TerminatedReason::ProxyError(c)
        | TerminatedReason::UacOther(c)
        | TerminatedReason::UasOther(c) => EndReason::Rejected(c.code()),
        _ => EndReason::Timeout,
    }
}

/// A digit from an INFO body: `Signal=5` (application/dtmf-relay) or `5` (application/dtmf).
pub fn dtmf_from_info(body: &str) -> Option<char> {
    let value = body
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
        })
        .unwrap_or_else(|| body.trim());
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') => Some(c),
        _ => match value {
            "10" => Some('*'),
            "11" => Some('#'),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_bodies() {
        assert_eq!(dtmf_from_info("Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(dtmf_from_info("Signal= #\r\n"), Some('#'));
        assert_eq!(dtmf_from_info("7"), Some('7'));
        assert_eq!(dtmf_from_info("Signal=11"), Some('#'));
        assert_eq!(dtmf_from_info("hello"), None);
    }

    #[test]
    fn ended_calls_are_remembered_for_32_seconds() {
        let ended = RecentlyEnded::default();
        let t0 = std::time::Instant::now();
        ended.note("a", t0);
        assert!(ended.contains("a", t0 + std::time::Duration::from_secs(31)));
        assert!(!ended.contains("b", t0));
        assert!(!ended.contains("a", t0 + std::time::Duration::from_secs(33)));
        // Old entries go when new ones come.
        ended.note("b", t0 + std::time::Duration::from_secs(40));
        assert_eq!(ended.0.lock().len(), 1);
    }

    #[test]
    fn session_timer_values() {
        let headers = |v: Vec<Header>| rsipstack::sip::Headers(v);
        let other = |n: &str, v: &str| Header::Other(n.to_string(), v.to_string());
        let se = |v: &str| other("Session-Expires", v);
        let timer = || Header::Supported(h::Supported::new("timer, 100rel"));
        assert_eq!(
            session_expires(&headers(vec![se("1800;refresher=uac")])),
            Some((1800, Some("uac".to_string())))
        );
        assert_eq!(
            session_expires(&headers(vec![other("x", " 90 ")])),
            Some((90, None))
        );
        assert_eq!(session_expires(&headers(vec![se("0")])), None);
        assert_eq!(session_expires(&headers(vec![se("soon")])), None);
        assert_eq!(session_expires(&headers(vec![other("Min-SE", "90")])), None);
        // Only a caller that implements timers and refreshes itself gets one.
        let judge = |v: Vec<Header>| session_timer(&headers(v), 90);
        assert_eq!(
            judge(vec![se("1800")]),
            SessionTimer::Off,
            "a proxy's header"
        );
        assert_eq!(judge(vec![timer(), se("1800")]), SessionTimer::Caller(1800));
        assert_eq!(
            judge(vec![other("Require", "timer"), se("1800;refresher=uac")]),
            SessionTimer::Caller(1800)
        );
        assert_eq!(
            judge(vec![timer(), se("1800;refresher=uas")]),
            SessionTimer::Off
        );
        assert_eq!(judge(vec![timer(), se("60")]), SessionTimer::TooShort);
        // An absurd interval is cut to a day, never overflowing a deadline.
        assert_eq!(
            judge(vec![timer(), se("18446744073709551615")]),
            SessionTimer::Caller(MAX_SESSION_EXPIRES)
        );
        assert_eq!(
            judge(vec![timer(), se("99999999999999999999")]),
            SessionTimer::Off
        );
        // RFC 4028 §10: the session is given up a third (at most 32 s) before it expires.
        let s = std::time::Duration::from_secs;
        assert_eq!(expiry(s(6)), s(4));
        assert_eq!(expiry(s(1800)), s(1768));
    }

    #[test]
    fn who_hung_up() {
        assert_eq!(
            end_reason(&TerminatedReason::UacBye, false),
            EndReason::RemoteHangup
        );
        assert_eq!(
            end_reason(&TerminatedReason::UasBye, true),
            EndReason::RemoteHangup
        );
        assert_eq!(
            end_reason(&TerminatedReason::UasBye, false),
            EndReason::LocalHangup
        );
        assert_eq!(
            end_reason(&TerminatedReason::UacCancel, false),
            EndReason::Cancelled
        );
        assert_eq!(
            end_reason(&TerminatedReason::UasBusy, true),
            EndReason::Rejected(486)
        );
    }
}
