//! Cron jobs of app.json (Dokku's `cron: [{"command", "schedule"}]`): the five-field
//! schedule as Vixie cron reads it, in UTC, its next time, and each job's stable ID.

use std::fmt;

use sha2::{Digest, Sha256};

use super::Invalid;

/// How far `next_after` looks ahead: a schedule with no time in 50 years has none.
const HORIZON_SECS: i64 = 50 * 366 * 86_400;
/// Times `next_after` accepts: years 1 to 9999.
const FIRST_TIME: i64 = -62_135_596_800;
const LAST_TIME: i64 = 253_402_300_799;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A parsed schedule: the set of each field, and Vixie cron's day rule (a day matches its
/// day-of-month OR its day-of-week when both fields are restricted, AND when either
/// starts with `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_star: bool,
    weekdays_star: bool,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field::new("minute", 0, 59, &[]),
    Field::new("hour", 0, 23, &[]),
    Field::new("day-of-month", 1, 31, &[]),
    Field::new("month", 1, 12, &MONTHS),
    Field::new("day-of-week", 0, 7, &WEEKDAYS),
];

impl Field {
    const fn new(name: &'static str, min: u32, max: u32, names: &'static [&'static str]) -> Field {
        Field {
            name,
            min,
            max,
            names,
        }
    }
}

impl Schedule {
    /// `*/5 * * * *`, `0 9 * * mon-fri`, `@daily`... Refuses what cannot run here: seconds
    /// fields, `@every`, `@reboot`, and dates that never come (`0 0 30 2 *`).
    pub fn parse(text: &str) -> Result<Schedule, Invalid> {
        let trimmed = text.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            "@reboot" => {
                return Err(Invalid::new(
                    "@reboot is not supported: jobs run on a schedule, not when the server starts (use the release phase or scripts.postdeploy)",
                ));
            }
            macro_ if macro_.starts_with("@every") => {
                return Err(Invalid::new(
                    "@every is not supported: use the five fields, e.g. */5 * * * * for every five minutes",
                ));
            }
            macro_ if macro_.starts_with('@') => {
                return Err(Invalid::new(
                    "unknown macro: use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly",
                ));
            }
            _ => trimmed,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != 5 {
            let hint = if parts.len() == 6 {
                "; seconds are not supported, jobs run at most once a minute"
            } else {
                ""
            };
            return Err(Invalid::new(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}{hint}",
                parts.len()
            )));
        }
        let mut sets = [0u64; 5];
        for (index, (part, field)) in parts.iter().zip(FIELDS.iter()).enumerate() {
            sets[index] = parse_field(part, field)?;
        }
        // 7 is Sunday, as 0 is.
        if sets[4] & (1 << 7) != 0 {
            sets[4] = (sets[4] | 1) & !(1 << 7);
        }
        let schedule = Schedule {
            text: trimmed.to_owned(),
            minutes: sets[0],
            hours: sets[1],
            days: sets[2],
            months: sets[3],
            weekdays: sets[4],
            days_star: parts[2].starts_with('*'),
            weekdays_star: parts[4].starts_with('*'),
        };
        // 2000-01-01: any date that ever comes, comes within the horizon from there.
        if schedule.next_after(946_684_800).is_none() {
            return Err(Invalid::new(
                "this date never comes (no such day in the months given)",
            ));
        }
        Ok(schedule)
    }

    /// The first time strictly after `after` (unix seconds, UTC) that the schedule runs,
    /// at a whole minute; None if there is none within 50 years.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        if !(FIRST_TIME..=LAST_TIME).contains(&after) {
            return None;
        }
        let limit = after.saturating_add(HORIZON_SECS).min(LAST_TIME);
        let mut t = (after.div_euclid(60) + 1) * 60;
        while t <= limit {
            let day = t.div_euclid(86_400);
            let (year, month, date) = civil_from_days(day);
            if self.months & (1 << month) == 0 {
                let (y, m) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                t = days_from_civil(y, m, 1) * 86_400;
                continue;
            }
            if !self.day_matches(date, weekday(day)) {
                t = (day + 1) * 86_400;
                continue;
            }
            let seconds = t.rem_euclid(86_400);
            let hour = (seconds / 3600) as u32;
            let Some(next_hour) = next_bit(self.hours, hour) else {
                t = (day + 1) * 86_400;
                continue;
            };
            if next_hour != hour {
                t = day * 86_400 + i64::from(next_hour) * 3600;
                continue;
            }
            let minute = ((seconds % 3600) / 60) as u32;
            match next_bit(self.minutes, minute) {
                Some(m) => return Some(day * 86_400 + i64::from(hour) * 3600 + i64::from(m) * 60),
                None => t = day * 86_400 + i64::from(hour + 1) * 3600,
            }
        }
        None
    }

    /// Whether the schedule runs at `t` (a whole minute, unix seconds).
    pub fn matches(&self, t: i64) -> bool {
        if t.rem_euclid(60) != 0 || !(FIRST_TIME..=LAST_TIME).contains(&t) {
            return false;
        }
        let day = t.div_euclid(86_400);
        let (_, month, date) = civil_from_days(day);
        let seconds = t.rem_euclid(86_400);
        self.months & (1 << month) != 0
            && self.day_matches(date, weekday(day))
            && self.hours & (1 << (seconds / 3600)) != 0
            && self.minutes & (1 << ((seconds % 3600) / 60)) != 0
    }

    fn day_matches(&self, date: u32, weekday: u32) -> bool {
        let by_date = self.days & (1 << date) != 0;
        let by_weekday = self.weekdays & (1 << weekday) != 0;
        if self.days_star || self.weekdays_star {
            by_date && by_weekday
        } else {
            by_date || by_weekday
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One field: a comma list of `*`, `N`, `A-B`, each with an optional `/STEP`.
fn parse_field(text: &str, field: &Field) -> Result<u64, Invalid> {
    let mut set = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| {
                    Invalid::new(format!("{}: step \"{step}\" is not a number", field.name))
                })?;
                if step == 0 || step > field.max {
                    return Err(Invalid::new(format!(
                        "{}: step must be 1-{}",
                        field.name, field.max
                    )));
                }
                (range, step)
            }
            None => (item, 1),
        };
        let (first, last) = if range == "*" {
            (field.min, field.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a, field)?, value(b, field)?);
            if a > b {
                return Err(Invalid::new(format!(
                    "{}: range {range} goes backwards",
                    field.name
                )));
            }
            (a, b)
        } else {
            let a = value(range, field)?;
            // `N/STEP` runs from N to the end of the field, as Vixie cron reads it.
            (a, if step > 1 { field.max } else { a })
        };
        let mut v = first;
        while v <= last {
            set |= 1 << v;
            v += step;
        }
    }
    Ok(set)
}

