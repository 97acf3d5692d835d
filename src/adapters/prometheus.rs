//! A [`Metrics`] source on Prometheus' HTTP query API
//! (`/api/v1/query`, `/api/v1/query_range`), with `ureq` (blocking, on
//! the `blocking` thread pool, so no runtime is forced on the host).
//! Plain HTTP; feature `prometheus-tls` adds HTTPS (rustls).
//!
//! What it asks and how it reads the answer:
//!
//! - an instant query answers one number: a scalar, or a vector of exactly
//!   one series. No series is [`NotFound`](ErrorKind::NotFound) (the
//!   series is missing); several are [`Rejected`](ErrorKind::Rejected)
//!   (aggregate them with `sum`, `max`, … so one number answers);
//! - a range query answers the values of exactly one series, in time
//!   order; no series is no points; several are refused as above;
//! - Prometheus refusing the query (HTTP 400 `bad_data`, 422 `execution`)
//!   is [`Rejected`](ErrorKind::Rejected) with Prometheus' own message; a
//!   server that is down, too slow (the timeout, 10 s unless set) or
//!   answering 5xx is [`Unavailable`](ErrorKind::Unavailable); an answer
//!   that is not Prometheus' JSON is [`Rejected`](ErrorKind::Rejected).
//!
//! `NaN` and infinite values come back as they are; an analysis counts
//! them as errors, never as numbers.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::port::{AdapterError, ErrorKind, Metrics};

/// Prometheus' query API at a base address.
///
/// ```
/// use knowngood::adapters::PrometheusMetrics;
/// let metrics = PrometheusMetrics::new("http://127.0.0.1:9090")?
///     .timeout(std::time::Duration::from_secs(5));
/// assert!(PrometheusMetrics::new("127.0.0.1:9090").is_err());
/// # Ok::<(), knowngood::port::AdapterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PrometheusMetrics {
    base: String,
    /// One agent for every query (its connections are reused), rebuilt
    /// when the timeout changes.
    agent: ureq::Agent,
}

/// An agent that gives up after `timeout` and reads every HTTP status as
/// an answer (the adapter maps them to error kinds itself).
fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

impl PrometheusMetrics {
    /// Prometheus at `base` (`http://host:9090`, or `https://…` with the
    /// `prometheus-tls` feature), with a 10 s timeout.
    pub fn new(base: impl Into<String>) -> Result<Self, AdapterError> {
        let base: String = base.into();
        let scheme_ok = base.starts_with("http://")
            || (cfg!(feature = "prometheus-tls") && base.starts_with("https://"));
        if !scheme_ok {
            return Err(AdapterError::new(
                ErrorKind::Rejected,
                format!(
                    "`{base}` is not an http:// address (https:// needs the `prometheus-tls` feature)"
                ),
            ));
        }
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            agent: agent(Duration::from_secs(10)),
        })
    }

    /// Gives up on an answer after `timeout`.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.agent = agent(timeout);
        self
    }

    fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value, AdapterError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.get(&url);
        for (key, value) in params {
            request = request.query(*key, value);
        }
        let mut response = request.call().map_err(|e| {
            AdapterError::new(
                ErrorKind::Unavailable,
                format!("Prometheus at {} did not answer: {e}", self.base),
            )
        })?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(|e| {
            AdapterError::new(
                ErrorKind::Unavailable,
                format!(
                    "Prometheus at {}: reading the answer failed: {e}",
                    self.base
                ),
            )
        })?;
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let said = parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        match status {
            200 => parsed.ok_or_else(|| {
                AdapterError::new(
                    ErrorKind::Rejected,
                    format!(
                        "Prometheus at {} answered something that is not its JSON",
                        self.base
                    ),
                )
            }),
            400 | 422 => Err(AdapterError::new(
                ErrorKind::Rejected,
                format!(
                    "Prometheus refused the query: {}",
                    said.unwrap_or_else(|| format!("HTTP {status}"))
                ),
            )),
            _ => Err(AdapterError::new(
                ErrorKind::Unavailable,
                format!(
                    "Prometheus at {} answered HTTP {status}{}",
                    self.base,
                    said.map(|s| format!(": {s}")).unwrap_or_default()
                ),
            )),
        }
    }
}

