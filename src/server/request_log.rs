//! One line per request, with what an operator needs and no credential.
//!
//! Dropshot logs each request it finishes with its request id, method, URI,
//! status and latency. This module's drain sits in front of the server's
//! logger and
//! - redacts the query string of every `uri` it sees (a token sent as
//!   `?token=...` by mistake must not reach the log), and
//! - drops Dropshot's line for requests that reached one of our operations,
//!   whose own line ([`RequestLines::finished`]) says more: the operation and
//!   the principal as well. Requests answered before any operation ran (no
//!   such path, wrong method, a path, query or body that could not be read)
//!   keep Dropshot's line, and are counted in the metrics by their status
//!   (operation `none`): Dropshot's line is the one place that sees them.

use std::collections::HashSet;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

use slog::{Drain, KV, Key, Logger, OwnedKV, OwnedKVList, Record, Serializer, o};

use crate::token::scan::redact_token_shapes;

/// The message of Dropshot's line for a finished request (and of ours).
const DROPSHOT_REQUEST_LINE: &str = "request completed";
/// The module path Dropshot's lines are logged from.
const DROPSHOT_MODULE: &str = "dropshot::";
/// Most request ids remembered between our line and Dropshot's (a request cut
/// off in between would otherwise stay forever).
const MAX_REMEMBERED: usize = 100_000;

/// Told the status of each request answered before any operation ran.
pub type Unclaimed = Arc<dyn Fn(u16) + Send + Sync>;

/// A request id as remembered: Dropshot's ids are UUIDs, kept as their 128
/// bits (no allocation, and a hash of nothing but the id's random bits).
type RequestKey = u128;

/// Hashes a [`RequestKey`] by its bits, which a random UUID draws uniformly
/// (but for a few fixed ones).
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `u128` keys; a fallback that still spreads bytes.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u128(&mut self, key: u128) {
        // Both halves: the top bits of each hold some of a UUID's fixed
        // version and variant bits, never both at once.
        self.0 = (key as u64) ^ ((key >> 64) as u64);
    }
}

type RequestKeys = HashSet<RequestKey, std::hash::BuildHasherDefault<KeyHasher>>;

/// The key of request id `request_id`, if it is a UUID (Dropshot's always are).
fn request_key(request_id: &str) -> Option<RequestKey> {
    uuid::Uuid::try_parse(request_id)
        .ok()
        .map(|id| id.as_u128())
}

/// Requests whose line this service has written already.
pub struct RequestLines {
    finished: Arc<Mutex<RequestKeys>>,
    /// A logger's drain must be unwind-safe; a counter is, whatever its
    /// type says (a panic mid-count leaves at worst one count off).
    unclaimed: AssertUnwindSafe<Unclaimed>,
}

impl Clone for RequestLines {
    fn clone(&self) -> Self {
        Self {
            finished: self.finished.clone(),
            unclaimed: AssertUnwindSafe(self.unclaimed.0.clone()),
        }
    }
}

impl RequestLines {
    /// Lines for a server that tells `unclaimed` of the requests it answered
    /// before any operation ran.
    pub fn new(unclaimed: Unclaimed) -> Self {
        Self {
            finished: Arc::default(),
            unclaimed: AssertUnwindSafe(unclaimed),
        }
    }

    /// A logger writing to `log` through the redacting, de-duplicating drain.
    pub fn wrap(&self, log: Logger) -> Logger {
        Logger::root(
            RequestLineDrain {
                inner: log,
                lines: self.clone(),
            }
            .fuse(),
            o!(),
        )
    }

    /// Notes that request `request_id` has its line: Dropshot's is dropped.
    pub fn finished(&self, request_id: &str) {
        let Some(key) = request_key(request_id) else {
            return;
        };
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        if finished.len() >= MAX_REMEMBERED {
            finished.clear();
        }
        finished.insert(key);
    }

    fn take(&self, key: RequestKey) -> bool {
        self.finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key)
    }
}

struct RequestLineDrain {
    inner: Logger,
    lines: RequestLines,
}

impl Drain for RequestLineDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        // Dropshot's own line, not ours (which has the same message): told
        // apart by where it was logged.
        if record.msg().as_str() == Some(DROPSHOT_REQUEST_LINE)
            && record.module().starts_with(DROPSHOT_MODULE)
        {
            let found = find_values(record, values);
            if found.request.is_some_and(|key| self.lines.take(key)) {
                return Ok(());
            }
            if let Some(status) = found.response_code {
                (self.lines.unclaimed.0)(status);
            }
        }
        // A record the logger would drop (below its level) costs nothing more.
        if !self.inner.is_enabled(record.level()) {
            return Ok(());
        }
        let redacted = OwnedKVList::from(OwnedKV(RedactedUri(values.clone())));
        let _ = Drain::log(&self.inner, record, &redacted);
        Ok(())
    }
}

