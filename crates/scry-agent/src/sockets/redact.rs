//! Redaction of protocol rows before they are written, in the spirit of
//! Pixie's `PIIRestricted` mode: the values a request or response carries
//! never reach the store, while what makes a row useful to look at (which
//! endpoint, which statement, which key, how it went) stays.
//!
//! [`redact`] rewrites a row's protocol cells in place (the order of
//! `tables.rs`' `IntoRow` impls). Per table:
//!
//! - `http_events`: header values of `Authorization`, `Proxy-Authorization`,
//!   `Cookie`, `Set-Cookie` and of every header whose lower-case name
//!   contains `token`, `secret`, `password`, `api-key`, `apikey`, `session`
//!   or `auth` become `<redacted>` (names, order and the `[TRUNCATED]` count
//!   stay); each non-empty query-string value of `req_path` becomes
//!   `<redacted>`; a JSON body keeps its structure, keys, `true`/`false`/
//!   `null`, and every string and number becomes `"<redacted>"` (compact
//!   output); any other non-empty body becomes `<redacted: N bytes>` (N the
//!   bytes captured; a cut body keeps its `... [TRUNCATED]` marker after
//!   it); the parser's placeholders (`<removed: …>`, `<Failed to gunzip
//!   body>`) stay.
//! - `pgsql_events`: SQL in `req` is normalized (literals → `$n`);
//!   Bind/Execute rows keep `query=[<normalized>] params=[<redacted>]`;
//!   Describe/Close/Sync rows stay; Startup rows stay but for parameters
//!   named like a secret; anything else non-empty (Password Message …), and
//!   SQL that does not normalize, becomes `<redacted>`. In the `resp` of
//!   Query/Execute rows each result set keeps its column header, command tag
//!   or error, and its data rows become one `<redacted: N rows>` line.
//! - `mysql_events`: COM_QUERY / COM_STMT_PREPARE bodies are normalized
//!   (literals → `?`), COM_STMT_EXECUTE's bound values become
//!   `[params: <redacted>]`; database and table names (COM_INIT_DB,
//!   COM_FIELD_LIST, COM_CREATE_DB, COM_DROP_DB) stay; other non-empty
//!   bodies become `<redacted>`. `resp_body` stays: it only holds counts,
//!   OK info and error texts, never row values.
//! - `redis_events`: in `req_args`, values of identifier arguments (`key`,
//!   `newkey`, `source`, `destination`, `channel`, `shardchannel`,
//!   `pattern`, `field`, `parameter`, and the `options` / `condition`
//!   flags) stay, every other value becomes `"<redacted>"`; an argument
//!   array is redacted whole unless the command takes only keys (`MGET`,
//!   `DEL`, …). `resp` keeps `OK`, `QUEUED`, `PONG`, `RESET`, `<NULL>`,
//!   errors (`-ERR …`, minus the arguments an unknown-command error
//!   repeats) and integers of commands that reply with one; anything else
//!   (bulk strings, arrays, and numbers that may be a bulk string) becomes
//!   `<redacted>`.
//! - `dns_events`: unchanged.
//!
//! Where a text cannot be told apart (a line that may be a header or a row,
//! a number that may be a value), it is redacted. Nothing here panics on any
//! input: cells of an unexpected kind or count are left as they are.

use std::fmt;

use scry_protocols::http::{GUNZIP_FAILED_BODY, NON_TEXT_BODY, UNKNOWN_TYPE_BODY};
use scry_protocols::redis::NULL_TEXT;
use scry_query::functions::{normalize_mysql, normalize_pgsql};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::tables::{Cell, ProtoTable};

/// What replaces a value.
pub const REDACTED: &str = "<redacted>";
/// What `scry_protocols::truncate` appends to a cut text.
const CUT: &str = "... [TRUNCATED]";

/// Positions of the protocol cells rewritten, per table (see `IntoRow`).
mod col {
    pub const HTTP_REQ_HEADERS: usize = 3;
    pub const HTTP_REQ_PATH: usize = 5;
    pub const HTTP_REQ_BODY: usize = 6;
    pub const HTTP_RESP_HEADERS: usize = 8;
    pub const HTTP_RESP_BODY: usize = 11;
    /// pgsql and redis: `req_cmd`, then `req` / `req_args`, then `resp`.
    pub const CMD: usize = 0;
    pub const REQ: usize = 1;
    pub const RESP: usize = 2;
}

/// Rewrites the protocol cells of one `table` row so that they carry no
/// values (see the module documentation for the policy).
pub fn redact(table: ProtoTable, cells: &mut [Cell]) {
    match table {
        ProtoTable::Http => {
            edit(cells, col::HTTP_REQ_HEADERS, headers);
            edit(cells, col::HTTP_REQ_PATH, query_string);
            edit(cells, col::HTTP_REQ_BODY, body);
            edit(cells, col::HTTP_RESP_HEADERS, headers);
            edit(cells, col::HTTP_RESP_BODY, body);
        }
        ProtoTable::Pgsql => {
            let cmd = text(cells, col::CMD);
            edit(cells, col::REQ, |req| pgsql_req(&cmd, req));
            edit(cells, col::RESP, |resp| pgsql_resp(&cmd, resp));
        }
        ProtoTable::Mysql => {
            let cmd = match cells.get(col::CMD) {
                Some(Cell::Int(cmd)) => *cmd,
                _ => -1,
            };
            edit(cells, col::REQ, |req| mysql_req(cmd, req));
        }
        ProtoTable::Redis => {
            let cmd = text(cells, col::CMD);
            edit(cells, col::REQ, |args| redis_args(&cmd, args));
            edit(cells, col::RESP, |resp| redis_resp(&cmd, resp));
        }
        ProtoTable::Dns => {}
    }
}

