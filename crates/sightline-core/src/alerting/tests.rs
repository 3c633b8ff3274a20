//! Alerting tests: alert lives replayed in simulated time through one `check` table, plus properties.

use super::*;
use crate::problem::Problem;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn monitor(condition: Condition, for_ms: i64) -> Monitor {
    Monitor {
        id: "latency-p99".into(),
        model: "credit-risk".into(),
        version: None,
        signal: Signal::LatencyQuantile { quantile: 0.99 },
        condition,
        window_ms: 300_000,
        interval_ms: 60_000,
        for_ms,
        severity: Severity::High,
        labels: Labels::new(),
        runbook_url: Some("https://runbooks.example.com/latency".into()),
        no_data: NoDataPolicy::Keep,
    }
}

fn above(value: f64, for_ms: i64) -> Monitor {
    monitor(Condition::Threshold { op: Comparator::Gt, value }, for_ms)
}

fn anomaly(k: f64, window_points: usize, min_points: usize, for_ms: i64) -> Monitor {
    monitor(Condition::Anomaly { k, window_points, min_points, direction: Direction::Both }, for_ms)
}

fn render_event(e: AlertEvent) -> String {
    match e {
        AlertEvent::Pending { since_ms } => format!("+pending(since={since_ms})"),
        AlertEvent::Firing { since_ms } => format!("+firing(since={since_ms})"),
        AlertEvent::Resolved { duration_ms } => format!("+resolved(duration={duration_ms})"),
    }
}

/// Replays a table of evaluations, one per line: `time sample => state [event]`,
/// where sample `-` is a missing sample. The right-hand side is what is expected;
/// on a mismatch the whole actual table is printed, ready to paste.
#[track_caller]
fn check(monitor: &Monitor, table: &str) {
    let mut alert = Alert::new(&monitor.id, Labels::new());
    let (mut actual, mut expected) = (Vec::new(), Vec::new());
    for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (input, want) = line.split_once("=>").unwrap_or((line, ""));
        let mut parts = input.split_whitespace();
        let t: i64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("bad time in {line:?}"));
        let sample = match parts.next() {
            Some("-") => None,
            Some(s) => Some(s.parse::<f64>().unwrap_or_else(|_| panic!("bad sample in {line:?}"))),
            None => panic!("no sample in {line:?}"),
        };
        let got = match alert.evaluate(monitor, sample, t) {
            Ok(event) => {
                let mut s = alert.state().as_str().to_string();
                if let Some(e) = event {
                    s = format!("{s} {}", render_event(e));
                }
                s
            }
            Err(e) => format!("error({e})"),
        };
        let input = input.split_whitespace().collect::<Vec<_>>().join(" ");
        actual.push(format!("{input} => {got}"));
        expected.push(format!("{input} => {}", want.split_whitespace().collect::<Vec<_>>().join(" ")));
    }
    assert_eq!(actual, expected, "\nactual table:\n{}\n", actual.join("\n"));
}

#[test]
fn fires_after_for_and_resolves() {
    check(
        &above(10.0, 20),
        "
        0  11 => pending +pending(since=0)
        10 12 => pending
        20 13 => firing +firing(since=0)
        30 14 => firing
        40  5 => resolved +resolved(duration=20)
        50  5 => inactive
        60  5 => inactive
        ",
    );
}

#[test]
fn for_elapses_exactly_or_later() {
    // Exactly `for` after the first true evaluation is enough.
    check(&above(10.0, 30), "0 11 => pending +pending(since=0)\n 30 11 => firing +firing(since=0)");
    // One millisecond short is not.
    check(&above(10.0, 30), "0 11 => pending +pending(since=0)\n 29 11 => pending\n 45 11 => firing +firing(since=0)");
    // Irregular evaluation times: the clock is wall time, not a count of evaluations.
    check(&above(10.0, 30), "5 11 => pending +pending(since=5)\n 100 11 => firing +firing(since=5)");
}

