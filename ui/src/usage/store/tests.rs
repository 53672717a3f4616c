//! The usage store against SQLite in memory: buckets checked against the raw samples they
//! come from, retention, where pulls start, block rates, and the points charts read.

use super::*;
use crate::usage::range::{plan, Range};
use crate::usage::sample::{Cpu, Filesystem, Host, Memory, Sample};

const EP: i64 = 1;
/// A minute boundary: 2025-12-02 22:00:00 UTC.
const T0: i64 = 1_764_712_800;

fn container(id: &str, cpu: f64, mem: u64, read: u64) -> Container {
    Container {
        id: id.into(),
        name: format!("/{id}-name"),
        image: "busybox".into(),
        cpu_percent: Some(cpu),
        memory_used: Some(mem),
        memory_limit: Some(1 << 30),
        block_read_bytes: Some(read),
        block_write_bytes: Some(0),
        ..Default::default()
    }
}

/// A sample whose figures vary with `i` in ways that make averages fractional.
fn sample(time: i64, i: i64) -> Sample {
    let f = i as f64;
    let u = i.unsigned_abs();
    Sample {
        time,
        host: Host {
            cpu: Cpu {
                cores: Some(4),
                percent: Some(10.0 + (f * 7.31) % 50.0),
            },
            load: Some([Some(0.1 * f), Some(0.2), None]),
            memory: Memory {
                total: Some(8 << 30),
                used: Some((1 << 30) + (u % 5) * 12_345_678),
                swap_total: Some(0),
                swap_used: Some(0),
            },
            filesystems: vec![Filesystem {
                mount: "/".into(),
                device: "/dev/vda1".into(),
                fstype: "ext4".into(),
                total: Some(100 << 30),
                used: Some((40 << 30) + u * 4096 * 3),
            }],
            disks: vec![],
            network: vec![],
        },
        containers: vec![container("aa11", 1.5 * f.abs(), 1000 * u, 4096 * u)],
    }
}

fn answer(node: &str, samples: Vec<Sample>) -> ClusterAnswer {
    ClusterAnswer {
        nodes: vec![NodeAnswer {
            node: node.into(),
            interval_secs: Some(10),
            samples,
        }],
        missing: vec![],
    }
}

/// Every 10 s from `from` (included) to `to` (excluded).
fn samples(from: i64, to: i64) -> Vec<Sample> {
    (from..to)
        .step_by(10)
        .map(|t| sample(t, (t - T0) / 10))
        .collect()
}

/// Rows of integers (or NULL), as a query gives them.
type Rows = Vec<Vec<Option<i64>>>;

fn rows(store: &UsageStore, sql: &str) -> Rows {
    let conn = store.conn();
    let mut stmt = conn.prepare(sql).expect("query");
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("read")
}

fn count(store: &UsageStore, table: &str) -> i64 {
    rows(store, &format!("SELECT COUNT(*) FROM {table}"))[0][0].expect("a count")
}

/// The buckets a tier should hold for `kind`, worked out here from the raw rows: per
/// series and bucket, the count, and per figure the mean rounded half away from zero and
/// the peak, or the largest capacity.
fn expected(store: &UsageStore, kind: Kind, bucket: i64) -> Rows {
    let names: Vec<&str> = kind.figures().iter().map(|f| f.name).collect();
    let raw = rows(
        store,
        &format!(
            "SELECT series, time, {} FROM {} ORDER BY series, time",
            names.join(", "),
            table(kind, Tier::Raw)
        ),
    );
    // (series, bucket) and the raw rows in it.
    type Group<'a> = ((i64, i64), Vec<&'a [Option<i64>]>);
    let mut groups: Vec<Group<'_>> = Vec::new();
    for row in &raw {
        let key = (
            row[0].expect("series"),
            row[1].expect("time") / bucket * bucket,
        );
        match groups.last_mut() {
            Some((k, members)) if *k == key => members.push(row),
            _ => groups.push((key, vec![row.as_slice()])),
        }
    }
    groups
        .into_iter()
        .map(|((series, time), members)| {
            let mut out = vec![Some(series), Some(time), Some(members.len() as i64)];
            for (i, figure) in kind.figures().iter().enumerate() {
                let values: Vec<i64> = members.iter().filter_map(|r| r[2 + i]).collect();
                let max = values.iter().copied().max();
                match figure.fold {
                    Fold::AvgMax => {
                        let avg = (!values.is_empty()).then(|| {
                            (values.iter().sum::<i64>() as f64 / values.len() as f64).round() as i64
                        });
                        out.push(avg);
                        out.push(max);
                    }
                    Fold::Max => out.push(max),
                }
            }
            out
        })
        .collect()
}

