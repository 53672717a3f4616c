//! The `tcp` kind on an open and a closed loopback port, and the `dns` kind against a
//! small responder in the test (no outside network): answers, an expected answer missing,
//! a name with no record of the type, NXDOMAIN.

use std::net::Ipv4Addr;

use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn tcp_open_and_closed_port() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let open = listener.local_addr().expect("address").port();
    let cx = context();

    let outcome = run_once(
        &check(
            "open",
            3,
            json!({"kind": "tcp", "host": "127.0.0.1", "port": open}),
        ),
        &cx,
        1,
    )
    .await;
    assert_status(&outcome, Status::Ok);
    assert!(
        outcome.output.starts_with("connected to 127.0.0.1"),
        "{}",
        outcome.output
    );

    let closed = free_port("127.0.0.1");
    let outcome = run_once(
        &check(
            "closed",
            3,
            json!({"kind": "tcp", "host": "localhost", "port": closed}),
        ),
        &cx,
        1,
    )
    .await;
    assert_status(&outcome, Status::Critical);
    assert!(
        outcome.output.contains("refused"),
        "the reason is given: {}",
        outcome.output
    );
    drop(listener);
}

/// A DNS responder on loopback UDP: `svc.bosun.test.` has two A records and a TXT
/// record, `bare.bosun.test.` exists without records, anything else is NXDOMAIN.
struct Responder {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Responder {
    async fn start() -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind DNS");
        let addr = socket.local_addr().expect("DNS address");
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                if let Some(reply) = reply(&buf[..len]) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        Self { addr, task }
    }
}

/// The answer to one query (its first question), EDNS ignored.
fn reply(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question = &query[12..at + 4];
    let name = labels.join(".");
    let mut answers: Vec<(u16, Vec<u8>)> = Vec::new();
    let known = match name.as_str() {
        "svc.bosun.test" => {
            if qtype == 1 {
                for ip in [Ipv4Addr::new(10, 1, 2, 3), Ipv4Addr::new(10, 1, 2, 4)] {
                    answers.push((1, ip.octets().to_vec()));
                }
            }
            if qtype == 16 {
                let text = b"v=bosun1";
                let mut rdata = vec![text.len() as u8];
                rdata.extend_from_slice(text);
                answers.push((16, rdata));
            }
            true
        }
        "bare.bosun.test" => true,
        _ => false,
    };
    let mut out = Vec::new();
    out.extend_from_slice(&query[0..2]);
    out.extend_from_slice(&if known { [0x81, 0x80] } else { [0x81, 0x83] });
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for (rtype, rdata) in answers {
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&60u32.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn dns_answers_expected_missing_and_nxdomain() {
    let responder = Responder::start().await;
    let server = responder.addr.to_string();
    let cx = context();
    let dns = |id: &str, name: &str, record: &str, expect: Option<&str>| {
        check(
            id,
            5,
            json!({"kind": "dns", "name": name, "record": record, "expect": expect,
                   "server": server}),
        )
    };

    let outcome = run_once(&dns("a", "svc.bosun.test", "A", Some("10.1.2.4")), &cx, 1).await;
    assert_status(&outcome, Status::Ok);
    assert_eq!(outcome.output, "svc.bosun.test A: 10.1.2.3, 10.1.2.4");

    let outcome = run_once(
        &dns("txt", "svc.bosun.test", "TXT", Some("v=bosun1")),
        &cx,
        1,
    )
    .await;
    assert_status(&outcome, Status::Ok);

    let outcome = run_once(
        &dns("moved", "svc.bosun.test", "A", Some("10.9.9.9")),
        &cx,
        1,
    )
    .await;
    assert_status(&outcome, Status::Critical);
    assert!(
        outcome.output.contains("\"10.9.9.9\" is not among them"),
        "{}",
        outcome.output
    );

    let outcome = run_once(&dns("bare", "bare.bosun.test", "A", None), &cx, 1).await;
    assert_status(&outcome, Status::Critical);
    assert!(
        outcome.output.contains("has no A record"),
        "{}",
        outcome.output
    );

    let outcome = run_once(&dns("nx", "nothing.bosun.test", "A", None), &cx, 1).await;
    assert_status(&outcome, Status::Critical);
    assert!(outcome.output.contains("NXDOMAIN"), "{}", outcome.output);

    // A resolver that does not answer: critical within the check's time.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let quiet = check(
        "quiet",
        3,
        json!({"kind": "dns", "name": "svc.bosun.test",
               "server": silent.local_addr().expect("address").to_string()}),
    );
    let outcome = run_once(&quiet, &cx, 1).await;
    assert_status(&outcome, Status::Critical);
}
