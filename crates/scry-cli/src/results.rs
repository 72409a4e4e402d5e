//! Prints query results: aligned tables, CSV, or one JSON object per row.

use std::io::Write;

use clap::ValueEnum;
use scry_query::wire::{ResultTable, TableInfo};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

/// Prints a script's outputs, each under its name as Pixie's CLI shows it:
/// a `Table ID:` line before a table or CSV, a `_tableName` key in JSON rows.
pub fn print_outputs(out: &mut impl Write, tables: &[ResultTable], format: Format) -> std::io::Result<()> {
    for (i, t) in tables.iter().enumerate() {
        if format != Format::Json {
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(out, "Table ID: {}", t.name)?;
        }
        print_table(out, t, format, true)?;
    }
    Ok(())
}

pub fn print(out: &mut impl Write, t: &ResultTable, format: Format) -> std::io::Result<()> {
    print_table(out, t, format, false)
}

fn print_table(out: &mut impl Write, t: &ResultTable, format: Format, named: bool) -> std::io::Result<()> {
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    match format {
        Format::Json => {
            for row in &t.rows {
                let name = named.then(|| ("_tableName".to_owned(), Value::String(t.name.clone())));
                let obj: serde_json::Map<String, Value> =
                    name.into_iter().chain(names.iter().zip(row).map(|(n, v)| ((*n).to_owned(), v.clone()))).collect();
                writeln!(out, "{}", Value::Object(obj))?;
            }
        }
        Format::Csv => {
            writeln!(out, "{}", names.iter().map(|n| csv_field(n)).collect::<Vec<_>>().join(","))?;
            for row in &t.rows {
                writeln!(out, "{}", row.iter().map(|v| csv_field(&text(v))).collect::<Vec<_>>().join(","))?;
            }
        }
        Format::Table => {
            let cells: Vec<Vec<String>> = t.rows.iter().map(|r| r.iter().map(text).collect()).collect();
            let widths: Vec<usize> = names
                .iter()
                .enumerate()
                .map(|(i, n)| cells.iter().map(|r| r[i].chars().count()).chain([n.len()]).max().unwrap_or(0))
                .collect();
            let line = |cols: &[String]| {
                let padded: Vec<String> = cols.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
                padded.join("  ").trim_end().to_owned()
            };
            let header: Vec<String> = names.iter().map(|n| n.to_uppercase()).collect();
            writeln!(out, "{}", line(&header))?;
            for r in &cells {
                writeln!(out, "{}", line(r))?;
            }
        }
    }
    if t.truncated {
        eprintln!("scry: {}: more rows matched; showing the first {} (raise --max-rows)", t.name, t.rows.len());
    }
    Ok(())
}

fn time_text(ns: Option<i64>) -> String {
    ns.and_then(|ns| {
        chrono::DateTime::from_timestamp(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000) as u32)
    })
    .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

pub fn print_tables(out: &mut impl Write, tables: &[TableInfo], format: Format) -> std::io::Result<()> {
    if format == Format::Json {
        for t in tables {
            writeln!(out, "{}", serde_json::to_string(t).unwrap_or_default())?;
        }
        return Ok(());
    }
    for t in tables {
        let s = &t.stats;
        writeln!(
            out,
            "{}: {} rows, {} bytes of {} ({} batches), {} .. {}, evicted {} rows",
            s.name,
            s.rows,
            s.bytes,
            s.budget_bytes,
            s.batches,
            time_text(s.oldest_time),
            time_text(s.newest_time),
            s.evicted_rows
        )?;
        for c in &t.columns {
            writeln!(out, "  {:<20} {}", c.name, c.data_type)?;
        }
    }
    Ok(())
}
