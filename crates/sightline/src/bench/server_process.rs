//! A `sightline serve` child process on a temporary data dir and an ephemeral port.

use anyhow::Context;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// The server's admin token (its bootstrap token).
    pub token: String,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts this same executable as a server and waits for its "listening" log line.
    pub fn start(extra_args: &[&str]) -> anyhow::Result<ServerProcess> {
        let dir = tempfile::tempdir().context("creating a temporary data dir")?;
        let exe = std::env::current_exe().context("finding the sightline executable")?;
        let token = sightline_server::auth::secret::generate_token();
        let mut child = Command::new(exe)
            .env("SIGHTLINE_BOOTSTRAP_TOKEN", &token)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--log-level",
                "warn,sightline_server=info",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .args(extra_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the server")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines.next().context("the server exited before listening")?.context("reading server log")?;
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v["message"] == "listening" {
                break v["addr"].as_str().context("listening line without addr")?.parse()?;
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(ServerProcess { child, addr, token, _dir: dir })
    }

    /// The server's peak resident set size in bytes (Linux `VmHWM`).
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// CPU time the server has used so far (user + system).
    pub fn cpu_seconds(&self) -> Option<f64> {
        stat_cpu_seconds(&std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?)
    }

    /// CPU time by thread name (user + system), from `/proc/<pid>/task/*/stat`; threads
    /// of one name (the request runtime's workers, say) are summed.
    pub fn cpu_seconds_by_thread(&self) -> std::collections::BTreeMap<String, f64> {
        let mut by_name = std::collections::BTreeMap::new();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else { return by_name };
        for task in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
            let name = stat.split_once('(').and_then(|(_, rest)| rest.rsplit_once(')')).map_or("", |(n, _)| n);
            *by_name.entry(name.to_owned()).or_insert(0.0) += stat_cpu_seconds(&stat).unwrap_or(0.0);
        }
        by_name
    }

    /// SIGTERM, then wait for the graceful exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let terminated = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        if !terminated.is_ok_and(|s| s.success()) {
            self.child.kill().ok();
        }
        let status = self.child.wait()?;
        anyhow::ensure!(status.success(), "server exited with {status}");
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This process's own CPU time so far (user + system; not its children's).
pub fn own_cpu_seconds() -> Option<f64> {
    stat_cpu_seconds(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// User + system time from a `/proc/.../stat` line: the 12th and 13th fields after the
/// parenthesised command name, in clock ticks (100 per second on Linux).
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}
