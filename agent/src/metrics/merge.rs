//! One exposition of several nodes' series: each family's description once, then every
//! node's samples of it. Each node labels its own series with `node`, so nothing clashes.

/// A family's description lines and its samples.
struct Family {
    name: String,
    header: Vec<String>,
    samples: Vec<String>,
}

/// Merges OpenMetrics texts, the first's families in its order, then any new ones.
pub fn merge<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut families: Vec<Family> = Vec::new();
    for block in texts.into_iter().flat_map(blocks) {
        match families.iter_mut().find(|f| f.name == block.name) {
            Some(family) => family.samples.extend(block.samples),
            None => families.push(block),
        }
    }
    let mut out = String::new();
    for f in &families {
        for line in f.header.iter().chain(&f.samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

/// A text's families: a family starts at a description line (`# HELP`, `# TYPE`,
/// `# UNIT`) naming another family than the one before.
fn blocks(text: &str) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line == "# EOF" {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let name = rest.split(' ').nth(1).unwrap_or_default();
            match out.last_mut() {
                Some(f) if f.name == name => f.header.push(line.to_owned()),
                _ => out.push(Family {
                    name: name.to_owned(),
                    header: vec![line.to_owned()],
                    samples: Vec::new(),
                }),
            }
        } else if let Some(f) = out.last_mut() {
            f.samples.push(line.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_once_with_every_nodes_samples() {
        let a = "# HELP bosun_host_load Load average.\n# TYPE bosun_host_load gauge\nbosun_host_load{node=\"a\",window=\"1m\"} 0.5\n# HELP bosun_agent_requests Requests.\n# TYPE bosun_agent_requests counter\nbosun_agent_requests_total{node=\"a\"} 3\n# EOF\n";
        let b = "# HELP bosun_host_load Load average.\n# TYPE bosun_host_load gauge\nbosun_host_load{node=\"b\",window=\"1m\"} 1.5\n# HELP bosun_host_temperature_celsius Temp.\n# TYPE bosun_host_temperature_celsius gauge\n# UNIT bosun_host_temperature_celsius celsius\nbosun_host_temperature_celsius{node=\"b\",sensor=\"x\"} 40.0\n# EOF\n";
        let merged = merge([a, b]);
        assert_eq!(
            merged,
            "# HELP bosun_host_load Load average.\n# TYPE bosun_host_load gauge\nbosun_host_load{node=\"a\",window=\"1m\"} 0.5\nbosun_host_load{node=\"b\",window=\"1m\"} 1.5\n# HELP bosun_agent_requests Requests.\n# TYPE bosun_agent_requests counter\nbosun_agent_requests_total{node=\"a\"} 3\n# HELP bosun_host_temperature_celsius Temp.\n# TYPE bosun_host_temperature_celsius gauge\n# UNIT bosun_host_temperature_celsius celsius\nbosun_host_temperature_celsius{node=\"b\",sensor=\"x\"} 40.0\n# EOF\n"
        );
        assert_eq!(merged.matches("# TYPE bosun_host_load").count(), 1);
    }
}
