//! Pictures a host can render: the pipeline as Graphviz DOT, the recovery
//! plan and the incident timeline as Mermaid.

use std::fmt::Write as _;

use crate::model::Pipeline;
use crate::recovery::{RecoveryPlan, human};
use crate::retro::{Retro, breaks_line};

/// The pipeline as a Graphviz DOT digraph: one node per environment
/// (labelled with its role), solid edges for the main lane, dashed red
/// edges for the hotfix lane.
pub fn pipeline_dot(pipeline: &Pipeline) -> String {
    pipeline.to_dot()
}

/// The pipeline as a Mermaid flowchart: one node per environment
/// (labelled with its role), solid arrows for the main lane, dotted arrows
/// labelled `hotfix` for the hotfix lane.
///
/// ```
/// use knowngood::{EnvironmentRole, PipelineSpec};
/// let pipeline = PipelineSpec::new()
///     .environment("qa", EnvironmentRole::Test)
///     .environment("prod", EnvironmentRole::Production)
///     .promote("qa", "prod")
///     .build()
///     .unwrap();
/// let chart = knowngood::picture::pipeline_mermaid(&pipeline);
/// assert!(chart.starts_with("flowchart LR"));
/// assert!(chart.contains("e0 --> e1"), "{chart}");
/// ```
pub fn pipeline_mermaid(pipeline: &Pipeline) -> String {
    let mut out = String::from("flowchart LR\n");
    let ids: Vec<&crate::model::EnvironmentId> = pipeline.environments().map(|e| &e.id).collect();
    let node = |id: &crate::model::EnvironmentId| {
        ids.iter()
            .position(|i| *i == id)
            .map_or_else(|| "unknown".to_owned(), |n| format!("e{n}"))
    };
    for env in pipeline.environments() {
        let _ = writeln!(
            out,
            "  {}[\"{} ({})\"]",
            node(&env.id),
            mermaid_text(env.id.as_str()),
            env.role
        );
    }
    for p in &pipeline.spec().promotions {
        let arrow = match p.lane {
            crate::model::Lane::Main => " --> ",
            crate::model::Lane::Hotfix => " -. hotfix .-> ",
        };
        let _ = writeln!(out, "  {}{arrow}{}", node(&p.from), node(&p.to));
    }
    out
}

/// Text for a quoted Mermaid label or a timeline entry: one line, no quote,
/// backtick, angle bracket, statement separator or `%` of its own (entity
/// codes instead), so user-provided strings cannot add nodes, edges,
/// entries or directives.
pub(crate) fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if breaks_line(c) => out.push(' '),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            // `%%` starts a directive or a comment (`%%{init: …}%%`).
            '%' => out.push_str("#37;"),
            c if c == '`' || c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The recovery plan as a Mermaid flowchart: options in rank order, the
/// best one's steps in sequence, inapplicable options greyed with their
/// reason.
pub fn plan_mermaid(plan: &RecoveryPlan) -> String {
    let mut out = format!(
        "flowchart TD\n  incident[\"{}\"]\n",
        mermaid_text(plan.incident.as_str())
    );
    for (rank, option) in plan.options.iter().enumerate() {
        let id = format!("o{rank}");
        let label = if option.applicable {
            format!(
                "{}. {} ~{}",
                rank.saturating_add(1),
                option.name(),
                human(option.estimate.seconds)
            )
        } else {
            format!("{} — {}", option.name(), option.why_not())
        };
        let _ = writeln!(out, "  {id}[\"{}\"]", mermaid_text(&label));
        let arrow = if option.applicable { "-->" } else { "-.->" };
        let _ = writeln!(out, "  incident {arrow} {id}");
        if !option.applicable {
            let _ = writeln!(out, "  class {id} inapplicable");
        }
    }
    if let Some(best) = plan.best() {
        let mut previous = "o0".to_owned();
        for (i, step) in best.steps.iter().enumerate() {
            let id = format!("s{i}");
            let _ = writeln!(
                out,
                "  {id}[\"{}\"]",
                mermaid_text(&step.action.to_string())
            );
            let _ = writeln!(out, "  {previous} --> {id}");
            previous = id;
        }
    }
    out.push_str("  classDef inapplicable fill:#eee,stroke:#999,color:#666\n");
    out
}

/// The incident timeline as a Mermaid `timeline`.
pub fn timeline_mermaid(retro: &Retro) -> String {
    let mut out = format!(
        "timeline\n  title {} ({})\n",
        mermaid_text(retro.incident.id.as_str()),
        retro.incident.severity
    );
    for entry in &retro.timeline {
        let _ = writeln!(
            out,
            "  {} : {}",
            entry.at.format("%H:%M"),
            mermaid_text(&entry.what).replace(':', " -")
        );
    }
    out
}
