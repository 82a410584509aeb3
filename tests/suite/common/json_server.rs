//! A minimal HTTP server on 127.0.0.1 that answers every GET with the JSON a
//! test's handler returns for its path: what stand-ins for other parties (an
//! OAuth issuer, a secret-scanning partner) publish.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What to answer for a path: a status line (`200 OK`) and a JSON body; for
/// a redirect (`302 Found`), the body is a JSON string, sent as `Location`.
pub type Handler = Arc<dyn Fn(&str) -> (&'static str, Value) + Send + Sync>;

pub struct JsonServer {
    pub address: SocketAddr,
    server: tokio::task::AbortHandle,
}

impl JsonServer {
    pub async fn start(handler: Handler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let request = String::from_utf8_lossy(&request);
                    let path = request.split_whitespace().nth(1).unwrap_or("/");
                    let (status, body) = handler(path);
                    // A redirect: the body is where to.
                    let location = match (status.starts_with('3'), &body) {
                        (true, Value::String(to)) => format!("location: {to}\r\n"),
                        _ => String::new(),
                    };
                    let body = body.to_string();
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{location}\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        })
        .abort_handle();
        Self { address, server }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

impl Drop for JsonServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}
