//! `pluck(json, key)`, `pluck_float64(json, key)`, `pluck_int64(json, key)`:
//! one top-level value of a JSON object text, as Pixie's functions of those
//! names give it. A missing key or text that is not a JSON object gives ""
//! (or 0), not null, so scripts can compare without null checks.
//! `pluck_array(json, index)`: the element at a 0-based index of a JSON
//! array text, as `pluck` gives values ("" when there is none).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::cast::{as_int64_array, as_string_array};
use datafusion::error::Result;
use datafusion::logical_expr::{ScalarUDF, Signature, Volatility};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::scalar::{Arg, Kernel, Returns, family, two, udf};

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

/// The text of element `index` of the array `doc`, as written there.
fn element(doc: &str, index: i64) -> Option<&RawValue> {
    let index = usize::try_from(index).ok()?;
    let mut de = serde_json::Deserializer::from_str(doc);
    let found = Nth(index).deserialize(&mut de).ok()?;
    de.end().ok()?;
    found
}

/// Walks an array's elements without building them, keeping the one at the index.
struct Nth(usize);

impl<'de> DeserializeSeed<'de> for Nth {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Nth {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (mut found, mut i) = (None, 0);
        loop {
            if i == self.0 {
                match seq.next_element::<&RawValue>()? {
                    Some(v) => found = Some(v),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
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

/// `pluck_array(json, index)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct PluckArray;

impl Kernel for PluckArray {
    fn eval(&self, args: &[Arg]) -> Result<ArrayRef> {
        let (docs, index) = two(args)?;
        let (docs, indexes) = (as_string_array(docs)?, as_int64_array(&index.array)?);
        let plucked = (0..docs.len()).map(|i| {
            let k = index.row(i);
            (docs.is_valid(i) && indexes.is_valid(k))
                .then(|| element(docs.value(i), indexes.value(k)).map(text).unwrap_or_default())
        });
        Ok(Arc::new(plucked.collect::<StringArray>()))
    }
}

pub(super) fn functions() -> Vec<ScalarUDF> {
    let pluck_array = udf(
        "pluck_array",
        Signature::exact(vec![DataType::Utf8, DataType::Int64], Volatility::Immutable),
        Returns::Type(DataType::Utf8),
        PluckArray,
    );
    let mut functions = family(
        &[DataType::Utf8, DataType::Utf8],
        Volatility::Immutable,
        [
            ("pluck", As::Text, DataType::Utf8),
            ("pluck_float64", As::Float64, DataType::Float64),
            ("pluck_int64", As::Int64, DataType::Int64),
        ],
    );
    functions.push(pluck_array);
    functions
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
    fn pluck_array_gives_an_element_as_text() {
        let sql = r#"SELECT pluck_array(j, 0), pluck_array(j, 1), pluck_array(j, 2), pluck_array(j, 3), pluck_array(j, -1)
                   FROM (VALUES ('[{"name": "a.example", "type": "A"}, "s\"q", 7]'), ('[null, [1, 2]]'),
                                ('{"a": 1}'), ('[1] x'), ('[1,'), (NULL)) AS t(j)"#;
        assert_eq!(
            query(sql),
            [
                r#"{"name":"a.example","type":"A"}|s"q|7||"#,
                "|[1,2]|||",
                "||||",
                "||||",
                "||||",
                "NULL|NULL|NULL|NULL|NULL",
            ]
        );
        let sql = r#"SELECT pluck(pluck_array(pluck(b, 'queries'), 0), 'name')
                     FROM (VALUES ('{"queries":[{"name":"example.com","type":"A"}]}')) AS t(b)"#;
        assert_eq!(query(sql), ["example.com"]);
    }

    #[test]
    fn the_key_may_be_a_column_or_null() {
        let sql = "SELECT pluck(j, k), pluck_int64(j, k) FROM (VALUES ('{\"a\": 1, \"b\": 2}', 'b'), \
                   ('{\"a\": 1, \"b\": 2}', 'a'), ('{\"a\": 1}', NULL)) AS t(j, k)";
        assert_eq!(query(sql), ["2|2", "1|1", "NULL|NULL"]);
    }
}
