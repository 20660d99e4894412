//! STIX 2.1 objects with their TLP → MISP events (the content of a MISP feed).
//!
//! An export runs in two passes, so that it never needs every object, or every event, at once:
//!
//! 1. [`ExportIndex`] is given every object once and keeps a few small fields of each (its id,
//!    type, TLP, recipients, creator and time, and whether other objects consume it), never its
//!    JSON body.
//! 2. [`FeedExport`] then writes the events in order, a few at a time. Each piece of work is an
//!    [`ExportJob`]: consecutive reports and groupings, or a chunk of the objects of one
//!    catch-all event, about [`JOB_OBJECTS`] objects in all. A job names the objects it needs by
//!    id ([`FeedExport::wanted`]); the caller loads them from wherever they are kept
//!    ([`ExportJob::supply`]), asks again until nothing more is wanted, and
//!    [`FeedExport::run`]s the job, which gives the events it completed.
//!
//! [`export_events`] runs the same steps over objects held in memory, so both paths give the
//! same events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use chrono::{DateTime, Utc};
use isac_model::Tlp;
use md5::{Digest, Md5};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::audience::{Distribution, SharingGroupRef, tag_of_tlp, tlp_of_tag};
use crate::galaxy::{ClusterOut, cluster_out, cluster_uuid, galaxies_json, is_cluster};
use crate::ids::{derived_uuid, parse_rfc3339, uuid_of};
use crate::import::str_of;
use crate::mapping::{Cmp, Kind, Lit, attribute_for, map_attribute, recorded_fits};
use crate::pattern::{Join, parse_simple};
use crate::{Diagnostic, Level, StixItem, misp_details};

mod links;

use links::RefOut;

/// The most attributes and galaxy clusters one catch-all event holds; the objects outside any
/// report are split into as many events as it takes. MISP loads, correlates and serves an event
/// whole, so one catch-all event of hundreds of thousands of attributes (a store of a million
/// objects) is more than it can load. Ten thousand attributes make an event file of about 6 MB,
/// far below the [`crate::MAX_EVENT_BYTES`] that isac's own feed reader takes per event.
pub const CATCH_ALL_ATTRIBUTES: usize = 10_000;

/// Objects loaded by one job (besides those they refer to): the objects of a chunk of a
/// catch-all event, or the references of consecutive reports and groupings (at least one).
/// Loading many objects at once takes far fewer round trips to the store than one event at a
/// time.
const JOB_OBJECTS: usize = 500;

/// The organisation written as `Orgc` for objects that name no creator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    pub uuid: String,
    pub name: String,
}

/// How an export is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    pub publisher: Publisher,
    /// The most attributes and galaxy clusters of one catch-all event
    /// ([`CATCH_ALL_ATTRIBUTES`]). An object whose attributes alone are more is not split.
    pub catch_all_size: usize,
}

impl ExportOptions {
    pub fn new(publisher: Publisher) -> ExportOptions {
        ExportOptions {
            publisher,
            catch_all_size: CATCH_ALL_ATTRIBUTES,
        }
    }
}

/// One MISP event ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedEvent {
    pub uuid: String,
    /// `{"Event": {...}}`.
    pub event: Value,
    /// This event's entry of `manifest.json`.
    pub manifest: Value,
    /// The MD5 of every attribute value (each part of a composite value), as `hashes.csv` lists.
    pub hashes: Vec<String>,
}

/// The result of an export.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub events: Vec<ExportedEvent>,
    pub diagnostics: Vec<Diagnostic>,
}

/// A converted attribute before it is placed in an event.
struct Attr {
    uuid: String,
    misp_type: String,
    category: Option<String>,
    value: String,
    to_ids: bool,
    comment: String,
    timestamp: i64,
    first_seen: Option<String>,
    last_seen: Option<String>,
    labels: Vec<String>,
    tlp: Tlp,
    recipients: Vec<SharingGroupRef>,
    object: Option<(String, String, Option<String>, Option<String>)>,
    /// The galaxy clusters the attribute carries.
    galaxies: Vec<Galaxy>,
    /// The STIX object the attribute was written from.
    stix_id: String,
    /// The object references starting from that object (on its first attribute only).
    references: Vec<RefOut>,
    /// Its `Sighting` entries (on its first attribute only).
    sightings: Vec<Value>,
    /// An event report (`EventReport`) rather than an attribute: `comment` is its name and
    /// `value` its Markdown text.
    event_report: bool,
    /// Its analyst data, `Note` (`true`) and `Opinion` entries (on its first attribute only).
    analyst: Vec<(bool, Value)>,
}

/// A galaxy cluster with its `GalaxyCluster` entry (distribution included).
type Galaxy = (ClusterOut, Value);

/// Converts STIX objects held in memory to MISP events.
///
/// Each `report` or `grouping` becomes one event holding the objects it refers to. Objects that
/// no report or grouping in the input refers to are gathered into events per TLP level,
/// recipient list and creator, of at most [`CATCH_ALL_ATTRIBUTES`] attributes each. An object
/// referred to by several reports is written once, in the first of them by id (MISP attribute
/// uuids are unique); the others get a diagnostic. Of several versions of one id, the latest is
/// written.
///
/// Threat actors, intrusion sets, malware, tools, attack patterns, courses of action, sectors
/// (`identity` objects of class `class`), locations and vulnerabilities that came from galaxy
/// clusters become galaxy clusters: of every event whose report refers to them, and of the
/// attributes whose objects a relationship connects to them. A relationship between two such
/// objects becomes a `GalaxyClusterRelation` of its source's cluster.
pub fn export_events(items: &[StixItem], publisher: &Publisher) -> Exported {
    export_events_with(items, &ExportOptions::new(publisher.clone()))
}

/// [`export_events`] with the given options.
pub fn export_events_with(items: &[StixItem], options: &ExportOptions) -> Exported {
    let mut index = ExportIndex::new();
    let mut latest: HashMap<&str, &StixItem> = HashMap::new();
    for i in items {
        if index.add(i) {
            latest.insert(i.id(), i);
        }
    }
    let mut ex = FeedExport::new(index, options);
    let mut events = Vec::new();
    while let Some(mut job) = ex.next_job() {
        loop {
            let ids = ex.wanted(&mut job);
            if ids.is_empty() {
                break;
            }
            for id in ids {
                if let Some(i) = latest.get(id.as_str()) {
                    job.supply((*i).clone());
                }
            }
        }
        events.extend(ex.run(job));
    }
    Exported {
        events,
        diagnostics: ex.take_diagnostics(),
    }
}

fn ts_of(o: &Map<String, Value>) -> Option<DateTime<Utc>> {
    str_of(o, "modified")
        .or_else(|| str_of(o, "created"))
        .and_then(parse_rfc3339)
}

fn is_sco(t: &str) -> bool {
    matches!(
        t,
        "artifact"
            | "autonomous-system"
            | "directory"
            | "domain-name"
            | "email-addr"
            | "email-message"
            | "file"
            | "ipv4-addr"
            | "ipv6-addr"
            | "mac-addr"
            | "mutex"
            | "network-traffic"
            | "process"
            | "software"
            | "url"
            | "user-account"
            | "windows-registry-key"
            | "x509-certificate"
    )
}

/// Object types that only describe other objects and need no MISP form of their own.
fn is_support(t: &str) -> bool {
    matches!(
        t,
        "extension-definition" | "marking-definition" | "language-content"
    )
}

fn default_category(t: &str) -> &'static str {
    match t {
        "md5" | "sha1" | "sha256" | "sha512" | "sha3-256" | "sha3-512" | "ssdeep" | "tlsh"
        | "filename" | "email" | "email-src" | "email-dst" | "email-subject" => "Payload delivery",
        t if t.starts_with("filename|") => "Payload delivery",
        "mutex" | "regkey" | "regkey|value" => "Artifacts dropped",
        "vulnerability" | "link" => "External analysis",
        "threat-actor" | "campaign-name" => "Attribution",
        "text" | "comment" | "other" => "Other",
        _ => "Network activity",
    }
}

fn md5_hex(s: &str) -> String {
    let d = Md5::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- The index -------------------------------------------------------------------------------

/// A STIX id in a few bytes: `<type>--<uuid>` (the UUID in lower case, as STIX writes it) is the
/// type's number and the UUID's bytes; an id of any other form is the number of its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Uuid(u16, [u8; 16]),
    Text(u32),
}

/// An export remark: English, then zh-TW.
pub(crate) type Remark = (String, String);

/// The remark that an element is wider than its event, which MISP narrows.
fn wider_than_event(tlp: Tlp, event: Tlp) -> Remark {
    let (t, e) = (tlp.label(), event.label());
    (
        format!("{t} is wider than its event ({e}); MISP narrows it to the event's audience"),
        format!("{t} 比所屬事件（{e}）更寬；MISP 會將其限縮為事件的對象"),
    )
}

/// The slot number of an id that is not there.
const NONE: u32 = u32::MAX;

// Slot flags.
/// The object itself was given (not only named by another object).
const PRESENT: u16 = 1;
/// An `observed-data`, `domain-name` or `network-traffic` object refers to it.
const REFERRED: u16 = 1 << 1;
/// Its latest version is written as a galaxy cluster.
const CLUSTER: u16 = 1 << 2;
/// A version of it is a `report` or `grouping`.
const CONTAINER: u16 = 1 << 3;
/// A relationship between an object written as attributes and a galaxy cluster.
const LINK: u16 = 1 << 4;
/// A galaxy cluster that a [`LINK`] puts onto attributes.
const LINKED: u16 = 1 << 5;
/// A [`LINK`] written, or refused with a diagnostic.
const HANDLED: u16 = 1 << 6;
/// A galaxy cluster written into an event because the event refers to it.
const USED: u16 = 1 << 7;
/// A relationship between two objects written as galaxy clusters: a `GalaxyClusterRelation`
/// of its source's cluster.
const RELATION: u16 = 1 << 8;
/// A relationship between two objects written as attributes: an `ObjectReference` of the
/// source's MISP object.
const REFERENCE: u16 = 1 << 9;
/// A `sighting`, or an `opinion` that strongly disagrees with one object (a false positive),
/// of an object written as attributes: a `Sighting` of its attribute.
const SIGHTED: u16 = 1 << 10;
/// A note or opinion that MISP would hold as analyst data about one object
/// ([`links::annotated`]); set when the object is indexed.
const ANNOTATES: u16 = 1 << 11;
/// An [`ANNOTATES`] object whose object is written as attributes or as an event: a `Note` or
/// `Opinion` of that attribute or event.
const ANNOTATION: u16 = 1 << 12;

