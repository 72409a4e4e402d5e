//! The socket data source: loads `socket.bpf.c` (syscall tracepoints), and
//! decodes its records — connection opens and closes, and data chunks with
//! their stream positions.

use std::mem::MaybeUninit;
use std::net::SocketAddr;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject};

use crate::socket_skel::{SocketSkel, SocketSkelBuilder, types};
use crate::{ip_of, percpu_sum, read_prefix};

#[derive(Clone, Debug)]
pub struct SocketSourceConfig {
    /// Ring buffer size in bytes (a power of two).
    pub ring_bytes: u32,
    /// Bytes copied per data record, at most [`DATA_MAX_LIMIT`].
    pub data_max: u32,
}

/// Largest `data_max`, the record's buffer: 16 KiB, the size of the buffers
/// and iovecs servers commonly write, so each fits one record whole.
pub const DATA_MAX_LIMIT: u32 = 16384;

impl Default for SocketSourceConfig {
    fn default() -> Self {
        SocketSourceConfig { ring_bytes: 1 << 24, data_max: DATA_MAX_LIMIT }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SocketLoadError {
    #[error("{0}")]
    Config(String),
    #[error("cannot load the socket tracer: {0}")]
    Load(String),
}

/// Counters the BPF programs keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketCounters {
    pub data_sent: u64,
    pub data_lost: u64,
    pub control_sent: u64,
    pub control_lost: u64,
    /// Messages only partly copied (larger than the chunks allow).
    pub data_truncated: u64,
}

/// The loaded and attached socket programs. Dropping it detaches them.
pub struct SocketSource {
    skel: SocketSkel<'static>,
    _links: Vec<Link>,
    /// Syscall tracepoints this kernel does not have, each with the reason.
    pub missing: Vec<(String, String)>,
}

impl SocketSource {
    pub fn load(cfg: &SocketSourceConfig) -> Result<SocketSource, SocketLoadError> {
        if cfg.data_max == 0 || cfg.data_max > DATA_MAX_LIMIT {
            return Err(SocketLoadError::Config(format!(
                "data size {} is out of range: it must be between 1 and {DATA_MAX_LIMIT} bytes",
                cfg.data_max
            )));
        }
        if !cfg.ring_bytes.is_power_of_two() || cfg.ring_bytes < 4096 {
            return Err(SocketLoadError::Config(format!(
                "ring buffer size {} must be a power of two of at least 4096 bytes",
                cfg.ring_bytes
            )));
        }
        // As in process.rs: the skeleton borrows its storage for the agent's life.
        let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = SocketSkelBuilder::default().open(storage).map_err(|e| SocketLoadError::Load(e.to_string()))?;
        open.maps.events.set_max_entries(cfg.ring_bytes).map_err(|e| SocketLoadError::Load(e.to_string()))?;
        let rodata = open.maps.rodata_data.as_deref_mut().ok_or(SocketLoadError::Load("no .rodata".into()))?;
        rodata.data_max = cfg.data_max;
        rodata.wakeup_bytes = u64::from(cfg.ring_bytes / 4);
        let skel = open.load().map_err(|e| SocketLoadError::Load(e.to_string()))?;
        let (mut links, mut missing) = (Vec::new(), Vec::new());
        for prog in skel.object().progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            match prog.attach() {
                Ok(link) => links.push(link),
                Err(e) => missing.push((name, e.to_string())),
            }
        }
        Ok(SocketSource { skel, _links: links, missing })
    }

    pub fn ring(&self) -> &dyn MapCore {
        &self.skel.maps.events
    }

    /// The hash maps that fill with connections, for their fill in status.
    pub fn maps(&self) -> [&dyn MapCore; 4] {
        let m = &self.skel.maps;
        [&m.conns, &m.disabled, &m.inflight, &m.connecting]
    }

    /// Stops copying data of a connection (bytes are still counted): for
    /// connections user space cannot parse.
    pub fn disable(&self, id: ConnId) -> Result<(), libbpf_rs::Error> {
        let key = types::conn_id { tgid: id.tgid, fd: id.fd, generation: id.generation };
        // SAFETY: conn_id is a repr(C) struct of plain integers without padding.
        let bytes = unsafe {
            std::slice::from_raw_parts((&key as *const types::conn_id).cast::<u8>(), size_of::<types::conn_id>())
        };
        self.skel.maps.disabled.update(bytes, &[1], MapFlags::ANY)
    }

    pub fn counters(&self) -> SocketCounters {
        let sum = |idx: u32| percpu_sum(&self.skel.maps.stats, idx);
        SocketCounters {
            data_sent: sum(0),
            data_lost: sum(1),
            control_sent: sum(2),
            control_lost: sum(3),
            data_truncated: sum(4),
        }
    }
}

/// One connection: the process, its fd, and when the fd became this connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub tgid: u32,
    pub fd: u32,
    pub generation: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Client,
    Server,
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Written by the traced process.
    Egress,
    /// Read by the traced process.
    Ingress,
}