fn value(text: &str, field: &Field) -> Result<u32, Invalid> {
    let lower = text.to_ascii_lowercase();
    if let Some(index) = field.names.iter().position(|n| *n == lower) {
        return Ok(index as u32 + field.min);
    }
    let out_of_range = || {
        let names = match field.name {
            "month" => " or jan-dec",
            "day-of-week" => " or sun-sat (0 and 7 are Sunday)",
            _ => "",
        };
        Invalid::new(format!(
            "{} must be {}-{}{names}",
            field.name, field.min, field.max
        ))
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(out_of_range());
    }
    match text.parse::<u32>() {
        Ok(v) if (field.min..=field.max).contains(&v) => Ok(v),
        _ => Err(out_of_range()),
    }
}

/// The lowest set bit of `set` at `from` or above, below 64.
fn next_bit(set: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let higher = set & (u64::MAX << from);
    (higher != 0).then(|| higher.trailing_zeros())
}

/// 0 is Sunday; day 0 (1970-01-01) was a Thursday.
fn weekday(day: i64) -> u32 {
    (day + 4).rem_euclid(7) as u32
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One job of app.json's `cron`: what it runs, when, and its ID (`cron:run ID`, the
/// `cron[ID]` log lines). The ID is a digest of the command and the schedule, so it stays
/// the same across deploys while the job does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronJob {
    pub id: String,
    pub command: String,
    pub schedule: Schedule,
    /// In maintenance (Dokku's `"maintenance": true`): listed, never run.
    pub suspended: bool,
}

