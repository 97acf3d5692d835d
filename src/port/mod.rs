//! Ports: the small async traits through which the driver acts on the
//! host's world — version control, deployer, flag store, health probe,
//! builder, and the durable journal — plus the clock the driver reads.
//!
//! Every mutating call carries the effect's [`IdempotencyKey`](crate::recovery::IdempotencyKey): a port
//! that sees a key again returns the first result without acting twice,
//! and can be asked what happened under a key (`outcome`). That is what
//! lets the driver retry after a timeout and resume after a crash.
//!
//! Each port reports its capabilities; the planner only offers options
//! whose steps the ports can carry out ([`Ports::capabilities`]).

/// `none()`, `all()` and one `with_<field>(bool)` per field for a
/// capabilities struct, so that an adapter outside the crate can say
/// exactly what it can do.
macro_rules! capabilities {
    ($name:ident { $($field:ident / $with:ident),+ $(,)? }) => {
        impl $name {
            /// Nothing: every capability off.
            pub fn none() -> Self {
                Self { $($field: false),+ }
            }

            /// Everything.
            pub fn all() -> Self {
                Self { $($field: true),+ }
            }

            $(
                #[doc = concat!("The same with `", stringify!($field), "` set to `able`.")]
                #[must_use]
                pub fn $with(mut self, able: bool) -> Self {
                    self.$field = able;
                    self
                }
            )+
        }
    };
}

mod builder;
mod clock;
mod deployer;
mod error;
mod flags;
mod health;
mod journal;
mod leases;
mod metrics;
mod migrations;
mod ports;
mod runbooks;
mod vcs;

pub use builder::{BuildManifest, Builder, BuilderCapabilities};
pub use clock::{Clock, SystemClock};
pub use deployer::{Deployer, DeployerCapabilities};
pub use error::{AdapterError, ErrorKind};
pub use flags::{FlagStore, FlagStoreCapabilities};
pub use health::{Health, HealthProbe};
pub use journal::JournalStore;
pub use leases::{Fence, LeaseAnswer, Leases};
pub use metrics::{Metrics, fill_query};
pub use migrations::{Batch, MigrationOutcome, Migrator, MigratorCapabilities};
pub use ports::{DEFAULT_LEASE_TTL, MissingPort, Ports, PortsBuilder};
pub use runbooks::Runbooks;
pub use vcs::{CommitDetails, Landed, Vcs, VcsCapabilities};
