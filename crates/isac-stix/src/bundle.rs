//! Bundles (STIX 2.1 §8): parsing and writing whole bundles, a streaming writer that emits
//! objects one at a time to an `io::Write`, and a streaming reader that hands objects to a
//! callback as they are parsed, so a million-object import never holds them all.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::rc::Rc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::syntax;

/// A parsed bundle. Properties besides `type`, `id` and `objects` (for instance the
/// `spec_version` of STIX 2.0 bundles) are kept in `other`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bundle {
    pub id: String,
    pub objects: Vec<Map<String, Value>>,
    pub other: Map<String, Value>,
}

/// Why a document is not a bundle.
#[derive(Debug)]
pub enum BundleError {
    /// Not JSON, or the reader failed.
    Json(serde_json::Error),
    /// JSON, but not shaped like a bundle.
    Shape(String),
    /// The callback of the streaming reader refused an object.
    Refused(String),
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::Json(e) => write!(f, "not a JSON bundle: {e}"),
            BundleError::Shape(s) => write!(f, "not a bundle: {s}"),
            BundleError::Refused(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for BundleError {}

impl From<serde_json::Error> for BundleError {
    fn from(e: serde_json::Error) -> Self {
        BundleError::Json(e)
    }
}

/// A new bundle id (`bundle--<uuidv4>`).
pub fn new_bundle_id() -> String {
    format!("bundle--{}", uuid::Uuid::new_v4())
}

impl Bundle {
    /// A bundle of objects under a fresh id.
    pub fn new(objects: Vec<Map<String, Value>>) -> Self {
        Bundle {
            id: new_bundle_id(),
            objects,
            other: Map::new(),
        }
    }

    /// Parses a bundle from a JSON value.
    pub fn from_value(value: Value) -> Result<Self, BundleError> {
        let Value::Object(mut m) = value else {
            return Err(BundleError::Shape(
                "the document is not a JSON object".into(),
            ));
        };
        if m.get("type").and_then(Value::as_str) != Some("bundle") {
            return Err(BundleError::Shape("`type` is not \"bundle\"".into()));
        }
        let id = match m.remove("id") {
            Some(Value::String(s))
                if matches!(syntax::parse_identifier(&s), Some(("bundle", _))) =>
            {
                s
            }
            _ => return Err(BundleError::Shape("`id` is not a bundle id".into())),
        };
        let objects = match m.remove("objects") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(o) => Ok(o),
                    _ => Err(BundleError::Shape(format!("objects[{i}] is not an object"))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(BundleError::Shape("`objects` is not a list".into())),
        };
        m.remove("type");
        Ok(Bundle {
            id,
            objects,
            other: m,
        })
    }

    /// Parses a bundle from JSON text.
    pub fn parse(text: &str) -> Result<Self, BundleError> {
        Bundle::from_value(serde_json::from_str(text)?)
    }

    /// The bundle as a JSON value (`objects` omitted when empty: empty lists are prohibited).
    pub fn to_value(&self) -> Value {
        let mut m = self.other.clone();
        m.insert("type".into(), Value::String("bundle".into()));
        m.insert("id".into(), Value::String(self.id.clone()));
        if !self.objects.is_empty() {
            m.insert(
                "objects".into(),
                Value::Array(self.objects.iter().cloned().map(Value::Object).collect()),
            );
        }
        Value::Object(m)
    }

    /// The bundle as JSON text.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }
}

/// Writes a bundle object by object, holding none of them.
pub struct BundleWriter<W: io::Write> {
    out: W,
    count: usize,
}

impl<W: io::Write> BundleWriter<W> {
    /// Starts a bundle with the given id.
    pub fn new(mut out: W, id: &str) -> io::Result<Self> {
        write!(out, "{{\"type\":\"bundle\",\"id\":")?;
        serde_json::to_writer(&mut out, id)?;
        Ok(BundleWriter { out, count: 0 })
    }

    /// Appends one object.
    pub fn write_object(&mut self, object: &Map<String, Value>) -> io::Result<()> {
        if self.count == 0 {
            self.out.write_all(b",\"objects\":[")?;
        } else {
            self.out.write_all(b",")?;
        }
        serde_json::to_writer(&mut self.out, object)?;
        self.count += 1;
        Ok(())
    }

    /// How many objects were written.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Closes the bundle and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.count > 0 {
            self.out.write_all(b"]")?;
        }
        self.out.write_all(b"}")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The envelope of a streamed bundle: everything but its objects.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BundleHeader {
    pub id: String,
    pub other: Map<String, Value>,
}

/// Reads a bundle from a reader, handing each object to `each` as soon as it is parsed; at most
/// one object is in memory at a time. `each` may refuse an object (a cap reached, a storage
/// failure) and so stop the read. Returns the envelope after the whole bundle is read.
///
/// The JSON parser reads byte by byte: hand it a buffered reader (`io::BufReader`) for files
/// and sockets. Caps on object count belong in `each`; for input of unbounded size use
/// [`read_streaming_limited`], which bounds the bytes of any single object.
pub fn read_streaming<R: io::Read>(
    reader: R,
    each: impl FnMut(Map<String, Value>) -> Result<(), String>,
) -> Result<BundleHeader, BundleError> {
    read_streaming_limited(reader, u64::MAX, each)
}

/// As [`read_streaming`], but no object (nor any other value of the envelope) may take more than
/// `max_value_bytes` bytes of input: the read stops with [`BundleError::Refused`] as soon as one
/// does, before the oversized value is held in memory. The count is of input bytes between the
/// end of one object and the end of the next, so formatting whitespace counts too: give room
/// above the size limit of a stored object.
pub fn read_streaming_limited<R: io::Read>(
    reader: R,
    max_value_bytes: u64,
    mut each: impl FnMut(Map<String, Value>) -> Result<(), String>,
) -> Result<BundleHeader, BundleError> {
    let since = Rc::new(Cell::new(0u64));
    let over = Rc::new(Cell::new(false));
    let limited = Limited {
        inner: reader,
        since: since.clone(),
        over: over.clone(),
        max: max_value_bytes,
    };
    let mut refused: Option<String> = None;
    let mut de = serde_json::Deserializer::from_reader(limited);
    let header = de.deserialize_map(EnvelopeVisitor {
        each: &mut each,
        refused: &mut refused,
        since: &since,
    });
    if over.get() {
        return Err(BundleError::Refused(format!(
            "an object of the bundle is larger than {max_value_bytes} bytes; the read stopped there"
        )));
    }
    if let Some(r) = refused {
        return Err(BundleError::Refused(r));
    }
    let header = header?;
    de.end()?;
    Ok(header)
}

/// A reader that fails once more than `max` bytes are read after the last object boundary, which
/// the visitor marks by resetting `since`.
struct Limited<R> {
    inner: R,
    since: Rc<Cell<u64>>,
    over: Rc<Cell<bool>>,
    max: u64,
}

impl<R: io::Read> io::Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let used = self.since.get();
        if used > self.max {
            self.over.set(true);
            return Err(io::Error::other("a value of the bundle is too large"));
        }
        // One byte beyond the limit may be read, so that a value of exactly `max` bytes can be
        // followed by its separator.
        let room = usize::try_from(self.max - used)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..room])?;
        self.since.set(used + n as u64);
        Ok(n)
    }
}

