//! Building and running the service: connect, migrate, optionally seed, bind, serve.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use kinbridge_api::auth::{KeyError, TokenVerifier};
use kinbridge_persistence::{Store, StoreError};
use tokio::net::TcpListener;

use crate::config::ServeConfig;
use crate::demo;
use crate::http::{self, AppState};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot connect to the database: {0}")]
    Connect(sea_orm::DbErr),
    #[error("cannot migrate the database: {0}")]
    Migrate(sea_orm::DbErr),
    #[error("cannot prepare the data: {0}")]
    Demo(StoreError),
    #[error("cannot use the token verification key: {0}")]
    Key(#[from] KeyError),
    #[error("KINBRIDGE_CORS_ORIGINS is invalid: {0}")]
    Cors(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A built service, bound to its port but not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Store,
    local_addr: SocketAddr,
    connections: ConnectionSettings,
    /// Tells subscription connections that the server is shutting down.
    closing: tokio::sync::watch::Sender<bool>,
}

/// How connections are held: see [`ServeConfig`]'s fields of the same names.
#[derive(Debug, Clone, Copy)]
struct ConnectionSettings {
    max_connections: usize,
    header_read_timeout: std::time::Duration,
    shutdown_timeout: std::time::Duration,
}

impl Application {
    /// Connects, migrates, loads the demo data when asked and the database is empty,
    /// and binds the listener. Port 0 binds a free port; [`Self::local_addr`] tells which.
    pub async fn build(config: &ServeConfig) -> Result<Self, StartError> {
        let store = Store::connect(config.database_url.expose(), &config.store).await.map_err(StartError::Connect)?;
        store.migrate().await.map_err(StartError::Migrate)?;
        maintain_audit_partitions(&store).await;
        let backfilled = store.backfill_review_dates().await.map_err(StartError::Demo)?;
        if backfilled > 0 {
            tracing::info!(plans = backfilled, "gave older plans their next review date");
        }
        if config.demo && demo::load_if_empty(&store).await.map_err(StartError::Demo)? {
            tracing::info!("loaded the demo data set");
        }
        let closing = tokio::sync::watch::Sender::new(false);
        let verifier =
            TokenVerifier::new(&config.auth.keys, &config.auth.issuer, &config.auth.audience, config.auth.leeway_secs)?
                .with_claims(config.auth.claims.clone());
        let state = AppState {
            schema: kinbridge_api::schema(
                store.clone(),
                config.limits,
                config.exposure,
                config.alerts,
                config.retention,
            ),
            store: store.clone(),
            verifier: Arc::new(verifier),
            graphiql: graphiql(config),
            executions: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_requests.max(1))),
            limits: config.limits,
            request_timeout: config.request_timeout,
            metrics: Arc::new(crate::metrics::Metrics::default()),
            persisted: crate::persisted::PersistedQueries::default(),
            parsed: crate::parsed::ParsedQueries::default(),
            live_connections: Arc::new(tokio::sync::Semaphore::new(crate::live::MAX_CONNECTIONS)),
            max_message_bytes: config.max_body_bytes,
            closing: closing.subscribe(),
        };
        let router = http::router(state, config.max_body_bytes);
        let router = match http::cors(&config.cors_origins).map_err(StartError::Cors)? {
            Some(cors) => router.layer(cors),
            None => router,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let connections = ConnectionSettings {
            max_connections: config.max_connections.max(1),
            header_read_timeout: config.header_read_timeout,
            shutdown_timeout: config.shutdown_timeout,
        };
        Ok(Self { listener, router, store, local_addr, connections, closing })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until `shutdown` completes, then stops accepting, lets the requests under way
    /// finish for up to the shutdown timeout, and returns whatever the clients do. Keeps the
    /// audit trail's monthly partitions made ahead, daily.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let store = self.store.clone();
        let maintenance = tokio::spawn(async move {
            let mut daily = tokio::time::interval(std::time::Duration::from_secs(24 * 3600));
            daily.tick().await; // the first tick is immediate; `build` has just done it
            loop {
                daily.tick().await;
                maintain_audit_partitions(&store).await;
            }
        });
        let merging = tokio::spawn(merge_pending_audit_index(self.store.clone()));
        // Live feed readers hear of commits made through other processes on the database.
        let relay = self.store.spawn_feed_relay();
        let closing = self.closing;
        let shutdown = async move {
            shutdown.await;
            closing.send_replace(true);
        };
        let served = serve(self.listener, self.router, self.connections, shutdown).await;
        maintenance.abort();
        merging.abort();
        for task in relay {
            task.abort();
        }
        served
    }
}

