//! Adding objects to a collection: envelopes cut to the server's `max_content_length`, then the
//! status of each request followed until it is complete.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::Collection;
use crate::error::{Error, Result};
use crate::resources::{Status, StatusDetails};

/// How a push runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOptions {
    /// A request-size limit below the server's own `max_content_length` (the smaller one wins).
    pub max_content_length: Option<u64>,
    /// How long to wait, over all requests, for the server to finish processing them.
    pub status_timeout: Duration,
    /// The pause between two status reads.
    pub status_interval: Duration,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            max_content_length: None,
            status_timeout: Duration::from_secs(60),
            status_interval: Duration::from_millis(500),
        }
    }
}

/// The result of a push: every request's last status, and their details gathered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushOutcome {
    /// The last status read for each request, in request order.
    pub statuses: Vec<Status>,
    pub successes: Vec<StatusDetails>,
    pub failures: Vec<StatusDetails>,
    pub pendings: Vec<StatusDetails>,
    pub success_count: u64,
    pub failure_count: u64,
    pub pending_count: u64,
    /// Whether every request reached `complete` before the timeout.
    pub complete: bool,
}

impl Collection {
    /// Adds `objects` to the collection.
    ///
    /// The objects are packed, in order, into as few envelopes as fit the API root's
    /// `max_content_length` (or [`PushOptions::max_content_length`] when smaller), one POST each.
    /// Each request's status is then read until it is `complete` or the timeout passes; a
    /// timeout is not an error, it leaves [`PushOutcome::complete`] false with the pending
    /// counts. Pushing the same object version again is harmless: servers keep one copy.
    pub fn push(&self, objects: &[Value], options: &PushOptions) -> Result<PushOutcome> {
        let server_limit = self.api_root().info().max_content_length;
        let limit = options
            .max_content_length
            .map_or(server_limit, |own| own.min(server_limit));
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let bodies = envelopes(objects, limit)?;

        let url = self.objects_url();
        let mut statuses = Vec::with_capacity(bodies.len());
        for body in &bodies {
            let status: Status = self.client().post(&url, body)?.decode("status resource")?;
            statuses.push(status);
        }

        let deadline = Instant::now() + options.status_timeout;
        for status in &mut statuses {
            while !status.is_complete() && Instant::now() < deadline {
                std::thread::sleep(
                    options
                        .status_interval
                        .min(deadline.saturating_duration_since(Instant::now())),
                );
                *status = self.api_root().status(&status.id)?;
            }
        }

        let mut outcome = PushOutcome {
            complete: statuses.iter().all(Status::is_complete),
            ..PushOutcome::default()
        };
        for status in &statuses {
            outcome.success_count += status.success_count;
            outcome.failure_count += status.failure_count;
            outcome.pending_count += status.pending_count;
            outcome.successes.extend(status.successes.iter().cloned());
            outcome.failures.extend(status.failures.iter().cloned());
            outcome.pendings.extend(status.pendings.iter().cloned());
        }
        outcome.statuses = statuses;
        Ok(outcome)
    }
}

const ENVELOPE_HEAD: &[u8] = br#"{"objects":["#;
const ENVELOPE_TAIL: &[u8] = b"]}";

/// Packs objects, in order, into envelope bodies of at most `limit` bytes each.
pub(crate) fn envelopes(objects: &[Value], limit: usize) -> Result<Vec<Vec<u8>>> {
    let overhead = ENVELOPE_HEAD.len() + ENVELOPE_TAIL.len();
    let mut bodies = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        let id = object
            .get("id")
            .and_then(Value::as_str)
            .ok_or(Error::NotAnObject { index })?;
        let bytes = serde_json::to_vec(object).expect("a JSON value always serialises");
        if bytes.len() + overhead > limit {
            return Err(Error::ObjectTooLarge {
                id: id.to_owned(),
                size: bytes.len() + overhead,
                limit,
            });
        }
        // The body so far, a comma, this object and the closing bracket.
        if !current.is_empty() && current.len() + 1 + bytes.len() + ENVELOPE_TAIL.len() > limit {
            current.extend_from_slice(ENVELOPE_TAIL);
            bodies.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.extend_from_slice(ENVELOPE_HEAD);
        } else {
            current.push(b',');
        }
        current.extend_from_slice(&bytes);
    }
    if !current.is_empty() {
        current.extend_from_slice(ENVELOPE_TAIL);
        bodies.push(current);
    }
    Ok(bodies)
}
