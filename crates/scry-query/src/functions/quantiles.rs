//! `quantiles(x)`: Pixie's latency summary, a JSON object
//! `{"p01":..,"p10":..,"p25":..,"p50":..,"p75":..,"p90":..,"p99":..}` of
//! estimates from a t-digest (DataFusion's, as `approx_percentile_cont` uses).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{as_float64_array, as_list_array, as_uint64_array};
use datafusion::common::{ScalarValue, exec_datafusion_err, exec_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};
use datafusion_functions_aggregate_common::tdigest::{Centroid, DEFAULT_MAX_SIZE, TDigest};
use serde::Serialize;

/// The answer's shape; field order is the key order Pixie writes.
#[derive(Serialize)]
struct Summary {
    p01: f64,
    p10: f64,
    p25: f64,
    p50: f64,
    p75: f64,
    p90: f64,
    p99: f64,
}

impl Summary {
    /// An empty digest estimates 0 everywhere, which keeps the JSON free of NaN.
    fn of(d: &TDigest) -> Summary {
        let q = |q| d.estimate_quantile(q);
        Summary { p01: q(0.01), p10: q(0.10), p25: q(0.25), p50: q(0.50), p75: q(0.75), p90: q(0.90), p99: q(0.99) }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Quantiles {
    signature: Signature,
}

pub(super) fn function() -> AggregateUDF {
    AggregateUDF::new_from_impl(Quantiles {
        signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
    })
}

impl AggregateUDFImpl for Quantiles {
    fn name(&self) -> &str {
        "quantiles"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Digest { digest: TDigest::new(DEFAULT_MAX_SIZE), pending: Vec::new() }))
    }

    /// The columns of [`TDigest::to_scalar_state`].
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let f64_field = |part| Arc::new(Field::new(format_state_name(args.name, part), DataType::Float64, false));
        Ok(vec![
            Arc::new(Field::new(format_state_name(args.name, "max_size"), DataType::UInt64, false)),
            f64_field("sum"),
            f64_field("count"),
            f64_field("max"),
            f64_field("min"),
            Arc::new(Field::new_list(
                format_state_name(args.name, "centroids"),
                Field::new_list_field(DataType::Float64, true),
                false,
            )),
        ])
    }
}

/// Values wait in [`Digest::pending`] until there are this many.
const PENDING_MAX: usize = 2048;

#[derive(Debug)]
struct Digest {
    digest: TDigest,
    /// Values not yet in the digest. Grouped, a batch brings each group a few
    /// values; merging a few at a time would cost a digest rebuild each and
    /// lose accuracy, so they are merged in bulk.
    pending: Vec<f64>,
}

impl Digest {
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.pending.sort_unstable_by(f64::total_cmp);
            self.digest = self.digest.merge_sorted_f64(&self.pending);
            self.pending.clear();
        }
    }
}

impl Accumulator for Digest {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [values] = values else { return exec_err!("quantiles takes one argument") };
        // JSON cannot spell NaN or infinity, and one infinity would turn the
        // centroid means around it into NaN.
        self.pending.extend(as_float64_array(values)?.iter().flatten().filter(|v| v.is_finite()));
        if self.pending.len() >= PENDING_MAX {
            self.flush();
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.flush();
        let json = serde_json::to_string(&Summary::of(&self.digest)).map_err(|e| exec_datafusion_err!("{e}"))?;
        Ok(ScalarValue::Utf8(Some(json)))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.digest.size() - size_of_val(&self.digest) + self.pending.capacity() * size_of::<f64>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.flush();
        Ok(self.digest.to_scalar_state())
    }

    /// Reads the state columns directly: `TDigest::from_scalar_state` panics
    /// on bad input, `try_from_parts` reports it.
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [max_size, sum, count, max, min, centroids] = states else {
            return exec_err!("quantiles state has 6 columns, got {}", states.len());
        };
        let max_size = as_uint64_array(max_size)?;
        let [sum, count, max, min] = [sum, count, max, min].map(|a| as_float64_array(a));
        let (sum, count, max, min) = (sum?, count?, max?, min?);
        let centroids = as_list_array(centroids)?;
        if [max_size.len(), sum.len(), count.len(), max.len(), min.len()].iter().any(|&n| n != centroids.len()) {
            return exec_err!("quantiles state columns differ in length");
        }
        let means_and_weights = as_float64_array(centroids.values())?.values();
        let mut digests = Vec::with_capacity(centroids.len() + 1);
        for (i, span) in centroids.offsets().windows(2).enumerate() {
            if centroids.is_null(i) {
                continue;
            }
            let span = means_and_weights
                .get(span[0] as usize..span[1] as usize)
                .ok_or_else(|| exec_datafusion_err!("quantiles state: centroids out of bounds"))?;
            let parts = span.chunks_exact(2).map(|c| Centroid::new(c[0], c[1])).collect();
            digests.push(TDigest::try_from_parts(
                max_size.value(i) as usize,
                sum.value(i),
                count.value(i),
                max.value(i),
                min.value(i),
                parts,
            )?);
        }
        digests.push(std::mem::take(&mut self.digest));
        self.digest = TDigest::merge_digests(&digests);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::Schema;
    use scry_store::{Store, TableConfig};

