//! The centre's configuration as documents made of items, for changes while the centre runs.
//!
//! The configuration is two TOML documents: the centre file ([`hotline_config::Config`]) and
//! its flows file ([`hotline_flow::FlowSet`]). [`Docs`] holds both as TOML tables; the parts
//! that may change live are **items**, each named by a [`Kind`] and a key (an agent by its
//! extension, a flow by its table name, …), whose value is the item's TOML table as JSON
//! with exactly the keys the file uses. [`Docs::check`] validates both documents exactly as
//! `hotline check-config` does, so a live change is held to the same rules as the file.
//!
//! Every live change is an audit event ([`CONFIG_ACTION`], detail [`ConfigChange`]); at
//! start [`restore`] puts the latest change of each item back on top of the files (the later
//! change wins: an item the files changed since is taken from the files), and [`file_changes`]
//! says what a reload of changed files changes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hotline_model::AuditEntry;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use toml::{Table, Value as Toml};

/// The audit action of a live configuration change; its target is `"<segment>/<key>"`
/// (e.g. `agents/1003`) and its detail the JSON of a [`ConfigChange`].
pub const CONFIG_ACTION: &str = "config";

/// The kinds of item that may change while the centre runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Agents,
    Queues,
    Users,
    Trunks,
    Numbers,
    Flows,
    Schedules,
    Routing,
    Wellbeing,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Agents,
        Kind::Queues,
        Kind::Users,
        Kind::Trunks,
        Kind::Numbers,
        Kind::Flows,
        Kind::Schedules,
        Kind::Routing,
        Kind::Wellbeing,
    ];

    /// The API path segment (and the name in the audit target and in [`ConfigChange`]).
    pub fn segment(self) -> &'static str {
        match self {
            Kind::Agents => "agents",
            Kind::Queues => "queues",
            Kind::Users => "users",
            Kind::Trunks => "trunks",
            Kind::Numbers => "numbers",
            Kind::Flows => "flows",
            Kind::Schedules => "schedules",
            Kind::Routing => "routing",
            Kind::Wellbeing => "wellbeing",
        }
    }

    pub fn from_segment(segment: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.segment() == segment)
    }

    /// For the kinds kept as an array of tables in the centre file: the array and the field
    /// that holds the key.
    fn array(self) -> Option<(&'static str, &'static str)> {
        match self {
            Kind::Agents => Some(("agents", "extension")),
            Kind::Queues => Some(("queues", "name")),
            Kind::Users => Some(("users", "name")),
            Kind::Trunks => Some(("trunks", "name")),
            Kind::Numbers => Some(("numbers", "number")),
            _ => None,
        }
    }

    /// One item of this kind, in messages.
    fn one(self) -> &'static str {
        match self {
            Kind::Agents => "agent",
            Kind::Queues => "queue",
            Kind::Users => "user",
            Kind::Trunks => "trunk",
            Kind::Numbers => "number",
            Kind::Flows => "flow",
            Kind::Schedules => "schedule",
            Kind::Routing => "routing",
            Kind::Wellbeing => "wellbeing",
        }
    }

    fn singleton(self) -> bool {
        matches!(self, Kind::Routing | Kind::Wellbeing)
    }
}

/// A refused change or document: which field, a stable code, a message.
///
/// `field` is relative to the item when the error is in one item (`skills.accounts`,
/// `wrap_up_seconds`; empty when it is about the whole item), else the document key path
/// (`centre.direct_queue`). Codes: `bad_item` (not an object, wrong or missing key),
/// `invalid` (the validators refused it), `missing_field` (a new agent or user without a
/// secret), `in_use` (removing something still referenced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub code: &'static str,
    pub field: String,
    pub message: String,
}

impl FieldError {
    fn new(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

/// The detail of a [`CONFIG_ACTION`] audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigChange {
    pub kind: Kind,
    pub key: String,
    /// The live item before (None: did not exist).
    pub old: Option<Json>,
    /// The live item after (None: removed).
    pub new: Option<Json>,
    /// The item in the files at the time (None: not there).
    pub file: Option<Json>,
}

/// The two documents of a centre's configuration.
#[derive(Debug, Clone)]
pub struct Docs {
    centre: Table,
    flows: Table,
    /// The names used in errors: the files, or what the documents are.
    centre_name: String,
    flows_name: String,
    /// The texts the documents were read from, while they are unchanged: validating them
    /// gives errors with the lines of the files.
    texts: Option<(String, String)>,
}

/// Two documents are equal when they hold the same configuration (names and comments
/// aside).
impl PartialEq for Docs {
    fn eq(&self, other: &Docs) -> bool {
        self.centre == other.centre && self.flows == other.flows
    }
}

const BUILT_IN_FLOWS: &str = "flows (built in)";
/// The name export-config gives the flows file it writes next to the centre file.
pub const FLOWS_FILE: &str = "flows.toml";

impl Docs {
    /// The files: the centre file at `path`, and its flows file (`centre.flows`, relative
    /// to it) or the built-in flows.
    pub fn read(path: &Path) -> Result<Docs, String> {
        let centre_name = path.display().to_string();
        let centre = std::fs::read_to_string(path)
            .map_err(|e| format!("{centre_name}: cannot read: {e}"))?;
        let table = parse_centre(&centre_name, &centre)?;
        let flows_file = match table
            .get("centre")
            .and_then(Toml::as_table)
            .and_then(|c| c.get("flows"))
        {
            None => None,
            Some(Toml::String(f)) => Some(f.clone()),
            // A wrong type: the loader says so, with the line.
            Some(_) => return Err(centre_error(&centre_name, &centre)),
        };
        let (flows_name, flows) = match flows_file {
            Some(f) => {
                let p = path.parent().unwrap_or(Path::new(".")).join(f);
                let text = std::fs::read_to_string(&p).map_err(|e| {
                    // The centre file's own errors first.
                    match hotline_config::Config::from_toml(&centre_name, &centre) {
                        Err(c) => c.to_string(),
                        Ok(_) => format!("{}: cannot read: {e}", p.display()),
                    }
                })?;
                (p.display().to_string(), text)
            }
            None => (
                BUILT_IN_FLOWS.to_string(),
                hotline_flow::DEMO_FLOWS.to_string(),
            ),
        };
        Docs::from_texts(&centre_name, &centre, &flows_name, &flows)
    }

