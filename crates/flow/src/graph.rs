//! A flow as a graph, for people to look at: one node per step, one labelled edge per way a
//! step can go on (a menu key, a branch rule, a timeout, `next`, `on_failure`…).
//!
//! The edges come from [`Step::targets`], the same list validation checks, so the picture
//! cannot disagree with what the interpreter does. Pure: no I/O, no clock.

use std::collections::{BTreeMap, HashSet, VecDeque};

use serde::Serialize;

use crate::def::{FlowDef, FlowSet, PromptDef, PromptValue, Rule, Step};

/// One flow drawn as nodes and labelled edges.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowGraph {
    /// The flow's name (`main`, `survey`…).
    pub name: String,
    /// The id of the first step.
    pub start: String,
    /// Every step: those reachable from `start` first, in breadth-first order from it, then
    /// any other in id order.
    pub nodes: Vec<Node>,
    /// Every way from one step to another, in the order of `nodes`, then of the step's own
    /// fields (menu keys, rules in order, `else`/`default` last).
    pub edges: Vec<Edge>,
}

/// A step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// The step's id.
    pub id: String,
    /// Its `type` (`menu`, `enqueue`, …).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What the step is about, by field: the queue of an `enqueue`, `callback` or
    /// `voicemail`, the target of a `transfer`, the flow run after the call, the prompts
    /// played, the variable filled, the hang-up reason…
    pub detail: BTreeMap<&'static str, String>,
    /// The call leaves the flow here (no step follows).
    pub terminal: bool,
}

/// A way from one step to another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    /// The step it leaves.
    pub from: String,
    /// The step it goes to (always one of the flow's steps).
    pub to: String,
    /// What kind of way: `next`, `key` (a menu key), `timeout`, `default`, `on_failure`,
    /// `not_found`, `rule` (a branch rule), `else`, `on_declined`.
    pub kind: &'static str,
    /// The text to show: the menu key (`1`), the rule's conditions (`open office`),
    /// or the kind (`next`, `timeout`…).
    pub label: String,
    /// The field of the step naming the target, as in the flow file (`options.1`,
    /// `rules.0.goto`, `next`).
    pub field: String,
}

/// Every flow of the set, by name.
pub fn graphs(set: &FlowSet) -> Vec<FlowGraph> {
    set.flows
        .iter()
        .map(|(name, flow)| graph(name, flow))
        .collect()
}

/// One flow as a graph. Targets naming no step of the flow (possible only in a flow that
/// has not been validated) get no edge.
pub fn graph(name: &str, flow: &FlowDef) -> FlowGraph {
    // Breadth-first from the start step: the order nodes are listed (and drawn) in.
    let mut order: Vec<&str> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut todo: VecDeque<&str> = VecDeque::new();
    if flow.steps.contains_key(&flow.start) {
        seen.insert(&flow.start);
        todo.push_back(&flow.start);
    }
    while let Some(id) = todo.pop_front() {
        order.push(id);
        if let Some(step) = flow.steps.get(id) {
            for (_, to) in step.targets() {
                if let Some((key, _)) = flow.steps.get_key_value(to)
                    && seen.insert(key)
                {
                    todo.push_back(key);
                }
            }
        }
    }
    for id in flow.steps.keys() {
        if seen.insert(id) {
            order.push(id);
        }
    }
    let mut nodes = Vec::with_capacity(order.len());
    let mut edges = Vec::new();
    for id in order {
        let Some(step) = flow.steps.get(id) else {
            continue;
        };
        let targets = step.targets();
        nodes.push(Node {
            id: id.to_string(),
            kind: step.kind(),
            detail: detail(step),
            terminal: targets.is_empty(),
        });
        for (field, to) in targets {
            if !flow.steps.contains_key(to) {
                continue;
            }
            let (kind, label) = describe(step, &field);
            edges.push(Edge {
                from: id.to_string(),
                to: to.to_string(),
                kind,
                label,
                field,
            });
        }
    }
    FlowGraph {
        name: name.to_string(),
        start: flow.start.clone(),
        nodes,
        edges,
    }
}

/// The kind and label of the edge a step's field (from [`Step::targets`]) makes.
fn describe(step: &Step, field: &str) -> (&'static str, String) {
    if let Some(key) = field.strip_prefix("options.") {
        return ("key", key.to_string());
    }
    if let Some(rest) = field.strip_prefix("rules.") {
        let rule = rest
            .split('.')
            .next()
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| match step {
                Step::Branch(b) => b.rules.get(i),
                _ => None,
            });
        return ("rule", rule.map_or_else(|| field.to_string(), rule_label));
    }
    let kind = match field {
        "next" => "next",
        "on_timeout" => "timeout",
        "default" => "default",
        "on_failure" => "on_failure",
        "not_found" => "not_found",
        "else" => "else",
        "on_declined" => "on_declined",
        _ => "next",
    };
    let label = match (step, field) {
        (Step::Menu(m), "on_timeout") => format!("timeout {} s", m.timeout_secs),
        _ => field.to_string(),
    };
    (kind, label)
}

