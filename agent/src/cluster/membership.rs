//! SWIM membership over UDP with foca: one task owns the protocol state, feeds it sealed
//! packets, timer events in deadline order, and commands (announce, metadata change), and
//! publishes the resulting view of the cluster.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use foca::{AccumulatingRuntime, Foca, OwnedNotification, PostcardCodec, Timer};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::member::{AgentId, Member, MemberState, NodeMeta, View};
use super::seal::{OpenError, Sealer};
use crate::auth::now_secs;

/// Largest datagram read; foca keeps its packets under `max_packet_size`.
const RECV_BUF: usize = 64 * 1024;
pub(crate) const MAX_PACKET: usize = 1400;

/// Counts of packets dropped before the protocol saw them.
#[derive(Debug, Default)]
pub struct GossipStats {
    pub forged: AtomicU64,
    pub stale: AtomicU64,
    pub malformed: AtomicU64,
    pub received: AtomicU64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct GossipCounts {
    pub received: u64,
    pub dropped_forged: u64,
    pub dropped_stale: u64,
    pub dropped_malformed: u64,
}

impl GossipStats {
    pub fn counts(&self) -> GossipCounts {
        GossipCounts {
            received: self.received.load(Ordering::Relaxed),
            dropped_forged: self.forged.load(Ordering::Relaxed),
            dropped_stale: self.stale.load(Ordering::Relaxed),
            dropped_malformed: self.malformed.load(Ordering::Relaxed),
        }
    }
}

enum Command {
    Announce(SocketAddr),
    UpdateMeta(Box<NodeMeta>),
}

/// A handle on the running membership task.
#[derive(Clone)]
pub struct Membership {
    commands: mpsc::UnboundedSender<Command>,
    view: watch::Receiver<Arc<View>>,
    stats: Arc<GossipStats>,
    local_addr: SocketAddr,
}

impl Membership {
    /// Binds the gossip socket and starts the protocol. `advertise` is the address other
    /// agents reach this one's gossip at.
    pub async fn start(
        listen: SocketAddr,
        advertise: std::net::IpAddr,
        meta: NodeMeta,
        sealer: Sealer,
        shutdown: CancellationToken,
    ) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(listen).await?;
        let local_addr = socket.local_addr()?;
        let me = AgentId {
            gossip: SocketAddr::new(advertise, local_addr.port()),
            bump: initial_bump(),
            meta,
        };
        let (commands, rx) = mpsc::unbounded_channel();
        let (view_tx, view) = watch::channel(Arc::new(View::standalone(me.clone())));
        let stats = Arc::new(GossipStats::default());
        let driver = Driver::new(me, socket, sealer, view_tx, Arc::clone(&stats));
        tokio::spawn(driver.run(rx, shutdown));
        Ok(Self {
            commands,
            view,
            stats,
            local_addr,
        })
    }

    /// The bound gossip socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn view(&self) -> Arc<View> {
        Arc::clone(&self.view.borrow())
    }

    pub fn watch(&self) -> watch::Receiver<Arc<View>> {
        self.view.clone()
    }

    pub fn stats(&self) -> GossipCounts {
        self.stats.counts()
    }

    /// The live counters, for whoever reports them later.
    pub fn stats_handle(&self) -> Arc<GossipStats> {
        Arc::clone(&self.stats)
    }

    /// Introduces this agent to whoever gossips at `addr`.
    pub fn announce(&self, addr: SocketAddr) {
        let _ = self.commands.send(Command::Announce(addr));
    }

    /// Spreads new metadata (a role or leadership change, say).
    pub fn update_meta(&self, meta: NodeMeta) {
        let _ = self.commands.send(Command::UpdateMeta(Box::new(meta)));
    }
}

