//! The kernel's names for socket numbers, as Tetragon's events print them
//! and its policies spell them.

pub const PROTOCOLS: &[(&str, u8)] = &[
    ("IPPROTO_ICMP", 1),
    ("IPPROTO_TCP", 6),
    ("IPPROTO_UDP", 17),
    ("IPPROTO_ICMPV6", 58),
    ("IPPROTO_SCTP", 132),
    ("IPPROTO_UDPLITE", 136),
    ("IPPROTO_RAW", 255),
];

pub const FAMILIES: &[(&str, u16)] = &[("AF_UNIX", 1), ("AF_INET", 2), ("AF_INET6", 10)];

pub const SOCK_TYPES: &[(&str, u16)] =
    &[("SOCK_STREAM", 1), ("SOCK_DGRAM", 2), ("SOCK_RAW", 3), ("SOCK_RDM", 4), ("SOCK_SEQPACKET", 5)];

/// include/net/tcp_states.h.
pub const TCP_STATES: &[(&str, u8)] = &[
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

/// `v`'s name in `table`, or the number itself when it has none there.
pub fn name<T: Copy + PartialEq + std::fmt::Display>(table: &[(&str, T)], v: T) -> String {
    table.iter().find(|(_, n)| *n == v).map_or_else(|| v.to_string(), |(name, _)| (*name).to_owned())
}

/// A socket's protocol (the kernel's is 16 bits wide: IPPROTO_MPTCP is 262).
pub fn protocol(v: u16) -> String {
    u8::try_from(v).map_or_else(|_| v.to_string(), |p| name(PROTOCOLS, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers_have_names_and_others_stay_numbers() {
        assert_eq!(name(FAMILIES, 10), "AF_INET6");
        assert_eq!(name(PROTOCOLS, 17), "IPPROTO_UDP");
        assert_eq!(protocol(262), "262");
        assert_eq!(name(TCP_STATES, 2), "TCP_SYN_SENT");
        assert_eq!(name(SOCK_TYPES, 1), "SOCK_STREAM");
        assert_eq!(name(FAMILIES, 44), "44");
    }
}