#[test]
fn for_zero_fires_at_once() {
    check(
        &above(10.0, 0),
        "
        0 5  => inactive
        10 11 => firing +firing(since=10)
        20 9  => resolved +resolved(duration=10)
        30 11 => firing +firing(since=30)
        ",
    );
}

#[test]
fn threshold_comparators_at_the_boundary() {
    let at = |op| monitor(Condition::Threshold { op, value: 10.0 }, 0);
    check(&at(Comparator::Gt), "0 10 => inactive\n 1 10.5 => firing +firing(since=1)");
    check(&at(Comparator::Ge), "0 10 => firing +firing(since=0)");
    check(&at(Comparator::Lt), "0 10 => inactive\n 1 9.5 => firing +firing(since=1)");
    check(&at(Comparator::Le), "0 10 => firing +firing(since=0)");
}

#[test]
fn flapping_never_fires_and_restarts_the_clock() {
    check(
        &above(10.0, 20),
        "
        0  11 => pending +pending(since=0)
        10  9 => inactive
        20 11 => pending +pending(since=20)
        30  9 => inactive
        40 11 => pending +pending(since=40)
        50 11 => pending
        60 11 => firing +firing(since=40)
        70  9 => resolved +resolved(duration=10)
        80 11 => pending +pending(since=80)
        90  9 => inactive
        ",
    );
}

#[test]
fn no_data_keeps_state_by_default() {
    check(
        &above(10.0, 20),
        "
        0  11 => pending +pending(since=0)
        10  - => pending
        20 NaN => pending
        30 inf => pending
        40 11 => firing +firing(since=0)
        50  - => firing
        60  5 => resolved +resolved(duration=20)
        70  - => resolved
        80  5 => inactive
        ",
    );
}

#[test]
fn no_data_policies_ok_and_alerting() {
    let mut ok = above(10.0, 10);
    ok.no_data = NoDataPolicy::Ok;
    check(
        &ok,
        "
        0 11 => pending +pending(since=0)
        10 - => inactive
        20 11 => pending +pending(since=20)
        30 11 => firing +firing(since=20)
        40 - => resolved +resolved(duration=10)
        ",
    );
    let mut alerting = above(10.0, 10);
    alerting.no_data = NoDataPolicy::Alerting;
    check(
        &alerting,
        "
        0 5 => inactive
        10 - => pending +pending(since=10)
        20 NaN => firing +firing(since=10)
        30 5 => resolved +resolved(duration=10)
        ",
    );
}

#[test]
fn time_going_backwards_is_an_error_and_changes_nothing() {
    check(
        &above(10.0, 20),
        "
        10 11 => pending +pending(since=10)
        5 11 => error(evaluation at 5 is earlier than the previous one at 10)
        10 11 => pending
        30 11 => firing +firing(since=10)
        ",
    );
}

#[test]
fn anomaly_waits_for_its_baseline() {
    // min_points = 3: the spike at t=20 has only two baseline points and cannot fire;
    // the same spike fires once three calm points make up the baseline. While a spike
    // is in the trailing window it widens the spread, so values are judged mildly.
    check(
        &anomaly(3.0, 3, 3, 0),
        "
        0 10 => inactive
        10 10.5 => inactive
        20 100 => inactive
        30 10 => inactive
        40 10 => inactive
        50 10.5 => inactive
        60 10 => inactive
        70 100 => firing +firing(since=70)
        80 10 => resolved +resolved(duration=10)
        ",
    );
}