fn stored(store: &UsageStore, kind: Kind, tier: Tier) -> Rows {
    rows(
        store,
        &format!(
            "SELECT series, time, n, {} FROM {} ORDER BY series, time",
            tier_columns(kind).join(", "),
            table(kind, tier)
        ),
    )
}

#[test]
fn minute_buckets_are_the_exact_averages_and_peaks_of_their_samples() {
    let store = UsageStore::in_memory().expect("store");
    // Two and a half minutes, pulled one sample at a time as the puller does, so that
    // each minute is recomputed as its samples arrive.
    for s in samples(T0, T0 + 150) {
        let done = store.ingest(EP, &answer("n1", vec![s])).expect("ingest");
        assert_eq!(done.samples, 1);
    }
    for kind in Kind::ALL {
        let want = expected(&store, kind, 60);
        assert_eq!(want.len(), 3, "{kind:?}: three minutes of one series");
        assert_eq!(stored(&store, kind, Tier::Minute), want, "{kind:?}");
    }
    // The figures of the first minute, by hand, for one figure of each fold: CPU
    // 10, 17.31, 24.62, 31.93, 39.24, 46.55 % in hundredths average 2827.5 → 2828.
    let cpu = stored(&store, Kind::Host, Tier::Minute)[0].clone();
    assert_eq!(&cpu[2..5], &[Some(6), Some(2828), Some(4655)]);
    let total = Kind::Host.position("mem_total").expect("a figure");
    let column = 3 + tier_columns(Kind::Host)
        .iter()
        .position(|c| c == "mem_total")
        .expect("a column");
    assert_eq!(cpu[column], Some(8 << 20), "capacity {total}: the largest");
    // load15 was never sent: no average, no peak.
    let load15 = 3 + tier_columns(Kind::Host)
        .iter()
        .position(|c| c == "load15_avg")
        .expect("a column");
    assert_eq!((cpu[load15], cpu[load15 + 1]), (None, None));
}

#[test]
fn hour_buckets_match_their_samples_and_late_samples_land_in_them() {
    let store = UsageStore::in_memory().expect("store");
    store
        .ingest(EP, &answer("n1", samples(T0, T0 + 1800)))
        .expect("ingest");
    store.roll_up(EP, Tier::Hour, T0, T0 + 1790).expect("roll");
    for kind in Kind::ALL {
        assert_eq!(
            stored(&store, kind, Tier::Hour),
            expected(&store, kind, 3600),
            "{kind:?}"
        );
    }
    // The rest of the hour and the next one arrive later (a console back from a stop).
    store
        .ingest(EP, &answer("n1", samples(T0 + 1800, T0 + 4000)))
        .expect("ingest");
    store
        .roll_up(EP, Tier::Hour, T0 + 1790, T0 + 3990)
        .expect("roll");
    for kind in Kind::ALL {
        let want = expected(&store, kind, 3600);
        assert_eq!(want.len(), 2);
        assert_eq!(want[0][2], Some(360), "a whole hour of samples");
        assert_eq!(stored(&store, kind, Tier::Hour), want, "{kind:?}");
        assert_eq!(
            stored(&store, kind, Tier::Minute),
            expected(&store, kind, 60),
            "{kind:?}"
        );
    }
}

#[test]
fn samples_already_stored_are_not_stored_again() {
    let store = UsageStore::in_memory().expect("store");
    let first = store
        .ingest(EP, &answer("n1", samples(T0, T0 + 60)))
        .expect("ingest");
    assert_eq!(first.samples, 6);
    assert_eq!(first.span, Some((T0, T0 + 50)));
    // The agent answers from its ring again, overlapping what is stored.
    let again = store
        .ingest(EP, &answer("n1", samples(T0 + 30, T0 + 90)))
        .expect("ingest");
    assert_eq!(again.samples, 3);
    assert_eq!(again.span, Some((T0 + 60, T0 + 80)));
    assert_eq!(count(&store, "host_raw"), 9);
    assert_eq!(count(&store, "ct_raw"), 9);
    assert_eq!(count(&store, "fs_raw"), 9);
}

