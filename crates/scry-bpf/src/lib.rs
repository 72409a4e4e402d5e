//! Scry's BPF side: the C programs under `src/bpf/` (compiled by `build.rs`),
//! hook probing, and one typed loader per source.

pub mod net;
pub mod policy;
pub mod probe;
pub mod process;
pub mod socket;
pub mod syscalls;
pub mod tracefs;
pub mod usage;

#[allow(clippy::all, clippy::pedantic)]
mod process_skel {
    include!(concat!(env!("OUT_DIR"), "/process.skel.rs"));
}

#[allow(clippy::all, clippy::pedantic)]
mod net_skel {
    include!(concat!(env!("OUT_DIR"), "/net.skel.rs"));
}

#[allow(clippy::all, clippy::pedantic)]
mod policy_skel {
    include!(concat!(env!("OUT_DIR"), "/policy.skel.rs"));
}

#[allow(clippy::all, clippy::pedantic)]
mod probes_skel {
    include!(concat!(env!("OUT_DIR"), "/probes.skel.rs"));
}

#[allow(clippy::all, clippy::pedantic)]
mod socket_skel {
    include!(concat!(env!("OUT_DIR"), "/socket.skel.rs"));
}

pub use libbpf_rs::PrintLevel;

/// Counter `idx` of a per-CPU array of u64, summed over the CPUs (0 when
/// it cannot be read).
pub(crate) fn percpu_sum(map: &dyn libbpf_rs::MapCore, idx: u32) -> u64 {
    match map.lookup_percpu(&idx.to_ne_bytes(), libbpf_rs::MapFlags::ANY) {
        Ok(Some(per_cpu)) => {
            per_cpu.iter().map(|v| v.get(..8).map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap_or_default()))).sum()
        }
        _ => 0,
    }
}

/// The address a record carries as (family, 16 bytes; IPv4 in the first 4).
pub(crate) fn ip_of(family: u16, raw: &[u8; 16]) -> Option<std::net::IpAddr> {
    match family {
        2 => Some(std::net::Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]).into()),
        10 => Some(std::net::Ipv6Addr::from(*raw).into()),
        _ => None,
    }
}

/// Copies `bytes` over a zeroed `T`; `T` must be plain old data.
pub(crate) fn read_prefix<T: Copy + Default>(bytes: &[u8]) -> T {
    let mut v = T::default();
    let n = bytes.len().min(size_of::<T>());
    // SAFETY: T is a repr(C) POD type generated from BTF (every bit pattern is
    // valid); at most size_of::<T>() bytes are written into it.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), (&mut v as *mut T).cast::<u8>(), n) };
    v
}

/// Sends libbpf's own messages (verifier logs, attach warnings) to `sink`
/// instead of stderr.
pub fn route_libbpf_messages(sink: fn(PrintLevel, String)) {
    libbpf_rs::set_print(Some((PrintLevel::Debug, sink)));
}
