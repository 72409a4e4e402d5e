//! Names for the numbers protocol tables store: `dns_rcode_name(rcode)`,
//! `http_resp_message(status)`, `protocol_name(protocol)`.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::cast::as_int64_array;
use datafusion::error::Result;
use datafusion::logical_expr::{ScalarUDF, Volatility};

use super::scalar::{Arg, Kernel, family, one};

/// RFC 1035 and RFC 2136 response codes; a code without a name stays a number.
fn dns_rcode(code: i64) -> Cow<'static, str> {
    const NAMES: [&str; 11] = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
        "NOTZONE",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| Cow::Owned(code.to_string()), |n| Cow::Borrowed(*n))
}

/// The reason phrases Go's `net/http` gives; "" for codes it has none for.
fn http_status(code: i64) -> Cow<'static, str> {
    Cow::Borrowed(match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "",
    })
}

/// Pixie's `traffic_protocol_t` names (`conn_stats.protocol`); a number
/// without one is "Unknown", as protocol 0 is.
fn protocol(code: i64) -> Cow<'static, str> {
    const NAMES: [&str; 14] = [
        "Unknown", "HTTP", "HTTP2", "MySQL", "CQL", "PGSQL", "DNS", "Redis", "NATS", "Mongo", "Kafka", "Mux", "AMQP",
        "TLS",
    ];
    Cow::Borrowed(usize::try_from(code).ok().and_then(|i| NAMES.get(i)).unwrap_or(&NAMES[0]))
}

/// Which naming; a variant rather than a function pointer because functions
/// are compared, and function pointers do not compare reliably.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Names {
    DnsRcode,
    HttpStatus,
    Protocol,
}

impl Kernel for Names {
    fn eval(&self, args: &[Arg]) -> Result<ArrayRef> {
        let name = match self {
            Names::DnsRcode => dns_rcode,
            Names::HttpStatus => http_status,
            Names::Protocol => protocol,
        };
        let codes = as_int64_array(one(args)?)?;
        Ok(Arc::new(codes.iter().map(|c| c.map(name)).collect::<StringArray>()))
    }
}

pub(super) fn functions() -> Vec<ScalarUDF> {
    let names = [
        ("dns_rcode_name", Names::DnsRcode),
        ("http_resp_message", Names::HttpStatus),
        ("protocol_name", Names::Protocol),
    ];
    family(&[DataType::Int64], Volatility::Immutable, names.map(|(name, names)| (name, names, DataType::Utf8)))
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::query;

    #[test]
    fn codes_get_names() {
        let sql = "SELECT dns_rcode_name(c), http_resp_message(c), protocol_name(c) \
                   FROM (VALUES (0), (3), (10), (11), (13), (-1), (200), (404), (599), (NULL)) AS t(c)";
        assert_eq!(
            query(sql),
            [
                "NOERROR||Unknown",
                "NXDOMAIN||MySQL",
                "NOTZONE||Kafka",
                "11||Mux",
                "13||TLS",
                "-1||Unknown",
                "200|OK|Unknown",
                "404|Not Found|Unknown",
                "599||Unknown",
                "NULL|NULL|NULL"
            ]
        );
    }
}
