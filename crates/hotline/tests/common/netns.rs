//! Hosts with their own addresses on one machine: Linux network namespaces the tests create
//! and delete, joined by veth pairs or by a bridge (a switch of their own). Needs root.

use std::path::PathBuf;
use std::process::Command;

/// Runs a command; its output, or why it failed.
pub fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether this process may make namespaces (it runs as root); says why not otherwise.
pub fn may_make_namespaces(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("{test}: SKIPPED: network namespaces need root");
    }
    root
}

/// The namespaces of one run; deleted when dropped, whatever happened (a veth pair goes
/// with the namespace that holds either end, so nothing is left in the machine's own).
pub struct Net {
    pub names: Vec<String>,
}

impl Drop for Net {
    fn drop(&mut self) {
        for n in self.names.iter().rev() {
            let _ = run(&["ip", "netns", "del", n]);
        }
    }
}

impl Net {
    pub fn new() -> Net {
        Net { names: Vec::new() }
    }

    pub fn add(&mut self, name: &str) -> Result<(), String> {
        run(&["ip", "netns", "add", name])?;
        self.names.push(name.to_string());
        run(&["ip", "-n", name, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// A veth pair between two namespaces, each end with its address, both up.
    pub fn link(&self, a: (&str, &str, &str), b: (&str, &str, &str)) -> Result<(), String> {
        run(&[
            "ip", "-n", a.0, "link", "add", a.1, "type", "veth", "peer", "name", b.1, "netns", b.0,
        ])?;
        for (ns, dev, addr) in [a, b] {
            run(&["ip", "-n", ns, "addr", "add", addr, "dev", dev])?;
            run(&["ip", "-n", ns, "link", "set", "dev", dev, "up"])?;
        }
        Ok(())
    }
}

/// One network segment: a bridge in a namespace of its own (`{tag}sw`), and a host per
/// `(name, address/prefix)`, each a namespace `{tag}{name}` whose `eth0` is plugged into
/// the bridge. With `this_host`, the test process's own namespace is plugged in too, at that
/// address, so the test reaches every host directly (the port goes when the bridge's
/// namespace is deleted).
pub struct Lan {
    pub net: Net,
    tag: String,
}

impl Lan {
    pub fn new(tag: &str, hosts: &[(&str, &str)], this_host: Option<&str>) -> Result<Lan, String> {
        let mut lan = Lan {
            net: Net::new(),
            tag: tag.to_string(),
        };
        let sw = lan.ns("sw");
        lan.net.add(&sw)?;
        run(&["ip", "-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        run(&["ip", "-n", &sw, "link", "set", "br0", "up"])?;
        for (name, addr) in hosts {
            let ns = lan.ns(name);
            lan.net.add(&ns)?;
            run(&[
                "ip", "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", name,
                "netns", &sw,
            ])?;
            run(&["ip", "-n", &ns, "addr", "add", addr, "dev", "eth0"])?;
            run(&["ip", "-n", &ns, "link", "set", "dev", "eth0", "up"])?;
            run(&[
                "ip", "-n", &sw, "link", "set", "dev", name, "master", "br0", "up",
            ])?;
        }
        if let Some(addr) = this_host {
            let dev = format!("{tag}0");
            run(&[
                "ip", "link", "add", &dev, "type", "veth", "peer", "name", "host", "netns", &sw,
            ])?;
            run(&["ip", "addr", "add", addr, "dev", &dev])?;
            run(&["ip", "link", "set", "dev", &dev, "up"])?;
            run(&[
                "ip", "-n", &sw, "link", "set", "dev", "host", "master", "br0", "up",
            ])?;
        }
        Ok(lan)
    }

    /// The namespace of host `name`.
    pub fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.tag)
    }

    /// Unplugs host `name` from the segment (`up`: plugs it back in): a partition.
    pub fn cable(&self, name: &str, up: bool) -> Result<(), String> {
        let state = if up { "up" } else { "down" };
        run(&[
            "ip",
            "-n",
            &self.ns(name),
            "link",
            "set",
            "dev",
            "eth0",
            state,
        ])
        .map(|_| ())
    }
}

/// Runs `f` on a thread inside network namespace `ns` (a thread's namespace is its own).
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = PathBuf::from("/run/netns").join(ns);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a valid namespace descriptor affects only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .unwrap()
}
