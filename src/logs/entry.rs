//! One log line: when, from where (an app process or the platform), and what.

use std::fmt;

use crate::domain::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    App,
    Paas,
    /// An add-on's own lines (`addon[postgres-fluffy-1234]`).
    Addon,
    /// A cron job's output (`cron[3f2a9c01de]`, the job's ID).
    Cron,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub at: i64,
    pub source: Source,
    /// `web.1` for app lines; `deploy`, `scheduler`, `router`, `build` for platform lines.
    pub dyno: String,
    pub text: String,
}

impl LogEntry {
    pub fn now(source: Source, dyno: &str, text: String) -> Self {
        LogEntry {
            at: Timestamp::now().0,
            source,
            dyno: dyno.to_owned(),
            text,
        }
    }

    /// Reads a line back as `Display` wrote it.
    pub fn parse(line: &str) -> Option<LogEntry> {
        let (stamp, rest) = line.split_once(' ')?;
        let at = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
            .ok()?
            .unix_timestamp();
        let (source, rest) = if let Some(rest) = rest.strip_prefix("app[") {
            (Source::App, rest)
        } else if let Some(rest) = rest.strip_prefix("addon[") {
            (Source::Addon, rest)
        } else if let Some(rest) = rest.strip_prefix("cron[") {
            (Source::Cron, rest)
        } else {
            (Source::Paas, rest.strip_prefix("paas[")?)
        };
        let (dyno, text) = rest.split_once("]: ")?;
        Some(LogEntry {
            at,
            source,
            dyno: dyno.to_owned(),
            text: text.to_owned(),
        })
    }
}

/// `2026-11-23T18:01:02Z app[web.1]: text`, one line whatever the text holds.
impl LogEntry {
    fn source_name(&self) -> &'static str {
        match self.source {
            Source::App => "app",
            Source::Paas => "paas",
            Source::Addon => "addon",
            Source::Cron => "cron",
        }
    }

    /// Appends the line as `Display` writes it, and a newline, to `out`; the timestamp is
    /// formatted once per second of a batch.
    pub fn write_line(&self, out: &mut String, stamp: &mut StampCache) {
        if stamp.at != Some(self.at) {
            stamp.at = Some(self.at);
            stamp.text = Timestamp(self.at).rfc3339();
        }
        out.push_str(&stamp.text);
        out.push(' ');
        out.push_str(self.source_name());
        out.push('[');
        out.push_str(&self.dyno);
        out.push_str("]: ");
        // Whole runs between line breaks, found with SIMD: a router line is ~250 bytes and
        // has none, and splitting it by a char pattern cost as much as formatting it.
        let mut rest = self.text.as_str();
        while let Some(at) = memchr::memchr2(b'\n', b'\r', rest.as_bytes()) {
            out.push_str(&rest[..at]);
            out.push(' ');
            rest = &rest[at + 1..];
        }
        out.push_str(rest);
        out.push('\n');
    }
}

/// The last timestamp written, formatted.
#[derive(Default)]
pub struct StampCache {
    at: Option<i64>,
    text: String,
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.text.replace(['\n', '\r'], " ");
        write!(
            f,
            "{} {}[{}]: {text}",
            Timestamp(self.at),
            self.source_name(),
            self.dyno
        )
    }
}

/// `paas logs --ps web.1 --source app`.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// A dyno (`web.1`) or a whole type (`web`).
    pub dyno: Option<String>,
    pub source: Option<Source>,
}

impl LogFilter {
    pub fn matches(&self, entry: &LogEntry) -> bool {
        let source_ok = self.source.is_none_or(|s| s == entry.source);
        let dyno_ok = self.dyno.as_deref().is_none_or(|d| {
            entry.dyno == d
                || entry
                    .dyno
                    .split_once('.')
                    .is_some_and(|(process_type, _)| process_type == d)
        });
        source_ok && dyno_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_line_is_the_displayed_one() {
        let mut stamp = StampCache::default();
        let mut out = String::new();
        for (at, text) in [(0, "a\nb"), (0, "c"), (61, "d\re"), (61, "\r\nf\r\n")] {
            let entry = LogEntry {
                at,
                source: Source::Paas,
                dyno: "router".into(),
                text: text.into(),
            };
            let mut one = String::new();
            entry.write_line(&mut one, &mut stamp);
            assert_eq!(one, format!("{entry}\n"));
            out.push_str(&one);
        }
        assert_eq!(out.lines().count(), 4);
    }

    #[test]
    fn entries_print_heroku_style_and_parse_back() {
        let entry = LogEntry {
            at: 1_700_000_000,
            source: Source::App,
            dyno: "web.1".into(),
            text: "hello: world".into(),
        };
        let line = entry.to_string();
        assert_eq!(line, "2023-11-14T22:13:20Z app[web.1]: hello: world");
        assert_eq!(LogEntry::parse(&line), Some(entry));
        let platform = LogEntry::parse("2023-11-14T22:13:20Z paas[deploy]: v7 released").unwrap();
        assert_eq!(platform.source, Source::Paas);
        assert_eq!(platform.dyno, "deploy");
        let cron = LogEntry::parse("2023-11-14T22:13:20Z cron[3f2a9c01de]: done").unwrap();
        assert_eq!(
            (cron.source, cron.dyno.as_str()),
            (Source::Cron, "3f2a9c01de")
        );
    }

    #[test]
    fn newlines_never_split_an_entry() {
        let entry = LogEntry {
            at: 0,
            source: Source::Paas,
            dyno: "deploy".into(),
            text: "a\nb".into(),
        };
        assert!(!entry.to_string().contains('\n'));
    }

    #[test]
    fn filters_match_a_dyno_or_its_type_and_a_source() {
        let web1 = LogEntry::parse("2023-11-14T22:13:20Z app[web.1]: x").unwrap();
        let by_type = LogFilter {
            dyno: Some("web".into()),
            source: None,
        };
        let by_dyno = LogFilter {
            dyno: Some("web.2".into()),
            source: None,
        };
        let platform_only = LogFilter {
            dyno: None,
            source: Some(Source::Paas),
        };
        assert!(by_type.matches(&web1));
        assert!(!by_dyno.matches(&web1));
        assert!(!platform_only.matches(&web1));
    }
}
