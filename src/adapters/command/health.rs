//! The command health probe: the host's check, its exit code the verdict
//! and its output the detail.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::process::{CommandSpec, Facts, run};
use crate::model::{EnvironmentId, ReleaseId, ServiceId};
use crate::port::{AdapterError, ErrorKind, Health, HealthProbe};

/// A health probe that runs the host's check: exit 0 is healthy, another
/// exit code unhealthy, and what the command printed is the detail.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommandHealthProbe {
    /// The check.
    pub check: CommandSpec,
}

impl CommandHealthProbe {
    /// Checks health with `check`.
    pub fn new(check: CommandSpec) -> Self {
        Self { check }
    }
}

impl CommandHealthProbe {
    fn verify_now(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
    ) -> Result<Health, AdapterError> {
        let facts = Facts(vec![
            ("environment", environment.as_str()),
            ("service", service.as_str()),
            ("release", release.as_str()),
        ]);
        match run(&self.check, &facts) {
            Ok(ran) => Ok(Health::new(true, nonempty(ran.stdout, "the check passed"))),
            Err(e) if e.kind() == ErrorKind::Rejected => {
                Ok(Health::new(false, e.message().to_owned()))
            }
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl HealthProbe for CommandHealthProbe {
    async fn verify(
        &self,
        environment: &EnvironmentId,
        service: &ServiceId,
        release: &ReleaseId,
    ) -> Result<Health, AdapterError> {
        let this = self.clone();
        let environment = environment.clone();
        let service = service.clone();
        let release = release.clone();
        super::super::off_executor(move || this.verify_now(&environment, &service, &release)).await
    }
}

fn nonempty(text: String, otherwise: &str) -> String {
    if text.is_empty() {
        otherwise.to_owned()
    } else {
        text
    }
}
