//! Import of interval history for a new centre, from CSV text the shell has read.
//!
//! One row per queue, channel and 15-minute interval:
//!
//! ```text
//! interval_start,queue,channel,offered
//! 2026-03-02 08:00,cards,voice,41
//! 2026-03-02 08:15,cards,voice,57
//! ```
//!
//! * `interval_start` is the centre's **naive local time**, `YYYY-MM-DD HH:MM` (a `T` in place
//!   of the space is accepted), on a 15-minute boundary. Local time is what the old ACD
//!   exports and what staff plan in; no time zone is applied, so this needs no zone
//!   database. On the autumn daylight-saving change the repeated hour arrives twice: rows
//!   with the same queue, channel and start are added together (counted in
//!   [`ImportedHistory::duplicate_rows`]). The skipped spring hour is left at zero.
//! * `queue` and `channel` are free text (a field may be quoted with `"` to hold a comma).
//! * `offered` is the number of contacts offered, a non-negative number.
//!
//! A header line starting with `interval_start`, blank lines and lines starting with `#`
//! are skipped. An interval with no row counts as zero contacts (centres export only the
//! intervals that had traffic) and is counted in [`QueueSeries::missing_intervals`].
//!
//! Every series starts at Monday 00:00 of the earliest row's day if that day is a Monday,
//! else at the next Monday 00:00, so it can go
//! straight to [`crate::forecast::forecast`]; rows before it (a partial first week) are
//! counted in [`ImportedHistory::skipped_before_start`]. Every series ends at the midnight
//! after the latest row.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{INTERVAL_MINUTES, INTERVALS_PER_DAY, Minute};

const MINUTES_PER_DAY: i64 = 1440;
/// Longest span of history accepted, in days (a wrong year on one row would otherwise ask
/// for an enormous series).
pub const MAX_IMPORT_DAYS: i64 = 3 * 366;

const COLUMNS: [&str; 4] = ["interval_start", "queue", "channel", "offered"];

/// Why a history file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// A field is missing or wrong.
    #[error("line {line}, column {column} ({name}): {message}")]
    Field {
        /// Line, 1-based.
        line: usize,
        /// Column, 1-based.
        column: usize,
        /// Column name.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No data rows.
    #[error("no data rows")]
    Empty,
    /// The rows do not reach from a Monday 00:00 to a later midnight.
    #[error(
        "no whole day from a Monday 00:00 on: the rows run from line {first_line} to line {last_line}"
    )]
    NoMondayStart {
        /// Line of the earliest row.
        first_line: usize,
        /// Line of the latest row.
        last_line: usize,
    },
    /// The rows span too long a time.
    #[error(
        "the rows span {days} days (line {first_line} to line {last_line}); at most {MAX_IMPORT_DAYS}"
    )]
    TooLong {
        /// Days spanned.
        days: i64,
        /// Line of the earliest row.
        first_line: usize,
        /// Line of the latest row.
        last_line: usize,
    },
}

/// The history of one queue and channel.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueSeries {
    /// Queue name.
    pub queue: String,
    /// Channel name.
    pub channel: String,
    /// Offered contacts per interval from [`ImportedHistory::start`].
    pub offered: Vec<f64>,
    /// Intervals with no row (taken as zero).
    pub missing_intervals: usize,
}

/// The parsed history: one series per queue and channel, all aligned.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportedHistory {
    /// Naive local minutes since 1970-01-01 00:00 of the first interval, a Monday 00:00.
    pub start: Minute,
    /// Series sorted by queue, then channel.
    pub series: Vec<QueueSeries>,
    /// Data rows read.
    pub rows: usize,
    /// Rows before [`Self::start`], ignored.
    pub skipped_before_start: usize,
    /// Rows added to an earlier row of the same queue, channel and interval.
    pub duplicate_rows: usize,
}

struct Row {
    line: usize,
    minute: Minute,
    queue: String,
    channel: String,
    offered: f64,
}

