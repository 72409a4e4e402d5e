//! Commands as `redis_events` shows them: the name in `req_cmd`, the
//! arguments in `req_args` as JSON — an object of named arguments for the
//! commands listed in [`SPECS`] (names from the Redis command reference, as
//! Pixie uses them), a JSON array of the arguments otherwise.

use serde_json::Value;

use super::MAX_TEXT_BYTES;

/// Commands whose first argument is a subcommand, named together with it
/// (`CLIENT LIST`, `CONFIG GET`).
const CONTAINERS: [&str; 17] = [
    "ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DEBUG", "FUNCTION", "LATENCY", "MEMORY", "MODULE", "OBJECT",
    "PUBSUB", "REPLCONF", "SCRIPT", "SLOWLOG", "XGROUP", "XINFO",
];

/// Replaces passwords (`AUTH`, `HELLO … AUTH user password`): a trace table
/// is no place for credentials.
pub const REDACTED: &str = "<REDACTED>";

/// One command as a client sent it.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// `req_cmd`: the command word in upper case, followed by the subcommand
    /// for container commands (`CLIENT LIST`).
    pub name: String,
    /// The arguments after the name, each cut to [`MAX_TEXT_BYTES`], from
    /// the first [`Command::MAX_KEPT_WORDS`] words; passwords redacted.
    pub args: Vec<String>,
    /// How many arguments the command had, kept or not.
    pub arg_count: usize,
}

impl Command {
    /// Words kept per command. More could not show: 256 JSON strings take
    /// more than the column's 512 bytes.
    pub const MAX_KEPT_WORDS: usize = 256;

    /// `words` are the first words of the command, `count` how many it had.
    pub(super) fn new(words: Vec<String>, count: usize) -> Command {
        let mut words = words.into_iter();
        let mut name = words.next().unwrap_or_default().to_ascii_uppercase();
        let mut args: Vec<String> = words.collect();
        let mut name_words = 1;
        if CONTAINERS.contains(&name.as_str()) && !args.is_empty() {
            let sub = args.remove(0);
            name = format!("{name} {}", sub.to_ascii_uppercase());
            name_words = 2;
        }
        redact(&name, &mut args);
        Command { name, args, arg_count: count.saturating_sub(name_words) }
    }

    /// Whether the first argument is `word`, in any case.
    pub(super) fn first_arg_is(&self, word: &str) -> bool {
        self.args.first().is_some_and(|arg| arg.eq_ignore_ascii_case(word))
    }

    /// `req_args`: named arguments when the command is known and its
    /// arguments fit its form, else the argument list; `[]` without any.
    pub fn args_json(&self) -> String {
        let json = if self.args.is_empty() {
            "[]".to_owned()
        } else {
            named(&self.name, &self.args).unwrap_or_else(|| list(&self.args))
        };
        crate::truncate(&json, MAX_TEXT_BYTES)
    }
}

fn redact(name: &str, args: &mut [String]) {
    let password = match name {
        "AUTH" => args.len().checked_sub(1),
        "HELLO" => args.iter().position(|arg| arg.eq_ignore_ascii_case("AUTH")).map(|auth| auth + 2),
        _ => None,
    };
    if let Some(password) = password.and_then(|i| args.get_mut(i)) {
        *password = REDACTED.to_owned();
    }
}

