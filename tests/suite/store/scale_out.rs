//! The scale-out shape on a real PostgreSQL server: several `hbx-sa serve`
//! processes on one database, instances starting together, a database outage
//! and its end, and what PostgreSQL holds (no token, index-served pages).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::postgres::{TestDatabase, assert_each_migration_ran_once, log_created_objects};
use crate::common::process::{ServeProcess, hbx_sa, json_stdout};
use crate::common::{Backend, TestServer, create_request, expect_error, secret_of};
use hbx_service_accounts::client::Client;
use hbx_service_accounts::client::types::IntrospectionRequest;
use hbx_service_accounts::store::postgres::IDLE_BEFORE_PING;
use hbx_service_accounts::store::service_accounts::sql;
use hbx_service_accounts::store::{PostgresOptions, PostgresStore, StoreHealth};
use sqlx::{Connection, PgConnection, Row};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use uuid::Uuid;

fn with_database(args: &[&str], database: &TestDatabase, key_file: &Path) -> Vec<String> {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend([
        "--database-url".into(),
        database.url.clone(),
        "--token-key-file".into(),
        key_file.display().to_string(),
    ]);
    all
}

fn run(dir: &Path, args: &[String]) -> serde_json::Value {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    json_stdout(&hbx_sa(dir, &args))
}

/// A shared key file, an account bootstrapped on `database`, and two
/// instances serving it.
struct TwoInstances {
    dir: tempfile::TempDir,
    key_file: std::path::PathBuf,
    /// What `hbx-sa bootstrap` printed: the account, its owner and token.
    made: serde_json::Value,
    first: ServeProcess,
    second: ServeProcess,
}

impl TwoInstances {
    async fn start(database: &TestDatabase) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("shared-keys");
        let create =
            ["keys", "create", "--file", &key_file.display().to_string()].map(str::to_owned);
        run(dir.path(), &create);
        let bootstrap = ["bootstrap", "--account-name", "acme"];
        let made = run(dir.path(), &with_database(&bootstrap, database, &key_file));
        let serve_args = with_database(&["--bind", "127.0.0.1:0"], database, &key_file);
        let serve_args: Vec<&str> = serve_args.iter().map(String::as_str).collect();
        let first = ServeProcess::start(dir.path(), &serve_args);
        let second = ServeProcess::start(dir.path(), &serve_args);
        assert_ne!(first.address, second.address);
        Self {
            dir,
            key_file,
            made,
            first,
            second,
        }
    }
}

#[tokio::test]
async fn two_instances_share_tokens_and_revocations() {
    let database = TestDatabase::create().await;
    let TwoInstances {
        dir,
        key_file,
        made,
        first,
        second,
    } = TwoInstances::start(&database).await;
    let account_id: Uuid = made["account_id"].as_str().unwrap().parse().unwrap();
    let owner_token = made["token"].as_str().unwrap().to_owned();

    // Created through the first instance...
    let created = first
        .client(&owner_token)
        .create_service_account(&account_id, None, &create_request("shared"))
        .await
        .unwrap()
        .into_inner();
    run(
        dir.path(),
        &with_database(
            &[
                "grants",
                "add",
                "--account",
                &account_id.to_string(),
                "--service-account",
                &created.id.to_string(),
                "--capability",
                "auth.manage",
            ],
            &database,
            &key_file,
        ),
    );
    // An introspection client made at the command line, for both instances.
    let introspection_client = run(
        dir.path(),
        &with_database(
            &["introspection-clients", "create", "--name", "gateway"],
            &database,
            &key_file,
        ),
    );
    let introspect = |instance: &ServeProcess, token: &str| {
        let client = instance.introspector(
            introspection_client["client_id"].as_str().unwrap(),
            introspection_client["client_secret"].as_str().unwrap(),
        );
        let request = IntrospectionRequest {
            token: token.to_owned(),
            token_type_hint: None,
        };
        async move {
            client
                .introspect_token(&request)
                .await
                .unwrap()
                .into_inner()
                .active
        }
    };
    // ...its token works on the second.
    assert!(introspect(&second, &created.token).await);
    let listed = second
        .client(&created.token)
        .list_service_accounts(&account_id, None, None, None)
        .await
        .expect("the token authenticates on the other instance");
    assert_eq!(listed.len(), 2);

    // Revoked through the second instance...
    second
        .client(&owner_token)
        .revoke_service_account(&account_id, &created.id)
        .await
        .unwrap();
    // ...and refused by the first at once: every authentication reads the
    // shared database, so the documented bound is the commit itself.
    expect_error(
        first
            .client(&created.token)
            .list_service_accounts(&account_id, None, None, None)
            .await,
        401,
        "invalid_token",
    );
    assert!(
        !introspect(&first, &created.token).await,
        "introspection on the other instance says inactive"
    );

    // The same for rotation: the old token dies everywhere, the new one works everywhere.
    let rotated = first
        .client(&owner_token)
        .rotate_service_account(
            &account_id,
            &Uuid::parse_str(made["service_account_id"].as_str().unwrap()).unwrap(),
            None,
            None,
        )
        .await
        .unwrap()
        .into_inner();
    for instance in [&first, &second] {
        expect_error(
            instance
                .client(&owner_token)
                .list_service_accounts(&account_id, None, None, None)
                .await,
            401,
            "invalid_token",
        );
        instance
            .client(&rotated.token)
            .list_service_accounts(&account_id, None, None, None)
            .await
            .expect("the rotated token works on every instance");
    }
}

