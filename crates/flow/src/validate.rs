//! Checks of a [`FlowSet`] beyond what parsing catches, each naming the dotted key path.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use crate::def::{FlowDef, FlowSet, PromptDef, PromptValue, Rule, Step};

/// One problem in a flow set: where (`flows.main.steps.menu.options.1`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Dotted key path.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// 1-based line of the key in the source text; 0 when not known (see
    /// [`ValidationError::locate`]; [`crate::FlowSet::from_toml`] fills it in).
    pub line: usize,
    /// 1-based column (in characters) of the key; 0 when not known.
    pub column: usize,
}

impl ValidationError {
    /// Fills in `line` and `column` from the TOML text the set was parsed from: the place of
    /// the deepest key of `path` found in it.
    pub fn locate(&mut self, text: &str) {
        if let Some(offset) = key_offset(text, &self.path) {
            (self.line, self.column) = line_col(text, offset);
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: ", self.line, self.column)?;
        }
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Why a flow set could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// TOML syntax, a wrong type, a missing or unknown key.
    #[error("{line}:{column}: {message}")]
    Parse {
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The set parsed but is not usable.
    #[error("{}", join(.0))]
    Invalid(Vec<ValidationError>),
}

impl LoadError {
    pub(crate) fn parse(text: &str, e: &toml::de::Error) -> LoadError {
        let mut offset = e.span().map(|s| s.start);
        // Steps are tagged by `type`, so an unknown key is reported for the whole step
        // table: point at the key itself when it can be found in that table.
        if let (Some(span), Some(key)) = (e.span(), unknown_field(e.message())) {
            offset = find_key_line(text, span, key).or(offset);
        }
        let (line, column) = offset.map_or((0, 0), |o| line_col(text, o));
        LoadError::Parse {
            line,
            column,
            message: e.message().trim_end().to_string(),
        }
    }
}

/// The key named by serde's "unknown field `x`" message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Offset of `key = ` in the table that starts at `span`: on the table's own line (an
/// inline table) or on the lines after it, up to the next table header.
fn find_key_line(text: &str, span: std::ops::Range<usize>, key: &str) -> Option<usize> {
    let region = text.get(span.start..)?;
    let mut at = span.start;
    for (n, line) in region.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        if n > 0 && trimmed.starts_with('[') {
            break;
        }
        let mut from = 0;
        while let Some(k) = line[from..].find(key) {
            let pos = from + k;
            let before = line[..pos].trim_end();
            let after = line[pos + key.len()..].trim_start();
            let starts_key = before.is_empty() || before.ends_with(['{', ',']);
            if starts_key && after.starts_with('=') {
                return Some(at + pos);
            }
            from = pos + key.len();
        }
        at += line.len();
    }
    None
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// Byte offset of the deepest key of a dotted path found in `text`.
fn key_offset(text: &str, path: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let segments: Vec<&str> = path.split('.').collect();
    let mut table: &DeTable<'_> = root.get_ref();
    let mut array: Option<&toml::de::DeArray<'_>> = None;
    let mut found: Option<usize> = None;
    let mut i = 0;
    while i < segments.len() {
        let value = if let Some(arr) = array {
            let idx: usize = segments[i].parse().ok()?;
            let v = arr.get(idx)?;
            found = Some(v.span().start);
            i += 1;
            v
        } else {
            // A key may itself hold dots: try the longest join first.
            let mut hit = None;
            for j in (i + 1..=segments.len()).rev() {
                let key = segments[i..j].join(".");
                if let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key) {
                    hit = Some((j, k.span().start, v));
                    break;
                }
            }
            let Some((j, at, v)) = hit else { break };
            found = Some(at);
            i = j;
            v
        };
        match value.get_ref() {
            DeValue::Table(t) => {
                table = t;
                array = None;
            }
            DeValue::Array(a) => array = Some(a),
            _ => break,
        }
    }
    found
}

fn join(errors: &[ValidationError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

struct Errors(Vec<ValidationError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError {
            path: path.into(),
            message: message.into(),
            line: 0,
            column: 0,
        });
    }
}

const LANGUAGES: [&str; 2] = ["zh", "en"];

pub(crate) fn validate(set: &FlowSet) -> Result<(), Vec<ValidationError>> {
    let mut e = Errors(Vec::new());
    if set.flows.is_empty() {
        e.push("flows", "no flows defined");
    }
    if let Some(f) = &set.fault_notice {
        prompts(&mut e, "fault_notice.prompts", &f.prompts, true);
    }
    for (name, s) in &set.schedules {
        let base = format!("schedules.{name}");
        if s.timezone.parse::<chrono_tz::Tz>().is_err() {
            e.push(
                format!("{base}.timezone"),
                format!(
                    "`{}` is not an IANA time zone (e.g. Asia/Shanghai)",
                    s.timezone
                ),
            );
        }
        for (i, p) in s.open.iter().enumerate() {
            if p.from >= p.to {
                e.push(
                    format!("{base}.open.{i}"),
                    format!(
                        "opens at {} but closes at {}; a period must end after it starts \
                         (split one crossing midnight in two)",
                        p.from, p.to
                    ),
                );
            }
        }
    }
    for (name, flow) in &set.flows {
        check_flow(&mut e, set, name, flow);
    }
    if e.0.is_empty() { Ok(()) } else { Err(e.0) }
}

fn check_flow(e: &mut Errors, set: &FlowSet, name: &str, flow: &FlowDef) {
    let base = format!("flows.{name}");
    if flow.steps.is_empty() {
        e.push(format!("{base}.steps"), "no steps defined");
        return;
    }
    if !flow.steps.contains_key(&flow.start) {
        e.push(
            format!("{base}.start"),
            format!("no step named `{}` in this flow", flow.start),
        );
    }
    for (id, step) in &flow.steps {
        let path = format!("{base}.steps.{id}");
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            e.push(
                path.clone(),
                "a step id may hold only letters, digits, `_` and `-`",
            );
        }
        for (key, target) in step.targets() {
            if !flow.steps.contains_key(target) {
                e.push(
                    format!("{path}.{key}"),
                    format!("no step named `{target}` in flow `{name}`"),
                );
            }
        }
        check_step(e, set, &path, step);
    }
    reachability(e, &base, flow);
    spin_loops(e, &base, flow);
}

