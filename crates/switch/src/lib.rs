//! Call sessions: the part of hotline that ties a caller's SIP leg, its media, the contact
//! flow, the routing engine, the agent's leg and the event log into one call.
//!
//! [`Centre::start`] takes the pieces (SIP server, media engine, prompts, flows, store) and
//! runs one task per call ([`session`]) plus the routing task that owns the ACD engine
//! ([`router`]). Every state change of a call is appended to the store before anything is
//! done about it outside hotline.

pub mod router;
pub mod session;
pub mod trunk;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use hotline_flow::FlowSet;
use hotline_media::MediaEngine;
use hotline_media::player::PromptLibrary;
use hotline_sip::SipServer;
use hotline_sip::calls::IncomingCall;
use hotline_store::Store;
use tokio::sync::{mpsc, oneshot};

pub use router::{AgentCommand, AgentView, Notice, QueueView, RouterCmd, Stress};
use session::Shared;
pub use session::TransferTarget;

/// Limits and places of a running centre.
#[derive(Debug, Clone)]
pub struct CentreOptions {
    pub media_ip: IpAddr,
    pub recordings: PathBuf,
    pub ring_timeout: Duration,
    /// Where calls out (callbacks) go: the carrier trunk's address.
    pub outbound: Option<std::net::SocketAddr>,
    /// The trunk calls out go through, with its numbering, identity and credentials.
    pub trunk: Option<trunk::OutboundTrunk>,
}

/// A running centre.
pub struct Centre {
    shared: Arc<Shared>,
}

impl Centre {
    /// Starts the router and takes every incoming call from `incoming`.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        cfg: &hotline_config::Config,
        sip: &SipServer,
        mut incoming: mpsc::UnboundedReceiver<IncomingCall>,
        media: MediaEngine,
        prompts: Arc<PromptLibrary>,
        flows: Arc<FlowSet>,
        store: Store,
        options: CentreOptions,
    ) -> Result<Centre, String> {
        let (engine, skills) = router::engine_from_config(cfg)?;
        let (router_tx, router_rx) = mpsc::unbounded_channel();
        let names = cfg
            .agents
            .iter()
            .map(|a| (a.extension.get_ref().clone(), a.name.clone()))
            .collect();
        tokio::spawn(router::run(
            engine,
            skills,
            names,
            Some(store.clone()),
            router_rx,
        ));
        std::fs::create_dir_all(&options.recordings)
            .map_err(|e| format!("cannot create {}: {e}", options.recordings.display()))?;
        let shared = Arc::new(Shared {
            store,
            media,
            prompts,
            flows,
            router: router_tx,
            calls: sip.calls.clone(),
            registrar: sip.registrar.clone(),
            media_ip: options.media_ip,
            recordings: options.recordings,
            ring_timeout: options.ring_timeout,
            outbound: options.outbound,
            trunk: options.trunk,
            agent_extensions: cfg
                .agents
                .iter()
                .map(|a| a.extension.get_ref().clone())
                .collect(),
            queue_names: cfg
                .queues
                .iter()
                .map(|q| q.name.get_ref().clone())
                .collect(),
            next_contact: AtomicU64::new(1),
            fault_notice: AtomicBool::new(false),
            sessions: Default::default(),
        });
        let for_calls = shared.clone();
        tokio::spawn(async move {
            while let Some(call) = incoming.recv().await {
                tokio::spawn(session::run_call(for_calls.clone(), call));
            }
        });
        Ok(Centre { shared })
    }

    /// Sets an agent's state (log in, available, not ready, break, log out).
    pub async fn agent(&self, extension: &str, command: AgentCommand) -> Result<String, String> {
        let (done, rx) = oneshot::channel();
        self.shared
            .router
            .send(RouterCmd::Agent {
                extension: extension.to_string(),
                command,
                done,
            })
            .map_err(|_| "the router has stopped".to_string())?;
        rx.await.map_err(|_| "the router has stopped".to_string())?
    }

    /// Ends a call in progress as its agent would.
    pub async fn hangup(&self, interaction: hotline_model::InteractionId) -> Result<(), String> {
        self.command(interaction, |reply| session::SessionCmd::Hangup { reply })
            .await
    }

    /// Hands a call in progress on to a senior.
    pub async fn escalate(
        &self,
        interaction: hotline_model::InteractionId,
        reason: String,
    ) -> Result<(), String> {
        self.command(interaction, |reply| session::SessionCmd::Escalate {
            reason,
            reply,
        })
        .await
    }

    /// Blind transfer of a call in progress to an agent extension or a queue name.
    pub async fn transfer(
        &self,
        interaction: hotline_model::InteractionId,
        to: &str,
    ) -> Result<(), String> {
        let to = TransferTarget::resolve(&self.shared, to)
            .ok_or_else(|| format!("no agent or queue is called `{to}`"))?;
        self.command(interaction, |reply| session::SessionCmd::Transfer {
            to,
            reply,
        })
        .await
    }

    /// Whether `name` is an agent extension or a queue (a transfer target).
    pub fn is_transfer_target(&self, name: &str) -> bool {
        TransferTarget::resolve(&self.shared, name).is_some()
    }

    /// The agent flags the caller as abusive: a polite recorded message ends the call and
    /// the agent gets a recovery break after wrap-up.
    pub async fn abusive(&self, interaction: hotline_model::InteractionId) -> Result<(), String> {
        self.command(interaction, |reply| session::SessionCmd::Abusive { reply })
            .await
    }

    async fn command(
        &self,
        interaction: hotline_model::InteractionId,
        make: impl FnOnce(oneshot::Sender<Result<(), String>>) -> session::SessionCmd,
    ) -> Result<(), String> {
        let tx = self
            .shared
            .sessions
            .lock()
            .get(&interaction)
            .cloned()
            .ok_or_else(|| "the call is not in progress".to_string())?;
        let (reply, rx) = oneshot::channel();
        tx.send(make(reply))
            .map_err(|_| "the call is not in progress".to_string())?;
        rx.await
            .map_err(|_| "the call ended meanwhile".to_string())?
    }

    /// Live figures per queue.
    pub async fn queues(&self) -> Vec<QueueView> {
        let (tx, rx) = oneshot::channel();
        if self.shared.router.send(RouterCmd::Queues(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Every agent's state, figures and stress estimate.
    pub async fn agents(&self) -> Vec<AgentView> {
        let (tx, rx) = oneshot::channel();
        if self.shared.router.send(RouterCmd::Agents(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Switches the outage announcement played to every new caller.
    pub fn set_fault_notice(&self, on: bool) {
        self.shared
            .fault_notice
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the outage announcement is on.
    pub fn fault_notice(&self) -> bool {
        self.shared
            .fault_notice
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }
}
