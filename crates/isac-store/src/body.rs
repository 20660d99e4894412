//! How a version's STIX JSON is stored: compressed, in `objects.body_z`.
//!
//! A version's body is about two thirds of its row, and writing rows is most of what a bulk
//! import costs SQLite (docs/BENCHMARKS.md, "Bodies stored compressed; a rollback journal for
//! loads"). Bodies are therefore stored as zstd frames compressed against a fixed dictionary of
//! the text every STIX object repeats: property names in the sorted order isac writes them, the
//! TLP marking ids, isac's extension ids and the common vocabulary values. Against it a 700-byte
//! object takes about 320 bytes; without it zstd gains little on objects this small.
//!
//! Format of `body_z`: one format byte, then the frame, frame content size included:
//! - format [`FORMAT_DICT_1`]: zstd with `stix-body-1.dict`, the dictionary's text alone;
//! - format [`FORMAT_DICT_2`], written since 2026-12-01: zstd with `stix-body-2.dict`, the same
//!   text with zstd's entropy tables for it (`scripts/make-body-dict`). A frame then encodes its
//!   sequences with the dictionary's tables instead of building its own, which took a fifth of
//!   the compression's instructions on bodies this small, and comes out 6% smaller
//!   (docs/BENCHMARKS.md, "Entropy tables in the body dictionary").
//!
//! Neither file may ever change: every stored body depends on its format's, and a test decodes
//! a body stored in each format. A better dictionary is a new file and a new format byte;
//! decoding keeps every old one, so no migration rewrites stored rows.
//!
//! Rows stored before bodies were compressed (migration 0008) have `body_z` NULL and the JSON in
//! `body`; compressed rows have `body` empty. [`decode`] reads both, so no migration rewrites old
//! rows.
//!
//! Compression is done where a [`Body`] is built ([`Body::new`]), not where it is written: a bulk
//! importer builds its objects on the thread that parses the bundle, which has time to spare,
//! while the connection that writes them is what sets the import's rate.

use std::cell::RefCell;
use std::ops::Deref;

use crate::{Result, StoreError};

/// zstd against [`DICT_1`]; read, no longer written.
const FORMAT_DICT_1: u8 = 1;

/// zstd against [`DICT_2`]; what [`Body::new`] writes.
const FORMAT_DICT_2: u8 = 2;

/// The dictionary of format 1. Never edit it (see the module documentation).
const DICT_1: &[u8] = include_bytes!("stix-body-1.dict");

/// The dictionary of format 2. Never edit it (see the module documentation).
const DICT_2: &[u8] = include_bytes!("stix-body-2.dict");

/// zstd level. -1, the first of the fast levels, leaves literals uncompressed: bodies come out
/// about 15% larger than at level 1 (335 bytes against 288 for the benchmark's 715-byte average)
/// but take about half the CPU, and CPU is what a bulk import on two cores runs short of
/// (docs/BENCHMARKS.md, "Bodies stored compressed; a rollback journal for loads"). The level is
/// the writer's choice alone: any level decodes with the same dictionary. Format 2's entropy
/// tables were computed for this level (`scripts/make-body-dict`).
const LEVEL: i32 = -1;

/// The most bytes a stored body may decode to: the largest object the store accepts, with room.
const DECODED_MAX: u64 = 2 * isac_model::limits::OBJECT_BYTES as u64;

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { RefCell::new(None) };
    static DECOMPRESSORS: RefCell<[Option<zstd::bulk::Decompressor<'static>>; 2]> =
        const { RefCell::new([None, None]) };
}

/// A version's STIX JSON and the form it is stored in. It reads as the JSON text (`Deref` to
/// `str`); the stored form is computed once, when it is built.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Body {
    json: String,
    /// `None` when compression failed (it does not, short of memory): the JSON is then stored
    /// as it is, in `body`.
    stored: Option<Vec<u8>>,
}

impl Body {
    pub fn new(json: String) -> Body {
        let stored = encode(&json);
        Body { json, stored }
    }

    pub fn as_str(&self) -> &str {
        &self.json
    }

    pub fn into_string(self) -> String {
        self.json
    }

    /// The values of the `body` and `body_z` columns.
    pub(crate) fn columns(&self) -> (&str, Option<&[u8]>) {
        match &self.stored {
            Some(z) => ("", Some(z.as_slice())),
            None => (self.json.as_str(), None),
        }
    }
}

impl From<String> for Body {
    fn from(json: String) -> Body {
        Body::new(json)
    }
}

impl From<&str> for Body {
    fn from(json: &str) -> Body {
        Body::new(json.to_owned())
    }
}

impl PartialEq<Body> for String {
    fn eq(&self, other: &Body) -> bool {
        *self == other.json
    }
}

impl PartialEq<String> for Body {
    fn eq(&self, other: &String) -> bool {
        self.json == *other
    }
}

impl Deref for Body {
    type Target = str;

    fn deref(&self) -> &str {
        &self.json
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.json, f)
    }
}

fn encode(json: &str) -> Option<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(compressor().ok()?);
        }
        let frame = c.as_mut()?.compress(json.as_bytes()).ok()?;
        let mut out = Vec::with_capacity(frame.len() + 1);
        out.push(FORMAT_DICT_2);
        out.extend_from_slice(&frame);
        Some(out)
    })
}

fn compressor() -> std::io::Result<zstd::bulk::Compressor<'static>> {
    use zstd::zstd_safe::CParameter;
    let mut c = zstd::bulk::Compressor::with_dictionary(LEVEL, DICT_2)?;
    c.set_parameter(CParameter::ContentSizeFlag(true))?;
    c.set_parameter(CParameter::ChecksumFlag(false))?;
    c.set_parameter(CParameter::DictIdFlag(false))?;
    Ok(c)
}

