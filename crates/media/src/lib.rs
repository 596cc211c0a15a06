//! # hotline media engine
//!
//! What a caller hears and what the centre keeps: RTP legs, G.711, DTMF,
//! prompts and hold music, bridging and mixing, recording, quality figures
//! and voice analysis.
//!
//! ## Shape
//! The logic is sans-IO and unit-tested on its own: [`rtp`] parsing,
//! [`g711`] codecs, [`dtmf`] (RFC 4733) and [`inband`] (Goertzel) key
//! detection, [`stats`] (loss, jitter, MOS), [`playout`], [`player`],
//! [`recorder`], [`mixer`], [`analysis`], [`rtcp`] (reports and round trip), [`amd`] (answering-machine
//! detection), and the per-call core
//! [`call::CallMedia`] that ties them together: datagrams and time in,
//! datagrams and [`call::MediaEvent`]s out.
//!
//! [`engine`] is the thin shell. It binds RTP ports (even ports from a
//! range) and runs a few media threads, one per core by default, each
//! driving many calls: every poll interval (10 ms by default) a thread
//! drains its calls' sockets with non-blocking receives, relays each packet
//! at once, and runs the 20 ms ticks that are due. There is no per-packet
//! allocation, lock, channel or wake-up; the price is up to one poll interval
//! of added relay delay (see the `bench/media` figures for the trade-off).
//!
//! ## What goes out to each party
//! Each leg sends one continuous RTP stream for its whole life: one SSRC,
//! sequence numbers +1 per packet, timestamps on wall time. Prompts, hold
//! music, silence, the other party's audio (relayed packet by packet, with
//! its sequence and timestamp offset re-anchored when the source changes)
//! and DTMF all go out on it. Relayed audio is transcoded when the legs'
//! codecs differ (PCMU ⇄ PCMA by table), and telephone-events are re-stamped
//! onto the outgoing stream with the receiving leg's payload type.
//!
//! ## What comes in from each party
//! Symmetric RTP: a leg sends to where the peer's packets really come from,
//! latching on the first valid packet from the SDP address's host; later
//! packets from other addresses are dropped. Reordering, duplicates, gaps and
//! SSRC changes are tolerated: duplicates are dropped, the relay keeps the
//! far end's order, the playout buffer (for recording, mixing, in-band DTMF
//! and analysis) puts audio back in order and fills gaps with silence.
//!
//! ## Limits
//! - G.711 only (PCMU/PCMA, 8 kHz); no comfort-noise generation.
//! - RTCP ([`rtcp`]): sender/receiver reports every ~5 s (randomised) on legs whose
//!   [`call::LegParams::rtcp`] asks for it, multiplexed (RFC 5761) or on the RTP port + 1,
//!   and the far end's reports read for the round trip and what it receives of us. Not on
//!   SRTP legs: SRTCP is not implemented, so an encrypted leg sends no RTCP and its
//!   received RTCP is dropped.
//!
//! ## SRTP
//! [`srtp`] implements RFC 3711 with AES_CM_128_HMAC_SHA1_80 (SDES keys). A leg whose
//! [`call::LegParams::srtp`] is set is encrypted by the shell: every packet the core writes
//! for it is protected before it leaves the socket, and every packet received is
//! authenticated and decrypted before the core sees it (or dropped).
//! - The relay does no packet-loss concealment: what the far end loses, the
//!   other party misses (as in any relaying B2BUA).
//! - A conference mixes at most 8 legs per call.
//!
//! ## Using it from a call session
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use hotline_media::{engine::*, call::*, g711::Codec, player::*};
//! let engine = MediaEngine::new(EngineConfig::default());
//! let lib = PromptLibrary::load(&PromptLibrary::bundled_dir()).expect("prompts");
//! // Bind a port before answering: its address goes into the SDP answer.
//! // (The media threads run on their own; no runtime is needed for them.)
//! let caller_port = engine.bind_leg().await?;
//! let sdp_port = caller_port.local_addr().port();
//! # let _ = sdp_port;
//! let (call, mut events) = engine.spawn_call();
//! let remote = "127.0.0.1:40000".parse().ok(); // from the offer's c=/m=
//! let mut p = LegParams::new(remote, Codec::Pcma);
//! p.telephone_event_pt = Some(101);
//! p.inband_dtmf = true;
//! p.analyse = true;
//! let caller = call.add_leg(caller_port, p).await?;
//! call.play(caller, lib.sequence(Lang::En, &["welcome", "menu"]).expect("prompts"), false, true)?;
//! while let Some(ev) = events.recv().await {
//!     if let MediaEvent::Dtmf { digit, .. } = ev {
//!         println!("caller pressed {digit}");
//!         break;
//!     }
//! }
//! // "You are number 3 in the queue, your estimated wait is about 2 minutes."
//! let mut say = queue_position_names(Lang::Zh, 3);
//! say.extend(estimated_wait_names(Lang::Zh, 125));
//! call.play(caller, lib.sequence(Lang::Zh, &say).expect("prompts"), false, false)?;
//! call.play(caller, vec![lib.music("hold").expect("music")], true, false)?;
//! let agent_port = engine.bind_leg().await?;
//! let agent = call.add_leg(agent_port, LegParams::new(None, Codec::Pcmu)).await?;
//! call.bridge(caller, agent)?;
//! call.start_recording("/tmp/call.wav".into(), caller, Some(agent)).await?;
//! call.pause_recording(true)?; // card number being read out
//! call.pause_recording(false)?;
//! call.send_dtmf(agent, hotline_media::Digit::from_char('5').expect("digit"), 100)?;
//! let q = call.quality(caller).await?; // loss, jitter, MOS
//! # let _ = q;
//! call.close()?; // recording finished; LegClosed events carry final figures
//! // Other events: Inactive/Active (dead leg), Agitation (voice analysis
//! // windows, `crossed` at the threshold), PlaybackFinished, RecordingStopped,
//! // Amd (after `call.start_amd(leg, AmdConfig::default())` on an outbound leg).
//! # Ok(()) }
//! ```

pub mod amd;
pub mod analysis;
pub mod call;
pub mod dtmf;
pub mod engine;
pub mod g711;
pub mod inband;
pub mod mixer;
pub mod player;
pub mod playout;
pub mod recorder;
pub mod rtcp;
pub mod rtp;
pub mod srtp;
pub mod stats;
pub mod webrtc;

pub use amd::{AmdCause, AmdConfig, AmdDecision, AmdDetector, AmdVerdict};
pub use call::{
    CallConfig, CallMedia, DtmfSource, LegId, LegParams, MediaEvent, RtcpMode, Transmit,
};
pub use dtmf::Digit;
pub use engine::{BoundLeg, CallHandle, EngineConfig, MediaEngine};
pub use g711::Codec;
pub use webrtc::{BrowserError, BrowserLeg, BrowserState};
