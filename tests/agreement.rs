//! The planner and the core agree, over random histories (rule: "the core
//! is the only judge"):
//!
//! - every option the planner marks applicable, once chosen, is driven
//!   through the in-memory ports (a drill, its clock moving between steps,
//!   the drill playing the person) without a single core refusal and
//!   without falling back to another strategy;
//! - every option marked not applicable is refused when chosen, with the
//!   rule code the planner gave; when the blocker is a core rule, forcing
//!   the option's steps past the planner is refused by the core with the
//!   same rule.
//!
//! `KG_AGREEMENT=N` sets the number of random histories (50 by default, what a
//! debug build runs in seconds; `.ci/run` runs 1 000),
//! `KG_SEED=N` replays one.

use knowngood::drill::{Scenario, SimRng, run};
use knowngood::machine::rehearse;
use knowngood::{Command, EventKind, Journal, Ledger, Strategy};
use serde_json::{Value, json};

/// Checks only the planner can make (the core does not know ports,
/// causes or the team's work); every other blocker is a core rule.
const PLANNER_CHECKS: &[&str] = &[
    "deployer-can-roll-back",
    "deployer-can-abort",
    "flag-store-available",
    "vcs-can-revert",
    "vcs-can-branch",
    "builder-on-demand",
    "known-good-set",
    "cause-is-a-change",
    "change-fully-behind-flags",
    "flags-on",
    "no-later-change-depends-on-it",
    "main-lane",
    "hotfix-lane",
    "production-commit-known",
    "main-deploy-ready",
    "work-in-flight",
    "main-not-always-deployable",
    "known-good-target",
    "suspect-in-flight",
];

fn pick(rng: &mut SimRng, percent: u64) -> bool {
    rng.below(100) < percent
}