/// A restarted agent must win over the identity it had before, which others may still
/// remember: start the counter at the clock.
fn initial_bump() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn foca_config() -> foca::Config {
    let mut config = foca::Config::new_lan(NonZeroU32::MIN.saturating_add(49));
    // A dead agent should be marked down within a few seconds: probe every 500 ms and
    // give a suspect 1.5 s to refute.
    config.probe_period = Duration::from_millis(500);
    config.probe_rtt = Duration::from_millis(200);
    config.suspect_to_down_after = Duration::from_millis(1500);
    // Identities carry node metadata, so fewer updates fit in a packet than with bare
    // addresses: gossip more often, and repeat each update a little more.
    config.periodic_gossip = Some(foca::PeriodicParams {
        frequency: Duration::from_millis(100),
        num_members: std::num::NonZeroUsize::MIN.saturating_add(3),
    });
    if let Some(tx) = std::num::NonZeroU8::new(10) {
        config.max_transmissions = tx;
    }
    config.periodic_announce = Some(foca::PeriodicParams {
        frequency: Duration::from_secs(10),
        num_members: std::num::NonZeroUsize::MIN,
    });
    config.periodic_announce_to_down_members = Some(foca::PeriodicParams {
        frequency: Duration::from_secs(5),
        num_members: std::num::NonZeroUsize::MIN.saturating_add(1),
    });
    if let Some(size) = std::num::NonZeroUsize::new(MAX_PACKET) {
        config.max_packet_size = size;
    }
    config
}

struct Driver {
    foca: Foca<AgentId, PostcardCodec, SmallRng, foca::NoCustomBroadcast>,
    runtime: AccumulatingRuntime<AgentId>,
    socket: UdpSocket,
    sealer: Sealer,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    pending: HashMap<u64, Timer<AgentId>>,
    next_timer: u64,
    last_seen: HashMap<SocketAddr, SystemTime>,
    view: watch::Sender<Arc<View>>,
    stats: Arc<GossipStats>,
}

