//! What wraps every request's handler, whatever the endpoint: [`observe`]
//! writes its one request line (request id, method, path without query,
//! operation, status, latency, principal; never a credential), counts it in
//! the metrics under its operation id and status (both read from Dropshot),
//! and carries what is learned while the handler runs ([`note_principal`],
//! the `Sunset` of a request made with a previous token) from the handler to
//! the response.
//!
//! Handlers run in the connection's own task (Dropshot's
//! `CancelOnDisconnect`): a read or a refusal costs no task hand-off, and is
//! simply dropped if its client goes away. An operation that changes state
//! runs through [`observe_detached`] instead, in a task of its own that runs
//! to completion even when the client is gone, so that a write once started
//! is never cut off halfway; the server waits for those at shutdown
//! ([`Detached::wait_idle`]).

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use dropshot::{HttpError, HttpResponse, RequestContext, ServerContext};
use futures::future::BoxFuture;
use tokio::sync::Notify;

use super::metrics::{AuthOutcome, Metrics};
use super::request_log::RequestLines;
use crate::auth::AuthError;

/// What the frame of a server's requests needs: its metrics and its request
/// lines. Every server's context (the API's, the metrics listener's) has one.
#[derive(Clone)]
pub struct Frame {
    pub metrics: Arc<Metrics>,
    pub request_lines: RequestLines,
    pub detached: Arc<Detached>,
}

/// The state-changing handlers running in tasks of their own, so that
/// shutdown can wait for them.
#[derive(Debug, Default)]
pub struct Detached {
    running: AtomicUsize,
    idle: Notify,
}

