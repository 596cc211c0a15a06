//! Changes made while the centre runs, without a restart. So far: an agent's skills and
//! levels. Each change is an audit event in the log (who, which agent, the skills before and
//! after, as JSON), appended before the change is applied; at start the latest change per
//! agent is applied again on top of the configuration file (see [`skills_to_restore_from`]).

use std::collections::BTreeMap;

use hotline_model::AuditEntry;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::RouterCmd;

/// The audit action of a live change of an agent's skills; its target is the extension.
pub const SKILLS_ACTION: &str = "agent_skills";

/// Most skills one agent may hold through a live change.
pub const MAX_AGENT_SKILLS: usize = 64;

/// Longest skill name, in characters.
pub const MAX_SKILL_NAME: usize = 64;

/// The detail (JSON) of a [`SKILLS_ACTION`] audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillsChange {
    /// The agent's skills before the change.
    pub old: BTreeMap<String, u8>,
    /// The agent's skills from the change on.
    pub new: BTreeMap<String, u8>,
    /// The agent's skills in the configuration file the centre was started with at the
    /// time: a later start with a file that gives the agent other skills keeps the file's
    /// (the file was changed after this change).
    pub file: BTreeMap<String, u8>,
}

/// Why a skill name is refused, if it is: names are what a configuration file's `skills`
/// table may hold and the routing engine accepts (not empty, at most [`MAX_SKILL_NAME`]
/// characters, no control characters, no leading or trailing space, not the engine's
/// reserved `*`).
pub fn skill_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("a skill name may not be empty")
    } else if name.chars().count() > MAX_SKILL_NAME {
        Some("a skill name has at most 64 characters")
    } else if name.chars().any(char::is_control) {
        Some("a skill name may not hold control characters")
    } else if name.trim() != name {
        Some("a skill name may not begin or end with a space")
    } else if name == "*" {
        Some("`*` is reserved")
    } else {
        None
    }
}

/// Why a level is refused, if it is: 1 to 10, as in the configuration file.
pub fn level_problem(level: i64) -> Option<&'static str> {
    (!(1..=i64::from(hotline_acd::MAX_LEVEL)).contains(&level))
        .then_some("skill levels run from 1 to 10")
}

/// The configuration file's skills of each agent, by extension.
pub fn file_skills(cfg: &hotline_config::Config) -> BTreeMap<String, BTreeMap<String, u8>> {
    cfg.agents
        .iter()
        .map(|a| {
            (
                a.extension.get_ref().clone(),
                a.skills
                    .iter()
                    .map(|(s, l)| (s.clone(), *l.get_ref()))
                    .collect(),
            )
        })
        .collect()
}

/// Which agents' skills the log changes at start, from each agent's latest
/// [`SKILLS_ACTION`] audit entry: its `new` skills, unless the agent is no longer in the
/// configuration, or the file now gives the agent other skills than when the change was made
/// (then the file, changed later, wins), or the entry cannot be read. Returns the changes to
/// apply, and what was left aside and why (for the log).
///
/// `file`: each agent's skills in the files (by extension; an agent missing from it is no
/// longer in the configuration).
#[allow(clippy::type_complexity)]
pub fn skills_to_restore_from(
    file: &BTreeMap<String, BTreeMap<String, u8>>,
    latest: &[AuditEntry],
) -> (Vec<(String, BTreeMap<String, u8>)>, Vec<(String, String)>) {
    let mut apply = Vec::new();
    let mut aside = Vec::new();
    for e in latest.iter().filter(|e| e.action == SKILLS_ACTION) {
        let ext = e.target.clone();
        let Some(in_file) = file.get(&ext) else {
            aside.push((ext, "no longer in the configuration".to_string()));
            continue;
        };
        let change = match e
            .detail
            .as_deref()
            .map(serde_json::from_str::<SkillsChange>)
        {
            Some(Ok(c)) => c,
            Some(Err(err)) => {
                aside.push((ext, format!("unreadable change: {err}")));
                continue;
            }
            None => {
                aside.push((ext, "a change without detail".to_string()));
                continue;
            }
        };
        if &change.file != in_file {
            aside.push((
                ext,
                "the configuration file changed the agent's skills since; the file's are kept"
                    .to_string(),
            ));
            continue;
        }
        apply.push((ext, change.new));
    }
    (apply, aside)
}

/// Why a live change was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeError {
    /// No agent has this extension.
    UnknownAgent,
    /// The configuration with these skills would not check (e.g. a flow asks for a level of
    /// a skill no agent would hold any more): nothing was changed.
    Invalid(String),
    /// The log did not take the audit event: nothing was changed.
    Store(String),
    /// The change is logged but the router refused it or has stopped.
    Router(String),
}