/// What the export keeps of one id: a few small fields of the latest version of the object.
#[derive(Debug, Clone)]
struct Slot {
    key: Key,
    flags: u16,
    /// The object's `type` (its number in `ExportIndex::types`).
    ty: u32,
    tlp: Tlp,
    /// The recipients (its number in `ExportIndex::audiences`).
    recipients: u32,
    /// `created_by_ref` (its number in `ExportIndex::creators`, 0 for none).
    creator: u32,
    /// The slot of the report or grouping whose event holds the object, plus one (0: none).
    assigned: u32,
    /// `modified`, else `created`.
    ts: Option<DateTime<Utc>>,
}

/// The compact index of the objects of an export: every object given to [`ExportIndex::add`]
/// once, in any order, keeping no JSON body: 90 to 180 bytes per object, as full as its tables
/// happen to be.
#[derive(Debug)]
pub struct ExportIndex {
    ids: HashMap<Key, u32>,
    slots: Vec<Slot>,
    /// The slots of the objects, in the order they were first given.
    order: Vec<u32>,
    types: Vec<Box<str>>,
    type_numbers: HashMap<Box<str>, u32>,
    texts: Vec<Box<str>>,
    text_numbers: HashMap<Box<str>, u32>,
    creators: Vec<Box<str>>,
    creator_numbers: HashMap<Box<str>, u32>,
    audiences: Vec<Vec<SharingGroupRef>>,
    audience_numbers: HashMap<Vec<SharingGroupRef>, u32>,
    /// The source and target slots of each relationship ([`NONE`] when absent); for a
    /// sighting or false positive, [`NONE`] and the object it is about.
    ends: HashMap<u32, [u32; 2]>,
    /// The `relationship_type` of each relationship (its number in `relationship_types`).
    relationship_type: HashMap<u32, u32>,
    relationship_types: Vec<Box<str>>,
    relationship_type_numbers: HashMap<Box<str>, u32>,
    /// The uuid of the galaxy cluster each cluster object is written as.
    cluster_uuids: HashMap<u32, Box<str>>,
    /// The number of `object_refs` of each report and grouping.
    refs: HashMap<u32, u32>,
}

impl Default for ExportIndex {
    fn default() -> Self {
        ExportIndex::new()
    }
}

impl ExportIndex {
    pub fn new() -> ExportIndex {
        ExportIndex {
            ids: HashMap::new(),
            slots: Vec::new(),
            order: Vec::new(),
            types: Vec::new(),
            type_numbers: HashMap::new(),
            texts: Vec::new(),
            text_numbers: HashMap::new(),
            creators: vec!["".into()],
            creator_numbers: HashMap::new(),
            audiences: vec![Vec::new()],
            audience_numbers: HashMap::from([(Vec::new(), 0)]),
            ends: HashMap::new(),
            relationship_type: HashMap::new(),
            relationship_types: Vec::new(),
            relationship_type_numbers: HashMap::new(),
            cluster_uuids: HashMap::new(),
            refs: HashMap::new(),
        }
    }

    /// Indexes one object. Of several versions of one id, the latest (by `modified`, else
    /// `created`; the later given when equal) is the one exported. Returns whether this version
    /// is now that one.
    pub fn add(&mut self, item: &StixItem) -> bool {
        let o = &item.object;
        let t = item.stix_type();
        // Observables an observation refers to, and addresses a domain resolves to or a
        // connection goes to, are written as part of the referring object.
        let referred: Vec<&str> = match t {
            "observed-data" => refs(o, "object_refs").collect(),
            "domain-name" => refs(o, "resolves_to_refs").collect(),
            "network-traffic" => ["src_ref", "dst_ref"]
                .iter()
                .filter_map(|k| o.get(*k).and_then(Value::as_str))
                .collect(),
            _ => Vec::new(),
        };
        for r in referred {
            let s = self.intern(r);
            self.slots[s as usize].flags |= REFERRED;
        }
        let s = self.intern(item.id());
        let ts = ts_of(o);
        let container = if matches!(t, "report" | "grouping") {
            CONTAINER
        } else {
            0
        };
        let slot = &self.slots[s as usize];
        let first = slot.flags & PRESENT == 0;
        if !first && slot.ts > ts {
            self.slots[s as usize].flags |= container;
            return false;
        }
        if first {
            self.order.push(s);
        }
        let ty = self.type_number(t);
        let recipients = self.audience_number(&item.recipients);
        let creator = match str_of(o, "created_by_ref") {
            Some(c) => self.creator_number(c),
            None => 0,
        };
        let annotated = links::annotated(item);
        if t == "relationship" {
            let end = |ix: &mut ExportIndex, k: &str| match str_of(o, k) {
                Some(id) => ix.intern(id),
                None => NONE,
            };
            let ends = [end(self, "source_ref"), end(self, "target_ref")];
            self.ends.insert(s, ends);
            let n = text_number(
                &mut self.relationship_types,
                &mut self.relationship_type_numbers,
                str_of(o, "relationship_type").unwrap_or(""),
            );
            self.relationship_type.insert(s, n);
        } else if let Some(about) = links::sighted(item).or(annotated) {
            let about = self.intern(about);
            self.ends.insert(s, [NONE, about]);
            self.relationship_type.remove(&s);
        } else {
            self.ends.remove(&s);
            self.relationship_type.remove(&s);
        }
        if is_cluster(item) {
            self.cluster_uuids.insert(s, cluster_uuid(item).into());
        } else {
            self.cluster_uuids.remove(&s);
        }
        if container != 0 {
            let n = refs(o, "object_refs").count();
            self.refs.insert(s, u32::try_from(n).unwrap_or(u32::MAX));
        }
        let annotates = if annotated.is_some() { ANNOTATES } else { 0 };
        let slot = &mut self.slots[s as usize];
        slot.flags = (slot.flags & !(CLUSTER | ANNOTATES)) | PRESENT | container | annotates;
        if is_cluster(item) {
            slot.flags |= CLUSTER;
        }
        slot.ty = ty;
        slot.tlp = item.tlp;
        slot.recipients = recipients;
        slot.creator = creator;
        slot.ts = ts;
        true
    }

    /// How many objects (ids) are indexed.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The type and UUID bytes of an id of the form `<type>--<lower-case uuid>`.
    fn uuid_parts(id: &str) -> Option<(&str, [u8; 16])> {
        let (t, u) = id.split_once("--")?;
        if u.len() != 36 {
            return None;
        }
        let uuid = Uuid::parse_str(u).ok()?;
        let mut text = [0u8; 36];
        (uuid.hyphenated().encode_lower(&mut text) == u).then_some((t, *uuid.as_bytes()))
    }

    /// The key of an id of the form `<type>--<lower-case uuid>` whose type has a number that
    /// fits a [`Key::Uuid`]; any other id is kept as text.
    fn uuid_key(&self, id: &str) -> Option<Key> {
        let (t, bytes) = Self::uuid_parts(id)?;
        let n = u16::try_from(*self.type_numbers.get(t)?).ok()?;
        Some(Key::Uuid(n, bytes))
    }

    fn key(&self, id: &str) -> Option<Key> {
        self.uuid_key(id)
            .or_else(|| self.text_numbers.get(id).map(|n| Key::Text(*n)))
    }

    /// The slot of an id, made when it has none.
    fn intern(&mut self, id: &str) -> u32 {
        if let Some((t, _)) = Self::uuid_parts(id) {
            self.type_number(t);
        }
        let key = match self.uuid_key(id) {
            Some(k) => k,
            None => match self.text_numbers.get(id) {
                Some(n) => Key::Text(*n),
                None => {
                    let n = self.texts.len() as u32;
                    self.texts.push(id.into());
                    self.text_numbers.insert(id.into(), n);
                    Key::Text(n)
                }
            },
        };
        if let Some(s) = self.ids.get(&key) {
            return *s;
        }
        let s = self.slots.len() as u32;
        self.slots.push(Slot {
            key,
            flags: 0,
            ty: 0,
            tlp: Tlp::Red,
            recipients: 0,
            creator: 0,
            assigned: 0,
            ts: None,
        });
        self.ids.insert(key, s);
        s
    }

    fn type_number(&mut self, t: &str) -> u32 {
        text_number(&mut self.types, &mut self.type_numbers, t)
    }

    fn audience_number(&mut self, recipients: &[SharingGroupRef]) -> u32 {
        if let Some(n) = self.audience_numbers.get(recipients) {
            return *n;
        }
        let n = self.audiences.len() as u32;
        self.audiences.push(recipients.to_vec());
        self.audience_numbers.insert(recipients.to_vec(), n);
        n
    }

    fn creator_number(&mut self, c: &str) -> u32 {
        text_number(&mut self.creators, &mut self.creator_numbers, c)
    }

    /// The slot of an object that was given (not only named).
    fn object(&self, id: &str) -> Option<u32> {
        let s = *self.ids.get(&self.key(id)?)?;
        (self.slots[s as usize].flags & PRESENT != 0).then_some(s)
    }

    /// The id of a slot.
    fn id(&self, s: u32) -> String {
        match self.slots[s as usize].key {
            Key::Uuid(t, bytes) => format!(
                "{}--{}",
                self.types[usize::from(t)],
                Uuid::from_bytes(bytes)
            ),
            Key::Text(n) => self.texts[n as usize].to_string(),
        }
    }