/// Parses history CSV text (see the module documentation for the format).
pub fn parse_history_csv(text: &str) -> Result<ImportedHistory, HistoryError> {
    let mut rows = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields = split_fields(raw, line)?;
        if rows.is_empty()
            && fields
                .first()
                .is_some_and(|f| f.trim().eq_ignore_ascii_case(COLUMNS[0]))
        {
            continue;
        }
        if fields.len() != COLUMNS.len() {
            let column = fields.len().min(COLUMNS.len()) + 1;
            let (name, message) = if fields.len() < COLUMNS.len() {
                (COLUMNS[fields.len()], "missing".to_string())
            } else {
                (
                    "extra",
                    format!("{} columns, expected {}", fields.len(), COLUMNS.len()),
                )
            };
            return Err(HistoryError::Field {
                line,
                column,
                name,
                message,
            });
        }
        let field_err = |column: usize, message: String| HistoryError::Field {
            line,
            column: column + 1,
            name: COLUMNS[column],
            message,
        };
        let start = fields[0].trim();
        let minute = parse_local_minute(start).ok_or_else(|| {
            field_err(
                0,
                format!("`{start}` is not a local time `YYYY-MM-DD HH:MM`"),
            )
        })?;
        if minute.rem_euclid(INTERVAL_MINUTES) != 0 {
            return Err(field_err(
                0,
                format!("`{start}` is not on a {INTERVAL_MINUTES}-minute boundary"),
            ));
        }
        let queue = fields[1].trim();
        if queue.is_empty() {
            return Err(field_err(1, "empty".into()));
        }
        let channel = fields[2].trim();
        if channel.is_empty() {
            return Err(field_err(2, "empty".into()));
        }
        let offered_text = fields[3].trim();
        let offered = match offered_text.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => v,
            _ => {
                return Err(field_err(
                    3,
                    format!("`{offered_text}` is not a non-negative number"),
                ));
            }
        };
        rows.push(Row {
            line,
            minute,
            queue: queue.to_string(),
            channel: channel.to_string(),
            offered,
        });
    }
    let (Some(first), Some(last)) = (
        rows.iter().min_by_key(|r| (r.minute, r.line)),
        rows.iter()
            .max_by_key(|r| (r.minute, std::cmp::Reverse(r.line))),
    ) else {
        return Err(HistoryError::Empty);
    };
    let (first_line, last_line) = (first.line, last.line);
    let span_days = (last.minute - first.minute) / MINUTES_PER_DAY;
    if span_days > MAX_IMPORT_DAYS {
        return Err(HistoryError::TooLong {
            days: span_days,
            first_line,
            last_line,
        });
    }
    let first_day = first.minute.div_euclid(MINUTES_PER_DAY);
    // A first row on a Monday starts that Monday whatever its time: exports list only the
    // intervals with traffic, so a quiet night before it was zero, not missing.
    let monday = if weekday(first_day) == 0 {
        first_day
    } else {
        // The next Monday after the first row's day.
        first_day + 7 - weekday(first_day)
    };
    let start = monday * MINUTES_PER_DAY;
    let end = (last.minute.div_euclid(MINUTES_PER_DAY) + 1) * MINUTES_PER_DAY;
    if end <= start {
        return Err(HistoryError::NoMondayStart {
            first_line,
            last_line,
        });
    }
    let len = usize::try_from((end - start) / INTERVAL_MINUTES).unwrap_or(0);
    debug_assert_eq!(len % INTERVALS_PER_DAY, 0);

    let mut series: BTreeMap<(String, String), (Vec<f64>, Vec<bool>)> = BTreeMap::new();
    let (mut skipped, mut duplicates) = (0, 0);
    let count = rows.len();
    for r in rows {
        if r.minute < start {
            skipped += 1;
            continue;
        }
        // In range: start <= minute < end, and on a boundary.
        let Ok(i) = usize::try_from((r.minute - start) / INTERVAL_MINUTES) else {
            continue;
        };
        let (values, seen) = series
            .entry((r.queue, r.channel))
            .or_insert_with(|| (vec![0.0; len], vec![false; len]));
        if let (Some(v), Some(s)) = (values.get_mut(i), seen.get_mut(i)) {
            if *s {
                duplicates += 1;
            }
            *v += r.offered;
            *s = true;
        }
    }
    Ok(ImportedHistory {
        start,
        series: series
            .into_iter()
            .map(|((queue, channel), (offered, seen))| QueueSeries {
                queue,
                channel,
                offered,
                missing_intervals: seen.iter().filter(|s| !**s).count(),
            })
            .collect(),
        rows: count,
        skipped_before_start: skipped,
        duplicate_rows: duplicates,
    })
}

