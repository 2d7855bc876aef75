//! The `paas` command line: Heroku's `topic:command` shape, `-a APP` (or the `paas` git
//! remote), tables for lists, `--json` for scripts, and one-line errors with exit code 1.
//! Each topic has its own file; all of them speak to the server through `client`.

mod access;
mod addons;
mod apps;
mod autosleep;
mod backups;
mod builds;
mod certs;
mod client;
mod config;
mod credentials;
mod cron;
mod domains;
mod events;
mod git_remote;
mod login;
mod logs;
mod metrics;
mod nodes;
mod output;
mod pg;
mod ps;
mod releases;
mod reviewapps;
mod run;
mod terminal;
mod tokens;
mod users;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

use crate::settings::Settings;

pub use client::Client;

#[derive(Parser)]
#[command(
    name = "paas",
    version,
    about = "A self-hosted Heroku in one binary",
    max_term_width = 100
)]
pub struct Cli {
    /// The app to act on [default: the app of the `paas` git remote here]
    #[arg(short = 'a', long = "app", global = true)]
    pub app: Option<String>,

    /// Print JSON instead of tables (read commands)
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the platform: control plane, git endpoint, router (settings from PAAS_* vars)
    Server(Settings),
    /// Log in to a paas server and let `git push paas` use the same token
    Login {
        /// Server URL, e.g. http://localhost:8080
        url: Option<String>,
        /// Use this API token instead of a user name and password
        #[arg(long)]
        token: Option<String>,
        /// User name (asked for when missing)
        #[arg(long)]
        user: Option<String>,
    },
    /// Forget the stored token of the current server
    Logout,
    /// Show who you are logged in as
    Whoami,
    /// List your apps
    Apps,
    /// Create an app (and add the `paas` git remote when run inside a git repo)
    #[command(name = "apps:create")]
    AppsCreate { name: String },
    /// Show an app
    #[command(name = "apps:info")]
    AppsInfo { name: Option<String> },
    /// Destroy an app: its processes, releases, config, domains and repository
    #[command(name = "apps:destroy")]
    AppsDestroy {
        name: Option<String>,
        /// The app's name again, to confirm
        #[arg(long)]
        confirm: Option<String>,
    },
    /// Make another user the app's owner (you stay on as a member)
    #[command(name = "apps:transfer")]
    AppsTransfer { user: String },
    /// Show whether the app is in maintenance mode
    Maintenance,
    /// Answer every request with a 503 maintenance page (processes keep running)
    #[command(name = "maintenance:on")]
    MaintenanceOn,
    /// Serve the app again
    #[command(name = "maintenance:off")]
    MaintenanceOff,
    /// Show config vars
    Config {
        /// Platform-wide vars (admins)
        #[arg(long)]
        global: bool,
        /// Print as KEY=value lines for a shell
        #[arg(long)]
        shell: bool,
    },
    /// Print one config var's value
    #[command(name = "config:get")]
    ConfigGet {
        key: String,
        #[arg(long)]
        global: bool,
    },
    /// Set config vars and release the change: KEY=VALUE ...
    #[command(name = "config:set")]
    ConfigSet {
        #[arg(required = true)]
        pairs: Vec<String>,
        #[arg(long)]
        global: bool,
        /// Values are base64-encoded (Dokku's --encoded): for newlines and quotes
        #[arg(long)]
        encoded: bool,
        /// Return once the release is made; it rolls out on the server
        #[arg(long)]
        no_wait: bool,
    },
    /// Remove config vars and release the change: KEY ...
    #[command(name = "config:unset")]
    ConfigUnset {
        #[arg(required = true)]
        keys: Vec<String>,
        #[arg(long)]
        global: bool,
        /// Return once the release is made; it rolls out on the server
        #[arg(long)]
        no_wait: bool,
    },
    /// List releases, newest first
    Releases,
    /// Show one release and its config
    #[command(name = "releases:info")]
    ReleasesInfo { version: String },
    /// Release the build and config of an earlier release again (default: the previous one)
    Rollback {
        version: Option<String>,
        /// Return once the release is made; it rolls out on the server
        #[arg(long)]
        no_wait: bool,
    },
    /// Show the formation and every process with its state
    Ps,
    /// Change how many of each process type run: web=2 worker=1
    #[command(name = "ps:scale")]
    PsScale {
        pairs: Vec<String>,
        /// Return once the formation is stored; the server converges to it
        #[arg(long)]
        no_wait: bool,
    },
    /// Set memory limits per process type and restart them: web=1024M worker=256M
    #[command(name = "ps:resize")]
    PsResize {
        #[arg(required = true)]
        pairs: Vec<String>,
    },
    /// Restart processes (all, or one type) with no downtime
    #[command(name = "ps:restart")]
    PsRestart {
        process_type: Option<String>,
        /// Return at once; the server restarts the processes
        #[arg(long)]
        no_wait: bool,
    },
    /// Show or set autosleep: after an idle time, stop the web processes; the next request wakes them
    #[command(name = "ps:autosleep")]
    PsAutosleep {
        #[arg(value_parser = ["on", "off"])]
        switch: Option<String>,
        /// Idle time before the app sleeps: 90s, 30m, 2h [default: 30m]
        #[arg(long)]
        after: Option<String>,
        /// Process types that keep running while the app sleeps (e.g. worker)
        #[arg(long, value_delimiter = ',')]
        keep: Vec<String>,
    },
    /// List custom domains
    Domains,
    /// Add a custom domain
    #[command(name = "domains:add")]
    DomainsAdd { hostname: String },
    /// Remove a custom domain
    #[command(name = "domains:remove")]
    DomainsRemove { hostname: String },
    #[command(flatten)]
    Certs(certs::CertsCommand),
    #[command(flatten)]
    Addons(addons::AddonsCommand),
    #[command(flatten)]
    Backups(backups::BackupsCommand),
    #[command(flatten)]
    Pg(pg::PgCommand),
    #[command(flatten)]
    ReviewApps(reviewapps::ReviewAppsCommand),
    #[command(flatten)]
    Nodes(nodes::NodesCommand),
    /// psql attached to this terminal (or piped SQL), on the app's Postgres add-on
    #[command(name = "pg:psql")]
    PgPsql {
        /// The add-on (or attachment name) [default: DATABASE]
        addon: Option<String>,
    },
    /// redis-cli attached to this terminal (or piped commands), on the app's Redis add-on
    #[command(name = "redis:cli")]
    RedisCli {
        /// The add-on (or attachment name) [default: REDIS]
        addon: Option<String>,
    },
    /// List who can use an app
    Access,
    /// Let a user see and change an app
    #[command(name = "access:add")]
    AccessAdd { user: String },
    /// Take a user's access to an app away
    #[command(name = "access:remove")]
    AccessRemove { user: String },
    /// List users (admins)
    Users,
    /// Create a user (admins); prints a generated password unless --password is given
    #[command(name = "users:create")]
    UsersCreate {
        name: String,
        #[arg(long)]
        admin: bool,
        /// Ask for the password instead of generating one
        #[arg(long)]
        password: bool,
    },
    /// Set a user's password (your own with the current one, or anyone's as an admin);
    /// their web sessions end
    #[command(name = "users:passwd")]
    UsersPasswd {
        name: Option<String>,
        /// Also revoke every API token of the user
        #[arg(long)]
        revoke_tokens: bool,
    },
    /// Remove a user (admins): their tokens and sessions end at once
    #[command(name = "users:destroy")]
    UsersDestroy {
        name: String,
        /// The user's name again, to confirm
        #[arg(long)]
        confirm: Option<String>,
    },
    /// List API tokens
    Tokens,
    /// Create an API token (shown once)
    #[command(name = "tokens:create")]
    TokensCreate { name: String },
    /// Revoke an API token
    #[command(name = "tokens:revoke")]
    TokensRevoke { id: i64 },
    /// Show the audit trail (of one app with -a)
    Events,
    /// List builds
    Builds,
    /// Show a build and its log (default: the latest)
    #[command(name = "builds:info")]
    BuildsInfo { id: Option<i64> },
    /// Stop the app's running build
    #[command(name = "builds:cancel")]
    BuildsCancel,
    /// Show recent log lines of the app and the platform
    Logs {
        /// Keep following new lines
        #[arg(short = 't', long)]
        tail: bool,
        /// How many recent lines
        #[arg(short = 'n', long = "num", default_value_t = 100)]
        num: usize,
        /// Only this process (web.1) or type (web)
        #[arg(long)]
        ps: Option<String>,
        /// Only app, paas, addon or cron lines
        #[arg(long)]
        source: Option<String>,
    },
    /// Show requests per status class, response times, restarts, memory and CPU
    Metrics {
        /// How far back: 1h (a point per sample) or 24h (a point per five minutes)
        #[arg(long, default_value = "1h")]
        range: String,
    },
    /// Run a one-off command in a new process of the current release
    Run {
        /// Start it and return, leaving it to run
        #[arg(short = 'd', long)]
        detach: bool,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List the app.json cron jobs of the current release: ID, schedule, next and last run
    Cron,
    /// Run a cron job now (refused while it is still running)
    #[command(name = "cron:run")]
    CronRun {
        /// The job's ID (see paas cron)
        id: String,
    },
    /// Build the stack and add-on images from Debian packages on this host (root, Docker engine)
    #[command(name = "stack:build")]
    StackBuild {
        /// Rebuild even if the images are current
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        settings: Settings,
    },
    /// Add or fix the `paas` git remote of this repository
    #[command(name = "git:remote")]
    GitRemote,
    /// Show or set the branch whose pushes deploy (default main, with master accepted)
    #[command(name = "git:deploy-branch")]
    GitDeployBranch { branch: Option<String> },
    /// git credential helper (git runs this; see paas login)
    #[command(name = "git:credential", hide = true)]
    GitCredential { operation: String },
}

/// What every topic needs: the parsed flags and a client for the current server.
pub struct Ctx {
    pub app_flag: Option<String>,
    pub json: bool,
    pub client: Client,
}

impl Ctx {
    fn new(app_flag: Option<String>, json: bool) -> Result<Ctx> {
        let target = credentials::Credentials::load()?.target()?;
        Ok(Ctx {
            app_flag,
            json,
            client: Client::new(target)?,
        })
    }