    /// The built-in demo (`DEMO_TOML` and `DEMO_FLOWS`).
    pub fn demo() -> Docs {
        // The built-in texts are valid TOML (the config and flow crates test them).
        Docs::from_texts(
            "demo.toml (built in)",
            hotline_config::DEMO_TOML,
            BUILT_IN_FLOWS,
            hotline_flow::DEMO_FLOWS,
        )
        .unwrap_or_else(|_| Docs {
            centre: Table::new(),
            flows: Table::new(),
            centre_name: "demo.toml (built in)".into(),
            flows_name: BUILT_IN_FLOWS.into(),
            texts: None,
        })
    }

    /// Both documents from their texts; `*_name` name them in errors. Only the TOML syntax
    /// is checked here (see [`Docs::check`]).
    pub fn from_texts(
        centre_name: &str,
        centre: &str,
        flows_name: &str,
        flows: &str,
    ) -> Result<Docs, String> {
        let c = parse_centre(centre_name, centre)?;
        let f =
            flows
                .parse::<Table>()
                .map_err(|_| match hotline_flow::FlowSet::from_toml(flows) {
                    Err(e) => format!("{flows_name}:{e}"),
                    Ok(_) => format!("{flows_name}: not a TOML document"),
                })?;
        Ok(Docs {
            centre: c,
            flows: f,
            centre_name: centre_name.to_string(),
            flows_name: flows_name.to_string(),
            texts: Some((centre.to_string(), flows.to_string())),
        })
    }

    /// Every item, by (kind, key). The singletons (`routing`, `wellbeing`) are always there
    /// (an empty object when the file has no such table).
    pub fn items(&self) -> BTreeMap<(Kind, String), Json> {
        let mut out = BTreeMap::new();
        for kind in Kind::ALL {
            for (key, value) in self.items_of(kind) {
                out.insert((kind, key), value);
            }
        }
        out
    }

