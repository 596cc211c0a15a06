//! Changing the running centre's configuration: one item at a time through the API, or the
//! files read again (SIGHUP, or the API's reload). Each change is validated as strictly as
//! the files ([`Docs::check`]), appended to the log as an audit event ([`CONFIG_ACTION`],
//! durable) and then put into effect ([`crate::Centre::apply_config`]). At start the log's
//! changes are applied again on top of the files ([`confdoc::restore`]).

use std::path::PathBuf;

use serde_json::Value;

use crate::apply::ApplyError;
use crate::confdoc::{self, CONFIG_ACTION, ConfigChange, Docs, FieldError, Kind};

/// The documents behind the running configuration.
#[derive(Debug, Clone)]
pub struct LiveDocs {
    /// The centre file, when the centre was started from one (not the built-in demo): what
    /// a reload reads again.
    pub path: Option<PathBuf>,
    /// The files as read at start: settings that are not live are as they were then.
    pub started: Docs,
    /// The files as last read (at start or at the last reload).
    pub files: Docs,
    /// The files with every live change: what the centre runs.
    pub live: Docs,
}

/// Why a change was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeError {
    /// The change is refused as the files would be: nothing changed.
    Invalid(FieldError),
    /// Nothing to remove.
    NotFound,
    /// An agent to be removed is on a contact.
    AgentBusy(String),
    /// The log did not take the audit event: nothing changed.
    Store(String),
    /// Logged, but the routing engine refused it; a second audit event takes it back.
    Router(String),
    /// Nothing to reload: the centre runs the built-in demo configuration.
    NoFile,
}

impl std::fmt::Display for ChangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangeError::Invalid(e) => write!(f, "{}: {}", e.field, e.message),
            ChangeError::NotFound => write!(f, "no such item"),
            ChangeError::AgentBusy(a) => write!(
                f,
                "agent {a} is on a contact or being offered one: remove it once it is free"
            ),
            ChangeError::Store(e) => write!(f, "the log did not take the change: {e}"),
            ChangeError::Router(e) => write!(f, "the routing engine did not take the change: {e}"),
            ChangeError::NoFile => write!(
                f,
                "the centre runs the built-in demo configuration: there is no file to read again"
            ),
        }
    }
}

/// A change made.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    pub kind: Kind,
    pub key: String,
    pub previous: Option<Value>,
    pub item: Option<Value>,
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reloaded {
    /// The items the files changed, now in effect.
    pub applied: Vec<(Kind, String)>,
    /// Settings the files changed that take effect only at the next start.
    pub restart_only: Vec<String>,
}

impl crate::Centre {
    /// The live configuration's documents (for the API's view and export).
    pub async fn live_docs(&self) -> Docs {
        self.docs.lock().await.live.clone()
    }

    /// Restart-only settings the files on disk now change against what runs.
    pub async fn pending_restart(&self) -> Vec<String> {
        let (path, started) = {
            let d = self.docs.lock().await;
            (d.path.clone(), d.started.clone())
        };
        let Some(path) = path else {
            return Vec::new();
        };
        match tokio::task::spawn_blocking(move || Docs::read(&path)).await {
            Ok(Ok(now)) => started.restart_only_changes(&now),
            _ => Vec::new(),
        }
    }

