//! Flows as rows of `network_flows`, so the service map and per-pod TCP
//! health are one query away.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, StringBuilder, TimestampNanosecondBuilder};
use scry_model::flow::{Endpoint, Flow, FlowBody, FlowExtensions, FlowResponse, Layer4, Verdict};
use scry_model::tables;
use scry_store::{Store, StoreError, Table, TableConfig};

use crate::tables::Refill;

pub struct FlowTable {
    table: Arc<Table>,
    rows: Rows,
}

impl FlowTable {
    pub fn create(store: &Store, budget_bytes: u64) -> Result<FlowTable, StoreError> {
        let cfg = TableConfig { budget_bytes, ..TableConfig::default() };
        let table = store.create(tables::NETWORK_FLOWS, tables::network_flows(), cfg)?;
        Ok(FlowTable { table, rows: Rows::default() })
    }

    pub fn push(&mut self, response: &FlowResponse) {
        if let FlowBody::Flow(flow) = &response.body {
            self.rows.push(flow, &response.node_name);
        }
    }

    /// Hands the rows pushed since the last flush to the store.
    pub fn flush(&mut self) {
        if self.rows.count > 0 {
            crate::tables::append(&self.table, self.rows.finish());
        }
    }
}

/// One endpoint's columns.
#[derive(Default)]
struct Side {
    addr: StringBuilder,
    port: Int64Builder,
    namespace: StringBuilder,
    pod: StringBuilder,
    workload: StringBuilder,
    identity: Int64Builder,
    names: StringBuilder,
}

impl Side {
    fn push(&mut self, addr: &str, port: u16, ep: Option<&Endpoint>, names: &[String]) {
        self.addr.append_value(addr);
        self.port.append_value(i64::from(port));
        self.namespace.append_value(ep.map_or("", |e| e.namespace.as_str()));
        self.pod.append_value(ep.map_or("", |e| e.pod_name.as_str()));
        self.workload.append_value(ep.and_then(|e| e.workloads.first()).map_or("", |w| w.name.as_str()));
        self.identity.append_value(ep.map_or(0, |e| i64::from(e.identity)));
        self.names.append_value(names.join(","));
    }

    fn finish(&mut self, cols: &mut Vec<ArrayRef>) {
        cols.push(self.addr.finish_refilled());
        cols.push(self.port.finish_refilled());
        cols.push(self.namespace.finish_refilled());
        cols.push(self.pod.finish_refilled());
        cols.push(self.workload.finish_refilled());
        cols.push(self.identity.finish_refilled());
        cols.push(self.names.finish_refilled());
    }
}

#[derive(Default)]
struct Rows {
    count: usize,
    time: TimestampNanosecondBuilder,
    verdict: StringBuilder,
    drop_reason: StringBuilder,
    kernel_drop_reason: StringBuilder,
    flow_type: StringBuilder,
    traffic_direction: StringBuilder,
    is_reply: Int64Builder,
    protocol: StringBuilder,
    tcp_flags: StringBuilder,
    src: Side,
    dst: Side,
    counters: [Int64Builder; 6],
    socket_cookie: Int64Builder,
    http_method: StringBuilder,
    http_url: StringBuilder,
    http_status: Int64Builder,
    latency: Int64Builder,
    summary: StringBuilder,
    node: StringBuilder,
}

impl Rows {
    fn push(&mut self, f: &Flow, node: &str) {
        self.count += 1;
        self.time.append_value(f.time.and_then(|t| t.timestamp_nanos_opt()).unwrap_or_default());
        self.verdict.append_value(f.verdict.name());
        let dropped = f.verdict == Verdict::Dropped;
        self.drop_reason.append_value(if dropped { f.drop_reason_desc.name() } else { "" });
        let none = FlowExtensions::default();
        let ext = f.extensions.as_ref().unwrap_or(&none);
        self.kernel_drop_reason.append_value(&ext.kernel_drop_reason);
        self.flow_type.append_value(f.flow_type.name());
        self.traffic_direction.append_value(f.traffic_direction.name());
        self.is_reply.append_value(f.is_reply.map_or(-1, i64::from));
        self.protocol.append_value(f.l4.as_ref().map_or("", Layer4::protocol));
        let flags = match &f.l4 {
            Some(Layer4::Tcp(t)) => t.flags.map(|fl| fl.names().join(",")).unwrap_or_default(),
            _ => String::new(),
        };
        self.tcp_flags.append_value(flags);
        let (sp, dp) = f.l4.as_ref().and_then(Layer4::ports).unwrap_or_default();
        let ip = f.ip.clone().unwrap_or_default();
        self.src.push(&ip.source, sp, f.source.as_ref(), &f.source_names);
        self.dst.push(&ip.destination, dp, f.destination.as_ref(), &f.destination_names);
        let counts = [
            ext.bytes_sent,
            ext.bytes_received,
            ext.packets_sent,
            ext.packets_received,
            u64::from(ext.retransmits),
            u64::from(ext.resets),
        ];
        for (b, v) in self.counters.iter_mut().zip(counts) {
            b.append_value(i64::try_from(v).unwrap_or(i64::MAX));
        }
        // An id, not an amount: reinterpreted, so distinct cookies stay distinct.
        self.socket_cookie.append_value(f.socket_cookie.cast_signed());
        let l7 = f.l7.as_ref();
        let http = l7.and_then(|l| l.http.as_ref());
        self.http_method.append_value(http.map_or("", |h| h.method.as_str()));
        self.http_url.append_value(http.map_or("", |h| h.url.as_str()));
        self.http_status.append_value(http.map_or(0, |h| i64::from(h.code)));
        self.latency.append_value(l7.map_or(0, |l| i64::try_from(l.latency_ns).unwrap_or(i64::MAX)));
        self.summary.append_value(&f.summary);
        self.node.append_value(node);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        self.count = 0;
        let mut cols: Vec<ArrayRef> = vec![
            self.time.finish_refilled(),
            self.verdict.finish_refilled(),
            self.drop_reason.finish_refilled(),
            self.kernel_drop_reason.finish_refilled(),
            self.flow_type.finish_refilled(),
            self.traffic_direction.finish_refilled(),
            self.is_reply.finish_refilled(),
            self.protocol.finish_refilled(),
            self.tcp_flags.finish_refilled(),
        ];
        self.src.finish(&mut cols);
        self.dst.finish(&mut cols);
        for b in &mut self.counters {
            cols.push(b.finish_refilled());
        }
        cols.push(self.socket_cookie.finish_refilled());
        cols.push(self.http_method.finish_refilled());
        cols.push(self.http_url.finish_refilled());
        cols.push(self.http_status.finish_refilled());
        cols.push(self.latency.finish_refilled());
        cols.push(self.summary.finish_refilled());
        cols.push(self.node.finish_refilled());
        cols
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, RecordBatch};
    use arrow::datatypes::Int64Type;

    use super::*;

    /// The builders follow the schema by position, and Int64 columns next to
    /// each other would take each other's values without a type error.
    #[test]
    fn rows_fill_the_schema_by_name() {
        let flow = Flow {
            socket_cookie: 42,
            extensions: Some(FlowExtensions { bytes_sent: 100, resets: 3, ..FlowExtensions::default() }),
            ..Flow::default()
        };
        let mut rows = Rows::default();
        rows.push(&flow, "node-1");
        let batch = RecordBatch::try_new(tables::network_flows(), rows.finish()).unwrap();
        let int = |name: &str| batch.column_by_name(name).unwrap().as_primitive::<Int64Type>().value(0);
        assert_eq!((int("bytes_sent"), int("resets"), int("socket_cookie")), (100, 3, 42));
    }
}
