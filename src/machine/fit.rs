//! Whether a release fits an environment: its artifact still exists, it
//! runs on the environment's schema, what it requires of other services is
//! running there, and it meets what the other services require of it.
//! Also the schema migration and artifact expiry commands.

use super::rejection::Rejection;
use crate::model::{Actor, Digest, EnvironmentId, Migration, MigrationPhase, Release, ServiceId};

use super::event::EventKind;
use super::state::State;

/// Checks expiry, schema and service requirements for `release` in `env`.
pub(crate) fn check_release_fits(
    state: &State,
    env: &EnvironmentId,
    release: &Release,
) -> Result<(), Rejection> {
    if state.expired.contains(&release.artifact) {
        return Err(Rejection::ArtifactExpired {
            digest: release.artifact.clone(),
        });
    }
    let env_state = state.known_environment(env)?;
    if let (Some(range), Some(schema)) = (release.schema, env_state.schema(&release.service))
        && !range.contains(schema.version)
    {
        return Err(Rejection::SchemaIncompatible {
            release: release.id.clone(),
            range,
            environment: env.clone(),
            version: schema.version,
        });
    }
    for (service, requirement) in &release.requires {
        let running = running_version(state, env, service);
        if !running.as_ref().is_some_and(|v| requirement.matches(v)) {
            return Err(Rejection::RequirementUnmet {
                release: release.id.clone(),
                environment: env.clone(),
                service: service.clone(),
                requirement: requirement.clone(),
                running: running.map(Box::new),
            });
        }
    }
    let version = state.artifact_of(release)?.version.clone();
    for (dependant, history) in env_state.services() {
        if *dependant == release.service {
            continue;
        }
        let Some(running) = history
            .current()
            .and_then(|d| state.releases.get(&d.release))
        else {
            continue;
        };
        if let Some(requirement) = running.requires.get(&release.service)
            && !requirement.matches(&version)
        {
            return Err(Rejection::BreaksDependant {
                release: release.id.clone(),
                service: release.service.clone(),
                version: Box::new(version),
                environment: env.clone(),
                dependant: dependant.clone(),
                dependant_release: running.id.clone(),
                requirement: requirement.clone(),
            });
        }
    }
    Ok(())
}

/// The version of `service` serving in `env`, if any.
pub(crate) fn running_version(
    state: &State,
    env: &EnvironmentId,
    service: &ServiceId,
) -> Option<semver::Version> {
    let release = state.current_release(env, service)?;
    Some(state.artifacts.get(&release.artifact)?.version.clone())
}

pub(super) fn expire_artifact(
    state: &State,
    digest: &Digest,
    by: &Actor,
) -> Result<Vec<EventKind>, Rejection> {
    if !state.artifacts.contains_key(digest) {
        return Err(Rejection::UnknownArtifact {
            digest: digest.clone(),
        });
    }
    if state.expired.contains(digest) {
        return Ok(vec![]);
    }
    Ok(vec![EventKind::ArtifactExpired {
        digest: digest.clone(),
        by: by.clone(),
    }])
}

/// `RecordMigrationProgress`: one batch of a data migration, judged by
/// the rules of applying it, for a data migration not complete yet (rule
/// `data-migration-in-batches`); the last batch's key again changes
/// nothing.
pub(super) fn record_migration_progress(
    state: &State,
    (env, service): (&EnvironmentId, &ServiceId),
    migration: &Migration,
    (cursor, moved, done): (&str, u64, bool),
    by: &Actor,
    key: &crate::machine::IdempotencyKey,
) -> Result<Vec<EventKind>, Rejection> {
    let schema = state.known_environment(env)?.schema(service);
    if schema
        .and_then(|s| s.moving.get(&migration.id))
        .is_some_and(|p| p.last_key == *key)
    {
        return Ok(vec![]);
    }
    let refused = |why: String| Rejection::DataMigrationRefused {
        migration: migration.id.clone(),
        why,
    };
    if migration.phase != MigrationPhase::Migrate {
        return Err(refused(format!(
            "it is a{} {} migration, which runs whole: record it with ApplyMigration",
            if migration.phase == MigrationPhase::Expand {
                "n"
            } else {
                ""
            },
            migration.phase
        )));
    }
    if schema.is_some_and(|s| s.applied.iter().any(|a| a.migration.id == migration.id)) {
        return Err(refused(format!("it is complete in `{env}` already")));
    }
    // The same rules as the migration itself: in sequence, after the
    // serving release is verified, on a schema what serves runs on.
    apply_migration(state, (env, service), migration, by)?;
    Ok(vec![EventKind::MigrationProgressed {
        environment: env.clone(),
        service: service.clone(),
        migration: migration.id.clone(),
        cursor: cursor.to_owned(),
        moved,
        done,
        by: by.clone(),
        key: key.clone(),
    }])
}

