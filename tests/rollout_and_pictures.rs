//! Gradual rollout plans and the pictures a host can render.

mod common;

use common::{World, change_cause};
use knowngood::FlagState;
use knowngood::picture::{pipeline_dot, plan_mermaid, timeline_mermaid};
use knowngood::recovery::EffectAction;
use knowngood::rollout::GradualRollout;

#[test]
fn gradual_rollout_dark_launch_then_percentages_each_verified() {
    let plan =
        GradualRollout::new("prod", "payments", "new-checkout", [1, 5, 25, 50, 100]).unwrap();
    assert_eq!(plan.percentages(), vec![0, 1, 5, 25, 50, 100]);
    let effects = plan.effects("rollout-7");
    assert_eq!(effects.len(), 12);
    assert_eq!(
        effects[0].action,
        EffectAction::SetFlag {
            environment: "prod".into(),
            flag: "new-checkout".into(),
            state: FlagState::Percentage { percent: 0 }
        }
    );
    assert!(matches!(effects[1].action, EffectAction::Verify { .. }));
    assert_eq!(
        effects[10].action,
        EffectAction::SetFlag {
            environment: "prod".into(),
            flag: "new-checkout".into(),
            state: FlagState::On
        }
    );
    assert_eq!(effects[2].key.as_str(), "rollout-7/1-set-1");
}

#[test]
fn gradual_rollout_failed_step_retoggles_to_the_last_good_percentage() {
    let plan = GradualRollout::new("prod", "payments", "new-checkout", [10, 50, 100]).unwrap();
    assert_eq!(plan.on_failure(2), FlagState::Percentage { percent: 10 });
    assert_eq!(plan.on_failure(1), FlagState::Percentage { percent: 0 });
    assert_eq!(plan.on_failure(0), FlagState::Off);
    assert_eq!(plan.on_failure(3), FlagState::Percentage { percent: 50 });
}

#[test]
fn gradual_rollout_steps_must_rise_to_100() {
    for bad in [
        vec![],
        vec![50, 10, 100],
        vec![0, 100],
        vec![10, 50],
        vec![10, 10, 100],
    ] {
        let err = GradualRollout::new("prod", "payments", "f", bad.clone()).unwrap_err();
        assert!(
            err.to_string().contains("must rise strictly"),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn pictures_pipeline_as_dot_with_both_lanes() {
    let pipeline = common::pipeline_spec().build().unwrap();
    let dot = pipeline_dot(&pipeline);
    assert!(dot.starts_with("digraph {"), "{dot}");
    assert!(
        dot.contains("label = \"prod\\n(production)\" shape = doubleoctagon"),
        "{dot}"
    );
    assert!(
        dot.contains("label = \"hotfix\" style = dashed color = red"),
        "{dot}"
    );
    assert_eq!(dot.matches("label = \"main\"").count(), 2, "{dot}");
}

#[test]
fn pictures_plan_and_timeline_as_mermaid() {
    let mut w = World::new();
    w.merge("PR-1", "a1", None);
    let one = w.build_at(1, "a1");
    w.through_qa(&one);
    w.deploy("prod", &one, true);
    w.merge("PR-2", "b2", Some("a1"));
    let two = w.build_at(2, "b2");
    w.through_qa(&two);
    w.deploy("prod", &two, true);
    w.declare(change_cause("PR-2"));
    let plan = w.plan();
    let mermaid = plan_mermaid(&plan);
    assert!(
        mermaid.starts_with("flowchart TD\n  incident[\"INC-1\"]"),
        "{mermaid}"
    );
    assert!(mermaid.contains("o0[\"1. rollback ~15 min\"]"), "{mermaid}");
    assert!(mermaid.contains("class o6 inapplicable"), "{mermaid}");
    assert!(
        mermaid.contains("s0[\"roll payments in prod back to revision 1 (payments@1.1.0)\"]"),
        "{mermaid}"
    );
    w.choose(knowngood::Strategy::Rollback);
    let retro = knowngood::retro::Retro::from_journal(w.ledger.journal(), &"INC-1".into()).unwrap();
    let timeline = timeline_mermaid(&retro);
    assert!(
        timeline.starts_with("timeline\n  title INC-1 (SEV1)\n"),
        "{timeline}"
    );
    assert!(timeline.contains("chose rollback for INC-1"), "{timeline}");
}