fn text(cells: &[Cell], i: usize) -> String {
    match cells.get(i) {
        Some(Cell::Text(text)) => text.clone(),
        _ => String::new(),
    }
}

fn edit(cells: &mut [Cell], i: usize, f: impl FnOnce(&str) -> String) {
    if let Some(Cell::Text(text)) = cells.get_mut(i) {
        *text = f(text);
    }
}

// ---- http_events ----

/// Header names (lower case) whose values are credentials, and the words
/// that make any name one.
const SECRET_NAMES: [&str; 4] = ["authorization", "proxy-authorization", "cookie", "set-cookie"];
const SECRET_WORDS: [&str; 7] = ["token", "secret", "password", "api-key", "apikey", "session", "auth"];

fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAMES.contains(&name.as_str()) || SECRET_WORDS.iter().any(|word| name.contains(word))
}

fn headers(json: &str) -> String {
    match parse(json) {
        Some(Json::Object(members)) => Json::Object(
            members
                .into_iter()
                .map(|(name, value)| {
                    let value = if is_secret_name(&name) { Json::redacted() } else { value };
                    (name, value)
                })
                .collect(),
        )
        .to_string(),
        _ if json.is_empty() => String::new(),
        _ => REDACTED.to_owned(),
    }
}

/// `/a?x=1&y&z=` → `/a?x=<redacted>&y&z=`.
fn query_string(path: &str) -> String {
    let Some((path, query)) = path.split_once('?') else { return path.to_owned() };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((name, value)) if !value.is_empty() => format!("{name}={REDACTED}"),
            _ => param.to_owned(),
        })
        .collect();
    format!("{path}?{}", params.join("&"))
}

fn body(text: &str) -> String {
    if text.is_empty() || [NON_TEXT_BODY, UNKNOWN_TYPE_BODY, GUNZIP_FAILED_BODY].contains(&text) {
        return text.to_owned();
    }
    match (parse(text), text.strip_suffix(CUT)) {
        (Some(json), _) => json.leaves_redacted().to_string(),
        (None, Some(kept)) => format!("<redacted: {} bytes>{CUT}", kept.len()),
        (None, None) => format!("<redacted: {} bytes>", text.len()),
    }
}

// ---- pgsql_events ----

fn pgsql_req(cmd: &str, req: &str) -> String {
    match cmd {
        "Query" | "Parse" => normalize_pgsql(req, cmd).map_or_else(|_| REDACTED.to_owned(), |n| n.query),
        "Bind" | "Execute" => pgsql_execution(cmd, req),
        "Describe" | "Close" | "Sync" => req.to_owned(),
        "Startup" => startup(req),
        _ if req.is_empty() => String::new(),
        _ => REDACTED.to_owned(),
    }
}

/// `query=[<statement>] params=[<values>]`, or, cut inside the statement,
/// `query=[<statement>... [TRUNCATED]`.
fn pgsql_execution(cmd: &str, req: &str) -> String {
    let normalized = normalize_pgsql(req, cmd);
    let Some((statement, values)) = req.split_once("] params=[") else {
        return normalized.map_or_else(|_| REDACTED.to_owned(), |n| format!("query=[{}", n.query));
    };
    let values = if values == "]" { "" } else { REDACTED };
    match normalized {
        Ok(n) => format!("query=[{}] params=[{values}]", n.query),
        // A statement prepared before tracing began: its name only.
        Err(_) if statement.starts_with("query=[[unknown ") => format!("{statement}] params=[{values}]"),
        Err(_) => REDACTED.to_owned(),
    }
}

/// `user=app database=shop password=x` → `… password=<redacted>`.
fn startup(params: &str) -> String {
    let params: Vec<String> = params
        .split(' ')
        .map(|param| match param.split_once('=') {
            Some((name, _)) if is_secret_name(name) => format!("{name}={REDACTED}"),
            _ => param.to_owned(),
        })
        .collect();
    params.join(" ")
}

/// First words of PostgreSQL's command tags (CommandComplete), and of the
/// parser's `EMPTY QUERY` / `PORTAL SUSPENDED`.
#[rustfmt::skip]
const TAG_WORDS: [&str; 49] = [
    "ALTER", "ANALYZE", "BEGIN", "CALL", "CHECKPOINT", "CLOSE", "CLUSTER", "COMMENT", "COMMIT", "COPY", "CREATE",
    "DEALLOCATE", "DECLARE", "DELETE", "DISCARD", "DO", "DROP", "EMPTY", "EXECUTE", "EXPLAIN", "FETCH", "GRANT",
    "IMPORT", "INSERT", "LISTEN", "LOAD", "LOCK", "MERGE", "MOVE", "NOTIFY", "PORTAL", "PREPARE", "REASSIGN",
    "REFRESH", "REINDEX", "RELEASE", "RESET", "REVOKE", "ROLLBACK", "SAVEPOINT", "SECURITY", "SELECT", "SET",
    "SHOW", "START", "TRUNCATE", "UNLISTEN", "UPDATE", "VACUUM",
];

/// `resp` of Query and Execute rows: result sets of `[header] rows… [... N
/// more rows] end`, where `end` is a command tag or an error (see
/// `scry_protocols::pgsql`). Other commands' `resp` holds no values.
fn pgsql_resp(cmd: &str, resp: &str) -> String {
    if resp.is_empty() || matches!(cmd, "Parse" | "Bind" | "Describe" | "Close" | "Sync" | "Startup") {
        return resp.to_owned();
    }
    let (text, cut) = resp.strip_suffix(CUT).map_or((resp, false), |text| (text, true));
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    let mut set = Vec::new();
    for (i, line) in lines.iter().copied().enumerate() {
        // A cut last line is only trusted to be an error.
        let partial = cut && i + 1 == lines.len();
        if line.starts_with("ERROR RESPONSE [") || (!partial && is_command_tag(line)) {
            result_set(&set, Some(line), cmd == "Query", &mut out);
            set.clear();
        } else {
            set.push(line);
        }
    }
    result_set(&set, None, cmd == "Query", &mut out);
    let mut text = out.join("\n");
    if cut {
        text.push_str(CUT);
    }
    text
}