struct EnvelopeVisitor<'a, F> {
    each: &'a mut F,
    refused: &'a mut Option<String>,
    since: &'a Cell<u64>,
}

impl<'de, F> Visitor<'de> for EnvelopeVisitor<'_, F>
where
    F: FnMut(Map<String, Value>) -> Result<(), String>,
{
    type Value = BundleHeader;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a STIX bundle object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BundleHeader, A::Error> {
        let mut header = BundleHeader::default();
        let mut saw_type = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "objects" => map.next_value_seed(ObjectsSeed {
                    each: &mut *self.each,
                    refused: &mut *self.refused,
                    since: self.since,
                })?,
                "type" => {
                    let t: String = map.next_value()?;
                    if t != "bundle" {
                        return Err(de::Error::custom("`type` is not \"bundle\""));
                    }
                    saw_type = true;
                }
                "id" => {
                    let id: String = map.next_value()?;
                    if !matches!(syntax::parse_identifier(&id), Some(("bundle", _))) {
                        return Err(de::Error::custom("`id` is not a bundle id"));
                    }
                    header.id = id;
                }
                _ => {
                    let v: Value = map.next_value()?;
                    header.other.insert(key, v);
                }
            }
        }
        if !saw_type || header.id.is_empty() {
            return Err(de::Error::custom("a bundle needs `type` and `id`"));
        }
        Ok(header)
    }
}

struct ObjectsSeed<'a, F> {
    each: &'a mut F,
    refused: &'a mut Option<String>,
    since: &'a Cell<u64>,
}

impl<'de, F> DeserializeSeed<'de> for ObjectsSeed<'_, F>
where
    F: FnMut(Map<String, Value>) -> Result<(), String>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F> Visitor<'de> for ObjectsSeed<'_, F>
where
    F: FnMut(Map<String, Value>) -> Result<(), String>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of STIX objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(object) = seq.next_element::<Map<String, Value>>()? {
            // An object boundary: the size limit counts afresh from here.
            self.since.set(0);
            if let Err(why) = (self.each)(object) {
                // Stop the read here; the rest of the input is never parsed.
                *self.refused = Some(why.clone());
                return Err(de::Error::custom(why));
            }
        }
        Ok(())
    }
}
