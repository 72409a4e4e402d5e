//! SQL normalization, as Pixie's `normalize_pgsql` / `normalize_mysql` and
//! PostgreSQL's pg_stat_statements do it: every literal becomes a
//! placeholder and its text a parameter, so that executions of one
//! statement with different values group together.
//!
//! - [`normalize_sql`]: SQL text of a dialect → [`Normalized`].
//! - [`normalize_pgsql`], [`normalize_mysql`]: a `pgsql_events.req` /
//!   `mysql_events.req_body` value with its `req_cmd`, as the tables hold
//!   them: prepared executions carry their bound values, and a text cut at
//!   the column limit ends with the truncation marker.
//! - the UDFs of the same names: `normalize_pgsql(req: Utf8, req_cmd: Utf8)`,
//!   `normalize_mysql(req_body: Utf8, req_cmd: Int64)` → Utf8 JSON
//!   `{"query": "...", "params": ["..."], "error": ""}`; on failure `query`
//!   is "", `params` empty and `error` says why.
//!
//! Literals are numbers (with a unary minus written right after an
//! operator, `(`, `,` or a clause keyword), strings of every quoting the
//! dialect has (MySQL's `"…"`; PostgreSQL's `E''`, `U&''`, `$$…$$`; `B''`,
//! `X''`, `N''`), TRUE and FALSE. Placeholders already in the text (`$1`,
//! `?`) stay, comments go, and whitespace runs become one space. The text is
//! cut into tokens by sqlparser's tokenizer for the dialect.
//!
//! `params[i]` is the value of the i-th placeholder: MySQL's i-th `?`,
//! PostgreSQL's `$(i+1)`. PostgreSQL numbers the literals after the highest
//! placeholder (or bound value) already there, as pg_stat_statements does.
//! A placeholder without a bound value has its own text as value.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::cast::{as_int64_array, as_string_array};
use datafusion::error::Result;
use datafusion::logical_expr::{ScalarUDF, Signature, Volatility};
use serde::Serialize;
use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use super::scalar::{Arg, Kernel, Returns, two, udf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SqlDialect {
    PostgreSql,
    MySql,
}

/// A statement with its literals replaced by placeholders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Normalized {
    pub query: String,
    /// The value of each placeholder of `query`, as written (strings keep
    /// their quotes).
    pub params: Vec<String>,
}

/// What `protocols` appends to a column value cut at its limit.
const TRUNCATED: &str = "... [TRUNCATED]";

/// Placeholder numbers above PostgreSQL's limit on parameters are not
/// placeholders (and would make `params` that long).
const MAX_PG_PARAM: u32 = 65_535;

const COM_QUERY: i64 = 0x03;
const COM_STMT_PREPARE: i64 = 0x16;
const COM_STMT_EXECUTE: i64 = 0x17;

/// `text` with its literals replaced by placeholders; an error for text the
/// dialect cannot tokenize (an unterminated string or comment).
pub fn normalize_sql(text: &str, dialect: SqlDialect) -> Result<Normalized, String> {
    normalize(text, dialect, &[], false)
}

/// A `pgsql_events` request. `Query` and `Parse` hold SQL; `Bind` and
/// `Execute` hold `query=[<statement>] params=[<v1>, <v2>]`, whose values
/// are those of `$1`, `$2`.
pub fn normalize_pgsql(req: &str, req_cmd: &str) -> Result<Normalized, String> {
    let (text, cut) = untruncated(req);
    match req_cmd {
        "Query" | "Parse" => normalize(text, SqlDialect::PostgreSql, &[], cut),
        "Bind" | "Execute" => {
            let (statement, values, cut) = pg_execution(text, cut)?;
            normalize(statement, SqlDialect::PostgreSql, &values, cut)
        }
        other => Err(format!("req_cmd `{other}` carries no SQL: Query, Parse, Bind and Execute do")),
    }
}

