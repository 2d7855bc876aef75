//! Heroku-style output: `=== Heading` lines, aligned tables, `KEY: value` lists, and JSON
//! for scripts.

use std::fmt::Write;

use serde::Serialize;

pub fn heading(text: &str) {
    println!("=== {text}");
}

pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Columns padded to their widest cell; the header row is printed as given.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    print!("{}", render_table(header, rows));
}

pub fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// `KEY: value` with the values aligned, as `heroku config` prints them.
pub fn key_values<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
    print!("{}", render_key_values(pairs));
}

pub fn render_key_values<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        let label = format!("{key}:");
        let _ = writeln!(out, "{label:<w$} {value}", w = width + 1);
    }
    out
}

/// Starts an action line (`Creating myapp... `), shown before the server answers.
pub fn begin(text: &str) {
    use std::io::Write as _;
    print!("{text}... ");
    let _ = std::io::stdout().flush();
}

/// How a change of release ended, after `begin`: `done, v4`; `queued, v4 is rolling out`
/// (`--no-wait`); or why a release never started.
pub fn release_outcome(release: &crate::wire::ReleaseInfo) -> String {
    let v = release.version;
    match release.state.as_str() {
        "pending" => format!("queued, v{v} is rolling out; follow it with paas releases:info v{v}"),
        "superseded" => format!(
            "done, v{v} {}",
            release.state_detail.as_deref().unwrap_or("was superseded")
        ),
        _ => format!("done, v{v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_to_the_widest_cell() {
        let out = render_table(
            &["NAME", "OWNER"],
            &[
                vec!["a".into(), "admin".into()],
                vec!["longer-name".into(), "b".into()],
            ],
        );
        assert_eq!(
            out,
            "NAME         OWNER\na            admin\nlonger-name  b\n"
        );
    }

    #[test]
    fn key_values_align_after_the_colon() {
        let out = render_key_values([("DEBUG", "0"), ("SECRET_KEY", "abc")]);
        assert_eq!(out, "DEBUG:      0\nSECRET_KEY: abc\n");
    }
}