    fn items_of(&self, kind: Kind) -> Vec<(String, Json)> {
        if let Some((array, field)) = kind.array() {
            return self
                .centre
                .get(array)
                .and_then(Toml::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| {
                            let t = v.as_table()?;
                            let key = t.get(field)?.as_str()?.to_string();
                            Some((key, table_json(t)))
                        })
                        .collect()
                })
                .unwrap_or_default();
        }
        match kind {
            Kind::Flows | Kind::Schedules => self
                .flows
                .get(kind.segment())
                .and_then(Toml::as_table)
                .map(|t| {
                    t.iter()
                        .filter_map(|(k, v)| Some((k.clone(), table_json(v.as_table()?))))
                        .collect()
                })
                .unwrap_or_default(),
            _ => {
                let t = self
                    .centre
                    .get(kind.segment())
                    .and_then(Toml::as_table)
                    .map(table_json)
                    .unwrap_or_else(|| Json::Object(Default::default()));
                vec![("-".to_string(), t)]
            }
        }
    }

    pub fn item(&self, kind: Kind, key: &str) -> Option<Json> {
        self.items_of(kind)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Puts (Some) or removes (None) one item. The key inside `value` must equal `key` (else
    /// `bad_item` naming the field); removing an item still used elsewhere is refused
    /// (`in_use`, see [`Docs::in_use`]). Does not validate the whole; see [`Docs::check`].
    pub fn set_item(
        &mut self,
        kind: Kind,
        key: &str,
        value: Option<Json>,
    ) -> Result<(), FieldError> {
        match value {
            Some(v) => {
                let table = item_table(kind, key, &v)?;
                self.put(kind, key, table);
            }
            None => {
                self.in_use(kind, key)?;
                self.remove(kind, key);
            }
        }
        Ok(())
    }

    /// Refuses (`in_use`, naming who uses it) while the item is referenced by another: a
    /// queue a flow, a queue's overflow or the direct queue names, a flow a number (or the
    /// service numbers) or another flow's `after_call` uses, an agent a user works as, a
    /// schedule a flow's rule uses.
    pub fn in_use(&self, kind: Kind, key: &str) -> Result<(), FieldError> {
        let users = self.users_of(kind, key);
        if users.is_empty() {
            return Ok(());
        }
        Err(FieldError::new(
            "in_use",
            "",
            format!(
                "{} `{key}` is in use by {}: change those first",
                kind.one(),
                users.join(", ")
            ),
        ))
    }

    /// Puts an item's table, in place of the one with that key or at the end.
    fn put(&mut self, kind: Kind, key: &str, table: Table) {
        self.texts = None;
        if let Some((array, field)) = kind.array() {
            let arr = self
                .centre
                .entry(array)
                .or_insert_with(|| Toml::Array(Vec::new()));
            if !arr.is_array() {
                *arr = Toml::Array(Vec::new());
            }
            if let Some(a) = arr.as_array_mut() {
                match a
                    .iter_mut()
                    .find(|v| v.get(field).and_then(Toml::as_str) == Some(key))
                {
                    Some(slot) => *slot = Toml::Table(table),
                    None => a.push(Toml::Table(table)),
                }
            }
            return;
        }
        let (doc, name) = match kind {
            Kind::Flows | Kind::Schedules => (&mut self.flows, kind.segment()),
            _ => (&mut self.centre, kind.segment()),
        };
        if kind.singleton() {
            doc.insert(name.to_string(), Toml::Table(table));
            return;
        }
        let t = doc.entry(name).or_insert_with(|| Toml::Table(Table::new()));
        if !t.is_table() {
            *t = Toml::Table(Table::new());
        }
        if let Some(t) = t.as_table_mut() {
            t.insert(key.to_string(), Toml::Table(table));
        }
    }

    fn remove(&mut self, kind: Kind, key: &str) {
        self.texts = None;
        if let Some((array, field)) = kind.array() {
            if let Some(a) = self.centre.get_mut(array).and_then(Toml::as_array_mut) {
                a.retain(|v| v.get(field).and_then(Toml::as_str) != Some(key));
            }
            return;
        }
        match kind {
            Kind::Flows | Kind::Schedules => {
                if let Some(t) = self
                    .flows
                    .get_mut(kind.segment())
                    .and_then(Toml::as_table_mut)
                {
                    t.remove(key);
                }
            }
            _ => {
                self.centre.remove(kind.segment());
            }
        }
    }

    /// Validates both documents exactly as `hotline check-config` does (the centre file's
    /// loader, the flows' loader, then the checks across the two), returning the typed
    /// configuration.
    pub fn check(&self) -> Result<(hotline_config::Config, hotline_flow::FlowSet), FieldError> {
        let (centre, flows) = match &self.texts {
            Some((c, f)) => (c.clone(), f.clone()),
            None => (emit(&self.centre), emit(&self.flows)),
        };
        let cfg = hotline_config::Config::from_toml(&self.centre_name, &centre).map_err(|e| {
            self.error(DocError {
                path: e.key.clone(),
                reason: e.message.clone(),
                located: e.to_string(),
            })
        })?;
        let set = hotline_flow::FlowSet::from_toml(&flows).map_err(|e| {
            let located = format!("{}:{e}", self.flows_name);
            let (path, reason) = match &e {
                hotline_flow::LoadError::Parse { line, message, .. } => {
                    (path_at_line(&flows, *line, message), message.clone())
                }
                hotline_flow::LoadError::Invalid(errors) => match errors.first() {
                    Some(first) => {
                        let mut reason = first.message.clone();
                        if errors.len() > 1 {
                            let others: Vec<&str> =
                                errors[1..].iter().map(|e| e.path.as_str()).collect();
                            reason.push_str(&format!(" (and at {})", others.join(", ")));
                        }
                        (dotted_indexes(&first.path), reason)
                    }
                    None => (String::new(), e.to_string()),
                },
            };
            self.error(DocError {
                path,
                reason,
                located,
            })
        })?;
        cross_check(
            &cfg,
            &set,
            &self.centre_name,
            &centre,
            &self.flows_name,
            &flows,
        )
        .map_err(|e| self.error(e))?;
        Ok((cfg, set))
    }

    /// A validation error as a [`FieldError`]: the item and field when it is in an item.
    fn error(&self, e: DocError) -> FieldError {
        let in_item = self.item_of_path(&e.path);
        let message = if self.texts.is_some() {
            e.located
        } else {
            match &in_item {
                Some((kind, key, field)) if field.is_empty() => {
                    format!("{}/{key}: {}", kind.segment(), e.reason)
                }
                Some((kind, key, field)) => {
                    format!("{}/{key}: key `{field}`: {}", kind.segment(), e.reason)
                }
                None if e.path.is_empty() => e.reason,
                None => format!("key `{}`: {}", e.path, e.reason),
            }
        };
        let field = match in_item {
            Some((_, _, field)) => field,
            None => e.path,
        };
        FieldError::new("invalid", field, message)
    }

    /// The item a document key path (`agents[3].skills.cards`, `flows.main.steps.s1`) is
    /// in, and the field in it.
    fn item_of_path(&self, path: &str) -> Option<(Kind, String, String)> {
        let (head, rest) = path.split_once('.').unwrap_or((path, ""));
        if let Some((array, index)) = head.strip_suffix(']').and_then(|h| h.split_once('[')) {
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.array().is_some_and(|(a, _)| a == array))?;
            let (_, field) = kind.array()?;
            let i: usize = index.parse().ok()?;
            let key = self
                .centre
                .get(array)?
                .as_array()?
                .get(i)?
                .get(field)?
                .as_str()?
                .to_string();
            return Some((kind, key, rest.to_string()));
        }
        let kind = Kind::from_segment(head)?;
        if kind.singleton() {
            return Some((kind, "-".into(), rest.to_string()));
        }
        if matches!(kind, Kind::Flows | Kind::Schedules) {
            let (name, field) = rest.split_once('.').unwrap_or((rest, ""));
            if name.is_empty() {
                return None;
            }
            return Some((kind, name.trim_matches('"').to_string(), field.to_string()));
        }
        None
    }

    /// The top-level tables of the centre document that are not items and differ between
    /// `self` and `other` (`centre`, `sip`, `http`, `log`, `storage`, `media`, `cluster`): settings that
    /// take effect only at a start.
    pub fn restart_only_changes(&self, other: &Docs) -> Vec<String> {
        [
            "centre", "sip", "http", "log", "storage", "media", "cluster",
        ]
        .iter()
        .filter(|k| self.centre.get(**k) != other.centre.get(**k))
        .map(|k| (*k).to_string())
        .collect()
    }

    /// TOML texts of both documents (what export-config writes): (centre, flows). The
    /// centre text's `centre.flows` names [`FLOWS_FILE`], to be written next to it, unless
    /// the documents use the built-in flows unchanged. Comments are not kept.
    pub fn to_toml(&self) -> (String, String) {
        let mut centre = self.centre.clone();
        let built_in = hotline_flow::DEMO_FLOWS.parse::<Table>().ok();
        let has_file = centre.get("centre").and_then(|c| c.get("flows")).is_some();
        if has_file || built_in.as_ref() != Some(&self.flows) {
            let c = centre
                .entry("centre")
                .or_insert_with(|| Toml::Table(Table::new()));
            if let Some(c) = c.as_table_mut() {
                c.insert("flows".into(), Toml::String(FLOWS_FILE.into()));
            }
        }
        (emit(&centre), emit(&self.flows))
    }

    /// Who uses an item (for [`Docs::in_use`]), in words.
    fn users_of(&self, kind: Kind, key: &str) -> Vec<String> {
        let mut users = Vec::new();
        let flows = self.flows.get("flows").and_then(Toml::as_table);
        let steps = || {
            flows.into_iter().flat_map(|f| {
                f.iter().flat_map(|(flow, def)| {
                    def.get("steps")
                        .and_then(Toml::as_table)
                        .into_iter()
                        .flat_map(move |s| s.iter().map(move |(step, t)| (flow, step, t)))
                })
            })
        };
        let rules = |field: &'static str| {
            steps().flat_map(move |(flow, step, t)| {
                t.get("rules")
                    .and_then(Toml::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(move |r| {
                        Some((flow, step, field, r.get(field)?.as_str()?.to_string()))
                    })
            })
        };
        match kind {
            Kind::Queues => {
                for (flow, step, t) in steps() {
                    if t.get("queue").and_then(Toml::as_str) == Some(key) {
                        users.push(format!("flow `{flow}` (step `{step}`)"));
                    }
                }
                for (flow, step, _, q) in rules("queue") {
                    if q == key {
                        users.push(format!("flow `{flow}` (step `{step}`, a rule)"));
                    }
                }
                for (name, q) in self.items_of(Kind::Queues) {
                    if name == key {
                        continue;
                    }
                    let overflow = q["overflow_queue"].as_str() == Some(key)
                        || q["overflow"].as_array().is_some_and(|steps| {
                            steps.iter().any(|s| {
                                s["add_queues"]
                                    .as_array()
                                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(key)))
                            })
                        });
                    if overflow {
                        users.push(format!("queue `{name}` (overflow)"));
                    }
                }
                let direct = self
                    .centre
                    .get("centre")
                    .and_then(|c| c.get("direct_queue"))
                    .and_then(Toml::as_str);
                if direct == Some(key) {
                    users.push("`centre.direct_queue`".into());
                }
            }
            Kind::Flows => {
                for (number, n) in self.items_of(Kind::Numbers) {
                    if n["flow"].as_str().unwrap_or("main") == key {
                        users.push(format!("number {number}"));
                    }
                }
                let service = self
                    .centre
                    .get("centre")
                    .and_then(|c| c.get("service_numbers"))
                    .and_then(Toml::as_array)
                    .is_some_and(|a| !a.is_empty());
                if service && key == "main" {
                    users.push("the service numbers (`centre.service_numbers`)".into());
                }
                for (flow, step, t) in steps() {
                    if flow != key && t.get("after_call").and_then(Toml::as_str) == Some(key) {
                        users.push(format!("flow `{flow}` (step `{step}`, after_call)"));
                    }
                }
            }
            Kind::Agents => {
                for (name, u) in self.items_of(Kind::Users) {
                    if u["agent"].as_str() == Some(key) {
                        users.push(format!("user {name}"));
                    }
                }
            }
            Kind::Schedules => {
                for (flow, step, field, s) in rules("open").chain(rules("holiday")) {
                    if s == key {
                        users.push(format!("flow `{flow}` (step `{step}`, `{field}`)"));
                    }
                }
            }
            _ => {}
        }
        users.dedup();
        users
    }

    /// Each agent's skills, by extension.
    fn agent_skills(&self) -> BTreeMap<String, BTreeMap<String, u8>> {
        self.items_of(Kind::Agents)
            .into_iter()
            .map(|(ext, a)| {
                let skills = a["skills"]
                    .as_object()
                    .map(|s| {
                        s.iter()
                            .filter_map(|(k, v)| Some((k.clone(), u8::try_from(v.as_u64()?).ok()?)))
                            .collect()
                    })
                    .unwrap_or_default();
                (ext, skills)
            })
            .collect()
    }
}

