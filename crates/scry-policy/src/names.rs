//! The kernel's and Tetragon's names for values a policy may spell out:
//! capabilities, protocols, address families, TCP states, file types,
//! namespaces.

use crate::policy::{FileType, Namespace};

/// `CAP_*` by number: the names events print.
pub(crate) use scry_model::caps::NAMES as CAPABILITIES;

pub(crate) use scry_model::socket_names::{FAMILIES, PROTOCOLS, TCP_STATES};

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