    fn has(&self, s: u32, flag: u16) -> bool {
        self.slots[s as usize].flags & flag != 0
    }

    fn set(&mut self, s: u32, flag: u16) {
        self.slots[s as usize].flags |= flag;
    }

    fn stix_type(&self, s: u32) -> &str {
        &self.types[self.slots[s as usize].ty as usize]
    }

    fn recipients(&self, s: u32) -> &[SharingGroupRef] {
        &self.audiences[self.slots[s as usize].recipients as usize]
    }

    fn creator(&self, s: u32) -> Option<&str> {
        match self.slots[s as usize].creator {
            0 => None,
            n => Some(&self.creators[n as usize]),
        }
    }

    fn relationship_type(&self, s: u32) -> Option<&str> {
        let n = self.relationship_type.get(&s)?;
        Some(&self.relationship_types[*n as usize])
    }

    /// Whether an observable is written as part of the object that refers to it.
    fn consumed(&self, s: u32) -> bool {
        self.has(s, REFERRED) && self.has(s, PRESENT)
    }

    /// Whether an object is written as MISP attributes (so that it can carry galaxy clusters).
    fn has_attributes(&self, s: u32) -> bool {
        match self.stix_type(s) {
            "indicator" | "observed-data" | "note" | "campaign" => true,
            "threat-actor" | "vulnerability" => !self.has(s, CLUSTER),
            t => is_sco(t) && !self.consumed(s),
        }
    }
}

/// The number of `t` in a table of texts, added when it is not there yet.
fn text_number(list: &mut Vec<Box<str>>, numbers: &mut HashMap<Box<str>, u32>, t: &str) -> u32 {
    if let Some(n) = numbers.get(t) {
        return *n;
    }
    let n = list.len() as u32;
    list.push(t.into());
    numbers.insert(t.into(), n);
    n
}

// ---- The export ------------------------------------------------------------------------------

/// The objects one catch-all event gathers: those of one TLP level, recipient list and creator
/// that no report or grouping holds.
struct Bucket {
    tlp: Tlp,
    recipients: Vec<SharingGroupRef>,
    created_by: Option<String>,
    members: Vec<u32>,
}

impl Bucket {
    /// The uuid of part `n` (from 1): derived from the bucket, and for the parts after the
    /// first from the part number too, so the same export gives the same events.
    fn uuid(&self, part: usize) -> String {
        let names: Vec<String> = self
            .recipients
            .iter()
            .map(|r| r.uuid.clone().or(r.name.clone()).unwrap_or_default())
            .collect();
        let names = names.join(",");
        let creator = self.created_by.as_deref().unwrap_or("");
        let n = part.to_string();
        let mut parts = vec!["orphans", self.tlp.as_str(), &names, creator];
        if part > 1 {
            parts.push(&n);
        }
        derived_uuid(&parts).to_string()
    }
}

/// The catch-all event being filled.
struct Part {
    number: usize,
    uuid: String,
    attrs: Vec<Attr>,
    galaxies: Vec<Galaxy>,
    /// Attributes and galaxy clusters so far.
    size: usize,
    latest: DateTime<Utc>,
}

impl Part {
    fn new(bucket: &Bucket, number: usize) -> Part {
        Part {
            number,
            uuid: bucket.uuid(number),
            attrs: Vec::new(),
            galaxies: Vec::new(),
            size: 0,
            latest: DateTime::UNIX_EPOCH,
        }
    }
}

enum Stage {
    Containers(usize),
    CatchAll { bucket: usize, member: usize },
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Work {
    /// The events of consecutive reports and groupings (their slots, in order).
    Containers(Vec<u32>),
    /// Some objects of one catch-all event; `last` when they end it.
    CatchAll {
        bucket: usize,
        members: Range<usize>,
        last: bool,
    },
}

/// One piece of an export: the events of some reports and groupings, or a chunk of the objects
/// of a catch-all event, with the objects loaded for it.
#[derive(Debug)]
pub struct ExportJob {
    work: Work,
    /// Slots to ask for first.
    roots: Vec<u32>,
    /// Slots asked for.
    requested: HashSet<u32>,
    loaded: HashMap<String, StixItem>,
    /// Ids supplied whose own needs are not yet asked for.
    fresh: Vec<String>,
}

impl ExportJob {
    fn new(work: Work, roots: Vec<u32>) -> ExportJob {
        ExportJob {
            work,
            roots,
            requested: HashSet::new(),
            loaded: HashMap::new(),
            fresh: Vec::new(),
        }
    }

    /// Gives the job one of the objects it asked for (its latest version). An object that
    /// cannot be loaded (no longer there, or no longer readable) is simply not supplied.
    pub fn supply(&mut self, item: StixItem) {
        let id = item.id().to_string();
        self.fresh.push(id.clone());
        self.loaded.insert(id, item);
    }

    /// A loaded object of the export.
    fn get(&self, ix: &ExportIndex, id: &str) -> Option<&StixItem> {
        let s = ix.object(id)?;
        debug_assert!(
            self.requested.contains(&s),
            "{id} is needed but was not asked for"
        );
        self.loaded.get(id)
    }
}

/// A MISP export in progress: the events of every report and grouping in id order, then the
/// catch-all events, written job by job (see the module's documentation).
pub struct FeedExport {
    ix: ExportIndex,
    publisher: Publisher,
    catch_all_size: usize,
    /// Relationships between an object written as attributes and one written as a galaxy
    /// cluster, by the slot of the former: the cluster goes onto its attributes.
    links: HashMap<u32, Vec<(u32, u32)>>,
    /// Relationships between two galaxy clusters, by the slot of the source: (relationship,
    /// target). Each becomes a `GalaxyClusterRelation` of the source's cluster wherever that
    /// cluster is written.
    relations: HashMap<u32, Vec<(u32, u32)>>,
    /// Relationships between two objects written as attributes, by the slot of the source:
    /// (relationship, target). Each becomes an `ObjectReference` of the source's MISP object
    /// when both are written in one event.
    references: HashMap<u32, Vec<(u32, u32)>>,
    /// Sightings and false positives, by the slot of the object they are about.
    sightings: HashMap<u32, Vec<u32>>,
    /// Analyst notes and opinions ([`ANNOTATION`]), by the slot of the object they are about.
    annotations: HashMap<u32, Vec<u32>>,
    /// Reports and groupings, in id order.
    containers: Vec<u32>,
    /// Objects whose id has the UUID of another object's id in the export, with the uuid
    /// each is written with instead (see [`FeedExport::misp_uuid`]).
    renamed: HashMap<u32, String>,
    buckets: Vec<Bucket>,
    part: Option<Part>,
    stage: Stage,
    diagnostics: Vec<Diagnostic>,
}

impl FeedExport {
    pub fn new(ix: ExportIndex, options: &ExportOptions) -> FeedExport {
        let mut containers: Vec<(String, u32)> = ix
            .order
            .iter()
            .filter(|s| ix.has(**s, CONTAINER))
            .map(|s| (ix.id(*s), *s))
            .collect();
        containers.sort();
        let mut ex = FeedExport {
            containers: containers.into_iter().map(|(_, s)| s).collect(),
            ix,
            publisher: options.publisher.clone(),
            catch_all_size: options.catch_all_size.max(1),
            links: HashMap::new(),
            relations: HashMap::new(),
            references: HashMap::new(),
            sightings: HashMap::new(),
            annotations: HashMap::new(),
            renamed: HashMap::new(),
            buckets: Vec::new(),
            part: None,
            stage: Stage::Containers(0),
            diagnostics: Vec::new(),
        };
        ex.find_links();
        ex.rename_shared_uuids();
        ex
    }

    /// A STIX id is unique only with its type (`report--X` and `grouping--X` are two
    /// objects), while a MISP uuid is unique alone: two events or attributes with one uuid
    /// would overwrite each other in a feed or be refused by MISP. So of the objects whose ids
    /// share a UUID, the first by type name keeps it and each other one is written with a uuid
    /// derived from its whole id, with a warning. The sort holds 24 bytes per object while it
    /// runs.
    fn rename_shared_uuids(&mut self) {
        let ix = &self.ix;
        // Objects never written under their own uuid: relationships (links and relations),
        // clusters (their cluster's uuid), organisations, definitions, and observables written
        // as part of another object.
        let own = |s: u32| {
            let t = ix.stix_type(s);
            !(t == "relationship"
                || ix.has(s, SIGHTED | ANNOTATION)
                || t == "identity"
                || is_support(t)
                || ix.has(s, CLUSTER)
                || ix.consumed(s))
        };
        let mut keys: Vec<([u8; 16], &str, u32)> = ix
            .order
            .iter()
            .filter(|&&s| own(s))
            .filter_map(|&s| match ix.slots[s as usize].key {
                Key::Uuid(t, bytes) => Some((bytes, &*ix.types[usize::from(t)], s)),
                // An id whose UUID is written with upper-case digits is kept as text, and is
                // written with the same (lower-cased) uuid.
                Key::Text(n) => {
                    let id = &ix.texts[n as usize];
                    let t = id.split_once("--")?.0;
                    Some((*uuid_of(id)?.as_bytes(), t, s))
                }
            })
            .collect();
        keys.sort_unstable();
        let mut renamed = Vec::new();
        for w in keys.windows(2) {
            if w[0].0 == w[1].0 {
                renamed.push((w[1].2, w[0].2));
            }
        }
        drop(keys);
        for (s, first) in renamed {
            let id = self.ix.id(s);
            let uuid = derived_uuid(&[&id]).to_string();
            let other = self.ix.id(first);
            let reason = (
                format!(
                    "its UUID is also that of {other}, and a MISP uuid must be unique on its own: written with uuid {uuid}"
                ),
                format!(
                    "其 UUID 與 {other} 相同，而 MISP uuid 必須獨一無二：改以 uuid {uuid} 寫出"
                ),
            );
            self.diag(Level::Warning, None, &id, reason);
            self.renamed.insert(s, uuid);
        }
    }