    use super::*;
    use crate::functions::tests::query;
    use crate::{EngineConfig, QueryEngine};

    fn parse(json: &str) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn summarizes_1_to_1000() {
        let digits = "(VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9))";
        let rows = query(&format!(
            "SELECT quantiles(a.d * 100 + b.d * 10 + c.d + 1) FROM {digits} a(d), {digits} b(d), {digits} c(d)"
        ));
        let json = &rows[0];
        let keys: Vec<&str> = json.split('"').skip(1).step_by(2).collect();
        assert_eq!(keys, ["p01", "p10", "p25", "p50", "p75", "p90", "p99"], "{json}");
        let q = parse(json);
        let p50 = q["p50"].as_f64().unwrap();
        assert!((495.0..=505.0).contains(&p50), "{json}");
        for (key, want) in [("p01", 10.0), ("p10", 100.0), ("p90", 900.0), ("p99", 990.0)] {
            let got = q[key].as_f64().unwrap();
            assert!((got - want).abs() <= 10.0, "{key}: {json}");
        }
    }

    #[test]
    fn nothing_to_summarize_gives_zeros() {
        let zeros = r#"{"p01":0.0,"p10":0.0,"p25":0.0,"p50":0.0,"p75":0.0,"p90":0.0,"p99":0.0}"#;
        let sql = "SELECT quantiles(x) FROM (VALUES (CAST(NULL AS DOUBLE)), (CAST('NaN' AS DOUBLE))) AS t(x)";
        assert_eq!(query(sql), [zeros]);
        assert_eq!(query("SELECT quantiles(x) FROM (VALUES (1.0)) AS t(x) WHERE x > 2"), [zeros]);
        assert_eq!(
            query("SELECT quantiles(x) FROM (VALUES (7)) AS t(x)"),
            [r#"{"p01":7.0,"p10":7.0,"p25":7.0,"p50":7.0,"p75":7.0,"p90":7.0,"p99":7.0}"#]
        );
    }

    /// 100 groups over 40 batches; group `g` holds `g, g + 100, g + 200, ...`.
    fn grouped_store() -> Arc<Store> {
        let store = Arc::new(Store::default());
        let schema = Arc::new(Schema::new(vec![
            Field::new("time_", DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, None), false),
            Field::new("service", DataType::Utf8, false),
            Field::new("latency", DataType::Int64, false),
        ]));
        let table =
            store.create("http_events", schema.clone(), TableConfig { seal_rows: 1, ..Default::default() }).unwrap();
        for b in 0..40 {
            let values: Vec<i64> = (b * 1000..(b + 1) * 1000).collect();
            let services: Vec<String> = values.iter().map(|v| format!("s{:02}", v % 100)).collect();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(arrow::array::TimestampNanosecondArray::from(values.clone())),
                    Arc::new(StringArray::from(services)),
                    Arc::new(Int64Array::from(values)),
                ],
            )
            .unwrap();
            table.append(batch).unwrap();
        }
        store
    }

    fn per_service(partitions: usize) -> BTreeMap<String, serde_json::Map<String, serde_json::Value>> {
        let engine = QueryEngine::new(grouped_store(), EngineConfig { partitions, ..Default::default() });
        let sql = "SELECT service, quantiles(latency) FROM http_events GROUP BY service";
        let out =
            tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(engine.sql(sql, 1000)).unwrap();
        let mut by_service = BTreeMap::new();
        for batch in &out.batches {
            let (services, json) = (batch.column(0), batch.column(1));
            let services = services.as_any().downcast_ref::<StringArray>().unwrap();
            let json = json.as_any().downcast_ref::<StringArray>().unwrap();
            for i in 0..batch.num_rows() {
                by_service.insert(services.value(i).to_owned(), parse(json.value(i)));
            }
        }
        by_service
    }

    #[test]
    fn partial_digests_merge_to_the_single_partition_answer() {
        let (one, two) = (per_service(1), per_service(2));
        assert_eq!(one.len(), 100);
        assert_eq!(one.keys().collect::<Vec<_>>(), two.keys().collect::<Vec<_>>());
        for (service, q) in &one {
            let g: f64 = service[1..].parse().unwrap();
            // The group's values are g + 100 k for k in 0..400; its median is about g + 20 000.
            let p50 = q["p50"].as_f64().unwrap();
            assert!((p50 - (g + 20_000.0)).abs() <= 200.0, "{service}: {q:?}");
            for (key, v) in q {
                let (a, b) = (v.as_f64().unwrap(), two[service][key].as_f64().unwrap());
                assert!((a - b).abs() <= 0.01 * 40_000.0, "{service} {key}: {a} vs {b}");
            }
        }
    }
}
