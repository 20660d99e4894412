//! Acknowledged writes per second over HTTP: a write counts once the server has answered 201,
//! which on SQLite means the transaction is fsynced (`synchronous=FULL`) and on PostgreSQL
//! committed.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::Result;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::corpus::{self, Cast};
use crate::http::Client;
use crate::stats::{Table, median, ms, percentile, rate};

#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub clients: usize,
    /// Objects per request; 0 is the single-object endpoint.
    pub batch: usize,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario {
            clients: 1,
            batch: 0,
        },
        Scenario {
            clients: 8,
            batch: 0,
        },
        Scenario {
            clients: 1,
            batch: 100,
        },
        Scenario {
            clients: 1,
            batch: 1000,
        },
    ];

    /// The short name `--scenarios` takes: objects per request `x` clients, e.g. `1x8`.
    pub fn key(&self) -> String {
        format!("{}x{}", self.objects_per_request(), self.clients)
    }

    pub fn name(&self) -> String {
        let clients = match self.clients {
            1 => "1 client".to_owned(),
            n => format!("{n} clients"),
        };
        match self.batch {
            0 => format!("POST /api/v1/objects, {clients}"),
            n => format!("POST /api/v1/objects/batch, {n} per request, {clients}"),
        }
    }

    fn objects_per_request(&self) -> usize {
        self.batch.max(1)
    }

    fn path(&self) -> &'static str {
        if self.batch == 0 {
            "/api/v1/objects"
        } else {
            "/api/v1/objects/batch"
        }
    }

    fn body(&self, cast: &Cast, rng: &mut StdRng) -> Vec<u8> {
        let mut one = || {
            let tag = format!("w{:016x}", rng.r#gen::<u64>());
            corpus::write_draft(cast, rng, &tag).to_json()
        };
        let v = if self.batch == 0 {
            one()
        } else {
            json!({ "items": (0..self.batch).map(|_| one()).collect::<Vec<Value>>() })
        };
        serde_json::to_vec(&v).expect("JSON values serialise")
    }
}

/// One timed run of a scenario.
pub struct Run {
    pub objects: usize,
    pub requests: usize,
    pub errors: usize,
    pub wall: Duration,
    pub latencies: Vec<Duration>,
    pub request_bytes: usize,
}

/// Drives `s` for `seconds`: each client sends its next request as soon as the previous one is
/// answered. `keys[c]` is client c's API key.
pub fn drive(
    addr: std::net::SocketAddr,
    keys: &[String],
    cast: &Cast,
    s: Scenario,
    seconds: f64,
    seed: u64,
) -> Result<Run> {
    let barrier = Barrier::new(s.clients + 1);
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..s.clients)
            .map(|c| {
                let barrier = &barrier;
                let key = &keys[c];
                scope.spawn(move || -> Result<(usize, usize, Vec<Duration>, usize)> {
                    let client = Client::new(addr, key);
                    let mut rng = StdRng::seed_from_u64(seed ^ ((c as u64) << 32));
                    let (mut ok, mut errors, mut lat, mut bytes) = (0, 0, Vec::new(), 0);
                    barrier.wait();
                    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
                    while Instant::now() < deadline {
                        let body = s.body(cast, &mut rng);
                        bytes = body.len();
                        let r = client.post(s.path(), &body)?;
                        if r.status == 201 {
                            ok += 1;
                            lat.push(r.elapsed);
                        } else {
                            if errors == 0 {
                                eprintln!(
                                    "  {} answered {}: {}",
                                    s.path(),
                                    r.status,
                                    crate::http::short(&r.body)
                                );
                            }
                            errors += 1;
                        }
                    }
                    Ok((ok, errors, lat, bytes))
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        let joined: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("a client thread panicked"))
            .collect();
        (started.elapsed(), joined)
    });
    let (wall, joined) = results;
    let mut run = Run {
        objects: 0,
        requests: 0,
        errors: 0,
        wall,
        latencies: Vec::new(),
        request_bytes: 0,
    };
    for r in joined {
        let (ok, errors, lat, bytes) = r?;
        run.requests += ok;
        run.objects += ok * s.objects_per_request();
        run.errors += errors;
        run.latencies.extend(lat);
        run.request_bytes = run.request_bytes.max(bytes);
    }
    Ok(run)
}

pub fn table(results: &[(Scenario, Vec<Run>)]) -> String {
    let mut t = Table::new(&[
        "request",
        "objects/s (median of runs)",
        "requests/s",
        "objects/s of each run",
        "latency p50 ms",
        "latency p99 ms",
        "requests (all runs)",
        "errors",
        "request size",
    ]);
    for (s, runs) in results {
        let per_sec = |r: &Run| r.objects as f64 / r.wall.as_secs_f64();
        let obj: Vec<f64> = runs.iter().map(per_sec).collect();
        let req: Vec<f64> = runs
            .iter()
            .map(|r| r.requests as f64 / r.wall.as_secs_f64())
            .collect();
        let lat: Vec<Duration> = runs.iter().flat_map(|r| r.latencies.clone()).collect();
        t.row(vec![
            s.name(),
            rate(median(&obj)),
            rate(median(&req)),
            obj.iter().map(|x| rate(*x)).collect::<Vec<_>>().join(" / "),
            ms(percentile(&lat, 50.0)),
            ms(percentile(&lat, 99.0)),
            lat.len().to_string(),
            runs.iter().map(|r| r.errors).sum::<usize>().to_string(),
            format!(
                "{} KiB",
                runs.iter()
                    .map(|r| r.request_bytes)
                    .max()
                    .unwrap_or(0)
                    .div_ceil(1024)
            ),
        ]);
    }
    t.render()
}