impl Detached {
    /// Resolves once no detached handler is running.
    pub async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.running.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// Counts one running detached handler, until dropped.
struct Running(Arc<Detached>);

impl Running {
    fn start(detached: &Arc<Detached>) -> Self {
        detached.running.fetch_add(1, Ordering::SeqCst);
        Self(detached.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A context whose requests go through [`observe`].
pub trait Observed: ServerContext {
    fn frame(&self) -> &Frame;
}

/// What is learned about a request while it is handled.
#[derive(Default)]
struct RequestNotes {
    /// Who is making it (kind and id, never a credential): for its log line.
    principal: Option<String>,
    /// When the previous token it was made with stops working: for the
    /// `Sunset` header of its response, error or not.
    sunset: Option<chrono::DateTime<chrono::Utc>>,
}

tokio::task_local! {
    static NOTES: RefCell<RequestNotes>;
}

/// Notes who is making the current request (kind and id, never a credential).
pub fn note_principal(description: String) {
    let _ = NOTES.try_with(|notes| notes.borrow_mut().principal = Some(description));
}

/// The current request's `Sunset` value: when the previous token it was made
/// with stops working, as an HTTP-date (RFC 8594); none for any other
/// credential.
pub fn sunset() -> Option<String> {
    NOTES
        .try_with(|notes| notes.borrow().sunset)
        .ok()
        .flatten()
        .map(|at| at.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

/// Notes that the current request was made with a previous token that
/// stops working at `until` (its responses say so in `Sunset`).
pub fn note_sunset(until: Option<chrono::DateTime<chrono::Utc>>) {
    let _ = NOTES.try_with(|notes| notes.borrow_mut().sunset = until);
}

/// Counts how an authentication of a `kind` credential ended: well, or
/// with `failure`.
pub fn count_authentication(metrics: &Metrics, kind: &'static str, failure: Option<&AuthError>) {
    let (outcome, reason) = failure.map_or(("ok", ""), AuthError::outcome);
    metrics.authentication(AuthOutcome {
        kind,
        outcome,
        reason,
    });
}

/// The operation ids seen so far, each kept once for the life of the
/// process: metric labels are `&'static str`. Operation ids come from the API
/// description (a few dozen at most), never from request data.
static OPERATION_IDS: RwLock<Vec<&'static str>> = RwLock::new(Vec::new());

/// `operation_id` as a `&'static str`.
fn operation_label(operation_id: &str) -> &'static str {
    let known = OPERATION_IDS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .copied()
        .find(|known| *known == operation_id);
    if let Some(known) = known {
        return known;
    }
    let mut ids = OPERATION_IDS
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = ids.iter().copied().find(|known| *known == operation_id) {
        return known;
    }
    let label: &'static str = Box::leak(operation_id.to_owned().into_boxed_str());
    ids.push(label);
    label
}

/// The status a request is counted under when its client went away before
/// it was answered (nginx's "client closed request"): a read or a refusal
/// given up on. Counted all the same, so that requests that time out on the
/// client's side (a slow database, say) show in the metrics when it matters.
pub const CLIENT_CLOSED_REQUEST: u16 = 499;

/// Counts a request that was dropped before it was answered, when dropped.
struct Unanswered<'m> {
    metrics: &'m Metrics,
    operation: &'static str,
    started: Instant,
    answered: bool,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.metrics.request(
                self.operation,
                CLIENT_CLOSED_REQUEST,
                self.started.elapsed(),
            );
        }
    }
}

/// Runs one operation's handler, then writes its request line and counts it
/// in the metrics, under the operation id and the status Dropshot has for it.
pub async fn observe<C: Observed, T: HttpResponse>(
    rqctx: &RequestContext<C>,
    handler: impl Future<Output = Result<T, HttpError>>,
) -> Result<T, HttpError> {
    let result = run_observed(rqctx, handler).await;
    // Dropshot's own line for this request is dropped: ours says more.
    rqctx
        .context()
        .frame()
        .request_lines
        .finished(&rqctx.request_id);
    result
}

/// [`observe`] but for telling Dropshot's line apart, which only the task
/// that answers the client may do (its client may be gone).
async fn run_observed<C: Observed, T: HttpResponse>(
    rqctx: &RequestContext<C>,
    handler: impl Future<Output = Result<T, HttpError>>,
) -> Result<T, HttpError> {
    let started = Instant::now();
    let operation = operation_label(&rqctx.endpoint.operation_id);
    let frame = rqctx.context().frame();
    let mut unanswered = Unanswered {
        metrics: &frame.metrics,
        operation,
        started,
        answered: false,
    };
    let (mut result, principal, sunset) = NOTES
        .scope(RefCell::default(), async {
            let result = handler.await;
            let sunset = sunset();
            let principal = NOTES.with(|notes| notes.borrow_mut().principal.take());
            (result, principal, sunset)
        })
        .await;
    unanswered.answered = true;
    // A request made with a previous token learns when it stops working even
    // when it fails (successes carry it as a documented header).
    if let (Err(error), Some(sunset)) = (&mut result, sunset)
        && let Ok(value) = http::HeaderValue::from_str(&sunset)
    {
        error.headers_mut().insert("sunset", value);
    }
    let took = started.elapsed();
    let status = match &result {
        Ok(response) => response.status_code().as_u16(),
        Err(error) => error.status_code.as_u16(),
    };
    frame.metrics.request(operation, status, took);
    let principal = principal.as_deref().unwrap_or("none");
    match &result {
        Ok(_) => slog::info!(rqctx.log, "request completed";
            "operation" => operation,
            "response_code" => status,
            "latency_us" => took.as_micros() as u64,
            "principal" => principal),
        Err(error) => slog::info!(rqctx.log, "request completed";
            "operation" => operation,
            "response_code" => status,
            "latency_us" => took.as_micros() as u64,
            "principal" => principal,
            "error_code" => error.error_code.as_deref().unwrap_or(""),
            "error_message_internal" => &error.internal_message),
    }
    result
}

/// [`observe`], for an operation that changes state: the handler (given the
/// request's context) runs in a task of its own, to completion even if the
/// client goes away meanwhile.
pub async fn observe_detached<C, T, F>(rqctx: RequestContext<C>, handler: F) -> Result<T, HttpError>
where
    C: Observed,
    T: HttpResponse + Send + 'static,
    F: for<'r> FnOnce(&'r RequestContext<C>) -> BoxFuture<'r, Result<T, HttpError>>
        + Send
        + 'static,
{
    let frame = rqctx.context().frame();
    let running = Running::start(&frame.detached);
    let request_lines = frame.request_lines.clone();
    let request_id = rqctx.request_id.clone();
    let task = tokio::spawn(async move {
        let result = run_observed(&rqctx, handler(&rqctx)).await;
        drop(running);
        result
    });
    let result = match task.await {
        Ok(result) => result,
        Err(failed) if failed.is_panic() => std::panic::resume_unwind(failed.into_panic()),
        // The runtime is shutting down.
        Err(cancelled) => Err(super::error::internal(&cancelled)),
    };
    // Reached only while the client is there (Dropshot then writes its own
    // line for the request, which ours replaces); a request whose client
    // went away leaves nothing to remember.
    request_lines.finished(&request_id);
    result
}