#[test]
fn anomaly_directions_and_for() {
    let below = monitor(Condition::Anomaly { k: 2.0, window_points: 4, min_points: 4, direction: Direction::Below }, 0);
    check(
        &below,
        "
        0 10 => inactive
        1 12 => inactive
        2 10 => inactive
        3 12 => inactive
        4 30 => inactive
        5 -40 => firing +firing(since=5)
        ",
    );
    // A lasting shift fires after `for`, then becomes the new normal and resolves.
    check(
        &anomaly(1.5, 8, 4, 2),
        "
        0 10 => inactive
        1 11 => inactive
        2 10 => inactive
        3 11 => inactive
        4 10 => inactive
        5 11 => inactive
        6 10 => inactive
        7 11 => inactive
        8 50 => pending +pending(since=8)
        9 50 => pending
        10 50 => firing +firing(since=8)
        11 50 => resolved +resolved(duration=1)
        12 50 => inactive
        ",
    );
    // No data does not enter the baseline.
    let m = anomaly(2.0, 4, 2, 0);
    check(&m, "0 10 => inactive\n 1 - => inactive\n 2 NaN => inactive\n 3 11 => inactive");
    let mut alert = Alert::new(&m.id, Labels::new());
    for (t, sample) in [(0, Some(10.0)), (1, None), (2, Some(f64::NAN)), (3, Some(11.0))] {
        assert!(alert.evaluate(&m, sample, t).is_ok());
    }
    assert_eq!(alert.baseline_len(), 2);
}

#[test]
fn acknowledgement_belongs_to_the_episode() {
    let m = above(10.0, 0);
    let mut alert = Alert::new(&m.id, Labels::new());
    assert!(!alert.acknowledge(), "nothing to acknowledge while inactive");
    assert_eq!(alert.evaluate(&m, Some(11.0), 0), Ok(Some(AlertEvent::Firing { since_ms: 0 })));
    assert!(alert.acknowledge());
    assert!(alert.is_acknowledged());
    assert_eq!(alert.evaluate(&m, Some(12.0), 10), Ok(None));
    assert!(alert.is_acknowledged(), "still the same episode");
    assert_eq!(alert.evaluate(&m, Some(1.0), 20), Ok(Some(AlertEvent::Resolved { duration_ms: 20 })));
    assert_eq!(alert.evaluate(&m, Some(11.0), 30), Ok(Some(AlertEvent::Firing { since_ms: 30 })));
    assert!(!alert.is_acknowledged(), "a new episode starts unacknowledged");
}

type LabelPairs<'a> = &'a [(&'a str, &'a str)];
type Mutation = Box<dyn Fn(&mut Monitor)>;

fn labels(pairs: LabelPairs) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn monitor_alerts_track_series_separately() {
    let mut m = above(10.0, 10);
    m.labels = labels(&[("team", "ml")]);
    let mut set = MonitorAlerts::new(m);
    let (v1, v2) = (labels(&[("version", "v1")]), labels(&[("version", "v2")]));
    // v2 is being rolled out: its alerts are muted until t=20.
    let silences = [Silence {
        matchers: vec![
            Matcher { name: "monitor".into(), op: MatchOp::Equal, value: "latency-p99".into() },
            Matcher { name: "version".into(), op: MatchOp::Equal, value: "v2".into() },
        ],
        starts_at_ms: 0,
        ends_at_ms: 20,
        comment: "rollout".into(),
    }];
    let round = |a: Option<f64>, b: Option<f64>| -> BTreeMap<Labels, Option<f64>> {
        let mut m = BTreeMap::new();
        if let Some(a) = a {
            m.insert(v1.clone(), Some(a));
        }
        if let Some(b) = b {
            m.insert(v2.clone(), Some(b));
        }
        m
    };
    let eval = |set: &mut MonitorAlerts, samples: BTreeMap<Labels, Option<f64>>, now: i64| -> Vec<String> {
        let notices = set.evaluate(&samples, &silences, now).unwrap_or_else(|e| panic!("{e}"));
        notices
            .into_iter()
            .map(|n| {
                assert_eq!(
                    n.fingerprint,
                    Fingerprint::of("latency-p99", &labels(&[("version", &n.labels["version"])]))
                );
                assert_eq!(n.labels["team"], "ml");
                let muted = if n.silenced { " silenced" } else { "" };
                format!("{} {}{muted}", n.labels["version"], render_event(n.event))
            })
            .collect()
    };
    assert_eq!(eval(&mut set, round(Some(11.0), Some(5.0)), 0), ["v1 +pending(since=0)"]);
    // v1 vanishes from the query (no data, kept); v2 starts to hold, under its silence.
    assert_eq!(eval(&mut set, round(None, Some(11.0)), 10), ["v2 +pending(since=10) silenced"]);
    // The silence has expired at t=20 (its end is exclusive).
    assert_eq!(eval(&mut set, round(Some(11.0), Some(11.0)), 20), ["v1 +firing(since=0)", "v2 +firing(since=10)"]);
    assert_eq!(
        set.evaluate(&round(Some(11.0), None), &[], 5),
        Err(EvalError::TimeWentBackwards { last_ms: 20, now_ms: 5 })
    );
    let states: Vec<&str> = set.alerts().map(|a| a.state().as_str()).collect();
    assert_eq!(states, ["firing", "firing"], "a refused round changes nothing");
    assert!(set.alert_mut(&v1).is_some_and(|a| a.acknowledge()));
    assert_eq!(eval(&mut set, round(Some(11.0), Some(1.0)), 30), ["v2 +resolved(duration=10)"]);
    assert!(set.alert_mut(&v1).is_some_and(|a| a.is_acknowledged()));
}