fn parse_centre(name: &str, text: &str) -> Result<Table, String> {
    text.parse::<Table>().map_err(|_| centre_error(name, text))
}

/// The centre loader's error for a text it refuses (file, line, column, key, why).
fn centre_error(name: &str, text: &str) -> String {
    match hotline_config::Config::from_toml(name, text) {
        Err(e) => e.to_string(),
        Ok(_) => format!("{name}: not a TOML document"),
    }
}

/// A validation error before it is tied to an item.
struct DocError {
    /// The document key path (`agents[3].skills.cards`).
    path: String,
    /// Why, alone.
    reason: String,
    /// The whole message with file and line, as `check-config` prints it.
    located: String,
}

/// The checks across the two documents (what `check-config` adds to each file's own
/// checks): every number's flow exists, every queue a flow sends callers to exists, and no
/// flow asks for a skill level no agent holds.
fn cross_check(
    cfg: &hotline_config::Config,
    set: &hotline_flow::FlowSet,
    centre_name: &str,
    centre_text: &str,
    flows_name: &str,
    flows_text: &str,
) -> Result<(), DocError> {
    cfg.check_flows(centre_name, centre_text, |f| set.flows.contains_key(f))
        .map_err(|e| DocError {
            path: e.key.clone(),
            reason: e.message.clone(),
            located: e.to_string(),
        })?;
    // Calls wait only in voice queues: a chat queue's capacity rules are not a call's.
    let queues: std::collections::HashSet<&str> = cfg
        .queues
        .iter()
        .filter(|q| q.channel == hotline_config::QueueChannel::Voice)
        .map(|q| q.name.get_ref().as_str())
        .collect();
    // The best level of each skill any agent holds: a flow may not ask for more (the
    // caller would wait for nobody until the longest wait, or for ever).
    let mut best: std::collections::HashMap<&str, u8> = std::collections::HashMap::new();
    for a in &cfg.agents {
        for (skill, level) in &a.skills {
            let b = best.entry(skill.as_str()).or_default();
            *b = (*b).max(*level.get_ref());
        }
    }
    let line_of = |flow: &str, step: &str| {
        flows_text
            .lines()
            .position(|l| l.contains(&format!("[flows.{flow}.steps.{step}]")))
            .map_or(0, |i| i + 1)
    };
    for (flow, def) in &set.flows {
        for (step, s) in &def.steps {
            if let hotline_flow::Step::Set(set_step) = s {
                for (skill, level) in &set_step.skills {
                    let held = best.get(skill.as_str()).copied().unwrap_or(0);
                    if u32::from(held) < *level {
                        let line = line_of(flow, step);
                        let key = format!("flows.{flow}.steps.{step}.skills.{skill}");
                        let reason = format!(
                            "no agent holds `{skill}` at level {level} or above (best: {held})"
                        );
                        return Err(DocError {
                            located: format!("{flows_name}:{line}: key `{key}`: {reason}"),
                            path: key,
                            reason,
                        });
                    }
                }
            }
            let queue = match s {
                hotline_flow::Step::Enqueue(e) => &e.queue,
                hotline_flow::Step::Callback(c) => &c.queue,
                hotline_flow::Step::Voicemail(v) => &v.queue,
                _ => continue,
            };
            if !queues.contains(queue.as_str()) {
                let key = format!("flows.{flow}.steps.{step}.queue");
                let line = line_of(flow, step);
                let reason = if cfg.queues.iter().any(|q| q.name.get_ref() == queue) {
                    format!("`{queue}` is not a queue of calls (its channel is not voice)")
                } else {
                    format!("no queue `{queue}` in the configuration")
                };
                return Err(DocError {
                    located: format!("{flows_name}:{line}: key `{key}`: {reason}"),
                    path: key,
                    reason,
                });
            }
        }
    }
    Ok(())
}

