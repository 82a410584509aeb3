//! The `hbx-sa` binary as a child process: one-shot commands, and `serve`
//! processes that are killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hbx_service_accounts::client::Client;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_hbx-sa");

pub fn hbx_sa(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .output()
        .expect("run hbx-sa")
}

/// The same, for a test whose own runtime serves requests meanwhile (an
/// in-process server): waiting without blocking the runtime, so that the
/// server's tasks go on (a blocked runtime would hold any SQLite write
/// transaction it had begun, and the command would wait for its lock).
pub async fn hbx_sa_beside(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .output()
        .await
        .expect("run hbx-sa")
}

pub fn json_stdout(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "hbx-sa failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object on stdout")
}

/// A `hbx-sa serve` child process, killed when dropped.
pub struct ServeProcess {
    child: Child,
    pub address: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ServeProcess {
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        Self::start_with_env(dir, args, &[])
    }

    /// `hbx-sa serve ARGS` with only the variables in `env`.
    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .current_dir(dir)
            .env_clear()
            // Metrics on a free loopback port, not the default 9464 that
            // servers running side by side would all want (a test may say
            // otherwise in `env` or with the flag).
            .env("HBX_SA_METRICS_BIND", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hbx-sa serve");
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // JSON lines (stderr is not a terminal here).
                if let Some(rest) = line.split("\"address\":\"").nth(1) {
                    let address = rest.split('"').next().unwrap().to_owned();
                    let _ = sender.send(address);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let address = receiver
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "the server logs its address within 30 s: {:?}",
                    log.lock().unwrap()
                )
            });
        Self {
            child,
            address,
            log,
        }
    }

    /// What the server has written to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits until a line of the server's log contains every one of
    /// `needles` (an event the server reports), at most `within`.
    pub fn wait_for_log(&self, needles: &[&str], within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .log
                .lock()
                .unwrap()
                .iter()
                .find(|line| needles.iter().all(|needle| line.contains(needle)))
                .cloned();
            if let Some(line) = found {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needles:?} within {within:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn client(&self, token: &str) -> Client {
        self.client_with_authorization(&format!("Bearer {token}"))
    }

    /// The generated client, as introspection client `id`.
    pub fn introspector(&self, id: &str, secret: &str) -> Client {
        self.client_with_authorization(&super::basic_authorization(id, secret))
    }

    fn client_with_authorization(&self, authorization: &str) -> Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            authorization.parse().unwrap(),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap();
        Client::new_with_client(&format!("http://{}", self.address), http)
    }

    /// The server's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "hbx-sa did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Storage shared by several `hbx-sa` processes, as a deployment has it: a
/// SQLite data directory, or a fresh PostgreSQL database with a shared token
/// key file. Commands and servers started through it all use the same.
pub struct Deployment {
    pub dir: tempfile::TempDir,
    /// The PgBouncer the database URL goes through (stopped first).
    pub pooler: Option<super::pgbouncer::PgBouncer>,
    pub database: Option<super::postgres::TestDatabase>,
    storage: Vec<String>,
}

/// What `hbx-sa bootstrap` made.
pub struct Bootstrapped {
    pub account_id: uuid::Uuid,
    pub owner_id: uuid::Uuid,
    pub owner_token: String,
}

impl Deployment {
    pub async fn new(backend: super::Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (database, pooler, storage) = match backend {
            super::Backend::Postgres | super::Backend::PgBouncer => {
                let database = super::postgres::TestDatabase::create().await;
                let pooler =
                    (backend == super::Backend::PgBouncer).then(super::pgbouncer::PgBouncer::start);
                let key_file = dir.path().join("shared-keys");
                json_stdout(&hbx_sa(
                    dir.path(),
                    &["keys", "create", "--file", key_file.to_str().unwrap()],
                ));
                let storage = vec![
                    "--database-url".to_owned(),
                    match &pooler {
                        Some(pooler) => pooler.url_for(&database.url),
                        None => database.url.clone(),
                    },
                    "--token-key-file".to_owned(),
                    key_file.display().to_string(),
                ];
                (Some(database), pooler, storage)
            }
            super::Backend::Sqlite => {
                let data_dir = dir.path().join("data");
                (
                    None,
                    None,
                    vec!["--data-dir".to_owned(), data_dir.display().to_string()],
                )
            }
        };
        Self {
            dir,
            pooler,
            database,
            storage,
        }
    }

    /// `args` with the storage flags after them.
    pub fn with_storage(&self, args: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(self.storage.iter().cloned());
        all
    }

    /// Runs a command on the shared storage; its JSON result.
    pub fn run(&self, args: &[&str]) -> Value {
        let args = self.with_storage(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        json_stdout(&hbx_sa(self.dir.path(), &args))
    }

    pub fn bootstrap(&self, account_name: &str) -> Bootstrapped {
        let made = self.run(&["bootstrap", "--account-name", account_name]);
        let id = |key: &str| made[key].as_str().unwrap().parse().unwrap();
        Bootstrapped {
            account_id: id("account_id"),
            owner_id: id("service_account_id"),
            owner_token: made["token"].as_str().unwrap().to_owned(),
        }
    }

    /// A server on the shared storage, on a free port, with `extra` flags.
    pub fn serve(&self, extra: &[&str]) -> ServeProcess {
        let mut args = self.with_storage(&["--bind", "127.0.0.1:0"]);
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ServeProcess::start(self.dir.path(), &args)
    }
}

/// How many bytes the kernel holds for the process at `local` that it has
/// not read yet, on its TCP connection from `peer` (IPv4; from
/// /proc/net/tcp). None: no such connection.
pub fn unread_bytes(local: std::net::SocketAddr, peer: std::net::SocketAddr) -> Option<u64> {
    let hex = |address: std::net::SocketAddr| {
        let std::net::SocketAddr::V4(v4) = address else {
            panic!("IPv4 only: {address}");
        };
        format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        )
    };
    let (local, peer) = (hex(local), hex(peer));
    std::fs::read_to_string("/proc/net/tcp")
        .expect("/proc/net/tcp")
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| {
            fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&peer.as_str())
        })
        .and_then(|fields| {
            let queues = fields.get(4)?;
            let rx = queues.split(':').nth(1)?;
            u64::from_str_radix(rx, 16).ok()
        })
}

/// Waits until the server at `server` has read every byte sent so far on
/// the connection from `client` (the kernel holds none for it), at most
/// `within`: the event that a request sent on it has reached the server.
pub fn wait_until_read(
    server: std::net::SocketAddr,
    client: std::net::SocketAddr,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    while unread_bytes(server, client) != Some(0) {
        assert!(
            Instant::now() < deadline,
            "the server did not read the request within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