fn positive(e: &mut Errors, path: String, v: u64) {
    if v == 0 {
        e.push(path, "must be at least 1 second");
    }
}

fn nonempty(e: &mut Errors, path: String, v: &str, what: &str) {
    if v.trim().is_empty() {
        e.push(path, format!("{what} must not be empty"));
    }
}

fn prompts(e: &mut Errors, path: &str, list: &[PromptDef], required: bool) {
    if required && list.is_empty() {
        e.push(path, "no prompt given; this step must say something");
    }
    for (i, p) in list.iter().enumerate() {
        let bad = match p {
            PromptDef::Name(n) => bad_prompt_name(n),
            PromptDef::Value(PromptValue::Digits(d)) => (!d.chars().all(|c| c.is_ascii_digit()))
                .then(|| format!("`{d}` holds other characters than digits")),
            PromptDef::Value(PromptValue::NumberVar(v) | PromptValue::DigitsVar(v)) => v
                .is_empty()
                .then(|| "the variable name must not be empty".to_string()),
            PromptDef::Value(PromptValue::Number(_) | PromptValue::DurationSecs(_)) => None,
        };
        if let Some(why) = bad {
            e.push(format!("{path}.{i}"), why);
        }
    }
}

fn bad_prompt_name(n: &str) -> Option<String> {
    let ok = !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    (!ok).then(|| format!("`{n}` is not a prompt name (lowercase letters, digits, `_`)"))
}

