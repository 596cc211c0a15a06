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
//! [`recorder`], [`mixer`], [`analysis`], and the per-call core
//! [`call::CallMedia`] that ties them together: datagrams and time in,
//! datagrams and [`call::MediaEvent`]s out. [`engine`] is the thin tokio
//! shell: it binds RTP ports and runs one task per call that feeds the core.
//!
//! ## Using it from a call session
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use hotline_media::{engine::*, call::*, g711::Codec, player::*};
//! let engine = MediaEngine::new(EngineConfig::default());
//! let lib = PromptLibrary::load(&PromptLibrary::bundled_dir()).expect("prompts");
//! // Bind a port before answering: its address goes into the SDP answer.
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
//! call.play(caller, vec![lib.music("hold").expect("music")], true, false)?;
//! let agent_port = engine.bind_leg().await?;
//! let agent = call.add_leg(agent_port, LegParams::new(None, Codec::Pcmu)).await?;
//! call.bridge(caller, agent)?;
//! call.start_recording("/tmp/call.wav".into(), caller, Some(agent)).await?;
//! call.pause_recording(true)?; // card number being read out
//! call.pause_recording(false)?;
//! call.close()?;
//! # Ok(()) }
//! ```

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
pub mod rtp;
pub mod stats;

pub use call::{CallConfig, CallMedia, DtmfSource, LegId, LegParams, MediaEvent, Transmit};
pub use dtmf::Digit;
pub use engine::{BoundLeg, CallHandle, EngineConfig, MediaEngine};
pub use g711::Codec;