/// A random but well-formed history: a few builds of `payments`, shipped
/// (or still on their way, or failing), some behind flags, schema
/// migrations with contract steps, several production environments,
/// approvals, forward-only, hotfix-lane and continuous-deployment
/// policies, and an incident with a random cause.
fn random_scenario(seed: u64) -> Value {
    let mut rng = SimRng::new(seed);
    let two_prods = pick(&mut rng, 40);
    let mut environments = vec![
        json!({"id": "dev", "role": "development"}),
        json!({"id": "qa", "role": "test"}),
        json!({"id": "prod", "role": "production"}),
        json!({"id": "hotfix-dev", "role": "hotfix-development"}),
    ];
    let mut promotions = vec![
        json!({"from": "dev", "to": "qa"}),
        json!({"from": "qa", "to": "prod"}),
        json!({"from": "hotfix-dev", "to": "prod", "lane": "hotfix"}),
    ];
    if two_prods {
        environments.push(json!({"id": "prod-us", "role": "production"}));
        promotions.push(json!({"from": "qa", "to": "prod-us"}));
    }
    let mut policy = serde_json::Map::new();
    policy.insert(
        "stage_seconds".into(),
        json!({"dev": 600, "qa": 1800, "prod": 600, "prod-us": 600, "hotfix-dev": 600}),
    );
    if pick(&mut rng, 25) {
        policy.insert("forward_only".into(), json!(true));
    }
    if pick(&mut rng, 50) {
        policy.insert(
            "hotfix_lane".into(),
            json!({"branch_template": "Hotfix-{build}"}),
        );
    }
    if pick(&mut rng, 20) {
        policy.insert("main_always_deployable".into(), json!(true));
    }
    if pick(&mut rng, 20) {
        policy.insert("dark_launch_counts_as_off".into(), json!(true));
    }
    if pick(&mut rng, 20) {
        policy.insert("fast_track_allowed".into(), json!(false));
    }
    if pick(&mut rng, 30) {
        policy.insert("roles".into(), json!({"approvers": ["ann", "ben", "cat"]}));
        policy.insert(
            "approvals".into(),
            json!({"prod": {"approvers": 2, "role": "approvers"}}),
        );
    }
    let builds = 2 + rng.below(4);
    let migrations = pick(&mut rng, 30);
    let mut history = Vec::new();
    // A second service that payments may require.
    let ledger = pick(&mut rng, 30);
    if ledger {
        for (n, version) in [(1u64, "2.9.0"), (2, "3.0.0")] {
            let commit = format!("l{n}");
            history.push(json!({"step": "merge", "change": format!("L-{n}"), "commit": commit, "service": "ledger"}));
            history.push(json!({"step": "build", "release": format!("ledger@{version}"), "version": version, "build": n, "commit": commit, "service": "ledger"}));
            let through = if two_prods {
                json!(["dev", "qa", "prod", "prod-us"])
            } else {
                json!(["dev", "qa", "prod"])
            };
            history.push(
                json!({"step": "ship", "release": format!("ledger@{version}"), "through": through}),
            );
        }
    }
    for n in 1..=builds {
        let commit = format!("c{n}");
        let flagged = pick(&mut rng, 30);
        let mut merge = json!({"step": "merge", "change": format!("PR-{n}"), "commit": commit});
        if flagged {
            merge["flags"] = json!([format!("f{n}")]);
            if pick(&mut rng, 25) {
                merge["unflagged"] = json!("the unflagged part");
            }
        }
        history.push(merge);
        let mut build = json!({
            "step": "build",
            "release": format!("payments@1.{n}.0"),
            "version": format!("1.{n}.0"),
            "build": n,
            "commit": commit,
        });
        if ledger && n >= 2 && pick(&mut rng, 60) {
            build["requires"] = json!({"ledger": ">=3.0"});
        }
        if migrations {
            // Builds up to 2 run on schema 1..=2, later ones on 2..=3.
            build["schema"] = if n <= 2 {
                json!({"min": 1, "max": 2})
            } else {
                json!({"min": 2, "max": 3})
            };
        }
        history.push(build);
        let last = n == builds;
        let mut through = vec!["dev", "qa", "prod"];
        if two_prods && pick(&mut rng, 70) {
            through.push("prod-us");
        }
        let roll = rng.below(10);
        if last && roll < 2 {
            // Still on its way: in QA, not verified yet.
            history.push(
                json!({"step": "ship", "release": format!("payments@1.{n}.0"), "through": ["dev"]}),
            );
            history.push(json!({"step": "roll-out", "release": format!("payments@1.{n}.0"), "environment": "qa"}));
        } else if last && roll < 3 {
            history.push(json!({"step": "ship", "release": format!("payments@1.{n}.0"), "through": ["dev", "qa"]}));
            history.push(json!({"step": "roll-out", "release": format!("payments@1.{n}.0"), "environment": "prod"}));
        } else if last && roll < 5 {
            // The suspect is still rolling out in production.
            history.push(json!({"step": "ship", "release": format!("payments@1.{n}.0"), "through": ["dev", "qa"]}));
            history.push(json!({"step": "start", "release": format!("payments@1.{n}.0"), "environment": "prod"}));
        } else {
            let healthy = !(last && pick(&mut rng, 40));
            history.push(json!({
                "step": "ship",
                "release": format!("payments@1.{n}.0"),
                "through": through,
                "healthy": healthy,
            }));
        }
        if flagged && pick(&mut rng, 80) {
            // On, or dark-launched at 0 %.
            let state = if pick(&mut rng, 25) {
                json!({"state": "percentage", "percent": 0})
            } else {
                json!({"state": "on"})
            };
            history.push(json!({"step": "set-flag", "environment": "prod", "flag": format!("f{n}"), "state": state}));
        }
        if migrations && n == 2 {
            history.push(json!({"step": "migrate", "environment": "prod", "migration": {"id": "m2", "phase": "expand", "from": 1, "to": 2, "reversible": true}}));
        }
        if migrations && n == 3 && pick(&mut rng, 50) {
            history.push(json!({"step": "migrate", "environment": "prod", "migration": {"id": "m3", "phase": "contract", "from": 2, "to": 3, "reversible": false}}));
        }
        history.push(json!({"step": "wait", "minutes": 30}));
    }
    if pick(&mut rng, 25) {
        // Main reverts an earlier change, with no incident (revert pairs
        // hold anyway).
        let k = 1 + rng.below(builds);
        history.push(json!({"step": "merge", "change": format!("R-{k}"), "commit": format!("r{k}"), "reverts": format!("PR-{k}")}));
    }
    if pick(&mut rng, 20) {
        history.push(json!({"step": "expire", "release": "payments@1.1.0"}));
    }
    if pick(&mut rng, 25) {
        // A freeze on prod closing some actions (deny beats allow).
        let all = ["deliver", "rollback", "hotfix", "flag-change"];
        let actions: Vec<&str> = all.iter().copied().filter(|_| pick(&mut rng, 50)).collect();
        if !actions.is_empty() {
            history.push(json!({"step": "command", "command": {
                "type": "declare_freeze",
                "freeze": {
                    "id": "holidays",
                    "actions": actions,
                    "environments": ["prod"],
                    "starts": "2026-01-01T00:00:00Z",
                    "declared_by": "lead",
                    "reason": "holidays",
                }
            }}));
        }
    }
    let cause = match rng.below(3) {
        0 => json!({"cause": "change", "change": format!("PR-{builds}")}),
        1 => json!({"cause": "external", "description": "the payment provider changed its API"}),
        _ => json!({"cause": "change", "change": format!("PR-{}", 1 + rng.below(builds))}),
    };
    // Who plans, with what clearance, naming what: drawn last, so that the
    // histories above stay what they were.
    let mut request = serde_json::Map::new();
    let mut clearance = serde_json::Map::new();
    if pick(&mut rng, 25) {
        // Any production revision, usable or not.
        request.insert("rollback_to".into(), json!(1 + rng.below(builds + 1)));
        if pick(&mut rng, 50) {
            clearance.insert(
                "unverified_target".into(),
                json!("it served a day without errors"),
            );
        }
    }
    let mut roles = policy
        .get("roles")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if policy.get("fast_track_allowed").is_none() && pick(&mut rng, 20) {
        // Fast-tracks for release managers only: the person on call is
        // one, or not.
        let members = if pick(&mut rng, 50) { "oncall" } else { "rita" };
        roles.insert("release-managers".into(), json!([members]));
        policy.insert("fast_track_roles".into(), json!(["release-managers"]));
    }
    if pick(&mut rng, 20) {
        let members = if pick(&mut rng, 50) { "oncall" } else { "lead" };
        roles.insert("leads".into(), json!([members]));
        policy.insert("freeze_override_roles".into(), json!(["leads"]));
        clearance.insert("freeze_override".into(), json!("checkout is down"));
    }
    if !roles.is_empty() {
        policy.insert("roles".into(), Value::Object(roles));
    }
    if !clearance.is_empty() {
        request.insert("clearance".into(), Value::Object(clearance));
    }
    // One of the host's runbooks, in scope or not: for some causes, some
    // environments, some services.
    let mut runbooks = Vec::new();
    if pick(&mut rng, 35) {
        let mut runbook = serde_json::Map::new();
        runbook.insert("id".into(), json!("failover"));
        runbook.insert("title".into(), json!("Fail over to the standby"));
        runbook.insert("restores".into(), json!(true));
        runbook.insert("estimate_seconds".into(), json!(60 + rng.below(3600)));
        let causes: Vec<&str> = ["change", "deployment", "external"]
            .into_iter()
            .filter(|_| pick(&mut rng, 50))
            .collect();
        runbook.insert("causes".into(), json!(causes));
        match rng.below(3) {
            0 => {}
            1 => {
                runbook.insert("environments".into(), json!(["prod"]));
            }
            _ => {
                runbook.insert("environments".into(), json!(["qa"]));
            }
        }
        if pick(&mut rng, 20) {
            runbook.insert("services".into(), json!(["ledger"]));
        }
        if pick(&mut rng, 50) {
            runbook.insert("undo".into(), json!("fail back"));
        }
        runbooks.push(Value::Object(runbook));
    }
    json!({
        "format": 1,
        "name": format!("random-{seed}"),
        "service": "payments",
        "other_services": if ledger { json!(["ledger"]) } else { json!([]) },
        "pipeline": {"environments": environments, "promotions": promotions},
        "policy": Value::Object(policy),
        "history": history,
        // Time passes between every command the driver sends.
        "faults": {"clock_tick_seconds": 1 + rng.below(30)},
        "incident": {
            "id": "INC-1",
            "environment": "prod",
            "severity": "sev1",
            "cause": cause,
            "summary": "checkout failing",
        },
        "request": Value::Object(request),
        "runbooks": runbooks,
    })
}