fn check_step(e: &mut Errors, set: &FlowSet, path: &str, step: &Step) {
    match step {
        Step::Play(s) => prompts(e, &format!("{path}.prompts"), &s.prompts, true),
        Step::Menu(s) => {
            prompts(e, &format!("{path}.prompts"), &s.prompts, true);
            prompts(
                e,
                &format!("{path}.invalid_prompts"),
                &s.invalid_prompts,
                false,
            );
            prompts(
                e,
                &format!("{path}.timeout_prompts"),
                &s.timeout_prompts,
                false,
            );
            if s.options.is_empty() {
                e.push(
                    format!("{path}.options"),
                    "a menu needs at least one option",
                );
            }
            for key in s.options.keys() {
                let mut chars = key.chars();
                let ok = matches!((chars.next(), chars.next()), (Some(c), None) if is_key(c));
                if !ok {
                    e.push(
                        format!("{path}.options.{key}"),
                        format!("`{key}` is not one key (0-9, *, #)"),
                    );
                }
            }
            positive(e, format!("{path}.timeout_secs"), s.timeout_secs);
        }
        Step::Collect(s) => {
            prompts(e, &format!("{path}.prompts"), &s.prompts, true);
            prompts(
                e,
                &format!("{path}.invalid_prompts"),
                &s.invalid_prompts,
                false,
            );
            nonempty(e, format!("{path}.into"), &s.into, "the variable name");
            if s.max_len == 0 || s.max_len > 64 {
                e.push(format!("{path}.max_len"), "must be between 1 and 64");
            }
            if s.min_len > s.max_len {
                e.push(
                    format!("{path}.min_len"),
                    format!("{} is more than max_len {}", s.min_len, s.max_len),
                );
            }
            if let Some(t) = s.terminator
                && !matches!(t, '#' | '*')
            {
                e.push(format!("{path}.terminator"), "must be `#` or `*`");
            }
            positive(
                e,
                format!("{path}.first_digit_timeout_secs"),
                s.first_digit_timeout_secs,
            );
            positive(
                e,
                format!("{path}.inter_digit_timeout_secs"),
                s.inter_digit_timeout_secs,
            );
        }
        Step::Lookup(s) => {
            if let Some(v) = &s.account_var {
                nonempty(e, format!("{path}.account_var"), v, "the variable name");
            }
            positive(e, format!("{path}.timeout_secs"), s.timeout_secs);
        }
        Step::Authenticate(s) => {
            prompts(e, &format!("{path}.prompts"), &s.prompts, true);
            prompts(
                e,
                &format!("{path}.invalid_prompts"),
                &s.invalid_prompts,
                false,
            );
            if s.pin_max_len == 0 || s.pin_max_len > 16 {
                e.push(format!("{path}.pin_max_len"), "must be between 1 and 16");
            }
            if s.pin_min_len == 0 || s.pin_min_len > s.pin_max_len {
                e.push(
                    format!("{path}.pin_min_len"),
                    "must be at least 1 and at most pin_max_len",
                );
            }
            if s.max_attempts == 0 {
                e.push(format!("{path}.max_attempts"), "must be at least 1");
            }
            positive(
                e,
                format!("{path}.first_digit_timeout_secs"),
                s.first_digit_timeout_secs,
            );
            positive(
                e,
                format!("{path}.inter_digit_timeout_secs"),
                s.inter_digit_timeout_secs,
            );
            positive(
                e,
                format!("{path}.verify_timeout_secs"),
                s.verify_timeout_secs,
            );
        }
        Step::Branch(s) => {
            for (i, r) in s.rules.iter().enumerate() {
                check_rule(e, set, &format!("{path}.rules.{i}"), r);
            }
        }
        Step::Set(s) => {
            if let Some(l) = &s.language
                && !LANGUAGES.contains(&l.as_str())
            {
                e.push(
                    format!("{path}.language"),
                    format!("`{l}` is not a prompt language (zh, en)"),
                );
            }
            for k in s.vars.keys() {
                nonempty(e, format!("{path}.vars"), k, "a variable name");
            }
        }
        Step::Enqueue(s) => {
            nonempty(e, format!("{path}.queue"), &s.queue, "the queue name");
            prompts(e, &format!("{path}.prompts"), &s.prompts, false);
            prompts(
                e,
                &format!("{path}.callback_offer_prompts"),
                &s.callback_offer_prompts,
                false,
            );
            prompts(
                e,
                &format!("{path}.callback_confirmed_prompts"),
                &s.callback_confirmed_prompts,
                false,
            );
            let words = &s.announce_prompts;
            let base = format!("{path}.announce_prompts");
            prompts(e, &format!("{base}.position"), &words.position, false);
            prompts(
                e,
                &format!("{base}.position_after"),
                &words.position_after,
                false,
            );
            prompts(e, &format!("{base}.wait"), &words.wait, false);
            for (key, name) in [
                ("minutes", &words.minutes),
                ("minute", &words.minute),
                ("seconds", &words.seconds),
            ] {
                if let Some(why) = bad_prompt_name(name) {
                    e.push(format!("{base}.{key}"), why);
                }
            }
            if let Some(n) = s.announce_every_secs {
                positive(e, format!("{path}.announce_every_secs"), n);
            }
            if let Some(d) = s.callback_digit {
                if !is_key(d) {
                    e.push(
                        format!("{path}.callback_digit"),
                        format!("`{d}` is not a key (0-9, *, #)"),
                    );
                }
                if s.callback_offer_prompts.is_empty() {
                    e.push(
                        format!("{path}.callback_offer_prompts"),
                        "a callback key is set but the offer is never said",
                    );
                }
                if s.announce_every_secs.is_none() {
                    e.push(
                        format!("{path}.callback_digit"),
                        "the callback offer is made in announcements; set announce_every_secs",
                    );
                }
            }
            positive(
                e,
                format!("{path}.callback_reply_timeout_secs"),
                s.callback_reply_timeout_secs,
            );
            if let Some(f) = &s.after_call
                && !set.flows.contains_key(f)
            {
                e.push(format!("{path}.after_call"), format!("no flow named `{f}`"));
            }
        }
        Step::Callback(s) => {
            nonempty(e, format!("{path}.queue"), &s.queue, "the queue name");
            prompts(e, &format!("{path}.prompts"), &s.prompts, false);
            positive(e, format!("{path}.timeout_secs"), s.timeout_secs);
        }
        Step::Voicemail(s) => {
            nonempty(e, format!("{path}.queue"), &s.queue, "the queue name");
            prompts(e, &format!("{path}.prompts"), &s.prompts, true);
        }
        Step::Survey(s) => {
            prompts(e, &format!("{path}.prompts"), &s.prompts, true);
            prompts(
                e,
                &format!("{path}.invalid_prompts"),
                &s.invalid_prompts,
                false,
            );
            if !(1..=9).contains(&s.max_score) {
                e.push(format!("{path}.max_score"), "must be between 1 and 9");
            }
            for k in s.options.keys() {
                let score = k
                    .parse::<u8>()
                    .ok()
                    .filter(|n| (1..=s.max_score).contains(n));
                if k.len() != 1
                    || !k
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
                {
                    e.push(
                        format!("{path}.options.{k}"),
                        "must be one key (0-9, * or #)",
                    );
                } else if score.is_some() {
                    e.push(
                        format!("{path}.options.{k}"),
                        "is a score (1 to max_score), not an option",
                    );
                }
            }
            if let Some(v) = &s.into {
                nonempty(e, format!("{path}.into"), v, "the variable name");
            }
            positive(e, format!("{path}.timeout_secs"), s.timeout_secs);
        }
        Step::Hangup(s) => prompts(e, &format!("{path}.prompts"), &s.prompts, false),
        Step::DoNotCall(s) => prompts(e, &format!("{path}.prompts"), &s.prompts, false),
        Step::Transfer(s) => {
            nonempty(e, format!("{path}.to"), &s.to, "the destination");
            prompts(e, &format!("{path}.prompts"), &s.prompts, false);
        }
    }
}

