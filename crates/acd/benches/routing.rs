//! Routing decisions per second and their latency, at bank scale: 10,000 agents, 200 skills,
//! 500 queues, 50,000 waiting contacts.
//!
//! `cargo bench -p hotline-acd --bench routing` (add `-- --quick` for a short run; `--simple`
//! or `--mixed`, `--saturated` or `--idle` to run one part).
//!
//! Two workloads, each timed per call to the engine:
//! * **saturated**: every agent is busy and 50,000 contacts wait. Each step ends a call
//!   (the freed agent picks the best waiting contact it may serve: one decision) and a new
//!   contact arrives in the queue that contact came from (the engine finds no free agent and
//!   queues it: one decision), so the queues keep their lengths.
//! * **idle agents**: 2,000 agents are free and nobody waits. Each step a contact arrives and
//!   is matched to the best free agent (one decision), and a call ends (the freed agent
//!   finds no waiting contact: one decision).
//!
//! A decision's latency includes the whole `handle` call: bookkeeping, timers and outputs.
//! Each workload runs twice: with the queues using longest idle or best fit (one ordering
//! of free agents kept, plus the fair-spread one of the wellbeing rules), and with a mix of
//! all orderings (four kept per free agent, so more index upkeep per state change).

use std::hint::black_box;
use std::time::Instant as Clock;

use hotline_acd::{
    AgentConfig, AgentId, Arrival, ContactId, Engine, EngineConfig, Input, Instant, Output,
    OverflowStep, QueueConfig, QueueId, Strategy,
};

const AGENTS: usize = 10_000;
const SKILLS: u64 = 200;
const QUEUES: usize = 500;
const WAITING: usize = 50_000;

/// splitmix64: a small deterministic generator, enough to lay out the bench.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Bench {
    engine: Engine,
    rng: Rng,
    now: u64,
    next_contact: u64,
    connected: Vec<(u64, u32)>,
    queues: usize,
}

impl Bench {
    fn new(mixed: bool) -> Self {
        let mut engine = Engine::new(EngineConfig::default());
        let mut rng = Rng(42);
        for q in 0..QUEUES {
            let s1 = rng.below(SKILLS);
            let mut skills = vec![(format!("s{s1}"), 1 + rng.below(5) as u8)];
            if q % 5 == 0 {
                let s2 = (s1 + 1 + rng.below(SKILLS - 1)) % SKILLS;
                skills.push((format!("s{s2}"), 1 + rng.below(3) as u8));
            }
            let refs: Vec<(&str, u8)> = skills.iter().map(|(s, l)| (s.as_str(), *l)).collect();
            let mut cfg = QueueConfig::new(format!("q{q}"), &refs);
            cfg.strategy = match (mixed, q % 10) {
                (true, 0) => Strategy::FewestContacts,
                (true, 1) => Strategy::RoundRobin,
                (_, 2) => Strategy::BestFit,
                _ => Strategy::LongestIdle,
            };
            cfg.priority = (q % 3) as i32;
            if q % 4 == 0 {
                cfg.overflow.push(OverflowStep {
                    after_seconds: 30.0,
                    lower_levels_by: 2,
                    ..Default::default()
                });
            }
            engine.add_queue(cfg).expect("queue");
        }
        for a in 0..AGENTS {
            let n = 4 + rng.below(5);
            let mut skills = Vec::new();
            for _ in 0..n {
                skills.push((format!("s{}", rng.below(SKILLS)), 1 + rng.below(10) as u8));
            }
            skills.sort();
            skills.dedup_by(|x, y| x.0 == y.0);
            let refs: Vec<(&str, u8)> = skills.iter().map(|(s, l)| (s.as_str(), *l)).collect();
            engine
                .add_agent(AgentConfig::new(format!("a{a}"), &refs))
                .expect("agent");
        }
        Bench {
            engine,
            rng,
            now: 0,
            next_contact: 0,
            connected: Vec::new(),
            queues: QUEUES,
        }
    }

    fn tick(&mut self) {
        self.now += 1;
    }

    /// Handles one input; answers offers at once; returns nothing (outputs are consumed).
    fn handle(&mut self, input: Input) {
        let now = Instant(self.now);
        self.engine.handle(now, input).expect("input");
        self.answer_offers();
    }

    fn answer_offers(&mut self) {
        let now = Instant(self.now);
        while let Some(o) = self.engine.poll_output() {
            if let Output::Offer { contact, agent, .. } = o {
                self.engine
                    .handle(now, Input::Answer { contact, agent })
                    .expect("answer");
                self.connected.push((contact.0, agent.0));
            }
        }
    }

    fn arrival(&mut self) -> Input {
        let q = QueueId(self.rng.below(self.queues as u64) as u32);
        self.arrival_to(q)
    }

    fn arrival_to(&mut self, q: QueueId) -> Input {
        let id = self.next_contact;
        self.next_contact += 1;
        Input::Arrive(Arrival::new(ContactId(id), q))
    }

    fn end_random(&mut self) -> Input {
        let i = self.rng.below(self.connected.len() as u64) as usize;
        let (c, _) = self.connected.swap_remove(i);
        Input::End {
            contact: ContactId(c),
            agitation: Some(0.1),
            abusive: false,
        }
    }
}