/// Seconds since the epoch, with milliseconds, as Prometheus reads times.
fn unix(t: DateTime<Utc>) -> String {
    format!("{}.{:03}", t.timestamp(), t.timestamp_subsec_millis())
}

/// A `[time, "value"]` pair as Prometheus writes one.
fn sample(pair: &Value) -> Option<(DateTime<Utc>, f64)> {
    let [time, value] = pair.as_array()?.as_slice() else {
        return None;
    };
    let seconds = time.as_f64()?;
    #[allow(clippy::cast_possible_truncation)]
    let millis = (seconds * 1000.0).round() as i64;
    let at = DateTime::from_timestamp_millis(millis)?;
    let value = match value.as_str()? {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        text => text.parse().ok()?,
    };
    Some((at, value))
}

fn not_json(what: &str) -> AdapterError {
    AdapterError::new(
        ErrorKind::Rejected,
        format!("Prometheus' answer is not the {what} its API describes"),
    )
}

/// The one series of `result`, or why not.
fn one_series<'a>(result: &'a [Value], query: &str) -> Result<Option<&'a Value>, AdapterError> {
    match result {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(AdapterError::new(
            ErrorKind::Rejected,
            format!(
                "`{query}` answers {} series; a measurement is one number: aggregate them (sum, max, …)",
                many.len()
            ),
        )),
    }
}

impl PrometheusMetrics {
    fn at_now(&self, query: &str, at: DateTime<Utc>) -> Result<f64, AdapterError> {
        let answer = self.get(
            "/api/v1/query",
            &[("query", query.to_owned()), ("time", unix(at))],
        )?;
        let data = answer.get("data").ok_or_else(|| not_json("data"))?;
        let result = data.get("result").ok_or_else(|| not_json("result"))?;
        match data.get("resultType").and_then(Value::as_str) {
            Some("scalar") => sample(result)
                .map(|(_, v)| v)
                .ok_or_else(|| not_json("scalar")),
            Some("vector") => {
                let series = result.as_array().ok_or_else(|| not_json("vector"))?;
                let Some(series) = one_series(series, query)? else {
                    return Err(AdapterError::new(
                        ErrorKind::NotFound,
                        format!("`{query}` has no series at {at}"),
                    ));
                };
                series
                    .get("value")
                    .and_then(sample)
                    .map(|(_, v)| v)
                    .ok_or_else(|| not_json("sample"))
            }
            other => Err(AdapterError::new(
                ErrorKind::Rejected,
                format!("`{query}` answers a {other:?}, not a number"),
            )),
        }
    }

    fn range_now(
        &self,
        query: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step_seconds: u32,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, AdapterError> {
        let answer = self.get(
            "/api/v1/query_range",
            &[
                ("query", query.to_owned()),
                ("start", unix(from)),
                ("end", unix(to)),
                ("step", step_seconds.max(1).to_string()),
            ],
        )?;
        let result = answer
            .pointer("/data/result")
            .and_then(Value::as_array)
            .ok_or_else(|| not_json("matrix"))?;
        let Some(series) = one_series(result, query)? else {
            return Ok(Vec::new());
        };
        series
            .get("values")
            .and_then(Value::as_array)
            .ok_or_else(|| not_json("matrix"))?
            .iter()
            .map(|pair| sample(pair).ok_or_else(|| not_json("sample")))
            .collect()
    }
}

#[async_trait]
impl Metrics for PrometheusMetrics {
    async fn at(&self, query: &str, at: DateTime<Utc>) -> Result<f64, AdapterError> {
        let (this, query) = (self.clone(), query.to_owned());
        super::off_executor(move || this.at_now(&query, at)).await
    }

    async fn range(
        &self,
        query: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step_seconds: u32,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, AdapterError> {
        let (this, query) = (self.clone(), query.to_owned());
        super::off_executor(move || this.range_now(&query, from, to, step_seconds)).await
    }
}
