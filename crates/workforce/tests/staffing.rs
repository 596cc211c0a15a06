//! Staffing acceptance tests.

use hotline_sim::erlang::{erlang_c_metrics, staff_erlang_a, staff_erlang_c};
use hotline_workforce::staffing::{
    AbandonTarget, Binding, QueuePlan, ServiceTarget, Shrinkage, StaffingError, Wellbeing,
    staff_interval, staff_intervals,
};
use proptest::prelude::*;

fn plan(handle: f64, sl: f64, target: f64) -> QueuePlan {
    QueuePlan {
        concurrency: 1,
        name: "cards".into(),
        handle_seconds: handle,
        wrap_up_seconds: 0.0,
        target: ServiceTarget {
            service_level: sl,
            target_seconds: target,
            abandon: None,
        },
        shrinkage: Shrinkage::default(),
        wellbeing: Wellbeing::default(),
        min_agents: 0,
    }
}

/// 100 calls in 15 minutes (400 an hour) of 180 s is 20 Erlangs. By hand (Erlang B
/// recursion, then C = N·B / (N − A·(1 − B)), SL = 1 − C·e^(−(N−A)·20/180)):
/// 23 agents give 70.2%, 24 agents 80.9% with an ASA of 13.4 s.
#[test]
fn hand_checked_interval() {
    let p = plan(180.0, 0.8, 20.0);
    let s = staff_interval(100.0, &p).unwrap();
    assert_eq!(s.on_phones, 24);
    assert_eq!(
        s.on_phones,
        staff_erlang_c(400.0, 180.0, 20.0, 0.8).unwrap()
    );
    assert_eq!(s.scheduled, 24);
    assert_eq!(s.binding, Binding::Target);
    assert!((s.service_level - 0.8089).abs() < 1e-3, "{s:?}");
    assert!((s.asa.unwrap() - 13.41).abs() < 0.01, "{s:?}");
    assert!((s.occupancy - 20.0 / 24.0).abs() < 1e-12);

    // 30% shrinkage: 24 / 0.7 = 34.3, so 35 scheduled.
    let mut p2 = p.clone();
    p2.shrinkage = Shrinkage {
        breaks: 0.1,
        training: 0.05,
        absence: 0.1,
        other: 0.05,
    };
    assert_eq!(staff_interval(100.0, &p2).unwrap().scheduled, 35);
    // 50% shrinkage: exactly 48, not 49 from rounding noise.
    p2.shrinkage = Shrinkage {
        breaks: 0.5,
        ..Shrinkage::default()
    };
    assert_eq!(staff_interval(100.0, &p2).unwrap().scheduled, 48);

    // A ceiling of 0.85 does not bind (20/24 = 0.833); 0.8 asks for 25 (20/25 = 0.8).
    let mut p3 = p.clone();
    p3.wellbeing.occupancy_ceiling = 0.85;
    assert_eq!(staff_interval(100.0, &p3).unwrap().on_phones, 24);
    p3.wellbeing.occupancy_ceiling = 0.8;
    let s3 = staff_interval(100.0, &p3).unwrap();
    assert_eq!((s3.on_phones, s3.binding), (25, Binding::OccupancyCeiling));
    assert!(s3.occupancy <= 0.8);
}

/// Recovery breaks are workload: 10% difficult calls with 120 s of recovery add 12 s to
/// each contact, the same as 12 s more wrap-up.
#[test]
fn recovery_breaks_count_as_workload() {
    let mut p = plan(180.0, 0.8, 20.0);
    p.wellbeing.difficult_fraction = 0.1;
    p.wellbeing.recovery_break_seconds = 120.0;
    assert_eq!(p.workload_seconds(), 192.0);
    let s = staff_interval(100.0, &p).unwrap();
    assert_eq!(
        s.on_phones,
        staff_erlang_c(400.0, 192.0, 20.0, 0.8).unwrap()
    );
    let mut wrap = plan(180.0, 0.8, 20.0);
    wrap.wrap_up_seconds = 12.0;
    assert_eq!(staff_interval(100.0, &wrap).unwrap().on_phones, s.on_phones);
    assert!(s.on_phones > 24);
}

