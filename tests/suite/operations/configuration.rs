//! Configuration from a file, the environment and flags, in that order; settings checked across sources; and every setting documented.

use std::process::Command;

use crate::common::process::{BIN, hbx_sa, json_stdout};

/// `hbx-sa ARGS` with only the variables in `env`.
fn hbx_sa_env(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run hbx-sa")
}

#[test]
fn configuration_precedence_is_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hbx-sa.toml");
    std::fs::write(
        &config,
        r#"
bind = "127.0.0.1:7001"
data_dir = "from-file"
last_used_interval = "5m"
oauth_leeway = "10s"
database_timeout_ms = 1234
database_url = "postgres://app:s3cret-password@db.example:5432/hbx"
token_key_file = "/etc/hbx-sa/keys"
oauth_issuer = "https://sso.example.com/realms/hybridbox"
oauth_audience = ["one", "two"]
"#,
    )
    .unwrap();
    let config_arg = config.display().to_string();
    let output = hbx_sa_env(
        dir.path(),
        &[
            "serve",
            "--check-config",
            "--config",
            &config_arg,
            "--bind",
            "127.0.0.1:7003",
        ],
        &[
            ("HBX_SA_BIND", "127.0.0.1:7002"),
            ("HBX_SA_DATA_DIR", "from-environment"),
            ("HBX_SA_OAUTH_LEEWAY", "20s"),
            (
                "HBX_SA_DATABASE_DIRECT_URL",
                "postgres://app:direct-s3cret@db-primary.example:5432/hbx?password=again-s3cret",
            ),
        ],
    );
    let shown = json_stdout(&output);
    let settings = &shown["settings"];
    let sources = &shown["sources"];
    // flag > environment > file > default.
    assert_eq!(settings["bind"], "127.0.0.1:7003");
    assert_eq!(sources["bind"], "flag");
    assert_eq!(settings["data_dir"], "from-environment");
    assert_eq!(sources["data_dir"], "environment");
    assert_eq!(settings["oauth_leeway"], "20s");
    assert_eq!(settings["last_used_interval"], "5m");
    assert_eq!(sources["last_used_interval"], "config_file");
    assert_eq!(settings["database_timeout_ms"], "1234");
    assert_eq!(
        settings["oauth_audience"],
        serde_json::json!(["one", "two"])
    );
    assert_eq!(settings["credential_cache_ttl"], "1s");
    assert_eq!(sources["credential_cache_ttl"], "default");
    assert_eq!(shown["config_file"], config_arg.as_str());
    // The password never shows.
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("s3cret-password"), "{text}");
    assert!(!text.contains("direct-s3cret"), "{text}");
    assert!(!text.contains("again-s3cret"), "{text}");
    assert_eq!(
        settings["database_url"],
        "postgres://app:REDACTED@db.example:5432/hbx"
    );
    assert_eq!(
        settings["database_direct_url"],
        "postgres://app:REDACTED@db-primary.example:5432/hbx?password=REDACTED"
    );
    assert_eq!(sources["database_direct_url"], "environment");

    // The variable names the file too, and the file serves storage commands.
    let output = hbx_sa_env(
        dir.path(),
        &["serve", "--check-config"],
        &[("HBX_SA_CONFIG", &config_arg)],
    );
    assert_eq!(json_stdout(&output)["settings"]["bind"], "127.0.0.1:7001");
    std::fs::write(
        &config,
        "data_dir = \"accounts-here\"\nbind = \"127.0.0.1:7001\"\n",
    )
    .unwrap();
    let made = json_stdout(&hbx_sa_env(
        dir.path(),
        &["accounts", "create", "--name", "acme"],
        &[("HBX_SA_CONFIG", &config_arg)],
    ));
    assert!(made["id"].is_string());
    assert!(
        dir.path().join("accounts-here/hbx-sa.sqlite3").exists(),
        "a storage command read data_dir from the file (and ignored bind)"
    );

    // An unknown key is an error that names it; so is a file that is not TOML.
    std::fs::write(
        &config,
        "bind = \"127.0.0.1:7001\"\ndata_directory = \"x\"\n",
    )
    .unwrap();
    let output = hbx_sa(
        dir.path(),
        &["serve", "--check-config", "--config", &config_arg],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown key `data_directory`"), "{stderr}");
    assert!(
        stderr.contains("data_dir"),
        "lists the known keys: {stderr}"
    );
    std::fs::write(&config, "bind = ").unwrap();
    let output = hbx_sa(
        dir.path(),
        &["serve", "--check-config", "--config", &config_arg],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not valid TOML"));
    let output = hbx_sa(dir.path(), &["serve", "--config", "/nonexistent.toml"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read the configuration file"));
}

/// Settings that need each other are checked whatever their sources: a
/// file that names a TLS certificate without its key is refused (it would
/// otherwise be served without TLS), and so are two JWKS sources.
#[test]
fn related_settings_are_checked_across_sources() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hbx-sa.toml");
    let config_arg = config.display().to_string();
    let check = |file: &str, env: &[(&str, &str)]| {
        std::fs::write(&config, file).unwrap();
        hbx_sa_env(
            dir.path(),
            &["serve", "--check-config", "--config", &config_arg],
            env,
        )
    };
    let refused = |output: std::process::Output, words: &[&str]| {
        assert!(!output.status.success(), "accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for word in words {
            assert!(stderr.contains(word), "{word:?} not in: {stderr}");
        }
    };
    refused(
        check("tls_cert_file = \"/etc/hbx-sa/cert.pem\"\n", &[]),
        &["tls_cert_file", "tls_key_file"],
    );
    refused(
        check("oauth_audience = [\"api\"]\n", &[]),
        &["oauth_audience", "oauth_issuer"],
    );
    refused(
        check(
            "oauth_issuer = \"https://sso.example.com\"\n\
             oauth_audience = [\"api\"]\n\
             oauth_jwks_url = \"https://sso.example.com/jwks\"\n\
             oauth_jwks_file = \"/etc/jwks.json\"\n",
            &[],
        ),
        &["oauth_jwks_url", "oauth_jwks_file", "choose one"],
    );
    // One half from the file, the other from the environment: complete.
    let output = check(
        "tls_cert_file = \"/etc/hbx-sa/cert.pem\"\n",
        &[("HBX_SA_TLS_KEY_FILE", "/etc/hbx-sa/key.pem")],
    );
    let shown = json_stdout(&output);
    assert_eq!(shown["sources"]["tls_cert_file"], "config_file");
    assert_eq!(shown["sources"]["tls_key_file"], "environment");
    // And the server itself refuses to start on the incomplete file.
    std::fs::write(&config, "tls_cert_file = \"/etc/hbx-sa/cert.pem\"\n").unwrap();
    refused(
        hbx_sa(dir.path(), &["serve", "--config", &config_arg]),
        &["tls_key_file"],
    );
}

/// The configuration reference (docs/operations.md) names every setting the
/// file may hold, with its variable and flag.
#[test]
fn the_documentation_lists_every_setting() {
    use clap::CommandFactory;
    let reference = std::fs::read_to_string("docs/operations.md").unwrap();
    let keys = hbx_service_accounts::cli::config_file::known_keys(
        &hbx_service_accounts::cli::Cli::command(),
    );
    assert!(keys.len() > 20, "{keys:?}");
    for key in keys {
        let variable = format!("HBX_SA_{}", key.to_uppercase());
        let flag = format!("--{}", key.replace('_', "-"));
        let row = format!("| `{key}` | `{variable}` | `{flag}` |");
        assert!(
            reference.contains(&row),
            "the configuration table of docs/operations.md lacks {row}"
        );
    }
}
