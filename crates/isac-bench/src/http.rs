//! The real server, started in-process on 127.0.0.1:0 with its whole router and auth layers, and
//! a blocking keep-alive HTTP client that times each request until its body is read.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use isac_server::{AppState, Config};
use isac_store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Server {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Serves `store` exactly as `isac serve` does, on an ephemeral port.
    pub async fn start(store: Store) -> Result<Server> {
        let (router, _) = isac_server::app(AppState::new(store, Config::default()));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("binding 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Server { addr, stop, task })
    }

    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("server task")??;
        Ok(())
    }
}

/// One client connection (kept alive between requests) acting with one API key.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

/// A timed response.
pub struct Reply {
    pub elapsed: Duration,
    pub status: u16,
    pub body: String,
}

impl Client {
    pub fn new(addr: SocketAddr, key: &str) -> Client {
        Client {
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(600))
                .max_idle_connections_per_host(1)
                .build(),
            base: format!("http://{addr}"),
            auth: format!("Bearer {key}"),
        }
    }

    pub fn get(&self, path: &str) -> Result<Reply> {
        let req = self
            .agent
            .get(&format!("{}{path}", self.base))
            .set("Authorization", &self.auth);
        let started = Instant::now();
        finish(started, req.call())
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Result<Reply> {
        let req = self
            .agent
            .post(&format!("{}{path}", self.base))
            .set("Authorization", &self.auth)
            .set("Content-Type", "application/json");
        let started = Instant::now();
        finish(started, req.send_bytes(body))
    }

    /// A GET that must answer 200, as parsed JSON.
    pub fn get_json(&self, path: &str) -> Result<(Duration, serde_json::Value)> {
        let r = self.get(path)?;
        if r.status != 200 {
            bail!("GET {path} answered {}: {}", r.status, short(&r.body));
        }
        let v = serde_json::from_str(&r.body).with_context(|| format!("GET {path}: not JSON"))?;
        Ok((r.elapsed, v))
    }
}

fn finish(started: Instant, r: Result<ureq::Response, ureq::Error>) -> Result<Reply> {
    let resp = match r {
        Ok(resp) => resp,
        Err(ureq::Error::Status(_, resp)) => resp,
        Err(e) => return Err(e).context("HTTP request"),
    };
    let status = resp.status();
    let body = resp.into_string().context("reading the response body")?;
    Ok(Reply {
        elapsed: started.elapsed(),
        status,
        body,
    })
}

pub fn short(s: &str) -> String {
    s.chars().take(300).collect()
}
