//! `hotline`: the whole contact centre in one binary.

mod log_metrics;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};
use hotline_config::{Config, LogFormat};
use hotline_switch::confdoc::Docs;
use prometheus_client::registry::Registry;
use tracing::{error, info, warn};

mod cluster;
mod http;
mod lograte;

#[derive(Parser)]
#[command(name = "hotline", version, about = "An open-source contact centre")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the built-in demo centre (SQLite in DIR, SIP on UDP+TCP, HTTP).
    Demo {
        /// Where data is kept.
        #[arg(long, default_value = "./hotline-data")]
        data: PathBuf,
        /// SIP listen address (UDP and TCP); port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:5060")]
        sip: SocketAddr,
        /// HTTP listen address; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: SocketAddr,
    },
    /// Run a centre from a configuration file.
    Serve {
        #[arg(long)]
        config: PathBuf,
        /// Overrides `storage.data_dir`.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Overrides `sip.listen`.
        #[arg(long)]
        sip: Option<SocketAddr>,
        /// Overrides `http.listen`.
        #[arg(long)]
        http: Option<SocketAddr>,
    },
    /// Check a configuration file: exit 0 if valid, 2 with file:line:column, key and reason.
    CheckConfig { file: PathBuf },
    /// Write the live configuration (the files with the live changes kept in the data
    /// directory's log) as TOML that `check-config` accepts: the centre file to standard
    /// output, or `DIR/hotline.toml` and `DIR/flows.toml` with `--out DIR`.
    ExportConfig {
        /// The centre's configuration file; the built-in demo when absent.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The data directory (as `demo --data` or `storage.data_dir`); the centre must not
        /// be running on it.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Write `hotline.toml` and `flows.toml` into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the HA1 digests (MD5 and SHA-256) of a SIP password read from standard input.
    Ha1 {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "hotline")]
        realm: String,
    },
    /// Print the argon2 hash of an API user's password read from standard input.
    HashPassword,
    /// Erlang C, or Erlang A with --patience: one JSON object on standard output.
    Erlang {
        /// Calls per hour.
        #[arg(long)]
        rate: f64,
        /// Mean handle time, seconds.
        #[arg(long)]
        aht: f64,
        /// Agents.
        #[arg(long)]
        agents: u32,
        /// Service-level threshold: answered within this many seconds.
        #[arg(long)]
        target: f64,
        /// Mean patience of callers, seconds (exponential): Erlang A.
        #[arg(long)]
        patience: Option<f64>,
    },
    /// Run a simulation scenario (TOML) through the routing engine: one JSON report.
    Sim { file: PathBuf },
    /// Import customers from CSV (`id,name,phone[,accounts,vip,language,pin_hash]`; several
    /// phones or accounts separated by `;`; `pin_hash` from `hotline hash-password`) into the centre's data directory. Bad rows are reported
    /// by line and skipped; exit 2 if any row was rejected.
    ImportCustomers {
        file: PathBuf,
        /// The data directory (as `demo --data` or `storage.data_dir`); the centre must not
        /// be running on it.
        #[arg(long, default_value = "./hotline-data")]
        data: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { data, sip, http } => match Docs::demo().check() {
            Ok((cfg, flows)) => run(cfg, flows, Some(data), Some(sip), Some(http), None),
            Err(e) => fail(&e.message),
        },
        Command::Serve {
            config,
            data,
            sip,
            http,
        } => match load(&config) {
            Ok((mut cfg, flows)) => {
                // Prompts and knowledge-base articles, like flows, are found relative
                // to the configuration file; articles in `kb/` beside it by default.
                let base = config.parent().unwrap_or(std::path::Path::new("."));
                if let Some(p) = &cfg.centre.prompts {
                    cfg.centre.prompts = Some(base.join(p).display().to_string());
                }
                let kb = cfg.centre.knowledge.as_deref().unwrap_or("kb");
                cfg.centre.knowledge = Some(base.join(kb).display().to_string());
                run(cfg, flows, data, sip, http, Some(config))
            }
            Err(e) => fail(&e),
        },
        Command::CheckConfig { file } => match load(&file) {
            Ok((cfg, _)) => {
                println!(
                    "{}: valid ({} agents, {} queues, {} trunks, {} users)",
                    file.display(),
                    cfg.agents.len(),
                    cfg.queues.len(),
                    cfg.trunks.len(),
                    cfg.users.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::ExportConfig { config, data, out } => export_config(config, data, out),
        Command::Ha1 { user, realm } => {
            let Some(pw) = read_secret() else {
                return fail("no password on standard input");
            };
            use hotline_sip::digest::{Algorithm, ha1};
            println!("ha1_md5 = \"{}\"", ha1(Algorithm::Md5, &user, &realm, &pw));
            println!(
                "ha1_sha256 = \"{}\"",
                ha1(Algorithm::Sha256, &user, &realm, &pw)
            );
            ExitCode::SUCCESS
        }
        Command::ImportCustomers { file, data } => import_customers(&file, &data),
        Command::HashPassword => {
            let Some(pw) = read_secret() else {
                return fail("no password on standard input");
            };
            use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
            let salt = SaltString::generate(&mut OsRng);
            match argon2::Argon2::default().hash_password(pw.as_bytes(), &salt) {
                Ok(h) => {
                    println!("password_hash = \"{h}\"");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&format!("cannot hash: {e}")),
            }
        }
        Command::Erlang {
            rate,
            aht,
            agents,
            target,
            patience,
        } => {
            match hotline_sim::run_erlang_cli(rate, aht, agents, target, patience)
                .map_err(|e| e.to_string())
                .and_then(|r| serde_json::to_string(&r).map_err(|e| e.to_string()))
            {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Command::Sim { file } => match hotline_sim::run_scenario_file(&file)
            .map_err(|e| e.to_string())
            .and_then(|r| serde_json::to_string(&r).map_err(|e| e.to_string()))
        {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

/// The event log's database as configured: PostgreSQL (`storage.database`, the password from
/// `storage.password_env`) or the SQLite file in the data directory.
fn database_of(
    cfg: &Config,
    data_dir: &std::path::Path,
) -> Result<hotline_store::Database, String> {
    let Some(url) = cfg.storage.postgres_url() else {
        return Ok(hotline_store::Database::Sqlite(data_dir.join("hotline.db")));
    };
    let mut target =
        hotline_store::PgTarget::parse(url).map_err(|e| format!("storage.database: {e}"))?;
    if let Some(var) = &cfg.storage.password_env {
        let password = std::env::var(var.get_ref()).map_err(|_| {
            format!(
                "storage.password_env: the environment variable {} is not set",
                var.get_ref()
            )
        })?;
        target = target.with_password(&password);
    }
    Ok(hotline_store::Database::Postgres(Box::new(target)))
}

/// The database for messages (a URL without its password).
fn describe(db: &hotline_store::Database) -> String {
    match db {
        hotline_store::Database::Sqlite(file) => file.display().to_string(),
        hotline_store::Database::Postgres(target) => target.to_string(),
    }
}

fn import_customers(file: &std::path::Path, data: &std::path::Path) -> ExitCode {
    let input = match std::fs::File::open(file) {
        Ok(f) => std::io::BufReader::new(f),
        Err(e) => return fail(&format!("{}: cannot read: {e}", file.display())),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    rt.block_on(async {
        let store = match hotline_store::Store::open(data.join("hotline.db")).await {
            Ok(s) => s,
            Err(e) => return fail(&format!("cannot open the data in {}: {e}", data.display())),
        };
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} customers")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let report = store
            .import_customers_csv(input, "cli", |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })
            .await;
        bar.finish_and_clear();
        store.close().await;
        match report {
            Ok(r) => {
                println!(
                    "{}: {} customers imported, {} rows rejected",
                    file.display(),
                    r.imported,
                    r.rejected.len()
                );
                for rej in &r.rejected {
                    eprintln!("{}:{}: {}", file.display(), rej.line, rej.reason);
                }
                if r.rejected.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(2)
                }
            }
            Err(e) => fail(&format!("{}: {e}", file.display())),
        }
    })
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("hotline: {msg}");
    ExitCode::from(2)
}

fn read_secret() -> Option<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok()?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    (!pw.is_empty()).then_some(pw)
}

fn init_logging(cfg: &Config) -> lograte::WarnLimiter {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // The SIP stack logs every packet at info; only its warnings matter to an operator.
    let filter = std::env::var("HOTLINE_LOG")
        .ok()
        .or_else(|| cfg.log.filter.clone())
        .unwrap_or_else(|| "info,rsipstack=warn".to_string());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let json = std::env::var("HOTLINE_LOG_FORMAT").is_ok_and(|v| v == "json")
        || cfg.log.format == LogFormat::Json;
    let limiter = lograte::WarnLimiter::new(std::time::Duration::from_secs(
        cfg.log.repeat_interval_seconds.max(1),
    ));
    if json {
        builder.json().finish().with(limiter.clone()).init();
    } else {
        builder.finish().with(limiter.clone()).init();
    }
    limiter
}

/// Reports the warnings [`lograte`] held back, one line per source, once an interval.
async fn report_held_back_warnings(limiter: lograte::WarnLimiter, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let held = limiter.limiter.lock().drain(std::time::Instant::now());
        for (source, count) in held {
            warn!(%source, suppressed = count, "repeated SIP stack warnings held back from the log");
        }
    }
}

/// Gives memory freed after a burst (a flood of SIP requests, a wave of logins) back to the
/// system: glibc keeps freed heap pages in its arenas otherwise, and a process that once
/// peaked stays at its peak.
async fn return_freed_memory() {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
    loop {
        tick.tick().await;
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        let _ = tokio::task::spawn_blocking(|| {
            // SAFETY: malloc_trim only releases free memory of the allocator's own arenas;
            // it takes no pointers and is safe to call from any thread at any time.
            unsafe { libc::malloc_trim(0) }
        })
        .await;
    }
}

/// The configuration file at `path` and its contact flows (`centre.flows`, relative to it,
/// or the built-in demo flows), validated as one (see [`Docs::check`]: the same checks as a
/// live change). Errors name the file, line and key.
fn load(path: &std::path::Path) -> Result<(Config, hotline_flow::FlowSet), String> {
    Docs::read(path)?.check().map_err(|e| e.message)
}

/// `hotline export-config`: the files (or the demo), with the live changes in the data
/// directory's log put back as at a start (see [`hotline_switch::confdoc::restore`]).
fn export_config(config: Option<PathBuf>, data: Option<PathBuf>, out: Option<PathBuf>) -> ExitCode {
    use hotline_switch::confdoc;
    let files = match &config {
        Some(p) => Docs::read(p),
        None => Ok(Docs::demo()),
    };
    let files = match files {
        Ok(f) => f,
        Err(e) => return fail(&e),
    };
    let cfg = match files.check() {
        Ok((cfg, _)) => cfg,
        Err(e) => return fail(&e.message),
    };
    let data = data.unwrap_or_else(|| PathBuf::from(&cfg.storage.data_dir));
    let db = match database_of(&cfg, &data) {
        Ok(db) => db,
        Err(e) => return fail(&e),
    };
    let live = if match &db {
        hotline_store::Database::Sqlite(file) => file.exists(),
        hotline_store::Database::Postgres(_) => true,
    } {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return fail(&format!("cannot start the runtime: {e}")),
        };
        let latest = rt.block_on(async {
            // Only read: the calls a running node has in progress are not closed.
            let options = hotline_store::StoreOptions {
                recover: false,
                ..hotline_store::StoreOptions::default()
            };
            let store = hotline_store::Store::open_database(&db, options)
                .await
                .map_err(|e| format!("cannot open the data in {}: {e}", describe(&db)))?;
            let mut latest = Vec::new();
            for action in [confdoc::CONFIG_ACTION, hotline_switch::live::SKILLS_ACTION] {
                match store.latest_audit(action).await {
                    Ok(l) => latest.extend(l),
                    Err(e) => {
                        store.close().await;
                        return Err(format!("cannot read the live changes: {e}"));
                    }
                }
            }
            store.close().await;
            Ok::<_, String>(latest)
        });
        let latest = match latest {
            Ok(l) => l,
            Err(e) => return fail(&e),
        };
        let (live, aside) = confdoc::restore(&files, &latest);
        for (target, why) in aside {
            eprintln!("hotline: {target}: not exported: {why}");
        }
        live
    } else {
        eprintln!(
            "hotline: no data in {}: the files are written as they are",
            data.display()
        );
        files
    };
    if let Err(e) = live.check() {
        return fail(&format!(
            "the live configuration is not valid: {}",
            e.message
        ));
    }
    let (centre, flows) = live.to_toml();
    match out {
        None => {
            if centre.contains(confdoc::FLOWS_FILE) {
                eprintln!(
                    "hotline: the centre names its flows file `{}`: write both with --out DIR",
                    confdoc::FLOWS_FILE
                );
            }
            print!("{centre}");
            ExitCode::SUCCESS
        }
        Some(dir) => {
            let write = |name: &str, text: &str| {
                let p = dir.join(name);
                std::fs::write(&p, text).map_err(|e| format!("{}: cannot write: {e}", p.display()))
            };
            match std::fs::create_dir_all(&dir)
                .map_err(|e| format!("{}: cannot create: {e}", dir.display()))
                .and_then(|()| write("hotline.toml", &centre))
                .and_then(|()| write(confdoc::FLOWS_FILE, &flows))
            {
                Ok(()) => {
                    println!(
                        "{}: hotline.toml and {} written",
                        dir.display(),
                        confdoc::FLOWS_FILE
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
    }
}

fn run(
    mut cfg: Config,
    flows: hotline_flow::FlowSet,
    data: Option<PathBuf>,
    sip: Option<SocketAddr>,
    http: Option<SocketAddr>,
    path: Option<PathBuf>,
) -> ExitCode {
    if let Some(d) = data {
        cfg.storage.data_dir = d.display().to_string();
    }
    if let Some(s) = sip {
        cfg.sip.listen = s;
    }
    if let Some(h) = http {
        cfg.http.listen = h;
    }
    let limiter = init_logging(&cfg);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match rt.block_on(serve(cfg, flows, limiter, path)) {
        Ok(Stopped::Done) => ExitCode::SUCCESS,
        Ok(Stopped::SteppedDown) => ExitCode::from(cluster::STEPPED_DOWN),
        Err(e) => {
            error!("{e}");
            fail(&e)
        }
    }
}

/// How a node stopped.
enum Stopped {
    /// Asked to (a signal), or a standby stopped before it led.
    Done,
    /// It lost the routing lease: another node answers calls now (fail-stop).
    SteppedDown,
}

/// A node of a pair that waited as the standby (`[cluster]`: SIP and HTTP up, new calls and
/// registrations refused, nothing written) and now holds the routing lease.
struct Standby {
    node: cluster::Node,
    sip: SipUp,
    over: TakingOver,
}

/// What a standby that holds the lease takes into leading (its keeper runs on its own).
struct TakingOver {
    name: String,
    lease: hotline_store::Lease,
    http: HttpUp,
    /// When the lease was taken: a takeover's cost is measured from here.
    took: std::time::Instant,
}

/// The SIP server and the calls it hands over.
type SipUp = (
    hotline_sip::SipServer,
    tokio::sync::mpsc::UnboundedReceiver<hotline_sip::calls::IncomingCall>,
);

/// The HTTP server: its task, its address, and the application it serves (swapped when a
/// standby takes over).
struct HttpUp {
    task: tokio::task::JoinHandle<()>,
    addr: SocketAddr,
    app: tokio::sync::watch::Sender<axum::Router>,
    /// What a standby serves: put back when a leader stops on losing its lease.
    standby: Option<axum::Router>,
}

async fn bind_http(cfg: &Config) -> Result<(tokio::net::TcpListener, SocketAddr), String> {
    let listener = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .map_err(|e| format!("cannot listen for HTTP on {}: {e}", cfg.http.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("HTTP listener: {e}"))?;
    Ok((listener, addr))
}

async fn start_sip(cfg: &Config, metrics: &hotline_sip::SipMetrics) -> Result<SipUp, String> {
    let (calls_tx, calls_rx) = tokio::sync::mpsc::unbounded_channel();
    let sip = hotline_sip::SipServer::start_with_calls(
        cfg,
        cfg.sip.listen,
        metrics.clone(),
        Some(calls_tx),
    )
    .await
    .map_err(|e| format!("cannot listen for SIP on {}: {e}", cfg.sip.listen))?;
    Ok((sip, calls_rx))
}

/// Starts a node of a pair as a standby and waits until it holds the routing lease (`None`:
/// stopped by a signal first).
#[allow(clippy::too_many_arguments)]
async fn stand_by(
    cfg: &Config,
    cluster_cfg: &hotline_config::Cluster,
    database: &hotline_store::Database,
    sip_metrics: &hotline_sip::SipMetrics,
    cluster_metrics: &cluster::Metrics,
    api: hotline_api::ApiState,
    signals: &mut Signals,
) -> Result<Option<Standby>, String> {
    // Up as a standby (`[cluster]`): everything is refused until this node leads.
    let (sip, calls_rx) = start_sip(cfg, sip_metrics).await?;
    let mut registry = Registry::default();
    sip_metrics.register(&mut registry);
    cluster_metrics.register(&mut registry);
    registry.register_collector(Box::new(sip.transaction_gauges()));
    let limits = http::Limits::from_config(&cfg.http);
    let (listener, http_addr) = bind_http(cfg).await?;
    let standby_app = http::with_body_timeout(
        hotline_api::standby_router(hotline_api::ApiState {
            registry: Arc::new(registry),
            ..api
        }),
        limits.body_timeout,
    );
    let (app, app_rx) = tokio::sync::watch::channel(standby_app.clone());
    let http_task = tokio::spawn(http::serve(listener, app_rx, limits));
    let (ttl, renew_every, margin) = cluster_cfg.timing();
    let mut node = cluster::Node::new(
        cluster_cfg.node.clone(),
        hotline_switch::role::LeaseTiming {
            ttl,
            renew_every,
            margin,
        },
        hotline_store::LeaseClient::new(database),
        cluster_metrics.clone(),
    );
    // A node that finds the lease free leads at once; otherwise it says it waits.
    let lease = match node.ask_once().await {
        Some(lease) => lease,
        None => {
            match node.holder().await {
                Some(l) => {
                    info!(node = %node.name, leader = %l.holder, epoch = l.epoch, "standby: waiting for the routing lease")
                }
                None => info!(node = %node.name, "standby: waiting for the routing lease"),
            }
            println!(
                "hotline standby sip={} http={} node={}",
                sip.udp_addr, http_addr, node.name
            );
            tokio::select! {
                lease = node.until_leading() => lease,
                _ = signals.next() => {
                    info!("stopped while a standby");
                    sip.shutdown();
                    return Ok(None);
                }
            }
        }
    };
    info!(node = %node.name, epoch = lease.epoch, "this node holds the routing lease: taking over");
    Ok(Some(Standby {
        over: TakingOver {
            name: node.name.clone(),
            lease,
            http: HttpUp {
                task: http_task,
                addr: http_addr,
                app,
                standby: Some(standby_app),
            },
            took: std::time::Instant::now(),
        },
        node,
        sip: (sip, calls_rx),
    }))
}

async fn serve(
    cfg: Config,
    flows: hotline_flow::FlowSet,
    limiter: lograte::WarnLimiter,
    path: Option<PathBuf>,
) -> Result<Stopped, String> {
    // SIGHUP reads the file again (its default would end the process): taken from the start.
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| format!("SIGHUP: {e}"))?;
    // A standby stops on SIGTERM; a single node's start may be cut short by it (the signals
    // are taken from when it is ready).
    let mut signals = match &cfg.cluster {
        Some(_) => Some(Signals::new()?),
        None => None,
    };
    tokio::spawn(report_held_back_warnings(
        limiter,
        std::time::Duration::from_secs(cfg.log.repeat_interval_seconds.max(1)),
    ));
    tokio::spawn(return_freed_memory());
    std::fs::create_dir_all(&cfg.storage.data_dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", cfg.storage.data_dir))?;
    let mut registry = Registry::default();
    let sip_metrics = hotline_sip::SipMetrics::default();
    sip_metrics.register(&mut registry);
    let cluster_metrics = cluster::Metrics::new();
    let draining = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let api = hotline_api::ApiState {
        registry: Arc::new(Registry::default()),
        ready: ready.clone(),
        draining: draining.clone(),
        metrics_token: cfg.http.metrics_token.as_deref().map(Arc::from),
    };

    let data_dir = PathBuf::from(&cfg.storage.data_dir);
    let database = database_of(&cfg, &data_dir)?;
    // A node of a pair waits as a standby until it holds the routing lease.
    let standby = match cfg.cluster.as_ref().map(|c| c.get_ref()) {
        Some(c) => {
            cluster_metrics.register(&mut registry);
            let Some(signals) = signals.as_mut() else {
                return Err("no signal handling for the standby".into());
            };
            match stand_by(
                &cfg,
                c,
                &database,
                &sip_metrics,
                &cluster_metrics,
                api.clone(),
                signals,
            )
            .await?
            {
                Some(s) => Some(s),
                None => return Ok(Stopped::Done),
            }
        }
        None => None,
    };
    // The lease is kept from the moment it is held, through the takeover and as long as
    // this node runs: `role` says whether it still leads.
    let (mut role, standby) = match standby {
        Some(Standby { node, sip, over }) => {
            let (tx, rx) = tokio::sync::watch::channel(cluster::Role::Leading {
                epoch: over.lease.epoch,
            });
            let release = node.releaser();
            tokio::spawn(node.keep(tx));
            (Some((rx, release)), Some((sip, over)))
        }
        None => (None, None),
    };
    let clustered = standby.is_some();
    // A node without `[cluster]` on the log of a running pair would close the leader's calls
    // and write beside it, unfenced: refused.
    if !clustered && matches!(database, hotline_store::Database::Postgres(_)) {
        let leases = hotline_store::LeaseClient::new(&database);
        if let Ok(Ok(Some(l))) = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            leases.read(cluster::LEASE),
        )
        .await
            && l.expires > hotline_model::Timestamp::now()
        {
            return Err(format!(
                "the event log in {} belongs to a pair of nodes ({} leads it, epoch {}): a node on it needs [cluster]",
                describe(&database),
                l.holder,
                l.epoch
            ));
        }
    }
    let led = async {
    let options = hotline_store::StoreOptions {
        // The leader's writes, from the first (closing the calls its predecessor left open),
        // count only while it holds the lease.
        fence: standby.as_ref().map(|(_, over)| over.lease.clone()),
        ..hotline_store::StoreOptions::default()
    };
    let store = match hotline_store::Store::open_database(&database, options).await {
        Ok(s) => s,
        Err(hotline_store::Error::Fenced { epoch, .. }) => {
            error!(
                epoch,
                "the routing lease was taken over while this node took over: stopping, to start again as a standby"
            );
            return Ok(Stopped::SteppedDown);
        }
        Err(e) => {
            return Err(format!(
                "cannot open the event log in {}: {e}",
                describe(&database)
            ));
        }
    };
    info!(database = %describe(&database), "event log open");
    // The key the API signs its tokens with: the log's, so that every node of a pair (and
    // this one after a restart) honours the same tokens.
    let token_key = match store.secret("api_tokens").await {
        Ok(Some(key)) if key.len() >= 16 => key,
        Ok(_) => return Err("the event log has no api_tokens secret".to_string()),
        Err(e) => return Err(format!("cannot read the event log's secrets: {e}")),
    };
    // The configuration to run: the files, then the log's live changes on top of them.
    let (cfg, flows, docs) = live_configuration(cfg, flows, path, &store).await?;
    let recovered = store.recovery().interrupted.len();
    if recovered > 0 {
        info!(
            recovered,
            "closed interactions cut off by the last stop as interrupted"
        );
    }
    let prompts = match &cfg.centre.prompts {
        Some(dir) => hotline_media::player::PromptLibrary::load(std::path::Path::new(dir)),
        None => hotline_media::player::PromptLibrary::embedded(),
    }
    .map_err(|e| format!("cannot load the prompts: {e}"))?;
    registry.register_collector(Box::new(log_metrics::LogMetrics(store.clone())));
    let (port_min, port_max) = cfg.media.rtp_port_range();
    let media = hotline_media::MediaEngine::new(hotline_media::EngineConfig {
        bind_ip: cfg.sip.listen.ip(),
        port_min,
        port_max,
        call: media_call_config(&cfg),
        ..hotline_media::EngineConfig::default()
    });
    let trunk = hotline_switch::trunk::OutboundTrunk::from_config(&cfg, |v| std::env::var(v).ok())?;

    let ((sip, calls_rx), leading) = match standby {
        Some((sip, over)) => {
            // Up since the standby began: brought to the live configuration just read.
            hotline_switch::apply::sip_items(&sip.0, &cfg);
            (sip, Some(over))
        }
        None => (start_sip(&cfg, &sip_metrics).await?, None),
    };
    registry.register_collector(Box::new(sip.transaction_gauges()));
    if let Some(t) = &trunk
        && let (Some(expires), Some((user, password))) = (t.register, &t.credential)
    {
        sip.register_with_carrier(t.address, user.clone(), password.clone(), expires);
    }
    // The phones registered before the last stop (or with the node that led before) are
    // rung at once, without waiting for them to register again; from now on every change
    // is kept.
    match hotline_switch::restore_registrations(&sip.registrar, &store).await {
        Ok((restored, left_out)) if restored + left_out > 0 => {
            info!(
                restored,
                left_out, "phone registrations kept from before the last stop"
            )
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "cannot read the kept phone registrations"),
    }
    tokio::spawn(hotline_switch::keep_registrations(
        sip.registrar.clone(),
        store.clone(),
    ));
    let restore_agents = store
        .agent_states()
        .await
        .map_err(|e| format!("cannot read the agents' states: {e}"))?;
    let centre = hotline_switch::Centre::start(
        &cfg,
        &sip,
        calls_rx,
        media,
        Arc::new(prompts),
        Arc::new(flows),
        store.clone(),
        hotline_switch::CentreOptions {
            media_ip: cfg.sip.listen.ip(),
            recordings: data_dir.join("recordings"),
            trunk,
            max_backlog_events: cfg.storage.max_backlog_events as usize,
            behind_alert: std::time::Duration::from_secs(u64::from(
                cfg.storage.behind_alert_seconds,
            )),
            restore_agents,
            docs,
        },
    )?;
    let centre = Arc::new(centre);
    let v1 = hotline_api::v1::V1 {
        auth: Arc::new(hotline_api::v1::Auth::from_config(
            &cfg,
            &token_key,
            std::time::Duration::from_secs(12 * 3600),
        )),
        centre: centre.clone(),
        desk: Arc::new(hotline_api::desk::Desk::from_config(&cfg)),
        queue_feed: hotline_api::queue_feed::QueueFeed::new(),
        workforce: hotline_api::workforce::Plans::new(),
    };
    let limits = http::Limits::from_config(&cfg.http);
    #[cfg(unix)]
    {
        let v1 = v1.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                info!("SIGHUP: reading the configuration file again");
                match v1.reload().await {
                    Ok(r) => {
                        info!(
                            changes = r.applied.len(),
                            restart_only = ?r.restart_only,
                            "configuration file read again; its changes are in effect"
                        );
                    }
                    Err(e) => error!("the configuration file was not read again: {e}"),
                }
            }
        });
    }
    let app = http::with_body_timeout(
        hotline_api::router(
            hotline_api::ApiState {
                registry: Arc::new(registry),
                ..api
            },
            Some(v1),
        ),
        limits.body_timeout,
    );
    let http = match leading {
        Some(TakingOver {
            name,
            lease,
            mut http,
            took,
        }) => {
            // Still the leader after the takeover (a pause, a lost database meanwhile)?
            if let Some((role, _)) = &role
                && !matches!(*role.borrow(), cluster::Role::Leading { .. })
            {
                let now = role.borrow().clone();
                error!(?now, "the routing lease was not kept through the takeover: stopping, to start again as a standby");
                return Ok(Stopped::SteppedDown);
            }
            let ms = took.elapsed().as_millis();
            let mut audit = hotline_model::AuditEvent::new(
                hotline_model::Timestamp::now(),
                "cluster",
                "node_leads",
                name.clone(),
            );
            audit.detail = Some(format!(
                "epoch {}; {recovered} interactions of the node before closed as interrupted; took over in {ms} ms",
                lease.epoch
            ));
            store
                .submit(vec![hotline_model::Event::Audit(audit)])
                .await
                .map_err(|e| format!("cannot log the takeover: {e}"))?;
            let standby_app = http.app.send_replace(app);
            http.standby = Some(standby_app);
            sip.calls.set_standby(false);
            info!(node = %name, epoch = lease.epoch, interrupted = recovered, took_ms = ms as u64, "this node leads: it answers calls");
            http
        }
        None => {
            let (listener, addr) = bind_http(&cfg).await?;
            let (app, app_rx) = tokio::sync::watch::channel(app);
            let task = tokio::spawn(http::serve(listener, app_rx, limits));
            HttpUp {
                task,
                addr,
                app,
                standby: None,
            }
        }
    };
    ready.store(true, Ordering::Release);
    info!(centre = %cfg.centre.name, sip = %sip.udp_addr, http = %http.addr, "ready");
    // One line on stdout that scripts and tests wait for.
    println!("hotline ready sip={} http={}", sip.udp_addr, http.addr);

    let mut signals = match signals.take() {
        Some(s) => s,
        None => Signals::new()?,
    };
    let HttpUp {
        task: http_task,
        app: http_app,
        standby: standby_app,
        ..
    } = http;
    let stepped_down = |why: &'static str| {
        let (sip, centre, draining) = (&sip, &centre, &draining);
        let (http_app, standby_app) = (&http_app, &standby_app);
        async move {
            if let Some(app) = standby_app {
                drop(http_app.send_replace(app.clone()));
            }
            draining.store(true, Ordering::Release);
            fail_stop(centre, sip, why).await;
            Ok(Stopped::SteppedDown)
        }
    };
    tokio::select! {
        r = http_task => match r {
            Ok(()) => Err("HTTP server stopped".to_string()),
            Err(e) => Err(format!("HTTP server task failed: {e}")),
        },
        _ = signals.next() => {
            let drain = std::time::Duration::from_secs(u64::from(cfg.centre.drain_seconds));
            // The lease is kept while the calls drain: the standby takes over once it is
            // given up at the end (or lost meanwhile, which ends the drain).
            let lost = tokio::select! {
                _ = drain_and_stop(&centre, &draining, drain, &mut signals) => None,
                why = lost_lease(&mut role, &sip) => Some(why),
                _ = store.until_fenced() => Some("a write was refused: another node holds the routing lease"),
            };
            if let Some(why) = lost {
                return stepped_down(why).await;
            }
            if let Some((_, release)) = &role {
                release.release().await;
            }
            sip.shutdown();
            Ok(Stopped::Done)
        }
        why = lost_lease(&mut role, &sip) => stepped_down(why).await,
        _ = store.until_fenced() => {
            stepped_down("a write was refused: another node holds the routing lease").await
        }
    }
    }
    .await;
    match led {
        // Past the lease's taking, whatever stops this node hands over to the other.
        Err(e) if clustered => {
            error!("{e}: stopping, to start again as a standby");
            Ok(Stopped::SteppedDown)
        }
        other => other,
    }
}

/// Follows the node's role, refusing new calls while the lease cannot be vouched for and
/// taking them again when it is renewed, until the lease is lost: why. Never returns for a
/// node without a lease.
async fn lost_lease(
    role: &mut Option<(
        tokio::sync::watch::Receiver<cluster::Role>,
        cluster::Release,
    )>,
    sip: &hotline_sip::SipServer,
) -> &'static str {
    let Some((role, _)) = role else {
        return std::future::pending().await;
    };
    loop {
        let now = role.borrow_and_update().clone();
        match now {
            cluster::Role::Leading { .. } => sip.calls.set_standby(false),
            cluster::Role::Suspended { .. } => sip.calls.set_standby(true),
            cluster::Role::Lost { why } => return why,
        }
        if role.changed().await.is_err() {
            return "the lease keeper stopped";
        }
    }
}

/// How long a node that lost the lease gives its calls to hang up.
const FAIL_STOP_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A leader that lost the routing lease stops at once (fail-stop): new calls and
/// registrations are refused, the calls it anchors are hung up (their records can no longer
/// be written, and the new leader has closed them as interrupted), and the process exits so
/// that the service manager starts it again as a standby. Demoting in place would have to
/// undo every piece of state a leader builds; a restart is the one path that is always
/// tested.
async fn fail_stop(centre: &hotline_switch::Centre, sip: &hotline_sip::SipServer, why: &str) {
    error!(
        why,
        calls = centre.calls_in_progress(),
        "this node no longer holds the routing lease: ending its calls and stopping, to start again as a standby"
    );
    sip.calls.set_standby(true);
    centre.stop_taking_calls(hotline_sip::calls::STANDBY_RETRY_AFTER);
    let (ended, left) = centre.end_calls(FAIL_STOP_LIMIT).await;
    info!(ended, left, "calls ended on losing the lease");
    sip.shutdown();
}

/// The configuration a start runs: the files (`path`, or the built-in demo), then each
/// item's latest live change from the log where the files have not changed that item since
/// ([`confdoc::restore`]). Settings that are not live (addresses, the data directory, paths
/// made absolute, command-line overrides) stay as `cfg` has them.
async fn live_configuration(
    cfg: Config,
    flows: hotline_flow::FlowSet,
    path: Option<PathBuf>,
    store: &hotline_store::Store,
) -> Result<
    (
        Config,
        hotline_flow::FlowSet,
        hotline_switch::liveconfig::LiveDocs,
    ),
    String,
> {
    use hotline_switch::confdoc;
    let files = match &path {
        Some(p) => Docs::read(p)?,
        None => Docs::demo(),
    };
    let mut latest = Vec::new();
    for action in [confdoc::CONFIG_ACTION, hotline_switch::live::SKILLS_ACTION] {
        latest.extend(
            store
                .latest_audit(action)
                .await
                .map_err(|e| format!("cannot read the live configuration changes: {e}"))?,
        );
    }
    let (live, aside) = confdoc::restore(&files, &latest);
    for (target, why) in aside {
        info!(%target, "a live configuration change is not applied: {why}");
    }
    let (live, (mut run_cfg, run_flows)) = match live.check() {
        Ok(checked) => (live, checked),
        Err(e) => {
            error!(
                "the live configuration changes do not fit the files ({}: {}); starting from the files alone",
                e.field, e.message
            );
            (files.clone(), (cfg.clone(), flows))
        }
    };
    hotline_switch::apply::keep_running(&mut run_cfg, &cfg);
    Ok((
        run_cfg,
        run_flows,
        hotline_switch::liveconfig::LiveDocs {
            path,
            started: files.clone(),
            files,
            live,
        },
    ))
}

/// The Retry-After of calls refused while draining: a restart takes seconds.
const DRAIN_RETRY_AFTER: u32 = 10;
/// How long ended calls get to send their BYEs, finish their recordings and log their end.
const END_CALLS_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// A graceful stop: new calls are refused (503, Retry-After), calls in progress go on for up
/// to `drain` (a second signal cuts it short), then the ones left are ended with BYE and
/// their records closed as `shutdown`; the phones' registrations and every event are then
/// written and the log closed.
async fn drain_and_stop(
    centre: &hotline_switch::Centre,
    draining: &AtomicBool,
    drain: std::time::Duration,
    signals: &mut Signals,
) {
    centre.stop_taking_calls(DRAIN_RETRY_AFTER);
    draining.store(true, Ordering::Release);
    let calls = centre.calls_in_progress();
    info!(
        calls,
        drain_seconds = drain.as_secs(),
        "draining: new calls are refused; calls in progress may finish"
    );
    tokio::select! {
        _ = centre.until_idle(std::time::Duration::from_millis(100)) => {
            info!("every call has finished");
        }
        _ = tokio::time::sleep(drain) => {
            info!(calls = centre.calls_in_progress(), "drain time over: ending the calls left");
        }
        _ = signals.next() => {
            warn!(calls = centre.calls_in_progress(), "second signal: ending the calls left now");
        }
    }
    let (ended, left) = centre.end_calls(END_CALLS_LIMIT).await;
    if ended > 0 {
        info!(ended, "calls ended by the shutdown");
    }
    if left > 0 {
        warn!(left, "calls still in progress at exit");
    }
    if let Err(e) = centre.save_registrations().await {
        warn!(error = %e, "cannot keep the phones' registrations");
    }
    centre.store().close().await;
    info!("event log closed; stopped");
}

/// Per-call media settings: the inactivity time (`centre.media_inactivity_seconds`, 0 for
/// never) and a quality sample per leg every 5 s (live to supervisors; a call logs one per
/// leg every 15 s as its proof of life), RTCP reports about every 5 s.
fn media_call_config(cfg: &Config) -> hotline_media::CallConfig {
    let secs = cfg.centre.media_inactivity_seconds;
    hotline_media::CallConfig {
        inactivity_timeout: if secs == 0 {
            // Never: far beyond any call.
            std::time::Duration::from_secs(100 * 365 * 86_400)
        } else {
            std::time::Duration::from_secs(u64::from(secs))
        },
        quality_interval: Some(std::time::Duration::from_secs(5)),
        ..hotline_media::CallConfig::default()
    }
}

/// SIGTERM and SIGINT (Ctrl-C), each time one arrives.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals, String> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?,
                int: signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next SIGTERM or SIGINT.
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