/// A `mysql_events` request. COM_QUERY (3) and COM_STMT_PREPARE (0x16) hold
/// SQL; COM_STMT_EXECUTE (0x17) holds `<statement> [params: <v1>, <v2>]`,
/// the values of its `?`s in order.
pub fn normalize_mysql(req_body: &str, req_cmd: i64) -> Result<Normalized, String> {
    let (text, cut) = untruncated(req_body);
    match req_cmd {
        COM_QUERY | COM_STMT_PREPARE => normalize(text, SqlDialect::MySql, &[], cut),
        COM_STMT_EXECUTE if text.starts_with("Execute stmt_id=") => Err(UNKNOWN_STATEMENT.to_owned()),
        COM_STMT_EXECUTE => match text.split_once(" [params: ") {
            Some((statement, values)) => normalize(statement, SqlDialect::MySql, &mysql_values(values, cut), false),
            None => normalize(text, SqlDialect::MySql, &[], cut),
        },
        other => Err(format!(
            "req_cmd {other} carries no SQL: 3 (COM_QUERY), 22 (COM_STMT_PREPARE) and 23 (COM_STMT_EXECUTE) do"
        )),
    }
}

const UNKNOWN_STATEMENT: &str = "the statement was prepared before tracing began";

/// The text without the truncation marker, and whether it had one.
fn untruncated(text: &str) -> (&str, bool) {
    text.strip_suffix(TRUNCATED).map_or((text, false), |t| (t, true))
}

/// `query=[<statement>] params=[<values>]` → the statement, its values, and
/// whether the statement itself was cut (`cut` says the text was).
fn pg_execution(text: &str, cut: bool) -> Result<(&str, Vec<&str>, bool), String> {
    let rest = text.strip_prefix("query=[").ok_or("not a Bind or Execute request (no `query=[`)")?;
    if rest.starts_with("[unknown ") {
        return Err(UNKNOWN_STATEMENT.to_owned());
    }
    match rest.split_once("] params=[") {
        Some((statement, values)) => {
            // A cut text lost its closing bracket, and maybe more.
            let values = if cut { values } else { values.strip_suffix(']').unwrap_or(values) };
            let values = if values.is_empty() { Vec::new() } else { values.split(", ").collect() };
            Ok((statement, values, false))
        }
        None if cut => Ok((rest, Vec::new(), true)),
        None => Err("not a Bind or Execute request (no `] params=[`)".to_owned()),
    }
}

/// The values of `[params: …]` (its opening already gone): numbers, `NULL`,
/// quoted text written without escapes (so a value ends at a quote followed
/// by `, `), and `...` when not all were decoded (dropped here).
fn mysql_values(list: &str, cut: bool) -> Vec<&str> {
    let mut rest = if cut { list } else { list.strip_suffix(']').unwrap_or(list) };
    let mut values = Vec::new();
    while !rest.is_empty() {
        let end = match rest.strip_prefix('\'') {
            Some(quoted) => quoted.find("', ").map_or(rest.len(), |i| i + 2),
            None => rest.find(", ").unwrap_or(rest.len()),
        };
        values.push(&rest[..end]);
        rest = rest[end..].strip_prefix(", ").unwrap_or_default();
    }
    values.retain(|v| *v != "...");
    values
}

