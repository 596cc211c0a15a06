//! Calling hours in the called person's time zone.

use chrono::{Datelike, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::Time;

/// Country calling codes and every IANA zone the country spans. A number whose country is
/// here but whose record gives no zone may be called only when the calling hours hold in
/// every zone listed (the strictest reading).
const COUNTRY_ZONES: &[(&str, &[&str])] = &[
    (
        "1",
        &[
            "America/St_Johns",
            "America/Halifax",
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Phoenix",
            "America/Los_Angeles",
            "America/Anchorage",
            "Pacific/Honolulu",
        ],
    ),
    (
        "7",
        &[
            "Europe/Kaliningrad",
            "Europe/Moscow",
            "Asia/Yekaterinburg",
            "Asia/Novosibirsk",
            "Asia/Vladivostok",
            "Asia/Kamchatka",
        ],
    ),
    ("27", &["Africa/Johannesburg"]),
    ("31", &["Europe/Amsterdam"]),
    ("32", &["Europe/Brussels"]),
    ("33", &["Europe/Paris"]),
    ("34", &["Europe/Madrid", "Atlantic/Canary"]),
    ("39", &["Europe/Rome"]),
    ("41", &["Europe/Zurich"]),
    ("43", &["Europe/Vienna"]),
    ("44", &["Europe/London"]),
    ("45", &["Europe/Copenhagen"]),
    ("46", &["Europe/Stockholm"]),
    ("47", &["Europe/Oslo"]),
    ("48", &["Europe/Warsaw"]),
    ("49", &["Europe/Berlin"]),
    (
        "52",
        &["America/Mexico_City", "America/Cancun", "America/Tijuana"],
    ),
    (
        "55",
        &[
            "America/Noronha",
            "America/Sao_Paulo",
            "America/Manaus",
            "America/Rio_Branco",
        ],
    ),
    (
        "61",
        &[
            "Australia/Sydney",
            "Australia/Adelaide",
            "Australia/Brisbane",
            "Australia/Darwin",
            "Australia/Perth",
        ],
    ),
    ("64", &["Pacific/Auckland"]),
    ("81", &["Asia/Tokyo"]),
    ("86", &["Asia/Shanghai"]),
    ("91", &["Asia/Kolkata"]),
    ("351", &["Europe/Lisbon", "Atlantic/Azores"]),
    ("352", &["Europe/Luxembourg"]),
    ("353", &["Europe/Dublin"]),
    ("358", &["Europe/Helsinki"]),
];

/// The zones a number's country spans, by longest country-code prefix; `None` when the
/// country is not in the built-in table.
pub fn zones_of_number(phone: &str) -> Option<Vec<Tz>> {
    let digits = phone.strip_prefix('+')?;
    COUNTRY_ZONES
        .iter()
        .filter(|(cc, _)| digits.starts_with(cc))
        .max_by_key(|(cc, _)| cc.len())
        .map(|(_, zones)| zones.iter().filter_map(|z| z.parse().ok()).collect())
}

/// A local time window within one day, `[start, end)` in minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Window {
    /// First minute allowed.
    pub start: u16,
    /// First minute no longer allowed (at most 1440).
    pub end: u16,
}

impl TryFrom<String> for Window {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("`{s}`: expected a window like \"08:00-21:00\"");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let minute = |t: &str| -> Option<u16> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let (start, end) = (minute(a).ok_or_else(bad)?, minute(b).ok_or_else(bad)?);
        if start >= end {
            return Err(format!("`{s}`: the window must end after it starts"));
        }
        Ok(Window { start, end })
    }
}

impl From<Window> for String {
    fn from(w: Window) -> String {
        format!(
            "{:02}:{:02}-{:02}:{:02}",
            w.start / 60,
            w.start % 60,
            w.end / 60,
            w.end % 60
        )
    }
}

fn window(start_h: u16, end_h: u16) -> Option<Window> {
    Some(Window {
        start: start_h * 60,
        end: end_h * 60,
    })
}

/// Calling hours per weekday in the called person's local time; a day left out is closed.
/// Default: Monday to Saturday 08:00-21:00 (the US TSR's 8 a.m. to 9 p.m.), Sunday closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallingHours {
    /// Monday.
    #[serde(default)]
    pub mon: Option<Window>,
    /// Tuesday.
    #[serde(default)]
    pub tue: Option<Window>,
    /// Wednesday.
    #[serde(default)]
    pub wed: Option<Window>,
    /// Thursday.
    #[serde(default)]
    pub thu: Option<Window>,
    /// Friday.
    #[serde(default)]
    pub fri: Option<Window>,
    /// Saturday.
    #[serde(default)]
    pub sat: Option<Window>,
    /// Sunday.
    #[serde(default)]
    pub sun: Option<Window>,
}

impl Default for CallingHours {
    fn default() -> Self {
        CallingHours {
            mon: window(8, 21),
            tue: window(8, 21),
            wed: window(8, 21),
            thu: window(8, 21),
            fri: window(8, 21),
            sat: window(8, 21),
            sun: None,
        }
    }
}

impl CallingHours {
    /// Every day 00:00-24:00 (for tests and simulations that do not look at hours).
    pub fn always() -> Self {
        let w = window(0, 24);
        CallingHours {
            mon: w,
            tue: w,
            wed: w,
            thu: w,
            fri: w,
            sat: w,
            sun: w,
        }
    }