/// Nanoseconds this thread has spent on a CPU (Linux), to tell the engine's cost from time
/// lost to other processes on a shared machine.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn per_cpu_second(decisions: usize, cpu0: Option<u64>) {
    if let (Some(a), Some(b)) = (cpu0, cpu_ns()) {
        let secs = b.saturating_sub(a) as f64 / 1e9;
        println!(
            "  on-CPU time of the whole loop (decisions, answers, workload upkeep): {secs:.2} s, \
             {:.0} decisions per CPU-second (lower bound)",
            decisions as f64 / secs
        );
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, lat: &mut [u32], total_ns: u128) {
    lat.sort_unstable();
    let n = lat.len() as f64;
    println!(
        "{name}: {} decisions, {:.0} decisions/s, p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.1} µs",
        lat.len(),
        n / (total_ns as f64 / 1e9),
        f64::from(percentile(lat, 0.50)) / 1000.0,
        f64::from(percentile(lat, 0.99)) / 1000.0,
        f64::from(percentile(lat, 0.999)) / 1000.0,
        f64::from(*lat.last().unwrap_or(&0)) / 1000.0,
    );
}

fn saturated(steps: usize, mixed: bool) {
    let mut b = Bench::new(mixed);
    for a in 0..AGENTS as u32 {
        b.handle(Input::Login(AgentId(a)));
    }
    // Fill: contacts arrive until every agent is busy and WAITING contacts wait.
    let mut waiting = 0;
    while waiting < WAITING {
        let input = b.arrival();
        let before = b.connected.len();
        b.handle(input);
        if b.connected.len() == before {
            waiting += 1;
        }
    }
    println!(
        "saturated: {} busy agents, {} waiting contacts, {} queues",
        b.connected.len(),
        waiting,
        b.engine.queue_count()
    );
    let mut lat = Vec::with_capacity(steps * 2);
    let mut total: u128 = 0;
    let cpu0 = cpu_ns();
    for _ in 0..steps {
        b.tick();
        let end = b.end_random();
        let t0 = Clock::now();
        b.engine.handle(Instant(b.now), end).expect("end");
        let dt = t0.elapsed().as_nanos();
        lat.push(dt as u32);
        total += dt;
        let before = b.connected.len();
        b.answer_offers();
        // The freed agent took a waiting contact: a new one arrives in that queue, so every
        // queue keeps its length and every agent stays busy.
        let taken = (b.connected.len() > before)
            .then(|| {
                b.connected
                    .last()
                    .and_then(|&(c, _)| b.engine.contact_queue(ContactId(c)))
            })
            .flatten();
        let arr = match taken {
            Some(q) => b.arrival_to(q),
            None => b.arrival(),
        };
        let t0 = Clock::now();
        b.engine.handle(Instant(b.now), arr).expect("arrive");
        let dt = t0.elapsed().as_nanos();
        lat.push(dt as u32);
        total += dt;
        b.answer_offers();
        black_box(&b.engine);
    }
    per_cpu_second(lat.len(), cpu0);
    report(
        "saturated (freed agent picks a contact; arrival queues)",
        &mut lat,
        total,
    );
}

fn idle_agents(steps: usize, mixed: bool) {
    let mut b = Bench::new(mixed);
    for a in 0..AGENTS as u32 {
        b.handle(Input::Login(AgentId(a)));
    }
    // Make 8,000 agents busy, leaving about 2,000 free; nobody waits (contacts that would
    // wait are abandoned at once).
    while b.connected.len() < AGENTS - 2_000 {
        let input = b.arrival();
        let id = b.next_contact - 1;
        let before = b.connected.len();
        b.handle(input);
        if b.connected.len() == before {
            b.handle(Input::Abandon(ContactId(id)));
        }
    }
    let mut lat = Vec::with_capacity(steps * 2);
    let mut total: u128 = 0;
    let mut matched = 0usize;
    let cpu0 = cpu_ns();
    for _ in 0..steps {
        b.tick();
        // Arrivals until one finds a free agent; one that finds none leaves at once (keeps
        // the workload steady: nobody waits). Each arrival is a decision.
        loop {
            let arr = b.arrival();
            let id = b.next_contact - 1;
            let t0 = Clock::now();
            b.engine.handle(Instant(b.now), arr).expect("arrive");
            let dt = t0.elapsed().as_nanos();
            lat.push(dt as u32);
            total += dt;
            let before = b.connected.len();
            b.answer_offers();
            if b.connected.len() == before {
                b.engine
                    .handle(Instant(b.now), Input::Abandon(ContactId(id)))
                    .expect("abandon");
            } else {
                matched += 1;
                break;
            }
        }
        let end = b.end_random();
        let t0 = Clock::now();
        b.engine.handle(Instant(b.now), end).expect("end");
        let dt = t0.elapsed().as_nanos();
        lat.push(dt as u32);
        total += dt;
        b.answer_offers();
        black_box(&b.engine);
    }
    println!(
        "idle agents: {matched} of {} arrivals matched to a free agent at once",
        lat.len() - steps
    );
    per_cpu_second(lat.len(), cpu0);
    report(
        "idle agents (arrival picks an agent; freed agent finds none)",
        &mut lat,
        total,
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let steps = if quick { 20_000 } else { 500_000 };
    let args: Vec<String> = std::env::args().collect();
    let only = |flag: &str| args.iter().any(|a| a == flag);
    let t = Clock::now();
    for mixed in [false, true] {
        if (only("--simple") && mixed) || (only("--mixed") && !mixed) {
            continue;
        }
        println!(
            "== {} ==",
            if mixed {
                "mixed strategies: longest idle, fewest contacts, round robin, best fit"
            } else {
                "longest idle and best fit"
            }
        );
        if !only("--idle") {
            saturated(steps, mixed);
        }
        if !only("--saturated") {
            idle_agents(steps, mixed);
        }
    }
    println!("bench wall time {:.1} s", t.elapsed().as_secs_f64());
}