/// `bound`: the values of the text's placeholders; `cut`: the text was cut
/// short, so it may end inside a string or a comment, which is dropped.
fn normalize(text: &str, dialect: SqlDialect, bound: &[&str], cut: bool) -> Result<Normalized, String> {
    let (postgres, mysql) = (PostgreSqlDialect {}, MySqlDialect {});
    let tokenizer_dialect: &dyn Dialect = match dialect {
        SqlDialect::PostgreSql => &postgres,
        SqlDialect::MySql => &mysql,
    };
    let mut tokens = Vec::new();
    let tokenized =
        Tokenizer::new(tokenizer_dialect, text).with_unescape(false).tokenize_with_location_into_buf(&mut tokens);
    match tokenized {
        Ok(()) => {}
        Err(_) if cut => {}
        Err(e) => return Err(format!("cannot tokenize the SQL: {e}")),
    }
    // MySQL's `/*! … */` hints are tokenized as if written at the comment's
    // start, so their locations do not point at their text: print those.
    let hints = dialect == SqlDialect::MySql && text.contains("/*!");
    let texts = Texts { text, tokens: &tokens, ranges: if hints { None } else { byte_ranges(text, &tokens) } };

    let placeholder = |token: &Token| -> Option<Placeholder> {
        let Token::Placeholder(p) = token else { return None };
        match dialect {
            SqlDialect::MySql => p.starts_with('?').then_some(Placeholder::Next),
            SqlDialect::PostgreSql => {
                let n = p.strip_prefix('$')?.parse::<u32>().ok()?;
                (1..=MAX_PG_PARAM).contains(&n).then_some(Placeholder::Number(n))
            }
        }
    };
    let mut params: Vec<String> = Vec::new();
    let mut bound_used = 0;
    if dialect == SqlDialect::PostgreSql {
        let highest = tokens.iter().filter_map(|t| match placeholder(&t.token) {
            Some(Placeholder::Number(n)) => Some(n as usize),
            _ => None,
        });
        let known = highest.max().unwrap_or(0).max(bound.len());
        params = (0..known).map(|i| bound.get(i).map_or_else(|| format!("${}", i + 1), |v| (*v).to_owned())).collect();
    }

    let mut query = String::with_capacity(text.len());
    let mut space = false;
    let mut previous: Option<&Token> = None;
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i].token;
        if matches!(token, Token::Whitespace(_)) {
            space = true;
            i += 1;
            continue;
        }
        let negative = matches!(token, Token::Minus)
            && matches!(tokens.get(i + 1).map(|t| &t.token), Some(Token::Number(..)))
            && precedes_operand(previous);
        let (piece, consumed) = if negative {
            params.push(format!("{}{}", texts.get(i), texts.get(i + 1)));
            (literal_placeholder(dialect, params.len()), 2)
        } else if is_literal(token) {
            params.push(texts.get(i).into_owned());
            (literal_placeholder(dialect, params.len()), 1)
        } else {
            if placeholder(token) == Some(Placeholder::Next) {
                params.push(bound.get(bound_used).copied().unwrap_or("?").to_owned());
                bound_used += 1;
            }
            (texts.get(i), 1)
        };
        if space && !query.is_empty() {
            query.push(' ');
        }
        space = false;
        query.push_str(&piece);
        i += consumed;
        previous = tokens.get(i - 1).map(|t| &t.token);
    }
    if cut {
        if !query.is_empty() {
            query.push(' ');
        }
        query.push_str(TRUNCATED);
    }
    Ok(Normalized { query, params })
}

/// The tokens' texts: as written, or as sqlparser prints them when their
/// locations cannot be trusted.
struct Texts<'t> {
    text: &'t str,
    tokens: &'t [TokenWithSpan],
    ranges: Option<Vec<Range<usize>>>,
}

