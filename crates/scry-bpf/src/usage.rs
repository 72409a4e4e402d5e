//! How full a source's ring buffer and maps are, for `scry status` and
//! `/metrics`: a ring that is often near full loses records next, a map at
//! its capacity evicts (LRU) or refuses entries.

use libbpf_rs::{AsRawLibbpf, MapCore, RingBuffer, libbpf_sys};

/// Bytes written to a ring buffer and not read yet, and its size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingFill {
    pub used_bytes: u64,
    pub size_bytes: u64,
}

/// The fill of the first (here: only) ring `ring` reads.
pub fn ring_fill(ring: &RingBuffer<'_>) -> RingFill {
    let rb = ring.as_libbpf_object().as_ptr();
    // SAFETY: `rb` is the live ring_buffer `ring` owns; ring 0 exists once the
    // builder added a map (every reader here adds exactly one), and libbpf
    // returns NULL (checked) for an index it does not have. Both size
    // functions only read the ring's mmapped positions.
    unsafe {
        let r = libbpf_sys::ring_buffer__ring(rb, 0);
        if r.is_null() {
            return RingFill::default();
        }
        RingFill {
            used_bytes: libbpf_sys::ring__avail_data_size(r) as u64,
            size_bytes: libbpf_sys::ring__size(r) as u64,
        }
    }
}

/// Entries in a hash map and its capacity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapFill {
    pub name: String,
    pub entries: u64,
    pub capacity: u64,
}

/// Counts `map`'s entries by walking its keys: one syscall per entry, so
/// callers do it every few seconds, not per drain.
pub fn map_fill(map: &dyn MapCore) -> MapFill {
    MapFill {
        name: map.name().to_string_lossy().into_owned(),
        entries: map.keys().count() as u64,
        capacity: u64::from(map.max_entries()),
    }
}
