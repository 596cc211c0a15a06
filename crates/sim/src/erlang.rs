//! Erlang C (M/M/N) and Erlang A (M/M/N+M) queueing formulas and staffing.
//!
//! Everything is computed in log space or through bounded recursions, so results stay finite
//! up to tens of thousands of agents:
//!
//! * Erlang B through the recursion `1/B(n) = 1 + (n/A)·1/B(n-1)`, carried as
//!   `L(n) = ln(1/B(n)) = softplus(ln(n/A) + L(n-1))`.
//! * Erlang C from Erlang B: `C = 1 / ((N-A)/N · 1/B + A/N)`.
//! * Erlang A (Palm; Garnett, Mandelbaum and Reiman) from the birth–death chain: the queue
//!   part of the stationary distribution is `π(N+j) = π(N)·t(j)` with
//!   `t(j) = Π_{k=1..j} λ/(Nμ+kθ)`, whose sum is the confluent series
//!   `1F1(1; Nμ/θ+1; λ/θ)`, an incomplete-gamma function. It is summed term by term in log
//!   space (with a running maximum, so neither overflow nor underflow can occur) until the
//!   terms fall below 1e-20 of the sum. The mean wait of answered callers uses the exact
//!   position recursion of a tagged caller, and the service level the transient
//!   probability of being answered within T, by uniformization.

use serde::Serialize;

/// Why an Erlang computation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErlangError {
    /// An input is negative, zero where it must not be, or not a number.
    #[error("invalid input `{name}` = {value}: {why}")]
    Invalid {
        /// Input name, as on the command line.
        name: &'static str,
        /// Value given.
        value: f64,
        /// What is expected.
        why: &'static str,
    },
    /// The computation would be too long (an extreme patience with an overloaded queue).
    #[error("inputs too extreme to compute: {0}")]
    TooLarge(&'static str),
}

/// Results of Erlang C or Erlang A for one staffing level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErlangResult {
    /// `erlang_c` or `erlang_a`.
    pub model: &'static str,
    /// Arrivals per hour.
    pub rate: f64,
    /// Mean handle time, seconds.
    pub aht: f64,
    /// Agents.
    pub agents: u32,
    /// Service-level threshold, seconds.
    pub target: f64,
    /// Mean patience, seconds (Erlang A only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patience: Option<f64>,
    /// Offered load in Erlangs (rate × AHT).
    pub offered_load: f64,
    /// Fraction of all callers answered within `target` seconds.
    pub service_level: f64,
    /// Mean wait of answered callers, seconds (null when the queue is unstable).
    pub asa: Option<f64>,
    /// Probability that a caller waits at all.
    pub p_wait: f64,
    /// Fraction of agent time spent handling calls.
    pub occupancy: f64,
    /// Fraction of callers who hang up before being answered (Erlang A only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abandon_rate: Option<f64>,
    /// Mean wait of all callers, answered or not, seconds (null when unstable).
    pub mean_wait_all: Option<f64>,
    /// Whether the queue is stable (always for Erlang A; load below agents for Erlang C).
    pub stable: bool,
}

fn check(name: &'static str, value: f64, allow_zero: bool) -> Result<f64, ErlangError> {
    if !value.is_finite() {
        return Err(ErlangError::Invalid {
            name,
            value,
            why: "must be a finite number",
        });
    }
    if value < 0.0 || (!allow_zero && value == 0.0) {
        let why = if allow_zero {
            "must not be negative"
        } else {
            "must be positive"
        };
        return Err(ErlangError::Invalid { name, value, why });
    }
    Ok(value)
}

/// Most agents the formulas accept (the recursions are linear in the agents).
pub const MAX_AGENTS: u32 = 1_000_000;

fn check_agents(agents: u32) -> Result<(), ErlangError> {
    if agents == 0 || agents > MAX_AGENTS {
        return Err(ErlangError::Invalid {
            name: "agents",
            value: f64::from(agents),
            why: "must be between 1 and 1,000,000",
        });
    }
    Ok(())
}

