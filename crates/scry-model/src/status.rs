//! What `scry status` shows: the agent's view of the kernel, its sources and its losses.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    pub version: String,
    pub node_name: String,
    pub kernel: String,
    /// Where the kernel's BTF was found, if anywhere.
    pub btf: Option<String>,
    pub uptime_seconds: u64,
    /// Every hook kind probed at start, and why a refused one was refused.
    pub hooks: Vec<HookProbe>,
    pub sources: Vec<SourceStatus>,
    pub stream: StreamStatus,
    pub process_cache: ProcessCacheStatus,
    pub kubernetes: KubernetesStatus,
    #[serde(default)]
    pub sockets: SocketTracingStatus,
    #[serde(default)]
    pub flows: FlowsStatus,
    #[serde(default)]
    pub metrics: MetricsStatus,
    /// Things the agent had to do or do without, each in one line.
    pub notices: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookProbe {
    pub kind: String,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fallback {
    pub kind: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub name: String,
    /// The hook kind in use.
    pub hook: String,
    /// Better kinds that were tried first, and why each was refused.
    pub fallbacks: Vec<Fallback>,
    /// Records read from the ring buffer.
    pub events: u64,
    /// Records the kernel could not put in the ring buffer (full).
    pub kernel_lost: u64,
    /// Records that did not decode.
    pub decode_errors: u64,
    /// The ring buffer's size, the bytes the reader found waiting at its
    /// last drain, and the most it ever found.
    #[serde(default)]
    pub ring_size_bytes: u64,
    #[serde(default)]
    pub ring_used_bytes: u64,
    #[serde(default)]
    pub ring_peak_used_bytes: u64,
    /// The source's hash maps: entries now and capacity (counted every few seconds).
    #[serde(default)]
    pub maps: Vec<MapStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapStatus {
    pub name: String,
    pub entries: u64,
    pub capacity: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStatus {
    pub subscribers: u64,
    /// Events dropped because a subscriber's queue was full.
    pub queue_dropped: u64,
    pub events_published: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessCacheStatus {
    pub size: u64,
    pub capacity: u64,
    /// Live entries pushed out by the capacity bound.
    pub evictions: u64,
    /// Events whose process (or parent) was not in the cache.
    pub misses: u64,
    /// Exited entries kept for late events.
    pub exited_pending_removal: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesStatus {
    pub enabled: bool,
    /// Why not, or the last error seen by the pod watch.
    pub detail: String,
    pub pods: u64,
    pub containers: u64,
}

/// The socket tracer and the L7 parsing behind `http_events` and friends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketTracingStatus {
    pub enabled: bool,
    /// Why not, when not.
    pub detail: String,
    /// Connections being tracked.
    pub connections: u64,
    /// Bytes given up on: holes in a stream, streams over their bound, data of untracked connections.
    pub skipped_bytes: u64,
    /// Messages larger than the kernel copies (the rest is a hole).
    pub kernel_truncated: u64,
    /// Client sides left to the server side traced on this node: TCP
    /// connections (not parsed, no longer copied) and DNS-over-UDP exchanges.
    pub deduplicated: u64,
    /// Data records of protocols not parsed yet.
    pub unparsed_records: u64,
    /// conn_stats rows kept (process, remote endpoint), and new ones refused at the cap.
    pub conn_stats_keys: u64,
    pub conn_stats_dropped_keys: u64,
    pub protocols: Vec<ProtocolStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolStatus {
    pub name: String,
    pub frames: u64,
    /// Positions where no frame could start.
    pub parse_errors: u64,
    /// Requests without a response and responses without a request.
    pub unmatched: u64,
    pub records: u64,
}

/// The network flow pipeline behind `scry observe`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowsStatus {
    pub enabled: bool,
    /// Why not, when not.
    pub detail: String,
    /// Flows made since start (L3/L4, drops, L7).
    pub seen: u64,
    /// Flows in the buffer `--last` reads, and its capacity.
    pub buffered: u64,
    pub capacity: u64,
    /// Flows a `--follow` stream missed because its queue was full.
    pub follower_dropped: u64,
    pub followers: u64,
    /// L7 records the socket tracer could not hand over (queue full).
    pub l7_dropped: u64,
    /// TCP retransmits and resets the kernel reported.
    pub retransmits: u64,
    pub resets: u64,
    /// Endpoints known by cgroup and by address, and addresses with DNS names.
    pub endpoints_by_cgroup: u64,
    pub endpoints_by_ip: u64,
    pub dns_names: u64,
}

/// `/metrics`: where Prometheus scrapes it and what the flow families keep.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsStatus {
    /// The TCP address serving `/metrics` (it is also on the API socket).
    pub address: Option<String>,
    /// Flow metric plugins counting (`--flow-metrics`).
    pub flow_plugins: Vec<String>,
    /// Series each flow family keeps at most, and observations refused at that cap.
    pub max_series: u64,
    pub series_refused: u64,
}

/// A TracingPolicy as `scry policy list` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInfo {
    pub name: String,
    /// `enabled` or `disabled`.
    pub state: String,
    /// `enforce` or `monitor` (monitor turns signals into posts).
    pub mode: String,
    pub hooks: Vec<PolicyHookInfo>,
    /// Events the policy's hooks posted, and signals they sent.
    pub events: u64,
    pub signals: u64,
    /// Posts a rateLimit suppressed in the kernel.
    pub rate_limited: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyHookInfo {
    /// Where the hook is in the policy (`spec.kprobes[0]`).
    pub path: String,
    /// What the policy asked for (`kprobe sys_umask`).
    pub hook: String,
    /// What attaches on this kernel (`tp_btf sys_enter, syscall 95`).
    pub attachment: String,
}
