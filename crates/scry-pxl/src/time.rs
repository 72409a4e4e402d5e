//! PxL's time strings: `'-5m'` relative to the compile's `now`, or an
//! absolute `'2020-07-13 18:02:05.00 +0000'`, as Pixie reads them.

use std::sync::LazyLock;

use regex::Regex;

/// Pixie takes the first `<int><unit>` in the text; compound forms like
/// `1h30m` count only their first part.
static RELATIVE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(-?[0-9]+)(ms|m|s|h|d)").expect("valid regex"));

/// Nanoseconds of a duration string such as `-5m`, or `None` if it is not one.
pub fn parse_duration(text: &str) -> Option<i64> {
    let caps = RELATIVE.captures(text)?;
    let n: i64 = caps[1].parse().ok()?;
    let unit: i64 = match &caps[2] {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => 86_400_000_000_000,
    };
    n.checked_mul(unit)
}

/// Unix nanoseconds of a PxL time string.
pub fn parse_time(text: &str, now_ns: i64) -> Option<i64> {
    if let Some(d) = parse_duration(text) {
        return now_ns.checked_add(d);
    }
    chrono::DateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f %z").ok()?.timestamp_nanos_opt()
}

/// Pixie's rendering of a duration: the largest whole unit, floored (`-5m`).
pub fn format_duration(ns: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
    ];
    for (size, unit) in UNITS {
        if ns.abs() >= size {
            return format!("{}{unit}", ns / size);
        }
    }
    format!("{}ms", ns / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_times() {
        assert_eq!(parse_duration("-5m"), Some(-300_000_000_000));
        assert_eq!(parse_duration("10s"), Some(10_000_000_000));
        assert_eq!(parse_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_duration("-1h30m"), Some(-3_600_000_000_000));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_time("-1s", 5_000_000_000), Some(4_000_000_000));
        assert_eq!(parse_time("2020-07-13 18:02:05.00 +0000", 0), Some(1_594_663_325_000_000_000));
        assert_eq!(parse_time("2020-07-13 18:02:05.5 +0100", 0), Some(1_594_659_725_500_000_000));
        assert_eq!(parse_time("yesterday", 0), None);
        assert_eq!(format_duration(-300_000_000_000), "-5m");
        assert_eq!(format_duration(90_000_000_000), "1m");
    }
}