#[test]
fn retention_deletes_each_tier_past_its_age_and_forgotten_series() {
    let store = UsageStore::in_memory().expect("store");
    let keep = Retention {
        raw: 7200,
        minute: 3 * 3600,
        hour: 5 * 3600,
    };
    // Four hours of one node; a second endpoint's node in the last hour only.
    store
        .ingest(EP, &answer("n1", samples(T0, T0 + 4 * 3600)))
        .expect("ingest");
    store
        .roll_up(EP, Tier::Hour, T0, T0 + 4 * 3600)
        .expect("roll");
    store
        .ingest(2, &answer("other", samples(T0 + 3 * 3600, T0 + 4 * 3600)))
        .expect("ingest");
    let now = T0 + 4 * 3600;
    let oldest = |t: &str| rows(&store, &format!("SELECT MIN(time) FROM {t}"))[0][0];
    let pruned = store.prune(now, &keep, &[EP, 2]).expect("prune");
    assert!(pruned.rows > 0);
    assert_eq!(pruned.series, 0);
    for kind in Kind::ALL {
        let t = kind.table();
        assert_eq!(oldest(&format!("{t}_raw")), Some(now - 7200), "{t}");
        assert_eq!(oldest(&format!("{t}_minute")), Some(now - 3 * 3600), "{t}");
        assert_eq!(
            oldest(&format!("{t}_hour")),
            Some(T0),
            "{t}: within five hours"
        );
    }
    // A day on, with nothing new: the hours are past their five hours too, and the
    // series, empty, go; the second endpoint has been deleted from the console.
    let pruned = store.prune(now + 86_400, &keep, &[EP]).expect("prune");
    assert_eq!(
        pruned.series, 6,
        "host, filesystem and container of two nodes"
    );
    for kind in Kind::ALL {
        for tier in Tier::ALL {
            assert_eq!(count(&store, &table(kind, tier)), 0);
        }
    }
    assert_eq!(count(&store, "series"), 0);
}

#[test]
fn pulls_start_at_the_slowest_node_still_reporting() {
    let store = UsageStore::in_memory().expect("store");
    assert_eq!(store.since(EP, 120).expect("since"), None);
    let mut both = answer("fast", samples(T0, T0 + 100));
    both.nodes.push(NodeAnswer {
        // Its clock is 30 s behind.
        node: "behind".into(),
        interval_secs: Some(10),
        samples: samples(T0 - 30, T0 + 70),
    });
    both.nodes.push(NodeAnswer {
        // Not heard of for ten minutes.
        node: "gone".into(),
        interval_secs: Some(10),
        samples: samples(T0 - 700, T0 - 600),
    });
    store.ingest(EP, &both).expect("ingest");
    assert_eq!(store.since(EP, 120).expect("since"), Some(T0 + 60));
    assert_eq!(store.since(2, 120).expect("since"), None);
}

#[test]
fn block_rates_come_from_the_counters_across_pulls_and_not_across_a_restart() {
    let store = UsageStore::in_memory().expect("store");
    let at = |time: i64, read: u64| {
        let mut s = sample(time, 0);
        s.containers = vec![container("bb22", 0.0, 0, read)];
        s
    };
    store
        .ingest(EP, &answer("n1", vec![at(T0, 1000)]))
        .expect("ingest");
    store
        .ingest(
            EP,
            &answer("n1", vec![at(T0 + 10, 6000), at(T0 + 20, 6000)]),
        )
        .expect("ingest");
    // The container restarted: its counter began again.
    store
        .ingest(EP, &answer("n1", vec![at(T0 + 30, 100)]))
        .expect("ingest");
    let read = rows(&store, "SELECT time, blk_read FROM ct_raw ORDER BY time");
    assert_eq!(
        read,
        [
            vec![Some(T0), None],
            vec![Some(T0 + 10), Some(500)],
            vec![Some(T0 + 20), Some(0)],
            vec![Some(T0 + 30), None],
        ]
    );
}