/// Four instances starting together on an empty database: the migrations
/// run once, not once per instance. Counted where it cannot be faked: an
/// event trigger (installed first) logs every object the migrations create,
/// and each must be created exactly once. (The migrations table alone could
/// not say: its `version` is a primary key, so it never holds a version
/// twice whatever ran.) Event triggers need a superuser, as the test
/// database's `postgres` is.
#[tokio::test]
async fn instances_starting_together_run_each_migration_once() {
    let database = TestDatabase::create().await;
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    log_created_objects(&mut connection).await;
    let options = PostgresOptions {
        max_connections: 2,
        timeout: Duration::from_secs(10),
        direct_url: None,
    };
    let opened =
        futures::future::join_all((0..4).map(|_| PostgresStore::open(&database.url, &options)))
            .await;
    for store in &opened {
        assert!(store.is_ok(), "{store:?}");
    }
    assert_each_migration_ran_once(&mut connection).await;
}

#[tokio::test]
async fn postgres_needs_a_shared_key_file() {
    let database = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let output = hbx_sa(
        dir.path(),
        &[
            "accounts",
            "create",
            "--name",
            "acme",
            "--database-url",
            &database.url,
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--token-key-file"), "{stderr}");
    assert!(stderr.contains("hbx-sa keys create"), "{stderr}");
}

/// A TCP proxy between the server and PostgreSQL that the test can break in
/// two ways: `cut` drops every connection and closes new ones at once (a
/// database that went away); `stall` keeps connections open but passes nothing
/// (a network that silently drops packets).
struct BreakableProxy {
    address: SocketAddr,
    open: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept_loop: AbortHandle,
}

impl BreakableProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let stalled = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept_loop = {
            let (open, stalled, connections) = (open.clone(), stalled.clone(), connections.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        return;
                    };
                    if !open.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let stalled = stalled.clone();
                    let forward = tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        tokio::join!(
                            pass(client_read, server_write, stalled.clone()),
                            pass(server_read, client_write, stalled),
                        );
                    });
                    connections.lock().unwrap().push(forward.abort_handle());
                }
            })
            .abort_handle()
        };
        Self {
            address,
            open,
            stalled,
            connections,
            accept_loop,
        }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.stalled.store(false, Ordering::SeqCst);
        self.open.store(true, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, holding what it read while `stalled`.
async fn pass(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl Drop for BreakableProxy {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.cut();
    }
}

/// A create that must fail with 503 `unavailable`; its request id.
async fn expect_503(owner: &Client, account_id: &Uuid) -> String {
    let error = expect_error(
        owner
            .create_service_account(account_id, None, &create_request("during"))
            .await,
        503,
        "unavailable",
    );
    assert!(error.message.contains("retry"));
    error.request_id.clone()
}

/// After the first request has found the database gone, later ones are
/// refused at once, without trying the database: each later 503's request
/// line says the database is known to be unreachable (the store's circuit
/// breaker), none says it timed out or was refused a connection. How fast
/// such a refusal is, is measured in `benches/verification.rs` (`refuse a
/// read while the database is known to be down`), not timed here.
async fn expect_fast_503s(server: &TestServer, owner: &Client, account_id: &Uuid, what: &str) {
    expect_503(owner, account_id).await;
    let mut later = Vec::new();
    for _ in 0..10 {
        later.push(expect_503(owner, account_id).await);
    }
    let last = later.last().unwrap();
    let log = server.log_once_it_holds(last).await;
    for request_id in &later {
        let line = log
            .lines()
            .find(|line| line.contains(request_id.as_str()) && line.contains("\"operation\""))
            .unwrap_or_else(|| panic!("{what}: no request line for {request_id}"));
        assert!(
            line.contains("known to be unreachable"),
            "{what}: a 503 that tried the database: {line}"
        );
    }
}

async fn readiness(server: &TestServer) -> u16 {
    server
        .raw()
        .get(format!("{}/readyz", server.base_url))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Retries a create until the database answers again (same server process).
async fn recovered(owner: &Client, account_id: &Uuid, name: &str) -> Uuid {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match owner
            .create_service_account(account_id, None, &create_request(name))
            .await
        {
            Ok(created) => return created.into_inner().id,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "no recovery within 30 s: {error:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Connections are not pinged while in steady use (a round trip per read
/// saved), but one that sat idle is checked before it is lent: connections the
/// database dropped while nobody used them are replaced, not failed.
#[tokio::test]
async fn connections_dropped_while_idle_are_replaced_without_an_error() {
    // Idle means idle: no webhook worker polling the pool meanwhile.
    let server = TestServer::start_with_on(Backend::Postgres, |settings| {
        settings.webhooks.run_workers = false;
    })
    .await;
    let created = server.create("survives its connections").await;
    let owner = server.owner();
    let account_id = server.account_id;
    let reads_at_once = || {
        futures::future::join_all(
            (0..8).map(|_| owner.get_service_account(&account_id, &created.id)),
        )
    };
    // Several connections in the pool, then idle.
    for read in reads_at_once().await {
        read.expect("a read before");
    }
    let url = server.database_url().expect("a PostgreSQL server");
    let mut admin = PgConnection::connect(url).await.expect("connect");
    let idle_since = Instant::now();
    wait_for_idle_pooled_connections(&mut admin).await;

    // The database drops every idle pooled connection (not the change
    // listener's, which would otherwise take the dead ones out of the pool
    // as it reconnects).
    let terminated: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND application_name = 'hbx-sa' AND state = 'idle' \
         AND query NOT ILIKE 'LISTEN%') AS terminated",
    )
    .fetch_one(&mut admin)
    .await
    .expect("terminate the server's connections");
    admin.close().await.expect("close");
    // However many the pool kept (that depends on scheduling), at least one
    // idle connection was dropped under it: enough for what follows to mean
    // something.
    assert!(
        terminated >= 1,
        "the server had idle connections to drop: {terminated}"
    );

    // Idle for longer than the pool's bound: each one is checked, found
    // dead, and replaced. The pool measures idleness on the wall clock (no
    // injected clock reaches it), so this waits for the bound itself plus a
    // margin of 100 ms for the pool's own reading of the time; waiting longer
    // can only make the check more certain, never flaky.
    let pool_check_margin = Duration::from_millis(100);
    tokio::time::sleep_until((idle_since + IDLE_BEFORE_PING + pool_check_margin).into()).await;
    for read in reads_at_once().await {
        let read = read.expect("a read after the database dropped every idle connection");
        assert_eq!(read.name, "survives its connections");
    }
    owner
        .list_service_accounts(&account_id, None, None, None)
        .await
        .expect("a page read");
    server.create("written after").await;
}

/// Polls (with a deadline) until the server's pool has at least one idle
/// connection that is not the change listener's: returned connections show
/// as idle a moment after the answers arrive.
async fn wait_for_idle_pooled_connections(admin: &mut PgConnection) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let idle: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'hbx-sa' AND state = 'idle' AND query NOT ILIKE 'LISTEN%'",
        )
        .fetch_one(&mut *admin)
        .await
        .expect("read pg_stat_activity");
        if idle >= 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no idle pooled connection within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_database_outage_is_503_and_the_same_server_recovers() {
    let proxy = BreakableProxy::start(crate::common::postgres::server_address()).await;
    let server = TestServer::start_with_on(Backend::Postgres, |settings| {
        settings.database_timeout = Duration::from_secs(1);
        let url = settings.database_url.take().unwrap();
        settings.database_url = Some(crate::common::postgres::with_server_address(
            &url,
            proxy.address,
        ));
    })
    .await;
    let before = server.create("acknowledged before the outage").await;
    let owner = server.owner();
    let account_id = server.account_id;
    assert_eq!(readiness(&server).await, 200);

    // The database goes away (connections refused).
    proxy.cut();
    expect_fast_503s(&server, &owner, &account_id, "cut").await;
    // Reading needs the database too: also 503 (the credential itself may be
    // checked from the cache), and the server is not ready.
    expect_error(
        owner
            .list_service_accounts(&account_id, None, None, None)
            .await,
        503,
        "unavailable",
    );
    assert_eq!(readiness(&server).await, 503);
    proxy.restore();
    let after_cut = recovered(&owner, &account_id, "after the cut").await;
    assert_eq!(
        readiness(&server).await,
        200,
        "ready again without a restart"
    );

    // The network silently drops everything: only the client-side timeout
    // notices, the first time.
    proxy.stall();
    expect_fast_503s(&server, &owner, &account_id, "stalled").await;
    proxy.restore();
    let after_stall = recovered(&owner, &account_id, "after the stall").await;

    let listed = server
        .owner()
        .list_service_accounts(&server.account_id, None, None, None)
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<Uuid> = listed.iter().map(|sa| sa.id).collect();
    assert!(
        ids.contains(&before.id),
        "acknowledged before the outage, still there"
    );
    assert!(ids.contains(&after_cut) && ids.contains(&after_stall));
    // A create that timed out while stalled may have committed after all (the
    // client was told 503, "retry"): that is the one ambiguity of a timeout.
    // Nothing else appeared.
    assert!(listed.iter().all(|sa| {
        [
            "owner",
            "acknowledged before the outage",
            "after the cut",
            "after the stall",
            "during",
        ]
        .contains(&sa.name.as_str())
    }));
}

#[tokio::test]
async fn postgres_never_holds_a_token() {
    let server = TestServer::start_on(Backend::Postgres).await;
    let mut tokens = vec![server.owner_token.clone()];
    for i in 0..5 {
        let created = server.create(&format!("sa {i}")).await;
        assert!(server.authenticates(&created.token).await);
        let rotated = server
            .owner()
            .rotate_service_account(&server.account_id, &created.id, None, None)
            .await
            .unwrap()
            .into_inner();
        tokens.extend([created.token, rotated.token]);
    }
    server.flush_last_use().await;
    // Every row of every table (found in the catalog), as JSON, where a
    // bytea shows as hex: the readable and the hex form are both looked for.
    let dumped = crate::common::postgres::every_row(server.database_url().unwrap()).await;
    assert!(
        dumped.contains(&server.owner_id.to_string()),
        "the dump holds the rows"
    );
    for token in &tokens {
        for needle in [token.as_str(), secret_of(token)] {
            assert!(
                !dumped.contains(needle),
                "a token or secret is in the database"
            );
            assert!(
                !dumped.contains(&hex::encode(needle)),
                "a token or secret is in a bytea of the database"
            );
        }
    }
}

#[tokio::test]
async fn postgres_pages_are_index_range_scans() {
    let database = TestDatabase::create().await;
    let options = PostgresOptions {
        max_connections: 1,
        timeout: Duration::from_secs(5),
        direct_url: None,
    };
    PostgresStore::open(&database.url, &options)
        .await
        .unwrap()
        .close()
        .await;
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    // The tables are empty, so tell the planner scans are expensive: the point
    // is that an ordered index path exists for both statements.
    sqlx::raw_sql("SET enable_seqscan = off; SET enable_sort = off")
        .execute(&mut connection)
        .await
        .unwrap();
    for (statement, index) in [
        (sql::LIST_ALL, "service_accounts_by_account"),
        (sql::LIST_ACTIVE, "service_accounts_active_by_account"),
    ] {
        let explained = statement
            .replace("$1", "'00000000-0000-0000-0000-000000000000'::uuid")
            .replace("$2", "'2030-01-01T00:00:00Z'::timestamptz")
            .replace("$3", "'00000000-0000-0000-0000-000000000000'::uuid")
            .replace("$4", "100");
        let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {explained}")))
            .fetch_all(&mut connection)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(0))
            .collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains(&format!("Index Scan using {index}")),
            "{plan}"
        );
        assert!(!plan.contains("Sort"), "{plan}");
    }
}

