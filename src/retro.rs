//! The blameless retro, generated from the journal: the timeline, the
//! options considered and the one chosen with its reasons, the metrics,
//! and the follow-ups still open.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::journal::{Journal, ReplayError};
use crate::machine::{EventKind, IncidentRecord};
use crate::model::IncidentId;
use crate::recovery::{FollowUpKind, human};

/// One moment of the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TimelineEntry {
    /// The journal position.
    pub position: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// What happened, in words.
    pub what: String,
}

/// Why a retro could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetroError {
    /// The journal does not replay.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The journal holds no such incident.
    #[error("the journal holds no incident `{0}`")]
    UnknownIncident(IncidentId),
}

/// The retro record of one incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Retro {
    /// The incident as the journal tells it.
    pub incident: IncidentRecord,
    /// What happened in its environment from declaration to retro.
    pub timeline: Vec<TimelineEntry>,
    /// Seconds from when the impact began (as declared) to detection.
    pub time_to_detect: Option<i64>,
    /// Seconds from detection to a restored known-good state.
    pub time_to_mitigate: Option<i64>,
    /// Seconds from detection to the permanent fix.
    pub time_to_resolve: Option<i64>,
    /// Obligations still open.
    pub open_follow_ups: Vec<FollowUpKind>,
}

impl Retro {
    /// Writes the retro of `incident` from `journal`.
    pub fn from_journal(journal: &Journal, incident: &IncidentId) -> Result<Retro, RetroError> {
        let state = journal.replay()?;
        let record = state
            .incident(incident)
            .ok_or_else(|| RetroError::UnknownIncident(incident.clone()))?
            .clone();
        let env = record.environment.as_str();
        let streams = [
            format!("incident/{incident}"),
            format!("gate/{env}"),
            format!("flags/{env}"),
            "freezes".to_owned(),
        ];
        let deployments = format!("deployments/{env}/");
        let mut timeline = Vec::new();
        let mut started = false;
        for entry in journal.entries() {
            let kind = &entry.event.kind;
            if let EventKind::IncidentDeclared { incident: id, .. } = kind
                && id == incident
            {
                started = true;
            }
            if !started {
                continue;
            }
            let stream = entry.stream.as_str();
            let relevant = streams.iter().any(|s| s == stream)
                || stream.starts_with(&deployments)
                || matches!(
                    kind,
                    EventKind::ChangePoisoned { .. } | EventKind::FixDeclared { .. }
                );
            if relevant {
                timeline.push(TimelineEntry {
                    position: entry.position,
                    at: entry.event.at,
                    what: kind.to_string(),
                });
            }
            if let EventKind::RetroRecorded { incident: id, .. } = kind
                && id == incident
            {
                break;
            }
        }
        Ok(Retro {
            time_to_detect: record.impact_began.map(|began| {
                record
                    .detected_at
                    .signed_duration_since(began)
                    .num_seconds()
            }),
            time_to_mitigate: record.time_to_mitigate().map(|d| d.num_seconds()),
            time_to_resolve: record.time_to_resolve().map(|d| d.num_seconds()),
            open_follow_ups: record.open_follow_ups().map(|f| f.kind.clone()).collect(),
            incident: record,
            timeline,
        })
    }

    /// The retro as Markdown. Every string that came from outside (ids,
    /// the summary, reasons, explanations) is escaped: it stays on its line
    /// and inside its table cell, and cannot add headings, rows, links or
    /// raw HTML.
    pub fn to_markdown(&self) -> String {
        let i = &self.incident;
        let mut md = format!(
            "# Retro: {} ({}) in `{}`\n\nSummary: {} — suspected: {}.\n\n## Timeline\n\n",
            md_text(i.id.as_str()),
            i.severity,
            md_code(i.environment.as_str()),
            md_text(&i.summary),
            md_text(&i.cause.to_string())
        );
        for e in &self.timeline {
            let _ = writeln!(
                md,
                "- {} {}",
                e.at.format("%Y-%m-%d %H:%M"),
                md_text(&e.what)
            );
        }
        md.push_str("\n## Options considered\n\n| strategy | applicable | estimate | why not |\n|---|---|---|---|\n");
        for o in &i.considered {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                o.runbook
                    .as_ref()
                    .map_or_else(|| o.strategy.to_string(), |r| format!("runbook `{r}`")),
                if o.applicable { "yes" } else { "no" },
                human(o.estimate_seconds),
                md_text(&o.why_not)
            );
        }
        if let (Some(strategy), Some(why)) = (i.strategy, &i.explanation) {
            let _ = write!(md, "\nChosen: **{strategy}**. {}\n", md_text(why));
        }
        md.push_str("\n## Metrics\n\n");
        let metric = |s: Option<i64>| {
            s.map_or_else(
                || "not yet".to_owned(),
                |s| human(u64::try_from(s).unwrap_or(0)),
            )
        };
        if self.time_to_detect.is_some() {
            let _ = writeln!(md, "- time to detect: {}", metric(self.time_to_detect));
        }
        let _ = writeln!(md, "- time to mitigate: {}", metric(self.time_to_mitigate));
        let _ = writeln!(md, "- time to resolve: {}", metric(self.time_to_resolve));
        md.push_str("\n## Open follow-ups\n\n");
        if self.open_follow_ups.is_empty() {
            md.push_str("none\n");
        }
        for f in &self.open_follow_ups {
            let _ = writeln!(md, "- {}", md_text(&f.to_string()));
        }
        md
    }
}

/// Text for Markdown: one line; Markdown's punctuation escaped; HTML's
/// special characters as entities; nothing a renderer turns into a link by
/// itself (the `:` of `https://`, the `.` of `www.`, the `@` of an
/// address are escaped).
fn md_text(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let before = |n: usize| i.checked_sub(n).and_then(|j| chars.get(j)).copied();
        let after = |n: usize| i.checked_add(n).and_then(|j| chars.get(j)).copied();
        let links = match c {
            ':' => after(1) == Some('/') && after(2) == Some('/'),
            '.' => (1..=3).all(|n| before(n).is_some_and(|p| p.eq_ignore_ascii_case(&'w'))),
            '@' => after(1).is_some_and(char::is_alphanumeric),
            _ => false,
        };
        match c {
            _ if links => {
                out.push('\\');
                out.push(c);
            }
            c if breaks_line(c) => out.push(' '),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Text inside a Markdown code span: one line, no backtick.
pub(crate) fn md_code(text: &str) -> String {
    text.chars()
        .map(|c| if breaks_line(c) || c == '`' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect()
}

/// Characters that end a line in some renderer.
pub(crate) fn breaks_line(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}
