//! Fault injection in front of a real part: a TCP proxy (for moto, sshd,
//! or any AWS endpoint) that can go down, cut a connection mid-stream or
//! slow it, and an HTTP proxy for moto's S3 that answers some requests
//! 503 SlowDown as S3 does under load. Each runs on a thread of its own,
//! so a test that blocks does not stall it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Runs `server` on a thread and runtime of its own, for the test's life.
fn on_own_thread(server: impl std::future::Future<Output = ()> + Send + 'static) {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(server)
    });
}

/// A TCP proxy to `127.0.0.1:upstream`.
pub struct Proxy {
    pub port: u16,
    faults: Arc<Faults>,
}

#[derive(Default)]
struct Faults {
    /// Down: live connections are reset, new ones closed at once.
    down: AtomicBool,
    /// Bumped to end every live connection.
    epoch: Mutex<Option<watch::Sender<u64>>>,
    /// Goes down when the client sends these bytes (once).
    down_when_sent: Mutex<Option<Vec<u8>>>,
    /// The next connection's answer is cut after this many bytes (once).
    cut_next_after: Mutex<Option<u64>>,
    /// Bytes a second in each direction; 0 is no limit.
    rate: AtomicU64,
    connections: AtomicU64,
    cuts: AtomicU64,
}

impl Faults {
    fn end_all(&self) {
        if let Some(tx) = &*self.epoch.lock().unwrap() {
            tx.send_modify(|e| *e += 1);
        }
    }
}

impl Proxy {
    pub fn start(upstream: u16) -> Proxy {
        let faults = Arc::new(Faults::default());
        let (tx, rx) = watch::channel(0u64);
        *faults.epoch.lock().unwrap() = Some(tx);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = faults.clone();
        on_own_thread(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if shared.down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let cut = shared.cut_next_after.lock().unwrap().take();
                tokio::spawn(relay(client, upstream, shared.clone(), rx.clone(), cut));
            }
        });
        Proxy { port, faults }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Resets every live connection and refuses new ones, until [`Proxy::up`].
    pub fn down(&self) {
        self.faults.down.store(true, Ordering::SeqCst);
        self.faults.end_all();
    }

    pub fn up(&self) {
        self.faults.down.store(false, Ordering::SeqCst);
    }

    pub fn is_down(&self) -> bool {
        self.faults.down.load(Ordering::SeqCst)
    }

    /// Goes down the moment a client sends `pattern` (which is not passed on).
    pub fn down_when_sent(&self, pattern: &[u8]) {
        *self.faults.down_when_sent.lock().unwrap() = Some(pattern.to_vec());
    }

    /// Cuts the next connection once `bytes` of the answer have passed.
    pub fn cut_next_after(&self, bytes: u64) {
        *self.faults.cut_next_after.lock().unwrap() = Some(bytes);
    }

    /// Limits each connection to `bytes_per_second` each way (0: none).
    pub fn throttle(&self, bytes_per_second: u64) {
        self.faults.rate.store(bytes_per_second, Ordering::SeqCst);
    }

    pub fn connections(&self) -> u64 {
        self.faults.connections.load(Ordering::SeqCst)
    }

    /// Connections cut by [`Proxy::cut_next_after`].
    pub fn cuts(&self) -> u64 {
        self.faults.cuts.load(Ordering::SeqCst)
    }
}

