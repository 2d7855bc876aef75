//! Config layering: platform-wide vars, then the app's release config, then the vars the
//! platform itself sets (which nobody can override).
//!
//! A release pins the app's config version; global vars are read when a process starts,
//! so a global change reaches each app on its next release or restart.

use crate::domain::ConfigVars;

/// What the platform tells each process about itself.
pub struct PlatformVars<'a> {
    pub app: &'a str,
    pub release: i64,
    /// `web.2`, `worker.1`, `run.4211` for one-off processes.
    pub process: &'a str,
    pub port: u16,
}

pub fn process_env(
    global: &ConfigVars,
    app: &ConfigVars,
    platform: &PlatformVars<'_>,
) -> ConfigVars {
    let mut env = global.clone();
    env.extend(app.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.insert("PORT".into(), platform.port.to_string());
    env.insert("PAAS_APP".into(), platform.app.to_owned());
    env.insert("PAAS_RELEASE".into(), format!("v{}", platform.release));
    env.insert("PAAS_PROCESS".into(), platform.process.to_owned());
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> ConfigVars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn app_vars_override_global_and_platform_vars_override_both() {
        let global = vars(&[("SENTRY_DSN", "g"), ("SHARED", "global"), ("PORT", "1")]);
        let app = vars(&[("SHARED", "app"), ("DEBUG", "0")]);
        let env = process_env(
            &global,
            &app,
            &PlatformVars {
                app: "myapp",
                release: 7,
                process: "web.2",
                port: 5000,
            },
        );
        assert_eq!(env["SENTRY_DSN"], "g");
        assert_eq!(env["SHARED"], "app");
        assert_eq!(env["DEBUG"], "0");
        assert_eq!(env["PORT"], "5000");
        assert_eq!(env["PAAS_APP"], "myapp");
        assert_eq!(env["PAAS_RELEASE"], "v7");
        assert_eq!(env["PAAS_PROCESS"], "web.2");
    }
}