impl<'t> Texts<'t> {
    fn get(&self, i: usize) -> Cow<'t, str> {
        match &self.ranges {
            Some(ranges) => Cow::Borrowed(&self.text[ranges[i].clone()]),
            None => Cow::Owned(self.tokens[i].token.to_string()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placeholder {
    /// MySQL's `?`: the next value.
    Next,
    /// PostgreSQL's `$n`.
    Number(u32),
}

/// The placeholder of the `n`-th (1-based) parameter.
fn literal_placeholder(dialect: SqlDialect, n: usize) -> Cow<'static, str> {
    match dialect {
        SqlDialect::PostgreSql => Cow::Owned(format!("${n}")),
        SqlDialect::MySql => Cow::Borrowed("?"),
    }
}

fn is_literal(token: &Token) -> bool {
    match token {
        Token::Word(w) => w.quote_style.is_none() && matches!(w.keyword, Keyword::TRUE | Keyword::FALSE),
        Token::Number(..)
        | Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::TripleSingleQuotedString(_)
        | Token::TripleDoubleQuotedString(_)
        | Token::DollarQuotedString(_)
        | Token::SingleQuotedByteStringLiteral(_)
        | Token::DoubleQuotedByteStringLiteral(_)
        | Token::TripleSingleQuotedByteStringLiteral(_)
        | Token::TripleDoubleQuotedByteStringLiteral(_)
        | Token::SingleQuotedRawStringLiteral(_)
        | Token::DoubleQuotedRawStringLiteral(_)
        | Token::TripleSingleQuotedRawStringLiteral(_)
        | Token::TripleDoubleQuotedRawStringLiteral(_)
        | Token::NationalStringLiteral(_)
        | Token::QuoteDelimitedStringLiteral(_)
        | Token::NationalQuoteDelimitedStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_)
        | Token::HexStringLiteral(_) => true,
        _ => false,
    }
}

/// Whether a `-` after `previous` (the last token that is not whitespace)
/// can only be a sign, not a subtraction.
fn precedes_operand(previous: Option<&Token>) -> bool {
    match previous {
        None => true,
        Some(Token::Word(w)) => {
            w.quote_style.is_none()
                && matches!(
                    w.keyword,
                    Keyword::SELECT
                        | Keyword::WHERE
                        | Keyword::AND
                        | Keyword::OR
                        | Keyword::NOT
                        | Keyword::WHEN
                        | Keyword::THEN
                        | Keyword::ELSE
                        | Keyword::BETWEEN
                        | Keyword::LIMIT
                        | Keyword::OFFSET
                )
        }
        Some(t) => matches!(
            t,
            Token::LParen
                | Token::Comma
                | Token::Eq
                | Token::Neq
                | Token::Lt
                | Token::Gt
                | Token::LtEq
                | Token::GtEq
                | Token::Plus
                | Token::Minus
                | Token::Mul
                | Token::Div
                | Token::Mod
        ),
    }
}

/// Each token's bytes in `text`. Locations count lines and characters; the
/// tokens tile the text, so one walk over it finds every boundary. `None`
/// if they do not tile it.
fn byte_ranges(text: &str, tokens: &[TokenWithSpan]) -> Option<Vec<Range<usize>>> {
    let mut chars = text.chars();
    let (mut at, mut byte) = (Location::new(1, 1), 0);
    let mut ranges = Vec::with_capacity(tokens.len());
    for t in tokens {
        if t.span.start != at {
            return None;
        }
        let start = byte;
        while (at.line, at.column) < (t.span.end.line, t.span.end.column) {
            let c = chars.next()?;
            byte += c.len_utf8();
            at = if c == '\n' { Location::new(at.line + 1, 1) } else { Location::new(at.line, at.column + 1) };
        }
        if at != t.span.end {
            return None;
        }
        ranges.push(start..byte);
    }
    Some(ranges)
}

/// The UDFs' answer.
#[derive(Serialize)]
struct Json<'a> {
    query: &'a str,
    params: &'a [String],
    error: &'a str,
}

fn json(result: Result<Normalized, String>) -> String {
    let json = match &result {
        Ok(n) => Json { query: &n.query, params: &n.params, error: "" },
        Err(e) => Json { query: "", params: &[], error: e },
    };
    serde_json::to_string(&json).unwrap_or_default()
}

/// Which request column the UDF reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Table {
    Pgsql,
    Mysql,
}

impl Kernel for Table {
    fn eval(&self, args: &[Arg]) -> Result<ArrayRef> {
        let (texts, cmds) = two(args)?;
        let texts = as_string_array(texts)?;
        let rows = 0..texts.len();
        let out: StringArray = match self {
            Table::Pgsql => {
                let names = as_string_array(&cmds.array)?;
                rows.map(|i| {
                    let c = cmds.row(i);
                    (texts.is_valid(i) && names.is_valid(c))
                        .then(|| json(normalize_pgsql(texts.value(i), names.value(c))))
                })
                .collect()
            }
            Table::Mysql => {
                let codes = as_int64_array(&cmds.array)?;
                rows.map(|i| {
                    let c = cmds.row(i);
                    (texts.is_valid(i) && codes.is_valid(c))
                        .then(|| json(normalize_mysql(texts.value(i), codes.value(c))))
                })
                .collect()
            }
        };
        Ok(Arc::new(out))
    }
}