    /// `-a APP`, else the app of the `paas` git remote of the current directory.
    pub fn app(&self) -> Result<String> {
        if let Some(app) = &self.app_flag {
            return Ok(app.clone());
        }
        match git_remote::app_from_remote() {
            Some(app) => Ok(app),
            None => bail!(
                "no app given: add -a APP, or run inside a repo with a paas git remote (paas git:remote -a APP)"
            ),
        }
    }
}

/// Runs a client command (everything but `server`).
pub async fn run(cli: Cli) -> Result<i32> {
    use Command::*;
    let Cli { app, json, command } = cli;
    match command {
        Server(_) => bail!("paas server is started by main"),
        Login { url, token, user } => login::login(url, token, user).await,
        Logout => login::logout(),
        GitCredential { operation } => login::git_credential(&operation),
        StackBuild { .. } => bail!("paas stack:build is run by main"),
        Run { detach, command } => return run::run(&Ctx::new(app, json)?, &command, detach).await,
        PgPsql { addon } => {
            return run::addon_client(&Ctx::new(app, json)?, "postgres", addon).await;
        }
        RedisCli { addon } => {
            return run::addon_client(&Ctx::new(app, json)?, "redis", addon).await;
        }
        command => {
            let ctx = Ctx::new(app, json)?;
            dispatch(&ctx, command).await
        }
    }
    .map(|()| 0)
}

async fn dispatch(ctx: &Ctx, command: Command) -> Result<()> {
    use Command::*;
    match command {
        Whoami => login::whoami(ctx).await,
        Apps => apps::list(ctx).await,
        AppsCreate { name } => apps::create(ctx, &name).await,
        AppsInfo { name } => apps::info(ctx, name).await,
        AppsDestroy { name, confirm } => apps::destroy(ctx, name, confirm).await,
        GitRemote => apps::git_remote(ctx).await,
        GitDeployBranch { branch } => apps::deploy_branch(ctx, branch).await,
        Maintenance => apps::maintenance(ctx, None).await,
        MaintenanceOn => apps::maintenance(ctx, Some(true)).await,
        MaintenanceOff => apps::maintenance(ctx, Some(false)).await,
        Config { global, shell } => config::show(ctx, global, shell).await,
        ConfigGet { key, global } => config::get(ctx, &key, global).await,
        ConfigSet {
            pairs,
            global,
            encoded,
            no_wait,
        } => config::set(ctx, &pairs, global, encoded, no_wait).await,
        ConfigUnset {
            keys,
            global,
            no_wait,
        } => config::unset(ctx, &keys, global, no_wait).await,
        Releases => releases::list(ctx).await,
        ReleasesInfo { version } => releases::info(ctx, &version).await,
        Rollback { version, no_wait } => releases::rollback(ctx, version, no_wait).await,
        Ps => ps::show(ctx).await,
        PsScale { pairs, no_wait } => ps::scale(ctx, &pairs, no_wait).await,
        PsRestart {
            process_type,
            no_wait,
        } => ps::restart(ctx, process_type, no_wait).await,
        PsResize { pairs } => ps::resize(ctx, &pairs).await,
        PsAutosleep {
            switch,
            after,
            keep,
        } => autosleep::run(ctx, switch.as_deref(), after, keep).await,
        Domains => domains::list(ctx).await,
        DomainsAdd { hostname } => domains::add(ctx, &hostname).await,
        DomainsRemove { hostname } => domains::remove(ctx, &hostname).await,
        Certs(command) => certs::run(ctx, command).await,
        Addons(command) => addons::run(ctx, command).await,
        Backups(command) => backups::run(ctx, command).await,
        Pg(command) => pg::run(ctx, command).await,
        ReviewApps(command) => reviewapps::run(ctx, command).await,
        Nodes(command) => nodes::run(ctx, command).await,
        Access => access::list(ctx).await,
        AccessAdd { user } => access::add(ctx, &user).await,
        AccessRemove { user } => access::remove(ctx, &user).await,
        AppsTransfer { user } => access::transfer(ctx, &user).await,
        Users => users::list(ctx).await,
        UsersCreate {
            name,
            admin,
            password,
        } => users::create(ctx, &name, admin, password).await,
        UsersPasswd {
            name,
            revoke_tokens,
        } => users::passwd(ctx, name, revoke_tokens).await,
        UsersDestroy { name, confirm } => users::destroy(ctx, &name, confirm).await,
        Tokens => tokens::list(ctx).await,
        TokensCreate { name } => tokens::create(ctx, &name).await,
        TokensRevoke { id } => tokens::revoke(ctx, id).await,
        Events => events::list(ctx).await,
        Cron => cron::list(ctx).await,
        CronRun { id } => cron::run(ctx, &id).await,
        Builds => builds::list(ctx).await,
        BuildsInfo { id } => builds::info(ctx, id).await,
        BuildsCancel => builds::cancel(ctx).await,
        Logs {
            tail,
            num,
            ps,
            source,
        } => logs::show(ctx, tail, num, ps, source).await,
        Metrics { range } => metrics::show(ctx, &range).await,
        Server(_)
        | Login { .. }
        | Logout
        | GitCredential { .. }
        | StackBuild { .. }
        | Run { .. }
        | PgPsql { .. }
        | RedisCli { .. } => {
            bail!("this command does not talk to a server")
        }
    }
}

/// `/api/v1/apps/NAME` for the app in context.
pub fn app_path(app: &str) -> String {
    format!("/api/v1/apps/{app}")
}
