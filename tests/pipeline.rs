//! Pipeline validation: each invalid pipeline gets its own error naming the
//! culprit; a valid one answers questions about lanes.

use knowngood::{EnvironmentRole as Role, Lane, Pipeline, PipelineError, PipelineSpec};

fn base() -> PipelineSpec {
    PipelineSpec::new()
        .environment("dev", Role::Development)
        .environment("qa", Role::Test)
        .environment("prod", Role::Production)
        .promote("dev", "qa")
        .promote("qa", "prod")
}

#[test]
fn pipeline_without_cycle_is_valid_and_a_cycle_is_refused_naming_its_environments() {
    assert!(base().build().is_ok());
    let err = base().promote("prod", "dev").build().unwrap_err();
    assert_eq!(
        err,
        PipelineError::Cycle {
            environments: vec!["dev".into(), "prod".into(), "qa".into()]
        }
    );
    assert_eq!(
        err.to_string(),
        "promotion paths form a cycle through `dev`, `prod`, `qa`: a pipeline must only flow forward"
    );
    // A self-loop is a cycle too, and so is one that crosses lanes.
    let err = base().promote("qa", "qa").build().unwrap_err();
    assert_eq!(
        err,
        PipelineError::Cycle {
            environments: vec!["qa".into()]
        }
    );
    let err = base().hotfix_promote("prod", "qa").build().unwrap_err();
    assert!(matches!(err, PipelineError::Cycle { .. }), "{err}");
}

#[test]
fn edge_to_unknown_environment_is_refused_naming_it() {
    let err = base().promote("qa", "staging").build().unwrap_err();
    assert_eq!(
        err,
        PipelineError::UnknownEnvironment {
            from: "qa".into(),
            to: "staging".into(),
            missing: "staging".into()
        }
    );
    assert!(
        err.to_string().contains("unknown environment `staging`"),
        "{err}"
    );
    let err = base().promote("sandbox", "qa").build().unwrap_err();
    assert!(
        err.to_string().contains("unknown environment `sandbox`"),
        "{err}"
    );
}

#[test]
fn pipeline_needs_a_production_environment() {
    let err = PipelineSpec::new()
        .environment("dev", Role::Development)
        .environment("qa", Role::Test)
        .promote("dev", "qa")
        .build()
        .unwrap_err();
    assert_eq!(err, PipelineError::NoProduction);
    assert!(err.to_string().contains("`production` role"));
    // Several production targets are fine.
    let regions = base()
        .environment("prod-eu", Role::Production)
        .promote("qa", "prod-eu")
        .build()
        .unwrap();
    assert_eq!(regions.production().count(), 2);
}

#[test]
fn hotfix_lane_must_end_in_production() {
    let ok = base()
        .environment("hotfix-dev", Role::HotfixDevelopment)
        .hotfix_promote("hotfix-dev", "prod")
        .build()
        .unwrap();
    assert!(ok.has_hotfix_lane());
    let err = base()
        .environment("hotfix-dev", Role::HotfixDevelopment)
        .environment("hotfix-qa", Role::Test)
        .hotfix_promote("hotfix-dev", "hotfix-qa")
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        PipelineError::HotfixLaneDeadEnd {
            environment: "hotfix-qa".into(),
            role: Role::Test
        }
    );
    assert!(
        err.to_string().contains("stops at `hotfix-qa` (test)"),
        "{err}"
    );
}

#[test]
fn duplicate_environment_and_duplicate_path_are_refused() {
    let err = base().environment("qa", Role::Staging).build().unwrap_err();
    assert_eq!(
        err,
        PipelineError::DuplicateEnvironment {
            environment: "qa".into()
        }
    );
    let err = base().promote("dev", "qa").build().unwrap_err();
    assert_eq!(
        err,
        PipelineError::DuplicatePromotion {
            from: "dev".into(),
            to: "qa".into(),
            lane: Lane::Main
        }
    );
    // The same pair on the other lane is a different path.
    assert!(base().hotfix_promote("qa", "prod").build().is_ok());
}

#[test]
fn pipeline_reads_from_json_and_toml_and_is_validated_when_read() {
    let json = r#"{
        "environments": [
            {"id": "dev", "role": "development"},
            {"id": "prod", "role": "production"},
            {"id": "hotfix-dev", "role": "hotfix-development"}
        ],
        "promotions": [
            {"from": "dev", "to": "prod"},
            {"from": "hotfix-dev", "to": "prod", "lane": "hotfix"}
        ]
    }"#;
    let p: Pipeline = serde_json::from_str(json).unwrap();
    assert_eq!(
        p.predecessors(&"prod".into(), Lane::Hotfix),
        vec![&"hotfix-dev".into()]
    );
    assert_eq!(p.lanes_into(&"prod".into()), vec![Lane::Main, Lane::Hotfix]);
    let back: Pipeline = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);

    let toml_text = r#"
        [[environments]]
        id = "dev"
        role = "development"
        [[environments]]
        id = "qa"
        role = "test"
        [[promotions]]
        from = "dev"
        to = "qa"
    "#;
    let err = toml::from_str::<Pipeline>(toml_text).unwrap_err();
    assert!(
        err.to_string().contains("no production environment"),
        "{err}"
    );
}
