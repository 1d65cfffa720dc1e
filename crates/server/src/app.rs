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
        let verifier =
            TokenVerifier::new(&config.auth.keys, &config.auth.issuer, &config.auth.audience, config.auth.leeway_secs)?
                .with_claims(config.auth.claims.clone());
        let state = AppState {
            schema: kinbridge_api::schema(store.clone(), config.limits, config.exposure, config.alerts),
            store: store.clone(),
            verifier: Arc::new(verifier),
            graphiql: config.graphiql,
            executions: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_requests.max(1))),
            limits: config.limits,
            request_timeout: config.request_timeout,
        };
        let router = http::router(state, config.max_body_bytes);
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind { addr: config.listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
        Ok(Self { listener, router, store, local_addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until `shutdown` completes, then finishes the requests under way. Keeps the
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
        let served = axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await;
        maintenance.abort();
        served
    }
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