    /// Puts (`Some`) or removes (`None`) one item of the live configuration, as `by`.
    /// Secrets: see [`confdoc::merge_secrets`] (users' passwords are hashed by the caller).
    pub async fn change_item(
        &self,
        by: &str,
        kind: Kind,
        key: &str,
        value: Option<Value>,
    ) -> Result<Changed, ChangeError> {
        let mut d = self.docs.lock().await;
        let previous = d.live.item(kind, key);
        if value.is_none() && previous.is_none() {
            return Err(ChangeError::NotFound);
        }
        let mut value = value;
        if let Some(v) = value.as_mut() {
            let realm = self.config().sip.realm.clone();
            confdoc::merge_secrets(kind, v, previous.as_ref(), &realm)
                .map_err(ChangeError::Invalid)?;
        }
        let mut next = d.live.clone();
        next.set_item(kind, key, value.clone())
            .map_err(ChangeError::Invalid)?;
        let (cfg, flows) = next.check().map_err(ChangeError::Invalid)?;
        let admin = |c: &hotline_config::Config| {
            c.users
                .iter()
                .any(|u| u.role == hotline_config::Role::Admin)
        };
        if kind == Kind::Users && !admin(&cfg) && admin(&self.config()) {
            return Err(ChangeError::Invalid(FieldError {
                code: "in_use",
                field: "role".to_string(),
                message: "the last administrator may not be removed or given another role: \
                          nobody could change the configuration any more"
                    .to_string(),
            }));
        }
        if kind == Kind::Agents && value.is_none() && self.agent_is_busy(key).await {
            return Err(ChangeError::AgentBusy(key.to_string()));
        }
        let change = ConfigChange {
            kind,
            key: key.to_string(),
            old: previous.clone(),
            new: value.clone(),
            file: d.files.item(kind, key),
        };
        self.log_change(by, &change).await?;
        if let Err(e) = self.apply_config(cfg, flows).await {
            // Logged but not in effect: a second entry takes it back, so that a restart does
            // not apply what the centre refused.
            let back = ConfigChange {
                kind,
                key: key.to_string(),
                old: value,
                new: previous,
                file: change.file.clone(),
            };
            if let Err(le) = self.log_change("hotline", &back).await {
                tracing::error!(error = %le, "cannot log the withdrawal of a refused change");
            }
            return Err(match e {
                ApplyError::AgentBusy(a) => ChangeError::AgentBusy(a),
                ApplyError::Router(r) => ChangeError::Router(r),
            });
        }
        d.live = next;
        tracing::info!(user = %by, kind = kind.segment(), key, "configuration changed live");
        Ok(Changed {
            kind,
            key: key.to_string(),
            previous: change.old,
            item: change.new,
        })
    }

    /// Reads the files again and puts into effect every item they changed since they were
    /// last read (as the user `file`); items they did not change keep their live values.
    pub async fn reload(&self) -> Result<Reloaded, ChangeError> {
        let mut d = self.docs.lock().await;
        let Some(path) = d.path.clone() else {
            return Err(ChangeError::NoFile);
        };
        let read = path.clone();
        let files = tokio::task::spawn_blocking(move || Docs::read(&read))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map_err(|e| {
                ChangeError::Invalid(FieldError {
                    code: "invalid",
                    field: String::new(),
                    message: e,
                })
            })?;
        // The new files must be valid by themselves, as at a start.
        files.check().map_err(ChangeError::Invalid)?;
        let changes = confdoc::file_changes(&d.files, &files);
        let restart_only = d.started.restart_only_changes(&files);
        let mut next = d.live.clone();
        for (kind, key, item) in &changes {
            next.set_item(*kind, key, item.clone())
                .map_err(ChangeError::Invalid)?;
        }
        let (cfg, flows) = next.check().map_err(ChangeError::Invalid)?;
        for (kind, key, item) in &changes {
            if *kind == Kind::Agents && item.is_none() && self.agent_is_busy(key).await {
                return Err(ChangeError::AgentBusy(key.clone()));
            }
        }
        let mut logged: Vec<ConfigChange> = Vec::new();
        let mut failure = None;
        for (kind, key, item) in &changes {
            let change = ConfigChange {
                kind: *kind,
                key: key.clone(),
                old: d.live.item(*kind, key),
                new: item.clone(),
                file: item.clone(),
            };
            if let Err(e) = self.log_change("file", &change).await {
                failure = Some(e);
                break;
            }
            logged.push(change);
        }
        if failure.is_none()
            && let Err(e) = self.apply_config(cfg, flows).await
        {
            failure = Some(match e {
                ApplyError::AgentBusy(a) => ChangeError::AgentBusy(a),
                ApplyError::Router(r) => ChangeError::Router(r),
            });
        }
        if let Some(e) = failure {
            // What was logged did not take effect: taken back, so that a restart does not
            // apply it either (the next reload tries again).
            for c in logged {
                let file = d.files.item(c.kind, &c.key);
                let back = ConfigChange {
                    kind: c.kind,
                    key: c.key,
                    old: c.new,
                    new: c.old,
                    file,
                };
                if let Err(le) = self.log_change("hotline", &back).await {
                    tracing::error!(error = %le, "cannot log the withdrawal of a reload that failed");
                }
            }
            return Err(e);
        }
        d.live = next;
        d.files = files;
        if !restart_only.is_empty() {
            tracing::warn!(
                settings = ?restart_only,
                "the file changes settings that take effect only at the next start"
            );
        }
        tracing::info!(changes = changes.len(), file = %path.display(), "configuration file read again");
        Ok(Reloaded {
            applied: changes.into_iter().map(|(k, key, _)| (k, key)).collect(),
            restart_only,
        })
    }

