//! The rules a console starts with, made once on an empty table.

use super::rule::{Kind, Rule, Scope};
use crate::watch::Severity;

fn rule(name: &str, kind: Kind, severity: Severity, for_secs: i64, threshold: Option<f64>) -> Rule {
    Rule {
        id: 0,
        name: name.to_owned(),
        kind,
        severity,
        scope: Scope::default(),
        for_secs,
        threshold,
        window: None,
        enabled: true,
    }
}

/// The rule a console made before checks existed gets once, beside the rules it has.
pub fn check_rule() -> Rule {
    rule("Check not ok", Kind::CheckState, Severity::Warning, 0, None)
}

/// Node down, container exits, restart loops, health, OOM, disk, memory, CPU, container
/// memory, updates and checks, with the severities and durations an operator expects.
pub fn default_rules() -> Vec<Rule> {
    use Severity::*;
    vec![
        rule("Node down", Kind::NodeDown, Critical, 60, None),
        rule("Container exited", Kind::ContainerExited, Warning, 0, None),
        Rule {
            window: Some(600),
            ..rule(
                "Container restart loop",
                Kind::ContainerRestarting,
                Warning,
                0,
                Some(3.0),
            )
        },
        rule(
            "Container unhealthy",
            Kind::ContainerUnhealthy,
            Warning,
            0,
            None,
        ),
        rule(
            "Container out of memory",
            Kind::ContainerOom,
            Critical,
            0,
            None,
        ),
        rule("Disk over 90 %", Kind::HostDisk, Warning, 300, Some(90.0)),
        rule(
            "Memory over 90 %",
            Kind::HostMemory,
            Warning,
            300,
            Some(90.0),
        ),
        rule("CPU over 90 %", Kind::HostCpu, Info, 600, Some(90.0)),
        rule(
            "Container memory near its limit",
            Kind::ContainerMemory,
            Warning,
            300,
            Some(95.0),
        ),
        rule("Update available", Kind::UpdateAvailable, Info, 0, None),
        check_rule(),
    ]
}
