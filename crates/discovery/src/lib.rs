//! Discovery: crawls replication topologies from seeds and keeps polling every known instance.
//!
//! - Every watched instance is probed once per poll interval (`InstancePollSeconds`).
//! - A probe that reads a server enqueues its neighbours (its source and its replicas) that
//!   arbor does not watch yet, at once: from one seed the whole topology is crawled in a few
//!   probe round trips, not a few poll intervals.
//! - Probes go through a deduplicating queue (an instance is never queued or probed twice at
//!   once) drained by at most `DiscoveryMaxConcurrency` concurrent probes. Each probe holds one
//!   slot for at most its own timeout, so a hung server delays nothing but itself.
//! - `DiscoveryIgnore*HostnameFilters` keep matching instances out: never probed, never stored.
//! - Outcomes go to the store through one writer task that batches them into transactions.
//!
//! The crate knows nothing about MySQL beyond the [`InstanceProber`] trait it declares;
//! `arbor-mysql`'s prober implements it, and so can a simulated fleet. It decides nothing about
//! failures: it records what it saw and when (see `InstanceRecord`), for analysis to judge.

mod engine;
mod filters;
mod prober;
mod share;

pub use engine::{
    Discovery, DiscoveryError, DiscoveryHandle, DiscoverySettings, DiscoveryStats, PollingGate,
    ReadingSink,
};
pub use filters::{FoundAs, IgnoreFilters, IgnoredBy};
pub use prober::{InstanceProber, ProbeFailure, ProbeObserver};
pub use share::{owner, Share};
