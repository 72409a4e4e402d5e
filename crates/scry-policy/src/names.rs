//! The kernel's and Tetragon's names for values a policy may spell out:
//! capabilities, protocols, address families, TCP states, file types,
//! namespaces.

use crate::policy::{FileType, Namespace};

/// `CAP_*` by number: the names events print.
pub(crate) use scry_model::caps::NAMES as CAPABILITIES;

pub(crate) const PROTOCOLS: &[(&str, u8)] = &[
    ("IPPROTO_ICMP", 1),
    ("IPPROTO_TCP", 6),
    ("IPPROTO_UDP", 17),
    ("IPPROTO_ICMPV6", 58),
    ("IPPROTO_SCTP", 132),
    ("IPPROTO_UDPLITE", 136),
    ("IPPROTO_RAW", 255),
];

pub(crate) const FAMILIES: &[(&str, u16)] = &[("AF_UNIX", 1), ("AF_INET", 2), ("AF_INET6", 10)];

/// include/net/tcp_states.h.
pub(crate) const TCP_STATES: &[(&str, u8)] = &[
    ("TCP_ESTABLISHED", 1),
    ("TCP_SYN_SENT", 2),
    ("TCP_SYN_RECV", 3),
    ("TCP_FIN_WAIT1", 4),
    ("TCP_FIN_WAIT2", 5),
    ("TCP_TIME_WAIT", 6),
    ("TCP_CLOSE", 7),
    ("TCP_CLOSE_WAIT", 8),
    ("TCP_LAST_ACK", 9),
    ("TCP_LISTEN", 10),
    ("TCP_CLOSING", 11),
    ("TCP_NEW_SYN_RECV", 12),
    ("TCP_BOUND_INACTIVE", 13),
];

pub(crate) const FILE_TYPES: &[(&str, FileType)] = &[
    ("reg", FileType::Regular),
    ("dir", FileType::Directory),
    ("lnk", FileType::Symlink),
    ("sock", FileType::Socket),
    ("blk", FileType::Block),
    ("chr", FileType::Char),
    ("fifo", FileType::Fifo),
];

pub(crate) const NAMESPACES: &[(&str, Namespace)] = &[
    ("Uts", Namespace::Uts),
    ("Ipc", Namespace::Ipc),
    ("Mnt", Namespace::Mnt),
    ("Pid", Namespace::Pid),
    ("PidForChildren", Namespace::PidForChildren),
    ("Net", Namespace::Net),
    ("Time", Namespace::Time),
    ("TimeForChildren", Namespace::TimeForChildren),
    ("Cgroup", Namespace::Cgroup),
    ("User", Namespace::User),
];

/// Looks a name up as Tetragon's parser does for operators and namespaces:
/// spelled as documented, or all in lowercase (`NotDPort`, `notdport`).
pub(crate) fn spelled<T: Copy>(table: &[(&'static str, T)], input: &str) -> Option<T> {
    let lowercase = !input.bytes().any(|b| b.is_ascii_uppercase());
    table.iter().find(|(name, _)| *name == input || (lowercase && name.eq_ignore_ascii_case(input))).map(|&(_, v)| v)
}

/// Looks a name up exactly.
pub(crate) fn exact<T: Copy>(table: &[(&'static str, T)], input: &str) -> Option<T> {
    table.iter().find(|(name, _)| *name == input).map(|&(_, v)| v)
}

/// `a, b, c` for messages.
pub(crate) fn list<T>(table: &[(&'static str, T)]) -> String {
    table.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}
