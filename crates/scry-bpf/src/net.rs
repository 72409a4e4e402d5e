//! The network flow source: loads `net.bpf.c` (cgroup_skb on the root cgroup,
//! tp_btf on skb:kfree_skb and the TCP health tracepoints) and decodes its
//! records.

use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, OpenObject};

use crate::net_skel::{NetSkel, NetSkelBuilder, types};
use crate::{ip_of, percpu_sum, read_prefix};

#[derive(Clone, Debug)]
pub struct NetSourceConfig {
    /// Ring buffer size in bytes (a power of two).
    pub ring_bytes: u32,
    /// Flows the kernel keeps counters for at once (least recently used go first).
    pub flow_entries: u32,
    /// A flow with traffic is reported again after this long without a report.
    pub report_every_ns: u64,
    /// The cgroup v2 mount (the root cgroup): the packet programs attach there.
    pub cgroup_root: PathBuf,
}

impl Default for NetSourceConfig {
    fn default() -> Self {
        NetSourceConfig {
            ring_bytes: 1 << 23,
            flow_entries: 65536,
            report_every_ns: 5_000_000_000,
            cgroup_root: cgroup2_mount().unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup")),
        }
    }
}

/// Where cgroup v2 is mounted (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified`
/// on hybrid hosts), from `/proc/self/mounts`.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let mut fields = line.split(' ');
        let (_source, point, fstype) = (fields.next()?, fields.next()?, fields.next()?);
        (fstype == "cgroup2").then(|| PathBuf::from(point))
    })
}

/// Whether cgroup_skb programs may call the helpers that name a packet's
/// sender (Linux 6.1 refuses them), by loading a probe program for each.
fn cgroup_skb_task_helpers() -> Result<(), String> {
    use libbpf_rs::libbpf_sys::{
        BPF_FUNC_get_current_cgroup_id, BPF_FUNC_get_current_pid_tgid, BPF_PROG_TYPE_CGROUP_SKB,
        libbpf_probe_bpf_helper,
    };
    for (helper, name) in [
        (BPF_FUNC_get_current_cgroup_id, "bpf_get_current_cgroup_id"),
        (BPF_FUNC_get_current_pid_tgid, "bpf_get_current_pid_tgid"),
    ] {
        // SAFETY: no options are passed; libbpf loads and closes a probe program.
        match unsafe { libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB, helper, std::ptr::null()) } {
            1 => {}
            0 => return Err(format!("this kernel's cgroup_skb programs may not call {name}")),
            e => return Err(format!("probing {name}: {}", std::io::Error::from_raw_os_error(-e))),
        }
    }
    Ok(())
}

/// Whether tcp_send_reset fires for a reset sent without a socket (a closed
/// port). Kernels that do (6.10 on; 6.12 does, 6.1 does not) also give resets
/// a reason: `enum sk_rst_reason` in the BTF tells.
pub fn socketless_resets_traced() -> Result<(), String> {
    let btf = libbpf_rs::btf::Btf::from_vmlinux().map_err(|e| format!("cannot read the kernel's BTF: {e}"))?;
    match btf.type_by_name::<libbpf_rs::btf::types::Enum<'_>>("sk_rst_reason") {
        Some(_) => Ok(()),
        None => {
            Err("this kernel's tcp_send_reset tracepoint fires only for a socket, not for resets from closed ports \
             (before Linux 6.10)"
                .into())
        }
    }
}

/// Kernel drop reasons that are not network drops, left out in the kernel.
pub const IGNORED_DROP_REASONS: [&str; 2] = ["QUEUE_PURGE", "SOCKET_CLOSE"];

#[derive(Debug, thiserror::Error)]
pub enum NetLoadError {
    #[error("{0}")]
    Config(String),
    #[error("cannot load the network flow source: {0}")]
    Load(String),
    #[error("cannot attach {program} to the cgroup at {path}: {reason}")]
    Cgroup { program: String, path: String, reason: String },
}

/// Counters the BPF programs keep: records sent and records the full ring refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetCounters {
    pub trace_sent: u64,
    pub trace_lost: u64,
    pub drop_sent: u64,
    pub drop_lost: u64,
    pub tcp_sent: u64,
    pub tcp_lost: u64,
}

impl NetCounters {
    pub fn lost(&self) -> u64 {
        self.trace_lost + self.drop_lost + self.tcp_lost
    }
}

