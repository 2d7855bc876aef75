//! Hints for build failures whose cause is the host, not the app: output lines are watched
//! as they pass, and a failed build's reason says which setting fixes it.

/// What the output of pip, npm, curl, git or Go prints when it cannot verify a server's
/// certificate (a TLS-inspecting proxy whose CA the stack does not trust).
const CERTIFICATE_ERRORS: [&str; 4] = [
    "certificate_verify_failed",
    "certificate verify failed",
    "ssl certificate problem",
    "x509: certificate signed by unknown authority",
];

const CERTIFICATE_HINT: &str = "a TLS certificate could not be verified during the build; \
    if this host's HTTPS goes through a proxy with its own CA, put the CA (*.crt) in \
    /usr/local/share/ca-certificates or set PAAS_EXTRA_CA_CERTS to its directory, \
    then run paas stack:build";

/// What the output of one build showed so far.
#[derive(Debug, Default)]
pub struct Watch {
    certificate_error: bool,
}

impl Watch {
    pub fn see(&mut self, line: &str) {
        if !self.certificate_error {
            let lower = line.to_ascii_lowercase();
            self.certificate_error = CERTIFICATE_ERRORS.iter().any(|e| lower.contains(e));
        }
    }

    /// The reason a build failed, with the fix when its output points at the host.
    pub fn explain(&self, reason: String) -> String {
        if self.certificate_error {
            format!("{reason}; {CERTIFICATE_HINT}")
        } else {
            reason
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_name_the_setting_that_fixes_them() {
        let mut watch = Watch::default();
        watch.see("Collecting flask");
        assert_eq!(watch.explain("pip failed".into()), "pip failed");
        watch.see("  SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate");
        let explained = watch.explain("pip failed".into());
        assert!(explained.starts_with("pip failed; a TLS certificate"));
        assert!(explained.contains("PAAS_EXTRA_CA_CERTS"));
        assert!(explained.contains("paas stack:build"));
        let mut curl = Watch::default();
        curl.see(
            "curl: (60) SSL certificate problem: self-signed certificate in certificate chain",
        );
        assert!(curl.explain("x".into()).contains("PAAS_EXTRA_CA_CERTS"));
    }
}
