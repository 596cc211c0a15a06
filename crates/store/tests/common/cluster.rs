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
}

impl Cluster {
    pub fn url(&self, database: &str) -> String {
        format!("postgres://hotline@127.0.0.1:{}/{database}", self.port)
    }

    /// A command of the cluster's binaries, run as the server's user.
    fn command(&self, program: &str) -> Command {
        as_user(self.as_user, &self.bin.join(program))
    }

    /// A new cluster of its own (not this binary's shared one); `settings` are appended to
    /// its postgresql.conf. `None`: no server binaries here.
    pub fn start(settings: &str) -> Option<Cluster> {
        let bin = pg_bin()?;
        let cluster = Cluster::prepare(bin);
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
        let standby = Cluster::prepare(self.bin.clone());
        let mut backup = standby.command("pg_basebackup");
        backup
            .args([
                "-h",
                "127.0.0.1",
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
    fn prepare(bin: PathBuf) -> Cluster {
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
            "\nport = {}\nunix_socket_directories = '{}'\nlisten_addresses = '127.0.0.1'\n\
             max_connections = 300\nfsync = off\n{settings}",
            self.port,
            self.dir.display()
        )
        .unwrap();
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
            "PostgreSQL test cluster on 127.0.0.1:{} in {}",
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
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
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
        "127.0.0.1",
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