pub(super) fn functions() -> Vec<ScalarUDF> {
    let function = |name, cmd: DataType, table| {
        let signature = Signature::exact(vec![DataType::Utf8, cmd], Volatility::Immutable);
        udf(name, signature, Returns::Type(DataType::Utf8), table)
    };
    vec![
        function("normalize_pgsql", DataType::Utf8, Table::Pgsql),
        function("normalize_mysql", DataType::Int64, Table::Mysql),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::tests::query;

    fn pg(text: &str) -> (String, Vec<String>) {
        let n = normalize_sql(text, SqlDialect::PostgreSql).unwrap();
        (n.query, n.params)
    }

    fn my(text: &str) -> (String, Vec<String>) {
        let n = normalize_sql(text, SqlDialect::MySql).unwrap();
        (n.query, n.params)
    }

    fn owned(query: &str, params: &[&str]) -> (String, Vec<String>) {
        (query.to_owned(), params.iter().map(|p| (*p).to_owned()).collect())
    }

    #[test]
    fn postgres_literals_become_numbered_placeholders() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("SELECT 1", "SELECT $1", &["1"]),
            (
                "SELECT * FROM test WHERE prop=1234 AND prop2='abcd'",
                "SELECT * FROM test WHERE prop=$1 AND prop2=$2",
                &["1234", "'abcd'"],
            ),
            (
                "CREATE TABLE test (name varchar(20), address text)",
                "CREATE TABLE test (name varchar($1), address text)",
                &["20"],
            ),
            (
                r"INSERT INTO test (a, b, c, d, e) VALUES (1, 'ab''cd', 1.23, true, E'\\xDEADBEEF')",
                "INSERT INTO test (a, b, c, d, e) VALUES ($1, $2, $3, $4, $5)",
                &["1", "'ab''cd'", "1.23", "true", r"E'\\xDEADBEEF'"],
            ),
            (
                "SELECT $tag$it's$tag$, $$x$$, U&'d\\0061t', B'101', X'1f', 2.5e-3, \"col\" FROM t",
                "SELECT $1, $2, $3, $4, $5, $6, \"col\" FROM t",
                &["$tag$it's$tag$", "$$x$$", "U&'d\\0061t'", "B'101'", "X'1f'", "2.5e-3"],
            ),
            (
                "SELECT a\n  -- the id\n  FROM t /* all\n rows */ WHERE id IN (1,\t2) ;",
                "SELECT a FROM t WHERE id IN ($1, $2) ;",
                &["1", "2"],
            ),
            ("SELECT '{1,2}'::int[], 'x' || name FROM t", "SELECT $1::int[], $2 || name FROM t", &["'{1,2}'", "'x'"]),
            // Existing placeholders stay; literals are numbered after the highest.
            (
                "SELECT * from test WHERE name=$2 AND tag=1234 AND property=$1",
                "SELECT * from test WHERE name=$2 AND tag=$3 AND property=$1",
                &["$1", "$2", "1234"],
            ),
            // A sign right after an operator, `(`, `,` or a clause keyword is the literal's.
            (
                "SELECT -1, a - 2, a -3, (-4) FROM t WHERE x = -5 AND y BETWEEN -6 AND 7 LIMIT - 8",
                "SELECT $1, a - $2, a -$3, ($4) FROM t WHERE x = $5 AND y BETWEEN $6 AND $7 LIMIT - $8",
                &["-1", "2", "3", "-4", "-5", "-6", "7", "8"],
            ),
            ("  ", "", &[]),
            ("SELECT NULL, false, \"true\"", "SELECT NULL, $1, \"true\"", &["false"]),
            ("SELECT $0, $99999, ?", "SELECT $0, $99999, ?", &[]),
        ];
        for (text, query, params) in cases {
            assert_eq!(pg(text), owned(query, params), "{text}");
        }
    }

    #[test]
    fn mysql_literals_become_question_marks() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("SELECT 1", "SELECT ?", &["1"]),
            (
                "SELECT * FROM test WHERE prop=@a AND prop2='abcd'",
                "SELECT * FROM test WHERE prop=@a AND prop2=?",
                &["'abcd'"],
            ),
            (
                r#"INSERT INTO `t` (a, b, c, d, e) VALUES (1, "ab\"cd", 1.23, TRUE, X'DEADBEEF')"#,
                "INSERT INTO `t` (a, b, c, d, e) VALUES (?, ?, ?, ?, ?)",
                &["1", r#""ab\"cd""#, "1.23", "TRUE", "X'DEADBEEF'"],
            ),
            ("SELECT * FROM t WHERE a = ? AND b = 'x' # why\n", "SELECT * FROM t WHERE a = ? AND b = ?", &["?", "'x'"]),
            ("SELECT 0x1F, N'x', 1e3 FROM t1", "SELECT ?, ?, ? FROM t1", &["0x1F", "N'x'", "1e3"]),
            // Hints are SQL to MySQL; their tokens are printed, not sliced.
            (
                "SELECT /*!40001 SQL_NO_CACHE */ * FROM t WHERE a != 'x'",
                "SELECT SQL_NO_CACHE * FROM t WHERE a <> ?",
                &["'x'"],
            ),
        ];
        for (text, query, params) in cases {
            assert_eq!(my(text), owned(query, params), "{text}");
        }
    }

    #[test]
    fn bad_text_is_an_error() {
        assert_eq!(
            normalize_sql("SELECT 'abc", SqlDialect::PostgreSql).unwrap_err(),
            "cannot tokenize the SQL: Unterminated string literal at Line: 1, Column: 8"
        );
        assert!(normalize_sql("SELECT 1 /* open", SqlDialect::MySql).is_err());
    }

    #[test]
    fn pgsql_rows_by_command() {
        let ok = |text: &str, cmd: &str| {
            let n = normalize_pgsql(text, cmd).unwrap();
            (n.query, n.params)
        };
        assert_eq!(ok("SELECT * FROM t WHERE a = 'x'", "Query"), owned("SELECT * FROM t WHERE a = $1", &["'x'"]));
        assert_eq!(
            ok("SELECT * FROM t WHERE a = $1 AND b = 2", "Parse"),
            owned("SELECT * FROM t WHERE a = $1 AND b = $2", &["$1", "2"])
        );
        // Bound values are those of $1, $2 …; literals come after them.
        assert_eq!(
            ok("query=[SELECT * FROM t WHERE a = $2 AND b = 'k' AND c = $1] params=[1, zz]", "Execute"),
            owned("SELECT * FROM t WHERE a = $2 AND b = $3 AND c = $1", &["1", "zz", "'k'"])
        );
        assert_eq!(ok("query=[SELECT 1 AS a;] params=[]", "Bind"), owned("SELECT $1 AS a;", &["1"]));
        assert_eq!(ok("query=[SELECT arr[1]] params=[x]", "Bind"), owned("SELECT arr[$2]", &["x", "1"]));
        // Cut at the column limit: inside the statement, or inside its values.
        assert_eq!(
            ok("INSERT INTO t VALUES (1, 'ab... [TRUNCATED]", "Query"),
            owned("INSERT INTO t VALUES ($1, ... [TRUNCATED]", &["1"])
        );
        assert_eq!(
            ok("query=[SELECT $1, $2] params=[1, abc... [TRUNCATED]", "Execute"),
            owned("SELECT $1, $2", &["1", "abc"])
        );
        assert_eq!(ok("query=[SELECT 7, 'x... [TRUNCATED]", "Execute"), owned("SELECT $1, ... [TRUNCATED]", &["7"]));
        let err = |text: &str, cmd: &str| normalize_pgsql(text, cmd).unwrap_err();
        assert_eq!(err("query=[[unknown statement \"s1\"]] params=[]", "Bind"), UNKNOWN_STATEMENT);
        assert_eq!(
            err("type=Portal name=", "Describe"),
            "req_cmd `Describe` carries no SQL: Query, Parse, Bind and Execute do"
        );
        assert_eq!(err("SELECT 1", "Execute"), "not a Bind or Execute request (no `query=[`)");
        assert_eq!(err("query=[SELECT 1", "Execute"), "not a Bind or Execute request (no `] params=[`)");
        assert!(err("SELECT 'x", "Query").starts_with("cannot tokenize the SQL: Unterminated string literal"));
    }

    #[test]
    fn mysql_rows_by_command() {
        let ok = |text: &str, cmd: i64| {
            let n = normalize_mysql(text, cmd).unwrap();
            (n.query, n.params)
        };
        assert_eq!(ok("SELECT * FROM t WHERE a = 'x'", 3), owned("SELECT * FROM t WHERE a = ?", &["'x'"]));
        assert_eq!(
            ok("SELECT * FROM t WHERE a = ? AND b = 2", 0x16),
            owned("SELECT * FROM t WHERE a = ? AND b = ?", &["?", "2"])
        );
        // Bound values fill the `?`s in order; literals in between keep their place.
        assert_eq!(
            ok("INSERT INTO t VALUES (?, 'lit', ?, ?) [params: 42, 'a, b', NULL]", 0x17),
            owned("INSERT INTO t VALUES (?, ?, ?, ?)", &["42", "'lit'", "'a, b'", "NULL"])
        );
        assert_eq!(
            ok("SELECT * FROM t WHERE id = ? [params: 1, ...]", 0x17),
            owned("SELECT * FROM t WHERE id = ?", &["1"])
        );
        assert_eq!(ok("SELECT 1 FROM t", 0x17), owned("SELECT ? FROM t", &["1"]));
        assert_eq!(
            ok("SELECT * FROM t WHERE a = ? AND b = ? [params: 'x', 'yyy... [TRUNCATED]", 0x17),
            owned("SELECT * FROM t WHERE a = ? AND b = ?", &["'x'", "'yyy"])
        );
        assert_eq!(normalize_mysql("Execute stmt_id=7", 0x17).unwrap_err(), UNKNOWN_STATEMENT);
        assert_eq!(
            normalize_mysql("db", 2).unwrap_err(),
            "req_cmd 2 carries no SQL: 3 (COM_QUERY), 22 (COM_STMT_PREPARE) and 23 (COM_STMT_EXECUTE) do"
        );
    }

    #[test]
    fn sql_functions_answer_json() {
        let sql = "SELECT normalize_pgsql(q, c) FROM (VALUES \
                   ('SELECT 1', 'Query'), ('SELECT ''x', 'Query'), ('x', 'Sync'), (NULL, 'Query')) AS t(q, c)";
        assert_eq!(
            query(sql),
            [
                r#"{"query":"SELECT $1","params":["1"],"error":""}"#,
                r#"{"query":"","params":[],"error":"cannot tokenize the SQL: Unterminated string literal at Line: 1, Column: 8"}"#,
                r#"{"query":"","params":[],"error":"req_cmd `Sync` carries no SQL: Query, Parse, Bind and Execute do"}"#,
                "NULL",
            ]
        );
        let sql = "SELECT normalize_mysql(q, 23), normalize_mysql('SELECT \"a\"', c) \
                   FROM (VALUES ('SELECT ? [params: 5]', 3)) AS t(q, c)";
        assert_eq!(
            query(sql),
            [r#"{"query":"SELECT ?","params":["5"],"error":""}|{"query":"SELECT ?","params":["\"a\""],"error":""}"#]
        );
    }

    /// Any text, in either dialect, through either table's reading: an
    /// answer or an error, never a panic.
    #[test]
    fn never_panics() {
        bolero::check!().with_type::<(bool, u8, String)>().for_each(|(mysql, cmd, text)| {
            let dialect = if *mysql { SqlDialect::MySql } else { SqlDialect::PostgreSql };
            let _ = normalize_sql(text, dialect);
            let _ = normalize_mysql(text, i64::from(*cmd % 0x18));
            let _ = normalize_pgsql(text, ["Query", "Parse", "Bind", "Execute"][usize::from(*cmd % 4)]);
            for marker in ["query=[", " [params: ", "] params=[", TRUNCATED, "/*!", "$a$", "-1"] {
                let _ = normalize_mysql(&format!("{text}{marker}{text}"), 0x17);
                let _ = normalize_pgsql(&format!("{marker}{text}{marker}"), "Execute");
            }
        });
    }
}
