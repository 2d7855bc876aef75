//! The shell command that makes a Docker engine trust paas's registry: the CA certificate
//! written to `/etc/docker/certs.d/ADDR:PORT/ca.crt`, which the engine reads at every pull
//! (no restart). It carries the CA's certificate only, never a key.

/// Where an engine looks for the CA of registry `registry` (`10.99.0.1:5443`).
pub fn certs_d_path(registry: &str) -> String {
    format!("/etc/docker/certs.d/{registry}/ca.crt")
}

/// `mkdir -p DIR && printf '%s\n' LINES... > DIR/ca.crt`, one line of shell.
pub fn command(registry: &str, ca_pem: &str) -> String {
    let path = certs_d_path(registry);
    let dir = path.trim_end_matches("/ca.crt");
    let lines: Vec<String> = ca_pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(quote)
        .collect();
    format!(
        "mkdir -p {} && printf '%s\\n' {} > {}",
        quote(dir),
        lines.join(" "),
        quote(&path)
    )
}

/// `text` in single quotes for sh (a `'` inside becomes `'\''`).
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\nAbC+/=\n-----END CERTIFICATE-----\n";

    #[test]
    fn the_command_writes_the_ca_where_the_engine_reads_it() {
        assert_eq!(
            command("10.99.0.1:5443", PEM),
            "mkdir -p '/etc/docker/certs.d/10.99.0.1:5443' && printf '%s\\n' \
             '-----BEGIN CERTIFICATE-----' 'MIIBszCCAVmgAwIBAgIU' 'AbC+/=' \
             '-----END CERTIFICATE-----' > '/etc/docker/certs.d/10.99.0.1:5443/ca.crt'"
        );
    }

    #[test]
    fn sh_writes_exactly_the_pem() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("[fd00::1]:5443");
        let cmd = command("[fd00::1]:5443", PEM).replace(
            "/etc/docker/certs.d/[fd00::1]:5443",
            target.to_str().unwrap(),
        );
        let status = std::process::Command::new("sh")
            .args(["-c", &cmd])
            .status()
            .unwrap();
        assert!(status.success(), "{cmd}");
        assert_eq!(std::fs::read_to_string(target.join("ca.crt")).unwrap(), PEM);
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
