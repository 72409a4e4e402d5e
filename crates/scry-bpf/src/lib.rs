//! Scry's BPF side: the C programs under `src/bpf/` (compiled by `build.rs`),
//! hook probing, and one typed loader per source.

pub mod probe;
pub mod process;

#[allow(clippy::all, clippy::pedantic)]
mod process_skel {
    include!(concat!(env!("OUT_DIR"), "/process.skel.rs"));
}

#[allow(clippy::all, clippy::pedantic)]
mod probes_skel {
    include!(concat!(env!("OUT_DIR"), "/probes.skel.rs"));
}

pub use libbpf_rs::PrintLevel;

/// Sends libbpf's own messages (verifier logs, attach warnings) to `sink`
/// instead of stderr.
pub fn route_libbpf_messages(sink: fn(PrintLevel, String)) {
    libbpf_rs::set_print(Some((PrintLevel::Debug, sink)));
}