pub(super) fn apply_migration(
    state: &State,
    (env, service): (&EnvironmentId, &ServiceId),
    migration: &Migration,
    by: &Actor,
) -> Result<Vec<EventKind>, Rejection> {
    let env_state = state.known_environment(env)?;
    if !state.services.contains_key(service) {
        return Err(Rejection::UnknownService {
            service: service.clone(),
        });
    }
    let schema = env_state.schema(service);
    if let Some(schema) = schema
        && schema.version != migration.from
    {
        return Err(Rejection::MigrationOutOfSequence {
            migration: migration.id.clone(),
            environment: env.clone(),
            service: service.clone(),
            from: migration.from,
            current: schema.version,
        });
    }
    let history = env_state.history(service);
    if migration.to < migration.from {
        // Going down undoes the migrations that brought the schema here.
        if let Some(undone) = schema
            .into_iter()
            .flat_map(|s| s.applied.iter().rev())
            .find(|a| {
                a.migration.to > a.migration.from
                    && a.migration.to > migration.to
                    && !a.migration.reversible
            })
        {
            return Err(Rejection::IrreversibleMigration {
                undone: undone.migration.id.clone(),
                phase: undone.migration.phase,
                to: migration.to,
            });
        }
    }
    // Data moves, and the old shape goes, only once the release that
    // serves (and so needs the new schema) is verified there, with nothing
    // in flight behind it: an expand comes before the deploy by design,
    // and going down is how a recovery restores a schema.
    if migration.to >= migration.from
        && matches!(
            migration.phase,
            MigrationPhase::Migrate | MigrationPhase::Contract
        )
        && let Some(unverified) = history.and_then(|h| {
            h.in_flight()
                .or_else(|| h.current())
                .filter(|d| d.status != super::DeploymentStatus::KnownGood)
        })
    {
        return Err(Rejection::MigrationBeforeVerification {
            migration: migration.id.clone(),
            phase: migration.phase,
            environment: env.clone(),
            release: unverified.release.clone(),
            revision: unverified.revision,
            status: unverified.status,
        });
    }
    // Whatever serves must run on the new schema ...
    let current = history
        .and_then(super::RolloutHistory::current)
        .and_then(|d| state.releases.get(&d.release));
    if let Some(release) = current
        && let Some(range) = release.schema
        && !range.contains(migration.to)
    {
        return Err(Rejection::SchemaIncompatible {
            release: release.id.clone(),
            range,
            environment: env.clone(),
            version: migration.to,
        });
    }
    // ... and a contract must not strand a release we may roll back to.
    if migration.phase == MigrationPhase::Contract {
        let window = usize::try_from(state.policy.rollback_window).unwrap_or(usize::MAX);
        let stranded = history
            .into_iter()
            .flat_map(|h| h.rollback_candidates().take(window))
            .filter_map(|d| state.releases.get(&d.release))
            .find_map(|r| {
                r.schema
                    .filter(|range| !range.contains(migration.to))
                    .map(|range| (r, range))
            });
        if let Some((release, range)) = stranded {
            return Err(Rejection::ContractInsideRollbackWindow {
                migration: migration.id.clone(),
                environment: env.clone(),
                to: migration.to,
                release: release.id.clone(),
                range,
            });
        }
    }
    Ok(vec![EventKind::MigrationApplied {
        environment: env.clone(),
        service: service.clone(),
        migration: migration.clone(),
        by: by.clone(),
    }])
}
