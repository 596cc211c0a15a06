//! A throwaway PostgreSQL cluster for tests, started by the test binary itself (initdb +
//! pg_ctl in a temporary directory, on a free loopback port, as the `postgres` user or
//! `nobody` when run as root: PostgreSQL refuses root), and stopped and deleted by a
//! watchdog once the test process is gone, however it ends. Only the standard library:
//! shared by the store's tests and the binary's (`#[path]`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// A running throwaway PostgreSQL cluster.
pub struct Cluster {
    pub port: u16,
    pub dir: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    /// Who runs the server (`None`: this user).
    as_user: Option<&'static str>,
    /// The address it listens on (127.0.0.1 unless started in a network namespace).
    pub host: String,
    /// The network namespace it runs in (`None`: this process's).
    netns: Option<String>,
}

impl Cluster {
    pub fn url(&self, database: &str) -> String {
        format!("postgres://hotline@{}:{}/{database}", self.host, self.port)
    }

    /// `host:port`, as a multi-host connection string lists it.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// A command of the cluster's binaries, run as the server's user (in its namespace).
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match &self.netns {
            None => as_user(self.as_user, &program),
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]);
                if let Some(u) = self.as_user {
                    c.args(["runuser", "-u", u, "--"]);
                }
                c.arg(program);
                c
            }
        }
    }

    /// A new cluster of its own (not this binary's shared one); `settings` are appended to
    /// its postgresql.conf. `None`: no server binaries here.
    pub fn start(settings: &str) -> Option<Cluster> {
        Cluster::start_at(None, "127.0.0.1", settings)
    }

    /// [`Cluster::start`] in network namespace `netns`, listening on `host` (clients on the
    /// same network are trusted, for replication too).
    pub fn start_in(netns: &str, host: &str, settings: &str) -> Option<Cluster> {
        Cluster::start_at(Some(netns), host, settings)
    }

    fn start_at(netns: Option<&str>, host: &str, settings: &str) -> Option<Cluster> {
        let bin = pg_bin()?;
        let cluster = Cluster::prepare(bin, netns, host);
        let mut initdb = cluster.command("initdb");
        initdb.arg("-D").arg(&cluster.data).args([
            "-U",
            "hotline",
            "-A",
            "trust",
            "--no-locale",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb");
        cluster.configure(settings);
        cluster.run_server();
        Some(cluster)
    }

    /// A streaming standby of this cluster (pg_basebackup -R), started; `settings` are
    /// appended to its postgresql.conf.
    pub fn standby(&self, settings: &str) -> Cluster {
        self.standby_at(None, "127.0.0.1", settings)
    }

    /// [`Cluster::standby`] in network namespace `netns`, listening on `host`.
    pub fn standby_in(&self, netns: &str, host: &str, settings: &str) -> Cluster {
        self.standby_at(Some(netns), host, settings)
    }

    fn standby_at(&self, netns: Option<&str>, host: &str, settings: &str) -> Cluster {
        let standby = Cluster::prepare(self.bin.clone(), netns, host);
        let mut backup = standby.command("pg_basebackup");
        backup
            .args([
                "-h",
                &self.host,
                "-p",
                &self.port.to_string(),
                "-U",
                "hotline",
            ])
            .arg("-D")
            .arg(&standby.data)
            .args(["-R", "-X", "stream", "-c", "fast"]);
        run(backup, "pg_basebackup");
        standby.configure(settings);
        standby.run_server();
        standby
    }

    /// A directory, a port and a watchdog; no server yet.
    fn prepare(bin: PathBuf, netns: Option<&str>, host: &str) -> Cluster {
        // PostgreSQL refuses to run as root: then the server runs as `postgres` (or `nobody`).
        let user: Option<&'static str> = if !is_root() {
            None
        } else if Command::new("id")
            .arg("postgres")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            Some("postgres")
        } else {
            Some("nobody")
        };
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "hotline-pgstore-test-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("the cluster's directory");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let data = dir.join("data");
        // Stops the server and removes its files once this process is gone, however it ends.
        let stop = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = match user {
                Some(u) => format!("runuser -u {u} -- {}", bin.join("pg_ctl").display()),
                None => bin.join("pg_ctl").display().to_string(),
            },
            data = data.display(),
            dir = dir.display(),
        );
        // Meant to outlive this process (it is then reaped by init): never waited for.
        #[allow(clippy::zombie_processes)]
        Command::new("setsid")
            .args(["sh", "-c", &stop])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the cluster's watchdog");
        Cluster {
            port,
            dir,
            data,
            bin,
            as_user: user,
            host: host.to_string(),
            netns: netns.map(str::to_string),
        }
    }

    fn configure(&self, settings: &str) {
        use std::io::Write;
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join("postgresql.conf"))
            .expect("postgresql.conf");
        writeln!(
            conf,
            "\nport = {}\nunix_socket_directories = '{}'\nlisten_addresses = '{}'\n\
             max_connections = 300\nfsync = off\n{settings}",
            self.port,
            self.dir.display(),
            self.host
        )
        .unwrap();
        if self.netns.is_some() {
            let mut hba = std::fs::OpenOptions::new()
                .append(true)
                .open(self.data.join("pg_hba.conf"))
                .expect("pg_hba.conf");
            writeln!(
                hba,
                "host all all samenet trust\nhost replication all samenet trust"
            )
            .unwrap();
        }
    }

    fn run_server(&self) {
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "120", "start"]);
        run(start, "pg_ctl start");
        eprintln!(
            "PostgreSQL test cluster on {}:{} in {}",
            self.host,
            self.port,
            self.dir.display()
        );
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`: no checkpoint).
    pub fn crash(&self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"]);
        run(stop, "pg_ctl stop");
    }

    /// Kills the server's main process with SIGKILL, as `kill -9` would (its backends end
    /// once they notice).
    pub fn kill9(&self) {
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .expect("postmaster.pid")
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<i32>().ok())
            .expect("a pid in postmaster.pid");
        let ok = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -9 {pid}");
    }

    /// Promotes a standby to primary and waits until it is one.
    pub fn promote(&self) {
        let mut promote = self.command("pg_ctl");
        promote
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-t", "120", "promote"]);
        run(promote, "pg_ctl promote");
    }
}

fn as_user(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// The newest installed PostgreSQL's binaries.
pub fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

/// This test binary's shared cluster, started on first use.
pub fn cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
    CLUSTER.get_or_init(|| Cluster::start("")).as_ref()
}

fn free_port() -> u16 {
    hotline_testports::tcp_port()
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A new, empty database on the cluster: its URL.
pub fn create_database(cluster: &Cluster) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let name = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let mut c = Command::new(cluster.bin.join("createdb"));
    c.args([
        "-h",
        &cluster.host,
        "-p",
        &cluster.port.to_string(),
        "-U",
        "hotline",
        &name,
    ]);
    run(c, "createdb");
    cluster.url(&name)
}

/// Runs `sql` with psql on the database at `url`: its rows, `|`-separated.
pub fn psql(cluster: &Cluster, url: &str, sql: &str) -> String {
    let out = Command::new(cluster.bin.join("psql"))
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
