//! The command's front door: `init`, bad configuration, exit codes, JSON
//! errors, colour, approvals and freezes, flags, graphs, completions, a
//! tampered journal, drills.

use std::process::Command;

use crate::fixture::{Store, World};

#[test]
fn init_writes_a_starting_point_and_never_overwrites_a_file() {
    let w = World::new("init", Store::File);
    std::fs::remove_file(w.file("knowngood.toml")).unwrap();
    let ran = w.expect(0, &["init"]);
    assert!(ran.stdout.contains("knowngood sync"), "{}", ran.stdout);
    let written = w.read("knowngood.toml");
    assert!(written.contains("[journal]") && written.contains("[pipeline]"));
    let again = w.expect(2, &["init"]);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    w.expect(0, &["init", "--force"]);
    // The starting point works as it is: an empty journal's status.
    let status = w.expect(0, &["status"]);
    assert!(
        status.stdout.contains("holds no pipeline yet"),
        "{}",
        status.stdout
    );
}

#[test]
fn bad_configuration_values_name_the_file_the_key_and_what_is_expected() {
    let w = World::new("bad-config", Store::File);
    let cases: [(&str, &str, &str); 7] = [
        ("[journal]", "[jounal]", "jounal"),
        ("path = \"journal.jsonl\"\n", "", "journal.path"),
        ("store = \"file\"", "store = \"etcd\"", "etcd"),
        (
            "promotions = [{ from = \"qa\", to = \"prod\" }]",
            "promotions = [{ from = \"qa\", to = \"staging\" }]",
            "pipeline",
        ),
        (
            "prod = \"prod.flags.json\"",
            "stage = \"prod.flags.json\"",
            "flags.stage",
        ),
        (
            "name = \"payments\"",
            "name = \"pay ments\"",
            "services[0].name",
        ),
        (
            "[health]\n",
            "[health]\nanalysis = { metrics = [{ name = \"e\", query = \"q\" }] }\n",
            "health",
        ),
    ];
    let good = w.read("knowngood.toml");
    for (from, to, key) in cases {
        assert!(good.contains(from), "{from}");
        std::fs::write(w.file("knowngood.toml"), good.replacen(from, to, 1)).unwrap();
        let ran = w.expect(2, &["status"]);
        assert!(
            ran.stderr.contains("knowngood.toml") && ran.stderr.contains(key),
            "{key}: {}",
            ran.stderr
        );
    }
    // A missing file says how to make one.
    let missing = w.expect(2, &["--config", "nowhere.toml", "status"]);
    assert!(
        missing.stderr.contains("knowngood init"),
        "{}",
        missing.stderr
    );
}

#[test]
fn exit_codes_say_refused_bad_input_and_waiting_and_errors_are_json_with_json() {
    let w = World::new("exit-codes", Store::File);
    w.require_approval_in_prod();
    w.expect(0, &["sync"]);
    w.expect(0, &["build"]);
    // Waiting for a person: the approval of production (exit 3).
    let waiting = w.expect(3, &["promote", "payments@1.1.1+1"]);
    assert!(waiting.stdout.contains("approv"), "{}", waiting.stdout);
    // Refused by a rule (exit 1): alice may not approve (not her role).
    let refused = w.expect(1, &["approve", "prod"]);
    assert!(
        refused.stderr.contains("error: refused"),
        "{}",
        refused.stderr
    );
    w.expect(0, &["approve", "prod", "--as", "bob"]);
    let done = w
        .expect(0, &["promote", "payments@1.1.1+1", "--json"])
        .json();
    assert_eq!(done["outcome"], "verified", "{done}");
    assert_eq!(done["verified"].as_array().unwrap().len(), 2, "{done}");
    // Bad input (exit 2): an unknown incident, an unknown option, bad
    // arguments (clap's own usage error is 2 as well).
    w.expect(2, &["plan", "INC-404"]);
    w.expect(2, &["choose", "INC-404", "teleport"]);
    w.expect(2, &["flag", "prod", "new-checkout", "150%"]);
    // With --json an error is JSON on stdout too.
    let json = w.expect(2, &["plan", "INC-404", "--json"]).json();
    assert_eq!(json["exit"], 2);
    assert!(
        json["error"].as_str().unwrap().contains("INC-404"),
        "{json}"
    );
}

