//! How the command speaks: plain text for people (colour only on a
//! terminal, never with `NO_COLOR`), JSON for scripts.

use std::io::IsTerminal as _;

use serde::Serialize;

use crate::fail::{Exit, Failure};

/// The output's settings.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// JSON on stdout instead of text.
    pub json: bool,
    /// ANSI colour in the text.
    pub colour: bool,
    /// No progress on stderr.
    pub quiet: bool,
}

impl Out {
    /// The settings for this process: colour when stdout is a terminal,
    /// `NO_COLOR` is unset or empty, and the output is not JSON.
    pub fn new(json: bool, quiet: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            json,
            colour: !json && !no_color && std::io::stdout().is_terminal(),
            quiet,
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Bold.
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    /// Good news.
    pub fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Bad news.
    pub fn red(self, text: &str) -> String {
        self.paint("31", text)
    }

    /// Needs attention.
    pub fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Less important.
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Prints `value` as JSON (with `--json`) or `text` otherwise.
    pub fn emit<T: Serialize>(
        self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> Result<(), Failure> {
        if self.json {
            let json = serde_json::to_string_pretty(value).map_err(|e| {
                Failure::new(
                    Exit::Failed,
                    format!("the answer cannot be written as JSON: {e}"),
                )
            })?;
            println!("{json}");
        } else {
            let text = text();
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
        }
        Ok(())
    }
}

/// Rows of cells as a table padded to each column's widest cell (the last
/// column is not padded).
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[c].saturating_sub(cell.chars().count()) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A time for people: `2026-12-06 09:12:03 UTC`.
pub fn when(at: knowngood::chrono::DateTime<knowngood::chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}