#[test]
fn abandonment_target_uses_erlang_a() {
    let mut p = plan(180.0, 0.8, 20.0);
    p.target.abandon = Some(AbandonTarget {
        patience_seconds: 120.0,
        max_abandon: 0.02,
    });
    let s = staff_interval(100.0, &p).unwrap();
    assert_eq!(
        s.on_phones,
        staff_erlang_a(400.0, 180.0, 20.0, 120.0, 0.8, 0.02).unwrap()
    );
    assert!(s.abandon_rate.unwrap() <= 0.02);
    assert!(s.service_level >= 0.8);
    let all = staff_intervals(&[100.0, 0.0], &p).unwrap();
    assert_eq!(all.model, "erlang_a");
}

#[test]
fn chats_held_three_at_a_time_need_a_third_of_the_places_in_agents() {
    // 60 chats in a quarter hour lasting 600 s each: 40 Erlangs of places.
    let mut p = plan(600.0, 0.8, 60.0);
    let one = staff_interval(60.0, &p).unwrap();
    p.concurrency = 3;
    let three = staff_interval(60.0, &p).unwrap();
    // The places the queueing model needs are the same; an agent brings three of them.
    assert_eq!(
        three.on_phones,
        one.on_phones.div_ceil(3),
        "{one:?} {three:?}"
    );
    assert!(three.service_level >= one.service_level - 1e-12);
    // And a minimum still counts agents.
    p.min_agents = 30;
    let min = staff_interval(60.0, &p).unwrap();
    assert_eq!(min.on_phones, 30);
    assert!(min.service_level > three.service_level);
    // 0 is taken as 1.
    p.concurrency = 0;
    p.min_agents = 0;
    assert_eq!(staff_interval(60.0, &p).unwrap().on_phones, one.on_phones);
}

#[test]
fn plan_totals_agent_hours() {
    let mut p = plan(240.0, 0.8, 20.0);
    p.min_agents = 2;
    p.shrinkage.absence = 0.2;
    let volumes = [0.0, 5.0, 50.0, 200.0];
    let plan = staff_intervals(&volumes, &p).unwrap();
    assert_eq!(plan.intervals.len(), 4);
    assert_eq!(plan.intervals[0].on_phones, 2);
    assert_eq!(plan.intervals[0].binding, Binding::Minimum);
    assert_eq!(plan.intervals[0].scheduled, 3); // 2 / 0.8 = 2.5
    for (i, s) in plan.intervals.iter().enumerate() {
        assert_eq!(s.interval, i);
        assert_eq!(s.volume, volumes[i]);
        if s.binding == Binding::Target {
            let r = erlang_c_metrics(volumes[i] * 4.0, 240.0, s.on_phones, 20.0).unwrap();
            assert_eq!(r.service_level, s.service_level);
        }
    }
    let on: u32 = plan.intervals.iter().map(|s| s.on_phones).sum();
    let sched: u32 = plan.intervals.iter().map(|s| s.scheduled).sum();
    assert_eq!(plan.on_phones_hours, f64::from(on) / 4.0);
    assert_eq!(plan.scheduled_hours, f64::from(sched) / 4.0);
    let no_min = staff_interval(0.0, &plan_without_min()).unwrap();
    assert_eq!((no_min.on_phones, no_min.binding), (0, Binding::NoContacts));
}

fn plan_without_min() -> QueuePlan {
    plan(240.0, 0.8, 20.0)
}

#[test]
fn bad_inputs_are_refused() {
    let p = plan(180.0, 0.8, 20.0);
    match staff_intervals(&[1.0, f64::NAN], &p) {
        Err(StaffingError::Volume { interval: 1, value }) => assert!(value.is_nan()),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        staff_intervals(&[1.0, -3.0], &p),
        Err(StaffingError::Volume { interval: 1, .. })
    ));
    let mut bad = p.clone();
    bad.shrinkage = Shrinkage {
        breaks: 0.5,
        absence: 0.5,
        ..Shrinkage::default()
    };
    assert!(matches!(
        staff_interval(10.0, &bad),
        Err(StaffingError::Invalid {
            name: "shrinkage (total)",
            ..
        })
    ));
    let mut bad = p.clone();
    bad.target.service_level = 1.0;
    assert!(matches!(
        staff_interval(10.0, &bad),
        Err(StaffingError::Invalid {
            name: "service_level",
            ..
        })
    ));
    let mut bad = p.clone();
    bad.handle_seconds = 0.0;
    assert!(staff_interval(10.0, &bad).is_err());
    let mut bad = p.clone();
    bad.wellbeing.occupancy_ceiling = 1.5;
    assert!(staff_interval(10.0, &bad).is_err());
    // A ceiling no staffing can meet is an error, not a hang or an overflow.
    let mut bad = p;
    bad.wellbeing.occupancy_ceiling = 1e-9;
    assert!(matches!(
        staff_interval(100.0, &bad),
        Err(StaffingError::Erlang { interval: 0, .. })
    ));
}