/// One argument of a command's form.
#[derive(Clone, Copy)]
enum Arg {
    /// One required argument.
    One(&'static str),
    /// One argument, if any is left.
    Opt(&'static str),
    /// All the rest, at least one, as a list.
    Many(&'static str),
    /// All the rest, an even number, as a list of two-field objects under
    /// the key "`first` `second`".
    Pairs(&'static str, &'static str),
}

use Arg::{Many, One, Opt, Pairs};

const KEY: Arg = One("key");
const KEYS: Arg = Many("key");

/// Forms of common commands (SET has its own, for its options).
const SPECS: &[(&str, &[Arg])] = &[
    ("APPEND", &[KEY, One("value")]),
    ("CLIENT SETNAME", &[One("connection-name")]),
    ("CONFIG GET", &[Many("parameter")]),
    ("CONFIG SET", &[Pairs("parameter", "value")]),
    ("DECR", &[KEY]),
    ("DECRBY", &[KEY, One("decrement")]),
    ("DEL", &[KEYS]),
    ("ECHO", &[One("message")]),
    ("EXISTS", &[KEYS]),
    ("EXPIRE", &[KEY, One("seconds"), Opt("condition")]),
    ("EXPIREAT", &[KEY, One("timestamp"), Opt("condition")]),
    ("GET", &[KEY]),
    ("GETDEL", &[KEY]),
    ("GETRANGE", &[KEY, One("start"), One("end")]),
    ("GETSET", &[KEY, One("value")]),
    ("HDEL", &[KEY, Many("field")]),
    ("HEXISTS", &[KEY, One("field")]),
    ("HGET", &[KEY, One("field")]),
    ("HGETALL", &[KEY]),
    ("HINCRBY", &[KEY, One("field"), One("increment")]),
    ("HINCRBYFLOAT", &[KEY, One("field"), One("increment")]),
    ("HKEYS", &[KEY]),
    ("HLEN", &[KEY]),
    ("HMGET", &[KEY, Many("field")]),
    ("HMSET", &[KEY, Pairs("field", "value")]),
    ("HSET", &[KEY, Pairs("field", "value")]),
    ("HSETNX", &[KEY, One("field"), One("value")]),
    ("HSTRLEN", &[KEY, One("field")]),
    ("HVALS", &[KEY]),
    ("INCR", &[KEY]),
    ("INCRBY", &[KEY, One("increment")]),
    ("INCRBYFLOAT", &[KEY, One("increment")]),
    ("KEYS", &[One("pattern")]),
    ("LINDEX", &[KEY, One("index")]),
    ("LLEN", &[KEY]),
    ("LPOP", &[KEY, Opt("count")]),
    ("LPUSH", &[KEY, Many("element")]),
    ("LPUSHX", &[KEY, Many("element")]),
    ("LRANGE", &[KEY, One("start"), One("stop")]),
    ("LREM", &[KEY, One("count"), One("element")]),
    ("LSET", &[KEY, One("index"), One("element")]),
    ("LTRIM", &[KEY, One("start"), One("stop")]),
    ("MGET", &[KEYS]),
    ("MSET", &[Pairs("key", "value")]),
    ("MSETNX", &[Pairs("key", "value")]),
    ("PERSIST", &[KEY]),
    ("PEXPIRE", &[KEY, One("milliseconds"), Opt("condition")]),
    ("PEXPIREAT", &[KEY, One("milliseconds-timestamp"), Opt("condition")]),
    ("PING", &[Opt("message")]),
    ("PSETEX", &[KEY, One("milliseconds"), One("value")]),
    ("PSUBSCRIBE", &[Many("pattern")]),
    ("PTTL", &[KEY]),
    ("PUBLISH", &[One("channel"), One("message")]),
    ("PUNSUBSCRIBE", &[Many("pattern")]),
    ("RENAME", &[KEY, One("newkey")]),
    ("RENAMENX", &[KEY, One("newkey")]),
    ("RPOP", &[KEY, Opt("count")]),
    ("RPOPLPUSH", &[One("source"), One("destination")]),
    ("RPUSH", &[KEY, Many("element")]),
    ("RPUSHX", &[KEY, Many("element")]),
    ("SADD", &[KEY, Many("member")]),
    ("SCARD", &[KEY]),
    ("SELECT", &[One("index")]),
    ("SETEX", &[KEY, One("seconds"), One("value")]),
    ("SETNX", &[KEY, One("value")]),
    ("SETRANGE", &[KEY, One("offset"), One("value")]),
    ("SISMEMBER", &[KEY, One("member")]),
    ("SMEMBERS", &[KEY]),
    ("SPOP", &[KEY, Opt("count")]),
    ("SPUBLISH", &[One("shardchannel"), One("message")]),
    ("SREM", &[KEY, Many("member")]),
    ("SSUBSCRIBE", &[Many("shardchannel")]),
    ("STRLEN", &[KEY]),
    ("SUBSCRIBE", &[Many("channel")]),
    ("SUNSUBSCRIBE", &[Many("shardchannel")]),
    ("TOUCH", &[KEYS]),
    ("TTL", &[KEY]),
    ("TYPE", &[KEY]),
    ("UNLINK", &[KEYS]),
    ("UNSUBSCRIBE", &[Many("channel")]),
    ("ZCARD", &[KEY]),
    ("ZINCRBY", &[KEY, One("increment"), One("member")]),
    ("ZRANK", &[KEY, One("member")]),
    ("ZREM", &[KEY, Many("member")]),
    ("ZREVRANK", &[KEY, One("member")]),
    ("ZSCORE", &[KEY, One("member")]),
];

/// A JSON object whose keys keep the order they were written in.
#[derive(Default)]
struct Object(String);

impl Object {
    fn raw(&mut self, name: &str, json: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        self.0.push_str(&string(name));
        self.0.push(':');
        self.0.push_str(json);
    }

    fn finish(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

fn string(text: &str) -> String {
    Value::from(text).to_string()
}

fn list<S: AsRef<str>>(items: &[S]) -> String {
    Value::Array(items.iter().map(|item| Value::from(item.as_ref())).collect()).to_string()
}

fn pairs(first: &str, second: &str, items: &[String]) -> String {
    let objects: Vec<String> = items
        .chunks_exact(2)
        .map(|pair| {
            let mut object = Object::default();
            for (name, value) in [first, second].into_iter().zip(pair) {
                object.raw(name, &string(value));
            }
            object.finish()
        })
        .collect();
    format!("[{}]", objects.join(","))
}

fn named(name: &str, args: &[String]) -> Option<String> {
    if name == "SET" {
        return set_args(args);
    }
    let (_, spec) = SPECS.iter().find(|(known, _)| *known == name)?;
    let mut object = Object::default();
    let mut rest = args;
    for arg in *spec {
        match (*arg, rest) {
            (One(key) | Opt(key), [first, tail @ ..]) => {
                object.raw(key, &string(first));
                rest = tail;
            }
            (Opt(_), []) => {}
            (Many(key), [_, ..]) => {
                object.raw(key, &list(rest));
                rest = &[];
            }
            (Pairs(first, second), [_, ..]) if rest.len().is_multiple_of(2) => {
                object.raw(&format!("{first} {second}"), &pairs(first, second, rest));
                rest = &[];
            }
            _ => return None,
        }
    }
    rest.is_empty().then(|| object.finish())
}

/// `SET key value [EX s | PX ms | EXAT t | PXAT t | KEEPTTL] [NX | XX] [GET]`:
/// the options as a list, an expiry with its value (`"EX 10"`), as Pixie
/// does.
fn set_args(args: &[String]) -> Option<String> {
    let [key, value, options @ ..] = args else { return None };
    let mut grouped = Vec::with_capacity(options.len());
    let mut options = options.iter();
    while let Some(option) = options.next() {
        if ["EX", "PX", "EXAT", "PXAT"].iter().any(|expiry| option.eq_ignore_ascii_case(expiry)) {
            grouped.push(format!("{option} {}", options.next()?));
        } else {
            grouped.push(option.clone());
        }
    }
    let mut object = Object::default();
    object.raw("key", &string(key));
    object.raw("value", &string(value));
    object.raw("options", &list(&grouped));
    Some(object.finish())
}
