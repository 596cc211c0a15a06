//! Putting a new configuration into effect while the centre runs: the routing engine's
//! agents, queues and rules, the registrar's credentials and trusted networks, and the routes
//! new calls take (numbers, flows and schedules, transfer targets, the trunk out). A call in
//! progress keeps the routes it started with; the next routing decision uses the new agents,
//! queues and rules.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hotline_config::Config;
use hotline_flow::FlowSet;
use tokio::sync::oneshot;

use crate::router::{self, RouterCmd};
use crate::session::Routes;

/// Why a configuration was not put into effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// An agent to be removed holds or is being offered a contact.
    AgentBusy(String),
    /// The routing engine refused a change (nothing after it was applied).
    Router(String),
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::AgentBusy(e) => write!(
                f,
                "agent {e} is on a contact or being offered one: remove it once it is free"
            ),
            ApplyError::Router(e) => write!(f, "the routing engine did not take the change: {e}"),
        }
    }
}

/// What differs between two configurations, for the routing engine.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct EngineChanges {
    pub removed_agents: Vec<String>,
    /// (extension, name, skills)
    pub added_agents: Vec<(String, String, BTreeMap<String, u8>)>,
    pub renamed_agents: Vec<(String, String)>,
    pub reskilled_agents: Vec<(String, BTreeMap<String, u8>)>,
    /// New or changed queues, in the order of the new configuration (a queue another's
    /// overflow names comes first when it is new).
    pub queues: Vec<hotline_acd::QueueConfig>,
    /// Queues no longer in the configuration.
    pub removed_queues: Vec<String>,
    pub rules: Option<hotline_acd::EngineConfig>,
}

/// What is not live stays as the centre started with it (addresses, ports, the data
/// directory, paths made absolute at start, command-line overrides).
pub fn keep_running(new: &mut Config, running: &Config) {
    new.centre = running.centre.clone();
    new.sip = running.sip.clone();
    new.http = running.http.clone();
    new.log = running.log.clone();
    new.storage = running.storage.clone();
    new.media = running.media.clone();
    new.cluster = running.cluster.clone();
}

/// Brings a running SIP server to `cfg`'s live items, as a live change does: the
/// registrar's accounts, the trunks' trusted networks and the SRTP policies. For a server
/// started before the configuration was read (a standby's, at takeover).
pub fn sip_items(sip: &hotline_sip::SipServer, cfg: &Config) {
    sip.guard.set_trusted(cfg);
    *sip.calls.srtp.write() = hotline_sip::sdes::Policies::from_config(cfg);
    sip.registrar.set_accounts(cfg);
}

fn skills_of(a: &hotline_config::Agent) -> BTreeMap<String, u8> {
    a.skills
        .iter()
        .map(|(s, l)| (s.clone(), *l.get_ref()))
        .collect()
}

/// The routing engine's side of going from `old` to `new`.
pub(crate) fn engine_changes(old: &Config, new: &Config) -> Result<EngineChanges, String> {
    let mut ch = EngineChanges::default();
    let old_agents: BTreeMap<&str, &hotline_config::Agent> = old
        .agents
        .iter()
        .map(|a| (a.extension.get_ref().as_str(), a))
        .collect();
    let new_exts: BTreeSet<&str> = new
        .agents
        .iter()
        .map(|a| a.extension.get_ref().as_str())
        .collect();
    for a in &old.agents {
        if !new_exts.contains(a.extension.get_ref().as_str()) {
            ch.removed_agents.push(a.extension.get_ref().clone());
        }
    }
    for a in &new.agents {
        let ext = a.extension.get_ref();
        match old_agents.get(ext.as_str()) {
            None => ch
                .added_agents
                .push((ext.clone(), a.name.clone(), skills_of(a))),
            Some(o) => {
                if o.name != a.name {
                    ch.renamed_agents.push((ext.clone(), a.name.clone()));
                }
                if skills_of(o) != skills_of(a) {
                    ch.reskilled_agents.push((ext.clone(), skills_of(a)));
                }
            }
        }
    }
    let mut old_queues = BTreeMap::new();
    for q in &old.queues {
        old_queues.insert(q.name.get_ref().clone(), router::queue_config(q, old)?);
    }
    // New queues first (in file order), so that a changed queue's overflow may name them.
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for q in &new.queues {
        let qc = router::queue_config(q, new)?;
        match old_queues.get(q.name.get_ref()) {
            None => added.push(qc),
            Some(o) if *o != qc => changed.push(qc),
            Some(_) => {}
        }
    }
    ch.queues = added.into_iter().chain(changed).collect();
    let new_queues: BTreeSet<&str> = new
        .queues
        .iter()
        .map(|q| q.name.get_ref().as_str())
        .collect();
    ch.removed_queues = old
        .queues
        .iter()
        .map(|q| q.name.get_ref())
        .filter(|n| !new_queues.contains(n.as_str()))
        .cloned()
        .collect();
    let (old_rules, new_rules) = (router::engine_config(old), router::engine_config(new));
    if old_rules != new_rules {
        ch.rules = Some(new_rules);
    }
    Ok(ch)
}