fn arb_plan() -> impl Strategy<Value = QueuePlan> {
    (
        30.0..600.0f64,
        0.5..0.95f64,
        5.0..60.0f64,
        0.0..0.2f64,
        0.0..0.3f64,
        prop_oneof![Just(0.0), 0.6..0.95f64],
        0.0..0.3f64,
        0.0..300.0f64,
    )
        .prop_map(
            |(handle, sl, target, breaks, absence, ceiling, difficult, recovery)| QueuePlan {
                concurrency: 1,
                name: "q".into(),
                handle_seconds: handle,
                wrap_up_seconds: 10.0,
                target: ServiceTarget {
                    service_level: sl,
                    target_seconds: target,
                    abandon: None,
                },
                shrinkage: Shrinkage {
                    breaks,
                    absence,
                    ..Shrinkage::default()
                },
                wellbeing: Wellbeing {
                    occupancy_ceiling: ceiling,
                    difficult_fraction: difficult,
                    recovery_break_seconds: recovery,
                },
                min_agents: 0,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// More contacts never need fewer agents, on the phones or scheduled.
    #[test]
    fn required_agents_are_monotone_in_volume(
        p in arb_plan(),
        v in 0.0..1500.0f64,
        extra in 0.0..300.0f64,
    ) {
        let lo = staff_interval(v, &p).unwrap();
        let hi = staff_interval(v + extra, &p).unwrap();
        prop_assert!(lo.on_phones <= hi.on_phones, "{lo:?} {hi:?}");
        prop_assert!(lo.scheduled <= hi.scheduled, "{lo:?} {hi:?}");
    }

    /// Shrinkage and the occupancy ceiling only ever add agents, and the ceiling holds.
    #[test]
    fn shrinkage_and_ceiling_never_lower_the_count(p in arb_plan(), v in 0.0..1500.0f64) {
        let mut bare = p.clone();
        bare.shrinkage = Shrinkage::default();
        bare.wellbeing.occupancy_ceiling = 0.0;
        let base = staff_interval(v, &bare).unwrap();
        prop_assert_eq!(base.scheduled, base.on_phones);
        let full = staff_interval(v, &p).unwrap();
        prop_assert!(full.on_phones >= base.on_phones);
        prop_assert!(full.scheduled >= full.on_phones);
        prop_assert!(full.scheduled >= base.scheduled);
        let ceiling = p.wellbeing.occupancy_ceiling;
        if ceiling > 0.0 {
            prop_assert!(full.occupancy <= ceiling, "{full:?}");
            if full.binding == Binding::OccupancyCeiling && full.on_phones > 1 {
                // The fewest that meet it: one fewer would be above the ceiling.
                let load = v * 4.0 * p.workload_seconds() / 3600.0;
                prop_assert!(load / f64::from(full.on_phones - 1) > ceiling);
            }
        }
        prop_assert!(full.service_level >= p.target.service_level);
        let s = p.shrinkage.total();
        prop_assert!(f64::from(full.scheduled) * (1.0 - s) >= f64::from(full.on_phones) - 1e-6);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Monotone under Erlang A too (fewer cases: each is a heavier computation).
    #[test]
    fn erlang_a_is_monotone_in_volume(
        v in 1.0..150.0f64,
        extra in 0.0..50.0f64,
        patience in 30.0..300.0f64,
        max_abandon in 0.01..0.1f64,
    ) {
        let mut p = plan(200.0, 0.8, 20.0);
        p.target.abandon = Some(AbandonTarget { patience_seconds: patience, max_abandon });
        let lo = staff_interval(v, &p).unwrap();
        let hi = staff_interval(v + extra, &p).unwrap();
        prop_assert!(lo.on_phones <= hi.on_phones, "{lo:?} {hi:?}");
    }
}
