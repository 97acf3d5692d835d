//! A host runbook as an option: the host's own estimate and scope, its
//! promise to restore or only to relieve, and its undo as a follow-up.
//! Whether it applies to the incident is the core's rule
//! (`runbook-applies`), met in the dry run.

use super::{Context, Draft};
use crate::machine::{EffectAction, FollowUpKind};
use crate::model::Runbook;

impl Context<'_> {
    pub(super) fn runbook(&self, d: &mut Draft, runbook: Option<&Runbook>) {
        let Some(runbook) = runbook else {
            d.check(
                "runbook-named",
                false,
                "a runbook option names one of the host's runbooks",
            );
            return;
        };
        d.capability(
            "runbooks-available",
            self.caps.runbooks,
            "the host runs its runbooks",
            "the host has no runbooks port",
        );
        if runbook.restores {
            d.impact.summary = format!("{}: customers are served again", runbook.title);
        } else {
            d.likely_to_help = false;
            d.risks.push(format!(
                "`{}` only relieves the symptoms ({}): it does not restore a known-good state",
                runbook.id, runbook.title
            ));
            d.impact.summary = format!("{}: symptoms eased, the cause stays", runbook.title);
        }
        d.steps.push(EffectAction::RunRunbook {
            runbook: runbook.id.clone(),
            environment: self.env().clone(),
            service: self.service().clone(),
        });
        d.steps.push(EffectAction::Verify {
            environment: self.env().clone(),
            service: self.service().clone(),
        });
        if let Some(undo) = &runbook.undo {
            d.cost.follow_ups.push(FollowUpKind::UndoRunbook {
                runbook: runbook.id.clone(),
                what: undo.clone(),
            });
        }
    }
}
