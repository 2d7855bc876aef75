//! Formation: process type names, quantities, and the `web=2 worker=1` syntax.

use std::collections::BTreeMap;
use std::fmt;

use super::Invalid;

/// The most instances of one process type a single `ps:scale` may ask for.
const MAX_QUANTITY: u32 = 100;

/// A Procfile process type as Heroku allows it: letters, digits, `_` and `-`, starting
/// with a letter or digit, at most 30 (web, worker, urgentWorker, clock...).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct ProcessType(String);

impl ProcessType {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut chars = raw.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if first_ok && rest_ok && raw.len() <= 30 {
            Ok(ProcessType(raw.to_owned()))
        } else {
            Err(Invalid::new(format!(
                "invalid process type \"{raw}\": use letters, digits, - and _ (at most 30), starting with a letter or digit"
            )))
        }
    }

    pub fn web() -> Self {
        ProcessType("web".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_web(&self) -> bool {
        self.0 == "web"
    }
}

impl TryFrom<String> for ProcessType {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        ProcessType::parse(&raw)
    }
}

impl From<ProcessType> for String {
    fn from(p: ProcessType) -> String {
        p.0
    }
}

impl fmt::Display for ProcessType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Quantity = u32;

/// `ps:scale web=2 worker=1`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScaleRequest(pub BTreeMap<ProcessType, Quantity>);

impl ScaleRequest {
    pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Self, Invalid> {
        let mut out = BTreeMap::new();
        for arg in args {
            let arg = arg.as_ref();
            let Some((name, quantity)) = arg.split_once('=') else {
                return Err(Invalid::new(format!(
                    "cannot read \"{arg}\": write TYPE=QUANTITY, e.g. paas ps:scale web=2"
                )));
            };
            let quantity: Quantity = quantity.parse().map_err(|_| {
                Invalid::new(format!(
                    "invalid quantity \"{quantity}\" for {name}: use a whole number from 0 to {MAX_QUANTITY}"
                ))
            })?;
            out.insert(ProcessType::parse(name)?, quantity);
        }
        ScaleRequest::new(out)
    }

    /// Dokku's `DOKKU_SCALE` file: a `TYPE=QUANTITY` line per process type; blank lines
    /// and `#` comments skipped.
    pub fn parse_scale_file(text: &str) -> Result<Self, Invalid> {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        ScaleRequest::parse_args(&lines).map_err(|e| Invalid::new(format!("DOKKU_SCALE: {e}")))
    }

    /// The quantities of the app after this request, over `current`, must stay within
    /// `max_total` processes in all.
    pub fn check_total(
        &self,
        app: &str,
        current: &BTreeMap<String, Quantity>,
        max_total: u32,
    ) -> Result<(), Invalid> {
        let mut after = current.clone();
        for (t, q) in &self.0 {
            after.insert(t.to_string(), *q);
        }
        let total: u64 = after.values().map(|q| u64::from(*q)).sum();
        if total > u64::from(max_total) {
            return Err(Invalid::new(format!(
                "{app} would run {total} processes: at most {max_total} per app (PAAS_MAX_APP_PROCESSES); scale other types down first"
            )));
        }
        Ok(())
    }

    pub fn new(quantities: BTreeMap<ProcessType, Quantity>) -> Result<Self, Invalid> {
        if quantities.is_empty() {
            return Err(Invalid::new(
                "no process types given: use paas ps:scale web=2 worker=1",
            ));
        }
        if let Some((name, q)) = quantities.iter().find(|(_, q)| **q > MAX_QUANTITY) {
            return Err(Invalid::new(format!(
                "{name}={q} is too many: at most {MAX_QUANTITY} instances per process type"
            )));
        }
        Ok(ScaleRequest(quantities))
    }
}

/// `ps:resize web=1024 worker=256M`: memory limits in MiB per process type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResizeRequest(pub BTreeMap<ProcessType, u32>);

const MIN_MEMORY_MB: u32 = 64;
const MAX_MEMORY_MB: u32 = 65_536;

impl ResizeRequest {
    pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Self, Invalid> {
        let mut out = BTreeMap::new();
        for arg in args {
            let arg = arg.as_ref();
            let Some((name, size)) = arg.split_once('=') else {
                return Err(Invalid::new(format!(
                    "cannot read \"{arg}\": write TYPE=MEMORY, e.g. paas ps:resize web=1024M"
                )));
            };
            out.insert(ProcessType::parse(name)?, parse_memory(size)?);
        }
        ResizeRequest::new(out)
    }

    pub fn new(sizes: BTreeMap<ProcessType, u32>) -> Result<Self, Invalid> {
        if sizes.is_empty() {
            return Err(Invalid::new(
                "no process types given: use paas ps:resize web=1024M",
            ));
        }
        if let Some((name, mb)) = sizes
            .iter()
            .find(|(_, mb)| !(MIN_MEMORY_MB..=MAX_MEMORY_MB).contains(*mb))
        {
            return Err(Invalid::new(format!(
                "{name}={mb}M is out of range: give {MIN_MEMORY_MB}M to {MAX_MEMORY_MB}M"
            )));
        }
        Ok(ResizeRequest(sizes))
    }
}