/// A branch rule's conditions, short: `open office`, `vip`, `not known_customer`,
/// `cards wait > 120 s`, `var route = vip`; joined by ` & `.
fn rule_label(r: &Rule) -> String {
    let mut parts: Vec<String> = Vec::new();
    let flag = |name: &str, v: Option<bool>, parts: &mut Vec<String>| match v {
        Some(true) => parts.push(name.to_string()),
        Some(false) => parts.push(format!("not {name}")),
        None => {}
    };
    if let Some(s) = &r.holiday {
        parts.push(format!("holiday {s}"));
    }
    if let Some(s) = &r.open {
        parts.push(format!("open {s}"));
    }
    flag("vip", r.vip, &mut parts);
    flag("repeat_complaint", r.repeat_complaint, &mut parts);
    flag("known_customer", r.known_customer, &mut parts);
    flag("fault_notice", r.fault_notice, &mut parts);
    if let Some(l) = &r.language {
        parts.push(format!("language {l}"));
    }
    let queue = r.queue.as_deref().unwrap_or("queue");
    if let Some(s) = r.wait_over_secs {
        parts.push(format!("{queue} wait > {s} s"));
    }
    if let Some(n) = r.waiting_over {
        parts.push(format!("{queue} waiting > {n}"));
    }
    match (&r.var, &r.equals) {
        (Some(v), Some(e)) => parts.push(format!("{v} = {e}")),
        (Some(v), None) => parts.push(format!("{v} set")),
        _ => {}
    }
    if parts.is_empty() {
        "always".to_string()
    } else {
        parts.join(" & ")
    }
}

