//! Scale to zero: an app's autosleep setting (idle time, process types kept awake), the
//! idle time a user types (`30m`, `2h`, `90s`), and the sleep states users see.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use super::{Invalid, ProcessType};

/// The idle time when `ps:autosleep on` names none (Heroku's eco dynos sleep after 30 min).
pub const DEFAULT_IDLE: Duration = Duration::from_secs(30 * 60);
/// Shorter idle times are for tests and demos; a second is the watcher's resolution.
const MIN_IDLE_SECS: u64 = 1;
/// A week: past that, the app is better scaled down by hand.
const MAX_IDLE_SECS: u64 = 7 * 24 * 3600;

/// An app that sleeps: after `idle` without a request its web processes stop, and the
/// other process types too unless `keep` names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Autosleep {
    pub idle: Duration,
    pub keep: BTreeSet<String>,
}

impl Autosleep {
    /// Whether `process_type` runs while the app sleeps (`web` never does).
    pub fn keeps(&self, process_type: &str) -> bool {
        process_type != "web" && self.keep.contains(process_type)
    }

    /// The kept process types as typed (`worker,clock`), checked like a formation's.
    pub fn parse_keep(raw: &[String]) -> Result<BTreeSet<String>, Invalid> {
        let mut keep = BTreeSet::new();
        for name in raw.iter().flat_map(|r| r.split(',')).map(str::trim) {
            if name.is_empty() {
                continue;
            }
            let process_type = ProcessType::parse(name)?;
            if process_type.as_str() == "web" {
                return Err(Invalid::new(
                    "--keep web would keep the app awake: web processes are the ones that sleep; keep other types, e.g. --keep worker",
                ));
            }
            keep.insert(process_type.as_str().to_owned());
        }
        Ok(keep)
    }
}

/// Parses an idle time: a number with `s`, `m`, `h` or `d` (`90s`, `30m`, `2h`, `1d`); a
/// bare number is minutes, as most users mean it.
pub fn parse_idle(raw: &str) -> Result<Duration, Invalid> {
    let text = raw.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let bad = || {
        Invalid::new(format!(
            "idle time \"{raw}\" is not a duration: give a number with s, m, h or d, like --after 30m"
        ))
    };
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit {
        "" | "m" | "min" => 60,
        "s" | "sec" => 1,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    let seconds = number.checked_mul(scale).ok_or_else(bad)?;
    if !(MIN_IDLE_SECS..=MAX_IDLE_SECS).contains(&seconds) {
        return Err(Invalid::new(format!(
            "idle time {raw} is out of range: give between 1s and 7d, like --after 30m"
        )));
    }
    Ok(Duration::from_secs(seconds))
}

/// Formats an idle time the way `parse_idle` reads it, in the largest whole unit.
pub fn format_idle(idle: Duration) -> String {
    let seconds = idle.as_secs();
    for (unit, scale) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if seconds >= scale && seconds.is_multiple_of(scale) {
            return format!("{}{unit}", seconds / scale);
        }
    }
    format!("{seconds}s")
}

/// Whether an app's processes run. `Asleep` and `Crashed` both run no web process and wake
/// on the next request; `Crashed` means the last wake failed (its reason is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SleepState {
    Awake,
    Asleep,
    Crashed,
}

impl SleepState {
    pub fn as_str(self) -> &'static str {
        match self {
            SleepState::Awake => "awake",
            SleepState::Asleep => "sleeping",
            SleepState::Crashed => "crashed",
        }
    }

    pub fn parse(raw: &str) -> Option<SleepState> {
        [SleepState::Awake, SleepState::Asleep, SleepState::Crashed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// No web process runs: the next request wakes the app.
    pub fn is_asleep(self) -> bool {
        self != SleepState::Awake
    }
}

impl fmt::Display for SleepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn idle_times_read_as_users_write_them() {
        assert_eq!(parse_idle("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_idle("30").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_idle("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_idle("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_idle("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_idle(" 5min ").unwrap(), Duration::from_secs(300));
    }

    #[test]
    fn bad_idle_times_say_what_to_type() {
        for raw in [
            "",
            "m",
            "10x",
            "-5m",
            "1.5h",
            "0s",
            "8d",
            "99999999999999999999h",
        ] {
            let e = parse_idle(raw).unwrap_err().to_string();
            assert!(e.contains("--after 30m"), "{raw}: {e}");
        }
    }

    #[test]
    fn idle_times_format_in_their_largest_unit() {
        assert_eq!(format_idle(Duration::from_secs(1800)), "30m");
        assert_eq!(format_idle(Duration::from_secs(90)), "90s");
        assert_eq!(format_idle(Duration::from_secs(7200)), "2h");
        assert_eq!(format_idle(Duration::from_secs(86400)), "1d");
    }

    #[test]
    fn keep_names_process_types_but_never_web() {
        let keep = Autosleep::parse_keep(&["worker,clock".into(), " ".into()]).unwrap();
        assert_eq!(keep.into_iter().collect::<Vec<_>>(), ["clock", "worker"]);
        assert!(Autosleep::parse_keep(&["web".into()]).is_err());
        assert!(Autosleep::parse_keep(&["no spaces".into()]).is_err());
        let sleep = Autosleep {
            idle: DEFAULT_IDLE,
            keep: ["worker".to_owned(), "web".to_owned()].into(),
        };
        assert!(sleep.keeps("worker") && !sleep.keeps("web") && !sleep.keeps("clock"));
    }

    #[test]
    fn sleep_states_round_trip() {
        for s in [SleepState::Awake, SleepState::Asleep, SleepState::Crashed] {
            assert_eq!(SleepState::parse(s.as_str()), Some(s));
        }
        assert_eq!(SleepState::parse("dozing"), None);
    }

    proptest! {
        #[test]
        fn any_idle_time_that_parses_formats_back_to_itself(raw in "\\PC{0,12}") {
            if let Ok(idle) = parse_idle(&raw) {
                prop_assert_eq!(parse_idle(&format_idle(idle)).unwrap(), idle);
            }
        }

        #[test]
        fn every_number_of_seconds_in_range_round_trips(seconds in 1u64..=MAX_IDLE_SECS) {
            let idle = Duration::from_secs(seconds);
            prop_assert_eq!(parse_idle(&format_idle(idle)).unwrap(), idle);
        }
    }
}
