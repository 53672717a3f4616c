//! Network interfaces from `/proc/net/dev`: bytes, packets and errors. Containers' veth
//! ends and the loopback are left out unless asked for.

use std::path::Path;
use std::time::Duration;

use procfs::net::InterfaceDeviceStatus;
use procfs::FromRead;

use crate::usage::sample::{rate, Interface};

pub struct Counters(Interface);

pub fn read(path: &Path, all: bool) -> procfs::ProcResult<Vec<Counters>> {
    let status = InterfaceDeviceStatus::from_file(path)?;
    let mut out: Vec<Counters> = status
        .0
        .into_values()
        .filter(|d| all || (d.name != "lo" && !d.name.starts_with("veth")))
        .map(|d| {
            Counters(Interface {
                rx_bytes: d.recv_bytes,
                tx_bytes: d.sent_bytes,
                rx_packets: d.recv_packets,
                tx_packets: d.sent_packets,
                rx_errors: d.recv_errs,
                tx_errors: d.sent_errs,
                interface: d.name,
                ..Interface::default()
            })
        })
        .collect();
    out.sort_by(|a, b| a.0.interface.cmp(&b.0.interface));
    Ok(out)
}

pub fn usage(before: Option<(Duration, &[Counters])>, now: &[Counters]) -> Vec<Interface> {
    now.iter()
        .map(|Counters(c)| {
            let mut i = c.clone();
            if let Some((elapsed, counters)) = before {
                if let Some(Counters(b)) = counters.iter().find(|b| b.0.interface == c.interface) {
                    let secs = elapsed.as_secs_f64();
                    i.rx_bytes_per_sec = rate(b.rx_bytes, c.rx_bytes, secs);
                    i.tx_bytes_per_sec = rate(b.tx_bytes, c.tx_bytes, secs);
                }
            }
            i
        })
        .collect()
}