#[test]
fn a_freeze_stops_deliveries_until_it_is_lifted() {
    let w = World::new("freeze", Store::Sqlite);
    w.first_build_shipped();
    w.commit("second", "PR-3", Some("second.txt"));
    w.expect(0, &["sync"]);
    w.expect(0, &["build"]);
    w.expect(
        0,
        &[
            "freeze",
            "quarter-end",
            "--env",
            "prod",
            "--reason",
            "quarter end",
            "--minutes",
            "60",
        ],
    );
    let status = w.expect(0, &["status"]).stdout;
    assert!(
        status.contains("frozen `quarter-end` of deliver"),
        "{status}"
    );
    let refused = w.expect(1, &["promote", "payments@1.1.2+2"]);
    assert!(refused.stderr.contains("quarter-end"), "{}", refused.stderr);
    w.expect(0, &["unfreeze", "quarter-end", "--reason", "closed early"]);
    w.expect(0, &["promote", "payments@1.1.2+2"]);
}

#[test]
fn flag_switches_the_flagd_file_after_the_core_agrees_and_records_it() {
    let w = World::new("flag", Store::File);
    w.first_build_shipped();
    let ran = w
        .expect(0, &["flag", "prod", "new-checkout", "on", "--json"])
        .json();
    assert_eq!(ran["state"]["state"], "on", "{ran}");
    let file = w.read("prod.flags.json");
    assert!(file.contains("new-checkout"), "{file}");
    let status = w.expect(0, &["status", "--env", "prod"]).stdout;
    assert!(status.contains("flags: new-checkout on"), "{status}");
    // A flag change frozen: refused before the file changes.
    w.expect(
        0,
        &[
            "freeze",
            "no-flags",
            "--action",
            "flag-change",
            "--reason",
            "audit",
        ],
    );
    w.expect(1, &["flag", "prod", "new-checkout", "off"]);
    assert_eq!(
        w.read("prod.flags.json"),
        file,
        "the flagd file is untouched"
    );
}

#[test]
fn graphs_of_the_pipeline_in_dot_and_mermaid_and_their_limits() {
    let w = World::new("graph", Store::File);
    let mermaid = w.expect(0, &["graph", "pipeline"]).stdout;
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    let dot = w
        .expect(0, &["graph", "pipeline", "--format", "dot"])
        .stdout;
    assert!(dot.starts_with("digraph"), "{dot}");
    w.expect(2, &["graph", "plan"]);
    w.expect(2, &["graph", "timeline", "INC-1", "--format", "dot"]);
}

#[test]
fn a_tampered_journal_does_not_verify() {
    let w = World::new("tampered", Store::File);
    w.first_build_shipped();
    let ok = w.expect(0, &["journal", "verify"]).stdout;
    assert!(ok.contains("entries verify"), "{ok}");
    let journal = w.read("journal.jsonl");
    let forged = journal.replacen("payments@1.1.1+1", "payments@6.6.6+1", 1);
    assert_ne!(journal, forged);
    std::fs::write(w.file("journal.jsonl"), forged).unwrap();
    let ran = w.expect(5, &["journal", "verify"]);
    assert!(ran.stderr.contains("journal"), "{}", ran.stderr);
}

#[test]
fn help_completions_and_drills_need_no_configuration() {
    let w = World::new("front", Store::File);
    std::fs::remove_file(w.file("knowngood.toml")).unwrap();
    let help = w.expect(0, &["--help"]).stdout;
    for command in ["status", "plan", "drive", "resolve", "Exit codes"] {
        assert!(help.contains(command), "{command}: {help}");
    }
    let bash = w.expect(0, &["completions", "bash"]).stdout;
    assert!(bash.contains("knowngood"), "{bash}");
    let drill = w.expect(0, &["drill"]).stdout;
    assert!(
        drill.contains("knowngood drill:") && drill.contains("PASS"),
        "{drill}"
    );
    let json = w.expect(0, &["drill", "--json"]).json();
    assert_eq!(json[0]["passed"], true, "{json}");
    let missing = w.expect(2, &["drill", "nowhere.toml"]);
    assert!(
        missing.stderr.contains("nowhere.toml"),
        "{}",
        missing.stderr
    );
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let w = World::new("colour", Store::File);
    w.first_build_shipped();
    // Piped: plain text.
    assert!(!w.expect(0, &["status"]).stdout.contains('\u{1b}'));
    // On a terminal (util-linux `script` gives the command one).
    let on_terminal = |no_color: bool| {
        let mut c = Command::new("script");
        c.current_dir(w.path())
            .args([
                "-qec",
                &format!("{} status", env!("CARGO_BIN_EXE_knowngood")),
                "/dev/null",
            ])
            .env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        c.output()
    };
    match on_terminal(false) {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("\u{1b}["), "colour on a terminal: {text}");
            let plain = on_terminal(true).unwrap();
            assert!(!String::from_utf8_lossy(&plain.stdout).contains("\u{1b}["));
        }
        other => {
            panic!("`script` (util-linux) is needed to give the command a terminal: {other:?}")
        }
    }
}

