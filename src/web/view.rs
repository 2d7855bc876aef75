//! Presentation helpers shared by the pages: the layout's data, times as "5 minutes ago",
//! durations, and states as a word plus a tone (never colour alone).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::flash::Flash;

/// Which top-level section a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Apps,
    Activity,
    Users,
    Tokens,
    None,
}

/// What the layout template needs from every page.
#[derive(Debug, Clone)]
pub struct Layout {
    pub user: Option<String>,
    pub admin: bool,
    /// The session's token, put into every form.
    pub csrf: String,
    pub flash: Option<Flash>,
    pub nav: Nav,
    pub title: String,
}

impl Layout {
    /// For pages seen before signing in.
    pub fn anonymous(nav: Nav, title: impl Into<String>) -> Layout {
        Layout {
            user: None,
            admin: false,
            csrf: String::new(),
            flash: None,
            nav,
            title: title.into(),
        }
    }

    /// `aria-current` of a navigation link: also what the CSS highlights.
    pub fn current(&self, section: &str) -> &'static str {
        let this = match self.nav {
            Nav::Apps => "apps",
            Nav::Activity => "activity",
            Nav::Users => "users",
            Nav::Tokens => "tokens",
            Nav::None => "",
        };
        if this == section { "page" } else { "false" }
    }

    /// Appended to asset URLs so browsers fetch them again after an upgrade.
    pub fn asset_version(&self) -> &'static str {
        super::assets::version()
    }
}

/// A moment, for `<time datetime=iso title=exact>ago</time>`.
#[derive(Debug, Clone, Default)]
pub struct When {
    pub iso: String,
    pub exact: String,
    pub ago: String,
}

impl When {
    pub fn parse(rfc3339: &str) -> When {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        Self::parse_at(rfc3339, now)
    }

    fn parse_at(rfc3339: &str, now: i64) -> When {
        match OffsetDateTime::parse(rfc3339, &Rfc3339) {
            Ok(t) => {
                let exact = format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                );
                When {
                    iso: rfc3339.to_owned(),
                    ago: ago(now - t.unix_timestamp(), &exact),
                    exact,
                }
            }
            Err(_) => When {
                iso: String::new(),
                exact: rfc3339.to_owned(),
                ago: rfc3339.to_owned(),
            },
        }
    }
}

/// `secs` since the moment: "2 minutes ago", or "in 3 days" for a moment to come (a
/// certificate's expiry); the date beyond a month either way.
fn ago(secs: i64, exact: &str) -> String {
    let span = secs.saturating_abs();
    let amount = |n: i64, unit: &str| {
        let words = if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        };
        if secs < 0 {
            format!("in {words}")
        } else {
            format!("{words} ago")
        }
    };
    match span {
        0..10 => "just now".to_owned(),
        10..60 => amount(span, "second"),
        60..3600 => amount(span / 60, "minute"),
        3600..86_400 => amount(span / 3600, "hour"),
        86_400..2_592_000 => amount(span / 86_400, "day"),
        _ => exact.get(..10).unwrap_or(exact).to_owned(),
    }
}

/// `1m 05s`, `42s`, `2h 03m`.
pub fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// The first 7 characters of a commit, as git shows them.
pub fn short_sha(sha: &str) -> String {
    sha.chars().take(7).collect()
}

/// A state in words, with a tone the CSS turns into colour and an icon.
#[derive(Debug, Clone)]
pub struct Badge {
    pub word: String,
    /// ok, busy, bad, idle
    pub tone: &'static str,
}

impl Badge {
    pub fn new(word: impl Into<String>, tone: &'static str) -> Badge {
        Badge {
            word: word.into(),
            tone,
        }
    }

    /// Any lifecycle word of a build, release or process.
    pub fn state(word: &str) -> Badge {
        let tone = match word {
            "succeeded" | "up" | "running" | "valid" => "ok",
            "pending" | "building" | "starting" | "deploying" => "busy",
            "failed" | "crashed" => "bad",
            _ => "idle",
        };
        Badge::new(word, tone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_how_long_ago() {
        let at = 1_700_000_000;
        let when = When::parse_at("2023-11-14T22:13:20Z", at + 125);
        assert_eq!(when.ago, "2 minutes ago");
        assert_eq!(when.exact, "2023-11-14 22:13:20 UTC");
        assert_eq!(
            When::parse_at("2023-11-14T22:13:20Z", at + 3).ago,
            "just now"
        );
        assert_eq!(
            When::parse_at("2023-11-14T22:13:20Z", at + 3600).ago,
            "1 hour ago"
        );
        assert_eq!(
            When::parse_at("2023-11-14T22:13:20Z", at + 90 * 86_400).ago,
            "2023-11-14"
        );
        assert_eq!(
            When::parse_at("2023-11-14T22:13:20Z", at - 3 * 86_400).ago,
            "in 3 days"
        );
        assert_eq!(
            When::parse_at("2023-11-14T22:13:20Z", at - 400 * 86_400).ago,
            "2023-11-14"
        );
        assert_eq!(When::parse_at("garbage", at).ago, "garbage");
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(65), "1m 05s");
        assert_eq!(duration(7380), "2h 03m");
    }

    #[test]
    fn states_have_a_word_and_a_tone() {
        assert_eq!(Badge::state("crashed").tone, "bad");
        assert_eq!(Badge::state("building").tone, "busy");
        assert_eq!(Badge::state("cancelled").tone, "idle");
        assert_eq!(Badge::state("up").word, "up");
    }
}