#[test]
fn points_are_raw_for_an_hour_bucketed_for_a_day_and_broken_at_gaps() {
    let store = UsageStore::in_memory().expect("store");
    // Ten minutes, a four-minute outage, five minutes more.
    store
        .ingest(EP, &answer("n1", samples(T0, T0 + 600)))
        .expect("ingest");
    store
        .ingest(EP, &answer("n1", samples(T0 + 840, T0 + 1140)))
        .expect("ingest");
    let now = T0 + 1140;
    let host = store.series(EP, Kind::Host, Some("n1")).expect("series")[0].clone();
    assert_eq!(host.interval(), Some(10));

    let hour = plan(Range::Hour, now, 10, &Retention::default());
    let p = store.points(Kind::Host, host.id, &hour).expect("points");
    assert_eq!(p.times.len(), 60 + 30 + 1, "every sample and one gap");
    let gap = p
        .times
        .iter()
        .position(|t| *t == T0 + 600)
        .expect("a gap point");
    assert_eq!(p.times[gap - 1], T0 + 590);
    assert_eq!(p.times[gap + 1], T0 + 840);
    let cpu = &p.lines[0];
    assert_eq!(cpu.value[gap], None);
    assert_eq!(cpu.peak, None, "single samples have no peak");
    assert_eq!(cpu.value[0], Some(10.0));
    assert_eq!(cpu.value[1], Some(17.31));

    let day = plan(Range::Day, now, 10, &Retention::default());
    let p = store.points(Kind::Host, host.id, &day).expect("points");
    // Two-minute buckets: five before the outage, a gap, and three after (the one the
    // outage ends in included).
    assert_eq!(
        p.times[..6],
        [T0, T0 + 120, T0 + 240, T0 + 360, T0 + 480, T0 + 600]
    );
    let cpu = &p.lines[0];
    assert_eq!(cpu.value[5], None);
    let first: Vec<f64> = (0..12).map(|i| 10.0 + (i as f64 * 7.31) % 50.0).collect();
    let mean = first.iter().map(|v| (v * 100.0).round()).sum::<f64>() / 12.0 / 100.0;
    assert_eq!(cpu.value[0], Some((mean * 100.0).round() / 100.0));
    let peak = first.iter().copied().fold(0.0, f64::max);
    assert_eq!(
        cpu.peak.as_ref().expect("peaks")[0],
        Some((peak * 100.0).round() / 100.0)
    );
    let mem = &p.lines[Kind::Host.position("mem_used").expect("figure")];
    assert!(mem.value[0].is_some_and(|v| v > (1u64 << 30) as f64));

    let week = plan(Range::Week, now, 10, &Retention::default());
    let p = store.points(Kind::Host, host.id, &week).expect("points");
    assert_eq!(p.times, [T0 - T0 % 900, T0 - T0 % 900 + 900]);
    let json = p.to_json();
    assert!(json["cpu"]["value"][0].is_number());
    assert!(json["mem_total"]["peak"].is_null());
}

#[test]
fn newest_figures_are_the_nodes_and_containers_of_the_last_sample() {
    let store = UsageStore::in_memory().expect("store");
    let mut first = sample(T0, 1);
    first.containers.push(container("cc33", 50.0, 7, 0));
    let second = sample(T0 + 10, 2);
    store
        .ingest(EP, &answer("n1", vec![first, second]))
        .expect("ingest");
    let nodes = store.nodes_now(EP, T0).expect("nodes");
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].host.last_time, T0 + 10);
    assert_eq!(nodes[0].filesystems.len(), 1);
    assert_eq!(nodes[0].host.info["cores"], 4);
    let now = store.containers_now(EP, T0).expect("containers");
    let ids: Vec<&str> = now.iter().map(|c| c.series.key.as_str()).collect();
    assert_eq!(ids, ["aa11"], "cc33 is not in the newest sample");
    assert_eq!(now[0].series.name, "aa11-name");
    assert_eq!(now[0].figures[0], Some(3.0));
    assert!(
        store.nodes_now(EP, T0 + 11).expect("nodes").is_empty(),
        "stale"
    );
    assert_eq!(store.container(EP, "cc3").expect("by prefix").key, "cc33");
    assert!(matches!(
        store.container(EP, "zz"),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.container(EP, "%"),
        Err(StoreError::NotFound(_))
    ));
}

/// What a day costs on disk: printed, and held under a bound so that a schema change that
/// bloats rows shows here.
#[test]
fn a_day_of_a_node_and_of_a_container_is_compact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let size = |name: &str, containers: usize| {
        let path = dir.path().join(name);
        let store = UsageStore::open(&path).expect("store");
        for hour in 0..24 {
            let from = T0 + hour * 3600;
            let mut batch = samples(from, from + 3600);
            for s in &mut batch {
                let i = (s.time - T0) / 10;
                s.containers = (0..containers)
                    .map(|c| {
                        container(
                            &format!("{c:064x}"),
                            (i % 97) as f64 * 0.37,
                            (200 << 20) + (i as u64 % 13) * 4096,
                            (i as u64) * 8192,
                        )
                    })
                    .collect();
            }
            store.ingest(EP, &answer("n1", batch)).expect("ingest");
            store
                .roll_up(EP, Tier::Hour, from, from + 3590)
                .expect("roll");
        }
        let conn = store.conn();
        conn.execute_batch("VACUUM").expect("vacuum");
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .expect("pages");
        let page: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .expect("page size");
        pages * page
    };
    let node = size("node.db", 0);
    let with_ten = size("ten.db", 10);
    let per_container = (with_ten - node) / 10;
    println!(
        "a node-day (host, one filesystem, every tier): {node} bytes; a container-day: {per_container} bytes"
    );
    assert!(node < 1_000_000, "a node-day takes {node} bytes");
    assert!(
        per_container < 600_000,
        "a container-day takes {per_container} bytes"
    );
}
