//! A fresh PostgreSQL database for one test, dropped afterwards.
//!
//! The server to use comes from `HBX_SA_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, the server these machines
//! run); its user must be allowed to create databases. Without a reachable
//! server the tests that need one fail, saying how to provide one.

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use uuid::Uuid;

pub const ADMIN_URL_VARIABLE: &str = "HBX_SA_TEST_DATABASE_URL";
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn admin_url() -> String {
    std::env::var(ADMIN_URL_VARIABLE).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// `host:port` of the PostgreSQL server the tests use.
pub fn server_address() -> String {
    let url = admin_url();
    let (_, host_port, _) = split_url(&url);
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    }
}

/// `url` with its `host:port` replaced by `address`.
pub fn with_server_address(url: &str, address: std::net::SocketAddr) -> String {
    let (before, _, after) = split_url(url);
    format!("{before}{address}{after}")
}

/// `postgres://user@host:port/db?x` → (`postgres://user@`, `host:port`, `/db?x`).
fn split_url(url: &str) -> (&str, &str, &str) {
    let start = url
        .find('@')
        .map(|at| at + 1)
        .unwrap_or_else(|| url.find("//").expect("a URL") + 2);
    let end = url[start..]
        .find('/')
        .map(|slash| start + slash)
        .unwrap_or(url.len());
    (&url[..start], &url[start..end], &url[end..])
}

pub struct TestDatabase {
    /// Connects to the new database.
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let admin_url = admin_url();
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|error| {
            panic!(
                "these tests need PostgreSQL and cannot reach it at {admin_url}: {error}.\n\
                 Start PostgreSQL on 127.0.0.1:5432 with trust authentication for the \
                 `postgres` user, or set {ADMIN_URL_VARIABLE}=postgres://USER[:PASSWORD]@HOST:PORT/DB \
                 naming a user that may CREATE DATABASE."
            )
        });
        let name = format!("hbx_sa_test_{}", Uuid::new_v4().simple());
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot create a test database at {admin_url}: {error}")
            });
        let _ = admin.close().await;
        let (without_query, query) = match admin_url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (admin_url.as_str(), String::new()),
        };
        let (server, _) = without_query
            .rsplit_once('/')
            .expect("a database URL ends with /DATABASE");
        Self {
            url: format!("{server}/{name}{query}"),
            name,
            admin_url,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop may run inside a runtime that is shutting down: use a thread of
        // its own with a runtime of its own.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            });
        })
        .join();
    }
}

/// Every row of every table of a PostgreSQL database, as text: each row as
/// JSON (where a bytea shows as `\x` and hex), so both the readable and the
/// hex form of a secret can be looked for.
pub async fn every_row(url: &str) -> String {
    use sqlx::{AssertSqlSafe, Connection, Row};
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get(0))
    .collect();
    assert!(
        tables.iter().any(|t| t == "idempotency_records"),
        "{tables:?}"
    );
    let mut dump = String::new();
    for table in tables {
        let sql = format!("SELECT row_to_json(t)::text FROM \"{table}\" t");
        for row in sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut connection)
            .await
            .unwrap()
        {
            dump.push_str(&row.get::<String, _>(0));
            dump.push('\n');
        }
    }
    dump
}

/// Logs every table, index, function and trigger created in the database of
/// `connection` from now on (an event trigger: the test server's user must
/// be a superuser), for [`assert_each_migration_ran_once`].
pub async fn log_created_objects(connection: &mut PgConnection) {
    sqlx::raw_sql(
        "CREATE TABLE created_objects (command_tag text NOT NULL, object_identity text NOT NULL);
         CREATE FUNCTION log_created_objects() RETURNS event_trigger LANGUAGE plpgsql AS $$
         DECLARE created record;
         BEGIN
             FOR created IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
                 INSERT INTO created_objects VALUES (created.command_tag, created.object_identity);
             END LOOP;
         END $$;
         CREATE EVENT TRIGGER log_created_objects ON ddl_command_end
             WHEN TAG IN ('CREATE TABLE', 'CREATE INDEX', 'CREATE FUNCTION', 'CREATE TRIGGER')
             EXECUTE FUNCTION log_created_objects();",
    )
    .execute(connection)
    .await
    .expect("an event trigger (the test database's user must be a superuser)");
}

/// Every migration is applied, and every object the migrations made (as
/// [`log_created_objects`] saw them) was created exactly once. (The
/// migrations table alone could not say: its `version` is a primary key,
/// so it never holds a version twice whatever ran.)
pub async fn assert_each_migration_ran_once(connection: &mut PgConnection) {
    let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(&mut *connection)
        .await
        .unwrap();
    let files = std::fs::read_dir("migrations/postgres").unwrap().count();
    assert_eq!(applied.len(), files, "every migration applied: {applied:?}");
    let created: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT command_tag, object_identity, count(*) FROM created_objects \
         WHERE object_identity NOT LIKE '%_sqlx_migrations%' \
         GROUP BY command_tag, object_identity ORDER BY object_identity",
    )
    .fetch_all(&mut *connection)
    .await
    .unwrap();
    let tables = created
        .iter()
        .filter(|(tag, _, _)| tag == "CREATE TABLE")
        .count();
    assert!(
        tables >= 6,
        "the migrations' tables were logged: {created:#?}"
    );
    let twice: Vec<_> = created.iter().filter(|(_, _, times)| *times != 1).collect();
    assert!(twice.is_empty(), "created more than once: {twice:#?}");
}
