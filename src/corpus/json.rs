//! Records: how is one JSON record parsed into an id and a text, borrowing from the
//! input where it can, and what is wrong with a bad one?

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::*;

/// A parsed document: its id and its text, borrowed from the input where possible.
#[derive(Debug)]
pub struct Doc<'a> {
    /// `None` when the record has no id field; callers use `<input>:<line>`.
    pub id: Option<Cow<'a, str>>,
    pub text: Cow<'a, str>,
    /// Byte range of the text's JSON string (quotes included) inside the record, so a
    /// rewritten text can replace it and leave every other byte as it was. `None` for
    /// text files and for records read after repairing lone surrogates.
    pub text_span: Option<std::ops::Range<usize>>,
}

/// Parse one record of `format` with the configured field names.
pub fn parse<'a>(
    rec: &Record<'a>,
    format: Format,
    opts: &ReadOptions,
) -> Result<Doc<'a>, RecordError> {
    if rec.bytes.len() > opts.max_record_bytes {
        return Err(RecordError::TooLarge {
            size: rec.bytes.len(),
            limit: opts.max_record_bytes,
        });
    }
    match format {
        Format::Text => {
            let text = std::str::from_utf8(rec.bytes)
                .map_err(|e| RecordError::InvalidUtf8(e.valid_up_to()))?;
            Ok(Doc {
                id: None,
                text: Cow::Borrowed(text),
                text_span: None,
            })
        }
        Format::Jsonl => parse_json(rec.bytes, opts),
    }
}

/// Line number (1-based) inside a text record of the byte at `offset`.
pub fn line_of_offset(bytes: &[u8], offset: usize) -> u64 {
    1 + memchr::memchr_iter(b'\n', &bytes[..offset.min(bytes.len())]).count() as u64
}

pub(super) fn parse_json<'a>(bytes: &'a [u8], opts: &ReadOptions) -> Result<Doc<'a>, RecordError> {
    match parse_json_strict(bytes, opts) {
        Err(RecordError::InvalidJson(msg)) => {
            // Crawls written by Python often hold lone UTF-16 surrogate escapes, which
            // serde_json refuses; they become U+FFFD, as Python's tools would read them.
            if let Some(fixed) = replace_lone_surrogates(bytes)
                && let Ok(doc) = parse_json_strict(&fixed, opts)
            {
                return Ok(Doc {
                    id: doc.id.map(|c| Cow::Owned(c.into_owned())),
                    text: Cow::Owned(doc.text.into_owned()),
                    text_span: None,
                });
            }
            Err(RecordError::InvalidJson(msg))
        }
        other => other,
    }
}

/// `bytes` with every `\uXXXX` escape of an unpaired surrogate replaced by `\ufffd`, or
/// `None` when there is none.
pub fn repair_surrogates(bytes: &[u8]) -> Option<Vec<u8>> {
    replace_lone_surrogates(bytes)
}

/// Byte range of the text field's JSON string in a well-formed record.
pub fn text_span(bytes: &[u8], opts: &ReadOptions) -> Option<std::ops::Range<usize>> {
    parse_json_strict(bytes, opts).ok()?.text_span
}

pub(super) fn replace_lone_surrogates(b: &[u8]) -> Option<Vec<u8>> {
    let hex = |s: &[u8]| {
        std::str::from_utf8(s)
            .ok()
            .and_then(|h| u16::from_str_radix(h, 16).ok())
    };
    let escape_at = |j: usize| {
        (j + 6 <= b.len() && b[j] == b'\\' && b[j + 1] == b'u')
            .then(|| hex(&b[j + 2..j + 6]))
            .flatten()
    };
    let mut out = Vec::with_capacity(b.len());
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match escape_at(i) {
            Some(0xD800..=0xDBFF) if matches!(escape_at(i + 6), Some(0xDC00..=0xDFFF)) => {
                out.extend_from_slice(&b[i..i + 12]);
                i += 12;
            }
            Some(0xD800..=0xDFFF) => {
                out.extend_from_slice(b"\\ufffd");
                changed = true;
                i += 6;
            }
            _ => {
                let end = (i + 2).min(b.len());
                out.extend_from_slice(&b[i..end]);
                i = end;
            }
        }
    }
    changed.then_some(out)
}

pub(super) fn parse_json_strict<'a>(
    bytes: &'a [u8],
    opts: &ReadOptions,
) -> Result<Doc<'a>, RecordError> {
    // A record that is valid UTF-8 (nearly all) is checked once, by SIMD, and parsed
    // as a `str`, which serde_json does not check again; anything else is parsed as
    // bytes so the error names the place.
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => pick_fields(bytes, serde_json::Deserializer::from_str(text), opts),
        Err(_) => pick_fields(bytes, serde_json::Deserializer::from_slice(bytes), opts),
    }
}

pub(super) fn pick_fields<'a, R: serde_json::de::Read<'a>>(
    bytes: &'a [u8],
    mut de: serde_json::Deserializer<R>,
    opts: &ReadOptions,
) -> Result<Doc<'a>, RecordError> {
    let picked = FieldPicker {
        text_field: &opts.text_field,
        id_field: &opts.id_field,
    }
    .deserialize(&mut de)
    .map_err(json_error)?;
    de.end().map_err(json_error)?;
    let picked = picked?;
    let Some(raw) = picked.text else {
        return Err(RecordError::MissingText(opts.text_field.clone()));
    };
    let raw = raw.get();
    let start = raw.as_ptr() as usize - bytes.as_ptr() as usize;
    let decoded = match decode_string(raw) {
        Some(text) => Value::Str(text),
        None => ValueVisitor
            .deserialize(&mut serde_json::Deserializer::from_str(raw))
            .map_err(json_error)?,
    };
    let text = match decoded {
        Value::Str(s) => s,
        other => {
            return Err(RecordError::TextNotString {
                field: opts.text_field.clone(),
                found: other.kind(),
            });
        }
    };
    let id = match picked.id {
        None => None,
        Some(Value::Str(s)) => Some(s),
        Some(Value::Number(n)) => Some(Cow::Owned(n)),
        Some(other) => {
            return Err(RecordError::BadId {
                field: opts.id_field.clone(),
                found: other.kind(),
            });
        }
    };
    Ok(Doc {
        id,
        text,
        text_span: Some(start..start + raw.len()),
    })
}

