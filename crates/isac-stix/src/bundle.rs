//! Bundles (STIX 2.1 §8): parsing and writing whole bundles, a streaming writer that emits
//! objects one at a time to an `io::Write`, and a streaming reader that hands objects to a
//! callback as they are parsed, so a million-object import never holds them all.

use std::fmt;
use std::io;

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
        crate::json_text(&self.to_value())
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
    /// The bundle's id; empty for the other containers.
    pub id: String,
    pub other: Map<String, Value>,
    /// What held the objects.
    pub container: Container,
}

/// What the streaming reader found the objects in. A bundle is STIX's own container (§8); the
/// others are what tools also write to files: the envelope of a TAXII 2.1 response (saved with
/// `curl`, say) and a bare JSON list of objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Container {
    #[default]
    Bundle,
    /// `{"objects": [...]}` without `type` and `id`, as TAXII 2.1 sends objects (its envelope,
    /// with `more` and `next` kept in [`BundleHeader::other`]).
    TaxiiEnvelope,
    /// `[...]`: a JSON list of objects.
    List,
}

/// Reads a bundle from a reader, handing each object to `each` as soon as it is parsed; at most
/// one object is in memory at a time. A TAXII envelope and a bare list of objects are read the
/// same way ([`Container`]). `each` may refuse an object (a cap reached, a storage
/// failure) and so stop the read. Returns the envelope after the whole bundle is read.
///
/// The input is read in blocks of [`SCAN_BLOCK`] bytes, so it needs no buffering of its own.
/// Caps on object count belong in `each`; for input of unbounded size use
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
///
/// How: the envelope is scanned in blocks of [`SCAN_BLOCK`] bytes for the extent of each value
/// (strings, escapes and nesting tracked, nothing built), and each value is then parsed from its
/// bytes in memory. serde_json parses a byte slice several times faster than it parses from an
/// `io::Read`, which it pulls one byte at a time; the scan also makes the size limit a plain
/// counter. The values themselves are parsed, and their syntax checked, by serde_json.
pub fn read_streaming_limited<R: io::Read>(
    reader: R,
    max_value_bytes: u64,
    mut each: impl FnMut(Map<String, Value>) -> Result<(), String>,
) -> Result<BundleHeader, BundleError> {
    let mut s = Scanner {
        inner: reader,
        buf: vec![0; SCAN_BLOCK].into_boxed_slice(),
        pos: 0,
        len: 0,
        since: 0,
        max: max_value_bytes,
    };
    let mut header = BundleHeader::default();
    if s.skip_ws()? == Some(b'[') {
        header.container = Container::List;
        let mut raw = Vec::new();
        s.objects(&mut raw, &mut each)?;
        if let Some(b) = s.skip_ws()? {
            return Err(unexpected(Some(b), "the end of the input"));
        }
        return Ok(header);
    }
    if !s.eat(b'{')? {
        return Err(BundleError::Shape(
            "a bundle is a JSON object (or a TAXII envelope, or a list of objects)".into(),
        ));
    }
    let mut saw_type = false;
    let mut saw_objects = false;
    let mut raw = Vec::new();
    let mut more = !s.eat(b'}')?;
    while more {
        if s.skip_ws()? != Some(b'"') {
            return Err(unexpected(s.skip_ws()?, "a property name"));
        }
        s.since = 0;
        s.value(&mut raw)?;
        let key: String = serde_json::from_slice(&raw)?;
        if !s.eat(b':')? {
            return Err(unexpected(s.skip_ws()?, "`:`"));
        }
        s.skip_ws()?;
        s.since = 0;
        if key == "objects" {
            saw_objects = true;
            s.objects(&mut raw, &mut each)?;
        } else {
            s.value(&mut raw)?;
            match key.as_str() {
                "type" => {
                    let t: String = serde_json::from_slice(&raw)?;
                    if t != "bundle" {
                        return Err(BundleError::Shape("`type` is not \"bundle\"".into()));
                    }
                    saw_type = true;
                }
                "id" => {
                    let id: String = serde_json::from_slice(&raw)?;
                    if !matches!(syntax::parse_identifier(&id), Some(("bundle", _))) {
                        return Err(BundleError::Shape("`id` is not a bundle id".into()));
                    }
                    header.id = id;
                }
                _ => {
                    header.other.insert(key, serde_json::from_slice(&raw)?);
                }
            }
        }
        more = s.more(b'}')?;
    }
    if let Some(b) = s.skip_ws()? {
        return Err(unexpected(Some(b), "the end of the input"));
    }
    if !saw_type && header.id.is_empty() && saw_objects {
        // A TAXII envelope: `objects` and at most `more` and `next` besides.
        if let Some(k) = header
            .other
            .keys()
            .find(|k| !matches!(k.as_str(), "more" | "next"))
        {
            return Err(BundleError::Shape(format!(
                "a bundle needs `type` and `id`; a TAXII envelope has no `{k}`"
            )));
        }
        header.container = Container::TaxiiEnvelope;
        return Ok(header);
    }
    if !saw_type || header.id.is_empty() {
        return Err(BundleError::Shape("a bundle needs `type` and `id`".into()));
    }
    Ok(header)
}

/// Bytes read from the input at a time by the streaming reader. Small enough that an oversized
/// object is refused having read little more than the limit.
pub const SCAN_BLOCK: usize = 8192;

