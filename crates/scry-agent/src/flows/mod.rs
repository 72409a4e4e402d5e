//! Network flows (Hubble's model without Cilium): the kernel's view of every
//! socket's packets and drops (`scry_bpf::net`), endpoints and DNS names,
//! L7 flows from the socket tracer's HTTP and DNS records, the flow buffer
//! and live followers.

pub mod build;
pub mod collector;
pub mod endpoints;
pub mod hub;
pub mod table;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use scry_bpf::socket::Role;

/// `scry agent`'s flow settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    /// Off by `--flows off`: the table exists and stays empty.
    pub enabled: bool,
    /// Flows `--last` can reach back to (Hubble's event buffer capacity).
    pub buffer_capacity: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig { enabled: true, buffer_capacity: hub::DEFAULT_CAPACITY }
    }
}

/// An HTTP or DNS exchange the socket tracer stitched, for L7 flows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L7Event {
    pub pid: u32,
    pub role: Role,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub udp: bool,
    pub req_ts: u64,
    pub resp_ts: u64,
    pub kind: L7Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L7Kind {
    Http {
        method: String,
        /// `http://host/path`, or the path alone without a Host header.
        url: String,
        /// `HTTP/1.1`
        protocol: String,
        status: u32,
    },
    Dns {
        /// The first question's name with its trailing dot, as Hubble writes it.
        query: String,
        qtypes: Vec<String>,
        answers: Vec<DnsAnswer>,
        rcode: u8,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsAnswer {
    pub name: String,
    pub rtype: String,
    pub ip: Option<IpAddr>,
    pub cname: Option<String>,
}

/// Where the socket tracer hands L7 events to the flow collector: a bounded
/// queue; what does not fit is dropped and counted.
#[derive(Clone)]
pub struct L7Sink {
    tx: std::sync::mpsc::SyncSender<L7Event>,
    dropped: Arc<AtomicU64>,
}

/// Events the L7 queue holds at most between two drains.
pub const L7_QUEUE: usize = 65_536;

impl L7Sink {
    pub fn channel() -> (L7Sink, std::sync::mpsc::Receiver<L7Event>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(L7_QUEUE);
        (L7Sink { tx, dropped: Arc::default() }, rx)
    }

    pub fn send(&self, e: L7Event) {
        if self.tx.try_send(e).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