fn is_command_tag(line: &str) -> bool {
    let words: Vec<&str> = line.split(' ').collect();
    let numbers = words.iter().rev().take_while(|w| is_digits(w)).count();
    let names = &words[..words.len() - numbers];
    names.first().is_some_and(|first| TAG_WORDS.contains(first))
        && names.iter().all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_uppercase()))
        && numbers <= 2
}

fn is_digits(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit())
}

/// One result set: `lines` before its `end` (none when the text was cut).
/// The first line is the column header when the tag's row count says so
/// (`SELECT 2` after three lines); without a count, in a simple Query, whose
/// rows always follow their header. Otherwise every line counts as a row.
fn result_set(lines: &[&str], end: Option<&str>, query: bool, out: &mut Vec<String>) {
    let more = lines.last().and_then(|line| line.strip_prefix("... ")?.strip_suffix(" more rows")?.parse().ok());
    let shown = lines.len() - usize::from(more.is_some());
    let more: usize = more.unwrap_or(0);
    let count = end.and_then(|end| end.rsplit_once(' ')).and_then(|(_, n)| n.parse::<usize>().ok());
    let header = match count {
        Some(count) => count.checked_sub(more).is_some_and(|listed| listed > 0 && shown.checked_sub(1) == Some(listed)),
        None => query && shown > 0 && shown.saturating_add(more) > 1,
    };
    let rows = (shown - usize::from(header)).saturating_add(more);
    if let (true, Some(first)) = (header, lines.first()) {
        out.push((*first).to_owned());
    }
    if rows > 0 {
        out.push(format!("<redacted: {rows} rows>"));
    }
    out.extend(end.map(str::to_owned));
}

// ---- mysql_events ----

const COM_INIT_DB: i64 = 0x02;
const COM_QUERY: i64 = 0x03;
const COM_FIELD_LIST: i64 = 0x04;
const COM_CREATE_DB: i64 = 0x05;
const COM_DROP_DB: i64 = 0x06;
const COM_STMT_PREPARE: i64 = 0x16;
const COM_STMT_EXECUTE: i64 = 0x17;

fn mysql_req(cmd: i64, body: &str) -> String {
    match cmd {
        COM_QUERY | COM_STMT_PREPARE => normalize_mysql(body, cmd).map_or_else(|_| REDACTED.to_owned(), |n| n.query),
        // A statement prepared before tracing began: its id only.
        COM_STMT_EXECUTE if body.strip_prefix("Execute stmt_id=").is_some_and(is_digits) => body.to_owned(),
        COM_STMT_EXECUTE => match normalize_mysql(body, cmd) {
            Ok(n) if body.contains(" [params: ") => format!("{} [params: {REDACTED}]", n.query),
            Ok(n) => n.query,
            Err(_) => REDACTED.to_owned(),
        },
        COM_INIT_DB | COM_FIELD_LIST | COM_CREATE_DB | COM_DROP_DB => body.to_owned(),
        _ if body.is_empty() => String::new(),
        _ => REDACTED.to_owned(),
    }
}

// ---- redis_events ----

/// Argument names (`scry_protocols::redis` command forms) whose values name
/// things rather than hold data.
#[rustfmt::skip]
const IDENTIFIERS: [&str; 11] = [
    "key", "newkey", "source", "destination", "channel", "shardchannel", "pattern", "field", "parameter", "options",
    "condition",
];

/// Commands whose arguments are all keys, kept when they come as an array.
const KEYS_ONLY: [&str; 10] =
    ["DEL", "EXISTS", "MGET", "PFCOUNT", "SDIFF", "SINTER", "SUNION", "TOUCH", "UNLINK", "WATCH"];

/// Commands that reply with an integer (a count, a flag, a TTL, a counter),
/// where a bulk string could not be one.
#[rustfmt::skip]
const INTEGER_REPLIES: [&str; 48] = [
    "APPEND", "BITCOUNT", "DBSIZE", "DECR", "DECRBY", "DEL", "EXISTS", "EXPIRE", "EXPIREAT", "GETBIT", "HDEL",
    "HEXISTS", "HINCRBY", "HLEN", "HSET", "HSETNX", "HSTRLEN", "INCR", "INCRBY", "LINSERT", "LLEN", "LPUSH",
    "LPUSHX", "LREM", "MSETNX", "PERSIST", "PEXPIRE", "PEXPIREAT", "PFADD", "PFCOUNT", "PTTL", "PUBLISH", "RENAMENX",
    "RPUSH", "RPUSHX", "SADD", "SCARD", "SETBIT", "SETNX", "SETRANGE", "SISMEMBER", "SPUBLISH", "SREM", "STRLEN",
    "TOUCH", "TTL", "UNLINK", "ZCARD",
];

fn redis_args(cmd: &str, args: &str) -> String {
    match parse(args) {
        Some(Json::Array(items)) if KEYS_ONLY.contains(&cmd) => Json::Array(items).to_string(),
        Some(json) => json.values_redacted().to_string(),
        None if args.is_empty() => String::new(),
        None => REDACTED.to_owned(),
    }
}

/// What an unknown-command error repeats of the arguments after.
const ECHOED_ARGS: &str = "with args beginning with:";

fn redis_resp(cmd: &str, resp: &str) -> String {
    let status = ["", "OK", "QUEUED", "PONG", "RESET", NULL_TEXT].contains(&resp);
    let integer = resp.strip_prefix('-').unwrap_or(resp);
    if status || (is_digits(integer) && INTEGER_REPLIES.contains(&cmd)) {
        return resp.to_owned();
    }
    // An error starts with its upper-case code: `-ERR`, `-WRONGTYPE`.
    let code = resp.strip_prefix('-').and_then(|error| error.split(' ').next()).unwrap_or_default();
    if code.len() < 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return REDACTED.to_owned();
    }
    match resp.find(ECHOED_ARGS) {
        Some(at) => format!("{}{ECHOED_ARGS} {REDACTED}", &resp[..at]),
        None => resp.to_owned(),
    }
}

