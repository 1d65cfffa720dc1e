//! Telling live feed readers that something was committed, within one process and across
//! all processes on one database.
//!
//! A write that recorded a change-feed row bumps two counters when it commits: `local`,
//! which this process's notifier turns into one PostgreSQL `NOTIFY` (coalescing bursts,
//! and outside every write transaction, so that writers do not queue on the notification
//! queue's lock at commit), and `wake`, which the live readers of this process wait on.
//! Every process `LISTEN`s, and a notification from any of them bumps its `wake`. A
//! notification says only "look again": readers read the feed from their cursor, so a
//! lost or doubled notification loses or doubles nothing. Readers also look again after
//! a while without one ([`POLL`] unless configured), which covers a listener's reconnect and SQLite shared by
//! processes.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend};
use tokio::sync::watch;

use crate::Store;
use crate::organizations::TokenOrganizations;

/// The PostgreSQL channel on which processes tell each other that changes committed.
pub const CHANNEL: &str = "kinbridge_changes";

/// The PostgreSQL channel on which a trigger announces every committed change to the
/// organisation registry (migration `m0017`).
pub const REGISTRY_CHANNEL: &str = "kinbridge_registry";

/// How long a live reader waits without a signal before it reads the feed anyway.
pub const POLL: Duration = Duration::from_secs(5);

/// How long the notifier waits after a notification before the next: a burst of writes
/// costs one `NOTIFY` per this interval.
const COALESCE: Duration = Duration::from_millis(10);

#[derive(Debug)]
pub(crate) struct FeedSignals {
    local: watch::Sender<u64>,
    wake: watch::Sender<u64>,
}

impl Default for FeedSignals {
    fn default() -> Self {
        Self { local: watch::Sender::new(0), wake: watch::Sender::new(0) }
    }
}

impl FeedSignals {
    /// A write that fed the change feed has committed.
    pub(crate) fn committed(&self) {
        self.local.send_modify(|n| *n = n.wrapping_add(1));
        self.wake();
    }

    fn wake(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Store {
    /// Changes when the change feed may hold something new: wait on it, then read the
    /// feed from your cursor.
    pub fn feed_signal(&self) -> watch::Receiver<u64> {
        self.signals.wake.subscribe()
    }

    /// How long a live reader waits on [`Store::feed_signal`] before it reads anyway.
    pub fn feed_poll(&self) -> Duration {
        self.feed_poll
    }

    /// On PostgreSQL, starts telling the other processes on this database of this one's
    /// commits, and listening for theirs and for changes to the organisation registry
    /// (while it listens, the organisations that tokens name are remembered: see
    /// [`crate::organizations::TokenOrganizations`]); on SQLite, nothing to do. The tasks
    /// run until the store's pool closes or they are aborted.
    pub fn spawn_feed_relay(&self) -> Vec<tokio::task::JoinHandle<()>> {
        if self.backend() != DbBackend::Postgres {
            return Vec::new();
        }
        let notifier = {
            let store = self.clone();
            let mut local = self.signals.local.subscribe();
            tokio::spawn(async move {
                while local.changed().await.is_ok() {
                    local.borrow_and_update();
                    let notify = format!("SELECT pg_notify('{CHANNEL}', '')");
                    if let Err(e) = store.conn().execute_unprepared(&notify).await {
                        tracing::warn!(error = %e, "other processes could not be told of new changes; they will read them within {} s", POLL.as_secs());
                    }
                    tokio::time::sleep(COALESCE).await;
                }
            })
        };
        let listener = {
            let signals = Arc::clone(&self.signals);
            let registry = Arc::clone(&self.registry);
            let pool = self.pool().get_postgres_connection_pool().clone();
            tokio::spawn(async move {
                // Aborted or ended, the task stops the remembering first.
                let _deaf = Deaf(Arc::clone(&registry));
                loop {
                    listen(&pool, &signals, &registry).await;
                    registry.set_listening(false);
                    if pool.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
        };
        vec![notifier, listener]
    }
}

/// Sets the registry's remembering off when dropped.
struct Deaf(Arc<TokenOrganizations>);

impl Drop for Deaf {
    fn drop(&mut self) {
        self.0.set_listening(false);
    }
}

/// Listens until the connection fails; every notification on [`CHANNEL`], and every
/// reconnect (which may have missed some), wakes the readers; every notification on
/// [`REGISTRY_CHANNEL`] makes the process forget the organisations it remembered. The
/// registry is remembered from the moment both channels are listened on until the
/// connection is lost: PostgreSQL's listener would reconnect by itself, but what was
/// announced in between would be lost, so this returns and the caller connects anew.
async fn listen(pool: &sea_orm::sqlx::PgPool, signals: &FeedSignals, registry: &TokenOrganizations) {
    use sea_orm::sqlx::postgres::PgListener;
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::debug!(error = %e, "the change-feed listener could not connect; retrying");
            return;
        }
    };
    if let Err(e) = listener.listen_all([CHANNEL, REGISTRY_CHANNEL]).await {
        tracing::debug!(error = %e, "the change-feed listener could not listen; retrying");
        return;
    }
    registry.set_listening(true);
    signals.wake();
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) if n.channel() == REGISTRY_CHANNEL => registry.heard(n.payload()),
            Ok(Some(_)) => signals.wake(),
            // The connection was lost: whatever was announced meanwhile is lost with it.
            Ok(None) => {
                registry.set_listening(false);
                signals.wake();
                return;
            }
            Err(e) => {
                registry.set_listening(false);
                tracing::debug!(error = %e, "the change-feed listener lost its connection");
                return;
            }
        }
    }
}
