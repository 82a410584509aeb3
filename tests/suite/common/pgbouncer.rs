//! A real PgBouncer in transaction pooling in front of the test PostgreSQL
//! server: started on a free loopback port for one test, stopped when
//! dropped.
//!
//! The binary is `HBX_SA_TEST_PGBOUNCER`, else `pgbouncer` on the path, else
//! Debian's `/usr/sbin/pgbouncer` (`scripts/test-all` installs Debian's
//! package, 1.18). Without one the tests that need it fail, saying how to
//! provide it. PgBouncer refuses to run as root: as root it runs as `nobody`.
//! It logs in to PostgreSQL as the user (and password) of the test server's
//! URL ([`super::postgres::ADMIN_URL_VARIABLE`]), whatever user a client
//! names; every database of that server is reachable through it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::postgres::{admin_url, with_server_address};

pub const PGBOUNCER_VARIABLE: &str = "HBX_SA_TEST_PGBOUNCER";

/// How a test's PgBouncer is set up.
#[derive(Debug, Clone, Copy)]
pub struct PoolerSettings {
    /// Server connections per database (`default_pool_size`, and
    /// `max_db_connections`: no more, whatever the clients).
    pub pool_size: u32,
    /// Whether the startup parameters sqlx sends by default and PgBouncer
    /// does not track (`extra_float_digits`, `options`) are ignored rather
    /// than refused (`ignore_startup_parameters`), as many deployments set.
    pub ignore_startup_parameters: bool,
    /// `transaction`, or another `pool_mode` for the tests of what is refused.
    pub pool_mode: &'static str,
}

impl Default for PoolerSettings {
    fn default() -> Self {
        Self {
            pool_size: 4,
            ignore_startup_parameters: false,
            pool_mode: "transaction",
        }
    }
}

pub struct PgBouncer {
    pub address: SocketAddr,
    pub settings: PoolerSettings,
    child: Child,
    dir: tempfile::TempDir,
}

impl PgBouncer {
    /// PgBouncer 1.18-style transaction pooling with `default` settings.
    pub fn start() -> Self {
        Self::start_with(PoolerSettings::default())
    }

    pub fn start_with(settings: PoolerSettings) -> Self {
        let binary = binary();
        let dir = tempfile::tempdir().expect("a directory for PgBouncer");
        // Readable by `nobody`, when PgBouncer runs as that.
        set_mode(dir.path(), 0o755);
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("pgbouncer.ini");
            std::fs::write(&config, configuration(port, &settings)).expect("pgbouncer.ini");
            set_mode(&config, 0o644);
            let log = std::fs::File::create(dir.path().join("pgbouncer.log")).expect("a log");
            let mut command = if is_root() {
                let mut command = Command::new("setpriv");
                command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]);
                command.arg(&binary);
                command
            } else {
                Command::new(&binary)
            };
            let mut child = command
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("the log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
            let address = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect(address).is_ok() {
                    return Self {
                        address,
                        settings,
                        child,
                        dir,
                    };
                }
                if child.try_wait().expect("PgBouncer's state").is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            // The port was taken in between: another one.
        }
        panic!(
            "PgBouncer ({}) did not start; its log:\n{}",
            binary.display(),
            std::fs::read_to_string(dir.path().join("pgbouncer.log")).unwrap_or_default()
        );
    }

    /// `database_url` (a database of the test server) through the pooler.
    pub fn url_for(&self, database_url: &str) -> String {
        with_server_address(database_url, self.address)
    }

    /// What PgBouncer logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The configuration: every database of the test server, logged in to as
/// the test server's user, transaction pooling.
fn configuration(port: u16, settings: &PoolerSettings) -> String {
    let upstream = url::Url::parse(&admin_url()).expect("the test server's URL");
    let host = upstream.host_str().unwrap_or("127.0.0.1");
    let server_port = upstream.port().unwrap_or(5432);
    let user = match upstream.username() {
        "" => "postgres",
        user => user,
    };
    let password = upstream
        .password()
        .map(|password| format!(" password={password}"))
        .unwrap_or_default();
    let ignore = if settings.ignore_startup_parameters {
        "ignore_startup_parameters = extra_float_digits, options\n"
    } else {
        ""
    };
    let pool_size = settings.pool_size;
    let pool_mode = settings.pool_mode;
    format!(
        "[databases]\n\
         * = host={host} port={server_port} user={user}{password}\n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = any\n\
         pool_mode = {pool_mode}\n\
         default_pool_size = {pool_size}\n\
         max_db_connections = {pool_size}\n\
         max_client_conn = 1000\n\
         {ignore}"
    )
}

fn binary() -> PathBuf {
    if let Ok(path) = std::env::var(PGBOUNCER_VARIABLE) {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("pgbouncer"))
        .chain([PathBuf::from("/usr/sbin/pgbouncer")])
        .find(|candidate| candidate.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "these tests need PgBouncer (transaction pooling in front of PostgreSQL) and \
             cannot find it: install Debian's package (`apt-get install pgbouncer`, which \
             scripts/test-all does), or set {PGBOUNCER_VARIABLE} to its binary"
        )
    })
}

/// Whether this process runs as root (`/proc/self` is its effective user's).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|proc| proc.uid() == 0)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("permissions");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}