    /// An agent's skills changed (see [`crate::Centre::change_skills`]): checked with the
    /// whole configuration, audited (`agent_skills`, with the skills the files give the agent
    /// now), applied, and kept in the live documents, one change at a time with the others.
    pub(crate) async fn change_skills_live(
        &self,
        by: &str,
        extension: &str,
        skills: std::collections::BTreeMap<String, u8>,
    ) -> Result<crate::live::SkillsChange, crate::live::ChangeError> {
        use crate::live::ChangeError as E;
        let mut d = self.docs.lock().await;
        let Some(Value::Object(mut item)) = d.live.item(Kind::Agents, extension) else {
            return Err(E::UnknownAgent);
        };
        let as_json = |s: &std::collections::BTreeMap<String, u8>| {
            Value::Object(
                s.iter()
                    .map(|(k, l)| (k.clone(), Value::from(*l)))
                    .collect(),
            )
        };
        item.insert("skills".to_string(), as_json(&skills));
        let mut next = d.live.clone();
        next.set_item(Kind::Agents, extension, Some(Value::Object(item)))
            .map_err(|e| E::Invalid(e.message))?;
        let (mut cfg, _) = next.check().map_err(|e| E::Invalid(e.message))?;
        let file = d
            .files
            .item(Kind::Agents, extension)
            .and_then(|a| a.get("skills").cloned())
            .and_then(|s| serde_json::from_value(s).ok())
            .unwrap_or_default();
        let change = crate::live::change_skills(self, by, extension, skills, file).await?;
        d.live = next;
        crate::apply::keep_running(&mut cfg, &self.config());
        *self.config.write() = std::sync::Arc::new(cfg);
        Ok(change)
    }

    async fn agent_is_busy(&self, extension: &str) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self
            .shared
            .router
            .send(crate::RouterCmd::Agents(tx))
            .is_err()
        {
            return false;
        }
        rx.await.unwrap_or_default().iter().any(|v| {
            v.extension == extension
                && matches!(
                    v.state,
                    hotline_acd::AgentState::Offered | hotline_acd::AgentState::Busy
                )
        })
    }

    async fn log_change(&self, by: &str, change: &ConfigChange) -> Result<(), ChangeError> {
        let detail =
            serde_json::to_string(change).map_err(|e| ChangeError::Store(e.to_string()))?;
        let mut audit = hotline_model::AuditEvent::new(
            hotline_model::Timestamp::now(),
            by,
            CONFIG_ACTION,
            format!("{}/{}", change.kind.segment(), change.key),
        );
        audit.detail = Some(detail);
        self.shared
            .store
            .append_one(hotline_model::Event::Audit(audit))
            .await
            .map(|_| ())
            .map_err(|e| ChangeError::Store(e.to_string()))
    }
}
