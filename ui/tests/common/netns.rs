//! Network namespaces the tests make with iproute2's `ip`, and moving a thread into one.

use std::os::fd::AsFd;
use std::process::Command;

/// Runs `ip ARGS`, failing loudly with what it said.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("ip {args:?}: {e}: this test needs iproute2's ip (scripts/test.sh installs it)")
    });
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Moves the calling thread into the network namespace `name`: the sockets it and the
/// threads and processes it starts open are there.
pub fn enter(name: &str) -> std::io::Result<()> {
    let ns = std::fs::File::open(format!("/var/run/netns/{name}"))?;
    rustix::thread::move_into_link_name_space(
        ns.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(std::io::Error::from)
}
