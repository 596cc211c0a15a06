//! A campaign rebuilt after a restart: the attempts made before it still count.

use hotline_dialer::{
    CampaignConfig, Contact, Control, Decision, Dialer, Input, Mode, PastOutcome, Time,
};

// 2026-12-01 10:00 UTC, a Tuesday: inside the default calling hours in London.
const T0: i64 = 1_764_583_200_000;
const MIN: i64 = 60_000;

fn config() -> CampaignConfig {
    let mut cfg = CampaignConfig::new("restored", Mode::Progressive, "+442079460000");
    cfg.centre_time_zone = "Europe/London".into();
    cfg
}

/// A campaign of one contact (id 1).
fn with_contact(cfg: CampaignConfig) -> Dialer {
    let mut d = Dialer::new(cfg).unwrap();
    let contact = Contact {
        id: 1,
        phone: "+447700900001".into(),
        time_zone: None,
    };
    d.handle(Time(T0), Input::AddContacts(vec![contact]))
        .unwrap();
    d
}

fn campaign() -> Dialer {
    let mut cfg = config();
    cfg.retries.busy.spacing_seconds = 1800;
    with_contact(cfg)
}

/// An attempt of `contact` that ended `minutes` before T0.
fn past(d: &mut Dialer, contact: u64, minutes: i64, outcome: PastOutcome) {
    let at = Time(T0 - minutes * MIN);
    let input = Input::Past {
        contact,
        at,
        outcome,
    };
    d.handle(Time(T0), input).unwrap();
}

fn start_with_one_free_agent(d: &mut Dialer) {
    d.handle(Time(T0), Input::Control(Control::Start)).unwrap();
    d.handle(
        Time(T0),
        Input::Agents {
            free: 1,
            staffed: 1,
        },
    )
    .unwrap();
}

fn dials(d: &mut Dialer) -> usize {
    std::iter::from_fn(|| d.poll_decision())
        .filter(|x| matches!(x, Decision::Dial { .. }))
        .count()
}

#[test]
fn a_busy_attempt_before_the_restart_is_retried_after_its_spacing() {
    let mut d = campaign();
    past(&mut d, 1, 10, PastOutcome::Busy);
    start_with_one_free_agent(&mut d);
    assert_eq!(
        dials(&mut d),
        0,
        "dialled 10 minutes after busy, spacing 30"
    );
    d.handle_timeout(Time(T0 + 19 * MIN));
    assert_eq!(dials(&mut d), 0);
    d.handle_timeout(Time(T0 + 21 * MIN));
    assert_eq!(dials(&mut d), 1, "due 30 minutes after the busy signal");
    assert_eq!(d.stats(Time(T0 + 21 * MIN)).busy, 1);
}

#[test]
fn an_abandoned_call_before_the_restart_is_counted_and_not_redialled_within_72_hours() {
    let mut d = campaign();
    past(&mut d, 1, 1, PastOutcome::Abandoned);
    start_with_one_free_agent(&mut d);
    d.handle_timeout(Time(T0 + 71 * 60 * MIN));
    assert_eq!(dials(&mut d), 0);
    let s = d.stats(Time(T0));
    assert_eq!((s.live, s.abandoned), (1, 1));
    assert!(s.ofcom_rate_24h > 0.99, "{s:?}");
}

#[test]
fn the_days_cap_holds_across_the_restart() {
    let mut cfg = config();
    cfg.rules.max_attempts_per_day = 2;
    cfg.retries.no_answer.spacing_seconds = 60;
    cfg.retries.no_answer.max_attempts = 10;
    let mut d = with_contact(cfg);
    for m in [30, 20] {
        past(&mut d, 1, m, PastOutcome::NoAnswer);
    }
    start_with_one_free_agent(&mut d);
    d.handle_timeout(Time(T0 + 60 * MIN));
    assert_eq!(dials(&mut d), 0, "a third attempt the same day");
}

#[test]
fn a_contact_done_before_the_restart_counts_in_the_figures_only() {
    let mut d = campaign();
    past(&mut d, 7, 1, PastOutcome::Connected);
    let s = d.stats(Time(T0));
    assert_eq!((s.dials, s.live, s.connected), (1, 1, 1));
}