async fn relay(
    client: TcpStream,
    upstream: u16,
    faults: Arc<Faults>,
    mut epoch: watch::Receiver<u64>,
    cut: Option<u64>,
) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = {
        let faults = faults.clone();
        async move {
            let mut buf = vec![0u8; 16 * 1024];
            let mut tail: Vec<u8> = Vec::new();
            loop {
                let n = client_read.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    let _ = server_write.shutdown().await;
                    return;
                }
                let pattern = faults.down_when_sent.lock().unwrap().clone();
                if let Some(pattern) = pattern {
                    let mut window = std::mem::take(&mut tail);
                    window.extend_from_slice(&buf[..n]);
                    if window.windows(pattern.len()).any(|w| w == pattern) {
                        *faults.down_when_sent.lock().unwrap() = None;
                        faults.down.store(true, Ordering::SeqCst);
                        faults.end_all();
                        return;
                    }
                    tail = window[window.len().saturating_sub(pattern.len())..].to_vec();
                }
                pace(&faults, n).await;
                if server_write.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    };
    let down = {
        let faults = faults.clone();
        async move {
            let mut buf = vec![0u8; 16 * 1024];
            let mut passed = 0u64;
            loop {
                let n = server_read.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    let _ = client_write.shutdown().await;
                    return;
                }
                let mut n = n as u64;
                if let Some(limit) = cut {
                    if passed + n >= limit {
                        n = limit - passed;
                        let _ = client_write.write_all(&buf[..n as usize]).await;
                        faults.cuts.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
                passed += n;
                pace(&faults, n as usize).await;
                if client_write.write_all(&buf[..n as usize]).await.is_err() {
                    return;
                }
            }
        }
    };
    let start = *epoch.borrow_and_update();
    tokio::select! {
        () = up => {},
        () = down => {},
        _ = epoch.wait_for(|e| *e != start) => {},
    }
    // Dropping both halves closes both sockets.
}

/// Sleeps as long as `n` bytes take at the configured rate.
async fn pace(faults: &Faults, n: usize) {
    let rate = faults.rate.load(Ordering::SeqCst);
    if rate > 0 {
        tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
    }
}

/// An HTTP proxy in front of moto's S3 that answers 3 of every 10 requests
/// `503 SlowDown`, as S3 does when a prefix is over its request rate, and
/// passes the rest on unchanged.
pub struct SlowDown {
    pub port: u16,
    requests: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
}

const SLOW_DOWN: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
    <Message>Please reduce your request rate.</Message><RequestId>FAULT</RequestId></Error>";

impl SlowDown {
    pub fn start(upstream: &str) -> SlowDown {
        use axum::body::Body;
        use axum::extract::Request;
        use axum::response::Response;

        let requests = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (counted, failed, upstream) = (requests.clone(), refused.clone(), upstream.to_string());
        on_own_thread(async move {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let handler = move |request: Request| {
                let (client, upstream) = (client.clone(), upstream.clone());
                let (counted, failed) = (counted.clone(), failed.clone());
                async move {
                    let (parts, body) = request.into_parts();
                    let body = axum::body::to_bytes(body, 256 << 20).await.unwrap();
                    // Requests 2, 5 and 8 of every ten: never two in a
                    // row, so a retry that comes next gets through.
                    if matches!(counted.fetch_add(1, Ordering::SeqCst) % 10, 2 | 5 | 8) {
                        failed.fetch_add(1, Ordering::SeqCst);
                        return Response::builder()
                            .status(503)
                            .header("content-type", "application/xml")
                            .body(Body::from(SLOW_DOWN))
                            .unwrap();
                    }
                    let url = format!(
                        "{upstream}{}",
                        parts
                            .uri
                            .path_and_query()
                            .map(|p| p.as_str())
                            .unwrap_or("/")
                    );
                    let mut forward = client.request(parts.method, url).body(body);
                    for (name, value) in &parts.headers {
                        if !matches!(
                            name.as_str(),
                            "host" | "content-length" | "transfer-encoding" | "connection"
                        ) {
                            forward = forward.header(name, value);
                        }
                    }
                    let answer = forward.send().await.expect("moto answers");
                    let mut response = Response::builder().status(answer.status());
                    for (name, value) in answer.headers() {
                        if !matches!(
                            name.as_str(),
                            "content-length" | "transfer-encoding" | "connection"
                        ) {
                            response = response.header(name, value);
                        }
                    }
                    response
                        .body(Body::from(answer.bytes().await.unwrap()))
                        .unwrap()
                }
            };
            let app = axum::Router::new().fallback(handler);
            let listener = TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
        SlowDown {
            port,
            requests,
            refused,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests seen, and how many of them were answered 503.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::SeqCst),
            self.refused.load(Ordering::SeqCst),
        )
    }
}
