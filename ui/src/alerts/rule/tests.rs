//! Which subjects a scope takes, and which rules the API refuses.

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn scope_matching() {
    let web = labels(&[("app", "web"), ("tier", "front")]);
    let db = labels(&[("app", "db")]);
    let on = |endpoint, node, labels| Subject {
        endpoint,
        node,
        labels,
    };
    let cases: Vec<(Scope, Subject, bool)> = vec![
        (Scope::default(), on(1, None, None), true),
        (
            Scope {
                endpoint: Some(1),
                ..Default::default()
            },
            on(1, Some("n1"), None),
            true,
        ),
        (
            Scope {
                endpoint: Some(2),
                ..Default::default()
            },
            on(1, Some("n1"), None),
            false,
        ),
        (
            Scope {
                node: Some("n1".into()),
                ..Default::default()
            },
            on(1, Some("n1"), None),
            true,
        ),
        (
            Scope {
                node: Some("n1".into()),
                ..Default::default()
            },
            on(1, Some("n2"), None),
            false,
        ),
        (
            Scope {
                node: Some("n1".into()),
                ..Default::default()
            },
            on(1, None, None),
            false,
        ),
        (
            Scope {
                labels: Some("app=web".into()),
                ..Default::default()
            },
            on(1, None, Some(&web)),
            true,
        ),
        (
            Scope {
                labels: Some("app = web".into()),
                ..Default::default()
            },
            on(1, None, Some(&web)),
            true,
        ),
        (
            Scope {
                labels: Some("app=web".into()),
                ..Default::default()
            },
            on(1, None, Some(&db)),
            false,
        ),
        (
            Scope {
                labels: Some("app=web".into()),
                ..Default::default()
            },
            on(1, None, None),
            false,
        ),
        (
            Scope {
                labels: Some("app".into()),
                ..Default::default()
            },
            on(1, None, Some(&web)),
            false,
        ),
        (
            Scope {
                endpoint: Some(1),
                node: Some("n1".into()),
                labels: Some("tier=front".into()),
            },
            on(1, Some("n1"), Some(&web)),
            true,
        ),
    ];
    for (i, (scope, subject, takes)) in cases.iter().enumerate() {
        assert_eq!(scope.takes(subject), *takes, "case {i}: {scope:?}");
    }
}

#[test]
fn input_is_checked() {
    let ok = RuleInput {
        name: Some("disk".into()),
        kind: Some("host_disk".into()),
        threshold: Some(Some(90.0)),
        for_secs: Some(300),
        ..Default::default()
    };
    let rule = ok.clone().apply(Rule::blank()).expect("a good rule");
    assert_eq!((rule.kind, rule.threshold), (Kind::HostDisk, Some(90.0)));
    let bad = [
        RuleInput {
            kind: Some("check_failing".into()),
            ..ok.clone()
        },
        RuleInput {
            threshold: Some(None),
            ..ok.clone()
        },
        RuleInput {
            for_secs: Some(-1),
            ..ok.clone()
        },
        RuleInput {
            name: Some(" ".into()),
            ..ok.clone()
        },
        RuleInput {
            severity: Some("loud".into()),
            ..ok.clone()
        },
        RuleInput {
            kind: Some("container_exited".into()),
            ..ok.clone()
        },
        RuleInput {
            kind: Some("container_restarting".into()),
            threshold: Some(Some(3.0)),
            ..ok.clone()
        },
        RuleInput {
            scope: Some(Scope {
                labels: Some("=x".into()),
                ..Default::default()
            }),
            ..ok
        },
    ];
    for input in bad {
        assert!(input.clone().apply(Rule::blank()).is_err(), "{input:?}");
    }
}

#[test]
fn a_check_rule_takes_no_threshold_and_reads_its_source() {
    let input = RuleInput {
        name: Some("web checks".into()),
        kind: Some("check_state".into()),
        severity: Some("critical".into()),
        scope: Some(Scope {
            labels: Some("check=web".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let rule = input.clone().apply(Rule::blank()).expect("a good rule");
    assert_eq!(
        (rule.kind, rule.severity, rule.kind.source()),
        (Kind::CheckState, Severity::Critical, Source::Checks)
    );
    assert_eq!(Kind::parse("check_state"), Some(Kind::CheckState));
    let with_threshold = RuleInput {
        threshold: Some(Some(1.0)),
        ..input
    };
    let e = with_threshold.apply(Rule::blank()).unwrap_err();
    assert!(e.starts_with("threshold"), "{e}");
}