fn softplus(x: f64) -> f64 {
    if x > 35.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// `ln(1/B(n, a))` for Erlang B with `n` servers and offered load `a > 0`.
pub fn ln_inv_erlang_b(n: u32, a: f64) -> f64 {
    let ln_a = a.ln();
    let mut l = 0.0;
    for k in 1..=n {
        l = softplus(f64::from(k).ln() - ln_a + l);
    }
    l
}

/// Erlang B blocking probability.
pub fn erlang_b(n: u32, a: f64) -> f64 {
    if a <= 0.0 {
        return if n == 0 { 1.0 } else { 0.0 };
    }
    (-ln_inv_erlang_b(n, a)).exp()
}

/// Erlang C probability of waiting, from `L = ln(1/B)`.
fn erlang_c_from_l(n: u32, a: f64, l: f64) -> f64 {
    let nf = f64::from(n);
    if nf <= a {
        return 1.0;
    }
    let x = ((nf - a) / nf).ln() + l;
    if x > 700.0 {
        0.0
    } else {
        1.0 / (x.exp() + a / nf)
    }
}

/// Erlang C probability of waiting (1 when the load is at or above the agents).
pub fn erlang_c(n: u32, a: f64) -> f64 {
    if a <= 0.0 {
        return 0.0;
    }
    erlang_c_from_l(n, a, ln_inv_erlang_b(n, a))
}

fn trivial(rate: f64, aht: f64, agents: u32, target: f64, patience: Option<f64>) -> ErlangResult {
    ErlangResult {
        model: if patience.is_some() {
            "erlang_a"
        } else {
            "erlang_c"
        },
        rate,
        aht,
        agents,
        target,
        patience,
        offered_load: 0.0,
        service_level: 1.0,
        asa: Some(0.0),
        p_wait: 0.0,
        occupancy: 0.0,
        abandon_rate: patience.map(|_| 0.0),
        mean_wait_all: Some(0.0),
        stable: true,
    }
}

fn erlang_c_from(rate: f64, aht: f64, agents: u32, target: f64, l: f64) -> ErlangResult {
    let a = rate * aht / 3600.0;
    let nf = f64::from(agents);
    if nf <= a {
        return ErlangResult {
            model: "erlang_c",
            rate,
            aht,
            agents,
            target,
            patience: None,
            offered_load: a,
            service_level: 0.0,
            asa: None,
            p_wait: 1.0,
            occupancy: 1.0,
            abandon_rate: None,
            mean_wait_all: None,
            stable: false,
        };
    }
    let c = erlang_c_from_l(agents, a, l);
    let sl = 1.0 - c * (-(nf - a) * target / aht).exp();
    let asa = c * aht / (nf - a);
    ErlangResult {
        model: "erlang_c",
        rate,
        aht,
        agents,
        target,
        patience: None,
        offered_load: a,
        service_level: sl.clamp(0.0, 1.0),
        asa: Some(asa),
        p_wait: c,
        occupancy: a / nf,
        abandon_rate: None,
        mean_wait_all: Some(asa),
        stable: true,
    }
}

/// Erlang C (M/M/N): `rate` calls per hour, `aht` seconds, `agents`, `target` seconds.
pub fn erlang_c_metrics(
    rate: f64,
    aht: f64,
    agents: u32,
    target: f64,
) -> Result<ErlangResult, ErlangError> {
    let rate = check("rate", rate, true)?;
    let aht = check("aht", aht, false)?;
    let target = check("target", target, true)?;
    check_agents(agents)?;
    if rate == 0.0 {
        return Ok(trivial(rate, aht, agents, target, None));
    }
    let a = rate * aht / 3600.0;
    Ok(erlang_c_from(
        rate,
        aht,
        agents,
        target,
        ln_inv_erlang_b(agents, a),
    ))
}

fn logaddexp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// Most terms summed or cells computed before giving up.
const WORK_LIMIT: u64 = 400_000_000;

/// Erlang A (M/M/N+M): like [`erlang_c_metrics`] with exponential patience of mean
/// `patience` seconds.
pub fn erlang_a_metrics(
    rate: f64,
    aht: f64,
    agents: u32,
    target: f64,
    patience: f64,
) -> Result<ErlangResult, ErlangError> {
    let rate = check("rate", rate, true)?;
    let aht = check("aht", aht, false)?;
    let target = check("target", target, true)?;
    let patience = check("patience", patience, false)?;
    check_agents(agents)?;
    if rate == 0.0 {
        return Ok(trivial(rate, aht, agents, target, Some(patience)));
    }
    let lambda = rate / 3600.0;
    let mu = 1.0 / aht;
    let theta = 1.0 / patience;
    let nmu = f64::from(agents) * mu;
    let a = lambda / mu;
    let l = ln_inv_erlang_b(agents, a);

    // Sum t(j), j·t(j) and t(j)·g(j) in log space with a running scale `m`.
    let ln_lambda = lambda.ln();
    let (mut m, mut s0, mut s1, mut sg) = (0.0f64, 1.0f64, 0.0f64, 0.0f64);
    let mut ln_t = 0.0f64;
    // g(j) = E[wait · 1{answered}] of a caller arriving with j callers waiting ahead.
    let mut g = 1.0 / (nmu + theta) * (nmu / (nmu + theta));
    sg += g;
    let mut ln_terms: Vec<f64> = vec![0.0];
    let mut j: u64 = 0;
    loop {
        j += 1;
        if j > 5_000_000 {
            return Err(ErlangError::TooLarge(
                "the waiting line would be too long to sum",
            ));
        }
        let jf = j as f64;
        ln_t += ln_lambda - (nmu + jf * theta).ln();
        let r = nmu + (jf + 1.0) * theta;
        g = (nmu / r) / r + ((nmu + jf * theta) / r) * g;
        if ln_t > m {
            let f = (m - ln_t).exp();
            s0 *= f;
            s1 *= f;
            sg *= f;
            m = ln_t;
        }
        let w = (ln_t - m).exp();
        s0 += w;
        s1 += jf * w;
        sg += g * w;
        ln_terms.push(ln_t);
        let decreasing = lambda < nmu + (jf + 1.0) * theta;
        if decreasing && ln_t < m - 46.0 - (jf.ln()) {
            break;
        }
    }
    let ln_s0 = m + s0.ln();
    // Σ_{k<N} π(k) = π(N)·(1/B - 1).
    let ln_below = if l > 0.0 {
        l + (-(-l).exp()).ln_1p()
    } else {
        f64::NEG_INFINITY
    };
    let ln_denom = logaddexp(ln_below, ln_s0);
    let p_wait = (ln_s0 - ln_denom).exp();
    let mean_queue = (m + s1.ln() - ln_denom).exp();
    let p_ab = (theta * mean_queue / lambda).clamp(0.0, 1.0);
    let wait_answered_mass = (m + sg.ln() - ln_denom).exp();
    let asa = if p_ab < 1.0 {
        wait_answered_mass / (1.0 - p_ab)
    } else {
        0.0
    };
    let occupancy = (lambda * (1.0 - p_ab) / nmu).min(1.0);

    // Service level: P(no wait) + Σ_j P(arrive with j ahead)·P(answered within T | j).
    let j_max = ln_terms.len();
    let lt = (nmu + (j_max as f64 + 1.0) * theta) * target;
    let k_max = (lt + 12.0 * lt.sqrt() + 30.0).ceil() as u64;
    if k_max.saturating_mul(j_max as u64) > WORK_LIMIT {
        return Err(ErlangError::TooLarge(
            "service level over too many waiting positions",
        ));
    }
    let big = nmu + (j_max as f64 + 1.0) * theta;
    let mut h = vec![0.0f64; j_max];
    let mut acc = vec![0.0f64; j_max];
    let ln_lt = if lt > 0.0 { lt.ln() } else { f64::NEG_INFINITY };
    let mut ln_w = -lt;
    for k in 0..=k_max {
        if k > 0 {
            // h_k(j) from h_{k-1}: step down one place (or answered from the head), stay, or
            // abandon.
            let mut below = 1.0;
            for (jj, hv) in h.iter_mut().enumerate() {
                let aj = nmu + jj as f64 * theta;
                let prev = *hv;
                *hv = aj / big * below + (1.0 - (aj + theta) / big) * prev;
                below = prev;
            }
            ln_w += ln_lt - (k as f64).ln();
        }
        if ln_w > -700.0 {
            let w = ln_w.exp();
            for (ac, hv) in acc.iter_mut().zip(&h) {
                *ac += w * hv;
            }
        }
        if lt == 0.0 {
            break;
        }
    }
    let mut sl = 1.0 - p_wait;
    for (jj, ac) in acc.iter().enumerate() {
        sl += (ln_terms[jj] - ln_denom).exp() * ac;
    }

    Ok(ErlangResult {
        model: "erlang_a",
        rate,
        aht,
        agents,
        target,
        patience: Some(patience),
        offered_load: a,
        service_level: sl.clamp(0.0, 1.0),
        asa: Some(asa),
        p_wait,
        occupancy,
        abandon_rate: Some(p_ab),
        mean_wait_all: Some(mean_queue / lambda),
        stable: true,
    })
}

/// Fewest agents whose Erlang C service level reaches `target_sl` (a fraction below 1).
pub fn staff_erlang_c(
    rate: f64,
    aht: f64,
    target: f64,
    target_sl: f64,
) -> Result<u32, ErlangError> {
    let rate = check("rate", rate, true)?;
    let aht = check("aht", aht, false)?;
    let target = check("target", target, true)?;
    if !(0.0..1.0).contains(&target_sl) {
        return Err(ErlangError::Invalid {
            name: "service_level",
            value: target_sl,
            why: "must be at least 0 and below 1",
        });
    }
    if rate == 0.0 {
        return Ok(1);
    }
    let a = rate * aht / 3600.0;
    let ln_a = a.ln();
    let mut l = 0.0;
    let mut n: u32 = 0;
    loop {
        n = n.checked_add(1).ok_or(ErlangError::TooLarge("agents"))?;
        l = softplus(f64::from(n).ln() - ln_a + l);
        if f64::from(n) > a && erlang_c_from(rate, aht, n, target, l).service_level >= target_sl {
            return Ok(n);
        }
        if n >= MAX_AGENTS {
            return Err(ErlangError::TooLarge("more than 1,000,000 agents needed"));
        }
    }
}

/// Fewest agents whose Erlang A service level reaches `target_sl` and whose abandonment rate
/// stays at or below `max_abandon`.
pub fn staff_erlang_a(
    rate: f64,
    aht: f64,
    target: f64,
    patience: f64,
    target_sl: f64,
    max_abandon: f64,
) -> Result<u32, ErlangError> {
    let ok = |n: u32| -> Result<bool, ErlangError> {
        let r = erlang_a_metrics(rate, aht, n, target, patience)?;
        Ok(r.service_level >= target_sl && r.abandon_rate.unwrap_or(0.0) <= max_abandon)
    };
    if !(0.0..=1.0).contains(&max_abandon) {
        return Err(ErlangError::Invalid {
            name: "max_abandon",
            value: max_abandon,
            why: "must be a fraction",
        });
    }
    // Without abandonment the caller would wait at least as long: Erlang C's count suffices
    // for the service level; abandonment only falls as agents are added.
    let mut hi = staff_erlang_c(rate, aht, target, target_sl)?.max(1);
    while !ok(hi)? {
        if hi >= MAX_AGENTS {
            return Err(ErlangError::TooLarge("more than 1,000,000 agents needed"));
        }
        hi = hi.saturating_mul(2).min(MAX_AGENTS);
    }
    let mut lo = 0; // fails (or is zero)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid)? { hi = mid } else { lo = mid }
    }
    Ok(hi)
}
