//! Leases: one replica at a time acts on an incident. The driver takes
//! the lease before driving, renews it before every step and port call,
//! and lets go of it when it stops.

use super::Driver;
use super::error::DriveError;
use crate::model::{EnvironmentId, IncidentId, ServiceId};
use crate::port::{Fence, LeaseAnswer};
use crate::recovery::IdempotencyKey;
use chrono::{DateTime, Duration, Utc};

/// A lease this driver holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HeldLease {
    pub(super) scope: String,
    pub(super) token: u64,
    /// When this driver stops counting on it: the time it asked, plus the
    /// lease's length, less a tenth.
    good_until: DateTime<Utc>,
}

impl Driver {
    /// The lease this driver holds, as the fence it hands with every
    /// journal append and deploy (none without a lease).
    pub(super) fn fence(&self) -> Option<Fence> {
        self.lease
            .as_ref()
            .map(|held| Fence::new(held.scope.clone(), self.actor.as_str(), held.token))
    }

    /// Takes or renews the lease on `scope` when less than half of it is
    /// left, reading the store again when it changed hands.
    pub(super) async fn hold_lease(&mut self, scope: &str) -> Result<LeaseAnswer, DriveError> {
        self.hold_lease_for(scope, self.ports.lease_ttl).await
    }

    /// [`Driver::hold_lease`], for at least `ttl` from now.
    pub(super) async fn hold_lease_for(
        &mut self,
        scope: &str,
        ttl: std::time::Duration,
    ) -> Result<LeaseAnswer, DriveError> {
        let Some(leases) = self.ports.leases.clone() else {
            return Ok(LeaseAnswer::Granted { token: 0 });
        };
        let asked_at = self.ports.clock.now();
        let span = |d: std::time::Duration| Duration::from_std(d).unwrap_or(Duration::MAX);
        if let Some(held) = &self.lease
            && held.scope == scope
            && asked_at.checked_add_signed(span(ttl.checked_div(2).unwrap_or_default()))
                < Some(held.good_until)
        {
            return Ok(LeaseAnswer::Granted { token: held.token });
        }
        let answer = leases
            .acquire(scope, self.actor.as_str(), ttl)
            .await
            .map_err(DriveError::Lease)?;
        match &answer {
            LeaseAnswer::Granted { token } => {
                let known = self
                    .lease
                    .as_ref()
                    .is_some_and(|held| held.scope == scope && held.token == *token);
                self.lease = Some(HeldLease {
                    scope: scope.to_owned(),
                    token: *token,
                    good_until: asked_at
                        .checked_add_signed(span(
                            ttl.saturating_sub(ttl.checked_div(10).unwrap_or_default()),
                        ))
                        .unwrap_or(asked_at),
                });
                if !known {
                    crate::trace::info!(scope, token, "lease taken");
                    // Another replica may have acted since this driver
                    // last read the store.
                    self.refresh().await?;
                }
            }
            LeaseAnswer::Held { holder, .. } => {
                crate::trace::info!(scope, holder = %holder, "lease held by another replica");
                // Only the trace reads it (without the `tracing` feature,
                // nothing does).
                let _ = holder;
                self.lease = None;
            }
        }
        Ok(answer)
    }

    /// Takes the lease on shipping to `environment` and `service` (one
    /// replica at a time deploys, rolls a flag out or migrates there):
    /// [`DriveError::ShipInProgress`] when another replica holds it.
    /// Without leases among the ports, nothing to take. Let go with
    /// [`Driver::let_go_of_ship_lease`].
    pub(super) async fn take_ship_lease(
        &mut self,
        environment: &EnvironmentId,
        service: &ServiceId,
    ) -> Result<(), DriveError> {
        if self.ports.leases.is_none() {
            return Ok(());
        }
        match self.hold_lease(&ship_scope(environment, service)).await? {
            LeaseAnswer::Granted { .. } => {
                self.shipping = Some((environment.clone(), service.clone()));
                Ok(())
            }
            LeaseAnswer::Held { holder, remaining } => Err(DriveError::ShipInProgress {
                environment: environment.clone(),
                service: service.clone(),
                holder,
                remaining,
            }),
        }
    }

    /// Lets go of the lease [`Driver::take_ship_lease`] took, if any.
    pub(super) async fn let_go_of_ship_lease(&mut self) {
        if self.shipping.take().is_some() {
            self.release_lease().await;
        }
    }

    /// Before a step or a port call on `incident`'s behalf: renews the
    /// lease when half of it is gone, and stops the driver when another
    /// replica holds it now.
    pub(super) async fn keep_lease(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
    ) -> Result<(), DriveError> {
        self.keep_lease_for(incident, key, self.ports.lease_ttl)
            .await
    }

    /// [`Driver::keep_lease`], asking the lease store even when this
    /// driver still counts on its lease: after a port refused the call,
    /// perhaps for a lease that passed on.
    pub(super) async fn recheck_lease(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
    ) -> Result<(), DriveError> {
        if let Some(held) = &mut self.lease {
            held.good_until = DateTime::<Utc>::MIN_UTC;
        }
        self.keep_lease(incident, key).await
    }

    /// [`Driver::keep_lease`], holding it for at least `ttl` from now: the
    /// whole of a port call that may run that long.
    pub(super) async fn keep_lease_for(
        &mut self,
        incident: Option<&IncidentId>,
        key: &IdempotencyKey,
        ttl: std::time::Duration,
    ) -> Result<(), DriveError> {
        if self.ports.leases.is_none() {
            return Ok(());
        }
        let Some(incident) = incident else {
            // Outside an incident: the lease of a shipment under way.
            let Some((environment, service)) = self.shipping.clone() else {
                return Ok(());
            };
            return match self
                .hold_lease_for(&ship_scope(&environment, &service), ttl)
                .await?
            {
                LeaseAnswer::Granted { .. } => Ok(()),
                LeaseAnswer::Held { holder, .. } => Err(DriveError::ShipLeaseLost {
                    environment,
                    service,
                    key: key.clone(),
                    holder: Some(holder),
                }),
            };
        };
        let scope = format!("incident/{incident}");
        match self.hold_lease_for(&scope, ttl).await? {
            LeaseAnswer::Granted { .. } => Ok(()),
            LeaseAnswer::Held { holder, .. } => Err(DriveError::LeaseLost {
                incident: incident.clone(),
                key: key.clone(),
                holder: Some(holder),
            }),
        }
    }

    /// Lets go of the lease held, if any; a failure to let go only means
    /// the lease runs out on its own, and is traced.
    pub(super) async fn release_lease(&mut self) {
        let (Some(leases), Some(held)) = (self.ports.leases.clone(), self.lease.take()) else {
            return;
        };
        if let Err(e) = leases
            .release(&held.scope, self.actor.as_str(), held.token)
            .await
        {
            crate::trace::warning!(scope = %held.scope, error = %e, "lease not let go: it will run out");
            let _ = e;
        }
    }
}

/// The lease scope of shipping `service` to `environment`.
pub(super) fn ship_scope(environment: &EnvironmentId, service: &ServiceId) -> String {
    format!("ship/{environment}/{service}")
}
