//! Policy is plain data: every field defaults, files name only what they
//! change, unknown fields are refused.

use knowngood::{Policy, Strategy};

#[test]
fn policy_defaults_allow_everything_but_the_hotfix_lane() {
    let p = Policy::default();
    for s in Strategy::ALL {
        assert_eq!(p.allows(s), s != Strategy::Hotfix, "{s}");
    }
}

#[test]
fn forward_only_policy_forbids_rollback() {
    let p: Policy = toml::from_str("forward_only = true").unwrap();
    assert!(!p.allows(Strategy::Rollback));
    assert!(p.allows(Strategy::Revert));
}

#[test]
fn policy_loads_from_toml_and_json() {
    let toml_text = r#"
        allowed_strategies = ["retoggle", "revert", "hotfix"]
        main_always_deployable = true
        [hotfix_lane]
        branch_template = "Hotfix-{build}"
        [stage_seconds]
        qa = 7200
        prod = 900
    "#;
    let p: Policy = toml::from_str(toml_text).unwrap();
    assert!(p.allows(Strategy::Hotfix));
    assert!(!p.allows(Strategy::Rollback));
    assert_eq!(
        p.hotfix_lane.as_ref().unwrap().branch_template,
        "Hotfix-{build}"
    );
    assert_eq!(p.stage_seconds[&"qa".into()], 7200);
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), p);
}

#[test]
fn policy_with_an_unknown_field_or_strategy_is_refused() {
    let err = toml::from_str::<Policy>("forward_onyl = true").unwrap_err();
    assert!(err.to_string().contains("forward_onyl"), "{err}");
    let err = serde_json::from_str::<Policy>(r#"{"allowed_strategies": ["pray"]}"#).unwrap_err();
    assert!(err.to_string().contains("pray"), "{err}");
}
