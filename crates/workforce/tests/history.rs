//! CSV history import.

mod support;

use hotline_workforce::INTERVALS_PER_DAY;
use hotline_workforce::forecast::{ForecastConfig, forecast};
use hotline_workforce::history::{
    HistoryError, day_index, format_local_minute, parse_history_csv, parse_local_date,
    parse_local_minute,
};

#[test]
fn rows_become_aligned_series_from_the_first_monday() {
    // 2026-03-01 is a Sunday: its row is before the first Monday and skipped.
    let text = "\
interval_start,queue,channel,offered
2026-03-01 23:45,cards,voice,4
2026-03-02 00:00,cards,voice,3
2026-03-02 00:15,cards,voice,5
2026-03-02 00:15,cards,voice,2

# the bank's other line
2026-03-02T08:00,\"loans, mortgages\",chat,1.5
2026-03-03 23:45,cards,voice,7
";
    let h = parse_history_csv(text).unwrap();
    assert_eq!(h.start, parse_local_minute("2026-03-02 00:00").unwrap());
    assert_eq!(h.rows, 6);
    assert_eq!(h.skipped_before_start, 1);
    assert_eq!(h.duplicate_rows, 1);
    assert_eq!(h.series.len(), 2);
    let cards = &h.series[0];
    assert_eq!(
        (cards.queue.as_str(), cards.channel.as_str()),
        ("cards", "voice")
    );
    assert_eq!(cards.offered.len(), 2 * INTERVALS_PER_DAY);
    assert_eq!(&cards.offered[..3], &[3.0, 7.0, 0.0]);
    assert_eq!(cards.offered[2 * INTERVALS_PER_DAY - 1], 7.0);
    assert_eq!(cards.missing_intervals, 2 * INTERVALS_PER_DAY - 3);
    // An export of the intervals with traffic starts on a Monday morning: that Monday.
    let morning = parse_history_csv(
        "interval_start,queue,channel,offered\n2026-03-02 08:00,cards,voice,4\n2026-03-03 09:00,cards,voice,2\n",
    )
    .unwrap();
    assert_eq!(
        morning.start,
        parse_local_minute("2026-03-02 00:00").unwrap()
    );
    assert_eq!(morning.skipped_before_start, 0);
    assert_eq!(morning.series[0].offered[32], 4.0);
    let loans = &h.series[1];
    assert_eq!(loans.queue, "loans, mortgages");
    assert_eq!(loans.offered[32], 1.5);
    assert_eq!(loans.offered.len(), cards.offered.len());
    assert_eq!(day_index(h.start, "2026-03-03"), Some(1));
    assert_eq!(day_index(h.start, "2026-02-28"), None);
}

#[test]
fn imported_history_feeds_the_forecast() {
    let s = support::synthetic::synthetic(3, 2_000.0, 4);
    let monday = parse_local_date("2026-03-02").unwrap() * 1440;
    let mut text = String::from("interval_start,queue,channel,offered\n");
    for (i, v) in s.actual.iter().enumerate() {
        let m = monday + 15 * i as i64;
        text.push_str(&format!("{},cards,voice,{v}\n", format_local_minute(m)));
    }
    let h = parse_history_csv(&text).unwrap();
    assert_eq!(h.start, monday);
    assert_eq!(h.series[0].offered, s.actual);
    let f = forecast(&h.series[0].offered, &[], 7, &ForecastConfig::default()).unwrap();
    assert_eq!(f.backtest.map(|b| b.weeks), Some(1));
}

fn field_error(text: &str) -> (usize, usize, &'static str) {
    match parse_history_csv(text) {
        Err(HistoryError::Field {
            line, column, name, ..
        }) => (line, column, name),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_lines_are_named_by_line_and_column() {
    let ok = "interval_start,queue,channel,offered\n2026-03-02 00:00,cards,voice,3\n";
    assert_eq!(
        field_error(&format!("{ok}2026-03-02 00:15,cards,voice,abc\n")),
        (3, 4, "offered")
    );
    assert_eq!(
        field_error(&format!("{ok}2026-03-02 00:15,cards,voice,-2\n")),
        (3, 4, "offered")
    );
    assert_eq!(
        field_error(&format!("{ok}2026-03-02 00:15,cards,voice,NaN\n")),
        (3, 4, "offered")
    );
    assert_eq!(
        field_error(&format!("{ok}2026-02-30 00:15,cards,voice,1\n")),
        (3, 1, "interval_start")
    );
    assert_eq!(
        field_error(&format!("{ok}2026-03-02 00:10,cards,voice,1\n")),
        (3, 1, "interval_start")
    );
    assert_eq!(
        field_error(&format!("{ok}\n2026-03-02 00:15,,voice,1\n")),
        (4, 2, "queue")
    );
    assert_eq!(
        field_error(&format!("{ok}2026-03-02 00:15,cards,voice\n")),
        (3, 4, "offered")
    );
    assert_eq!(
        field_error(&format!("{ok}2026-03-02 00:15,cards,voice,1,2\n")),
        (3, 5, "extra")
    );
    assert_eq!(
        field_error(&format!("{ok}2026-03-02 00:15,\"cards,voice,1\n")),
        (3, 2, "queue")
    );
    let message = parse_history_csv(&format!("{ok}2026-03-02 00:15,cards,voice,abc\n"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "line 3, column 4 (offered): `abc` is not a non-negative number"
    );
}

#[test]
fn empty_short_and_overlong_files_are_refused() {
    assert_eq!(parse_history_csv(""), Err(HistoryError::Empty));
    assert_eq!(
        parse_history_csv("interval_start,queue,channel,offered\n"),
        Err(HistoryError::Empty)
    );
    // Tuesday to Friday of one week: no Monday to start from.
    assert_eq!(
        parse_history_csv("2026-03-03 10:00,a,voice,1\n2026-03-06 10:00,a,voice,1\n"),
        Err(HistoryError::NoMondayStart {
            first_line: 1,
            last_line: 2
        })
    );
    assert!(matches!(
        parse_history_csv("2026-03-02 10:00,a,voice,1\n2206-03-06 10:00,a,voice,1\n"),
        Err(HistoryError::TooLong {
            first_line: 1,
            last_line: 2,
            ..
        })
    ));
}
