//! A webhook receiver on 127.0.0.1: reads each delivery whole, verifies its
//! signature with the `standardwebhooks` crate (the Standard Webhooks
//! project's own library from crates.io, not our code) against the secrets
//! it was given, records it, and answers what the test's script says for the
//! n-th request. It also notes when two requests with one `webhook-id` were
//! being answered at the same time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One delivery as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message_id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Value,
    /// The body as sent.
    pub raw_body: String,
    /// Whether the library verified it with one of the secrets given.
    pub verified: bool,
    pub received_at: Instant,
}

impl Delivery {
    pub fn event_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }
}

/// What to answer: a status, extra headers, and a body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// The n-th request (from 0), as received, to the answer.
pub type Script = Arc<dyn Fn(usize, &Delivery) -> Reply + Send + Sync>;

#[derive(Default)]
struct State {
    secrets: Vec<String>,
    deliveries: Vec<Delivery>,
    in_flight: HashMap<String, usize>,
    overlaps: Vec<String>,
}

#[derive(Clone)]
pub struct Receiver {
    pub address: SocketAddr,
    state: Arc<Mutex<State>>,
    server: Arc<tokio::task::AbortHandle>,
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

fn verify(secrets: &[String], body: &[u8], head: &str) -> bool {
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        if let Some(value) = header(head, name) {
            headers.insert(name, value.parse().unwrap());
        }
    }
    secrets.iter().any(|secret| {
        standardwebhooks::Webhook::new(secret)
            .map(|hook| hook.verify(body, &headers).is_ok())
            .unwrap_or(false)
    })
}

impl Receiver {
    /// Answers 200 to everything.
    pub async fn start() -> Self {
        Self::scripted(Arc::new(|_, _| Reply::status(200)), Duration::ZERO).await
    }

    /// Answers by `script`, holding each answer for `hold` first.
    pub async fn scripted(script: Script, hold: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, shared.clone(), script.clone(), hold));
            }
        })
        .abort_handle();
        Self {
            address,
            state,
            server: Arc::new(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Verifies deliveries with `secret` too.
    pub fn trust(&self, secret: &str) {
        self.state.lock().unwrap().secrets.push(secret.to_owned());
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.lock().unwrap().deliveries.clone()
    }

    /// Every `webhook-id` answered twice at the same time.
    pub fn overlaps(&self) -> Vec<String> {
        self.state.lock().unwrap().overlaps.clone()
    }

    /// The deliveries once `done` says they are complete, or (failing the
    /// test with what came) after `within`.
    pub async fn wait_for(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> Vec<Delivery> {
        let deadline = Instant::now() + within;
        loop {
            let deliveries = self.deliveries();
            if done(&deliveries) {
                return deliveries;
            }
            if Instant::now() > deadline {
                let types: Vec<&str> = deliveries.iter().map(Delivery::event_type).collect();
                panic!("no {what} within {within:?}; received: {types:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for a delivery of `event_type`.
    pub async fn wait_for_type(&self, event_type: &str) -> Delivery {
        let all = self
            .wait_for(Duration::from_secs(20), event_type, |d| {
                d.iter().any(|d| d.event_type() == event_type)
            })
            .await;
        all.into_iter()
            .find(|d| d.event_type() == event_type)
            .unwrap()
    }
}

async fn serve(
    mut stream: tokio::net::TcpStream,
    state: Arc<Mutex<State>>,
    script: Script,
    hold: Duration,
) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let length: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    let body = &request[head_end..head_end + length];
    let (delivery, index) = {
        let mut state = state.lock().unwrap();
        let delivery = Delivery {
            message_id: header(&head, "webhook-id").unwrap_or_default().to_owned(),
            timestamp: header(&head, "webhook-timestamp")
                .unwrap_or_default()
                .to_owned(),
            signature: header(&head, "webhook-signature")
                .unwrap_or_default()
                .to_owned(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            raw_body: String::from_utf8_lossy(body).into_owned(),
            verified: verify(&state.secrets, body, &head),
            received_at: Instant::now(),
        };
        let running = state
            .in_flight
            .entry(delivery.message_id.clone())
            .or_default();
        *running += 1;
        if *running > 1 {
            state.overlaps.push(delivery.message_id.clone());
        }
        state.deliveries.push(delivery.clone());
        (delivery, state.deliveries.len() - 1)
    };
    let reply = script(index, &delivery);
    tokio::time::sleep(hold).await;
    if let Some(running) = state
        .lock()
        .unwrap()
        .in_flight
        .get_mut(&delivery.message_id)
    {
        *running -= 1;
    }
    let mut response = format!(
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&reply.body);
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if Arc::strong_count(&self.server) == 1 {
            self.server.abort();
        }
    }
}