/// What a request line says of the request.
#[derive(Default)]
struct Found {
    request: Option<RequestKey>,
    response_code: Option<u16>,
}

impl Serializer for Found {
    fn emit_str(&mut self, key: Key, value: &str) -> slog::Result {
        if key == "req_id" {
            self.request = request_key(value);
        }
        Ok(())
    }

    fn emit_arguments(&mut self, key: Key, value: &fmt::Arguments<'_>) -> slog::Result {
        if key == "req_id" {
            self.request = request_key(&value.to_string());
        } else if key == "response_code" {
            self.response_code = value.to_string().parse().ok();
        }
        Ok(())
    }

    fn emit_u16(&mut self, key: Key, value: u16) -> slog::Result {
        if key == "response_code" {
            self.response_code = Some(value);
        }
        Ok(())
    }

    fn emit_u64(&mut self, key: Key, value: u64) -> slog::Result {
        if key == "response_code" {
            self.response_code = u16::try_from(value).ok();
        }
        Ok(())
    }
}

/// The `req_id` and `response_code` of a record and its logger.
fn find_values(record: &Record<'_>, values: &OwnedKVList) -> Found {
    let mut found = Found::default();
    // The request id is the request logger's; the status is the record's.
    let _ = values.serialize(record, &mut found);
    let _ = record.kv().serialize(record, &mut found);
    found
}

/// Values whose `uri` shows no query string.
struct RedactedUri(OwnedKVList);

impl KV for RedactedUri {
    fn serialize(&self, record: &Record<'_>, serializer: &mut dyn Serializer) -> slog::Result {
        self.0.serialize(record, &mut Redacting(serializer))
    }
}

/// `path?query` → `path?<redacted>`, and anything in the path shaped like a
/// token (a token sent as a path segment) → `<redacted token>`.
pub fn redact_query(uri: &str) -> String {
    match uri.split_once('?') {
        Some((path, _)) => format!("{}?<redacted>", redact_token_shapes(path)),
        None => redact_token_shapes(uri).into_owned(),
    }
}

struct Redacting<'a>(&'a mut dyn Serializer);

macro_rules! forward {
    ($($method:ident($type:ty)),+ $(,)?) => {
        $(fn $method(&mut self, key: Key, value: $type) -> slog::Result {
            self.0.$method(key, value)
        })+
    };
}

impl Serializer for Redacting<'_> {
    fn emit_arguments(&mut self, key: Key, value: &fmt::Arguments<'_>) -> slog::Result {
        if key == "uri" {
            return self.0.emit_str(key, &redact_query(&value.to_string()));
        }
        self.0.emit_arguments(key, value)
    }

    fn emit_str(&mut self, key: Key, value: &str) -> slog::Result {
        if key == "uri" {
            return self.0.emit_str(key, &redact_query(value));
        }
        self.0.emit_str(key, value)
    }

    fn emit_none(&mut self, key: Key) -> slog::Result {
        self.0.emit_none(key)
    }

    fn emit_unit(&mut self, key: Key) -> slog::Result {
        self.0.emit_unit(key)
    }

    forward!(
        emit_usize(usize),
        emit_isize(isize),
        emit_bool(bool),
        emit_char(char),
        emit_u8(u8),
        emit_i8(i8),
        emit_u16(u16),
        emit_i16(i16),
        emit_u32(u32),
        emit_i32(i32),
        emit_f32(f32),
        emit_u64(u64),
        emit_i64(i64),
        emit_f64(f64),
        emit_u128(u128),
        emit_i128(i128),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_redacted() {
        assert_eq!(
            redact_query("/v1/x?token=hbxsa_secret&a=b"),
            "/v1/x?<redacted>"
        );
        assert_eq!(redact_query("/v1/x"), "/v1/x");
        let token = "hbxsa_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyz0123453fOlMQ";
        assert_eq!(
            redact_query(&format!("/v1/public/accounts/{token}?a=b")),
            "/v1/public/accounts/<redacted token>?<redacted>"
        );
        assert_eq!(
            redact_query(&format!("/v1/public/accounts/{token}")),
            "/v1/public/accounts/<redacted token>"
        );
    }
}