/// The text of `raw`, a JSON string (quotes included) that serde_json has already
/// read through as well formed, with its escapes decoded: borrowed when it has none,
/// else built in one allocation of its own length. serde_json would read the string
/// a second time and grow a scratch buffer to decode it; here the backslashes are
/// found with `memchr` and the text between them is copied whole. `None` for anything
/// else (not a string, or a `\u` escape of a lone surrogate), which serde_json then
/// reads or refuses.
fn decode_string(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    let bytes = inner.as_bytes();
    let Some(mut at) = memchr::memchr(b'\\', bytes) else {
        return Some(Cow::Borrowed(inner));
    };
    // The code unit of the `\uXXXX` escape at `at`.
    let unit = |at: usize| -> Option<u32> {
        let hex = bytes.get(at + 2..at + 6)?;
        if bytes[at..at + 2] != *b"\\u" || !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let mut out = String::with_capacity(inner.len());
    let mut from = 0;
    loop {
        out.push_str(&inner[from..at]);
        from = at + 2;
        match *bytes.get(at + 1)? {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let hi = unit(at)?;
                from = at + 6;
                let c = match hi {
                    0xD800..=0xDBFF => {
                        let lo = unit(at + 6).filter(|lo| (0xDC00..=0xDFFF).contains(lo))?;
                        from = at + 12;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    _ => hi,
                };
                out.push(char::from_u32(c)?);
            }
            _ => return None,
        }
        match memchr::memchr(b'\\', &bytes[from..]) {
            Some(k) => at = from + k,
            None => break,
        }
    }
    out.push_str(&inner[from..]);
    Some(Cow::Owned(out))
}

/// serde_json's message without its "line 1": the record's line is named by the caller.
pub(super) fn json_error(e: serde_json::Error) -> RecordError {
    let msg = e.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => format!("{} at column {}", &msg[..i], e.column()),
        None => msg,
    };
    RecordError::InvalidJson(msg)
}

/// A field value, kept only as far as the reader needs it.
pub(super) enum Value<'a> {
    Str(Cow<'a, str>),
    Number(String),
    Null,
    Bool,
    Array,
    Object,
}

impl Value<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Number(_) => "a number",
            Value::Null => "null",
            Value::Bool => "a boolean",
            Value::Array => "an array",
            Value::Object => "an object",
        }
    }
}

pub(super) struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Value::Number(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Value::Number(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Value::Number(v.to_string()))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Value::Bool)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Object)
    }
}

impl<'de> DeserializeSeed<'de> for ValueVisitor {
    type Value = Value<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// Picks the text and id fields out of an object and skips every other field
/// without building it.
pub(super) struct FieldPicker<'f> {
    text_field: &'f str,
    id_field: &'f str,
}

pub(super) struct Picked<'a> {
    text: Option<&'a serde_json::value::RawValue>,
    id: Option<Value<'a>>,
}

impl<'de> DeserializeSeed<'de> for FieldPicker<'_> {
    /// The outer result is a JSON syntax error; the inner one a well-formed line that
    /// is not an object.
    type Value = Result<Picked<'de>, RecordError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldPicker<'_> {
    type Value = Result<Picked<'de>, RecordError>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut picked = Picked {
            text: None,
            id: None,
        };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == self.text_field {
                picked.text = Some(map.next_value()?);
            } else if key == self.id_field {
                picked.id = Some(map.next_value_seed(ValueVisitor)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Ok(picked))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err(RecordError::NotAnObject("array")))
    }
    fn visit_borrowed_str<E>(self, _: &'de str) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("string")))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("string")))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("number")))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("number")))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("number")))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("boolean")))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err(RecordError::NotAnObject("null")))
    }
}

#[cfg(test)]
mod decode_tests {
    use super::*;

    /// `s` as a JSON string with every character outside ASCII escaped, as Python's
    /// `json.dumps` writes it by default (surrogate pairs for the astral planes).
    fn ascii_escaped(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 || !c.is_ascii() => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn escapes_decode_as_serde_json_decodes_them() {
        let raw = r#""a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\ud83d\ude00 end""#;
        let want: String = serde_json::from_str(raw).unwrap();
        assert_eq!(decode_string(raw).unwrap(), want);
        assert!(matches!(
            decode_string(r#""plain""#),
            Some(Cow::Borrowed("plain"))
        ));
        // Lone surrogates and non-strings are left to serde_json.
        assert!(decode_string(r#""x\ud800y""#).is_none());
        assert!(decode_string(r#""x\udc00""#).is_none());
        assert!(decode_string(r#""x\ud83dxude00""#).is_none());
        assert!(decode_string("12").is_none());
    }

    proptest::proptest! {
        #[test]
        fn strings_round_trip(s in "\\PC*|[\\\\\"\\n\\t\u{1}é😀ك a]{0,40}") {
            for raw in [serde_json::to_string(&s).unwrap(), ascii_escaped(&s)] {
                let decoded = decode_string(&raw);
                proptest::prop_assert_eq!(decoded.as_deref(), Some(s.as_str()));
            }
        }
    }
}
