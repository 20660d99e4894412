//! List and search latency over HTTP, as one member analyst, on a loaded corpus.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use isac_model::Tlp;
use isac_policy::Viewer;
use isac_store::{ObjectFilter, Store};

use crate::corpus::{self, Cast};
use crate::http::Client;
use crate::stats::{Table, ms, percentile};

pub struct Options {
    pub runs: usize,
    pub samples: usize,
    /// A request is sampled at most this long per run (but at least [`MIN_SAMPLES`] times).
    pub max_seconds: f64,
    /// Pages reached by following cursors from the first page.
    pub deep: Vec<u64>,
}

const MIN_SAMPLES: usize = 5;
const WARMUP: usize = 2;
const LIMIT: u32 = 50;

/// One request to time, with how many objects the reader may see under it.
pub struct Probe {
    pub name: String,
    pub path: String,
    pub visible: Option<i64>,
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The search values: one the reader may read, one stored but outside the reader's audience,
/// a CVE cited by about `n / 10,000` objects, and one that is not stored at all.
fn search_values(cast: &Cast, seed: u64, n: u64) -> Result<Vec<(String, String)>> {
    let find = |readable: bool| {
        (n / 2..n)
            .find(|&i| {
                let d = corpus::corpus_draft(cast, seed, i);
                d.object["type"] == "indicator" && d.readable_by_reader(cast) == readable
            })
            .map(corpus::unique_value)
    };
    let (Some(seen), Some(hidden)) = (find(true), find(false)) else {
        bail!("the corpus is too small to pick search values");
    };
    let cve = corpus::shared_cve(5000)
        .expect("object 5000 cites a CVE")
        .to_lowercase();
    Ok(vec![
        ("search, value of 1 readable object".into(), seen),
        (
            "search, value of 1 object outside the audience".into(),
            hidden,
        ),
        (
            format!("search, CVE cited by {} stored objects", n.div_ceil(10_000)),
            cve,
        ),
        (
            "search, value not stored".into(),
            "login-0.nowhere.example".into(),
        ),
    ])
}

/// The requests to time, with the reader's visible counts (computed by the store directly).
pub async fn probes(
    store: &Store,
    viewer: &Viewer,
    cast: &Cast,
    seed: u64,
    n: u64,
) -> Result<Vec<Probe>> {
    let count = |f: ObjectFilter| async move {
        store
            .count_objects(viewer, &f)
            .await
            .context("counting what the reader may see")
    };
    let mut out = vec![Probe {
        name: "list, first page".into(),
        path: format!("/api/v1/objects?limit={LIMIT}"),
        visible: Some(count(ObjectFilter::default()).await?),
    }];
    for (name, filter, query) in [
        (
            "list type=indicator, first page",
            ObjectFilter {
                stix_type: Some("indicator".into()),
                ..ObjectFilter::default()
            },
            "type=indicator",
        ),
        (
            "list tlp=amber, first page",
            ObjectFilter {
                tlp: Some(Tlp::Amber),
                ..ObjectFilter::default()
            },
            "tlp=amber",
        ),
        (
            "list tlp=red, first page",
            ObjectFilter {
                tlp: Some(Tlp::Red),
                ..ObjectFilter::default()
            },
            "tlp=red",
        ),
    ] {
        out.push(Probe {
            name: name.into(),
            path: format!("/api/v1/objects?limit={LIMIT}&{query}"),
            visible: Some(count(filter).await?),
        });
    }
    for (name, value) in search_values(cast, seed, n)? {
        let visible = count(ObjectFilter {
            value: Some(value.clone()),
            ..ObjectFilter::default()
        })
        .await?;
        out.push(Probe {
            name,
            path: format!("/api/v1/search?limit={LIMIT}&q={}", encode(&value)),
            visible: Some(visible),
        });
    }
    Ok(out)
}

/// Follows `next` cursors from the first page and returns a probe for each deep page reached,
/// and the latencies of the walk.
pub fn walk(client: &Client, deep: &[u64]) -> Result<(Vec<Probe>, Vec<Duration>)> {
    let last = deep.iter().copied().max().unwrap_or(0);
    let mut probes = Vec::new();
    let mut lat = Vec::new();
    let mut path = format!("/api/v1/objects?limit={LIMIT}");
    let started = Instant::now();
    for page in 1..=last {
        if deep.contains(&page) {
            probes.push(Probe {
                name: format!("list, page {page} (by cursor)"),
                path: path.clone(),
                visible: None,
            });
        }
        let (t, v) = client.get_json(&path)?;
        lat.push(t);
        let Some(next) = v["next"].as_str() else {
            eprintln!("  the listing ends at page {page}");
            break;
        };
        path = format!("/api/v1/objects?limit={LIMIT}&cursor={}", encode(next));
        if page.is_multiple_of(1000) {
            eprintln!(
                "  walked {page} pages in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok((probes, lat))
}

/// What one probe measured over every run.
pub struct Measured {
    pub probe: Probe,
    pub rows: usize,
    pub bytes: usize,
    pub runs: Vec<Vec<Duration>>,
}

/// Times every probe, `runs` times round-robin so that noise spreads over all of them.
pub fn measure(client: &Client, probes: Vec<Probe>, o: &Options) -> Result<Vec<Measured>> {
    let mut out: Vec<Measured> = probes
        .into_iter()
        .map(|probe| Measured {
            probe,
            rows: 0,
            bytes: 0,
            runs: Vec::new(),
        })
        .collect();
    for run in 0..o.runs {
        eprintln!("  read run {}/{}", run + 1, o.runs);
        for m in &mut out {
            for _ in 0..WARMUP {
                let r = client.get(&m.probe.path)?;
                if r.status != 200 {
                    bail!(
                        "GET {} answered {}: {}",
                        m.probe.path,
                        r.status,
                        crate::http::short(&r.body)
                    );
                }
                let v: serde_json::Value = serde_json::from_str(&r.body)?;
                m.rows = v["objects"].as_array().map_or(0, Vec::len);
                m.bytes = r.body.len();
            }
            let started = Instant::now();
            let mut lat = Vec::with_capacity(o.samples);
            while lat.len() < o.samples
                && (lat.len() < MIN_SAMPLES || started.elapsed().as_secs_f64() < o.max_seconds)
            {
                let r = client.get(&m.probe.path)?;
                if r.status != 200 {
                    bail!("GET {} answered {}", m.probe.path, r.status);
                }
                lat.push(r.elapsed);
            }
            m.runs.push(lat);
        }
    }
    Ok(out)
}

pub fn table(measured: &[Measured], walk: &[Duration]) -> String {
    let mut t = Table::new(&[
        "request (limit=50)",
        "rows returned",
        "reader may see",
        "p50 ms",
        "p99 ms",
        "p50 of each run, ms",
        "samples",
    ]);
    for m in measured {
        let all: Vec<Duration> = m.runs.iter().flatten().copied().collect();
        let per_run: Vec<String> = m.runs.iter().map(|r| ms(percentile(r, 50.0))).collect();
        t.row(vec![
            m.probe.name.clone(),
            format!("{} ({} KiB)", m.rows, m.bytes.div_ceil(1024)),
            m.probe
                .visible
                .map_or_else(|| "-".into(), |v| v.to_string()),
            ms(percentile(&all, 50.0)),
            ms(percentile(&all, 99.0)),
            per_run.join(" / "),
            all.len().to_string(),
        ]);
    }
    if !walk.is_empty() {
        let mean = walk.iter().map(Duration::as_secs_f64).sum::<f64>() / walk.len() as f64 * 1000.0;
        t.row(vec![
            format!("list, cursor walk pages 1..{}", walk.len()),
            "50 each".into(),
            "-".into(),
            ms(percentile(walk, 50.0)),
            ms(percentile(walk, 99.0)),
            format!("mean {}", crate::stats::rate(mean)),
            walk.len().to_string(),
        ]);
    }
    t.render()
}