    /// The uuid an object's event or first attribute is written with: its id's UUID, unless
    /// another object has it too ([`FeedExport::rename_shared_uuids`]); for an id that has no
    /// UUID, one derived from it.
    fn misp_uuid(&self, id: &str) -> String {
        if !self.renamed.is_empty()
            && let Some(u) = self.ix.object(id).and_then(|s| self.renamed.get(&s))
        {
            return u.clone();
        }
        uuid_of(id)
            .map(|u| u.to_string())
            .unwrap_or_else(|| derived_uuid(&[id]).to_string())
    }

    /// The next piece of work, or `None` when the export is complete.
    pub fn next_job(&mut self) -> Option<ExportJob> {
        loop {
            match self.stage {
                Stage::Containers(i) => match self.containers.get(i) {
                    Some(_) => {
                        let mut end = i;
                        let mut objects = 0;
                        while let Some(c) = self.containers.get(end) {
                            let n = self.ix.refs.get(c).map_or(0, |n| *n as usize) + 1;
                            if end > i && objects + n > JOB_OBJECTS {
                                break;
                            }
                            objects += n;
                            end += 1;
                        }
                        self.stage = Stage::Containers(end);
                        let slots = self.containers[i..end].to_vec();
                        return Some(ExportJob::new(Work::Containers(slots.clone()), slots));
                    }
                    None => {
                        self.plan_catch_all();
                        self.stage = Stage::CatchAll {
                            bucket: 0,
                            member: 0,
                        };
                    }
                },
                Stage::CatchAll { bucket, member } => {
                    let Some(b) = self.buckets.get(bucket) else {
                        self.unwritten_links();
                        self.stage = Stage::Done;
                        continue;
                    };
                    let end = (member + JOB_OBJECTS).min(b.members.len());
                    let last = end == b.members.len();
                    self.stage = if last {
                        Stage::CatchAll {
                            bucket: bucket + 1,
                            member: 0,
                        }
                    } else {
                        Stage::CatchAll {
                            bucket,
                            member: end,
                        }
                    };
                    let mut roots = b.members[member..end].to_vec();
                    roots.extend(b.created_by.as_deref().and_then(|c| self.ix.object(c)));
                    let work = Work::CatchAll {
                        bucket,
                        members: member..end,
                        last,
                    };
                    return Some(ExportJob::new(work, roots));
                }
                Stage::Done => return None,
            }
        }
    }

    /// The ids of the objects `job` needs that it has not asked for yet: its own objects first,
    /// then those that the objects supplied since refer to. Load them (through the same read
    /// rules as the rest of the export), [`ExportJob::supply`] them, and ask again; once the
    /// answer is empty, [`FeedExport::run`] the job.
    pub fn wanted(&self, job: &mut ExportJob) -> Vec<String> {
        let mut slots = std::mem::take(&mut job.roots);
        for id in std::mem::take(&mut job.fresh) {
            let Some(item) = job.loaded.get(&id) else {
                continue;
            };
            let s = self.ix.object(&id);
            if s.is_none_or(|s| !job.requested.contains(&s)) {
                continue;
            }
            let root = match (&job.work, s) {
                (Work::Containers(c), Some(s)) => c.contains(&s),
                _ => false,
            };
            self.needs(item, root, &mut slots);
        }
        slots
            .into_iter()
            .filter(|s| job.requested.insert(*s))
            .map(|s| self.ix.id(s))
            .collect()
    }

    /// Does a job; returns the events it completed, in order.
    pub fn run(&mut self, job: ExportJob) -> Vec<ExportedEvent> {
        match job.work.clone() {
            Work::Containers(c) => c
                .into_iter()
                .filter_map(|c| self.container(c, &job))
                .collect(),
            Work::CatchAll {
                bucket,
                members,
                last,
            } => self.catch_all(bucket, members, last, &job),
        }
    }