/// A subject token is exchanged once, whichever instance it is presented to:
/// the `jti` is recorded in the minting transaction, in the shared database.
/// Presented to both at once, exactly one mints.
#[tokio::test]
async fn a_subject_token_is_exchanged_once_across_instances() {
    let database = TestDatabase::create().await;
    // The directory is bound: it must outlive the instances.
    let TwoInstances {
        dir: _dir,
        made,
        first,
        second,
        ..
    } = TwoInstances::start(&database).await;
    let account_id = made["account_id"].as_str().unwrap().to_owned();
    let owner_id = made["service_account_id"].as_str().unwrap().to_owned();
    let owner_token = made["token"].as_str().unwrap().to_owned();
    // An issuer known by its keys alone (inline), and a rule for the owner.
    let key = crate::common::issuer::TestKey::p256("ci");
    let http = reqwest::Client::new();
    let base = |instance: &ServeProcess| format!("http://{}", instance.address);
    let provider: serde_json::Value = http
        .post(format!(
            "{}/v1/public/accounts/{account_id}/auth/identity-providers",
            base(&first)
        ))
        .bearer_auth(&owner_token)
        .json(&serde_json::json!({
            "name": "GitHub Actions", "kind": "github_actions",
            "issuer": "https://token.actions.githubusercontent.com",
            "keys": {"source": "inline", "jwks": {"keys": [key.jwk]}},
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rule = http
        .post(format!(
            "{}/v1/public/accounts/{account_id}/auth/service-accounts/{owner_id}/federation-rules",
            base(&second)
        ))
        .bearer_auth(&owner_token)
        .json(&serde_json::json!({
            "identity_provider_id": provider["id"],
            "conditions": [{"claim": "repository_owner_id", "op": "eq", "value": "1001"}],
            "capabilities": ["auth.manage"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(rule.status(), 201);
    let now = chrono::Utc::now().timestamp();
    let token = |jti: &str| {
        key.sign(&serde_json::json!({
            "iss": "https://token.actions.githubusercontent.com", "jti": jti,
            "aud": format!("https://api.hybridbox.io/accounts/{account_id}"),
            "sub": "repo:acme/api:ref:refs/heads/main", "repository_owner_id": "1001",
            "iat": now, "exp": now + 300,
        }))
    };
    let exchange = |instance: &ServeProcess, subject_token: String| {
        let request = http
            .post(format!("{}/v1/public/auth/token", base(instance)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("subject_token", subject_token.as_str()),
                    ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                    ("account_id", account_id.as_str()),
                    ("service_account_id", owner_id.as_str()),
                ])
                .unwrap(),
            );
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    // One after the other: the second instance refuses what the first minted.
    let once = token("run-1");
    let (status, minted) = exchange(&first, once.clone()).await;
    assert_eq!(status, 200, "{minted}");
    let (status, replayed) = exchange(&second, once).await;
    assert_eq!(
        (status, replayed["hbx_reason"].as_str()),
        (400, Some("replayed"))
    );
    // The minted token works on the other instance too.
    let whoami = http
        .get(format!("{}/v1/public/auth/whoami", base(&second)))
        .bearer_auth(minted["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 200);
    // At the same time, ten times over: exactly one of each pair mints.
    for round in 0..10 {
        let both = token(&format!("race-{round}"));
        let (a, b) = tokio::join!(exchange(&first, both.clone()), exchange(&second, both));
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "round {round}: {a:?} {b:?}");
    }
}