async fn ask(
    router: &tokio::sync::mpsc::UnboundedSender<RouterCmd>,
    cmd: impl FnOnce(oneshot::Sender<Result<(), String>>) -> RouterCmd,
) -> Result<(), String> {
    let (done, rx) = oneshot::channel();
    router
        .send(cmd(done))
        .map_err(|_| "the router has stopped".to_string())?;
    rx.await.map_err(|_| "the router has stopped".to_string())?
}

impl crate::Centre {
    /// The configuration the centre runs now (the file with the live changes).
    pub fn config(&self) -> Arc<Config> {
        self.config.read().clone()
    }

    /// Puts `new` (already validated, with `flows` checked against it) into effect in place
    /// of the running configuration. Agents to be removed are taken out first: if one is on
    /// a contact, nothing is changed ([`ApplyError::AgentBusy`]). Then the agents added,
    /// renamed and given other skills, the queues added or changed, the engine-wide rules,
    /// the registrar's credentials, the trunks' trusted networks, the SRTP policies, and the
    /// routes new calls take. Past the removals it does not stop half-way.
    pub async fn apply_config(&self, new: Config, flows: FlowSet) -> Result<(), ApplyError> {
        let old = self.config();
        let mut new = new;
        keep_running(&mut new, &old);
        let ch = engine_changes(&old, &new).map_err(ApplyError::Router)?;
        let router = &self.shared.router;
        let mut removed: Vec<&str> = Vec::new();
        for ext in &ch.removed_agents {
            let r = ask(router, |done| RouterCmd::RemoveAgent {
                extension: ext.clone(),
                done,
            })
            .await;
            if let Err(e) = r {
                // Put back the ones taken out before this one: nothing changes.
                for back in removed {
                    if let Some(a) = old.agents.iter().find(|a| a.extension.get_ref() == back) {
                        let _ = ask(router, |done| RouterCmd::AddAgent {
                            extension: back.to_string(),
                            name: a.name.clone(),
                            skills: skills_of(a),
                            capacity: crate::router::agent_capacity(a.capacity.as_ref(), &old),
                            done,
                        })
                        .await;
                    }
                }
                return Err(if e.starts_with("busy") {
                    ApplyError::AgentBusy(ext.clone())
                } else {
                    ApplyError::Router(e)
                });
            }
            removed.push(ext);
        }
        // From here on the change goes through whatever happens: the configuration was
        // checked as a whole, so the engine refusing a part of it is a fault of hotline's,
        // logged; the rest (and what is shown) follows the new configuration.
        let mut faults = Vec::new();
        for (ext, name, skills) in &ch.added_agents {
            let own = new.agents.iter().find(|a| a.extension.get_ref() == ext);
            let capacity =
                crate::router::agent_capacity(own.and_then(|a| a.capacity.as_ref()), &new);
            let r = ask(router, |done| RouterCmd::AddAgent {
                extension: ext.clone(),
                name: name.clone(),
                skills: skills.clone(),
                capacity,
                done,
            })
            .await;
            faults.extend(r.err().map(|e| format!("adding agent {ext}: {e}")));
        }
        for (ext, name) in &ch.renamed_agents {
            let r = ask(router, |done| RouterCmd::RenameAgent {
                extension: ext.clone(),
                name: name.clone(),
                done,
            })
            .await;
            faults.extend(r.err().map(|e| format!("renaming agent {ext}: {e}")));
        }
        for (ext, skills) in &ch.reskilled_agents {
            let r = ask(router, |done| RouterCmd::SetSkills {
                extension: ext.clone(),
                skills: skills.clone(),
                done,
            })
            .await;
            faults.extend(r.err().map(|e| format!("agent {ext}'s skills: {e}")));
        }
        for q in &ch.queues {
            let r = ask(router, |done| RouterCmd::UpsertQueue {
                queue: q.clone(),
                done,
            })
            .await;
            faults.extend(r.err().map(|e| format!("queue {}: {e}", q.name)));
        }
        for name in &ch.removed_queues {
            let r = ask(router, |done| RouterCmd::RetireQueue {
                name: name.clone(),
                done,
            })
            .await;
            faults.extend(r.err().map(|e| format!("removing queue {name}: {e}")));
        }
        if let Some(rules) = &ch.rules {
            let r = ask(router, |done| RouterCmd::SetRules {
                rules: rules.clone(),
                done,
            })
            .await;
            faults.extend(r.err().map(|e| format!("routing rules: {e}")));
        }
        for f in &faults {
            tracing::error!("the routing engine refused part of a checked configuration: {f}");
        }
        self.shared.guard.set_trusted(&new);
        *self.shared.calls.srtp.write() = hotline_sip::sdes::Policies::from_config(&new);
        self.shared.registrar.set_accounts(&new);
        // The trunk out keeps its password from the environment, as at start; a trunk whose
        // variable is missing keeps calls out as they were.
        let trunk = match crate::trunk::OutboundTrunk::from_config(&new, |v| std::env::var(v).ok())
        {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "the trunk out is not changed");
                self.shared.routes().trunk.clone()
            }
        };
        *self.shared.routes.write() = Arc::new(Routes::new(&new, Arc::new(flows), trunk));
        self.chats.configure(&new);
        self.mailboxes.configure(&new);
        self.texts.configure(&new);
        *self.config.write() = Arc::new(new);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> Config {
        let text = format!("{}\n{extra}", hotline_config::DEMO_TOML);
        Config::from_toml("t.toml", &text).unwrap()
    }

    #[test]
    fn the_same_configuration_changes_nothing() {
        let c = cfg("");
        assert_eq!(engine_changes(&c, &c).unwrap(), EngineChanges::default());
    }

    #[test]
    fn agents_and_queues_added_changed_and_removed_are_told_apart() {
        let old = cfg("");
        let mut text =
            hotline_config::DEMO_TOML.replace("name = \"张伟 Zhang Wei\"", "name = \"张伟\"");
        text = text.replacen("wrap_up_seconds = 30", "wrap_up_seconds = 45", 1);
        text.push_str(
            "\n[[agents]]\nextension = \"1011\"\nname = \"新\"\nha1_md5 = \"00000000000000000000000000000000\"\nha1_sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nskills = { accounts = 3 }\n\n[[queues]]\nname = \"loans\"\nskills = { accounts = 1 }\n\n[routing]\nretry_seconds = 9\n",
        );
        let new = Config::from_toml("t.toml", &text).unwrap();
        let ch = engine_changes(&old, &new).unwrap();
        assert!(ch.removed_agents.is_empty());
        assert_eq!(ch.added_agents.len(), 1);
        assert_eq!(ch.added_agents[0].0, "1011");
        assert_eq!(
            ch.renamed_agents,
            vec![("1003".to_string(), "张伟".to_string())]
        );
        let names: Vec<&str> = ch.queues.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, vec!["loans", "accounts"], "new queues first");
        assert_eq!(ch.queues[1].wrap_up_seconds, 45.0);
        assert_eq!(ch.rules.map(|r| r.retry_seconds), Some(9.0));
        // And back: 1011 and loans removed.
        let back = engine_changes(&new, &old).unwrap();
        assert_eq!(back.removed_agents, vec!["1011".to_string()]);
        assert_eq!(back.removed_queues, vec!["loans".to_string()]);
    }
}
