//! Receive-pack capabilities (gitprotocol-capabilities): the list this server advertises and
//! the set a client asks for on its first command line.
//!
//! Advertise only what the module really implements; must not decide policy (which refs may
//! move) nor touch the repository.

/// Version of the report-status answer the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatusVersion {
    V1,
    V2,
}

/// Capabilities advertised by receive-pack, space separated as on the wire.
///
/// `atomic` is honest: ref updates of an atomic push are locked together, checked against
/// their old values, then written (see `refs`). `ofs-delta` and thin packs are handled by
/// libgit2's indexer. Not offered: `push-cert` (no signed pushes), `shallow` pushes.
pub fn advertised() -> String {
    format!(
        "report-status report-status-v2 delete-refs side-band-64k quiet atomic ofs-delta \
         push-options object-format=sha1 agent={}",
        agent()
    )
}

/// The `agent=` value, like git's `git/2.47.0`.
pub fn agent() -> String {
    format!("paas/{}", env!("CARGO_PKG_VERSION"))
}

/// What the pushing client asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCapabilities {
    /// Which report-status answer to send; `None` means the client wants no report.
    pub report_status: Option<ReportStatusVersion>,
    /// Multiplex the answer into bands 1 (data), 2 (progress) and 3 (fatal error).
    pub side_band_64k: bool,
    /// The client ran `git push -q`: skip this module's own progress messages.
    pub quiet: bool,
    /// All ref updates succeed together or none does.
    pub atomic: bool,
    /// Push options follow the command list.
    pub push_options: bool,
    /// The client's `agent=` string, for logs.
    pub agent: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CapabilityError {
    #[error(
        "the client pushes {0} objects but this server stores sha1 only; push from a sha1 repository"
    )]
    UnsupportedObjectFormat(String),
    #[error("signed pushes (push-cert) are not supported; push without --signed")]
    PushCertNotSupported,
}

impl ClientCapabilities {
    /// Parses the space-separated list after the NUL of the first command. Unknown names
    /// are ignored, as git does for capabilities it did not advertise.
    pub fn parse(list: &str) -> Result<Self, CapabilityError> {
        let mut caps = ClientCapabilities::default();
        let mut v1 = false;
        let mut v2 = false;
        for word in list.split_ascii_whitespace() {
            let (name, value) = match word.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (word, None),
            };
            match (name, value) {
                ("report-status", _) => v1 = true,
                ("report-status-v2", _) => v2 = true,
                ("side-band-64k", _) => caps.side_band_64k = true,
                ("quiet", _) => caps.quiet = true,
                ("atomic", _) => caps.atomic = true,
                ("push-options", _) => caps.push_options = true,
                ("agent", Some(agent)) => caps.agent = Some(agent.to_owned()),
                ("object-format", Some(format)) if format != "sha1" => {
                    return Err(CapabilityError::UnsupportedObjectFormat(format.to_owned()));
                }
                ("push-cert", _) => return Err(CapabilityError::PushCertNotSupported),
                _ => {}
            }
        }
        caps.report_status = match (v1, v2) {
            (_, true) => Some(ReportStatusVersion::V2),
            (true, false) => Some(ReportStatusVersion::V1),
            (false, false) => None,
        };
        Ok(caps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_git_2_47_sends_is_understood() {
        let caps = ClientCapabilities::parse(
            " report-status-v2 side-band-64k atomic push-options object-format=sha1 agent=git/2.47.3",
        )
        .unwrap();
        assert_eq!(caps.report_status, Some(ReportStatusVersion::V2));
        assert!(caps.side_band_64k && caps.atomic && caps.push_options && !caps.quiet);
        assert_eq!(caps.agent.as_deref(), Some("git/2.47.3"));
    }

    #[test]
    fn report_status_v2_wins_over_v1_and_absence_means_no_report() {
        let both = ClientCapabilities::parse("report-status report-status-v2").unwrap();
        assert_eq!(both.report_status, Some(ReportStatusVersion::V2));
        let v1 = ClientCapabilities::parse("report-status quiet").unwrap();
        assert_eq!(v1.report_status, Some(ReportStatusVersion::V1));
        assert!(v1.quiet);
        assert_eq!(ClientCapabilities::parse("").unwrap().report_status, None);
    }

    #[test]
    fn sha256_clients_are_refused_with_a_hint() {
        let err = ClientCapabilities::parse("object-format=sha256").unwrap_err();
        assert!(err.to_string().contains("sha256"));
    }

    #[test]
    fn advertisement_lists_every_capability_the_module_implements() {
        let advertised = advertised();
        for name in [
            "report-status",
            "report-status-v2",
            "delete-refs",
            "side-band-64k",
            "quiet",
            "atomic",
            "ofs-delta",
            "push-options",
            "object-format=sha1",
            "agent=paas/",
        ] {
            assert!(
                advertised.contains(name),
                "{name} missing from {advertised}"
            );
        }
        assert!(!advertised.contains("push-cert"));
    }
}