// ---- JSON ----

/// A JSON value that keeps object members in the order written
/// (`serde_json::Map` sorts them: its `preserve_order` feature is off).
enum Json {
    /// `null`, a boolean, a number or a string.
    Leaf(Value),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// The JSON text, or `None` if it is none (or nests deeper than serde_json's
/// limit of 128).
fn parse(text: &str) -> Option<Json> {
    serde_json::from_str(text).ok()
}

impl Json {
    fn redacted() -> Json {
        Json::Leaf(Value::from(REDACTED))
    }

    /// Strings and numbers redacted, the rest kept.
    fn leaves_redacted(self) -> Json {
        match self {
            Json::Leaf(Value::String(_) | Value::Number(_)) => Json::redacted(),
            Json::Leaf(other) => Json::Leaf(other),
            Json::Array(items) => Json::Array(items.into_iter().map(Json::leaves_redacted).collect()),
            Json::Object(members) => {
                Json::Object(members.into_iter().map(|(name, value)| (name, value.leaves_redacted())).collect())
            }
        }
    }

    /// Every value redacted but those of members named in [`IDENTIFIERS`].
    fn values_redacted(self) -> Json {
        match self {
            Json::Leaf(_) => Json::redacted(),
            Json::Array(items) => Json::Array(items.into_iter().map(Json::values_redacted).collect()),
            Json::Object(members) => Json::Object(
                members
                    .into_iter()
                    .map(|(name, value)| {
                        let value = if IDENTIFIERS.contains(&name.as_str()) { value } else { value.values_redacted() };
                        (name, value)
                    })
                    .collect(),
            ),
        }
    }
}

/// Compact JSON text.
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Leaf(value) => write!(f, "{value}"),
            Json::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    write!(f, "{}{item}", if i == 0 { "" } else { "," })?;
                }
                f.write_str("]")
            }
            Json::Object(members) => {
                f.write_str("{")?;
                for (i, (name, value)) in members.iter().enumerate() {
                    write!(f, "{}{}:{value}", if i == 0 { "" } else { "," }, Value::from(name.as_str()))?;
                }
                f.write_str("}")
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Leaf(Value::Null))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Leaf(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Leaf(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Leaf(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Leaf(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Leaf(Value::from(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry()? {
            members.push(member);
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Cell {
        Cell::Text(text.to_owned())
    }

    /// The cells after redaction, integers as their decimal text.
    fn redacted(table: ProtoTable, mut cells: Vec<Cell>) -> Vec<String> {
        redact(table, &mut cells);
        cells
            .into_iter()
            .map(|cell| match cell {
                Cell::Int(n) => n.to_string(),
                Cell::Text(text) => text,
            })
            .collect()
    }

    /// An http row with these headers, path and bodies: the five cells
    /// rewritten, in column order.
    fn http(req_headers: &str, path: &str, req_body: &str, resp_headers: &str, resp_body: &str) -> [String; 5] {
        let cells = vec![
            Cell::Int(1),
            Cell::Int(1),
            Cell::Int(1),
            t(req_headers),
            t("POST"),
            t(path),
            t(req_body),
            Cell::Int(req_body.len() as i64),
            t(resp_headers),
            Cell::Int(200),
            t("OK"),
            t(resp_body),
            Cell::Int(resp_body.len() as i64),
        ];
        let out = redacted(ProtoTable::Http, cells);
        assert_eq!(
            [&out[0], &out[1], &out[2], &out[4], &out[9], &out[10]],
            ["1", "1", "1", "POST", "200", "OK"],
            "untouched columns"
        );
        [out[3].clone(), out[5].clone(), out[6].clone(), out[8].clone(), out[11].clone()]
    }

    fn http_body(body: &str) -> String {
        let [_, _, req, _, resp] = http("{}", "/", body, "{}", body);
        assert_eq!(req, resp);
        req
    }

    fn pgsql(cmd: &str, req: &str, resp: &str) -> (String, String) {
        let out = redacted(ProtoTable::Pgsql, vec![t(cmd), t(req), t(resp)]);
        assert_eq!(out[0], cmd);
        (out[1].clone(), out[2].clone())
    }

    fn mysql(cmd: i64, req_body: &str, resp_body: &str) -> (String, String) {
        let out = redacted(ProtoTable::Mysql, vec![Cell::Int(cmd), t(req_body), Cell::Int(2), t(resp_body)]);
        assert_eq!((out[0].as_str(), out[2].as_str()), (cmd.to_string().as_str(), "2"));
        (out[1].clone(), out[3].clone())
    }

    fn redis(cmd: &str, args: &str, resp: &str) -> (String, String) {
        let out = redacted(ProtoTable::Redis, vec![t(cmd), t(args), t(resp)]);
        assert_eq!(out[0], cmd);
        (out[1].clone(), out[2].clone())
    }

    #[test]
    fn cell_positions_match_the_schemas() {
        use scry_model::tables as schemas;
        let name = |schema: arrow::datatypes::SchemaRef, i: usize| schema.field(8 + i).name().clone();
        assert_eq!(name(schemas::http_events(), col::HTTP_REQ_HEADERS), "req_headers");
        assert_eq!(name(schemas::http_events(), col::HTTP_REQ_PATH), "req_path");
        assert_eq!(name(schemas::http_events(), col::HTTP_REQ_BODY), "req_body");
        assert_eq!(name(schemas::http_events(), col::HTTP_RESP_HEADERS), "resp_headers");
        assert_eq!(name(schemas::http_events(), col::HTTP_RESP_BODY), "resp_body");
        for (schema, req) in [(schemas::pgsql_events(), "req"), (schemas::redis_events(), "req_args")] {
            assert_eq!(name(schema.clone(), col::CMD), "req_cmd");
            assert_eq!(name(schema.clone(), col::REQ), req);
            assert_eq!(name(schema, col::RESP), "resp");
        }
        assert_eq!(name(schemas::mysql_events(), col::CMD), "req_cmd");
        assert_eq!(name(schemas::mysql_events(), col::REQ), "req_body");
    }

    #[test]
    fn http_secret_headers_lose_their_values_in_any_case() {
        let req = concat!(
            r#"{"Accept":"*/*","AUTHORIZATION":"Bearer abc","content-type":"application/json","Cookie":"a=b","#,
            r#""Host":"shop","Proxy-Authorization":"Basic eA==","X-Api-Key":"k1","x-apikey":"k2","#,
            r#""X-Auth-User":"bob","X-CSRF-Token":"t","X-My-Password":"p","x-session-id":"s","#,
            r#""X-Request-Id":"r-1","X-Secret":"s2","[TRUNCATED]":"3"}"#
        );
        let resp = r#"{"Content-Length":"2","Set-Cookie":"sid=1; HttpOnly","WWW-Authenticate":"Basic"}"#;
        let [req_headers, _, _, resp_headers, _] = http(req, "/", "", resp, "");
        assert_eq!(
            req_headers,
            concat!(
                r#"{"Accept":"*/*","AUTHORIZATION":"<redacted>","content-type":"application/json","#,
                r#""Cookie":"<redacted>","Host":"shop","Proxy-Authorization":"<redacted>","#,
                r#""X-Api-Key":"<redacted>","x-apikey":"<redacted>","X-Auth-User":"<redacted>","#,
                r#""X-CSRF-Token":"<redacted>","X-My-Password":"<redacted>","x-session-id":"<redacted>","#,
                r#""X-Request-Id":"r-1","X-Secret":"<redacted>","[TRUNCATED]":"3"}"#
            )
        );
        assert_eq!(resp_headers, r#"{"Content-Length":"2","Set-Cookie":"<redacted>","WWW-Authenticate":"<redacted>"}"#);
        // Escapes survive; no headers, empty; a text that is no JSON object.
        let [escaped, ..] = http(r#"{"X-Note":"a\"b\u00e9\n","Auth":"x"}"#, "/", "", "", "");
        assert_eq!(escaped, r#"{"X-Note":"a\"bé\n","Auth":"<redacted>"}"#);
        let [empty, _, _, none, _] = http("{}", "/", "", "", "");
        assert_eq!((empty.as_str(), none.as_str()), ("{}", ""));
        let [broken, ..] = http(r#"{"Cookie":"x""#, "/", "", "", "");
        assert_eq!(broken, "<redacted>");
    }

    #[test]
    fn http_query_string_values_are_redacted() {
        let cases = [
            ("/a?x=1&y", "/a?x=<redacted>&y"),
            ("/", "/"),
            ("/search?q=bob%40x.com&page=2", "/search?q=<redacted>&page=<redacted>"),
            ("/a?x=&y=1=2&&z", "/a?x=&y=<redacted>&&z"),
            ("/a?", "/a?"),
            ("/a?token=abc#frag", "/a?token=<redacted>"),
            ("*", "*"),
            ("", ""),
        ];
        for (path, expected) in cases {
            let [_, redacted_path, ..] = http("{}", path, "", "{}", "");
            assert_eq!(redacted_path, expected, "{path}");
        }
    }

    #[test]
    fn http_json_bodies_keep_their_shape() {
        assert_eq!(
            http_body(
                r#"{ "user": {"name": "bob", "age": 42, "admin": false, "tags": ["a", 1.5, null]}, "z": {}, "a": [] }"#
            ),
            concat!(
                r#"{"user":{"name":"<redacted>","age":"<redacted>","admin":false,"#,
                r#""tags":["<redacted>","<redacted>",null]},"z":{},"a":[]}"#
            )
        );
        assert_eq!(http_body(r#"[{"id":1},{"id":2}]"#), r#"[{"id":"<redacted>"},{"id":"<redacted>"}]"#);
        assert_eq!(http_body("42"), r#""<redacted>""#);
        assert_eq!(http_body(r#""secret""#), r#""<redacted>""#);
        assert_eq!(http_body("true"), "true");
        assert_eq!(http_body("null\n"), "null");
        // Keys keep their order and escapes, duplicates included.
        assert_eq!(
            http_body(r#"{"b":1,"a\"":"x","b":2}"#),
            r#"{"b":"<redacted>","a\"":"<redacted>","b":"<redacted>"}"#
        );
    }

    #[test]
    fn http_other_bodies_become_their_size() {
        assert_eq!(http_body("name=bob&pw=hunter2"), "<redacted: 19 bytes>");
        assert_eq!(http_body("héllo"), "<redacted: 6 bytes>");
        assert_eq!(http_body("{\"a\": 1"), "<redacted: 7 bytes>");
        // Cut JSON is no JSON: its captured size, and the cut stays visible.
        let cut = format!("{{\"password\":\"{}{CUT}", "x".repeat(499));
        assert_eq!(http_body(&cut), format!("<redacted: 512 bytes>{CUT}"));
        assert_eq!(http_body(&format!("abc{CUT}")), format!("<redacted: 3 bytes>{CUT}"));
        // Empty bodies and the parser's placeholders stay.
        for kept in ["", NON_TEXT_BODY, UNKNOWN_TYPE_BODY, GUNZIP_FAILED_BODY] {
            assert_eq!(http_body(kept), kept);
        }
        // Only the parser's exact texts are placeholders.
        assert_eq!(http_body("<removed: my secret>"), "<redacted: 20 bytes>");
    }

    #[test]
    fn pgsql_statements_are_normalized() {
        let cases = [
            (
                "Query",
                "SELECT * FROM users WHERE email = 'bob@x.com' AND age > 42",
                "SELECT * FROM users WHERE email = $1 AND age > $2",
            ),
            (
                "Query",
                "INSERT INTO t (a, b) VALUES (-1, E'x\\'y'), (2.5, $$z$$)",
                "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)",
            ),
            ("Parse", "SELECT * FROM t WHERE a = $1 AND b = 'k'", "SELECT * FROM t WHERE a = $1 AND b = $2"),
            ("Query", "UPDATE t SET pw = 'secret... [TRUNCATED]", "UPDATE t SET pw = ... [TRUNCATED]"),
            ("Query", "", ""),
            ("Query", "SELECT 'unterminated", "<redacted>"),
            ("Parse", "SELECT 1 /* open", "<redacted>"),
        ];
        for (cmd, req, expected) in cases {
            assert_eq!(pgsql(cmd, req, "").0, expected, "{req}");
        }
    }

    #[test]
    fn pgsql_bound_values_are_redacted() {
        let cases = [
            (
                "Bind",
                "query=[SELECT * FROM t WHERE a = $1 AND b = 'x'] params=[bob, 42]",
                "query=[SELECT * FROM t WHERE a = $1 AND b = $3] params=[<redacted>]",
            ),
            (
                "Execute",
                "query=[SELECT * FROM t WHERE id = $1] params=[[NULL]]",
                "query=[SELECT * FROM t WHERE id = $1] params=[<redacted>]",
            ),
            ("Execute", "query=[SELECT 1] params=[]", "query=[SELECT $1] params=[]"),
            // Cut inside the values, or inside the statement.
            (
                "Execute",
                "query=[SELECT $1, $2] params=[1, abc... [TRUNCATED]",
                "query=[SELECT $1, $2] params=[<redacted>]",
            ),
            ("Bind", "query=[SELECT 7, 'x... [TRUNCATED]", "query=[SELECT $1, ... [TRUNCATED]"),
            // Prepared before tracing began: only its name is known.
            (
                "Bind",
                "query=[[unknown statement \"s1\"]] params=[pw]",
                "query=[[unknown statement \"s1\"]] params=[<redacted>]",
            ),
            ("Execute", "query=[[unknown portal \"\"]] params=[]", "query=[[unknown portal \"\"]] params=[]"),
            ("Execute", "query=[SELECT 'x] params=[1]", "<redacted>"),
            ("Bind", "SELECT 1", "<redacted>"),
        ];
        for (cmd, req, expected) in cases {
            assert_eq!(pgsql(cmd, req, "").0, expected, "{req}");
        }
    }

    #[test]
    fn pgsql_other_requests() {
        let ok = |cmd: &str, req: &str| pgsql(cmd, req, "").0;
        assert_eq!(ok("Describe", "type=Portal name=p1"), "type=Portal name=p1");
        assert_eq!(ok("Close", "type=Statement name=s1"), "type=Statement name=s1");
        assert_eq!(ok("Sync", ""), "");
        assert_eq!(
            ok("Startup", "user=postgres database=shop application_name=psql"),
            "user=postgres database=shop application_name=psql"
        );
        assert_eq!(
            ok("Startup", "user=app options=-c password=pw Token=t"),
            "user=app options=-c password=<redacted> Token=<redacted>"
        );
        assert_eq!(ok("Password Message", "md5abcdef"), "<redacted>");
        assert_eq!(ok("Copy Data", "1\tbob"), "<redacted>");
        assert_eq!(ok("Password Message", ""), "");
    }

    #[test]
    fn pgsql_rows_are_counted_not_kept() {
        let series: String = (1..=16).map(|n| format!("\n{n}")).collect();
        let cases: [(&str, &str, &str); 14] = [
            ("Query", "id,name\n1,bob\n2,[NULL]\nSELECT 2", "id,name\n<redacted: 2 rows>\nSELECT 2"),
            ("Query", &format!("n{series}\n... 4 more rows\nSELECT 20"), "n\n<redacted: 20 rows>\nSELECT 20"),
            ("Query", "INSERT 0 2", "INSERT 0 2"),
            ("Query", "id\n7\nINSERT 0 1", "id\n<redacted: 1 rows>\nINSERT 0 1"),
            // Several statements, an error, tags without a count.
            (
                "Query",
                concat!(
                    "BEGIN\nanswer\n42\nSELECT 1\nCREATE TABLE\nTimeZone\nUTC\nSHOW\nEMPTY QUERY\n",
                    "ERROR RESPONSE [Severity=ERROR Code=42P01 Message=x]",
                ),
                concat!(
                    "BEGIN\nanswer\n<redacted: 1 rows>\nSELECT 1\nCREATE TABLE\nTimeZone\n<redacted: 1 rows>\nSHOW\n",
                    "EMPTY QUERY\nERROR RESPONSE [Severity=ERROR Code=42P01 Message=x]",
                ),
            ),
            // A row that looks like a tag word, counted by its set's tag.
            ("Query", "status\nDO\nACTIVE\nSELECT 2", "<redacted: 1 rows>\nDO\n<redacted: 1 rows>\nSELECT 2"),
            // Execute: a header only from a Describe of the portal; the count tells.
            ("Execute", "id,name\n1,a\nSELECT 1", "id,name\n<redacted: 1 rows>\nSELECT 1"),
            ("Execute", "1,a\n2,b\nSELECT 2", "<redacted: 2 rows>\nSELECT 2"),
            ("Execute", "1,a\nPORTAL SUSPENDED", "<redacted: 1 rows>\nPORTAL SUSPENDED"),
            // Rows whose header was lost: the count does not fit, all are rows.
            (
                "Query",
                "2,[NULL]\n3,c\nSELECT 3\nanswer\n42\nSELECT 1",
                "<redacted: 2 rows>\nSELECT 3\nanswer\n<redacted: 1 rows>\nSELECT 1",
            ),
            // Cut: the open set's rows are counted, the marker stays.
            ("Query", "id,name\n1,bob\n2,al... [TRUNCATED]", "id,name\n<redacted: 2 rows>... [TRUNCATED]"),
            ("Query", "SELECT 1\nid\n1\nSELE... [TRUNCATED]", "SELECT 1\nid\n<redacted: 2 rows>... [TRUNCATED]"),
            (
                "Execute",
                "ERROR RESPONSE [Severity=ERROR Message=dup... [TRUNCATED]",
                "ERROR RESPONSE [Severity=ERROR Message=dup... [TRUNCATED]",
            ),
            ("Query", "", ""),
        ];
        for (cmd, resp, expected) in cases {
            assert_eq!(pgsql(cmd, "", resp).1, expected, "{resp}");
        }
        // Other commands' responses hold no values.
        for resp in ["PARSE COMPLETE", "ROW DESCRIPTION [id,name]", "NO DATA", "AuthenticationSASL, AuthenticationOk"] {
            for cmd in ["Parse", "Bind", "Describe", "Close", "Sync", "Startup"] {
                assert_eq!(pgsql(cmd, "", resp).1, resp);
            }
        }
    }

    #[test]
    fn mysql_statements_are_normalized_and_values_dropped() {
        let cases = [
            (
                COM_QUERY,
                "SELECT * FROM users WHERE email = 'bob@x.com' AND id = 42",
                "SELECT * FROM users WHERE email = ? AND id = ?",
            ),
            (COM_QUERY, r#"INSERT INTO t VALUES ("a", X'FF', -3)"#, "INSERT INTO t VALUES (?, ?, ?)"),
            (COM_QUERY, "UPDATE t SET pw = 'hunter... [TRUNCATED]", "UPDATE t SET pw = ... [TRUNCATED]"),
            (COM_QUERY, "SELECT 'open", "<redacted>"),
            (COM_STMT_PREPARE, "SELECT * FROM t WHERE a = ? AND b = 'k'", "SELECT * FROM t WHERE a = ? AND b = ?"),
            (
                COM_STMT_EXECUTE,
                "SELECT * FROM t WHERE a = ? AND b = 'k' [params: 'bob', 42]",
                "SELECT * FROM t WHERE a = ? AND b = ? [params: <redacted>]",
            ),
            (
                COM_STMT_EXECUTE,
                "SELECT * FROM t WHERE a = ? [params: 'x', 'yyy... [TRUNCATED]",
                "SELECT * FROM t WHERE a = ? [params: <redacted>]",
            ),
            (COM_STMT_EXECUTE, "SELECT 1 FROM t", "SELECT ? FROM t"),
            (COM_STMT_EXECUTE, "Execute stmt_id=7", "Execute stmt_id=7"),
            (COM_STMT_EXECUTE, "Execute stmt_id=7 'x'", "<redacted>"),
            (COM_INIT_DB, "shop", "shop"),
            (COM_FIELD_LIST, "users", "users"),
            (COM_CREATE_DB, "new_db", "new_db"),
            (COM_DROP_DB, "old_db", "old_db"),
            (0x19, "", ""),
            (0x11, "root", "<redacted>"),
        ];
        for (cmd, req, expected) in cases {
            assert_eq!(mysql(cmd, req, "").0, expected, "{req}");
        }
        // Responses hold counts and errors only.
        for resp in [
            "Resultset rows = 2",
            "Affected rows = 1, Rows matched: 1  Changed: 1  Warnings: 0",
            "ERROR 1146 (42S02): Table 'shop.x' doesn't exist",
            "",
        ] {
            assert_eq!(mysql(COM_QUERY, "SELECT 1", resp).1, resp);
        }
    }

    #[test]
    fn redis_arguments_keep_identifiers_only() {
        let cases = [
            (
                "SET",
                r#"{"key":"user:1","value":"bob","options":["EX 10","NX"]}"#,
                r#"{"key":"user:1","value":"<redacted>","options":["EX 10","NX"]}"#,
            ),
            ("GET", r#"{"key":"user:1"}"#, r#"{"key":"user:1"}"#),
            (
                "HSET",
                r#"{"key":"h","field value":[{"field":"email","value":"bob@x.com"},{"field":"age","value":"42"}]}"#,
                concat!(
                    r#"{"key":"h","field value":[{"field":"email","value":"<redacted>"},"#,
                    r#"{"field":"age","value":"<redacted>"}]}"#
                ),
            ),
            ("MGET", r#"{"key":["a","b"]}"#, r#"{"key":["a","b"]}"#),
            (
                "MSET",
                r#"{"key value":[{"key":"a","value":"1"}]}"#,
                r#"{"key value":[{"key":"a","value":"<redacted>"}]}"#,
            ),
            ("SADD", r#"{"key":"s","member":["x","y"]}"#, r#"{"key":"s","member":["<redacted>","<redacted>"]}"#),
            ("PUBLISH", r#"{"channel":"news","message":"hi"}"#, r#"{"channel":"news","message":"<redacted>"}"#),
            (
                "CONFIG SET",
                r#"{"parameter value":[{"parameter":"requirepass","value":"pw"}]}"#,
                r#"{"parameter value":[{"parameter":"requirepass","value":"<redacted>"}]}"#,
            ),
            (
                "EXPIRE",
                r#"{"key":"k","seconds":"10","condition":"NX"}"#,
                r#"{"key":"k","seconds":"<redacted>","condition":"NX"}"#,
            ),
            // Arrays: commands that take only keys keep them.
            ("MGET", r#"["a","b"]"#, r#"["a","b"]"#),
            ("WATCH", r#"["a"]"#, r#"["a"]"#),
            ("AUTH", r#"["default","<REDACTED>"]"#, r#"["<redacted>","<redacted>"]"#),
            ("EVAL", r#"["return 1","0"]"#, r#"["<redacted>","<redacted>"]"#),
            ("GET", r#"["a","b"]"#, r#"["<redacted>","<redacted>"]"#),
            ("PING", "[]", "[]"),
            // Cut or not JSON at all.
            ("SET", r#"{"key":"k","value":"xxx... [TRUNCATED]"#, "<redacted>"),
            ("PUSH PUB", "", ""),
        ];
        for (cmd, args, expected) in cases {
            assert_eq!(redis(cmd, args, "").0, expected, "{cmd} {args}");
        }
    }

    #[test]
    fn redis_replies_keep_statuses_integers_and_errors() {
        let cases = [
            ("SET", "OK", "OK"),
            ("SET", "QUEUED", "QUEUED"),
            ("PING", "PONG", "PONG"),
            ("GET", "<NULL>", "<NULL>"),
            ("GET", "bob", "<redacted>"),
            ("GET", "4111111111111111", "<redacted>"),
            ("GET", "-12", "<redacted>"),
            ("HSET", "2", "2"),
            ("INCR", "-3", "-3"),
            ("TTL", "-1", "-1"),
            ("MGET", "[bob, <NULL>]", "<redacted>"),
            ("HGETALL", "{email: bob@x.com}", "<redacted>"),
            ("EXEC", "[OK, 1]", "<redacted>"),
            ("PUSH PUB", "[message, news, hi]", "<redacted>"),
            (
                "GET",
                "-WRONGTYPE Operation against a key holding the wrong kind of value",
                "-WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
            ("AUTH", "-WRONGPASS invalid username-password pair", "-WRONGPASS invalid username-password pair"),
            (
                "FOO",
                "-ERR unknown command 'FOO', with args beginning with: 'secret' ",
                "-ERR unknown command 'FOO', with args beginning with: <redacted>",
            ),
            ("GET", "-not an error", "<redacted>"),
            ("GET", "-", "<redacted>"),
            ("SET", "", ""),
        ];
        for (cmd, resp, expected) in cases {
            assert_eq!(redis(cmd, "[]", resp).1, expected, "{cmd} {resp}");
        }
    }

    #[test]
    fn dns_rows_are_unchanged() {
        let cells =
            [r#"{"txid":1}"#, r#"{"queries":[{"name":"shop.svc","type":"A"}]}"#, r#"{"txid":1}"#, r#"{"answers":[]}"#];
        assert_eq!(redacted(ProtoTable::Dns, cells.iter().map(|c| t(c)).collect()), cells);
    }

    /// Odd texts in every cell of every table, in rows of every length and
    /// with integers where texts belong: never a panic.
    #[test]
    fn odd_input_never_panics() {
        let deep_array = "[".repeat(100_000);
        let deep_object = "{\"a\":".repeat(200) + "1" + &"}".repeat(200);
        let inputs = [
            "",
            " ",
            "\u{fffd}\u{0}\u{7f}é\u{10ffff}",
            "\\xff\\x00",
            "{",
            "}",
            "[",
            "]",
            "[[[]]",
            "{\"a\":",
            "{\"a\":1,}",
            "{\"key\":{\"key\":[1,{\"x\":null}]}}",
            &deep_array,
            &deep_object,
            "1e999",
            "-",
            "-E",
            "--",
            "?",
            "?&&==&?=",
            "/a?=&=",
            "... [TRUNCATED]",
            "x... [TRUNCATED]",
            "\n... [TRUNCATED]",
            "\n\n\n",
            "... 5 more rows",
            "... 99999999999999999999999 more rows\nSELECT 1",
            "h\n1\n... 18446744073709551615 more rows\nSELECT 18446744073709551615",
            "h\n... 18446744073709551615 more rows",
            "SELECT 18446744073709551615",
            "SELECT 99999999999999999999999",
            "SELECT 1 1 1",
            "a\n... 0 more rows\nSELECT 0",
            "\n... 3 more rows\nSELECT 1",
            "ERROR RESPONSE [",
            "query=[",
            "query=[] params=[",
            "query=[]] params=[]]",
            "] params=[",
            "query=[[unknown ",
            "SELECT 'abc",
            "SELECT 1 /* open",
            "SELECT $tag$ x",
            "x [params: ",
            " [params: 'a, 'b', ...",
            "Execute stmt_id=",
            "with args beginning with:",
            "-ERR with args beginning with:",
        ];
        let pg_cmds = ["Query", "Parse", "Bind", "Execute", "Describe", "Startup", "Password Message", "", "é"];
        let redis_cmds = ["SET", "MGET", "GET", "HSET", "", "CLIENT LIST"];
        for input in inputs {
            for len in 0..=14 {
                for table in
                    [ProtoTable::Http, ProtoTable::Pgsql, ProtoTable::Mysql, ProtoTable::Redis, ProtoTable::Dns]
                {
                    let mut cells: Vec<Cell> = (0..len).map(|_| t(input)).collect();
                    redact(table, &mut cells);
                    let mut mixed: Vec<Cell> =
                        (0..len).map(|i| if i % 2 == 0 { Cell::Int(i as i64) } else { t(input) }).collect();
                    redact(table, &mut mixed);
                }
            }
            for cmd in pg_cmds {
                pgsql(cmd, input, input);
            }
            for cmd in [-1, 0, 2, 3, 4, 0x16, 0x17, 0x7f, i64::MIN, i64::MAX] {
                mysql(cmd, input, input);
            }
            for cmd in redis_cmds {
                redis(cmd, input, input);
            }
            http(input, input, input, input, input);
        }
    }
}