fn is_key(c: char) -> bool {
    matches!(c, '0'..='9' | '*' | '#')
}

fn check_rule(e: &mut Errors, set: &FlowSet, path: &str, r: &Rule) {
    let has_condition = r.open.is_some()
        || r.holiday.is_some()
        || r.vip.is_some()
        || r.repeat_complaint.is_some()
        || r.known_customer.is_some()
        || r.fault_notice.is_some()
        || r.language.is_some()
        || r.wait_over_secs.is_some()
        || r.waiting_over.is_some()
        || r.var.is_some();
    if !has_condition {
        e.push(
            path,
            "a rule without a condition always holds; use the step's `else`",
        );
    }
    for (key, name) in [("open", &r.open), ("holiday", &r.holiday)] {
        if let Some(n) = name
            && !set.schedules.contains_key(n)
        {
            e.push(format!("{path}.{key}"), format!("no schedule named `{n}`"));
        }
    }
    if r.equals.is_some() && r.var.is_none() {
        e.push(format!("{path}.equals"), "`equals` needs `var`");
    }
    if (r.wait_over_secs.is_some() || r.waiting_over.is_some()) && r.queue.is_none() {
        e.push(
            format!("{path}.queue"),
            "`wait_over_secs` and `waiting_over` need the `queue` they test",
        );
    }
    if r.queue.is_some() && r.wait_over_secs.is_none() && r.waiting_over.is_none() {
        e.push(
            format!("{path}.queue"),
            "`queue` alone tests nothing; add `wait_over_secs` or `waiting_over`",
        );
    }
    if let Some(l) = &r.language
        && !LANGUAGES.contains(&l.as_str())
    {
        e.push(
            format!("{path}.language"),
            format!("`{l}` is not a prompt language (zh, en)"),
        );
    }
}