#[test]
fn alert_labels_keep_reserved_names_authoritative() {
    let mut m = above(10.0, 0);
    m.labels = labels(&[("team", "ml"), ("severity", "info")]);
    assert_eq!(paths(m.validate()), ["labels.severity"]);
    let got = m.alert_labels(&labels(&[("version", "v3"), ("monitor", "spoof")]));
    let want = labels(&[
        ("model", "credit-risk"),
        ("monitor", "latency-p99"),
        ("severity", "high"),
        ("team", "ml"),
        ("version", "v3"),
    ]);
    assert_eq!(got, want);
}

#[test]
fn signals_are_checked_against_the_model_schema() {
    use crate::model::{FeatureSpec, FeatureType, ModelSpec, Task};
    let spec = ModelSpec {
        name: "credit-risk".into(),
        task: Task::Regression,
        features: vec![FeatureSpec { name: "age".into(), kind: FeatureType::Numeric, nullable: true }],
        classes: vec![],
        positive_class: None,
        description: String::new(),
    };
    let mut m = above(0.2, 0);
    m.signal = Signal::DriftScore { feature: FeatureSelector::One("age".into()), method: "psi".into() };
    assert_eq!(m.check_against(&spec), Ok(()));
    m.signal = Signal::DataQualityRate { feature: FeatureSelector::One("income".into()), check: "missing".into() };
    let problems = m.check_against(&spec).err().unwrap_or_default();
    assert_eq!(problems.len(), 1);
    assert_eq!((problems[0].path.as_str(), problems[0].reason), ("signal.feature", crate::Reason::UnknownFeature));
    m.signal = Signal::DriftScore { feature: FeatureSelector::Any, method: "psi".into() };
    assert_eq!(m.check_against(&spec), Ok(()));
}

#[test]
fn silences_match_labels_until_they_expire() {
    let silence = Silence {
        matchers: vec![
            Matcher { name: "version".into(), op: MatchOp::Equal, value: "v2".into() },
            Matcher { name: "team".into(), op: MatchOp::NotEqual, value: "payments".into() },
        ],
        starts_at_ms: 100,
        ends_at_ms: 200,
        comment: "deploying v2".into(),
    };
    assert_eq!(silence.validate(), Ok(()));
    // (alert labels, now, muted?)
    let cases: &[(LabelPairs, i64, bool)] = &[
        (&[("version", "v2")], 150, true),
        (&[("version", "v2"), ("team", "ml")], 150, true),
        (&[("version", "v2"), ("team", "payments")], 150, false),
        (&[("version", "v1")], 150, false),
        (&[], 150, false),
        (&[("version", "v2")], 99, false),
        (&[("version", "v2")], 100, true),
        (&[("version", "v2")], 199, true),
        (&[("version", "v2")], 200, false),
    ];
    for &(ls, now, want) in cases {
        assert_eq!(is_silenced(std::slice::from_ref(&silence), &labels(ls), now), want, "{ls:?} at {now}");
    }
    let everything = Silence { matchers: vec![], ..silence.clone() };
    assert!(!everything.mutes(&labels(&[("version", "v2")]), 150));
    assert_eq!(paths(everything.validate()), ["matchers"]);
    let backwards = Silence {
        ends_at_ms: 100,
        matchers: vec![Matcher { name: "__name__".into(), op: MatchOp::Equal, value: "x".into() }],
        ..silence
    };
    assert_eq!(paths(backwards.validate()), ["matchers[0].name", "ends_at_ms"]);
}

