//! `pluck(json, key)`, `pluck_float64(json, key)`, `pluck_int64(json, key)`:
//! one top-level value of a JSON object text, as Pixie's functions of those
//! names give it. A missing key or text that is not a JSON object gives ""
//! (or 0), not null, so scripts can compare without null checks.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::error::Result;
use datafusion::logical_expr::{ScalarUDF, Volatility};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::scalar::{Arg, Kernel, family, two};

/// The text of `key`'s value in the object `doc`, as written there.
fn pluck<'d>(doc: &'d str, key: &str) -> Option<&'d RawValue> {
    let mut de = serde_json::Deserializer::from_str(doc);
    let found = Find(key).deserialize(&mut de).ok()?;
    // Like Pixie, a document with anything after the object is not JSON.
    de.end().ok()?;
    found
}

/// Walks an object's members without building them; only the first member
/// named the key is kept, as text borrowed from the document.
struct Find<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for Find<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Find<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_key) = map.next_key_seed(KeyIs(self.0))? {
            if is_key && found.is_none() {
                found = Some(map.next_value::<&RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Compares a member name with the key without allocating it.
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<bool, E> {
        Ok(name == self.0)
    }
}

/// A string's contents, any other scalar's text; `None` for objects, arrays and null.
fn scalar(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    match text.as_bytes().first()? {
        b'"' => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
        b'{' | b'[' | b'n' => None,
        _ => Some(Cow::Borrowed(text)),
    }
}

/// Pixie writes plucked objects and arrays back out compactly.
fn compact(text: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::with_capacity(text.len()), false, false);
    for c in text.chars() {
        if in_string {
            (in_string, escaped) = (escaped || c != '"', !escaped && c == '\\');
        } else if c == '"' {
            in_string = true;
        } else if c.is_ascii_whitespace() {
            continue;
        }
        out.push(c);
    }
    out
}

fn text(raw: &RawValue) -> Cow<'_, str> {
    match raw.get().as_bytes().first() {
        Some(b'{' | b'[') => Cow::Owned(compact(raw.get())),
        _ => scalar(raw).unwrap_or_default(),
    }
}

fn float(raw: &RawValue) -> Option<f64> {
    scalar(raw)?.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn int(raw: &RawValue) -> Option<i64> {
    let text = scalar(raw)?;
    // A fraction is cut toward zero, as a cast would; `as` saturates, never panics.
    text.parse::<i64>().ok().or_else(|| text.parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| v as i64))
}

/// What the value is answered as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum As {
    Text,
    Float64,
    Int64,
}

impl Kernel for As {
    fn eval(&self, args: &[Arg]) -> Result<ArrayRef> {
        let (docs, key) = two(args)?;
        let (docs, keys) = (as_string_array(docs)?, as_string_array(&key.array)?);
        // Outer `None`: a null argument (null out); inner: nothing plucked.
        let plucked = (0..docs.len()).map(|i| {
            let k = key.row(i);
            (docs.is_valid(i) && keys.is_valid(k)).then(|| pluck(docs.value(i), keys.value(k)))
        });
        Ok(match self {
            As::Text => Arc::new(plucked.map(|v| v.map(|v| v.map(text).unwrap_or_default())).collect::<StringArray>()),
            As::Float64 => {
                Arc::new(plucked.map(|v| v.map(|v| v.and_then(float).unwrap_or(0.0))).collect::<Float64Array>())
            }
            As::Int64 => Arc::new(plucked.map(|v| v.map(|v| v.and_then(int).unwrap_or(0))).collect::<Int64Array>()),
        })
    }
}

pub(super) fn functions() -> Vec<ScalarUDF> {
    family(
        &[DataType::Utf8, DataType::Utf8],
        Volatility::Immutable,
        [
            ("pluck", As::Text, DataType::Utf8),
            ("pluck_float64", As::Float64, DataType::Float64),
            ("pluck_int64", As::Int64, DataType::Int64),
        ],
    )
}

#[cfg(test)]
mod tests {
    use crate::functions::tests::query;

    const DOCS: &str = r#"(VALUES
        ('{"a": "x\"y", "n": 12, "f": 1.5e2, "s": "42", "neg": -7.9,
          "o": {"z": [1, 2], "b": " c d "}, "z": null, "t": true, "a": "dup"}'),
        ('{"a": 1} trailing'),
        ('[{"a": 1}]'),
        ('{"a": '),
        ('{"s": "4x"}'),
        (NULL)
    ) AS t(j)"#;

    #[test]
    fn pluck_gives_text() {
        let sql = format!(
            "SELECT pluck(j, 'a'), pluck(j, 'n'), pluck(j, 'o'), pluck(j, 'z'), pluck(j, 't'), pluck(j, 'missing') \
             FROM {DOCS}"
        );
        assert_eq!(
            query(&sql),
            [
                r#"x"y|12|{"z":[1,2],"b":" c d "}||true|"#,
                "|||||",
                "|||||",
                "|||||",
                "|||||",
                "NULL|NULL|NULL|NULL|NULL|NULL",
            ]
        );
    }

    #[test]
    fn pluck_numbers_from_numbers_and_numeric_strings() {
        let sql = format!(
            "SELECT pluck_float64(j, 'f'), pluck_float64(j, 's'), pluck_float64(j, 'a'), \
             pluck_int64(j, 'n'), pluck_int64(j, 's'), pluck_int64(j, 'neg'), pluck_int64(j, 'o') FROM {DOCS}"
        );
        assert_eq!(
            query(&sql),
            [
                "150.0|42.0|0.0|12|42|-7|0",
                "0.0|0.0|0.0|0|0|0|0",
                "0.0|0.0|0.0|0|0|0|0",
                "0.0|0.0|0.0|0|0|0|0",
                "0.0|0.0|0.0|0|0|0|0",
                "NULL|NULL|NULL|NULL|NULL|NULL|NULL",
            ]
        );
    }

    #[test]
    fn the_key_may_be_a_column_or_null() {
        let sql = "SELECT pluck(j, k), pluck_int64(j, k) FROM (VALUES ('{\"a\": 1, \"b\": 2}', 'b'), \
                   ('{\"a\": 1, \"b\": 2}', 'a'), ('{\"a\": 1}', NULL)) AS t(j, k)";
        assert_eq!(query(sql), ["2|2", "1|1", "NULL|NULL"]);
    }
}