fn reachability(e: &mut Errors, base: &str, flow: &FlowDef) {
    if !flow.steps.contains_key(&flow.start) {
        return;
    }
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut todo: VecDeque<&str> = VecDeque::from([flow.start.as_str()]);
    while let Some(id) = todo.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(step) = flow.steps.get(id) {
            for (_, t) in step.targets() {
                if flow.steps.contains_key(t) && !seen.contains(t) {
                    todo.push_back(t);
                }
            }
        }
    }
    for id in flow.steps.keys() {
        if !seen.contains(id.as_str()) {
            e.push(
                format!("{base}.steps.{id}"),
                format!("unreachable from the start step `{}`", flow.start),
            );
        }
    }
}

/// Cycles made only of steps that do not wait (`branch`, `set`): the run would go round
/// them forever without the caller doing anything.
fn spin_loops(e: &mut Errors, base: &str, flow: &FlowDef) {
    // Edges between non-waiting steps only.
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, step) in &flow.steps {
        if step.waits() {
            continue;
        }
        let out: Vec<&str> = step
            .targets()
            .into_iter()
            .map(|(_, t)| t)
            .filter(|t| flow.steps.get(*t).is_some_and(|s| !s.waits()))
            .collect();
        edges.insert(id.as_str(), out);
    }
    // Iterative depth-first search with colours; each back edge closes a cycle.
    let mut colour: BTreeMap<&str, u8> = BTreeMap::new(); // 1 = on stack, 2 = done
    let mut reported: BTreeSet<Vec<&str>> = BTreeSet::new();
    for &root in edges.keys() {
        if colour.contains_key(root) {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
        colour.insert(root, 1);
        while let Some(&mut (node, ref mut i)) = stack.last_mut() {
            let next = edges.get(node).and_then(|v| v.get(*i)).copied();
            *i += 1;
            match next {
                None => {
                    colour.insert(node, 2);
                    stack.pop();
                }
                Some(t) => match colour.get(t) {
                    None => {
                        colour.insert(t, 1);
                        stack.push((t, 0));
                    }
                    Some(1) => {
                        let from = stack.iter().position(|(n, _)| *n == t).unwrap_or(0);
                        let mut cycle: Vec<&str> = stack[from..].iter().map(|(n, _)| *n).collect();
                        // Report each cycle once, starting from its smallest id.
                        let min = cycle
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, n)| **n)
                            .map_or(0, |(k, _)| k);
                        cycle.rotate_left(min);
                        let first = cycle.first().copied().unwrap_or(t);
                        if reported.insert(cycle.clone()) {
                            let mut shown = cycle.join(" → ");
                            shown.push_str(" → ");
                            shown.push_str(first);
                            e.push(
                                format!("{base}.steps.{first}"),
                                format!(
                                    "loop {shown} has no step that waits for the caller; \
                                     it would spin"
                                ),
                            );
                        }
                    }
                    Some(_) => {}
                },
            }
        }
    }
}
