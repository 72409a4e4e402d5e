//! `bin(x, size)`, `time_to_int64(t)`, `int64_to_time(i)`.
//!
//! Times are `Timestamp(Nanosecond, None)`, nanoseconds since the epoch, so
//! turning them into integers and back loses nothing.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::cast::as_int64_array;
use datafusion::error::Result;
use datafusion::logical_expr::{ScalarUDF, Signature, TypeSignature, Volatility};

use super::scalar::{Arg, Kernel, Returns, one, two, udf};

const TIME: DataType = DataType::Timestamp(TimeUnit::Nanosecond, None);

/// `x` rounded down to a multiple of `size`; `None` only where that multiple
/// is below `i64::MIN`.
fn bin(x: i64, size: i64) -> Option<i64> {
    if size <= 0 {
        return Some(x);
    }
    // `rem_euclid`, not `%`: -1 belongs in [-10, 0), Pixie's bins are floors.
    x.checked_sub(x.rem_euclid(size))
}

#[derive(Debug, PartialEq, Eq, Hash)]
enum Time {
    Bin,
    /// A change of type only; the values stay as they are.
    Cast(DataType),
}

impl Kernel for Time {
    fn eval(&self, args: &[Arg]) -> Result<ArrayRef> {
        match self {
            Time::Cast(to) => Ok(cast(one(args)?, to)?),
            Time::Bin => {
                let (x, size) = two(args)?;
                let values = cast(x, &DataType::Int64)?;
                let (values, sizes) = (as_int64_array(&values)?, as_int64_array(&size.array)?);
                let binned: Int64Array = (0..values.len())
                    .map(|i| {
                        let s = size.row(i);
                        if values.is_null(i) || sizes.is_null(s) { None } else { bin(values.value(i), sizes.value(s)) }
                    })
                    .collect();
                Ok(cast(&(Arc::new(binned) as ArrayRef), x.data_type())?)
            }
        }
    }
}

pub(super) fn functions() -> Vec<ScalarUDF> {
    let exact = |types: Vec<DataType>| Signature::exact(types, Volatility::Immutable);
    let bin_signature = Signature::one_of(
        vec![
            TypeSignature::Exact(vec![DataType::Int64, DataType::Int64]),
            TypeSignature::Exact(vec![TIME, DataType::Int64]),
        ],
        Volatility::Immutable,
    );
    vec![
        udf("bin", bin_signature, Returns::FirstArgument, Time::Bin),
        udf("time_to_int64", exact(vec![TIME]), Returns::Type(DataType::Int64), Time::Cast(DataType::Int64)),
        udf("int64_to_time", exact(vec![DataType::Int64]), Returns::Type(TIME), Time::Cast(TIME)),
    ]
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::query;

    #[test]
    fn bin_floors_integers() {
        let sql = "SELECT bin(x, s) FROM (VALUES (25, 10), (20, 10), (-1, 10), (-10, 10), (0, 10), (7, 0), (7, -3), \
                   (-9223372036854775808, 10), (-9223372036854775808, 8), (NULL, 10), (5, NULL)) AS t(x, s)";
        assert_eq!(
            query(sql),
            ["20", "20", "-10", "-10", "0", "7", "7", "NULL", "-9223372036854775808", "NULL", "NULL"]
        );
    }

    #[test]
    fn bin_keeps_timestamps_timestamps() {
        let sql = "SELECT bin(t, 1000000000), arrow_typeof(bin(t, 1000000000)), time_to_int64(bin(t, 1000)) \
                   FROM (VALUES (int64_to_time(1700000001234567890))) AS v(t)";
        assert_eq!(query(sql), ["2023-11-14T22:13:21|Timestamp(ns)|1700000001234567000"]);
    }

    #[test]
    fn times_and_integers_convert_both_ways() {
        let sql = "SELECT time_to_int64(int64_to_time(i)), int64_to_time(i), arrow_typeof(int64_to_time(i)) \
                   FROM (VALUES (-5), (0), (1700000000000000000), (NULL)) AS t(i)";
        assert_eq!(
            query(sql),
            [
                "-5|1969-12-31T23:59:59.999999995|Timestamp(ns)",
                "0|1970-01-01T00:00:00|Timestamp(ns)",
                "1700000000000000000|2023-11-14T22:13:20|Timestamp(ns)",
                "NULL|NULL|Timestamp(ns)",
            ]
        );
    }
}
