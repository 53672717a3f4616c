//! The engine's labels as a node spreads them with its gossip identity: read from `/info`
//! `Labels` (`k=v` strings) and cut to what a gossip packet can carry.
//!
//! foca puts up to three identities in one packet (a probe's sender, receiver and target;
//! or sender, receiver and one update), and packets stay under
//! [`super::membership::MAX_PACKET`] bytes so that they are never fragmented. A node's
//! metadata is therefore held to [`META_MAX`] encoded bytes: labels are taken in the
//! engine's order while they fit, and the rest are dropped with a warning.

use serde_json::Value;

use super::member::NodeMeta;

/// The most a node's encoded metadata may take: three identities of this size, with their
/// addresses and counters, and a packet header fit in one packet.
pub const META_MAX: usize = 420;

/// `/info` `Labels`, in the engine's order, first of each key: `k=v` as `(k, v)`, a bare
/// `k` as `(k, "")`.
pub fn from_info(info: &Value) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = Vec::new();
    for text in info["Labels"].as_array().into_iter().flatten() {
        let Some(text) = text.as_str() else { continue };
        let (k, v) = text.split_once('=').unwrap_or((text, ""));
        if k.is_empty() || labels.iter().any(|(seen, _)| seen == k) {
            continue;
        }
        labels.push((k.to_owned(), v.to_owned()));
    }
    labels
}

/// Puts `labels` into `meta`, in order, while the encoded metadata stays within
/// [`META_MAX`]; the first label that does not fit and those after it are left out, and
/// returned as `k=v`.
pub fn fit(meta: &mut NodeMeta, labels: Vec<(String, String)>) -> Vec<String> {
    meta.labels.clear();
    // The map's length prefix grows by a byte past 127 entries: counted up front.
    let mut size = encoded_len(meta) + 1;
    let mut dropped = Vec::new();
    for (k, v) in labels {
        let cost = varint_len(k.len()) + k.len() + varint_len(v.len()) + v.len();
        if !dropped.is_empty() || size + cost > META_MAX {
            dropped.push(format!("{k}={v}"));
            continue;
        }
        size += cost;
        meta.labels.insert(k, v);
    }
    dropped
}

/// The metadata's size as gossip encodes it.
pub fn encoded_len(meta: &NodeMeta) -> usize {
    postcard::to_allocvec(meta).map_or(usize::MAX, |v| v.len())
}

/// Bytes of postcard's length prefix for `n`.
fn varint_len(n: usize) -> usize {
    let bits = usize::BITS - n.leading_zeros();
    (bits.max(1) as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::{Ipv6Addr, SocketAddr};

    use foca::{Codec, Header, Member, Message, PostcardCodec, State};
    use serde_json::json;

    use super::*;
    use crate::cluster::member::{AgentId, Role};
    use crate::cluster::membership::MAX_PACKET;

    fn meta(name_len: usize) -> NodeMeta {
        let long = |n: usize| "x".repeat(n);
        NodeMeta {
            node_name: long(name_len),
            engine_id: long(64),
            swarm_node_id: long(25),
            role: Role::Manager,
            leader: true,
            engine_api_version: long(8),
            agent_version: long(16),
            api_addr: SocketAddr::from((Ipv6Addr::from([0xffff; 8]), 65535)),
            cert_sha256: [0xff; 32],
            engine_up: true,
            agent_id: long(64),
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn labels_are_read_as_the_engine_gives_them() {
        let info =
            json!({"Labels": ["zone=eu-1", "disk=ssd", "bare", "zone=us-2", "=x", "url=a=b", 7]});
        assert_eq!(
            from_info(&info),
            [
                ("zone".into(), "eu-1".into()),
                ("disk".into(), "ssd".into()),
                ("bare".into(), String::new()),
                ("url".into(), "a=b".into()),
            ]
        );
        assert!(from_info(&json!({"Labels": null})).is_empty());
        assert!(from_info(&Value::Null).is_empty());
    }

    #[test]
    fn labels_past_the_budget_are_dropped_in_order() {
        let mut m = meta(10);
        let labels: Vec<(String, String)> = (0..100)
            .map(|i| (format!("label-{i:03}"), "v".repeat(20)))
            .collect();
        let dropped = fit(&mut m, labels);
        assert!(!m.labels.is_empty() && !dropped.is_empty());
        assert_eq!(m.labels.len() + dropped.len(), 100);
        assert!(m.labels.contains_key("label-000"));
        assert_eq!(
            dropped[0],
            format!("label-{:03}={}", m.labels.len(), "v".repeat(20))
        );
        assert!(encoded_len(&m) <= META_MAX, "{}", encoded_len(&m));
        // A small one after the cut is dropped too: what is kept is a prefix.
        let mut m = meta(10);
        let mut labels = vec![("big".to_owned(), "b".repeat(400))];
        labels.push(("small".into(), "s".into()));
        assert_eq!(fit(&mut m, labels).len(), 2);
        assert!(m.labels.is_empty());
    }

    #[test]
    fn a_few_labels_all_fit_on_a_usual_node() {
        let mut m = meta(12);
        m.engine_id = "a".repeat(36);
        m.agent_id = "b".repeat(36);
        m.agent_version = "0.1.0".into();
        m.api_addr = SocketAddr::from(([10, 0, 0, 12], 9001));
        let labels: Vec<(String, String)> = (0..8)
            .map(|i| (format!("com.example.key{i}"), format!("value-{i}")))
            .collect();
        assert!(fit(&mut m, labels).is_empty(), "{}", encoded_len(&m));
        assert_eq!(m.labels.len(), 8);
    }

    /// The largest identities fit three to a packet, in both shapes foca sends them: a
    /// probe request (sender, receiver, target) and a gossip packet with one update.
    #[test]
    fn three_of_the_largest_identities_fit_in_a_packet() {
        let mut m = meta(64);
        let labels: Vec<(String, String)> =
            (0..200).map(|i| (format!("k{i}"), "v".repeat(3))).collect();
        assert!(!fit(&mut m, labels).is_empty());
        assert!(encoded_len(&m) <= META_MAX);
        let id = AgentId {
            gossip: SocketAddr::from((Ipv6Addr::from([0xffff; 8]), 65535)),
            bump: u64::MAX,
            meta: m,
        };
        let mut codec = PostcardCodec;
        let probe = Header {
            src: id.clone(),
            src_incarnation: u16::MAX,
            dst: id.clone(),
            message: Message::PingReq {
                target: id.clone(),
                probe_number: u8::MAX,
            },
        };
        let mut buf = Vec::new();
        codec.encode_header(&probe, &mut buf).expect("encode");
        assert!(
            buf.len() <= MAX_PACKET,
            "probe request: {} bytes",
            buf.len()
        );
        let gossip = Header {
            src: id.clone(),
            src_incarnation: u16::MAX,
            dst: id.clone(),
            message: Message::Gossip,
        };
        let mut buf = Vec::new();
        codec.encode_header(&gossip, &mut buf).expect("encode");
        // The update count, then one update.
        buf.extend_from_slice(&[0, 1]);
        codec
            .encode_member(&Member::new(id, u16::MAX, State::Suspect), &mut buf)
            .expect("encode");
        assert!(buf.len() <= MAX_PACKET, "gossip: {} bytes", buf.len());
    }
}
