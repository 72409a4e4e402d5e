//! Hubble's `DropReason` values that a kernel drop maps onto, and the mapping
//! from the kernel's own reason (`enum skb_drop_reason`, read by name from the
//! running kernel's BTF because its numbers change between kernel versions).

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! drop_reasons {
    ($($variant:ident = $value:literal, $name:literal, $text:literal;)*) => {
        /// A subset of Hubble's `DropReason` enum: the values a kernel drop
        /// reason has a true equivalent in. Anything else stays
        /// `DROP_REASON_UNKNOWN`, with the kernel's name in the flow's extensions.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum DropReason {
            #[default]
            #[serde(rename = "DROP_REASON_UNKNOWN")]
            Unknown,
            $(#[serde(rename = $name)] $variant,)*
        }

        impl DropReason {
            pub const ALL: &[DropReason] = &[DropReason::Unknown, $(DropReason::$variant,)*];

            /// The datapath code Hubble puts in the deprecated `drop_reason`.
            pub fn code(self) -> u32 {
                match self {
                    DropReason::Unknown => 0,
                    $(DropReason::$variant => $value,)*
                }
            }

            /// The enum name, as JSON and `--drop-reason-desc` spell it.
            pub fn name(self) -> &'static str {
                match self {
                    DropReason::Unknown => "DROP_REASON_UNKNOWN",
                    $(DropReason::$variant => $name,)*
                }
            }

            /// The text Hubble's compact output prints.
            pub fn text(self) -> &'static str {
                match self {
                    DropReason::Unknown => "Unknown",
                    $(DropReason::$variant => $text,)*
                }
            }
        }
    };
}

drop_reasons! {
    InvalidSourceIp = 132, "INVALID_SOURCE_IP", "Invalid source ip";
    PolicyDenied = 133, "POLICY_DENIED", "Policy denied";
    InvalidPacketDropped = 134, "INVALID_PACKET_DROPPED", "Invalid packet";
    UnsupportedL3Protocol = 139, "UNSUPPORTED_L3_PROTOCOL", "Unsupported L3 protocol";
    UnknownL4Protocol = 142, "UNKNOWN_L4_PROTOCOL", "Unknown L4 protocol";
    UnknownL3TargetAddress = 150, "UNKNOWN_L3_TARGET_ADDRESS", "Unknown L3 target address";
    InvalidIpv6ExtensionHeader = 156, "INVALID_IPV6_EXTENSION_HEADER", "Invalid IPv6 extension header";
    FibLookupFailed = 169, "FIB_LOOKUP_FAILED", "FIB lookup failed";
    SocketLookupFailed = 178, "SOCKET_LOOKUP_FAILED", "Socket lookup failed";
    TtlExceeded = 196, "TTL_EXCEEDED", "TTL exceeded";
}

impl DropReason {
    /// Maps a kernel reason name (`NETFILTER_DROP`, with or without the
    /// `SKB_DROP_REASON_` prefix) onto Hubble's list.
    pub fn from_kernel(name: &str) -> DropReason {
        match name.strip_prefix("SKB_DROP_REASON_").unwrap_or(name) {
            // An nftables/iptables rule said DROP: the policy of this node.
            "NETFILTER_DROP" => DropReason::PolicyDenied,
            // No socket listens (closed port): TCP answers with a reset.
            "NO_SOCKET" => DropReason::SocketLookupFailed,
            "PKT_TOO_SMALL" | "IP_INHDR" | "IP_CSUM" | "TCP_CSUM" | "UDP_CSUM" | "ICMP_CSUM" | "HDR_TRUNC" => {
                DropReason::InvalidPacketDropped
            }
            "IP_NOPROTO" => DropReason::UnknownL4Protocol,
            "UNHANDLED_PROTO" => DropReason::UnsupportedL3Protocol,
            "IP_RPFILTER" | "IP_LOCAL_SOURCE" | "IP_INVALID_SOURCE" => DropReason::InvalidSourceIp,
            "IP_INADDRERRORS" | "IP_OUTADDRERRORS" => DropReason::UnknownL3TargetAddress,
            "IP_OUTNOROUTES" | "IP_INNOROUTES" => DropReason::FibLookupFailed,
            "IPV6_BAD_EXTHDR" => DropReason::InvalidIpv6ExtensionHeader,
            "IP_TTL_EXCEEDED" | "TTL_EXPIRED" => DropReason::TtlExceeded,
            _ => DropReason::Unknown,
        }
    }

    /// Case-insensitive enum name, as `--drop-reason-desc` takes it.
    pub fn parse(s: &str) -> Option<DropReason> {
        let up = s.trim().to_ascii_uppercase();
        DropReason::ALL.iter().copied().find(|r| r.name() == up)
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_map_with_or_without_prefix() {
        assert_eq!(DropReason::from_kernel("SKB_DROP_REASON_NETFILTER_DROP"), DropReason::PolicyDenied);
        assert_eq!(DropReason::from_kernel("NO_SOCKET"), DropReason::SocketLookupFailed);
        assert_eq!(DropReason::from_kernel("TCP_OLD_ACK"), DropReason::Unknown);
        assert_eq!(DropReason::PolicyDenied.code(), 133);
        assert_eq!(DropReason::PolicyDenied.text(), "Policy denied");
        assert_eq!(serde_json::to_string(&DropReason::PolicyDenied).unwrap(), "\"POLICY_DENIED\"");
        assert_eq!(DropReason::parse("policy_denied"), Some(DropReason::PolicyDenied));
    }
}