/// The accept loop. Each connection is HTTP/1.1 with keep-alive; a client has the header
/// read timeout to send a request's headers, also for each further request on a kept-alive
/// connection, so a connection that sends nothing or trickles its headers is closed. At
/// most `max_connections` are open: the next waits in the listen backlog until one closes.
/// On shutdown, listening stops, idle connections close, and requests under way get the
/// shutdown timeout to finish.
async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ConnectionSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(settings.header_read_timeout).keep_alive(true);
    // Each connection holds a clone of `open`; shutdown waits until every clone is gone.
    let (open, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let slots = Arc::new(tokio::sync::Semaphore::new(settings.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => slot.map_err(std::io::Error::other)?,
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "a connection could not be accepted");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        // With upgrades, for subscriptions: an upgraded connection leaves this loop's
        // count (and its slot) and is closed by `live.rs` on shutdown.
        let connection = http.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let (open, mut stopping) = (open.clone(), stopping.clone());
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // A client that goes away mid-request is not the service's failure.
            let stopped = tokio::select! {
                _ = connection.as_mut() => false,
                stop = stopping.wait_for(|stop| *stop) => stop.is_ok(),
            };
            if stopped {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
            drop(slot);
            drop(open);
        });
    }
    drop(listener);
    stop.send_replace(true);
    drop(open);
    tokio::select! {
        _ = all_closed.recv() => tracing::info!("every connection closed"),
        () = tokio::time::sleep(settings.shutdown_timeout) => {
            tracing::warn!(timeout_ms = settings.shutdown_timeout.as_millis() as u64, "shutting down with connections still open");
        }
    }
    Ok(())
}

async fn maintain_audit_partitions(store: &Store) {
    match store.ensure_audit_partitions(chrono::Utc::now().date_naive()).await {
        Ok(failed) if failed.is_empty() => {}
        Ok(failed) => {
            tracing::warn!(partitions = ?failed, "some audit trail partitions are missing; their rows go to the default partition")
        }
        Err(e) => tracing::error!(error = %e, "the audit trail partitions could not be maintained"),
    }
}

/// How often the audit trail's record index has its pending entries merged: a merge costs
/// less per entry the more it merges at once (`Store::merge_pending_audit_index` has the
/// measurements), and two seconds of reads fit the index's pending limit many times over
/// (`kinbridge_persistence::trail::AUDIT_PENDING_LIST_KB`).
const AUDIT_INDEX_MERGE: std::time::Duration = std::time::Duration::from_secs(2);

/// Keeps the audit trail's record index merged (`Store::merge_pending_audit_index`), so
/// that the audit writer never merges it while requests wait. On PostgreSQL only; a
/// failure (say, a database role that does not own the index) is logged and retried a
/// minute later, and the writer then merges as PostgreSQL does by default.
async fn merge_pending_audit_index(store: Store) {
    if store.backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    loop {
        match store.merge_pending_audit_index().await {
            Ok(_) => tokio::time::sleep(AUDIT_INDEX_MERGE).await,
            Err(e) => {
                tracing::warn!(error = %e, "the audit trail's record index could not be merged; retrying in a minute");
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            }
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests under way");
}

/// The GraphiQL page the configuration asks for. Development tokens are signed with the
/// one shared secret a development deployment has, never with anything else.
fn graphiql(config: &ServeConfig) -> crate::graphiql::Graphiql {
    use crate::graphiql::{DevTokens, Graphiql};
    if !config.graphiql {
        return Graphiql::Off;
    }
    let dev_tokens = match (config.graphiql_dev_token, config.auth.keys.as_slice()) {
        (true, [kinbridge_api::auth::KeySource::SharedSecret(secret)]) => {
            Some(DevTokens::new(secret, &config.auth.issuer, &config.auth.audience))
        }
        _ => None,
    };
    Graphiql::On { dev_tokens }
}
