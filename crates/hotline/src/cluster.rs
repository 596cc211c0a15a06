//! The shell around the routing lease: asks the store when the sans-IO
//! [`LeaseKeeper`](hotline_switch::role::LeaseKeeper) says so, on a connection of its own
//! ([`LeaseClient`]), and reports when this node starts leading or must stop.

use std::time::Duration;

use hotline_store::{Lease, LeaseClient};
use hotline_switch::role::{Action, Answer, LeaseKeeper, LeaseTiming};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

/// The lease that decides which node routes calls.
pub const LEASE: &str = "routing";

/// The exit status of a node that stopped because it lost the lease (fail-stop): the
/// service manager starts it again, as a standby (`EX_TEMPFAIL`).
pub const STEPPED_DOWN: u8 = 75;

/// What the node is doing about the lease, for the rest of the process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// It holds the lease under this epoch.
    Leading { epoch: u64 },
    /// It could not renew the lease in time (the database is unreachable, or failing
    /// over): it takes no new calls but keeps the ones it has, and goes on asking. The
    /// same epoch back: it leads again; another holder or epoch: lost.
    Suspended { why: &'static str },
    /// Another node holds the lease (or a write was refused as fenced): stop.
    Lost { why: &'static str },
}

/// The role of this node, for `/metrics`.
#[derive(Clone)]
pub struct Metrics {
    /// 1 while this node leads, 0 while it is a standby.
    pub leader: Gauge,
    /// The epoch this node leads under (0 while a standby).
    pub epoch: Gauge,
    /// How long each ask for the lease took.
    pub ask_seconds: Histogram,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            leader: Gauge::default(),
            epoch: Gauge::default(),
            ask_seconds: Histogram::new([
                0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0,
            ]),
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "hotline_cluster_leader",
            "1 while this node holds the routing lease and answers calls, 0 while a standby",
            self.leader.clone(),
        );
        registry.register(
            "hotline_cluster_epoch",
            "The lease epoch this node leads under (0 while a standby)",
            self.epoch.clone(),
        );
        registry.register(
            "hotline_cluster_lease_ask_seconds",
            "How long taking or renewing the routing lease took",
            self.ask_seconds.clone(),
        );
    }
}

/// This node's side of the lease.
pub struct Node {
    /// The node's name (`cluster.node`).
    pub name: String,
    /// The lease holder: the name and this process (`a#3f2c…`), so that two processes given
    /// the same name never share an epoch, and a restarted process waits for its
    /// predecessor's lease like anyone else.
    holder: String,
    timing: LeaseTiming,
    keeper: LeaseKeeper,
    leases: std::sync::Arc<LeaseClient>,
    /// The lease as last taken or renewed.
    lease: Option<Lease>,
    /// The last answer said another node holds the lease.
    taken: bool,
    /// A standby's ask failed (the database unreachable) since its last answered one.
    cut_off: bool,
    /// Until when a standby that was cut off leaves an expired lease to its holder.
    hold_off_until: Option<std::time::Instant>,
    metrics: Metrics,
}

impl Node {
    pub fn new(name: String, timing: LeaseTiming, leases: LeaseClient, metrics: Metrics) -> Node {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Node {
            holder: format!("{name}#{:x}{nanos:08x}", std::process::id()),
            name,
            timing,
            keeper: LeaseKeeper::new(timing, std::time::Instant::now()),
            leases: std::sync::Arc::new(leases),
            lease: None,
            taken: false,
            cut_off: false,
            hold_off_until: None,
            metrics,
        }
    }

    /// Asks for the lease once, now (a node starting): the lease if this node got it.
    pub async fn ask_once(&mut self) -> Option<Lease> {
        for action in self.keeper.handle_timeout(std::time::Instant::now()) {
            if let Action::Ask { id } = action {
                let answer = self.ask().await;
                for then in self.keeper.answered(std::time::Instant::now(), id, answer) {
                    if let Action::Lead { epoch } = then {
                        return self.lead(epoch);
                    }
                }
            }
        }
        None
    }

    /// Waits until this node holds the lease, and returns it.
    pub async fn until_leading(&mut self) -> Lease {
        loop {
            if let Action::Lead { epoch } = self.next().await
                && let Some(lease) = self.lead(epoch)
            {
                return lease;
            }
        }
    }

    fn lead(&mut self, epoch: u64) -> Option<Lease> {
        let lease = self.lease.clone().filter(|l| l.epoch == epoch)?;
        self.metrics.leader.set(1);
        self.metrics
            .epoch
            .set(i64::try_from(epoch).unwrap_or(i64::MAX));
        Some(lease)
    }

    /// Who holds the lease now, as the store says (`None` also when it cannot say soon).
    pub async fn holder(&self) -> Option<Lease> {
        tokio::time::timeout(self.timing.renew_every, self.leases.read(LEASE))
            .await
            .ok()?
            .ok()
            .flatten()
    }

