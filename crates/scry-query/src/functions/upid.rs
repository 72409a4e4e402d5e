//! `upid_to_pid`, `upid_to_asid`, `upid_to_start_ts`: the parts a UPID is made
//! of, read back from its text.
//!
//! A UPID is 128 bits shown like a UUID, `{:08x}-{:04x}-{:04x}-{:04x}-{:012x}`:
//! the high 64 bits are `asid << 32 | pid`, the low 64 the process's start
//! time in clock ticks. Text not of that shape gives null.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array};
use arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::error::Result;
use datafusion::logical_expr::{ScalarUDF, Volatility};

use super::scalar::{Arg, Kernel, family, one};

/// The (high, low) 64-bit halves of a UPID's text.
pub(super) fn decode(upid: &str) -> Option<(u64, u64)> {
    let mut groups = upid.split('-');
    let mut value = 0u128;
    for width in [8, 4, 4, 4, 12] {
        let group = groups.next()?;
        // `from_str_radix` alone would take a sign or the wrong width.
        if group.len() != width || !group.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        value = value << (4 * width) | u128::from(u64::from_str_radix(group, 16).ok()?);
    }
    if groups.next().is_some() {
        return None;
    }
    Some(((value >> 64) as u64, value as u64))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Part {
    Pid,
    Asid,
    StartTs,
}

impl Part {
    fn of(self, (high, low): (u64, u64)) -> i64 {
        match self {
            Part::Pid => i64::from(high as u32),
            Part::Asid => (high >> 32) as i64,
            // Pixie hands back the low 64 bits as they are.
            Part::StartTs => low as i64,
        }
    }
}

impl Kernel for Part {
    fn eval(&self, args: &[Arg]) -> Result<ArrayRef> {
        let upids = as_string_array(one(args)?)?;
        Ok(Arc::new(upids.iter().map(|u| u.and_then(decode).map(|u| self.of(u))).collect::<Int64Array>()))
    }
}

pub(super) fn functions() -> Vec<ScalarUDF> {
    let parts = [("upid_to_pid", Part::Pid), ("upid_to_asid", Part::Asid), ("upid_to_start_ts", Part::StartTs)];
    family(&[DataType::Utf8], Volatility::Immutable, parts.map(|(name, part)| (name, part, DataType::Int64)))
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::query;

    /// What `scry_model::tables::upid(1, 4242, 123456)` writes: high = 1 << 32 | 0x1092, low = 0x1e240.
    const UPID: &str = "00000001-0000-1092-0000-00000001e240";

    #[test]
    fn decodes_what_the_model_writes() {
        assert_eq!(super::decode(UPID), Some(((1 << 32) | 4242, 123456)));
        let sql = format!(
            "SELECT upid_to_pid(u), upid_to_asid(u), upid_to_start_ts(u) FROM (VALUES ('{UPID}'), \
             ('ffffffff-ffff-ffff-ffff-ffffffffffff'), ('nope'), (NULL)) AS t(u)"
        );
        assert_eq!(query(&sql), ["4242|1|123456", "4294967295|4294967295|-1", "NULL|NULL|NULL", "NULL|NULL|NULL",]);
    }

    #[test]
    fn malformed_text_is_not_a_upid() {
        for bad in [
            "",
            "00000001-0000-1092-0000",
            "00000001-0000-1092-0000-00000001e240-00",
            "0000001-00000-1092-0000-00000001e240",
            "+0000001-0000-1092-0000-00000001e240",
            "0000000g-0000-1092-0000-00000001e240",
            "00000001-0000-1092-0000-00000001e24é",
        ] {
            assert_eq!(super::decode(bad), None, "{bad}");
        }
    }
}