    /// The diagnostics found since the last call.
    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.diagnostics)
    }

    /// The objects converting `item` reads besides itself.
    fn needs(&self, item: &StixItem, root: bool, out: &mut Vec<u32>) {
        let o = &item.object;
        let mut ids: Vec<&str> = Vec::new();
        match item.stix_type() {
            "report" | "grouping" if root => {
                ids.extend(refs(o, "object_refs"));
                ids.extend(str_of(o, "created_by_ref"));
            }
            "observed-data" => ids.extend(refs(o, "object_refs")),
            "domain-name" => ids.extend(refs(o, "resolves_to_refs").next()),
            "network-traffic" => {
                ids.extend(["dst_ref", "src_ref"].iter().filter_map(|k| str_of(o, k)))
            }
            _ => {}
        }
        out.extend(ids.into_iter().filter_map(|id| self.ix.object(id)));
        if let Some(s) = self.ix.object(item.id()) {
            if let Some(links) = self.links.get(&s) {
                out.extend(links.iter().map(|(_, cluster)| *cluster));
            }
            if let Some(refs) = self.references.get(&s) {
                out.extend(refs.iter().map(|(rel, _)| *rel));
            }
            if let Some(sightings) = self.sightings.get(&s) {
                out.extend(sightings.iter().copied());
            }
            // Analyst data about it, and about those, to any depth (MISP nests analyst data
            // about analyst data in the entry it is about).
            let mut stack: Vec<u32> = self.annotations.get(&s).cloned().unwrap_or_default();
            let mut seen = HashSet::new();
            while let Some(n) = stack.pop() {
                if seen.insert(n) {
                    out.push(n);
                    stack.extend(self.annotations.get(&n).into_iter().flatten().copied());
                }
            }
        }
    }

    fn find_links(&mut self) {
        let ix = &mut self.ix;
        for i in 0..ix.order.len() {
            let r = ix.order[i];
            let Some([source, target]) = ix.ends.get(&r).copied() else {
                continue;
            };
            let given = |s: u32| s != NONE && ix.has(s, PRESENT);
            if ix.stix_type(r) != "relationship" {
                if ix.has(r, ANNOTATES) {
                    let holds = |t: u32| {
                        ix.has_attributes(t) || ix.has(t, CONTAINER) || ix.has(t, ANNOTATES)
                    };
                    if given(target) && holds(target) {
                        self.annotations.entry(target).or_default().push(r);
                        ix.set(r, ANNOTATION);
                    }
                    continue;
                }
                if given(target) && ix.has_attributes(target) {
                    self.sightings.entry(target).or_default().push(r);
                    ix.set(r, SIGHTED);
                }
                continue;
            }
            if !given(source) || !given(target) {
                continue;
            }
            if ix.has_attributes(source) && ix.has_attributes(target) {
                self.references.entry(source).or_default().push((r, target));
                ix.set(r, REFERENCE);
                continue;
            }
            if ix.has(source, CLUSTER) && ix.has(target, CLUSTER) {
                self.relations.entry(source).or_default().push((r, target));
                ix.set(r, RELATION);
                continue;
            }
            let (holder, cluster) = if ix.has(target, CLUSTER) && ix.has_attributes(source) {
                (source, target)
            } else if ix.has(source, CLUSTER) && ix.has_attributes(target) {
                (target, source)
            } else {
                continue;
            };
            self.links.entry(holder).or_default().push((r, cluster));
            ix.set(r, LINK);
            ix.set(cluster, LINKED);
        }
    }

    /// Adds a cluster an event refers to.
    fn event_galaxy(&mut self, item: &StixItem, event: &str, galaxies: &mut Vec<Galaxy>) {
        if let Some(s) = self.ix.object(item.id()) {
            self.ix.set(s, USED);
        }
        match cluster_out(item) {
            Ok(c) => {
                let g = self.cluster_entry(c, item);
                if !galaxies.contains(&g) {
                    galaxies.push(g);
                }
            }
            Err(reason) => self.diag(Level::Skipped, Some(event), item.id(), reason),
        }
    }

    /// The clusters an object's relationships give to its attributes.
    fn attribute_galaxies(
        &mut self,
        item: &StixItem,
        event: &str,
        objs: &ExportJob,
    ) -> Vec<Galaxy> {
        let links = self
            .ix
            .object(item.id())
            .and_then(|s| self.links.get(&s))
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for (rel, cluster) in links {
            self.ix.set(rel, HANDLED);
            let rel_audience = (self.ix.slots[rel as usize].tlp, self.ix.recipients(rel));
            if narrower_than(rel_audience, item) {
                let (c, t, i) = (self.ix.id(cluster), rel_audience.0.label(), item.id());
                let reason = (
                    format!(
                        "the relationship to {c} is narrower ({t}) than {i}; MISP cannot tag an attribute more narrowly than the attribute itself"
                    ),
                    format!(
                        "與 {c} 的關係（{t}）比 {i} 更窄；MISP 無法以比屬性本身更窄的範圍為屬性加標籤"
                    ),
                );
                let rel_id = self.ix.id(rel);
                self.diag(Level::Skipped, Some(event), &rel_id, reason);
                continue;
            }
            let Some(cluster) = objs.get(&self.ix, &self.ix.id(cluster)) else {
                continue;
            };
            match cluster_out(cluster) {
                Ok(c) => {
                    let g = self.cluster_entry(c, cluster);
                    if !out.contains(&g) {
                        out.push(g);
                    }
                }
                Err(reason) => self.diag(Level::Skipped, Some(event), cluster.id(), reason),
            }
        }
        out
    }

    /// A cluster's `GalaxyCluster` entry with its relations to the other clusters of the
    /// export, each with the distribution of its own relationship.
    fn cluster_entry(&mut self, c: ClusterOut, item: &StixItem) -> Galaxy {
        let (c, mut entry) = galaxy_entry(c, item);
        let relations = self
            .ix
            .object(item.id())
            .and_then(|s| self.relations.get(&s));
        let mut written = Vec::new();
        for &(rel, target) in relations.into_iter().flatten() {
            let (Some(rt), Some(to)) = (
                self.ix.relationship_type(rel),
                self.ix.cluster_uuids.get(&target),
            ) else {
                continue;
            };
            let tlp = self.ix.slots[rel as usize].tlp;
            let mut r = Map::new();
            r.insert("galaxy_cluster_uuid".into(), entry["uuid"].clone());
            r.insert("referenced_galaxy_cluster_uuid".into(), to.as_ref().into());
            r.insert("referenced_galaxy_cluster_type".into(), rt.into());
            insert_distribution(&mut r, tlp, self.ix.recipients(rel));
            r.insert("default".into(), false.into());
            // The TLP tag says what the distribution cannot (RED and AMBER+STRICT share
            // distribution 0).
            r.insert("Tag".into(), json!([{ "name": tag_of_tlp(tlp) }]));
            written.push(Value::Object(r));
            self.ix.set(rel, HANDLED);
        }
        if let (false, Value::Object(e)) = (written.is_empty(), &mut entry) {
            e.insert("GalaxyClusterRelation".into(), Value::Array(written));
        }
        (c, entry)
    }

    /// Names the relationships to clusters whose other end wrote no attribute, and those
    /// between clusters whose source cluster was not written.
    fn unwritten_links(&mut self) {
        let mut left: Vec<(String, Remark)> = Vec::new();
        for (source, relations) in &self.relations {
            for (rel, target) in relations {
                if !self.ix.has(*rel, HANDLED) {
                    let (s, t) = (self.ix.id(*source), self.ix.id(*target));
                    left.push((
                        self.ix.id(*rel),
                        (
                            format!(
                                "not written: the galaxy cluster of {s} was not written, so its relation to the cluster of {t} has no place"
                            ),
                            format!("未寫出：{s} 的星系叢集未寫出，因此它與 {t} 叢集的關聯無處可放"),
                        ),
                    ));
                }
            }
        }
        for (holder, links) in &self.links {
            for (rel, cluster) in links {
                if !self.ix.has(*rel, HANDLED) {
                    let (h, c) = (self.ix.id(*holder), self.ix.id(*cluster));
                    left.push((
                        self.ix.id(*rel),
                        (
                            format!(
                                "not written: {h} has no MISP attribute here, so the galaxy cluster of {c} has nothing to tag"
                            ),
                            format!("未寫出：{h} 在此沒有 MISP 屬性，因此 {c} 的星系叢集沒有可加標籤的對象"),
                        ),
                    ));
                }
            }
        }
        self.unwritten_references(&mut left);
        left.sort();
        for (id, reason) in left {
            self.diag(Level::Skipped, None, &id, reason);
        }
    }

    /// Records a remark on `element`, in English and zh-TW.
    fn diag(&mut self, level: Level, event: Option<&str>, element: &str, reason: Remark) {
        self.diagnostics.push(Diagnostic {
            level,
            event_uuid: event.map(str::to_string),
            element: Some(element.to_string()),
            reason: reason.0,
            reason_zh: Some(reason.1),
        });
    }

    fn container(&mut self, slot: u32, objs: &ExportJob) -> Option<ExportedEvent> {
        let c = objs.get(&self.ix, &self.ix.id(slot))?;
        let event_uuid = self.misp_uuid(c.id());
        let mut attrs = Vec::new();
        let mut galaxies = Vec::new();
        for r in refs(&c.object, "object_refs") {
            let Some(m) = self.ix.object(r) else {
                continue;
            };
            let Some(member) = objs.get(&self.ix, r) else {
                continue;
            };
            // A relationship to a cluster is written with the attributes it connects, one
            // between clusters with its source's cluster; a cluster is global, so every event
            // that refers to it carries it.
            if self
                .ix
                .has(m, LINK | RELATION | REFERENCE | SIGHTED | ANNOTATION)
            {
                continue;
            }
            if is_cluster(member) {
                self.event_galaxy(member, &event_uuid, &mut galaxies);
                continue;
            }
            match self.ix.slots[m as usize].assigned {
                0 => {}
                e => {
                    let e = self.misp_uuid(&self.ix.id(e - 1));
                    if e != event_uuid {
                        let reason = (
                            format!("also referred to by {}; written once, in event {e}", c.id()),
                            format!("也被 {} 引用；只寫出一次，在事件 {e} 中", c.id()),
                        );
                        self.diag(Level::Warning, Some(&event_uuid), member.id(), reason);
                    }
                    continue;
                }
            }
            let t = member.stix_type();
            if matches!(t, "report" | "grouping") || is_support(t) || t == "identity" {
                continue;
            }
            if is_sco(t) && self.ix.consumed(m) {
                continue;
            }
            self.ix.slots[m as usize].assigned = slot + 1;
            attrs.extend(self.convert(member, &event_uuid, objs));
        }
        self.ix.slots[slot as usize].assigned = slot + 1;
        let details = misp_details(&c.object);
        let info = str_of(&c.object, "name").unwrap_or("").to_string();
        let ts = ts_of(&c.object).unwrap_or(DateTime::UNIX_EPOCH);
        let published = str_of(&c.object, "published").and_then(parse_rfc3339);
        let date = details
            .and_then(|d| str_of(d, "date"))
            .map(str::to_string)
            .or_else(|| published.map(|p| p.format("%Y-%m-%d").to_string()))
            .unwrap_or_else(|| ts.format("%Y-%m-%d").to_string());
        let detail = |k: &str, default: &str| {
            details
                .and_then(|d| str_of(d, k))
                .unwrap_or(default)
                .to_string()
        };
        let holder = links::Holder {
            item: c,
            object_type: "Event",
            uuid: &event_uuid,
            depth: 0,
        };
        let analyst = self.analyst_data(&holder, &event_uuid, objs);
        let meta = EventMeta {
            uuid: event_uuid,
            info,
            date,
            timestamp: ts.timestamp(),
            publish_timestamp: published.map(|p| p.timestamp()),
            threat_level_id: detail("threat_level_id", "4"),
            analysis: detail("analysis", "2"),
            tlp: c.tlp,
            recipients: c.recipients.clone(),
            labels: labels_of(&c.object),
            created_by: str_of(&c.object, "created_by_ref").map(str::to_string),
            orgc_name: details
                .and_then(|d| str_of(d, "orgc_name"))
                .map(str::to_string),
            galaxies,
            analyst,
        };
        Some(self.emit(meta, attrs, objs))
    }

    /// Groups the objects that no event holds by TLP level, recipients and creator.
    fn plan_catch_all(&mut self) {
        type Key = (u8, Vec<SharingGroupRef>, Option<String>);
        let ix = &self.ix;
        let mut groups: BTreeMap<Key, Vec<u32>> = BTreeMap::new();
        for &s in &ix.order {
            let slot = &ix.slots[s as usize];
            let t = ix.stix_type(s);
            let cluster = ix.has(s, CLUSTER);
            if slot.assigned != 0
                || ix.has(s, LINK | RELATION | REFERENCE | SIGHTED | ANNOTATION)
                || (cluster && (ix.has(s, USED) || ix.has(s, LINKED)))
                || matches!(t, "report" | "grouping")
                || (t == "identity" && !cluster)
                || is_support(t)
                || (is_sco(t) && ix.consumed(s))
            {
                continue;
            }
            let mut rec = ix.recipients(s).to_vec();
            rec.sort();
            let key = (slot.tlp.breadth(), rec, ix.creator(s).map(str::to_string));
            groups.entry(key).or_default().push(s);
        }
        self.buckets = groups
            .into_iter()
            .map(|((_, recipients, created_by), members)| Bucket {
                tlp: ix.slots[members[0] as usize].tlp,
                recipients,
                created_by,
                members,
            })
            .collect();
    }

    /// Adds some objects of a catch-all event; writes the event whenever the next object's
    /// attributes would make it larger than the catch-all size, and at its end.
    fn catch_all(
        &mut self,
        bucket: usize,
        members: Range<usize>,
        last: bool,
        objs: &ExportJob,
    ) -> Vec<ExportedEvent> {
        let mut out = Vec::new();
        let mut part = match self.part.take() {
            Some(p) if members.start > 0 => p,
            _ => Part::new(&self.buckets[bucket], 1),
        };
        let slots = self.buckets[bucket].members[members].to_vec();
        for s in slots {
            let Some(m) = objs.get(&self.ix, &self.ix.id(s)) else {
                continue;
            };
            let mark = self.diagnostics.len();
            let mut attrs = Vec::new();
            let mut galaxies = Vec::new();
            if is_cluster(m) {
                self.event_galaxy(m, &part.uuid, &mut galaxies);
            } else {
                attrs = self.convert(m, &part.uuid, objs);
            }
            galaxies.retain(|g| !part.galaxies.contains(g));
            let size = attrs.len() + galaxies.len();
            if part.size > 0 && part.size + size > self.catch_all_size {
                // The object opens the next event: what it reported names that event.
                let mut moved = self.diagnostics.split_off(mark);
                let next = Part::new(&self.buckets[bucket], part.number + 1);
                for d in &mut moved {
                    if d.event_uuid.as_deref() == Some(part.uuid.as_str()) {
                        d.event_uuid = Some(next.uuid.clone());
                    }
                }
                let full = std::mem::replace(&mut part, next);
                out.extend(self.emit_part(bucket, full, objs));
                self.diagnostics.append(&mut moved);
            }
            if let Some(t) = ts_of(&m.object) {
                part.latest = part.latest.max(t);
            }
            part.size += size;
            part.attrs.extend(attrs);
            part.galaxies.extend(galaxies);
        }
        if last {
            out.extend(self.emit_part(bucket, part, objs));
        } else {
            self.part = Some(part);
        }
        out
    }

    fn emit_part(&mut self, bucket: usize, part: Part, objs: &ExportJob) -> Option<ExportedEvent> {
        if part.attrs.is_empty() && part.galaxies.is_empty() {
            return None;
        }
        let b = &self.buckets[bucket];
        let info = match part.number {
            1 => format!("Objects outside any report ({})", b.tlp.label()),
            n => format!("Objects outside any report ({}, part {n})", b.tlp.label()),
        };
        let meta = EventMeta {
            uuid: part.uuid,
            info,
            date: part.latest.format("%Y-%m-%d").to_string(),
            timestamp: part.latest.timestamp(),
            publish_timestamp: None,
            threat_level_id: "4".into(),
            analysis: "2".into(),
            tlp: b.tlp,
            recipients: b.recipients.clone(),
            labels: Vec::new(),
            created_by: b.created_by.clone(),
            orgc_name: None,
            galaxies: part.galaxies,
            analyst: Vec::new(),
        };
        Some(self.emit(meta, part.attrs, objs))
    }

    /// One STIX object → its MISP attributes (none, with a diagnostic, when it has no MISP form).
    fn convert(&mut self, item: &StixItem, event: &str, objs: &ExportJob) -> Vec<Attr> {
        let o = &item.object;
        let id = item.id();
        let details = misp_details(o);
        let hint = details.and_then(|d| str_of(d, "attribute_type"));
        let own_uuid = self.misp_uuid(id);
        let ts = ts_of(o).map(|t| t.timestamp()).unwrap_or(0);
        let make = |uuid: String, misp_type: &str, value: String, to_ids: bool| Attr {
            uuid,
            misp_type: misp_type.to_string(),
            category: details
                .filter(|d| str_of(d, "attribute_type") == Some(misp_type))
                .and_then(|d| str_of(d, "category"))
                .map(str::to_string),
            value,
            to_ids,
            comment: details
                .and_then(|d| str_of(d, "comment"))
                .or_else(|| str_of(o, "description"))
                .unwrap_or("")
                .to_string(),
            timestamp: ts,
            first_seen: None,
            last_seen: None,
            labels: labels_of(o),
            tlp: item.tlp,
            recipients: item.recipients.clone(),
            object: details.and_then(|d| {
                Some((
                    str_of(d, "object_uuid")?.to_string(),
                    str_of(d, "object_name")?.to_string(),
                    str_of(d, "object_relation").map(str::to_string),
                    str_of(d, "object_meta_category").map(str::to_string),
                ))
            }),
            galaxies: Vec::new(),
            stix_id: id.to_string(),
            references: Vec::new(),
            sightings: Vec::new(),
            event_report: false,
            analyst: Vec::new(),
        };
        let numbered = |i: usize| {
            if i == 0 {
                own_uuid.clone()
            } else {
                derived_uuid(&[id, &i.to_string()]).to_string()
            }
        };
        let mut out = Vec::new();
        match item.stix_type() {
            "indicator" => {
                let pattern = str_of(o, "pattern").unwrap_or("");
                let parsed = if str_of(o, "pattern_type") == Some("stix") {
                    parse_simple(pattern)
                } else {
                    None
                };
                let groups: Vec<Vec<Cmp>> = match parsed {
                    Some((cmps, Join::And)) => vec![cmps],
                    Some((cmps, Join::Or)) => cmps.into_iter().map(|c| vec![c]).collect(),
                    None => Vec::new(),
                };
                let recorded =
                    details.and_then(|d| Some((str_of(d, "attribute_type")?, str_of(d, "value")?)));
                let converted: Option<Vec<(String, String)>> = groups
                    .iter()
                    .map(|g| match recorded {
                        Some((t, v)) if groups.len() == 1 && recorded_fits(g, t, v) => {
                            Some((t.to_string(), v.to_string()))
                        }
                        _ => attribute_for(g, hint),
                    })
                    .collect();
                match converted {
                    Some(list) if !list.is_empty() => {
                        for (i, (t, v)) in list.into_iter().enumerate() {
                            let mut a = make(numbered(i), &t, v, true);
                            a.first_seen = str_of(o, "valid_from").map(str::to_string);
                            a.last_seen = str_of(o, "valid_until").map(str::to_string);
                            out.push(a);
                        }
                    }
                    _ => self.diag(
                        Level::Skipped,
                        Some(event),
                        id,
                        (
                            format!("the pattern {pattern} is not a single comparison, an OR of comparisons, or an AND forming one MISP composite type"),
                            format!("樣式 {pattern} 不是單一比較、以 OR 連接的比較，也不是組成一個 MISP 複合類型的 AND"),
                        ),
                    ),
                }
            }
            "observed-data" => {
                let refs: Vec<&str> = refs(o, "object_refs").collect();
                // An observation that came from MISP converts back to its attribute when its
                // observables are still exactly those of the recorded value.
                let from_misp = details.and_then(|d| {
                    let t = str_of(d, "attribute_type")?;
                    let v = str_of(d, "value")?;
                    match map_attribute(t, v) {
                        Ok(Kind::Observable { scos, .. }) if !scos.is_empty() => {
                            let mut want: Vec<&str> =
                                scos.iter().filter_map(|s| s["id"].as_str()).collect();
                            let mut have = refs.clone();
                            want.sort();
                            have.sort();
                            (want == have).then(|| (t.to_string(), v.to_string()))
                        }
                        _ => None,
                    }
                });
                let mut list = Vec::new();
                if let Some((t, v)) = from_misp {
                    list.push((t, v));
                } else {
                    for r in &refs {
                        let Some(sco) = objs.get(&self.ix, r) else {
                            continue;
                        };
                        if sco.stix_type() == "ipv4-addr" || sco.stix_type() == "ipv6-addr" {
                            // Addresses that a network-traffic object refers to are written with it.
                            let used = refs.iter().any(|other| {
                                objs.get(&self.ix, other).is_some_and(|n| {
                                    n.stix_type() == "network-traffic"
                                        && (n.object.get("dst_ref").and_then(Value::as_str)
                                            == Some(r)
                                            || n.object.get("src_ref").and_then(Value::as_str)
                                                == Some(r))
                                })
                            });
                            if used {
                                continue;
                            }
                        }
                        list.extend(self.sco_attributes(&sco.object, hint, objs));
                    }
                }
                if list.is_empty() {
                    self.diag(
                        Level::Skipped,
                        Some(event),
                        id,
                        (
                            "none of the observed objects has a MISP attribute type".into(),
                            "觀察到的物件都沒有 MISP 屬性類型".into(),
                        ),
                    );
                }
                let first_seen = str_of(o, "first_observed").map(str::to_string);
                let last_seen = str_of(o, "last_observed").map(str::to_string);
                for (i, (t, v)) in list.into_iter().enumerate() {
                    let mut a = make(numbered(i), &t, v, false);
                    a.first_seen = first_seen.clone();
                    a.last_seen = last_seen.clone();
                    out.push(a);
                }
            }
            t if is_sco(t) => {
                let list = self.sco_attributes(o, None, objs);
                if list.is_empty() {
                    self.diag(
                        Level::Skipped,
                        Some(event),
                        id,
                        (
                            format!("a {t} object has no MISP attribute type"),
                            format!("{t} 物件沒有 MISP 屬性類型"),
                        ),
                    );
                }
                for (i, (t, v)) in list.into_iter().enumerate() {
                    out.push(make(numbered(i), &t, v, false));
                }
            }
            "vulnerability" => {
                let cve = o
                    .get("external_references")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|r| r.get("source_name").and_then(Value::as_str) == Some("cve"))
                    .and_then(|r| r.get("external_id").and_then(Value::as_str));
                let name = cve.or_else(|| str_of(o, "name")).unwrap_or("").to_string();
                out.push(make(own_uuid.clone(), "vulnerability", name, false));
            }
            "threat-actor" => {
                let name = str_of(o, "name").unwrap_or("").to_string();
                out.push(make(own_uuid.clone(), "threat-actor", name, false));
            }
            "campaign" => {
                let name = str_of(o, "name").unwrap_or("").to_string();
                out.push(make(own_uuid.clone(), "campaign-name", name, false));
            }
            "note" => {
                let recorded = details.and_then(|d| {
                    Some((
                        str_of(d, "attribute_type")?.to_string(),
                        str_of(d, "value")?.to_string(),
                        d.get("to_ids").and_then(Value::as_bool).unwrap_or(false),
                    ))
                });
                let report = details.is_some_and(|d| d.contains_key("event_report_uuid"));
                let analyst = details.is_some_and(|d| d.contains_key("analyst_type"));
                match recorded {
                    // MISP keeps an analyst note on the element it is about (`analyst_data`);
                    // this one's is not written as attributes or an event here, and as a `text`
                    // attribute it would turn into data.
                    None if analyst => self.diag(
                        Level::Skipped,
                        Some(event),
                        id,
                        (
                            "not written: MISP keeps an analyst note on the element it is about, and that is not written as an attribute or event here".into(),
                            "未寫出：MISP 將分析備註存放在其所關於的元素上，而該元素在此並未寫成屬性或事件".into(),
                        ),
                    ),
                    Some((t, v, to_ids)) => out.push(make(own_uuid.clone(), &t, v, to_ids)),
                    // A note made from an event report goes back as one.
                    None if report => {
                        let content = str_of(o, "content").unwrap_or("").to_string();
                        let mut a = make(own_uuid.clone(), "text", content, false);
                        a.comment = str_of(o, "abstract").unwrap_or("").to_string();
                        a.event_report = true;
                        out.push(a);
                    }
                    None => {
                        let content = str_of(o, "content").unwrap_or("").to_string();
                        let mut a = make(own_uuid.clone(), "text", content, false);
                        a.comment = str_of(o, "abstract").unwrap_or("").to_string();
                        out.push(a);
                    }
                }
            }
            other => self.diag(
                Level::Skipped,
                Some(event),
                id,
                (
                    format!("{other} objects have no MISP attribute form"),
                    format!("{other} 物件沒有 MISP 屬性形式"),
                ),
            ),
        }
        out.retain(|a| !a.value.trim().is_empty());
        // An event report has no object references, sightings or clusters in MISP; links from
        // its note stay unwritten and are named (`unwritten_links`). It holds analyst data.
        if let Some(i) = out.iter().position(|a| a.event_report) {
            let uuid = out[i].uuid.clone();
            let holder = links::Holder {
                item,
                object_type: "EventReport",
                uuid: &uuid,
                depth: 0,
            };
            out[i].analyst = self.analyst_data(&holder, event, objs);
            return out;
        }
        self.attach_links(item, event, &mut out, objs);
        let holder = self.ix.object(id);
        if !out.is_empty() && holder.is_some_and(|h| self.links.contains_key(&h)) {
            let galaxies = self.attribute_galaxies(item, event, objs);
            for a in &mut out {
                a.galaxies = galaxies.clone();
            }
        }
        out
    }

    /// The MISP attributes of one cyber-observable.
    fn sco_attributes(
        &self,
        sco: &Map<String, Value>,
        hint: Option<&str>,
        objs: &ExportJob,
    ) -> Vec<(String, String)> {
        let s = |k: &str| str_of(sco, k).map(str::to_string);
        let mut groups: Vec<Vec<Cmp>> = Vec::new();
        let cmp = |path: &str, v: String| Cmp {
            path: path.to_string(),
            value: Lit::Str(v),
        };
        let t = str_of(sco, "type").unwrap_or("");
        match t {
            "ipv4-addr" | "ipv6-addr" | "domain-name" | "url" | "email-addr" | "mac-addr" => {
                if let Some(v) = s("value") {
                    let resolves = sco
                        .get("resolves_to_refs")
                        .and_then(Value::as_array)
                        .and_then(|a| a.first())
                        .and_then(Value::as_str)
                        .and_then(|r| objs.get(&self.ix, r))
                        .and_then(|r| str_of(&r.object, "value"));
                    match resolves {
                        Some(addr) if t == "domain-name" => groups.push(vec![
                            cmp("domain-name:value", v),
                            cmp("domain-name:resolves_to_refs[*].value", addr.to_string()),
                        ]),
                        _ => groups.push(vec![cmp(&format!("{t}:value"), v)]),
                    }
                }
            }
            "file" => {
                let name = s("name");
                let hashes = sco.get("hashes").and_then(Value::as_object);
                let mut algos: Vec<(&str, String)> = Vec::new();
                if let Some(h) = hashes {
                    for (_, stix) in crate::mapping::HASHES {
                        if let Some(v) = h.get(*stix).and_then(Value::as_str) {
                            algos.push((stix, v.to_string()));
                        }
                    }
                }
                let mut first = true;
                for (algo, v) in &algos {
                    let mut g = vec![cmp(&format!("file:hashes.{algo}"), v.clone())];
                    if first && let Some(n) = &name {
                        g.push(cmp("file:name", n.clone()));
                    }
                    first = false;
                    groups.push(g);
                }
                if algos.is_empty()
                    && let Some(n) = name
                {
                    groups.push(vec![cmp("file:name", n)]);
                }
            }
            "email-message" => {
                if let Some(v) = s("subject") {
                    groups.push(vec![cmp("email-message:subject", v)]);
                }
            }
            "mutex" => {
                if let Some(v) = s("name") {
                    groups.push(vec![cmp("mutex:name", v)]);
                }
            }
            "windows-registry-key" => {
                if let Some(k) = s("key") {
                    let data = sco
                        .get("values")
                        .and_then(Value::as_array)
                        .and_then(|a| a.first())
                        .and_then(|v| v.get("data"))
                        .and_then(Value::as_str);
                    let mut g = vec![cmp("windows-registry-key:key", k)];
                    if let Some(d) = data {
                        g.push(cmp("windows-registry-key:values[*].data", d.to_string()));
                    }
                    groups.push(g);
                }
            }
            "autonomous-system" => {
                if let Some(n) = sco.get("number").and_then(isac_stix::syntax::whole_number) {
                    groups.push(vec![Cmp {
                        path: "autonomous-system:number".into(),
                        value: Lit::Int(n),
                    }]);
                }
            }
            "x509-certificate" => {
                if let Some(h) = sco.get("hashes").and_then(Value::as_object) {
                    for algo in ["SHA-1", "MD5", "SHA-256"] {
                        if let Some(v) = h.get(algo).and_then(Value::as_str) {
                            groups.push(vec![cmp(
                                &format!("x509-certificate:hashes.{algo}"),
                                v.to_string(),
                            )]);
                        }
                    }
                }
            }
            "network-traffic" => {
                for (refk, portk) in [("dst_ref", "dst_port"), ("src_ref", "src_port")] {
                    let end = sco
                        .get(refk)
                        .and_then(Value::as_str)
                        .and_then(|r| objs.get(&self.ix, r))
                        .and_then(|r| str_of(&r.object, "value"));
                    let port = sco.get(portk).and_then(isac_stix::syntax::whole_number);
                    match (end, port) {
                        (Some(e), Some(p)) => groups.push(vec![
                            cmp(&format!("network-traffic:{refk}.value"), e.to_string()),
                            Cmp {
                                path: format!("network-traffic:{portk}"),
                                value: Lit::Int(p),
                            },
                        ]),
                        (Some(e), None) => {
                            let ipv6 = e.contains(':');
                            groups.push(vec![cmp(
                                if ipv6 {
                                    "ipv6-addr:value"
                                } else {
                                    "ipv4-addr:value"
                                },
                                e.to_string(),
                            )]);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        groups
            .iter()
            .filter_map(|g| attribute_for(g, hint))
            .collect()
    }

    fn emit(&mut self, meta: EventMeta, attrs: Vec<Attr>, objs: &ExportJob) -> ExportedEvent {
        let orgc = self.orgc(&meta, objs);
        let sharing_group = single_group(meta.tlp, &meta.recipients);
        let distribution = Distribution::for_tlp(meta.tlp, sharing_group.is_some());
        let mut tags: Vec<Value> = vec![json!({ "name": tag_of_tlp(meta.tlp) })];
        tags.extend(
            meta.labels
                .iter()
                .filter(|l| tlp_of_tag(l).is_none())
                .map(|l| json!({ "name": l })),
        );
        add_galaxy_tags(&mut tags, &meta.galaxies);
        let mut hashes = Vec::new();
        let mut plain = Vec::new();
        let mut objects: BTreeMap<String, (Map<String, Value>, Vec<Value>)> = BTreeMap::new();
        let (reports, attrs): (Vec<Attr>, Vec<Attr>) =
            attrs.into_iter().partition(|a| a.event_report);
        let event_reports = self.event_reports(reports, &meta);
        let mut references = self.object_references(&attrs, &meta.uuid);
        let mut seen = HashSet::new();
        for a in attrs {
            if !seen.insert(a.uuid.clone()) {
                continue;
            }
            if a.tlp.breadth() > meta.tlp.breadth() {
                let reason = wider_than_event(a.tlp, meta.tlp);
                self.diag(Level::Warning, Some(&meta.uuid), &a.uuid, reason);
            }
            // As MISP does: composite values are indexed part by part.
            if a.misp_type.contains('|') {
                hashes.extend(a.value.split('|').map(md5_hex));
            } else {
                hashes.push(md5_hex(&a.value));
            }
            let (json_attr, object) = self.attribute_json(&a, &meta);
            match object {
                Some((uuid, name, meta_category)) => {
                    let entry = objects.entry(uuid.clone()).or_insert_with(|| {
                        let mut o = Map::new();
                        o.insert("uuid".into(), uuid.into());
                        o.insert("name".into(), name.into());
                        if let Some(m) = meta_category {
                            o.insert("meta-category".into(), m.into());
                        }
                        o.insert("distribution".into(), "5".into());
                        o.insert("timestamp".into(), a.timestamp.to_string().into());
                        o.insert("comment".into(), "".into());
                        o.insert("deleted".into(), false.into());
                        (o, Vec::new())
                    });
                    let newer = entry.0["timestamp"]
                        .as_str()
                        .and_then(|t| t.parse::<i64>().ok())
                        .is_some_and(|t| t < a.timestamp);
                    if newer {
                        entry
                            .0
                            .insert("timestamp".into(), a.timestamp.to_string().into());
                    }
                    entry.1.push(json_attr);
                }
                None => plain.push(json_attr),
            }
        }
        let mut event = json!({
            "uuid": meta.uuid,
            "info": meta.info,
            "date": meta.date,
            "timestamp": meta.timestamp.to_string(),
            "published": meta.publish_timestamp.is_some(),
            "publish_timestamp": meta.publish_timestamp.unwrap_or(0).to_string(),
            "threat_level_id": meta.threat_level_id,
            "analysis": meta.analysis,
            "distribution": distribution.as_u8().to_string(),
            "Orgc": orgc,
            "Tag": tags,
            "Attribute": plain,
            "Object": objects.into_iter().map(|(uuid, (mut o, attrs))| {
                o.insert("Attribute".into(), Value::Array(attrs));
                if let Some(r) = references.remove(&uuid) {
                    o.insert("ObjectReference".into(), Value::Array(r));
                }
                Value::Object(o)
            }).collect::<Vec<_>>(),
        });
        if let Some(g) = &sharing_group {
            event["sharing_group_id"] = misp_group_id(g).unwrap_or_default().to_string().into();
            event["SharingGroup"] = sharing_group_json(g);
        }
        if !meta.galaxies.is_empty() {
            event["Galaxy"] = Value::Array(galaxies_json(&meta.galaxies));
        }
        if !event_reports.is_empty() {
            event["EventReport"] = Value::Array(event_reports);
        }
        add_analyst_data(&mut event, &meta.analyst);
        let manifest = json!({
            "Orgc": event["Orgc"],
            "Tag": event["Tag"],
            "info": event["info"],
            "date": event["date"],
            "analysis": event["analysis"],
            "threat_level_id": event["threat_level_id"],
            "timestamp": event["timestamp"],
        });
        ExportedEvent {
            uuid: meta.uuid,
            event: json!({ "Event": event }),
            manifest,
            hashes,
        }
    }

    fn orgc(&self, meta: &EventMeta, objs: &ExportJob) -> Value {
        let from_ref = meta.created_by.as_deref().and_then(|r| {
            let uuid = uuid_of(r)?.to_string();
            let name = objs
                .get(&self.ix, r)
                .and_then(|i| str_of(&i.object, "name"))
                .map(str::to_string)
                .or(meta.orgc_name.clone())
                .unwrap_or_else(|| uuid.clone());
            Some((uuid, name))
        });
        let (uuid, name) =
            from_ref.unwrap_or_else(|| (self.publisher.uuid.clone(), self.publisher.name.clone()));
        json!({ "uuid": uuid, "name": name })
    }

    #[allow(clippy::type_complexity)]
    /// The `EventReport` entries of an event. An event report has a distribution and a sharing
    /// group but no tags, so its audience is said by its distribution alone: inherited where it
    /// is the event's, else the distribution of its TLP. Distribution 0 reads back as
    /// AMBER+STRICT, so a TLP:RED report in a wider event is not written (a `Skipped` remark)
    /// rather than handed on wider than RED.
    fn event_reports(&mut self, reports: Vec<Attr>, meta: &EventMeta) -> Vec<Value> {
        let mut out = Vec::new();
        for r in reports {
            let narrower = r.tlp.breadth() < meta.tlp.breadth();
            if narrower && r.tlp == Tlp::Red {
                let reason = (
                    "a TLP:RED event report in a wider event has no MISP form (event reports carry no TLP tag, and distribution 0 reads as AMBER+STRICT); not written".to_string(),
                    "較寬事件中的 TLP:RED 事件報告沒有 MISP 形式（事件報告不帶 TLP 標籤，而散布等級 0 會被讀為 AMBER+STRICT）；未寫出".to_string(),
                );
                self.diag(Level::Skipped, Some(&meta.uuid), &r.stix_id, reason);
                for (_, a) in &r.analyst {
                    let uuid = a.get("uuid").and_then(Value::as_str).unwrap_or_default();
                    let reason = (
                        format!(
                            "not written: the analyst data is about the event report {}, which is not written",
                            r.stix_id
                        ),
                        format!("未寫出：此分析資料所關於的事件報告 {} 未寫出", r.stix_id),
                    );
                    self.diag(Level::Skipped, Some(&meta.uuid), uuid, reason);
                }
                continue;
            }
            if r.tlp.breadth() > meta.tlp.breadth() {
                let reason = wider_than_event(r.tlp, meta.tlp);
                self.diag(Level::Warning, Some(&meta.uuid), &r.uuid, reason);
            }
            let own_group = single_group(r.tlp, &r.recipients)
                .filter(|g| single_group(meta.tlp, &meta.recipients).as_ref() != Some(g));
            let distribution = if narrower || own_group.is_some() {
                Distribution::for_tlp(r.tlp, own_group.is_some())
            } else {
                Distribution::Inherit
            };
            let name = if r.comment.trim().is_empty() {
                "Event report".to_string()
            } else {
                r.comment
            };
            let mut v = json!({
                "uuid": r.uuid,
                "name": name,
                "content": r.value,
                "distribution": distribution.as_u8().to_string(),
                "timestamp": r.timestamp.to_string(),
                "deleted": false,
            });
            if let Some(g) = &own_group {
                v["sharing_group_id"] = misp_group_id(g).unwrap_or_default().to_string().into();
                v["SharingGroup"] = sharing_group_json(g);
            }
            add_analyst_data(&mut v, &r.analyst);
            out.push(v);
        }
        out
    }

    fn attribute_json(
        &self,
        a: &Attr,
        meta: &EventMeta,
    ) -> (Value, Option<(String, String, Option<String>)>) {
        let mut tags: Vec<Value> = Vec::new();
        let narrower = a.tlp.breadth() < meta.tlp.breadth();
        let own_group = single_group(a.tlp, &a.recipients)
            .filter(|g| single_group(meta.tlp, &meta.recipients).as_ref() != Some(g));
        let distribution = if narrower || own_group.is_some() {
            if narrower {
                tags.push(json!({ "name": tag_of_tlp(a.tlp) }));
            }
            Distribution::for_tlp(a.tlp, own_group.is_some())
        } else {
            Distribution::Inherit
        };
        tags.extend(
            a.labels
                .iter()
                .filter(|l| tlp_of_tag(l).is_none())
                .map(|l| json!({ "name": l })),
        );
        add_galaxy_tags(&mut tags, &a.galaxies);
        let mut v = json!({
            "uuid": a.uuid,
            "type": a.misp_type,
            "category": a.category.clone().unwrap_or_else(|| default_category(&a.misp_type).to_string()),
            "value": a.value,
            "to_ids": a.to_ids,
            "comment": a.comment,
            "timestamp": a.timestamp.to_string(),
            "distribution": distribution.as_u8().to_string(),
            "disable_correlation": false,
            "deleted": false,
            "Tag": tags,
        });
        if let Some(g) = &own_group {
            v["sharing_group_id"] = misp_group_id(g).unwrap_or_default().to_string().into();
            v["SharingGroup"] = sharing_group_json(g);
        }
        if !a.galaxies.is_empty() {
            v["Galaxy"] = Value::Array(galaxies_json(&a.galaxies));
        }
        if !a.sightings.is_empty() {
            v["Sighting"] = Value::Array(a.sightings.clone());
        }
        add_analyst_data(&mut v, &a.analyst);
        for (k, t) in [("first_seen", &a.first_seen), ("last_seen", &a.last_seen)] {
            if let Some(t) = t.as_deref().and_then(parse_rfc3339) {
                v[k] = t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string().into();
            }
        }
        let object = a
            .object
            .as_ref()
            .map(|(uuid, name, relation, meta_category)| {
                if let Some(r) = relation {
                    v["object_relation"] = r.clone().into();
                }
                (uuid.clone(), name.clone(), meta_category.clone())
            });
        (v, object)
    }
}

struct EventMeta {
    uuid: String,
    info: String,
    date: String,
    timestamp: i64,
    publish_timestamp: Option<i64>,
    threat_level_id: String,
    analysis: String,
    tlp: Tlp,
    recipients: Vec<SharingGroupRef>,
    labels: Vec<String>,
    created_by: Option<String>,
    orgc_name: Option<String>,
    /// The galaxy clusters of the event itself.
    galaxies: Vec<Galaxy>,
    /// The event's own analyst data (`Note` entries are `true`).
    analyst: Vec<(bool, Value)>,
}

/// A cluster's `GalaxyCluster` entry with the distribution of its audience (a cluster has no
/// "inherit": its distribution is always its own).
fn galaxy_entry(c: ClusterOut, item: &StixItem) -> Galaxy {
    let mut entry = c.cluster.clone();
    insert_distribution(&mut entry, item.tlp, &item.recipients);
    (c, Value::Object(entry))
}

/// The `distribution` of an element with this audience, and its one sharing group when it has
/// one MISP knows.
fn insert_distribution(m: &mut Map<String, Value>, tlp: Tlp, recipients: &[SharingGroupRef]) {
    let group = single_group(tlp, recipients);
    let distribution = Distribution::for_tlp(tlp, group.is_some());
    m.insert(
        "distribution".into(),
        distribution.as_u8().to_string().into(),
    );
    if let Some(g) = &group {
        m.insert(
            "sharing_group_id".into(),
            misp_group_id(g).unwrap_or_default().to_string().into(),
        );
        m.insert("SharingGroup".into(), sharing_group_json(g));
    }
}

/// Adds the tag of each cluster that the tags lack: MISP tags an element with its clusters.
fn add_galaxy_tags(tags: &mut Vec<Value>, galaxies: &[Galaxy]) {
    for (c, _) in galaxies {
        let tag = json!({ "name": c.tag_name });
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
}

/// Whether `r` reaches fewer readers than `a`: a narrower TLP, or the same one without all of
/// `a`'s recipients.
fn narrower_than(r: (Tlp, &[SharingGroupRef]), a: &StixItem) -> bool {
    let (tlp, recipients) = r;
    tlp.breadth() < a.tlp.breadth()
        || (tlp == a.tlp
            && a.recipients
                .iter()
                .any(|x| !recipients.iter().any(|y| y.same_as(x))))
}

/// The one sharing group an AMBER or AMBER+STRICT audience names, when it names exactly one that came from MISP
/// (MISP refuses distribution 4 without the group's numeric id on the instance).
fn single_group(tlp: Tlp, recipients: &[SharingGroupRef]) -> Option<SharingGroupRef> {
    match (tlp, recipients) {
        (Tlp::Amber | Tlp::AmberStrict, [g]) if g.uuid.is_some() && misp_group_id(g).is_some() => {
            Some(g.clone())
        }
        _ => None,
    }
}

fn misp_group_id(g: &SharingGroupRef) -> Option<u64> {
    g.local_id
        .as_deref()
        .and_then(|i| i.trim().parse::<u64>().ok())
        .filter(|i| *i != 0)
}

/// Puts analyst data on a MISP element: `Note` (`true`) and `Opinion` lists, left out when
/// empty.
fn add_analyst_data(element: &mut Value, analyst: &[(bool, Value)]) {
    for (note, key) in [(true, "Note"), (false, "Opinion")] {
        let list: Vec<Value> = analyst
            .iter()
            .filter(|(n, _)| *n == note)
            .map(|(_, v)| v.clone())
            .collect();
        if !list.is_empty() {
            element[key] = Value::Array(list);
        }
    }
}

fn sharing_group_json(g: &SharingGroupRef) -> Value {
    json!({ "uuid": g.uuid, "name": g.name.clone().unwrap_or_default() })
}

fn refs<'o>(o: &'o Map<String, Value>, k: &str) -> impl Iterator<Item = &'o str> {
    o.get(k)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn labels_of(o: &Map<String, Value>) -> Vec<String> {
    refs(o, "labels").map(str::to_string).collect()
}