/// The loaded and attached flow programs. Dropping it detaches them.
pub struct NetSource {
    skel: NetSkel<'static>,
    _links: Vec<Link>,
    /// Hooks this kernel refused (the drop or TCP tracepoints), each with the reason.
    pub missing: Vec<(String, String)>,
    /// Why flows carry no pid on this kernel, if they do not (its cgroup_skb
    /// programs may not ask for the current task).
    pub no_pids: Option<String>,
    /// Why the resets a closed port sends are not seen, if they are not (this
    /// kernel's tcp_send_reset tracepoint fires only for a socket).
    pub no_socketless_resets: Option<String>,
    /// This kernel's drop reason names by value, or why they could not be read.
    pub drop_reasons: Result<Vec<(u32, String)>, String>,
}

impl NetSource {
    pub fn load(cfg: &NetSourceConfig) -> Result<NetSource, NetLoadError> {
        if !cfg.ring_bytes.is_power_of_two() || cfg.ring_bytes < 4096 {
            return Err(NetLoadError::Config(format!(
                "ring buffer size {} must be a power of two of at least 4096 bytes",
                cfg.ring_bytes
            )));
        }
        if cfg.flow_entries == 0 {
            return Err(NetLoadError::Config("the flow table needs at least one entry".into()));
        }
        let cgroup = std::fs::File::open(&cfg.cgroup_root).map_err(|e| NetLoadError::Cgroup {
            program: "flow_egress".into(),
            path: cfg.cgroup_root.display().to_string(),
            reason: e.to_string(),
        })?;
        // As in process.rs: the skeleton borrows its storage for the agent's life.
        let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
        let load_err = |e: libbpf_rs::Error| NetLoadError::Load(e.to_string());
        let mut open = NetSkelBuilder::default().open(storage).map_err(load_err)?;
        open.maps.events.set_max_entries(cfg.ring_bytes).map_err(load_err)?;
        open.maps.flows.set_max_entries(cfg.flow_entries).map_err(load_err)?;
        let rodata = open.maps.rodata_data.as_deref_mut().ok_or(NetLoadError::Load("no .rodata".into()))?;
        rodata.report_every_ns = cfg.report_every_ns;
        // A closing socket discarding data its owner never read is not a
        // packet lost on its way: the kernel does not send those.
        let drop_reasons = drop_reason_names();
        let names = drop_reasons.as_deref().unwrap_or_default();
        for (slot, ignored) in rodata.ignored_reasons.iter_mut().zip(IGNORED_DROP_REASONS) {
            *slot = names.iter().find(|(_, n)| n == ignored).map_or(u32::MAX, |(v, _)| *v);
        }
        rodata.wakeup_bytes = u64::from(cfg.ring_bytes / 4);
        let no_pids = cgroup_skb_task_helpers().err();
        rodata.task_helpers = u8::from(no_pids.is_none());
        let skel = open.load().map_err(load_err)?;
        let (mut links, mut missing) = (Vec::new(), Vec::new());
        for prog in skel.object().progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            if name == "flow_egress" || name == "flow_ingress" {
                // Without the packet programs there are no flows at all.
                let link = prog.attach_cgroup(cgroup.as_raw_fd()).map_err(|e| NetLoadError::Cgroup {
                    program: name.clone(),
                    path: cfg.cgroup_root.display().to_string(),
                    reason: e.to_string(),
                })?;
                links.push(link);
                continue;
            }
            match prog.attach() {
                Ok(link) => links.push(link),
                Err(e) => missing.push((name, e.to_string())),
            }
        }
        let no_socketless_resets = socketless_resets_traced().err();
        Ok(NetSource { skel, _links: links, missing, no_pids, no_socketless_resets, drop_reasons })
    }

    pub fn ring(&self) -> &dyn MapCore {
        &self.skel.maps.events
    }

    /// The LRU map of flows, for its fill in status (full, it evicts the
    /// least recently seen flow, which then restarts its counters).
    pub fn flow_map(&self) -> &dyn MapCore {
        &self.skel.maps.flows
    }

    pub fn counters(&self) -> NetCounters {
        let sum = |idx: u32| percpu_sum(&self.skel.maps.stats, idx);
        NetCounters {
            trace_sent: sum(0),
            trace_lost: sum(1),
            drop_sent: sum(2),
            drop_lost: sum(3),
            tcp_sent: sum(4),
            tcp_lost: sum(5),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetEventKind {
    /// A packet at a socket: first each way, a new SYN/FIN/RST, or periodic.
    Trace,
    /// The kernel dropped a packet.
    Drop,
    Retransmit,
    Reset,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetDirection {
    /// Leaving the observing socket (or, for a drop, sent by a local socket).
    Egress,
    /// Arriving at it.
    Ingress,
}

/// Which side opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The agent saw the connection only after it started.
    Unknown,
    Local,
    Remote,
}

/// IP protocol numbers.
pub mod ip_proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

/// One flow as one socket sees it: its own address first. For ICMP echo both
/// ports hold the echo id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub protocol: u8,
    pub local: IpAddr,
    pub local_port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
}

/// Counters of a flow as the observing socket sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounts {
    pub packets_sent: u64,
    pub packets_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub retransmits: u32,
    pub resets: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetRecord {
    pub kind: NetEventKind,
    pub dir: NetDirection,
    pub ts: u64,
    pub key: FlowKey,
    pub origin: Origin,
    /// TCP flag byte of the packet (FIN = bit 0).
    pub tcp_flags: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// The sending process, when the kernel saw it send; 0 otherwise.
    pub pid: u32,
    /// This kernel's `enum skb_drop_reason` value (drops only).
    pub drop_reason: u32,
    /// Packet bytes from the IP header on.
    pub len: u32,
    pub cookie: u64,
    /// The socket's cgroup; 0 when no socket was involved.
    pub cgroup_id: u64,
    pub counts: FlowCounts,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetDecodeError {
    #[error("network record is {len} bytes, shorter than its {need}-byte layout")]
    Short { len: usize, need: usize },
    #[error("unknown network record kind {0}")]
    UnknownKind(u8),
    #[error("network record has address family {0}")]
    BadFamily(u16),
}

fn ip(family: u16, raw: &[u8; 16]) -> Result<IpAddr, NetDecodeError> {
    ip_of(family, raw).ok_or(NetDecodeError::BadFamily(family))
}

/// Decodes one ring-buffer record. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<NetRecord, NetDecodeError> {
    let need = size_of::<types::net_event>();
    if bytes.len() < need {
        return Err(NetDecodeError::Short { len: bytes.len(), need });
    }
    let e: types::net_event = read_prefix(bytes);
    let kind = match e.kind {
        1 => NetEventKind::Trace,
        2 => NetEventKind::Drop,
        3 => NetEventKind::Retransmit,
        4 => NetEventKind::Reset,
        other => return Err(NetDecodeError::UnknownKind(other)),
    };
    let k = &e.key;
    Ok(NetRecord {
        kind,
        dir: if e.dir == 0 { NetDirection::Egress } else { NetDirection::Ingress },
        ts: e.ts,
        key: FlowKey {
            protocol: k.protocol,
            local: ip(k.family, &k.laddr)?,
            local_port: k.lport,
            remote: ip(k.family, &k.raddr)?,
            remote_port: k.rport,
        },
        origin: match e.origin {
            1 => Origin::Local,
            2 => Origin::Remote,
            _ => Origin::Unknown,
        },
        tcp_flags: e.tcp_flags,
        icmp_type: e.icmp_type,
        icmp_code: e.icmp_code,
        pid: e.pid,
        drop_reason: e.drop_reason,
        len: e.len,
        cookie: e.cookie,
        cgroup_id: e.cgroup_id,
        counts: FlowCounts {
            packets_sent: e.counts.packets[0],
            packets_received: e.counts.packets[1],
            bytes_sent: e.counts.bytes[0],
            bytes_received: e.counts.bytes[1],
            retransmits: e.counts.retransmits,
            resets: e.counts.resets,
        },
    })
}

/// The kernel's drop reason names by value, read from its BTF (`enum
/// skb_drop_reason`): the numbering changes between kernel versions, the
/// names do not. Names lose their `SKB_DROP_REASON_` prefix.
fn drop_reason_names() -> Result<Vec<(u32, String)>, String> {
    let btf = libbpf_rs::btf::Btf::from_vmlinux().map_err(|e| format!("cannot read the kernel's BTF: {e}"))?;
    let ty = btf
        .type_by_name::<libbpf_rs::btf::types::Enum<'_>>("skb_drop_reason")
        .ok_or("the kernel's BTF has no enum skb_drop_reason")?;
    Ok(ty
        .iter()
        .filter_map(|m| {
            let name = m.name?.to_str()?;
            let name = name.strip_prefix("SKB_DROP_REASON_").unwrap_or(name);
            Some((m.value as u32, name.to_owned()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_unknown_and_bad_family_records_are_errors() {
        let need = size_of::<types::net_event>();
        assert_eq!(decode(&[1, 2, 3]), Err(NetDecodeError::Short { len: 3, need }));
        let mut rec = vec![0u8; need];
        rec[0] = 9;
        assert_eq!(decode(&rec), Err(NetDecodeError::UnknownKind(9)));
        rec[0] = 1;
        assert_eq!(decode(&rec), Err(NetDecodeError::BadFamily(0)));
    }
}