impl Driver {
    fn new(
        me: AgentId,
        socket: UdpSocket,
        sealer: Sealer,
        view: watch::Sender<Arc<View>>,
        stats: Arc<GossipStats>,
    ) -> Self {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        let rng = SmallRng::seed_from_u64(u64::from_le_bytes(seed));
        Self {
            foca: Foca::new(me, foca_config(), rng, PostcardCodec),
            runtime: AccumulatingRuntime::new(),
            socket,
            sealer,
            timers: BinaryHeap::new(),
            pending: HashMap::new(),
            next_timer: 0,
            last_seen: HashMap::new(),
            view,
            stats,
        }
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        shutdown: CancellationToken,
    ) {
        let mut buf = vec![0u8; RECV_BUF];
        // Keeps last-seen times fresh and the view published even when nothing changes.
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let next_deadline = self.timers.peek().map(|Reverse((at, _))| *at);
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = self.foca.leave_cluster(&mut self.runtime);
                    self.flush().await;
                    self.publish(false);
                    return;
                }
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => self.receive(&mut buf[..len], from),
                    Err(e) => tracing::debug!(error = %e, "gossip receive failed"),
                },
                _ = sleep_until(next_deadline) => self.fire_due_timers(),
                command = commands.recv() => match command {
                    Some(Command::Announce(addr)) => {
                        if addr != self.foca.identity().gossip {
                            let _ = self.foca.announce(AgentId::placeholder(addr), &mut self.runtime);
                        }
                    }
                    Some(Command::UpdateMeta(meta)) => {
                        let current = self.foca.identity().clone();
                        if current.meta != *meta {
                            let next = AgentId { bump: current.bump.wrapping_add(1), meta: *meta, ..current };
                            if let Err(e) = self.foca.change_identity(next, &mut self.runtime) {
                                tracing::warn!(error = %e, "cannot spread new node metadata");
                            }
                        }
                    }
                    None => return,
                },
                _ = tick.tick() => {
                    self.flush().await;
                    self.publish(true);
                    continue;
                }
            }
            self.flush().await;
            self.publish(false);
        }
    }

    fn receive(&mut self, packet: &mut [u8], from: SocketAddr) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        match self.sealer.open(packet, now_secs()) {
            Ok(payload) => {
                if let Err(e) = self.foca.handle_data(payload, &mut self.runtime) {
                    tracing::debug!(%from, error = %e, "gossip packet refused by the protocol");
                }
            }
            Err(e) => {
                let counter = match e {
                    OpenError::Forged => &self.stats.forged,
                    OpenError::Stale(_) => &self.stats.stale,
                    OpenError::Malformed => &self.stats.malformed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%from, error = %e, "gossip packet dropped");
            }
        }
    }

    /// Hands foca every timer that is due, oldest deadline first: foca expects them in
    /// the order they fire.
    fn fire_due_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, seq))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(timer) = self.pending.remove(&seq) {
                if let Err(e) = self.foca.handle_timer(timer, &mut self.runtime) {
                    tracing::debug!(error = %e, "gossip timer failed");
                }
            }
        }
    }

    /// Sends what foca queued and schedules its timers.
    async fn flush(&mut self) {
        while let Some((to, data)) = self.runtime.to_send() {
            let packet = self.sealer.seal(&data, now_secs());
            if packet.is_empty() {
                continue;
            }
            if let Err(e) = self.socket.send_to(&packet, to.gossip).await {
                tracing::debug!(to = %to.gossip, error = %e, "gossip send failed");
            }
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            let seq = self.next_timer;
            self.next_timer += 1;
            self.timers.push(Reverse((Instant::now() + after, seq)));
            self.pending.insert(seq, timer);
        }
        while let Some(notification) = self.runtime.to_notify() {
            match notification {
                OwnedNotification::MemberUp(id) => {
                    tracing::info!(node = %id.meta.node_name, api = %id.meta.api_addr, role = id.meta.role.as_str(), "member up")
                }
                OwnedNotification::MemberDown(id) => {
                    tracing::info!(node = %id.meta.node_name, api = %id.meta.api_addr, "member down")
                }
                OwnedNotification::Rename(old, new) => {
                    tracing::info!(node = %new.meta.node_name, from_bump = old.bump, to_bump = new.bump, "member metadata changed")
                }
                OwnedNotification::Defunct => {
                    tracing::warn!("declared down by the cluster; rejoining with a new identity")
                }
                _ => {}
            }
        }
    }

    /// Publishes the view when a member came, went or changed; with `refresh_seen` (once a
    /// second) also to bring last-seen times up to date. Most packets change nothing, and
    /// then nothing is copied.
    fn publish(&mut self, refresh_seen: bool) {
        let me = self.foca.identity();
        let changed = {
            let current = self.view.borrow();
            let mut seen = current.members.iter();
            let differs = self
                .foca
                .iter_membership_state()
                .filter(|m| m.id().gossip != me.gossip)
                .any(|m| {
                    seen.next()
                        .is_none_or(|s| s.id != *m.id() || s.state != state_of(m.state()))
                });
            current.me != *me || differs || seen.next().is_some()
        };
        if !changed && !refresh_seen {
            return;
        }
        let now = SystemTime::now();
        let me = me.clone();
        let members: Vec<Member> = self
            .foca
            .iter_membership_state()
            .filter(|m| m.id().gossip != me.gossip)
            .map(|m| {
                let state = state_of(m.state());
                let seen = self.last_seen.entry(m.id().gossip).or_insert(now);
                if state != MemberState::Down {
                    *seen = now;
                }
                Member {
                    id: m.id().clone(),
                    state,
                    last_seen: *seen,
                }
            })
            .collect();
        // Last-seen times alone do not wake readers, but are kept current for them.
        let view = Arc::new(View::new(me, members));
        if changed {
            self.view.send_replace(view);
        } else {
            self.view.send_if_modified(|v| {
                *v = view;
                false
            });
        }
    }
}

fn state_of(state: foca::State) -> MemberState {
    match state {
        foca::State::Alive => MemberState::Alive,
        foca::State::Suspect => MemberState::Suspect,
        foca::State::Down => MemberState::Down,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
