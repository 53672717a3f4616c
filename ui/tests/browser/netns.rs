//! The browser's own network namespace. chromium gives up a request in flight
//! (ERR_NETWORK_CHANGED: "Failed to fetch" on the page, or a load that never ends) when an
//! address comes or goes on the machine, as it does whenever another test's container or
//! network does. chromedriver and chromium therefore run in a namespace of their own with
//! nothing but its loopback, where nothing changes; the loopback ports the browser opens
//! are forwarded, port for port, to this machine's loopback, where the console and the
//! other servers of the test listen.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use tokio::net::TcpStream;

use crate::common::netns::{enter, ip};

/// A network namespace for one browser, removed when dropped.
pub(crate) struct BrowserNet {
    name: String,
    forwarded: Mutex<HashSet<u16>>,
}

impl BrowserNet {
    pub(crate) fn make() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "bosun-browser-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        let net = Self {
            name,
            forwarded: Mutex::new(HashSet::new()),
        };
        ip(&["-n", &net.name, "link", "set", "lo", "up"]);
        net
    }

    /// `program` to be run in the namespace.
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// A connection to `127.0.0.1:port` in the namespace (chromedriver's, say).
    pub(crate) async fn connect(&self, port: u16) -> std::io::Result<TcpStream> {
        let stream = self
            .in_namespace(move || std::net::TcpStream::connect(("127.0.0.1", port)))
            .await?;
        stream.set_nonblocking(true)?;
        TcpStream::from_std(stream)
    }

    /// Forwards `127.0.0.1:port` in the namespace to the same port on this machine's
    /// loopback, once per port, for the rest of the test.
    pub(crate) async fn forward(&self, port: u16) {
        if !self
            .forwarded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(port)
        {
            return;
        }
        let listener = self
            .in_namespace(move || {
                let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
                listener.set_nonblocking(true)?;
                Ok(listener)
            })
            .await
            .and_then(tokio::net::TcpListener::from_std)
            .unwrap_or_else(|e| {
                panic!("a listener on port {port} in the browser's namespace: {e}")
            });
        tokio::spawn(async move {
            while let Ok((mut inside, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut outside) = TcpStream::connect(("127.0.0.1", port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
                    }
                });
            }
        });
    }

    /// Runs `open` on a thread of its own that first moves into the namespace: the sockets
    /// it opens are there, and stay there once the thread has ended.
    async fn in_namespace<T: Send + 'static>(
        &self,
        open: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let name = self.name.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(enter(&name).and_then(|()| open()));
        });
        rx.await
            .unwrap_or_else(|_| Err(std::io::Error::other("the namespace's thread ended")))
    }
}

impl Drop for BrowserNet {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// The port of an `http(s)://HOST:PORT/...` URL.
pub(crate) fn port_of(url: &str) -> Option<u16> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    authority.rsplit_once(':')?.1.parse().ok()
}

#[test]
fn a_urls_port_is_read_from_its_authority() {
    assert_eq!(port_of("https://localhost:8443/#/e/1"), Some(8443));
    assert_eq!(port_of("http://127.0.0.1:5556"), Some(5556));
    assert_eq!(port_of("https://localhost/#/x:9"), None);
}