fn scenario(value: &Value) -> Option<Scenario> {
    match Scenario::from_json(&value.to_string(), "random") {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

/// The state and time at which the drill chose its strategy.
fn state_at_choice(journal: &Journal) -> Option<(Ledger, chrono::DateTime<chrono::Utc>)> {
    let at = journal
        .entries()
        .iter()
        .position(|e| matches!(e.event.kind, EventKind::StrategyChosen { .. }))?;
    let when = journal.entries()[at].event.at;
    Some((Ledger::from_journal(journal.truncated(at)).ok()?, when))
}

/// The resolve phase: once the driven plan mitigated the incident, every
/// resolving option the planner offers, the core accepts, and every one
/// it blocks by a core rule, the core refuses by that rule.
fn resolve_phase(
    seed: u64,
    journal: &Journal,
    request: &knowngood::PlanRequest,
    tally: &mut Tally,
) -> Vec<String> {
    let mut problems = Vec::new();
    let Ok(ledger) = Ledger::from_journal(journal.clone()) else {
        return problems;
    };
    let Some(incident) = ledger.state().incident(&"INC-1".into()) else {
        return problems;
    };
    if incident.phase != knowngood::IncidentPhase::Mitigated {
        return problems;
    }
    let Some(last) = journal.entries().last().map(|e| e.event.at) else {
        return problems;
    };
    let when = last + chrono::Duration::minutes(5);
    let Ok(plan) = knowngood::plan_for(
        ledger.state(),
        &"INC-1".into(),
        when,
        &knowngood::Capabilities::all(),
        request,
    ) else {
        return problems;
    };
    for option in &plan.options {
        let strategy = option.strategy;
        let blocker = option.blocked_by().unwrap_or_default().to_owned();
        if !option.applicable && PLANNER_CHECKS.contains(&blocker.as_str()) {
            continue;
        }
        let forced = Command::ChooseStrategy {
            incident: plan.incident.clone(),
            strategy,
            steps: option.steps.clone(),
            follow_ups: option.cost.follow_ups.clone(),
            considered: Vec::new(),
            explanation: String::new(),
            by: request.by.clone().unwrap_or_else(|| "oncall".into()),
            clearance: request.clearance.clone(),
        };
        tally.resolve_phase += 1;
        match (option.applicable, rehearse(ledger.state(), &forced, when)) {
            (true, Ok(_)) => tally.resolve_offered += 1,
            (true, Err(refusal)) => problems.push(format!(
                "seed {seed}: after mitigation, {} is offered but the core refuses it: {refusal}",
                option.name()
            )),
            (false, Ok(_)) => problems.push(format!(
                "seed {seed}: after mitigation, the planner says `{blocker}` for {} but the core accepts it",
                option.name()
            )),
            (false, Err(refusal)) if refusal.rule() != blocker => problems.push(format!(
                "seed {seed}: after mitigation, {}: planner says `{blocker}`, the core refuses with `{}`",
                option.name(),
                refusal.rule()
            )),
            (false, Err(_)) => {}
        }
    }
    problems
}

/// What one history exercised.
#[derive(Default)]
struct Tally {
    histories: usize,
    driven: usize,
    refused_as_planned: usize,
    forced: usize,
    /// Options judged by the core after a mitigation.
    resolve_phase: usize,
    /// Of those, offered (the resolving plans) and accepted by the core.
    resolve_offered: usize,
    /// Offered options driven that promote their build to production
    /// elsewhere running the cause.
    promoted: usize,
    blockers: std::collections::BTreeMap<String, usize>,
}

/// One random history; returns what disagreed.
fn agree(seed: u64, tally: &mut Tally) -> Vec<String> {
    let value = random_scenario(seed);
    let Some(base) = scenario(&value) else {
        return vec![format!("seed {seed}: the generated scenario does not load")];
    };
    let first = run(&base, seed);
    let Some(plan) = first.plan.clone() else {
        if std::env::var("KG_DEBUG").is_ok() {
            eprintln!("seed {seed}: no plan: {:?}", first.failures.first());
        }
        // The history itself was refused (a random step the rules forbid):
        // nothing to compare.
        return Vec::new();
    };
    tally.histories += 1;
    let mut problems = Vec::new();
    for option in &plan.options {
        let strategy = option.strategy;
        let mut chosen = value.clone();
        chosen["expect"] = json!({"choose": strategy.to_string()});
        let Some(scenario) = scenario(&chosen) else {
            problems.push(format!("seed {seed}: {strategy}: scenario does not load"));
            continue;
        };
        let report = run(&scenario, seed);
        if option.applicable {
            let refused: Vec<&String> = report
                .failures
                .iter()
                .chain(report.log.iter())
                .filter(|f| f.contains("refused") || f.contains("failed:"))
                .collect();
            tally.driven += 1;
            if option
                .steps
                .iter()
                .any(|s| matches!(s.action, knowngood::recovery::EffectAction::Promote { .. }))
            {
                tally.promoted += 1;
            }
            // The clock moved between every step the driver recorded.
            let stamps: Vec<_> = report
                .journal
                .entries()
                .iter()
                .filter(|e| matches!(e.event.kind, EventKind::EffectRecorded { .. }))
                .map(|e| e.event.at)
                .collect();
            if stamps.windows(2).any(|w| w[0] >= w[1]) {
                problems.push(format!(
                    "seed {seed}: {strategy}: the clock stood still between steps"
                ));
            }
            if report.chosen != [strategy] || !refused.is_empty() {
                problems.push(format!(
                    "seed {seed}: {strategy} was offered but did not complete as chosen: chosen {:?}; {refused:?}",
                    report.chosen
                ));
            }
            problems.extend(resolve_phase(seed, &report.journal, &plan.request, tally));
            continue;
        }
        let blocker = option.blocked_by().unwrap_or_default().to_owned();
        *tally
            .blockers
            .entry(format!("{strategy}:{blocker}"))
            .or_default() += 1;
        match plan.choose(strategy, "oncall") {
            Ok(_) => problems.push(format!(
                "seed {seed}: {strategy} is not applicable but choosing it was accepted"
            )),
            Err(refusal) if refusal.rule() != blocker => problems.push(format!(
                "seed {seed}: {strategy}: planner says `{blocker}`, choosing is refused with `{}`",
                refusal.rule()
            )),
            Err(_) => tally.refused_as_planned += 1,
        }
        // A core rule must be the core's own answer when the planner is
        // bypassed.
        if PLANNER_CHECKS.contains(&blocker.as_str()) {
            continue;
        }
        let Some((ledger, when)) = state_at_choice(&first.journal) else {
            continue;
        };
        let forced = Command::ChooseStrategy {
            incident: plan.incident.clone(),
            strategy,
            steps: option.steps.clone(),
            follow_ups: option.cost.follow_ups.clone(),
            considered: Vec::new(),
            explanation: String::new(),
            by: "oncall".into(),
            clearance: plan.request.clearance.clone(),
        };
        let replanned = knowngood::plan_for(
            ledger.state(),
            &plan.incident,
            when,
            &knowngood::Capabilities::all(),
            &plan.request,
        );
        let Ok(replanned) = replanned else { continue };
        let Some(again) = replanned.option(strategy) else {
            continue;
        };
        if again.applicable || again.blocked_by() != Some(blocker.as_str()) {
            // The drill's first plan was made a minute earlier.
            continue;
        }
        tally.forced += 1;
        match rehearse(ledger.state(), &forced, when) {
            Ok(_) => problems.push(format!(
                "seed {seed}: {strategy}: the planner says `{blocker}` but the core accepts it"
            )),
            Err(refusal) if refusal.rule() != blocker => problems.push(format!(
                "seed {seed}: {strategy}: planner says `{blocker}`, the core refuses with `{}`",
                refusal.rule()
            )),
            Err(_) => {}
        }
    }
    problems
}

#[test]
fn core_is_the_only_judge_planner_and_core_agree_over_random_histories() {
    let seeds: Vec<u64> = match std::env::var("KG_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => {
            let n = std::env::var("KG_AGREEMENT")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(50u64);
            (1..=n).collect()
        }
    };
    let mut tally = Tally::default();
    let mut problems = Vec::new();
    for &seed in &seeds {
        problems.extend(agree(seed, &mut tally));
    }
    eprintln!(
        "{} histories planned; {} offered options driven to the end ({} promoting their build to production elsewhere); {} refused as planned; {} forced past the planner; {} options judged in the resolve phase ({} offered and accepted)",
        tally.histories,
        tally.driven,
        tally.promoted,
        tally.refused_as_planned,
        tally.forced,
        tally.resolve_phase,
        tally.resolve_offered
    );
    eprintln!("blockers: {:?}", tally.blockers);
    // The generator must exercise both sides, or the property says little.
    if seeds.len() > 1 {
        assert!(
            tally.histories * 2 > seeds.len(),
            "most histories must plan"
        );
        assert!(tally.driven > seeds.len(), "options must be driven");
        assert!(tally.forced > 0, "core rules must be forced");
        if seeds.len() >= 200 {
            assert!(tally.promoted > 0, "builds must be promoted elsewhere");
        }
        assert!(
            tally.resolve_offered > 0,
            "the resolve phase must offer plans the core accepts"
        );
    }
    if let Some(first) = problems.first() {
        panic!(
            "{} disagreements over {} histories; first: {first}\nreplay: KG_SEED=<seed> cargo test --all-features --test agreement",
            problems.len(),
            seeds.len()
        );
    }
}

#[test]
fn core_is_the_only_judge_a_forced_step_is_refused_with_the_step_named() {
    // Negative case: a plan whose step the core refuses is refused as a
    // whole, naming the step and the rule; nothing is recorded.
    // The first random history that reaches a choice.
    let (plan, (ledger, when)) = (0..100)
        .find_map(|seed| {
            let report = run(&scenario(&random_scenario(seed))?, seed);
            Some((report.plan?, state_at_choice(&report.journal)?))
        })
        .unwrap();
    let bogus = Command::ChooseStrategy {
        incident: plan.incident.clone(),
        strategy: Strategy::Retoggle,
        steps: vec![knowngood::recovery::Effect::new(
            knowngood::recovery::IdempotencyKey::new("INC-1/bogus/1-rollback"),
            knowngood::recovery::EffectAction::Verify {
                environment: "nowhere".into(),
                service: "payments".into(),
            },
        )],
        follow_ups: Vec::new(),
        considered: Vec::new(),
        explanation: String::new(),
        by: "oncall".into(),
        clearance: knowngood::Clearance::none(),
    };
    let mut copy = ledger.clone();
    let refusal = copy.execute(&bogus, when).unwrap_err();
    assert_eq!(refusal.own_rule(), "plan-step-refused");
    assert_eq!(refusal.rule(), "unknown-environment");
    assert!(
        refusal.to_string().contains("INC-1/bogus/1-rollback"),
        "{refusal}"
    );
    assert_eq!(copy.state(), ledger.state());
}