/// Splits a CSV line into fields; `"` quotes a field, `""` inside quotes is one `"`.
fn split_fields(raw: &str, line: usize) -> Result<Vec<String>, HistoryError> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = raw.chars().peekable();
    let mut quoted = false;
    let mut quote_opened = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !quote_opened => {
                field.clear();
                quoted = true;
                quote_opened = true;
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                quote_opened = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        let column = fields.len() + 1;
        return Err(HistoryError::Field {
            line,
            column,
            name: COLUMNS.get(fields.len()).copied().unwrap_or("extra"),
            message: "unterminated quote".into(),
        });
    }
    fields.push(field);
    Ok(fields)
}

/// Weekday of a day counted from 1970-01-01 (a Thursday): 0 = Monday.
fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7)
}

/// Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian date of a day counted from 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats minutes since 1970-01-01 00:00 as naive local `YYYY-MM-DD HH:MM`, the inverse of
/// [`parse_local_minute`].
pub fn format_local_minute(minute: Minute) -> String {
    let (y, mo, d) = civil_from_days(minute.div_euclid(MINUTES_PER_DAY));
    let m = minute.rem_euclid(MINUTES_PER_DAY);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}", m / 60, m % 60)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses `YYYY-MM-DD` to days since 1970-01-01; `None` if malformed or not a real date.
pub fn parse_local_date(s: &str) -> Option<i64> {
    let mut parts = s.split('-');
    let year = digits(parts.next()?, 4)?;
    let month = digits(parts.next()?, 2)?;
    let day = digits(parts.next()?, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&month) {
        return None;
    }
    if !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Parses naive local `YYYY-MM-DD HH:MM` (or `YYYY-MM-DDTHH:MM`) to minutes since
/// 1970-01-01 00:00; `None` if malformed.
pub fn parse_local_minute(s: &str) -> Option<Minute> {
    let (date, time) = s.split_once([' ', 'T'])?;
    let days = parse_local_date(date)?;
    let (h, m) = time.split_once(':')?;
    let hour = digits(h, 2)?;
    let minute = digits(m, 2)?;
    if hour > 23 || minute > 59 {
        return None;
    }
    Some(days * MINUTES_PER_DAY + hour * 60 + minute)
}

/// Day index of `date` (`YYYY-MM-DD`) counted from the day of `start` (minutes since
/// 1970-01-01), for building [`crate::forecast::SpecialDay`]s; `None` if malformed or
/// before `start`.
pub fn day_index(start: Minute, date: &str) -> Option<usize> {
    let days = parse_local_date(date)?;
    usize::try_from(days - start.div_euclid(MINUTES_PER_DAY)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_weekdays() {
        assert_eq!(parse_local_date("1970-01-01"), Some(0));
        assert_eq!(parse_local_date("2000-03-01"), Some(11_017));
        // 2026-03-02 is a Monday.
        let d = parse_local_date("2026-03-02").unwrap();
        assert_eq!(weekday(d), 0);
        assert_eq!(parse_local_date("2026-02-29"), None);
        assert_eq!(parse_local_date("2024-02-29").map(weekday), Some(3));
        assert_eq!(parse_local_minute("1970-01-02 01:30"), Some(1440 + 90));
        assert_eq!(parse_local_minute("1970-01-02T01:30"), Some(1440 + 90));
        assert_eq!(parse_local_minute("1970-01-02 24:00"), None);
        assert_eq!(parse_local_minute("1970-1-02 01:00"), None);
        for text in [
            "1970-01-01 00:00",
            "2024-02-29 23:45",
            "1969-12-31 12:15",
            "2400-03-01 08:00",
        ] {
            assert_eq!(
                parse_local_minute(text).map(format_local_minute).as_deref(),
                Some(text)
            );
        }
    }

    #[test]
    fn quoted_fields() {
        let f = split_fields(r#"2026-03-02 00:00,"cards, lost","say ""hi""",3"#, 1).unwrap();
        assert_eq!(f, ["2026-03-02 00:00", "cards, lost", "say \"hi\"", "3"]);
        assert!(split_fields(r#"a,"b,c"#, 4).is_err());
    }
}