impl std::fmt::Display for ChangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangeError::UnknownAgent => write!(f, "no such agent"),
            ChangeError::Invalid(e) => write!(f, "{e}"),
            ChangeError::Store(e) => write!(f, "the log did not take the change: {e}"),
            ChangeError::Router(e) => write!(f, "the routing engine did not take the change: {e}"),
        }
    }
}

/// See [`crate::Centre::change_skills`]. One change at a time, so that each audit event's
/// `old` is what the change replaced.
pub(crate) async fn change_skills(
    centre: &crate::Centre,
    by: &str,
    extension: &str,
    skills: BTreeMap<String, u8>,
    file: BTreeMap<String, u8>,
) -> Result<SkillsChange, ChangeError> {
    let router = &centre.shared.router;
    let (tx, rx) = oneshot::channel();
    router
        .send(RouterCmd::Agents(tx))
        .map_err(|_| ChangeError::Router("the router has stopped".into()))?;
    let views = rx
        .await
        .map_err(|_| ChangeError::Router("the router has stopped".into()))?;
    let old = views
        .into_iter()
        .find(|v| v.extension == extension)
        .map(|v| v.skills)
        .ok_or(ChangeError::UnknownAgent)?;
    let change = SkillsChange {
        old,
        new: skills,
        file,
    };
    let detail = serde_json::to_string(&change).map_err(|e| ChangeError::Store(e.to_string()))?;
    let mut audit = hotline_model::AuditEvent::new(
        hotline_model::Timestamp::now(),
        by,
        SKILLS_ACTION,
        extension,
    );
    audit.detail = Some(detail);
    // Durable before it takes effect: what the log does not have did not happen.
    centre
        .shared
        .store
        .append_one(hotline_model::Event::Audit(audit))
        .await
        .map_err(|e| ChangeError::Store(e.to_string()))?;
    let (done, rx) = oneshot::channel();
    router
        .send(RouterCmd::SetSkills {
            extension: extension.to_string(),
            skills: change.new.clone(),
            done,
        })
        .map_err(|_| ChangeError::Router("the router has stopped".into()))?;
    rx.await
        .map_err(|_| ChangeError::Router("the router has stopped".into()))?
        .map_err(ChangeError::Router)?;
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_model::{Seq, Timestamp};

    fn demo() -> hotline_config::Config {
        hotline_config::Config::from_toml("demo.toml", hotline_config::DEMO_TOML).unwrap()
    }

    fn skills(list: &[(&str, u8)]) -> BTreeMap<String, u8> {
        list.iter().map(|(s, l)| ((*s).to_string(), *l)).collect()
    }

    fn entry(target: &str, detail: Option<String>) -> AuditEntry {
        AuditEntry {
            seq: Seq::UNASSIGNED,
            at: Timestamp::now(),
            user: "supervisor".into(),
            action: SKILLS_ACTION.into(),
            target: target.into(),
            detail,
        }
    }

    fn change(file: &[(&str, u8)], new: &[(&str, u8)]) -> Option<String> {
        serde_json::to_string(&SkillsChange {
            old: skills(file),
            new: skills(new),
            file: skills(file),
        })
        .ok()
    }

    #[test]
    fn the_latest_change_wins_over_the_file_it_was_made_on() {
        let cfg = demo();
        let latest = vec![
            entry(
                "1003",
                change(
                    &[("cards", 8), ("general", 5)],
                    &[("accounts", 5), ("cards", 8)],
                ),
            ),
            // The file has given 1001 other skills since.
            entry("1001", change(&[("accounts", 2)], &[("general", 9)])),
            entry("9999", change(&[], &[("general", 9)])),
            entry("1002", Some("{not json".into())),
            entry("1004", None),
        ];
        let (apply, aside) = skills_to_restore_from(&file_skills(&cfg), &latest);
        assert_eq!(
            apply,
            vec![("1003".to_string(), skills(&[("accounts", 5), ("cards", 8)]))]
        );
        let aside: Vec<&str> = aside.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(aside, vec!["1001", "9999", "1002", "1004"]);
    }

    #[test]
    fn names_and_levels_are_checked_like_the_file() {
        for ok in ["accounts", "普通话", "card-services", "a b"] {
            assert_eq!(skill_name_problem(ok), None, "{ok}");
        }
        for bad in ["", "*", " x", "x ", "a\nb", &"x".repeat(65)] {
            assert!(skill_name_problem(bad).is_some(), "{bad:?}");
        }
        assert!(level_problem(0).is_some());
        assert!(level_problem(11).is_some());
        assert!(level_problem(-1).is_some());
        assert_eq!(level_problem(1), None);
        assert_eq!(level_problem(10), None);
    }
}
