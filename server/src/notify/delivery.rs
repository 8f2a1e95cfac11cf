//! The notification worker: a task that POSTs each outbox's messages to its webhook, in order,
//! and acks them once answered 2xx. A destination that fails (no connection, a timeout, any
//! other status) is retried after a delay that doubles, from `RETRY_DELAY_MIN` to
//! `RETRY_DELAY_MAX`; its messages wait in the engine meanwhile, across restarts.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::Full;

use super::{Notifications, OUTBOX_PREFIX, Webhook, parse_entry};

/// Outboxes delivered at once.
pub const DELIVERIES_CONCURRENT_MAX: usize = 16;
/// Messages POSTed from one outbox before their ack (one commit acknowledges them all).
pub const DELIVERY_BATCH_MAX: usize = 64;
/// A webhook that has not answered in this long has failed.
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// The first retry of a failed destination, and the longest wait between retries.
pub const RETRY_DELAY_MIN: Duration = Duration::from_millis(500);
pub const RETRY_DELAY_MAX: Duration = Duration::from_secs(60);
/// How often the worker looks for messages when none is pushed (a push wakes it at once).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The running worker; stopped by `stop` or when the runtime ends.
#[derive(Debug)]
pub struct Worker(crate::task::Task);

impl Worker {
    /// Starts the worker on the current runtime.
    pub fn start(notifications: Arc<Notifications>) -> Worker {
        Worker(crate::task::Task::spawn(|stopped| run(notifications, stopped)))
    }

    pub async fn stop(self) {
        self.0.stop().await;
    }
}

async fn run(notifications: Arc<Notifications>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let mut backoff = crate::task::Backoffs::new(RETRY_DELAY_MIN, RETRY_DELAY_MAX);
    loop {
        let due = backoff.due(notifications.engine(), OUTBOX_PREFIX);
        let pass = futures::stream::iter(due)
            .map(|outbox| {
                let notifications = notifications.clone();
                async move {
                    let delivered = drain(&notifications, &outbox).await;
                    (outbox, delivered)
                }
            })
            .buffer_unordered(DELIVERIES_CONCURRENT_MAX)
            .collect::<Vec<(String, bool)>>();
        // A stop does not wait for a long pass: what was POSTed and not acked is sent again.
        let results = tokio::select! {
            results = pass => results,
            _ = stopped.changed() => return,
        };
        for (outbox, delivered) in results {
            if delivered {
                backoff.succeeded(&outbox);
            } else {
                backoff.failed(outbox);
            }
        }
        tokio::select! {
            _ = notifications.pushed.notified() => {}
            _ = tokio::time::sleep(backoff.next_pass(POLL_INTERVAL)) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Delivers an outbox's messages until it is empty (true) or its webhook fails (false).
async fn drain(notifications: &Notifications, outbox: &str) -> bool {
    let engine = notifications.engine();
    loop {
        let entries = engine.outbox_entries(outbox, DELIVERY_BATCH_MAX);
        if entries.is_empty() {
            return true;
        }
        let mut through = None;
        let mut failed = false;
        for (seq, entry) in &entries {
            match parse_entry(*seq, entry).map(|(arn, message)| (notifications.webhook(arn), arn, message)) {
                Some((Some(webhook), _, message)) => {
                    if let Err(why) = post(webhook, Bytes::from(message.into_owned())).await {
                        tracing::warn!("event notification to {} failed, retried later: {why}", webhook.authority);
                        failed = true;
                        break;
                    }
                }
                Some((None, arn, _)) => {
                    notifications.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!("an event notification for {arn} was dropped: no such destination is configured");
                }
                None => tracing::warn!("an event notification entry does not parse; skipped"),
            }
            through = Some(*seq);
        }
        if let Some(through) = through
            && let Err(error) = engine.outbox_ack_async(outbox, through).await
        {
            tracing::warn!("event notifications not acknowledged, sent again later: {error}");
            return false;
        }
        if failed {
            return false;
        }
    }
}

/// POSTs one message; `Err` unless the webhook answers 2xx within `POST_TIMEOUT`.
pub async fn post(webhook: &Webhook, body: Bytes) -> Result<(), String> {
    match tokio::time::timeout(POST_TIMEOUT, send(webhook, body)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer in {} s", POST_TIMEOUT.as_secs())),
    }
}

async fn send(webhook: &Webhook, body: Bytes) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect(&webhook.authority).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    let connection = tokio::spawn(connection);
    let request = http::Request::post(&webhook.path)
        .header(http::header::HOST, &webhook.authority)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "cairn-event-notifications")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let answered = sender.send_request(request).await.map_err(|e| e.to_string());
    drop(sender);
    connection.abort();
    let status = answered?.status();
    if status.is_success() { Ok(()) } else { Err(format!("answered {status}")) }
}
