//! Settings, in one typed place. The command line (`main.rs`) fills them from
//! flags and `HBX_SA_*` variables; tests build them directly.

use std::path::PathBuf;
use std::time::Duration;

use crate::token::TokenPrefix;

/// Where the server listens when not told otherwise.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Where state lives when not told otherwise.
pub const DEFAULT_DATA_DIR: &str = "./hbx-sa-data";
/// The token key file's name inside the data directory.
pub const TOKEN_KEY_FILE: &str = "token-keys";
/// How long an operation waits for the database when not told otherwise.
pub const DEFAULT_DATABASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where state lives and how tokens are minted: what every command that touches
/// storage needs.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// Holds the SQLite database and, unless `token_key_file` says otherwise,
    /// the token key file. Created (mode 0700) if missing.
    pub data_dir: PathBuf,
    /// A key file to use instead of `<data_dir>/token-keys`. It must exist.
    pub token_key_file: Option<PathBuf>,
    pub token_prefix: TokenPrefix,
    /// How long an operation waits for a database connection (or SQLite's
    /// write lock) before it fails with 503 `unavailable`.
    pub database_timeout: Duration,
}

impl StorageSettings {
    /// The defaults, with state in `data_dir`.
    pub fn in_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            token_key_file: None,
            token_prefix: TokenPrefix::default(),
            database_timeout: DEFAULT_DATABASE_TIMEOUT,
        }
    }
}