#[test]
fn drive_waits_for_an_approval_and_says_so_or_exits_3_with_no_wait() {
    let w = World::new("drive-waits", Store::File);
    w.require_approval_in_prod();
    w.expect(0, &["sync"]);
    w.expect(0, &["build"]);
    w.expect(3, &["promote", "payments@1.1.1+1"]);
    w.expect(0, &["approve", "prod", "--as", "bob"]);
    w.expect(0, &["promote", "payments@1.1.1+1"]);
    w.commit("new checkout", "PR-2", Some("bug.txt"));
    w.expect(0, &["sync"]);
    w.expect(0, &["build"]);
    w.expect(3, &["promote", "payments@1.1.2+2"]);
    w.expect(0, &["approve", "prod", "--as", "bob"]);
    w.expect(4, &["promote", "payments@1.1.2+2"]);
    w.expect(
        0,
        &[
            "declare",
            "INC-1",
            "--env",
            "prod",
            "--change",
            "PR-2",
            "--summary",
            "checkout fails",
        ],
    );
    // A rollback needs no approval; the revert that resolves it ships a
    // new release to production, which does.
    w.expect(0, &["choose", "INC-1", "rollback"]);
    w.expect(0, &["drive", "INC-1"]);
    w.expect(0, &["choose", "INC-1", "revert"]);
    // Without waiting: exit 3, saying for whom.
    let waiting = w.expect(3, &["drive", "INC-1", "--no-wait"]);
    assert!(
        waiting.stdout.contains("release-manager"),
        "{}",
        waiting.stdout
    );
    let status = w.expect(0, &["status", "--env", "prod"]).stdout;
    assert!(status.contains("awaiting approval"), "{status}");
    // Waiting: it says so on stderr, and goes on once bob approves.
    let child = w.spawn(&["drive", "INC-1", "--poll-seconds", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    w.expect(0, &["approve", "prod", "--as", "bob"]);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("waiting: "), "{stderr}");
    assert!(stdout.contains("all 4 step(s) done"), "{stdout}");
    w.expect(0, &["resolve", "INC-1"]);
}

#[test]
fn promote_holds_a_release_for_its_bake_time_and_waits_for_it_when_asked() {
    let w = World::new("bake", Store::File);
    w.configure(|t| t.replace("[policy]\n", "[policy]\nbake_seconds = { qa = 2 }\n"));
    w.expect(0, &["sync"]);
    w.expect(0, &["build"]);
    let baking = w
        .expect(3, &["promote", "payments@1.1.1+1", "--json"])
        .json();
    assert_eq!(baking["outcome"], "waiting", "{baking}");
    assert!(
        baking["detail"].as_str().unwrap().contains("--wait"),
        "{baking}"
    );
    let waited = w.expect(0, &["promote", "payments@1.1.1+1", "--wait"]);
    assert!(
        waited.stderr.contains("bakes in `qa` until"),
        "{}",
        waited.stderr
    );
    assert!(waited.stdout.contains("`prod`"), "{}", waited.stdout);
}

#[test]
fn a_keyed_chain_takes_its_key_from_the_environment_and_refuses_another() {
    let w = World::new("keyed", Store::File);
    w.configure(|t| {
        t.replace(
            "chain = \"payments-prod\"",
            "chain = \"payments-prod\"\nkey_env = \"KG_TEST_JOURNAL_KEY\"",
        )
    });
    // Without the key: bad input, saying which variable.
    let unset = w.expect(2, &["status"]);
    assert!(
        unset.stderr.contains("KG_TEST_JOURNAL_KEY"),
        "{}",
        unset.stderr
    );
    let run = |key: &str, args: &[&str]| -> crate::fixture::Ran {
        w.command_with_env(args, "KG_TEST_JOURNAL_KEY", key)
    };
    for args in [&["sync"][..], &["build"], &["promote", "payments@1.1.1+1"]] {
        assert_eq!(run("s3cret", args).code, 0, "{args:?}");
    }
    let verified = run("s3cret", &["journal", "verify", "--json"]);
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    assert_eq!(verified.json()["keyed"], true);
    // Another key: the journal does not verify (exit 5), nothing is read.
    let other = run("not-the-key", &["journal", "verify"]);
    assert_eq!(other.code, 5, "{}\n{}", other.stdout, other.stderr);
}
