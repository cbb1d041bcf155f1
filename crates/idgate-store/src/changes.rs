//! Committed changes, announced by the store itself.
//!
//! Why: whoever waits for work the database holds (the webhook delivery worker today, a
//! session's status stream later) should learn of it the moment it commits, not at its next
//! poll, and not because every caller that writes remembered to ring a bell. So the transaction
//! that writes an event or makes a delivery due notes it ([`Pending`]), and its commit announces
//! it, in one place (`Tx::commit` of each backend):
//!
//! - SQLite: after `COMMIT`, to this process's subscribers through an in-process broadcast (one
//!   server process owns the file; the CLI's changes are found by the fallback poll).
//! - PostgreSQL: `pg_notify` inside the transaction, so the notification is delivered exactly
//!   when (and only if) the transaction commits, to every node: each store that has
//!   subscribers keeps one `LISTEN` connection ([`PgListening`]) and rebroadcasts what it hears,
//!   its own commits included. This is what lets several nodes share one database and still
//!   wake at once (docs/operations.md "Several nodes").
//!
//! Subscribers keep a slow poll as the fallback: an announcement can be missed (a subscriber
//! that lagged, a `LISTEN` connection that dropped, a change made by another process on
//! SQLite), and each of those is reported as [`Change::Resync`] where it can be seen.

use std::collections::BTreeSet;

use idgate_core::SessionId;
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::broadcast;

/// What a committed transaction changed, as far as waiting readers care.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    /// This session's public status may have changed: its state, one of its attempts or the
    /// phone's progress was written, or its events (announced by the statements that write those
    /// rows, `sessions.rs` and `flow.rs`, so every transition announces itself).
    Session(SessionId),
    /// Webhook deliveries became due (new events routed, a replay, a retry, an endpoint that
    /// got a key or was enabled again).
    Deliveries,
    /// Announcements may have been missed: re-read whatever is being waited for.
    Resync,
}

/// The PostgreSQL channel of the announcements. One per database: schemas sharing a database
/// (the tests') wake each other's subscribers, which then find nothing new; harmless.
const CHANNEL: &str = "idgate_changes";

impl Change {
    /// The `pg_notify` payload (at most a session id plus two bytes, far below the 8000-byte limit).
    fn encode(&self) -> String {
        match self {
            Self::Session(id) => format!("s:{id}"),
            Self::Deliveries => "d".to_owned(),
            Self::Resync => "r".to_owned(),
        }
    }

    /// A payload of [`Change::encode`]; anything else (a newer node's kind) reads as `Resync`.
    fn decode(payload: &str) -> Self {
        match payload.split_once(':') {
            Some(("s", id)) => SessionId::parse(id).map_or(Self::Resync, Self::Session),
            _ if payload == "d" => Self::Deliveries,
            _ => Self::Resync,
        }
    }
}

/// The announcing half a store keeps; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Changes {
    sender: broadcast::Sender<Change>,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(Self::CAPACITY).0,
        }
    }
}

impl Changes {
    /// Announcements a subscriber may fall behind by before it gets a `Resync` instead.
    const CAPACITY: usize = 1024;

    pub(crate) fn publish(&self, change: Change) {
        // No subscriber is not an error: nobody is waiting.
        let _ = self.sender.send(change);
    }

    pub(crate) fn subscribe(&self) -> Subscription {
        Subscription {
            receiver: self.sender.subscribe(),
        }
    }
}

/// The changes committed after it was created, in commit order.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<Change>,
}

impl Subscription {
    /// The next change. Waits forever once the store is gone (the fallback poll still runs).
    pub async fn recv(&mut self) -> Change {
        match self.receiver.recv().await {
            Ok(change) => change,
            Err(broadcast::error::RecvError::Lagged(_)) => Change::Resync,
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }

    /// Waits until deliveries may have become due (or announcements were missed).
    pub async fn deliveries_due(&mut self) {
        while !matches!(self.recv().await, Change::Deliveries | Change::Resync) {}
    }

    /// Forgets the changes already announced: a reader about to re-read everything has no use
    /// for the wake-ups of changes that reading will see.
    pub fn skip_announced(&mut self) {
        while !matches!(
            self.receiver.try_recv(),
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
        ) {}
    }
}

/// The changes one transaction made, announced by its commit (and dropped by its rollback).
#[derive(Debug, Default)]
pub(crate) struct Pending(BTreeSet<Change>);

impl Pending {
    pub(crate) fn note(&mut self, change: Change) {
        self.0.insert(change);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// After a SQLite commit: to this process's subscribers.
    pub(crate) fn publish(self, changes: &Changes) {
        for change in self.0 {
            changes.publish(change);
        }
    }

    /// Before a PostgreSQL commit, inside the transaction: one statement for all of them.
    pub(crate) async fn notify_in(&self, conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
        notify(conn, self.0.iter().map(Change::encode).collect()).await
    }
}

/// `pg_notify` of one change committed by a single statement outside a transaction.
pub(crate) async fn notify_one<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    change: &Change,
) -> Result<(), sqlx::Error> {
    notify(executor, vec![change.encode()]).await
}

/// `pg_notify` of each payload on [`CHANNEL`], in one round trip.
async fn notify<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    payloads: Vec<String>,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p")
        .bind(CHANNEL)
        .bind(payloads)
        .execute(executor)
        .await?;
    Ok(())
}

/// The `LISTEN` connection of one PostgreSQL store, rebroadcasting to its subscribers; stopped
/// when the store closes or its last handle is dropped.
#[derive(Debug)]
pub(crate) struct PgListening {
    task: tokio::task::JoinHandle<()>,
}

impl PgListening {
    /// Listens before returning, so a change committed after this returns is heard.
    pub(crate) async fn start(pool: &PgPool, changes: Changes) -> Result<Self, sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        let task = tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => {
                        changes.publish(Change::decode(notification.payload()));
                    }
                    // The connection dropped; the next call reconnects and listens again, and
                    // whatever was announced meanwhile is lost.
                    Ok(None) => changes.publish(Change::Resync),
                    Err(error) => {
                        tracing::warn!(%error, "listening for committed changes failed; retrying");
                        changes.publish(Change::Resync);
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Self { task })
    }

    /// Stops listening and gives the connection back, so the pool can close.
    pub(crate) async fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for PgListening {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_survives_its_notification_payload() {
        let id = SessionId::generate();
        for change in [Change::Session(id), Change::Deliveries, Change::Resync] {
            assert_eq!(Change::decode(&change.encode()), change);
        }
    }

    #[test]
    fn an_unknown_payload_reads_as_resync() {
        assert_eq!(Change::decode("x:whatever"), Change::Resync);
        assert_eq!(Change::decode("s:not-an-id"), Change::Resync);
    }
}