/// The JSON of a stored version from its `body` and `body_z` columns.
pub(crate) fn decode(body: String, body_z: Option<Vec<u8>>) -> Result<String> {
    let Some(z) = body_z else {
        return Ok(body);
    };
    let corrupt = |why: &str| StoreError::Unavailable(format!("a stored body is corrupt: {why}"));
    let (format, frame) = z.split_first().ok_or_else(|| corrupt("empty"))?;
    let (slot, dict) = match *format {
        FORMAT_DICT_1 => (0, DICT_1),
        FORMAT_DICT_2 => (1, DICT_2),
        other => return Err(corrupt(&format!("unknown format {other}"))),
    };
    let size = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n <= DECODED_MAX => n as usize,
        _ => return Err(corrupt("no valid content size")),
    };
    let bytes = DECOMPRESSORS.with(|ds| {
        let mut ds = ds.borrow_mut();
        let d = &mut ds[slot];
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::with_dictionary(dict)?);
        }
        match d.as_mut() {
            Some(d) => d.decompress(frame, size),
            None => Err(std::io::Error::other("no decompressor")),
        }
    });
    let bytes = bytes.map_err(|e| corrupt(&e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| corrupt("not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"created":"2025-01-01T04:31:10.000Z","created_by_ref":"identity--bdfbc956-dce8-4de3-92a6-3a7e3958db15","description":"Quietmint delivered through SMS phishing.","id":"malware--5368e544-454d-44b8-b1e0-564450bc4e48","is_family":false,"malware_types":["trojan","dropper"],"modified":"2025-01-01T04:31:10.000Z","name":"Quietmint loader","object_marking_refs":["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"],"spec_version":"2.1","type":"malware"}"#;

    #[test]
    fn a_body_round_trips_and_is_smaller() {
        for json in [
            SAMPLE,
            "",
            "{}",
            "台灣 金融資安資訊分享與分析中心",
            &"x".repeat(100_000),
        ] {
            let b = Body::from(json);
            let (text, z) = b.columns();
            assert_eq!(text, "");
            let z = z.expect("compressed");
            assert_eq!(decode(String::new(), Some(z.to_vec())).unwrap(), json);
        }
        let b = Body::from(SAMPLE);
        let z = b.columns().1;
        let n = z.map_or(0, <[u8]>::len);
        assert!(n > 0 && n * 2 < SAMPLE.len(), "{n}");
    }

    #[test]
    fn rows_stored_before_compression_read_as_they_are() {
        assert_eq!(decode(SAMPLE.to_owned(), None).unwrap(), SAMPLE);
    }

    /// Format 1 as stored: if this fails, `stix-body-1.dict` or the format changed, and every
    /// body stored with it would no longer decode.
    #[test]
    fn format_1_stays_readable() {
        let stored = hex::decode(FORMAT_1_SAMPLE).unwrap();
        assert_eq!(decode(String::new(), Some(stored)).unwrap(), SAMPLE);
    }

    /// Format 2 as stored, likewise for `stix-body-2.dict`.
    #[test]
    fn format_2_stays_readable() {
        let stored = hex::decode(FORMAT_2_SAMPLE).unwrap();
        assert_eq!(decode(String::new(), Some(stored)).unwrap(), SAMPLE);
    }

    /// What is written now is format 2.
    #[test]
    fn bodies_are_written_in_format_2() {
        let b = Body::from(SAMPLE);
        assert_eq!(b.columns().1.unwrap()[0], FORMAT_DICT_2);
    }

    const FORMAT_1_SAMPLE: &str = concat!(
        "0128b52ffd60c700150500d206171b80b9395b3105afb7ff8b5cbaac2f984e932291916fc701ba09cc050d8041",
        "7dcff2c03fa18f456995bff578ffb82a1dda81931092b3209a05636947f734059368cb340544a90ad7ed403927",
        "45b07cabb75aa64eb8581e3411820e791500192b8318245020a530c046d080fc0d5f9b41c476385e098a822dcc",
        "93cf651192c0212c208e70004ff4111f8397c16091cb020fa9be7ab2ce59f2fc025939d00001",
    );

    const FORMAT_2_SAMPLE: &str = concat!(
        "0228b52ffd60c700450500d406343a33313a3162646662633935362d646365382d346465332d393261362d3361",
        "3765333935386462313551756965746d696e74206564207468726f75676820534d53202e2d2d35333638653534",
        "342d343534642d343462382d623165302d3536343435306263346534385d227d15fc19358841ee4899858dc021",
        "99afd508d471405125cce39e450687871b47893cd1a5189cc9c0855a208cf455da71164733571139ff4a8c02",
    );

    #[test]
    fn corrupt_bodies_are_errors_not_panics() {
        for z in [
            vec![],
            vec![9, 1, 2],
            vec![FORMAT_DICT_1],
            vec![FORMAT_DICT_1, 0x28, 0xb5, 0x2f, 0xfd, 0, 0],
            vec![FORMAT_DICT_2],
            vec![FORMAT_DICT_2, 0x28, 0xb5, 0x2f, 0xfd, 0, 0],
        ] {
            assert!(decode(String::new(), Some(z)).is_err());
        }
        let mut z = Body::from(SAMPLE)
            .columns()
            .1
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let n = z.len();
        z[n / 2] ^= 0xff;
        // A flipped byte may still decode to other text; it must not panic or exceed the size.
        let _ = decode(String::new(), Some(z));
    }
}
