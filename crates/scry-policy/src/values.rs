//! Parsers for the scalar values a policy writes as strings: integers,
//! ports, addresses, named constants, rate limits, Kubernetes names. Each
//! returns the reason on failure; the caller adds the path.

use crate::limits::MAX_RATE_LIMIT_MS;
use crate::names;
use crate::policy::{Capability, IntType, IntValue, PortRange};
use ipnet::IpNet;
use std::net::IpAddr;
use std::time::Duration;

/// An integer as Tetragon writes them (Go's `ParseInt` with base 0): decimal,
/// `0x` hex, a leading `0` for octal, optionally signed.
pub(crate) fn integer(text: &str) -> Option<i128> {
    let (negative, magnitude) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (digits, radix) = if let Some(hex) = magnitude.strip_prefix("0x").or_else(|| magnitude.strip_prefix("0X")) {
        (hex, 16)
    } else if magnitude.len() > 1 && magnitude.starts_with('0') {
        (&magnitude[1..], 8)
    } else {
        (magnitude, 10)
    };
    // from_str_radix would take a second sign.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let value = i128::from(u64::from_str_radix(digits, radix).ok()?);
    Some(if negative { -value } else { value })
}

/// An integer that fits `ty`.
pub(crate) fn int_value(text: &str, ty: IntType) -> Result<IntValue, String> {
    let Some(value) = integer(text) else {
        return Err(format!("{text:?} is not an integer (decimal, 0x hex or 0-prefixed octal)"));
    };
    let (signed, bits) = match ty {
        IntType::S8 => (true, 8),
        IntType::U8 => (false, 8),
        IntType::S16 => (true, 16),
        IntType::U16 => (false, 16),
        IntType::S32 => (true, 32),
        IntType::U32 => (false, 32),
        IntType::S64 => (true, 64),
        IntType::U64 | IntType::SizeT => (false, 64),
    };
    let (min, max) =
        if signed { (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1) } else { (0, (1i128 << bits) - 1) };
    if value < min || value > max {
        return Err(format!("{text:?} is out of range for {} ({min} to {max})", ty.name()));
    }
    // In range, so the conversions cannot fail.
    Ok(if signed { IntValue::Signed(value as i64) } else { IntValue::Unsigned(value as u64) })
}

pub(crate) fn capability(text: &str) -> Option<Capability> {
    names::CAPABILITIES.iter().position(|name| *name == text).map(|n| Capability(n as u8))
}

/// A capability value of a `capability` argument: `CAP_*` or its number.
pub(crate) fn capability_number(text: &str) -> Result<IntValue, String> {
    if let Some(cap) = capability(text) {
        return Ok(IntValue::Unsigned(u64::from(cap.number())));
    }
    match integer(text) {
        Some(n) if (0..names::CAPABILITIES.len() as i128).contains(&n) => Ok(IntValue::Unsigned(n as u64)),
        _ => Err(format!("{text:?} is not a capability (CAP_* name or 0-{})", names::CAPABILITIES.len() - 1)),
    }
}

/// `80` or `1024:65535` (inclusive).
pub(crate) fn port_range(text: &str) -> Result<PortRange, String> {
    let bad = || format!("{text:?} is not a port (0-65535) or a port range low:high");
    let port = |part: &str| if part.bytes().all(|b| b.is_ascii_digit()) { part.parse::<u16>().ok() } else { None };
    let (low, high) = match text.split_once(':') {
        Some((low, high)) => (port(low).ok_or_else(bad)?, port(high).ok_or_else(bad)?),
        None => {
            let p = port(text).ok_or_else(bad)?;
            (p, p)
        }
    };
    if low > high {
        return Err(format!("{text:?}: range starts above its end"));
    }
    Ok(PortRange { low, high })
}

/// An IPv4/IPv6 address or CIDR. Host bits of a CIDR are cleared
/// (`10.1.2.3/8` matches as `10.0.0.0/8`, as upstream does).
pub(crate) fn network(text: &str) -> Result<IpNet, String> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{text:?} is not an IP address or CIDR (10.0.0.0/8, fd00::/8, 127.0.0.1)"))
}

/// A named constant from `table`, or a number that fits `T`.
pub(crate) fn named_number<T: Copy + TryFrom<i128>>(
    text: &str,
    table: &[(&'static str, T)],
    what: &str,
) -> Result<T, String> {
    if let Some(value) = names::exact(table, text) {
        return Ok(value);
    }
    integer(text)
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("{text:?} is not a {what} ({} or a number)", names::list(table)))
}

/// `rateLimit`: a count of seconds, optionally with unit `s`, `m` or `h`
/// (`"30"`, `"30s"`, `"5m"`, `"1h"`); must be above zero and fit 32-bit
/// milliseconds.
pub(crate) fn rate_limit(text: &str) -> Result<Duration, String> {
    let (digits, unit_seconds) = match text.as_bytes().last() {
        Some(b's' | b'S') => (&text[..text.len() - 1], 1),
        Some(b'm' | b'M') => (&text[..text.len() - 1], 60),
        Some(b'h' | b'H') => (&text[..text.len() - 1], 3600),
        _ => (text, 1),
    };
    let count = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<u64>().ok()
    } else {
        None
    };
    let Some(count) = count else {
        return Err(format!("{text:?} is not a duration (a number of seconds, or with unit s, m or h: \"5m\")"));
    };
    let ms = count.checked_mul(unit_seconds * 1000).filter(|ms| *ms <= MAX_RATE_LIMIT_MS);
    match ms {
        Some(0) => Err(format!("{text:?}: the window must be longer than zero")),
        Some(ms) => Ok(Duration::from_millis(ms)),
        None => Err(format!("{text:?} is longer than {MAX_RATE_LIMIT_MS} ms (about 49 days)")),
    }
}

/// A DNS-1123 label (a namespace name): lowercase letters, digits and `-`,
/// alphanumeric at both ends, at most 63 characters.
fn dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Kubernetes object names (a policy's name): DNS-1123 labels joined by
/// dots, at most 253 characters. The name also names the policy's BPF
/// objects and appears in every event, so it is held to that syntax here too.
pub(crate) fn object_name(name: &str) -> Result<(), String> {
    if name.len() <= 253 && name.split('.').all(dns_label) {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid name (lowercase letters, digits, '-' and '.', starting and ending \
             alphanumeric, at most 253 characters)"
        ))
    }
}

pub(crate) fn namespace_name(name: &str) -> Result<(), String> {
    if dns_label(name) {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid namespace (lowercase letters, digits and '-', starting and ending \
             alphanumeric, at most 63 characters)"
        ))
    }
}
