//! Which stored tier a chart's range reads, and in what steps: at most [`MAX_POINTS`]
//! points, so that a year draws as quickly as an hour.

use super::series::Retention;
use super::series::Tier;

/// About as many points as a chart can show one per pixel column.
pub const MAX_POINTS: i64 = 1000;

/// Steps a range is cut into when it would have more points than [`MAX_POINTS`]: round
/// figures, so that buckets start on the minute, the hour or the half day.
const STEPS: &[i64] = &[
    10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 10_800, 21_600, 43_200,
    86_400,
];

/// The ranges a chart offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Range {
    pub const NAMES: &'static str = "1h, 24h, 7d, 30d or 1y";

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "1h" => Range::Hour,
            "24h" => Range::Day,
            "7d" => Range::Week,
            "30d" => Range::Month,
            "1y" => Range::Year,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Range::Hour => "1h",
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
            Range::Year => "1y",
        }
    }

    pub fn secs(self) -> i64 {
        match self {
            Range::Hour => 3600,
            Range::Day => 86_400,
            Range::Week => 7 * 86_400,
            Range::Month => 30 * 86_400,
            Range::Year => 365 * 86_400,
        }
    }

    /// The tier a range reads when the retention allows: samples for a day, minutes for
    /// a month, hours for a year.
    pub fn tier(self) -> Tier {
        match self {
            Range::Hour | Range::Day => Tier::Raw,
            Range::Week | Range::Month => Tier::Minute,
            Range::Year => Tier::Hour,
        }
    }
}

/// The finest tier from `range`'s own that keeps the whole range: with minutes kept 14
/// days, a 30-day chart reads hours rather than show half a month.
fn tier_for(range: Range, keep: &Retention) -> Tier {
    let wanted = range.tier();
    Tier::ALL
        .into_iter()
        .skip_while(|t| *t != wanted)
        .find(|t| keep.of(*t) >= range.secs())
        .unwrap_or(Tier::Hour)
}

/// How one chart's points are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub tier: Tier,
    /// Inclusive bounds, Unix seconds.
    pub from: i64,
    pub to: i64,
    /// Rows grouped into buckets of this many seconds; `None`: every row as stored.
    pub bucket: Option<i64>,
    /// Seconds between two points when nothing is missing: more than twice that between
    /// two points is a gap.
    pub spacing: i64,
}

/// The round step that cuts `span` seconds into at most [`MAX_POINTS`] points, and no
/// finer than `resolution`: points closer than the data's own spacing would only repeat.
pub fn step(span: i64, resolution: i64) -> i64 {
    let wanted = (span + MAX_POINTS - 1) / MAX_POINTS;
    STEPS
        .iter()
        .copied()
        .find(|s| *s >= wanted && *s >= resolution)
        .unwrap_or(*STEPS.last().unwrap_or(&86_400))
}

/// The plan for `range` up to `now`, for series sampled every `interval` seconds and kept
/// as `keep` says.
pub fn plan(range: Range, now: i64, interval: i64, keep: &Retention) -> Plan {
    let tier = tier_for(range, keep);
    let span = range.secs();
    let resolution = match tier {
        Tier::Raw => interval.max(1),
        other => other.bucket(),
    };
    let from = now - span;
    if span / resolution <= MAX_POINTS {
        return Plan {
            tier,
            from,
            to: now,
            bucket: None,
            spacing: resolution,
        };
    }
    let step = step(span, resolution);
    Plan {
        tier,
        // Whole buckets, so that the first point is not an average of a sliver.
        from: from - from.rem_euclid(step),
        to: now,
        bucket: Some(step),
        spacing: step,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_range_reads_its_tier_in_at_most_a_thousand_points() {
        let now = 1_764_712_345;
        let keep = Retention {
            minute: 30 * 86_400,
            ..Retention::default()
        };
        for (range, tier, bucket) in [
            (Range::Hour, Tier::Raw, None),
            (Range::Day, Tier::Raw, Some(120)),
            (Range::Week, Tier::Minute, Some(900)),
            (Range::Month, Tier::Minute, Some(3600)),
            (Range::Year, Tier::Hour, Some(43_200)),
        ] {
            let p = plan(range, now, 10, &keep);
            assert_eq!((p.tier, p.bucket), (tier, bucket), "{range:?}");
            let points = (p.to - p.from) / p.spacing;
            assert!(points <= MAX_POINTS + 1, "{range:?}: {points} points");
            assert_eq!(p.to, now);
            if let Some(step) = p.bucket {
                assert_eq!(p.from % step, 0, "{range:?} starts on a bucket");
                assert!(p.from <= now - range.secs());
            }
        }
        // A slow agent's hour needs no buckets; a fast one's does.
        assert_eq!(plan(Range::Hour, now, 60, &keep).spacing, 60);
        assert_eq!(plan(Range::Hour, now, 1, &keep).bucket, Some(10));
        assert_eq!(Range::parse("7d"), Some(Range::Week));
        assert_eq!(Range::parse("2h"), None);
        for r in [
            Range::Hour,
            Range::Day,
            Range::Week,
            Range::Month,
            Range::Year,
        ] {
            assert_eq!(Range::parse(r.name()), Some(r));
        }
    }

    #[test]
    fn a_range_longer_than_its_tier_is_kept_reads_the_next() {
        let now = 1_764_712_345;
        let default = Retention::default();
        let month = plan(Range::Month, now, 10, &default);
        assert_eq!(
            (month.tier, month.bucket, month.spacing),
            (Tier::Hour, None, 3600),
            "720 hours: every row"
        );
        assert_eq!(plan(Range::Week, now, 10, &default).tier, Tier::Minute);
        let short = Retention {
            raw: 7200,
            ..default
        };
        assert_eq!(plan(Range::Hour, now, 10, &short).tier, Tier::Raw);
        assert_eq!(plan(Range::Day, now, 10, &short).tier, Tier::Minute);
        let tiny = Retention {
            raw: 7200,
            minute: 3600,
            hour: 3600,
        };
        assert_eq!(plan(Range::Year, now, 10, &tiny).tier, Tier::Hour);
    }
}