fn prompts(p: &[PromptDef]) -> String {
    p.iter()
        .map(|p| match p {
            PromptDef::Name(n) => n.clone(),
            PromptDef::Value(PromptValue::Number(n)) => n.to_string(),
            PromptDef::Value(PromptValue::Digits(d)) => d.clone(),
            PromptDef::Value(PromptValue::DurationSecs(s)) => format!("{s} s"),
            PromptDef::Value(PromptValue::NumberVar(v) | PromptValue::DigitsVar(v)) => {
                format!("${v}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The fields worth showing on a step's box.
fn detail(step: &Step) -> BTreeMap<&'static str, String> {
    let mut d = BTreeMap::new();
    let mut put = |k: &'static str, v: String| {
        if !v.is_empty() {
            d.insert(k, v);
        }
    };
    match step {
        Step::Play(s) => put("prompts", prompts(&s.prompts)),
        Step::Menu(s) => put("prompts", prompts(&s.prompts)),
        Step::Collect(s) => {
            put("prompts", prompts(&s.prompts));
            put("into", s.into.clone());
        }
        Step::Lookup(s) => put("account_var", s.account_var.clone().unwrap_or_default()),
        Step::Authenticate(s) => {
            put("prompts", prompts(&s.prompts));
            put("account_var", s.account_var.clone().unwrap_or_default());
        }
        Step::Branch(_) => {}
        Step::Set(s) => {
            let mut what: Vec<String> = Vec::new();
            if let Some(p) = s.priority {
                what.push(format!("priority = {p}"));
            }
            if let Some(p) = s.priority_add {
                what.push(format!("priority + {p}"));
            }
            for (k, l) in &s.skills {
                what.push(format!("skill {k} ≥ {l}"));
            }
            for k in &s.preferred_skills {
                what.push(format!("prefer {k}"));
            }
            for (k, v) in &s.vars {
                what.push(format!("{k} = {v}"));
            }
            if let Some(l) = &s.language {
                what.push(format!("language = {l}"));
            }
            put("set", what.join(", "));
        }
        Step::Enqueue(s) => {
            put("queue", s.queue.clone());
            put("after_call", s.after_call.clone().unwrap_or_default());
            put(
                "callback_digit",
                s.callback_digit.map(String::from).unwrap_or_default(),
            );
        }
        Step::Callback(s) => put("queue", s.queue.clone()),
        Step::Voicemail(s) => put("queue", s.queue.clone()),
        Step::Survey(s) => {
            put("prompts", prompts(&s.prompts));
            put("into", s.into.clone().unwrap_or_default());
        }
        Step::Hangup(s) => {
            put("prompts", prompts(&s.prompts));
            put("reason", s.reason.to_string());
        }
        Step::DoNotCall(s) => put("prompts", prompts(&s.prompts)),
        Step::Transfer(s) => put("to", s.to.clone()),
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEMO_FLOWS;

    fn demo() -> FlowSet {
        FlowSet::from_toml(DEMO_FLOWS).expect("the demo flows are valid")
    }

    fn reachable(g: &FlowGraph) -> HashSet<String> {
        let mut seen = HashSet::from([g.start.clone()]);
        let mut todo = vec![g.start.clone()];
        while let Some(id) = todo.pop() {
            for e in g.edges.iter().filter(|e| e.from == id) {
                if seen.insert(e.to.clone()) {
                    todo.push(e.to.clone());
                }
            }
        }
        seen
    }

    #[test]
    fn every_step_reachable_from_start_is_a_node_and_every_edge_lands_on_one() {
        let set = demo();
        let gs = graphs(&set);
        assert_eq!(
            gs.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
            [
                "abusive_end",
                "main",
                "outbound_survey",
                "survey",
                "voicemail"
            ]
        );
        for g in &gs {
            let flow = set.flow(&g.name).unwrap();
            let ids: HashSet<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
            assert_eq!(ids.len(), g.nodes.len(), "{}: a step twice", g.name);
            assert_eq!(g.nodes[0].id, flow.start, "{}: start first", g.name);
            for id in reachable(g) {
                assert!(ids.contains(id.as_str()), "{}: {id} missing", g.name);
            }
            // Every step of a valid flow is reachable, so every step is drawn.
            assert_eq!(ids.len(), flow.steps.len(), "{}", g.name);
            for e in &g.edges {
                assert!(ids.contains(e.to.as_str()), "{}: edge to {}", g.name, e.to);
                assert!(
                    ids.contains(e.from.as_str()),
                    "{}: edge from {}",
                    g.name,
                    e.from
                );
            }
            for n in &g.nodes {
                let outgoing = g.edges.iter().any(|e| e.from == n.id);
                assert_eq!(n.terminal, !outgoing, "{}: {}", g.name, n.id);
            }
        }
    }

    #[test]
    fn the_demo_menu_has_its_keys_timeout_and_default_as_edges() {
        let g = graph("main", demo().flow("main").unwrap());
        let menu: Vec<(&str, &str, &str)> = g
            .edges
            .iter()
            .filter(|e| e.from == "menu")
            .map(|e| (e.kind, e.label.as_str(), e.to.as_str()))
            .collect();
        assert_eq!(
            menu,
            [
                ("key", "0", "general"),
                ("key", "1", "accounts"),
                ("key", "2", "cards"),
                ("key", "9", "complaints"),
                ("timeout", "timeout 5 s", "general"),
                ("default", "default", "general"),
            ]
        );
        let node = |id: &str| g.nodes.iter().find(|n| n.id == id).unwrap();
        assert_eq!(node("menu").kind, "menu");
        assert_eq!(node("cards").kind, "enqueue");
        assert_eq!(node("cards").detail["queue"], "cards");
        assert_eq!(node("cards").detail["after_call"], "survey");
        assert!(node("cards").terminal);
        assert_eq!(g.start, "lookup");
        assert_eq!(g.nodes.len(), 14);
    }

    #[test]
    fn branch_rules_are_labelled_by_their_conditions_in_order() {
        let g = graph("main", demo().flow("main").unwrap());
        let hours: Vec<(&str, &str, &str)> = g
            .edges
            .iter()
            .filter(|e| e.from == "hours")
            .map(|e| (e.kind, e.label.as_str(), e.to.as_str()))
            .collect();
        assert_eq!(
            hours,
            [
                ("rule", "holiday office", "holiday"),
                ("rule", "open office", "office_hours"),
                ("else", "else", "after_hours"),
            ]
        );
        let classify: Vec<&str> = g
            .edges
            .iter()
            .filter(|e| e.from == "classify")
            .map(|e| e.label.as_str())
            .collect();
        assert_eq!(classify, ["repeat_complaint", "vip", "else"]);
    }

    #[test]
    fn failure_not_found_transfer_and_unvalidated_targets() {
        let set = FlowSet::from_toml_unchecked(
            r#"
[flows.f]
start = "who"
[flows.f.steps.who]
type = "lookup"
next = "pin"
not_found = "out"
[flows.f.steps.pin]
type = "authenticate"
prompts = ["pin"]
next = "check"
on_failure = "out"
[flows.f.steps.check]
type = "branch"
rules = [{ queue = "cards", wait_over_secs = 120, vip = false, goto = "out" }]
else = "nowhere"
[flows.f.steps.out]
type = "transfer"
to = "4008"
[flows.f.steps.island]
type = "hangup"
"#,
        )
        .unwrap();
        let g = graph("f", set.flow("f").unwrap());
        let ids: Vec<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
        // Breadth-first from the start, then the unreachable step.
        assert_eq!(ids, ["who", "pin", "out", "check", "island"]);
        let labels: Vec<(&str, &str, &str)> = g
            .edges
            .iter()
            .map(|e| (e.from.as_str(), e.label.as_str(), e.to.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                ("who", "next", "pin"),
                ("who", "not_found", "out"),
                ("pin", "next", "check"),
                ("pin", "on_failure", "out"),
                ("check", "not vip & cards wait > 120 s", "out"),
            ]
        );
        let out = g.nodes.iter().find(|n| n.id == "out").unwrap();
        assert_eq!(out.detail["to"], "4008");
        assert!(out.terminal);
    }
}
