//! End-to-end tests over HTTP against the real router, on a fresh database per test.

// Test code: an unwrap that fails is a failing test, with its location.
#![allow(clippy::unwrap_used)]

mod support;

mod audit;
mod auth;
mod batching;
mod concurrency;
mod connections;
mod corrections;
mod crash;
mod deploy;
mod erasure;
mod everyday;
mod families;
mod guidance;
mod hostile;
mod http;
mod idempotency;
mod level;
mod lists;
mod live;
mod logs;
mod matrix;
mod network;
mod outage;
mod partners;
mod placements;
mod plans;
mod pool;
mod registry;
mod restart;
mod rows;
mod rules;
mod schema;
mod sharing;
mod subject;
mod timeline;
mod tls;
mod tokens;
mod traces;
mod treating;
mod visits;
mod walk;