    /// Keeps the lease while this node leads, saying each change of role in `role`, until
    /// the lease is lost (the last role said is then [`Role::Lost`]).
    pub async fn keep(mut self, role: tokio::sync::watch::Sender<Role>) {
        let Some(epoch) = self.lease.as_ref().map(|l| l.epoch) else {
            role.send_replace(Role::Lost {
                why: "no lease to keep",
            });
            return;
        };
        loop {
            let now = match self.next().await {
                Action::Lead { epoch: e } if e == epoch => Role::Leading { epoch },
                Action::Lead { .. } => Role::Lost {
                    why: "the lease changed hands in between",
                },
                Action::StepDown { why } if self.taken => Role::Lost { why },
                Action::StepDown { why } => Role::Suspended { why },
                Action::Ask { .. } => continue,
            };
            let leader = matches!(now, Role::Leading { .. });
            self.metrics.leader.set(i64::from(leader));
            match &now {
                Role::Leading { .. } => {
                    tracing::info!(node = %self.name, epoch, "the lease is renewed again: taking new calls")
                }
                Role::Suspended { why } => {
                    tracing::warn!(node = %self.name, epoch, why, "the lease cannot be vouched for: no new calls until it is renewed")
                }
                Role::Lost { why } => {
                    tracing::error!(node = %self.name, epoch, why, "the lease is lost")
                }
            }
            let lost = matches!(now, Role::Lost { .. });
            role.send_replace(now);
            if lost {
                return;
            }
        }
    }

    /// What gives this node's lease up at a graceful stop.
    pub fn releaser(&self) -> Release {
        Release {
            leases: self.leases.clone(),
            lease: self.lease.clone(),
            limit: self.timing.renew_every,
        }
    }

    /// Runs the keeper until it says to lead or to step down.
    async fn next(&mut self) -> Action {
        loop {
            let now = std::time::Instant::now();
            let mut ask = None;
            for action in self.keeper.handle_timeout(now) {
                match action {
                    Action::Ask { id } => ask = Some(id),
                    other => return other,
                }
            }
            let Some(id) = ask else {
                match self.keeper.poll_timeout() {
                    Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
                    // Nothing due and nothing asked: cannot happen (a question is in flight
                    // only inside this loop); ask again after a renewal period.
                    None => tokio::time::sleep(self.timing.renew_every).await,
                }
                continue;
            };
            let answer = self.ask().await;
            if self.taken && self.lease.is_some() && self.keeper.valid_until().is_none() {
                // Suspended (the lease lapsed unrenewed), and now another node has it.
                return Action::StepDown {
                    why: "another node holds the lease",
                };
            }
            for action in self.keeper.answered(std::time::Instant::now(), id, answer) {
                match action {
                    Action::Ask { .. } => {}
                    other => return other,
                }
            }
        }
    }

    /// Takes or renews the lease, within the time the lease can still be vouched for (or a
    /// renewal period, for a standby).
    async fn ask(&mut self) -> Answer {
        let started = std::time::Instant::now();
        let limit = match self.keeper.valid_until() {
            Some(until) => until.saturating_duration_since(started),
            None => self.timing.ttl,
        }
        .max(Duration::from_millis(1));
        // A standby that could not reach the database holds back for one lease length once
        // it can again: the leader, which could not reach it either, has kept its calls
        // meanwhile (suspended) and takes its lease back, same epoch, rather than lose them
        // to a standby that happened to ask first. A leader that is really gone is replaced
        // one lease later.
        let standby = self.lease.is_none();
        let holding_off =
            standby && (self.cut_off || self.hold_off_until.is_some_and(|t| started < t));
        let leases = self.leases.clone();
        let op = async {
            if holding_off {
                leases.read(LEASE).await.map(|_| None)
            } else {
                leases.acquire(LEASE, &self.holder, self.timing.ttl).await
            }
        };
        let asked = tokio::time::timeout(limit, op).await;
        if standby {
            match &asked {
                Ok(Ok(_)) if self.cut_off => {
                    self.cut_off = false;
                    self.hold_off_until = Some(std::time::Instant::now() + self.timing.ttl);
                    tracing::info!(node = %self.name, "the database answers again: the lease is left to its holder for one lease length");
                }
                Ok(Ok(_)) => {}
                _ => self.cut_off = true,
            }
        }
        self.metrics
            .ask_seconds
            .observe(started.elapsed().as_secs_f64());
        self.taken = matches!(asked, Ok(Ok(None)));
        match asked {
            Ok(Ok(Some(lease))) => {
                let epoch = lease.epoch;
                self.lease = Some(lease);
                Answer::Held { epoch }
            }
            Ok(Ok(None)) => Answer::Taken,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, node = %self.name, "cannot ask for the routing lease");
                Answer::Failed(e.to_string())
            }
            Err(_) => {
                tracing::warn!(node = %self.name, limit_ms = limit.as_millis() as u64, "no answer to the routing lease request in time");
                Answer::Failed("no answer in time".into())
            }
        }
    }
}

/// Gives a node's lease up at a graceful stop, so the standby need not wait for it to lapse.
pub struct Release {
    leases: std::sync::Arc<LeaseClient>,
    lease: Option<Lease>,
    limit: Duration,
}

impl Release {
    pub async fn release(&self) {
        let Some(lease) = &self.lease else { return };
        match tokio::time::timeout(self.limit, self.leases.release(lease)).await {
            Ok(Ok(true)) => {
                tracing::info!(epoch = lease.epoch, "the routing lease is given up")
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot give up the routing lease"),
            Err(_) => tracing::warn!("cannot give up the routing lease: no answer in time"),
        }
    }
}