/// `schedules.office.open.0.from` (the flow validator's paths) as
/// `schedules.office.open[0].from`.
fn dotted_indexes(path: &str) -> String {
    // Tables whose keys may be numbers (a menu's keys, step ids, …) rather than arrays.
    const MAPS: [&str; 7] = [
        "options",
        "steps",
        "skills",
        "preferred_skills",
        "vars",
        "flows",
        "schedules",
    ];
    let mut out = String::new();
    let mut previous = "";
    for part in path.split('.') {
        let index = !out.is_empty()
            && !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && !MAPS.contains(&previous);
        previous = part;
        if index {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

/// The dotted key path at a 1-based line of a TOML text: the table header above it and the
/// key on the line (or the unknown field `message` names).
fn path_at_line(text: &str, line: usize, message: &str) -> String {
    if line == 0 {
        return String::new();
    }
    let offset = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    hotline_config::key_at(text, offset, message)
}

// ---- TOML and JSON ----

fn table_json(t: &Table) -> Json {
    Json::Object(t.iter().map(|(k, v)| (k.clone(), toml_json(v))).collect())
}

fn toml_json(v: &Toml) -> Json {
    match v {
        Toml::String(s) => Json::String(s.clone()),
        Toml::Integer(i) => Json::from(*i),
        Toml::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Toml::Boolean(b) => Json::Bool(*b),
        Toml::Datetime(d) => Json::String(d.to_string()),
        Toml::Array(a) => Json::Array(a.iter().map(toml_json).collect()),
        Toml::Table(t) => table_json(t),
    }
}

/// A JSON value as TOML; `field` names it in errors. `null` in an object means the key is
/// left out; TOML has no `null` elsewhere.
fn json_toml(v: &Json, field: &str) -> Result<Toml, FieldError> {
    Ok(match v {
        Json::Null => {
            return Err(FieldError::new(
                "bad_item",
                field,
                format!("`{field}`: null is not a value here"),
            ));
        }
        Json::Bool(b) => Toml::Boolean(*b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Toml::Integer(i),
            (None, Some(f)) if n.is_f64() => Toml::Float(f),
            _ => {
                return Err(FieldError::new(
                    "invalid",
                    field,
                    format!("`{field}`: {n} is out of range"),
                ));
            }
        },
        Json::String(s) => Toml::String(s.clone()),
        Json::Array(a) => Toml::Array(
            a.iter()
                .enumerate()
                .map(|(i, x)| json_toml(x, &format!("{field}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(o) => Toml::Table(object_table(o, field)?),
    })
}

fn object_table(o: &serde_json::Map<String, Json>, field: &str) -> Result<Table, FieldError> {
    let mut t = Table::new();
    for (k, x) in o {
        if x.is_null() {
            continue;
        }
        let f = if field.is_empty() {
            k.clone()
        } else {
            format!("{field}.{k}")
        };
        t.insert(k.clone(), json_toml(x, &f)?);
    }
    Ok(t)
}

/// An item's value as the table the document keeps: an object whose key field (if the kind
/// has one) is `key`.
fn item_table(kind: Kind, key: &str, value: &Json) -> Result<Table, FieldError> {
    let Json::Object(o) = value else {
        return Err(FieldError::new(
            "bad_item",
            "",
            format!("a {} is a JSON object", kind.one()),
        ));
    };
    if kind.singleton() && key != "-" {
        return Err(FieldError::new(
            "bad_item",
            "",
            format!("`{}` has one item, with the key `-`", kind.segment()),
        ));
    }
    if key.is_empty() {
        return Err(FieldError::new(
            "bad_item",
            "",
            format!("a {} needs a key", kind.one()),
        ));
    }
    if let Some((_, field)) = kind.array() {
        match o.get(field) {
            Some(Json::String(k)) if k == key => {}
            Some(Json::String(k)) => {
                return Err(FieldError::new(
                    "bad_item",
                    field,
                    format!("`{field}` is `{k}` but the item's key is `{key}`"),
                ));
            }
            Some(_) => {
                return Err(FieldError::new(
                    "bad_item",
                    field,
                    format!("`{field}` is a string"),
                ));
            }
            None => {
                return Err(FieldError::new(
                    "bad_item",
                    field,
                    format!("a {} needs `{field}` (`{key}`)", kind.one()),
                ));
            }
        }
    }
    object_table(o, "")
}

// ---- writing TOML ----

/// A TOML document as text: the top level's plain values, then each table as a section
/// (`[a.b]`), arrays of tables at the top level as `[[name]]` entries whose values are
/// written inline, deeper arrays and small tables inline.
fn emit(doc: &Table) -> String {
    let mut out = String::new();
    let mut later = Vec::new();
    for (k, v) in doc {
        match v {
            Toml::Table(_) => later.push((k, v)),
            Toml::Array(a) if !a.is_empty() && a.iter().all(Toml::is_table) => later.push((k, v)),
            _ => out.push_str(&format!("{} = {}\n", key_text(k), inline(v))),
        }
    }
    for (k, v) in later {
        match v {
            Toml::Table(t) => section(&mut out, &[k.as_str()], t),
            Toml::Array(a) => {
                for entry in a.iter().filter_map(Toml::as_table) {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(&format!("[[{}]]\n", key_text(k)));
                    for (ek, ev) in entry {
                        out.push_str(&format!("{} = {}\n", key_text(ek), inline(ev)));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether a table inside a section gets a section of its own: near the top, when it holds
/// tables itself, or as a flow's step.
fn own_section(path: &[&str], child: &Table) -> bool {
    path.len() < 2 || child.values().any(Toml::is_table) || path.last() == Some(&"steps")
}

fn section(out: &mut String, path: &[&str], t: &Table) {
    let subs: Vec<(&String, &Table)> = t
        .iter()
        .filter_map(|(k, v)| Some((k, v.as_table()?)))
        .filter(|(_, c)| own_section(path, c))
        .collect();
    let direct: Vec<(&String, &Toml)> = t
        .iter()
        .filter(|(k, _)| !subs.iter().any(|(s, _)| s == k))
        .collect();
    if !direct.is_empty() || subs.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        let header: Vec<String> = path.iter().map(|p| key_text(p)).collect();
        out.push_str(&format!("[{}]\n", header.join(".")));
        for (k, v) in direct {
            out.push_str(&format!("{} = {}\n", key_text(k), inline(v)));
        }
    }
    for (k, c) in subs {
        let mut p = path.to_vec();
        p.push(k.as_str());
        section(out, &p, c);
    }
}

fn key_text(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_string()
    } else {
        Toml::String(k.to_string()).to_string()
    }
}

fn inline(v: &Toml) -> String {
    v.to_string()
}

// ---- restore and reload ----

/// The live configuration at start: `files`, then for each item the latest `config` entry
/// of `latest` (see [`hotline_store::Store::latest_audit`]; entries of other actions are
/// ignored, except `agent_skills`): its `new` is applied when the files' item still equals
/// its `file`; otherwise the files changed the item since, and the files win. An
/// `agent_skills` entry newer than the agent's latest `config` entry is applied on top (its
/// skills replace the agent's), under its own rule (see
/// [`crate::live::skills_to_restore_from`]). When the files are valid, a change that would make
/// the whole invalid is left aside too. Returns the documents and what was left aside and
/// why, by audit target.
pub fn restore(files: &Docs, latest: &[AuditEntry]) -> (Docs, Vec<(String, String)>) {
    let mut docs = files.clone();
    let mut aside = Vec::new();
    let valid = files.check().is_ok();
    // The latest `config` entry per target, in the order they were made.
    let mut config: BTreeMap<&str, &AuditEntry> = BTreeMap::new();
    for e in latest.iter().filter(|e| e.action == CONFIG_ACTION) {
        let slot = config.entry(e.target.as_str()).or_insert(e);
        if e.seq > slot.seq {
            *slot = e;
        }
    }
    let mut ordered: Vec<&AuditEntry> = config.values().copied().collect();
    ordered.sort_by_key(|e| e.seq);
    let mut config_seq: BTreeMap<String, hotline_model::Seq> = BTreeMap::new();
    let mut steps: Vec<(String, Step)> = Vec::new();
    for e in ordered {
        let change = match e
            .detail
            .as_deref()
            .map(serde_json::from_str::<ConfigChange>)
        {
            Some(Ok(c)) => c,
            Some(Err(err)) => {
                aside.push((e.target.clone(), format!("unreadable change: {err}")));
                continue;
            }
            None => {
                aside.push((e.target.clone(), "a change without detail".into()));
                continue;
            }
        };
        if change.kind == Kind::Agents {
            config_seq.insert(change.key.clone(), e.seq);
        }
        let in_files = files.item(change.kind, &change.key);
        if !same_item(change.kind, in_files.as_ref(), change.file.as_ref()) {
            aside.push((
                e.target.clone(),
                "the files changed this item since; the files' version is kept".into(),
            ));
            continue;
        }
        steps.push((e.target.clone(), Step::Item(change)));
    }
    // Applied without checks first: the usual case, one check at the end.
    steps.retain(|(target, step)| match step.apply(&mut docs) {
        Ok(()) => true,
        Err(why) => {
            aside.push((target.clone(), why));
            false
        }
    });
    // Skill changes made through the older `agent_skills` entries.
    let in_files = files.agent_skills();
    let live_agents: BTreeMap<String, BTreeMap<String, u8>> = docs
        .agent_skills()
        .into_keys()
        .map(|ext| {
            let skills = in_files.get(&ext).cloned().unwrap_or_default();
            (ext, skills)
        })
        .collect();
    let mut skills: Vec<AuditEntry> = Vec::new();
    for e in latest
        .iter()
        .filter(|e| e.action == crate::live::SKILLS_ACTION)
    {
        match config_seq.get(&e.target) {
            Some(seq) if *seq > e.seq => aside.push((
                e.target.clone(),
                "a later configuration change of the agent replaces this skill change".into(),
            )),
            _ => skills.push(e.clone()),
        }
    }
    skills.sort_by_key(|e| e.seq);
    let (apply, left) = crate::live::skills_to_restore_from(&live_agents, &skills);
    aside.extend(left);
    for (ext, new) in apply {
        let step = Step::Skills(ext.clone(), new);
        match step.apply(&mut docs) {
            Ok(()) => steps.push((ext, step)),
            Err(why) => aside.push((ext, why)),
        }
    }
    // Valid files give a valid centre: if the changes together do not fit, each is applied
    // and checked in turn, and those that do not fit are left aside.
    if valid && docs.check().is_err() {
        docs = files.clone();
        for (target, step) in &steps {
            let before = docs.clone();
            let problem = match step.apply(&mut docs) {
                Err(why) => Some(why),
                Ok(()) => docs.check().err().map(|e| e.message),
            };
            if let Some(why) = problem {
                docs = before;
                aside.push((
                    target.clone(),
                    format!("the change no longer fits the configuration: {why}"),
                ));
            }
        }
    }
    (docs, aside)
}

/// One live change to put back at start.
enum Step {
    /// A `config` change's `new` (None: removed).
    Item(ConfigChange),
    /// An `agent_skills` change: the agent's skills.
    Skills(String, BTreeMap<String, u8>),
}

impl Step {
    fn apply(&self, docs: &mut Docs) -> Result<(), String> {
        match self {
            Step::Item(c) => {
                let live = docs.item(c.kind, &c.key);
                if same_item(c.kind, live.as_ref(), c.new.as_ref()) {
                    return Ok(());
                }
                match &c.new {
                    Some(v) => {
                        let t = item_table(c.kind, &c.key, v).map_err(|e| e.message)?;
                        docs.put(c.kind, &c.key, t);
                    }
                    None => docs.remove(c.kind, &c.key),
                }
                Ok(())
            }
            Step::Skills(ext, new) => {
                let Some(Json::Object(mut agent)) = docs.item(Kind::Agents, ext) else {
                    return Err("no longer in the configuration".into());
                };
                agent.insert(
                    "skills".into(),
                    Json::Object(
                        new.iter()
                            .map(|(s, l)| (s.clone(), Json::from(*l)))
                            .collect(),
                    ),
                );
                let t =
                    item_table(Kind::Agents, ext, &Json::Object(agent)).map_err(|e| e.message)?;
                docs.put(Kind::Agents, ext, t);
                Ok(())
            }
        }
    }
}

/// Whether two versions of an item are the same (absent singletons are empty).
fn same_item(kind: Kind, a: Option<&Json>, b: Option<&Json>) -> bool {
    let empty = Json::Object(Default::default());
    let norm = |x: Option<&Json>| -> Option<Json> {
        match x {
            None if kind.singleton() => Some(empty.clone()),
            other => other.cloned(),
        }
    };
    norm(a) == norm(b)
}

/// The changes a reload makes: every item that differs between `before` and `after` (the
/// files), as (kind, key, the new files' item or None). Items put come first; removals
/// follow in an order in which each is no longer used by what remains, so that applying
/// them one by one with [`Docs::set_item`] does not trip over [`Docs::in_use`].
pub fn file_changes(before: &Docs, after: &Docs) -> Vec<(Kind, String, Option<Json>)> {
    let old = before.items();
    let new = after.items();
    let keys: BTreeSet<&(Kind, String)> = old.keys().chain(new.keys()).collect();
    let mut puts = Vec::new();
    let mut removals = Vec::new();
    for k in keys {
        let (a, b) = (old.get(k), new.get(k));
        if same_item(k.0, a, b) {
            continue;
        }
        match b {
            Some(v) => puts.push((k.0, k.1.clone(), Some(v.clone()))),
            None => removals.push((k.0, k.1.clone())),
        }
    }
    // Order the removals: each one once nothing left uses it.
    let mut state = before.clone();
    for (kind, key, v) in &puts {
        if let Some(Ok(t)) = v.as_ref().map(|v| item_table(*kind, key, v)) {
            state.put(*kind, key, t);
        }
    }
    let mut out = puts;
    while !removals.is_empty() {
        let i = removals
            .iter()
            .position(|(k, key)| state.users_of(*k, key).is_empty())
            .unwrap_or(0);
        let (kind, key) = removals.remove(i);
        state.remove(kind, &key);
        out.push((kind, key, None));
    }
    out
}

// ---- secrets ----

/// The secret keys of an item of `kind`.
fn secret_keys(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Agents | Kind::Trunks => &["ha1_md5", "ha1_sha256", "password"],
        Kind::Users => &["password_hash", "password"],
        _ => &[],
    }
}

/// Removes the secrets of an item (HA1 digests of agents and trunks, users' password
/// hashes) before it is shown.
pub fn redact(kind: Kind, value: &mut Json) {
    if let Json::Object(o) = value {
        for k in secret_keys(kind) {
            o.remove(*k);
        }
    }
}

/// Fills in the secrets of an item put through the API, `new`, from a `password` or from
/// the item before (`old`): an agent's `password` becomes its `ha1_md5` and `ha1_sha256`
/// for `realm` (a trunk's likewise, for its `username`); an item that leaves its secret out
/// keeps the old one. Users' passwords are hashed (argon2) by the caller into
/// `password_hash` before this. A new agent or user without any secret is refused
/// (`missing_field`, field `password`).
pub fn merge_secrets(
    kind: Kind,
    new: &mut Json,
    old: Option<&Json>,
    realm: &str,
) -> Result<(), FieldError> {
    let Json::Object(o) = new else {
        return Err(FieldError::new(
            "bad_item",
            "",
            format!("a {} is a JSON object", kind.one()),
        ));
    };
    let digests = ["ha1_md5", "ha1_sha256"];
    match kind {
        Kind::Agents | Kind::Trunks => {
            let user_field = if kind == Kind::Agents {
                "extension"
            } else {
                "username"
            };
            if let Some(pw) = o.remove("password") {
                let Some(pw) = pw.as_str().filter(|p| !p.is_empty()) else {
                    return Err(FieldError::new(
                        "invalid",
                        "password",
                        "`password` is a string that is not empty",
                    ));
                };
                let Some(user) = o.get(user_field).and_then(Json::as_str).map(str::to_string)
                else {
                    return Err(FieldError::new(
                        "invalid",
                        "password",
                        format!("a password needs `{user_field}`: the digests are made over it"),
                    ));
                };
                use hotline_sip::digest::{Algorithm, ha1};
                o.insert(
                    "ha1_md5".into(),
                    Json::String(ha1(Algorithm::Md5, &user, realm, pw)),
                );
                o.insert(
                    "ha1_sha256".into(),
                    Json::String(ha1(Algorithm::Sha256, &user, realm, pw)),
                );
                return Ok(());
            }
            if digests.iter().any(|d| o.contains_key(*d)) {
                return Ok(());
            }
            let kept = old.and_then(Json::as_object);
            // Digests are made over the user name: a trunk whose user name changes needs its
            // password again.
            if kind == Kind::Trunks
                && let Some(k) = kept
                && digests.iter().any(|d| k.contains_key(*d))
                && k.get(user_field) != o.get(user_field)
            {
                return Err(FieldError::new(
                    "missing_field",
                    "password",
                    "the trunk's user name changes: give its `password` again (the digests are made over the user name)",
                ));
            }
            let mut any = false;
            for d in digests {
                if let Some(v) = kept.and_then(|k| k.get(d)) {
                    o.insert(d.into(), v.clone());
                    any = true;
                }
            }
            if !any && kind == Kind::Agents {
                return Err(FieldError::new(
                    "missing_field",
                    "password",
                    "a new agent needs a `password` (for the phone's digest authentication)",
                ));
            }
        }
        Kind::Users => {
            if o.contains_key("password") {
                return Err(FieldError::new(
                    "invalid",
                    "password",
                    "a user's password is hashed into `password_hash` before it is kept",
                ));
            }
            if o.contains_key("password_hash") {
                return Ok(());
            }
            match old.and_then(|v| v.get("password_hash")) {
                Some(h) => {
                    o.insert("password_hash".into(), h.clone());
                }
                None => {
                    return Err(FieldError::new(
                        "missing_field",
                        "password",
                        "a new user needs a `password`",
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