impl CronJob {
    /// The job at `index` of app.json's `cron` list; errors name it
    /// (`app.json cron[2]: schedule "61 * * * *": minute must be 0-59`).
    pub fn new(index: usize, command: &str, schedule: &str) -> Result<CronJob, Invalid> {
        let command = command.trim();
        if command.is_empty() {
            return Err(Invalid::new(format!(
                "app.json cron[{index}]: command is empty; give the command to run, e.g. \"python manage.py clearsessions\""
            )));
        }
        let parsed = Schedule::parse(schedule).map_err(|e| {
            Invalid::new(format!(
                "app.json cron[{index}]: schedule \"{schedule}\": {e}"
            ))
        })?;
        Ok(CronJob {
            id: job_id(command, parsed.as_str()),
            command: command.to_owned(),
            schedule: parsed,
            suspended: false,
        })
    }
}

/// Ten hex digits of SHA-256 over the schedule and the command.
fn job_id(command: &str, schedule: &str) -> String {
    let digest = Sha256::digest(format!("{schedule}\n{command}").as_bytes());
    hex::encode(&digest[..5])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2026-12-01T14:23:00Z, a Tuesday.
    const TUESDAY: i64 = 1_796_134_980;

    fn at(s: &str) -> i64 {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp()
    }

    fn next(schedule: &str, after: &str) -> String {
        let t = Schedule::parse(schedule)
            .unwrap()
            .next_after(at(after))
            .unwrap();
        crate::domain::Timestamp(t).rfc3339()
    }

    #[test]
    fn the_calendar_helpers_agree_with_the_time_crate() {
        assert_eq!(at("2026-12-01T14:23:00Z"), TUESDAY);
        assert_eq!(weekday(TUESDAY.div_euclid(86_400)), 2);
        for day in [-800_000, -1, 0, 59, 11_016, 20_000, 2_900_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            let date = time::OffsetDateTime::from_unix_timestamp(day * 86_400).unwrap();
            assert_eq!(
                (y, m, d),
                (
                    i64::from(date.year()),
                    u8::from(date.month()) as u32,
                    u32::from(date.day())
                )
            );
        }
    }

    #[test]
    fn next_times_follow_each_field() {
        assert_eq!(
            next("*/5 * * * *", "2026-12-01T14:23:00Z"),
            "2026-12-01T14:25:00Z"
        );
        assert_eq!(
            next("* * * * *", "2026-12-01T14:23:00Z"),
            "2026-12-01T14:24:00Z"
        );
        assert_eq!(
            next("* * * * *", "2026-12-01T14:23:59Z"),
            "2026-12-01T14:24:00Z"
        );
        assert_eq!(
            next("0 9 * * mon-fri", "2026-12-04T10:00:00Z"),
            "2026-12-07T09:00:00Z"
        );
        assert_eq!(
            next("30 2 1 jan,jul *", "2026-12-01T14:23:00Z"),
            "2027-01-01T02:30:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-12-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(
            next("10-20/5 3 * * *", "2026-12-01T03:15:00Z"),
            "2026-12-01T03:20:00Z"
        );
        assert_eq!(
            next("5/20 * * * *", "2026-12-01T14:26:00Z"),
            "2026-12-01T14:45:00Z"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-12-01T00:00:00Z"),
            "2026-12-06T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * * SUN", "2026-12-01T00:00:00Z"),
            "2026-12-06T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * DEC *", "2026-12-31T00:00:00Z"),
            "2027-12-01T00:00:00Z"
        );
    }

    #[test]
    fn restricted_day_of_month_and_week_are_either_as_in_vixie_cron() {
        // The 15th, or any Friday: Friday 2026-12-04 comes first.
        assert_eq!(
            next("0 0 15 * fri", "2026-12-01T14:23:00Z"),
            "2026-12-04T00:00:00Z"
        );
        // A field starting with * makes it both: odd days that are Fridays.
        assert_eq!(
            next("0 0 */2 * fri", "2026-12-01T14:23:00Z"),
            "2026-12-11T00:00:00Z"
        );
    }

    #[test]
    fn macros_are_their_five_fields() {
        for (name, fields) in [
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
            ("@monthly", "0 0 1 * *"),
            ("@weekly", "0 0 * * 0"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@hourly", "0 * * * *"),
        ] {
            let (a, b) = (
                Schedule::parse(name).unwrap(),
                Schedule::parse(fields).unwrap(),
            );
            assert_eq!(a.next_after(TUESDAY), b.next_after(TUESDAY), "{name}");
            assert_eq!(a.to_string(), name);
        }
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let cases = [
            ("61 * * * *", "minute must be 0-59"),
            ("* 24 * * *", "hour must be 0-23"),
            ("* * 0 * *", "day-of-month must be 1-31"),
            ("* * * 13 *", "month must be 1-12 or jan-dec"),
            ("* * * * 8", "day-of-week must be 0-7 or sun-sat"),
            ("* * * *", "expected 5 fields"),
            ("0 * * * * *", "seconds are not supported"),
            ("*/0 * * * *", "step must be 1-59"),
            ("30-10 * * * *", "goes backwards"),
            ("@reboot", "@reboot is not supported"),
            ("@every 30s", "@every is not supported"),
            ("@often", "unknown macro"),
            ("0 0 30 2 *", "never comes"),
            ("a * * * *", "minute must be 0-59"),
            ("-1 * * * *", "minute must be 0-59"),
        ];
        for (schedule, expected) in cases {
            let e = Schedule::parse(schedule).unwrap_err().to_string();
            assert!(e.contains(expected), "{schedule}: {e}");
        }
    }

    #[test]
    fn jobs_name_their_index_and_keep_their_id() {
        let e = CronJob::new(2, "echo hi", "61 * * * *").unwrap_err();
        assert_eq!(
            e.to_string(),
            "app.json cron[2]: schedule \"61 * * * *\": minute must be 0-59"
        );
        assert!(
            CronJob::new(0, "  ", "@daily")
                .unwrap_err()
                .to_string()
                .contains("cron[0]: command is empty")
        );
        let a = CronJob::new(0, "echo hi", "@daily").unwrap();
        let b = CronJob::new(5, " echo hi ", " @daily").unwrap();
        assert_eq!(a.id, b.id);
        assert!(
            a.id.len() == 10 && a.id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}",
            a.id
        );
        assert_ne!(a.id, CronJob::new(0, "echo hi", "@hourly").unwrap().id);
    }

    fn field(min: u32, max: u32) -> impl Strategy<Value = String> {
        let item = prop_oneof![
            Just("*".to_owned()),
            (1..=max.max(1)).prop_map(|s| format!("*/{s}")),
            (min..=max).prop_map(|v| v.to_string()),
            (min..=max, min..=max, 1..=max.max(1)).prop_map(|(a, b, s)| {
                let (a, b) = if a <= b { (a, b) } else { (b, a) };
                format!("{a}-{b}/{s}")
            }),
        ];
        proptest::collection::vec(item, 1..4).prop_map(|items| items.join(","))
    }

    fn schedule() -> impl Strategy<Value = String> {
        (
            field(0, 59),
            field(0, 23),
            field(1, 31),
            field(1, 12),
            field(0, 7),
        )
            .prop_map(|(a, b, c, d, e)| format!("{a} {b} {c} {d} {e}"))
    }

    /// The first matching minute after `after`, found by looking at every day and, in the
    /// days that match, every minute.
    fn brute_next(s: &Schedule, after: i64, until: i64) -> Option<i64> {
        let mut t = (after.div_euclid(60) + 1) * 60;
        while t <= until {
            let day = t.div_euclid(86_400);
            let (_, month, date) = civil_from_days(day);
            if s.months & (1 << month) == 0 || !s.day_matches(date, weekday(day)) {
                t = (day + 1) * 86_400;
                continue;
            }
            if s.matches(t) {
                return Some(t);
            }
            t += 60;
        }
        None
    }

    proptest! {
        #[test]
        fn parsing_any_text_never_panics(text in "\\PC{0,40}") {
            let _ = Schedule::parse(&text);
        }

        #[test]
        fn parsing_cron_like_text_never_panics(text in "[0-9*/,a-z@ -]{0,30}") {
            if let Ok(s) = Schedule::parse(&text) {
                let _ = s.next_after(TUESDAY);
            }
        }

        #[test]
        fn next_after_is_later_matches_and_is_the_first(
            text in schedule(),
            after in -2_000_000_000i64..4_000_000_000,
        ) {
            let Ok(s) = Schedule::parse(&text) else { return Ok(()) };
            let next = s.next_after(after);
            prop_assert!(next.is_some(), "{text} has no next time after {after}");
            let next = next.unwrap_or_default();
            prop_assert!(next > after);
            prop_assert!(s.matches(next), "{text}: {next} does not match");
            prop_assert_eq!(brute_next(&s, after, next), Some(next), "{}", text);
        }
    }
}
