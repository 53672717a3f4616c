//! The side-by-side table with ratios and the targets, as plain text and as Markdown.

use std::fmt::Write as _;

/// Columns, in the order they are measured and printed.
pub const COLUMNS: [&str; 4] = ["direct", "haproxy", "haproxy-tls", "agent"];
pub const DIRECT: usize = 0;
/// HAProxy as a plain HTTP proxy: the reference that docker-socket-proxy is.
pub const HAPROXY: usize = 1;
/// HAProxy terminating TLS 1.3 with client certificates from the cluster CA: the agent's fair peer.
pub const HAPROXY_TLS: usize = 2;
pub const AGENT: usize = 3;
/// How many columns a [`Row`] has.
pub const WIDTH: usize = COLUMNS.len();

#[derive(Clone, Copy)]
pub enum Unit {
    Millis,
    Nanos,
    /// CPU time: whole milliseconds, as the kernel counts in 10 ms ticks.
    CpuMillis,
    /// CPU time per 1000 requests, averaged over many thousands: tenths are meaningful.
    CpuMillisPerThousand,
    PerSecond,
    MegabytesPerSecond,
    Megabytes,
    /// A ratio already taken against another column.
    Ratio,
}

impl Unit {
    pub fn format(self, value: f64) -> String {
        match self {
            Unit::Millis => format!("{value:.3}"),
            Unit::Nanos | Unit::PerSecond | Unit::CpuMillis => format!("{value:.0}"),
            Unit::MegabytesPerSecond | Unit::Megabytes | Unit::CpuMillisPerThousand => {
                format!("{value:.1}")
            }
            Unit::Ratio => format!("{value:.2}x"),
        }
    }
}

pub struct Row {
    pub label: String,
    pub unit: Unit,
    pub values: [Option<f64>; WIDTH],
}

impl Row {
    pub fn new(label: impl Into<String>, unit: Unit) -> Self {
        Self {
            label: label.into(),
            unit,
            values: [None; WIDTH],
        }
    }

    pub fn ratio(&self, top: usize, bottom: usize) -> Option<f64> {
        match (self.values[top], self.values[bottom]) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        }
    }
}

const RATIOS: [(&str, usize, usize); 5] = [
    ("agent/direct", AGENT, DIRECT),
    ("agent/haproxy-tls", AGENT, HAPROXY_TLS),
    ("agent/haproxy", AGENT, HAPROXY),
    ("haproxy-tls/haproxy", HAPROXY_TLS, HAPROXY),
    ("haproxy/direct", HAPROXY, DIRECT),
];

const LEGEND: &str = "n/m: not measured or not applicable. Ratios above 1 mean more: \
slower for latency, faster for req/s and MB/s, more memory or CPU.";

pub enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

pub struct Target {
    pub label: &'static str,
    pub measured: Option<f64>,
    pub goal: Goal,
    pub unit: &'static str,
}

impl Target {
    pub fn verdict(&self) -> &'static str {
        match (self.measured, &self.goal) {
            (None, _) => "not measured",
            (Some(v), Goal::AtMost(limit)) if v <= *limit => "met",
            (Some(v), Goal::AtLeast(limit)) if v >= *limit => "met",
            (Some(_), _) => "NOT MET",
        }
    }

    pub fn measured_text(&self) -> String {
        match self.measured {
            // Three places, so that a ratio just under its goal does not print as equal to it.
            Some(v) => format!("{v:.3}{}", self.unit),
            None => "n/m".to_owned(),
        }
    }

    pub fn goal_text(&self) -> String {
        match self.goal {
            Goal::AtMost(v) => format!("<= {v:.2}{}", self.unit),
            Goal::AtLeast(v) => format!(">= {v:.2}{}", self.unit),
        }
    }
}

/// The targets, each with what was measured and its verdict, as plain text.
pub fn targets_text(targets: &[Target]) -> String {
    let mut out = String::from("Targets\n");
    let width = targets.iter().map(|t| t.label.len()).max().unwrap_or(0);
    for t in targets {
        let _ = writeln!(
            out,
            "  {:<width$}  {:>9}  {:>10}  {}",
            t.label,
            t.measured_text(),
            t.goal_text(),
            t.verdict()
        );
    }
    out
}

/// The targets as a Markdown table.
pub fn targets_markdown(targets: &[Target]) -> String {
    let mut out = String::from("| Target | Measured | Goal | Result |\n|---|---:|---:|---|\n");
    for t in targets {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            t.label,
            t.measured_text(),
            t.goal_text(),
            t.verdict()
        );
    }
    out
}

pub struct Report {
    pub context: Vec<String>,
    pub rows: Vec<Row>,
    pub targets: Vec<Target>,
    pub notes: Vec<String>,
}

fn cell(value: Option<f64>, format: impl Fn(f64) -> String) -> String {
    value.map(format).unwrap_or_else(|| "n/m".to_owned())
}

fn ratio_text(value: f64) -> String {
    format!("{value:.2}x")
}

impl Report {
    pub fn text(&self) -> String {
        let mut out = String::new();
        for line in &self.context {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out);
        let width = self
            .rows
            .iter()
            .map(|r| r.label.len())
            .max()
            .unwrap_or(0)
            .max(6);
        let _ = write!(out, "{:<width$}", "");
        for name in COLUMNS {
            let _ = write!(out, " {name:>11}");
        }
        for (name, _, _) in RATIOS {
            let _ = write!(out, " {name:>19}");
        }
        let _ = writeln!(out);
        for row in &self.rows {
            let _ = write!(out, "{:<width$}", row.label);
            for value in row.values {
                let _ = write!(out, " {:>11}", cell(value, |v| row.unit.format(v)));
            }
            for (_, top, bottom) in RATIOS {
                let _ = write!(out, " {:>19}", cell(row.ratio(top, bottom), ratio_text));
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "\n{LEGEND}");

        let _ = writeln!(out);
        out.push_str(&targets_text(&self.targets));
        if !self.notes.is_empty() {
            let _ = writeln!(out);
            for note in &self.notes {
                let _ = writeln!(out, "note: {note}");
            }
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for line in &self.context {
            let _ = writeln!(out, "- {line}");
        }
        let _ = writeln!(out);
        let _ = write!(out, "| |");
        for name in COLUMNS {
            let _ = write!(out, " {name} |");
        }
        for (name, _, _) in RATIOS {
            let _ = write!(out, " {name} |");
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "|---|{}", "---:|".repeat(COLUMNS.len() + RATIOS.len()));
        for row in &self.rows {
            let _ = write!(out, "| {} |", row.label);
            for value in row.values {
                let _ = write!(out, " {} |", cell(value, |v| row.unit.format(v)));
            }
            for (_, top, bottom) in RATIOS {
                let _ = write!(out, " {} |", cell(row.ratio(top, bottom), ratio_text));
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "\n{LEGEND}\n");
        out.push_str(&targets_markdown(&self.targets));
        for note in &self.notes {
            let _ = writeln!(out, "\nNote: {note}");
        }
        out
    }
}