/// Protocol the kernel inferred, numbered as Pixie's `traffic_protocol_t`.
pub mod protocol {
    pub const UNKNOWN: u8 = 0;
    pub const HTTP: u8 = 1;
    pub const MYSQL: u8 = 3;
    pub const PGSQL: u8 = 5;
    pub const DNS: u8 = 6;
    pub const REDIS: u8 = 7;
    /// Inference gave up: only bytes are counted.
    pub const NONE: u8 = 255;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRecord {
    pub id: ConnId,
    pub ts: u64,
    pub role: Role,
    /// `SOCK_STREAM` (1) or `SOCK_DGRAM` (2).
    pub sock_type: u8,
    /// First seen at a read or write (older than the tracer), not at connect/accept.
    pub mid_stream: bool,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseRecord {
    pub id: ConnId,
    pub ts: u64,
    pub role: Role,
    pub protocol: u8,
    pub wr_bytes: u64,
    pub rd_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataRecord {
    pub id: ConnId,
    pub ts: u64,
    pub dir: Direction,
    pub protocol: u8,
    pub role: Role,
    /// Stream position of `data[0]` in this direction.
    pub pos: u64,
    /// Bytes the syscall moved.
    pub msg_size: u32,
    /// The message had more bytes than were copied.
    pub truncated: bool,
    /// Datagrams: the peer named in the syscall.
    pub peer: Option<SocketAddr>,
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketRecord {
    Open(OpenRecord),
    Close(CloseRecord),
    Data(DataRecord),
    /// A live connection's byte totals, sent every 64 KiB it moves (the
    /// fields of a close; nothing is closed).
    Totals(CloseRecord),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SocketDecodeError {
    #[error("empty record")]
    Empty,
    #[error("socket record of kind {kind} is {len} bytes, shorter than its {need}-byte header")]
    Short { kind: u8, len: usize, need: usize },
    #[error("unknown socket record kind {0}")]
    UnknownKind(u8),
    #[error("data record says {data_len} bytes but carries {carried}")]
    BadLength { data_len: u32, carried: usize },
}

fn role(raw: u8) -> Role {
    match raw {
        1 => Role::Client,
        2 => Role::Server,
        _ => Role::Unknown,
    }
}

fn id(raw: &types::conn_id) -> ConnId {
    ConnId { tgid: raw.tgid, fd: raw.fd, generation: raw.generation }
}

fn addr(raw: &types::sock_addr) -> Option<SocketAddr> {
    Some(SocketAddr::new(ip_of(raw.family, &raw.addr)?, raw.port))
}

/// Decodes one ring-buffer record. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<SocketRecord, SocketDecodeError> {
    let kind = *bytes.first().ok_or(SocketDecodeError::Empty)?;
    let need = |n: usize| {
        if bytes.len() < n { Err(SocketDecodeError::Short { kind, len: bytes.len(), need: n }) } else { Ok(()) }
    };
    match kind {
        1 => {
            need(size_of::<types::sock_open_event>())?;
            let e: types::sock_open_event = read_prefix(bytes);
            Ok(SocketRecord::Open(OpenRecord {
                id: id(&e.id),
                ts: e.ts,
                role: role(e.role),
                sock_type: e.sock_type,
                mid_stream: e.flags & 1 != 0,
                local: addr(&e.local),
                remote: addr(&e.remote),
            }))
        }
        2 | 4 => {
            need(size_of::<types::sock_close_event>())?;
            let e: types::sock_close_event = read_prefix(bytes);
            let totals = CloseRecord {
                id: id(&e.id),
                ts: e.ts,
                role: role(e.role),
                protocol: e.protocol,
                wr_bytes: e.wr_bytes,
                rd_bytes: e.rd_bytes,
            };
            Ok(if kind == 2 { SocketRecord::Close(totals) } else { SocketRecord::Totals(totals) })
        }
        3 => {
            let header = std::mem::offset_of!(types::sock_data_event, data);
            need(header)?;
            let e: types::sock_data_event = read_prefix(&bytes[..header]);
            let data = &bytes[header..];
            if data.len() < e.data_len as usize {
                return Err(SocketDecodeError::BadLength { data_len: e.data_len, carried: data.len() });
            }
            Ok(SocketRecord::Data(DataRecord {
                id: id(&e.id),
                ts: e.ts,
                dir: if e.dir == 1 { Direction::Egress } else { Direction::Ingress },
                protocol: e.protocol,
                role: role(e.role),
                pos: e.pos,
                msg_size: e.msg_size,
                truncated: e.flags & 1 != 0,
                peer: addr(&e.peer),
                data: data[..e.data_len as usize].to_vec(),
            }))
        }
        other => Err(SocketDecodeError::UnknownKind(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_unknown_records_are_errors() {
        assert_eq!(decode(&[]), Err(SocketDecodeError::Empty));
        assert!(matches!(decode(&[1, 0, 0]), Err(SocketDecodeError::Short { kind: 1, .. })));
        assert_eq!(decode(&[9]), Err(SocketDecodeError::UnknownKind(9)));
        let header = std::mem::offset_of!(types::sock_data_event, data);
        let mut rec = vec![0u8; header];
        rec[0] = 3;
        let len_at = std::mem::offset_of!(types::sock_data_event, data_len);
        rec[len_at..len_at + 4].copy_from_slice(&10u32.to_ne_bytes());
        assert_eq!(decode(&rec), Err(SocketDecodeError::BadLength { data_len: 10, carried: 0 }));
    }
}