fn paths(result: Result<(), Vec<Problem>>) -> Vec<String> {
    result.err().unwrap_or_default().into_iter().map(|p| p.path).collect()
}

#[test]
fn monitor_validation_names_each_field() {
    assert_eq!(paths(above(10.0, 0).validate()), Vec::<String>::new());
    assert_eq!(paths(anomaly(3.0, 30, 10, 60_000).validate()), Vec::<String>::new());
    // (how the valid monitor is broken, the paths of the problems expected)
    let cases: Vec<(Mutation, &[&str])> = vec![
        (Box::new(|m| m.id = "a b".into()), &["id"]),
        (Box::new(|m| m.model = String::new()), &["model"]),
        (Box::new(|m| m.version = Some("../x".into())), &["version"]),
        (Box::new(|m| m.signal = Signal::LatencyQuantile { quantile: 1.0 }), &["signal.quantile"]),
        (Box::new(|m| m.signal = Signal::LatencyQuantile { quantile: f64::NAN }), &["signal.quantile"]),
        (
            Box::new(|m| {
                m.signal = Signal::DriftScore { feature: FeatureSelector::One(String::new()), method: "p s i".into() }
            }),
            &["signal.feature", "signal.method"],
        ),
        (
            Box::new(|m| m.signal = Signal::DataQualityRate { feature: FeatureSelector::Any, check: "missing".into() }),
            &[],
        ),
        (
            Box::new(|m| {
                m.signal = Signal::PerformanceMetric { metric: String::new(), estimated: false, reference: None }
            }),
            &["signal.metric"],
        ),
        (
            Box::new(|m| {
                m.signal = Signal::PerformanceMetric { metric: "f1".into(), estimated: true, reference: None }
            }),
            &["signal.reference_from"],
        ),
        (
            Box::new(|m| {
                m.signal = Signal::PerformanceMetric { metric: "f1".into(), estimated: true, reference: Some((5, 5)) }
            }),
            &["signal.reference_from"],
        ),
        (
            Box::new(|m| {
                m.signal = Signal::PerformanceMetric { metric: "f1".into(), estimated: false, reference: Some((1, 5)) }
            }),
            &["signal.reference_from"],
        ),
        (
            Box::new(|m| {
                m.signal = Signal::PerformanceMetric { metric: "f1".into(), estimated: true, reference: Some((1, 5)) }
            }),
            &[],
        ),
        (
            Box::new(|m| m.condition = Condition::Threshold { op: Comparator::Le, value: f64::INFINITY }),
            &["condition.value"],
        ),
        (
            Box::new(|m| {
                m.condition =
                    Condition::Anomaly { k: -1.0, window_points: 1, min_points: 1, direction: Direction::Above }
            }),
            &["condition.k", "condition.window_points", "condition.min_points"],
        ),
        (
            Box::new(|m| {
                m.condition =
                    Condition::Anomaly { k: 3.0, window_points: 10, min_points: 11, direction: Direction::Above }
            }),
            &["condition.min_points"],
        ),
        (Box::new(|m| m.window_ms = 0), &["window_ms"]),
        (Box::new(|m| m.interval_ms = 10), &["interval_ms"]),
        (Box::new(|m| m.for_ms = -1), &["for_ms"]),
        (Box::new(|m| m.for_ms = monitor::MAX_FOR_MS + 1), &["for_ms"]),
        (
            Box::new(|m| m.labels = labels(&[("team", "ml"), ("bad-name", "x"), ("__x", "y")])),
            &["labels.__x", r#"labels["bad-name"]"#],
        ),
        (Box::new(|m| m.runbook_url = Some("javascript:alert(1)".into())), &["runbook_url"]),
        (Box::new(|m| m.runbook_url = Some("https://".into())), &["runbook_url"]),
        (Box::new(|m| m.runbook_url = Some("https://x.example/a b".into())), &["runbook_url"]),
    ];
    for (i, (mutate, want)) in cases.iter().enumerate() {
        let mut m = above(10.0, 0);
        mutate(&mut m);
        assert_eq!(paths(m.validate()), *want, "case {i}");
    }
}

#[test]
fn names_are_stable() {
    assert_eq!(Signal::DriftScore { feature: FeatureSelector::Any, method: "psi".into() }.kind(), "drift_score");
    for s in ["info", "low", "medium", "high", "critical"] {
        assert_eq!(Severity::parse(s).map(Severity::as_str), Some(s));
    }
    for c in [">", ">=", "<", "<="] {
        assert_eq!(Comparator::parse(c).map(Comparator::as_str), Some(c));
    }
    assert!(Severity::Critical > Severity::High && Severity::High > Severity::Info);
    assert_eq!(NoDataPolicy::default().as_str(), "keep");
}

/// A random life: per evaluation a time step (0 allowed) and a sample that is
/// missing, NaN, or a value around the threshold of 10.
fn life() -> impl Strategy<Value = Vec<(i64, Option<f64>)>> {
    prop::collection::vec(
        (0i64..40, prop_oneof![3 => (0.0f64..20.0).prop_map(Some), 1 => Just(None), 1 => Just(Some(f64::NAN))]),
        0..80,
    )
}

fn run(m: &Monitor, steps: &[(i64, Option<f64>)]) -> Vec<(i64, AlertState, Option<AlertEvent>)> {
    let mut alert = Alert::new(&m.id, Labels::new());
    let mut t = 0i64;
    let mut out = Vec::new();
    for &(dt, sample) in steps {
        t += dt;
        let event = alert.evaluate(m, sample, t).unwrap_or_else(|e| panic!("time only moves forward: {e}"));
        out.push((t, alert.state(), event));
    }
    out
}

fn policy() -> impl Strategy<Value = NoDataPolicy> {
    prop_oneof![Just(NoDataPolicy::Keep), Just(NoDataPolicy::Ok), Just(NoDataPolicy::Alerting)]
}

proptest! {
    #[test]
    fn fires_only_after_pending_for_long_enough(for_ms in 0i64..100, no_data in policy(), steps in life()) {
        let mut m = above(10.0, for_ms);
        m.no_data = no_data;
        let mut prev = AlertState::Inactive;
        let mut pending_since: Option<i64> = None;
        for (t, state, event) in run(&m, &steps) {
            match event {
                Some(AlertEvent::Pending { since_ms }) => {
                    prop_assert!(for_ms > 0);
                    prop_assert_eq!(since_ms, t);
                    pending_since = Some(since_ms);
                }
                Some(AlertEvent::Firing { since_ms }) => {
                    prop_assert!(t - since_ms >= for_ms);
                    if for_ms > 0 {
                        // It went through pending, and from the same start.
                        prop_assert_eq!(prev, AlertState::Pending { since_ms });
                        prop_assert_eq!(pending_since, Some(since_ms));
                    } else {
                        prop_assert_eq!(since_ms, t);
                    }
                }
                Some(AlertEvent::Resolved { duration_ms }) => {
                    let AlertState::Firing { fired_at_ms, .. } = prev else {
                        return Err(TestCaseError::fail(format!("resolved from {prev:?}")));
                    };
                    prop_assert_eq!(duration_ms, t - fired_at_ms);
                }
                None => {}
            }
            // States change only with an event, except the silent endings of pending and resolved.
            if event.is_none() && state != prev {
                prop_assert_eq!(state, AlertState::Inactive);
                let quiet_end = matches!(prev, AlertState::Pending { .. } | AlertState::Resolved { .. });
                prop_assert!(quiet_end, "silently left {:?}", prev);
            }
            if let AlertState::Firing { since_ms, fired_at_ms } = state {
                prop_assert!(fired_at_ms - since_ms >= for_ms);
            }
            if matches!(state, AlertState::Resolved { .. }) {
                let after_firing = matches!(prev, AlertState::Firing { .. } | AlertState::Resolved { .. });
                prop_assert!(after_firing, "resolved from {:?}", prev);
            }
            prev = state;
        }
    }

    #[test]
    fn evaluation_is_deterministic(for_ms in 0i64..100, k in 0.5f64..4.0, steps in life()) {
        for m in [above(10.0, for_ms), anomaly(k, 8, 3, for_ms)] {
            prop_assert_eq!(run(&m, &steps), run(&m, &steps));
        }
    }

    #[test]
    fn anomaly_is_silent_until_the_baseline_is_warm(min_points in 2usize..10, steps in life()) {
        let m = anomaly(0.5, 10, min_points, 0);
        let mut finite_seen = 0usize;
        for ((_, state, _), &(_, sample)) in run(&m, &steps).iter().zip(&steps) {
            if finite_seen < min_points {
                prop_assert_eq!(*state, AlertState::Inactive);
            }
            if sample.is_some_and(f64::is_finite) {
                finite_seen += 1;
            }
        }
    }

    #[test]
    fn extreme_samples_are_judged_without_panic(
        k in 0.1f64..5.0,
        values in prop::collection::vec(prop::num::f64::ANY, 0..60),
    ) {
        // Sums of huge values overflow to infinity; comparisons with infinities or NaN
        // must only ever make the condition false, never break the machine.
        let m = anomaly(k, 6, 2, 0);
        let steps: Vec<(i64, Option<f64>)> = values.into_iter().map(|v| (1, Some(v))).collect();
        for (t, state, _) in run(&m, &steps) {
            if let AlertState::Firing { since_ms, fired_at_ms } = state {
                prop_assert!(since_ms <= fired_at_ms && fired_at_ms <= t);
            }
        }
    }

    #[test]
    fn fingerprints_depend_only_on_content(
        id in "[a-z-]{1,12}",
        pairs in prop::collection::vec(("[a-z_]{1,6}", "[ -~]{0,8}"), 0..6),
    ) {
        let forward: Labels = pairs.iter().cloned().collect();
        let backward: Labels = pairs.iter().rev().cloned().collect();
        // Later duplicates win in each map, so only compare when the keys are unique.
        if forward == backward {
            prop_assert_eq!(Fingerprint::of(&id, &forward), Fingerprint::of(&id, &backward));
        }
        prop_assert_eq!(Fingerprint::of(&id, &forward), Fingerprint::of(&id.clone(), &forward.clone()));
    }
}

#[test]
fn a_restored_firing_alert_resolves_without_firing_again() {
    let m = monitor(Condition::Threshold { op: Comparator::Gt, value: 1.0 }, 60_000);
    let series = Labels::from([("version".to_owned(), "v1".to_owned())]);
    let state = AlertState::Firing { since_ms: 1_000, fired_at_ms: 61_000 };
    let mut alerts = MonitorAlerts::new(m.clone());
    alerts.restore(Alert::restore(&m.id, series.clone(), state, 61_000));
    let still = BTreeMap::from([(series.clone(), Some(5.0))]);
    assert_eq!(alerts.evaluate(&still, &[], 70_000).expect("in order"), vec![], "no second firing");
    let ok = BTreeMap::from([(series.clone(), Some(0.0))]);
    let notices = alerts.evaluate(&ok, &[], 80_000).expect("in order");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].event, AlertEvent::Resolved { duration_ms: 19_000 });
    assert_eq!(notices[0].fingerprint, Fingerprint::of(&m.id, &series));
    let mut again = MonitorAlerts::new(m.clone());
    again.restore(Alert::restore(&m.id, series, state, 61_000));
    assert!(again.evaluate(&still, &[], 60_000).is_err(), "time before the stored evaluation is refused");
}