    fn of_day(&self, weekday_from_monday: u32) -> Option<Window> {
        match weekday_from_monday {
            0 => self.mon,
            1 => self.tue,
            2 => self.wed,
            3 => self.thu,
            4 => self.fri,
            5 => self.sat,
            _ => self.sun,
        }
    }

    /// Whether `at` is inside the hours in `tz`.
    pub fn holds_in(&self, tz: Tz, at: Time) -> bool {
        let Some(utc) = Utc.timestamp_millis_opt(at.0).single() else {
            return false;
        };
        let local = utc.with_timezone(&tz);
        let minute = (local.hour() * 60 + local.minute()) as u16;
        self.of_day(local.weekday().num_days_from_monday())
            .is_some_and(|w| minute >= w.start && minute < w.end)
    }

    /// Whether `at` is inside the hours in every zone given (none given: never).
    pub fn holds_in_all(&self, zones: &[Tz], at: Time) -> bool {
        !zones.is_empty() && zones.iter().all(|z| self.holds_in(*z, at))
    }

    /// The first minute at or after `from` when the hours hold in every zone, looking at
    /// most eight days ahead.
    pub fn next_open(&self, zones: &[Tz], from: Time) -> Option<Time> {
        const MIN: i64 = 60_000;
        let start = from.0 - from.0.rem_euclid(MIN);
        if self.holds_in_all(zones, from) {
            return Some(from);
        }
        let mut t = start;
        let limit = start.saturating_add(8 * 24 * 60 * MIN);
        while t < limit {
            t = t.saturating_add(5 * MIN);
            if self.holds_in_all(zones, Time(t)) {
                // Step back to the first open minute of this run.
                let mut first = t;
                while first - MIN > start && self.holds_in_all(zones, Time(first - MIN)) {
                    first -= MIN;
                }
                return Some(Time(first));
            }
        }
        None
    }
}

/// The local calendar day (days since 1970-01-01 in `tz`) of `at`.
pub fn local_day(tz: Tz, at: Time) -> i64 {
    match Utc.timestamp_millis_opt(at.0).single() {
        Some(utc) => {
            let d = utc.with_timezone(&tz).date_naive();
            i64::from(d.num_days_from_ce()) - 719_163
        }
        None => at.0.div_euclid(86_400_000),
    }
}

/// Milliseconds from `at` to the next local midnight in `tz` (at least one minute).
pub fn until_next_local_day(tz: Tz, at: Time) -> i64 {
    let day = local_day(tz, at);
    // Local days are 23 to 25 hours long: step by hours, then minutes.
    let mut t = at.0;
    for _ in 0..26 {
        if local_day(tz, Time(t.saturating_add(3_600_000))) != day {
            break;
        }
        t = t.saturating_add(3_600_000);
    }
    for _ in 0..61 {
        if local_day(tz, Time(t)) != day {
            break;
        }
        t = t.saturating_add(60_000);
    }
    t.saturating_sub(at.0).max(60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-01 is a Tuesday.
    const TUE_0000_UTC: i64 = 1_764_547_200_000;
    const H: i64 = 3_600_000;

    #[test]
    fn uk_number_follows_london_hours() {
        let zones = zones_of_number("+447700900123").unwrap();
        let hours = CallingHours::default();
        assert!(!hours.holds_in_all(&zones, Time(TUE_0000_UTC + 7 * H + 59 * 60_000)));
        assert!(hours.holds_in_all(&zones, Time(TUE_0000_UTC + 8 * H)));
        assert!(!hours.holds_in_all(&zones, Time(TUE_0000_UTC + 21 * H)));
    }

    #[test]
    fn us_number_without_zone_needs_every_us_zone_open() {
        let zones = zones_of_number("+12025550100").unwrap();
        let hours = CallingHours::default();
        // 14:00 UTC = 09:00 New York but 04:00 Honolulu: closed.
        assert!(!hours.holds_in_all(&zones, Time(TUE_0000_UTC + 14 * H)));
        // 19:00 UTC = 09:00 Honolulu, 14:00 New York, 15:30 St John's: open.
        assert!(hours.holds_in_all(&zones, Time(TUE_0000_UTC + 19 * H)));
        // 23:30 UTC = 20:00 St John's, 18:30 New York, 13:30 Honolulu: open; 00:00 is not.
        assert!(hours.holds_in_all(&zones, Time(TUE_0000_UTC + 23 * H + 29 * 60_000)));
        assert!(!hours.holds_in_all(&zones, Time(TUE_0000_UTC + 24 * H + 31 * 60_000)));
        let open = hours
            .next_open(&zones, Time(TUE_0000_UTC + 10 * H))
            .unwrap();
        // Honolulu opens at 08:00 HST = 18:00 UTC.
        assert_eq!(open, Time(TUE_0000_UTC + 18 * H));
    }

    #[test]
    fn unknown_country_is_none_and_window_parses() {
        assert!(zones_of_number("+999123456789").is_none());
        assert!(Window::try_from("09:30-17:00".to_string()).is_ok());
        assert!(Window::try_from("17:00-09:30".to_string()).is_err());
        assert!(Window::try_from("25:00-26:00".to_string()).is_err());
    }

    #[test]
    fn next_local_day_from_london() {
        let tz: Tz = "Europe/London".parse().unwrap();
        let at = Time(TUE_0000_UTC + 10 * H);
        assert_eq!(until_next_local_day(tz, at), 14 * H);
    }
}