/// Heroku's dyno sizes and the memory each has, in MiB.
const DYNO_SIZES: &[(&str, u32)] = &[
    ("free", 512),
    ("eco", 512),
    ("hobby", 512),
    ("basic", 512),
    ("standard-1x", 512),
    ("1x", 512),
    ("standard-2x", 1024),
    ("2x", 1024),
    ("private-s", 1024),
    ("shield-s", 1024),
    ("performance-m", 2560),
    ("private-m", 2560),
    ("shield-m", 2560),
    ("performance-l", 14_336),
    ("private-l", 14_336),
    ("shield-l", 14_336),
    ("performance-l-ram", 30_720),
    ("performance-xl", 63_488),
    ("performance-2xl", 65_536),
];

/// The memory limit of app.json's `formation.TYPE.size`: a Heroku dyno size (any case;
/// the largest ones get paas's maximum) or a memory size like `1G`.
pub fn size_memory_mb(size: &str) -> Result<u32, Invalid> {
    let lower = size.trim().to_ascii_lowercase();
    if let Some((_, mb)) = DYNO_SIZES.iter().find(|(name, _)| *name == lower) {
        return Ok(*mb);
    }
    let mb = parse_memory(size).map_err(|_| {
        Invalid::new(format!(
            "unknown size \"{size}\": give a Heroku dyno size (basic, standard-1x, standard-2x, performance-m, performance-l) or memory like 1G"
        ))
    })?;
    if !(MIN_MEMORY_MB..=MAX_MEMORY_MB).contains(&mb) {
        return Err(Invalid::new(format!(
            "size {mb}M is out of range: give {MIN_MEMORY_MB}M to {MAX_MEMORY_MB}M"
        )));
    }
    Ok(mb)
}

/// `512`, `512M`, `512MB` and `2G` (binary units).
fn parse_memory(raw: &str) -> Result<u32, Invalid> {
    let upper = raw.trim().to_ascii_uppercase();
    let (digits, factor) =
        if let Some(d) = upper.strip_suffix("GB").or_else(|| upper.strip_suffix('G')) {
            (d, 1024)
        } else {
            (
                upper
                    .strip_suffix("MB")
                    .or_else(|| upper.strip_suffix('M'))
                    .unwrap_or(&upper),
                1,
            )
        };
    digits
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| {
            Invalid::new(format!(
                "invalid memory size \"{raw}\": write it like 512M or 1G"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dokku_scale_file_reads_like_ps_scale() {
        let parsed = ScaleRequest::parse_scale_file("# scale\nweb=2\r\n\nworker=1\n").unwrap();
        assert_eq!(parsed.0.len(), 2);
        assert_eq!(parsed.0[&ProcessType::web()], 2);
        let err = ScaleRequest::parse_scale_file("web: 2").unwrap_err();
        assert!(err.0.starts_with("DOKKU_SCALE: "), "{err}");
        assert!(ScaleRequest::parse_scale_file("worker=1000").is_err());
    }

    #[test]
    fn heroku_dyno_sizes_and_memory_sizes_become_memory_limits() {
        assert_eq!(size_memory_mb("basic"), Ok(512));
        assert_eq!(size_memory_mb("Standard-2X"), Ok(1024));
        assert_eq!(size_memory_mb("performance-l"), Ok(14_336));
        assert_eq!(size_memory_mb("performance-2xl"), Ok(MAX_MEMORY_MB));
        assert_eq!(size_memory_mb("768M"), Ok(768));
        assert_eq!(size_memory_mb("2G"), Ok(2048));
        assert!(
            size_memory_mb("huge")
                .unwrap_err()
                .0
                .contains("standard-2x")
        );
        assert!(size_memory_mb("1M").is_err());
    }

    #[test]
    fn the_total_of_an_app_counts_the_types_the_request_leaves_alone() {
        let current = BTreeMap::from([("web".to_owned(), 60), ("worker".to_owned(), 30)]);
        let request = ScaleRequest::parse_args(&["worker=40"]).unwrap();
        assert!(request.check_total("myapp", &current, 100).is_ok());
        let request = ScaleRequest::parse_args(&["worker=41"]).unwrap();
        let e = request.check_total("myapp", &current, 100).unwrap_err();
        assert!(e.to_string().contains("at most 100 per app"), "{e}");
    }

    #[test]
    fn memory_sizes_read_megabytes_and_gigabytes() {
        let req = ResizeRequest::parse_args(&["web=1G", "worker=256M", "clock=128"]).unwrap();
        assert_eq!(req.0[&ProcessType::web()], 1024);
        assert_eq!(
            req.0.values().copied().collect::<Vec<_>>(),
            vec![128, 1024, 256]
        );
        assert!(ResizeRequest::parse_args(&["web=lots"]).is_err());
        assert!(
            ResizeRequest::parse_args(&["web=1M"]).is_err(),
            "below the minimum"
        );
        assert!(ResizeRequest::parse_args(&["web"]).is_err());
    }

    #[test]
    fn parses_type_equals_quantity_pairs() {
        let req = ScaleRequest::parse_args(&["web=2", "worker=0"]).unwrap();
        assert_eq!(req.0.get(&ProcessType::web()), Some(&2));
        assert_eq!(req.0.len(), 2);
    }

    #[test]
    fn refuses_malformed_scale_arguments() {
        assert!(ScaleRequest::parse_args(&["web"]).is_err());
        assert!(ScaleRequest::parse_args(&["web=-1"]).is_err());
        assert!(ScaleRequest::parse_args(&["-web=1"]).is_err());
        assert!(ScaleRequest::parse_args(&["web server=1"]).is_err());
        assert!(ScaleRequest::parse_args(&["web=1000"]).is_err());
        assert!(ScaleRequest::parse_args::<&str>(&[]).is_err());
    }
}