fn unexpected(found: Option<u8>, wanted: &str) -> BundleError {
    BundleError::Shape(match found {
        Some(b) if b.is_ascii_graphic() => format!("expected {wanted}, found `{}`", b as char),
        Some(b) => format!("expected {wanted}, found byte {b:#04x}"),
        None => format!("expected {wanted}, found the end of the input"),
    })
}

/// The streaming reader's input: a block buffer, and the count of bytes consumed since the last
/// value boundary.
struct Scanner<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    since: u64,
    max: u64,
}

impl<R: io::Read> Scanner<R> {
    /// Makes at least one unconsumed byte available; `false` at the end of the input.
    fn fill(&mut self) -> Result<bool, BundleError> {
        if self.pos < self.len {
            return Ok(true);
        }
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => {
                    self.pos = 0;
                    self.len = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(BundleError::Json(serde_json::Error::io(e))),
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.since += n as u64;
    }

    fn over(&self) -> Result<(), BundleError> {
        if self.since > self.max {
            return Err(BundleError::Refused(format!(
                "an object of the bundle is larger than {} bytes; the read stopped there",
                self.max
            )));
        }
        Ok(())
    }

    /// Skips whitespace; returns the next byte without consuming it.
    fn skip_ws(&mut self) -> Result<Option<u8>, BundleError> {
        loop {
            if !self.fill()? {
                return Ok(None);
            }
            let rest = &self.buf[self.pos..self.len];
            let n = rest
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(rest.len());
            let found = rest.get(n).copied();
            self.consume(n);
            self.over()?;
            if found.is_some() {
                return Ok(found);
            }
        }
    }

    /// Consumes `b` if it is the next byte after whitespace.
    fn eat(&mut self, b: u8) -> Result<bool, BundleError> {
        let found = self.skip_ws()? == Some(b);
        if found {
            self.consume(1);
        }
        Ok(found)
    }

    /// After a member of an object or list: `true` past a `,` (another member follows),
    /// `false` past `close`.
    fn more(&mut self, close: u8) -> Result<bool, BundleError> {
        if self.eat(b',')? {
            return Ok(true);
        }
        if self.eat(close)? {
            return Ok(false);
        }
        let wanted = format!("`,` or `{}`", close as char);
        Err(unexpected(self.skip_ws()?, &wanted))
    }

    /// Copies the bytes of the JSON value that starts at the next byte into `out` (cleared
    /// first). Only its extent is found here: strings with their escapes, and nesting. A scalar
    /// ends before the first byte that cannot be part of one; serde_json judges the rest.
    fn value(&mut self, out: &mut Vec<u8>) -> Result<(), BundleError> {
        out.clear();
        let mut depth = 0usize;
        let mut in_str = false;
        let mut esc = false;
        let mut scalar = false;
        let mut started = false;
        loop {
            if !self.fill()? {
                if scalar && !in_str {
                    return Ok(());
                }
                return Err(BundleError::Shape(
                    "the input ends inside a value of the bundle".into(),
                ));
            }
            let rest = &self.buf[self.pos..self.len];
            let mut end = None;
            let mut i = 0;
            while i < rest.len() {
                let b = rest[i];
                i += 1;
                if !started {
                    started = true;
                    match b {
                        b'{' | b'[' => depth = 1,
                        b'"' => in_str = true,
                        _ => scalar = true,
                    }
                    if scalar && matches!(b, b',' | b']' | b'}' | b':') {
                        return Err(unexpected(Some(b), "a value"));
                    }
                    continue;
                }
                if in_str {
                    if esc {
                        esc = false;
                        continue;
                    }
                    // Most of a bundle is string contents: jump to the next quote or backslash,
                    // this byte included (or past what is buffered), instead of looking at
                    // every byte.
                    let Some(k) = memchr::memchr2(b'"', b'\\', &rest[i - 1..]) else {
                        i = rest.len();
                        continue;
                    };
                    let at = i - 1 + k;
                    i = at + 1;
                    if rest[at] == b'\\' {
                        esc = true;
                    } else {
                        in_str = false;
                        if depth == 0 {
                            end = Some(i);
                            break;
                        }
                    }
                } else if scalar {
                    if matches!(b, b',' | b']' | b'}' | b':' | b' ' | b'\t' | b'\n' | b'\r') {
                        end = Some(i - 1);
                        break;
                    }
                } else {
                    match b {
                        b'"' => in_str = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(i);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            let n = end.unwrap_or(rest.len());
            out.extend_from_slice(&rest[..n]);
            self.consume(n);
            self.over()?;
            if end.is_some() {
                return Ok(());
            }
        }
    }

    /// Reads the `objects` list, handing each object over as soon as it is parsed.
    fn objects(
        &mut self,
        raw: &mut Vec<u8>,
        each: &mut impl FnMut(Map<String, Value>) -> Result<(), String>,
    ) -> Result<(), BundleError> {
        if !self.eat(b'[')? {
            return Err(BundleError::Shape("`objects` is not a list".into()));
        }
        let mut more = !self.eat(b']')?;
        while more {
            self.skip_ws()?;
            self.value(raw)?;
            let object: Map<String, Value> = serde_json::from_slice(raw)?;
            // An object boundary: the size limit counts afresh from here.
            self.since = 0;
            each(object).map_err(BundleError::Refused)?;
            more = self.more(b']')?;
        }
        Ok(())
    }
}
