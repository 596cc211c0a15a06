//! Which number leads where: service numbers to their contact flows, agents' extensions and
//! direct numbers to those agents. Built once from the configuration; no I/O.

use std::collections::{BTreeMap, HashMap};

/// Where a dialled number leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A service number: this contact flow answers.
    Flow(String),
    /// An agent's extension or direct number: that agent is offered the call first (the
    /// routing engine's preferred agent), then anyone of `queue`.
    Agent { extension: String, queue: String },
    /// A campaign's answered call: it waits, on hold, for an agent of `queue`, at
    /// `priority` against the queue's other contacts.
    Queue { queue: String, priority: i32 },
}

/// The numbers of a centre.
#[derive(Debug, Clone, Default)]
pub struct Numbers {
    routes: HashMap<String, Route>,
    /// No service number is configured: every number that is no agent's goes to `main`.
    open: bool,
}

impl Numbers {
    pub fn from_config(cfg: &hotline_config::Config) -> Numbers {
        let mut routes = HashMap::new();
        for n in &cfg.centre.service_numbers {
            routes.insert(n.clone(), Route::Flow("main".into()));
        }
        for n in &cfg.numbers {
            routes.insert(
                n.number.get_ref().clone(),
                Route::Flow(n.flow_name().to_string()),
            );
        }
        let open = routes.is_empty();
        let queue = cfg
            .centre
            .direct_queue
            .as_ref()
            .map(|q| q.get_ref().clone())
            .or_else(|| cfg.queues.first().map(|q| q.name.get_ref().clone()));
        if let Some(queue) = queue {
            for a in &cfg.agents {
                let to_agent = Route::Agent {
                    extension: a.extension.get_ref().clone(),
                    queue: queue.clone(),
                };
                routes.insert(a.extension.get_ref().clone(), to_agent.clone());
                if let Some(d) = &a.direct_number {
                    routes.insert(d.get_ref().clone(), to_agent);
                }
            }
        }
        Numbers { routes, open }
    }

    /// Where `dialled` leads when it is a number of this centre (no fallback to `main`):
    /// a flow's `transfer` step resolves its target with it.
    pub fn lookup(&self, dialled: &str) -> Option<Route> {
        self.routes.get(dialled).cloned()
    }

    /// Where a call to `dialled` goes; `None`: no such number here (answer 404).
    pub fn route(&self, dialled: &str) -> Option<Route> {
        match self.routes.get(dialled) {
            Some(r) => Some(r.clone()),
            None if self.open => Some(Route::Flow("main".into())),
            None => None,
        }
    }

    /// Every number goes to `main` because none is configured.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The service numbers of each flow (sorted; flows no number leads to are absent).
    pub fn by_flow(&self) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (number, route) in &self.routes {
            if let Route::Flow(flow) = route {
                m.entry(flow.clone()).or_default().push(number.clone());
            }
        }
        for v in m.values_mut() {
            v.sort();
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(edit: impl Fn(String) -> String) -> hotline_config::Config {
        hotline_config::Config::from_toml("t.toml", &edit(hotline_config::DEMO_TOML.to_string()))
            .unwrap()
    }

    #[test]
    fn service_numbers_extensions_and_direct_numbers() {
        let c = cfg(|t| {
            t.replace(
                "service_numbers = [\"95588\"]",
                "service_numbers = [\"95588\"]\ndirect_queue = \"cards\"",
            )
            .replace(
                "extension = \"1002\"",
                "extension = \"1002\"\ndirect_number = \"80001002\"",
            ) + "\n[[numbers]]\nnumber = \"95566\"\nflow = \"survey\"\n"
        });
        let n = Numbers::from_config(&c);
        assert!(!n.is_open());
        assert_eq!(n.route("95588"), Some(Route::Flow("main".into())));
        assert_eq!(n.route("95566"), Some(Route::Flow("survey".into())));
        let agent = Some(Route::Agent {
            extension: "1002".into(),
            queue: "cards".into(),
        });
        assert_eq!(n.route("1002"), agent);
        assert_eq!(n.route("80001002"), agent);
        assert_eq!(n.route("12345"), None);
        assert_eq!(n.route(""), None);
        let by_flow = n.by_flow();
        assert_eq!(by_flow["main"], ["95588"]);
        assert_eq!(by_flow["survey"], ["95566"]);
        assert_eq!(by_flow.len(), 2);
    }

    #[test]
    fn the_first_queue_takes_direct_calls_unless_one_is_named() {
        let n = Numbers::from_config(&cfg(|t| t));
        let Some(Route::Agent { queue, .. }) = n.route("1001") else {
            panic!()
        };
        assert_eq!(queue, "accounts");
    }

    #[test]
    fn without_service_numbers_every_other_number_goes_to_main() {
        let n = Numbers::from_config(&cfg(|t| t.replace("service_numbers = [\"95588\"]", "")));
        assert!(n.is_open());
        assert_eq!(n.route("12345"), Some(Route::Flow("main".into())));
        assert!(matches!(n.route("1001"), Some(Route::Agent { .. })));
    }
}
