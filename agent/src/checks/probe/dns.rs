//! The `dns` kind: one look-up of a name's records of one type, through the node's
//! resolver or a given one, never cached; optionally an answer that must be among them.

use std::net::SocketAddr;

use bosun_serve::checks::DnsProbe;
use hickory_resolver::proto::rr::{RData, RecordType};

use super::Outcome;

pub(super) async fn run(p: &DnsProbe) -> Outcome {
    let record: RecordType = match p.record.parse() {
        Ok(r) => r,
        Err(_) => return Outcome::unknown(format!("record {:?} is not a record type", p.record)),
    };
    let made;
    let resolver = match &p.server {
        Some(server) => {
            let Ok(addr) = server.parse::<SocketAddr>() else {
                return Outcome::unknown(format!("server {server:?}: not an IP:PORT"));
            };
            made = match crate::resolve::resolver(Some(addr)) {
                Ok(r) => r,
                Err(e) => return Outcome::unknown(e.to_string()),
            };
            &made
        }
        None => match crate::resolve::system_resolver() {
            Ok(r) => r,
            Err(e) => return Outcome::unknown(e.to_string()),
        },
    };
    let via = p
        .server
        .as_deref()
        .map_or_else(|| "the node's resolver".to_owned(), |s| s.to_owned());
    let fqdn = if p.name.ends_with('.') {
        p.name.clone()
    } else {
        format!("{}.", p.name)
    };
    let lookup = match resolver.lookup(fqdn.as_str(), record).await {
        Ok(l) => l,
        Err(e) if e.is_nx_domain() => {
            return Outcome::critical(format!("{} {record}: NXDOMAIN from {via}", p.name))
        }
        Err(e) if e.is_no_records_found() => {
            return Outcome::critical(format!("{} has no {record} record ({via})", p.name))
        }
        Err(e) => return Outcome::critical(format!("{} {record}: {via}: {e}", p.name)),
    };
    let answers: Vec<String> = lookup
        .answers()
        .iter()
        .filter(|r| r.record_type() == record)
        .map(|r| text(&r.data))
        .collect();
    if answers.is_empty() {
        return Outcome::critical(format!("{} has no {record} record ({via})", p.name));
    }
    let listed = answers.join(", ");
    match &p.expect {
        Some(want) if !answers.iter().any(|a| same(a, want)) => Outcome::critical(format!(
            "{} {record}: {listed}; {want:?} is not among them",
            p.name
        )),
        _ => Outcome::ok(format!("{} {record}: {listed}", p.name)),
    }
}

/// An answer as text: an address, a name, `PREFERENCE EXCHANGE`, `PRIORITY WEIGHT PORT
/// TARGET`, or the joined strings of a TXT record.
fn text(data: &RData) -> String {
    match data {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
        other => other.to_string(),
    }
}

/// Whether an answer is the expected one: names compare without case and a final dot.
fn same(answer: &str, want: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    norm(answer) == norm(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_case_or_final_dot() {
        assert!(same("Mail.Example.com.", "mail.example.com"));
        assert!(same("10.0.0.1", "10.0.0.1"));
        assert!(!same("10.0.0.1", "10.0.0.2"));
    }
}
