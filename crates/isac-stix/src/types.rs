//! The registry of every STIX 2.1 type: what kind of object it is, which properties it requires,
//! the value type of each property, what its references may point at, its vocabularies and, for
//! SCOs, the properties that contribute to its deterministic id.
//!
//! Objects themselves stay JSON maps; this table is the typed knowledge the validator, the id
//! generator and the upgrader read.

use crate::vocab;

/// What kind of STIX object a type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// STIX Domain Object.
    Sdo,
    /// STIX Relationship Object.
    Sro,
    /// STIX Cyber-observable Object.
    Sco,
    /// Meta object: marking-definition, language-content, extension-definition.
    Meta,
    /// The bundle envelope.
    Bundle,
}

/// Which object types a reference may point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Targets {
    /// Any STIX object except a bundle.
    Any,
    /// Only these types.
    Types(&'static [&'static str]),
    /// Any SCO (custom SCOs included).
    AnySco,
    /// Any SDO (custom SDOs included).
    AnySdo,
    /// Any SDO or SCO, custom ones included (relationship ends).
    SdoOrSco,
    /// SCOs and SROs (observed-data `object_refs`).
    ScoOrSro,
}

/// The value type of a property.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prop {
    Str,
    Bool,
    /// An integer within inclusive bounds.
    Int(Option<i64>, Option<i64>),
    /// A number within inclusive bounds.
    Num(Option<f64>, Option<f64>),
    Timestamp,
    /// A timestamp with exactly second precision (`time_date_stamp` of PE binaries).
    TimestampSeconds,
    /// A non-empty list of strings.
    StrList,
    /// A non-empty list of anything.
    List,
    Ref(Targets),
    RefList(Targets),
    /// A string from an open vocabulary (other values are warnings).
    Vocab(&'static [&'static str]),
    VocabList(&'static [&'static str]),
    /// A string from a closed enumeration (other values are errors).
    Enum(&'static [&'static str]),
    EnumList(&'static [&'static str]),
    KillChainPhases,
    ExternalReferences,
    Hashes,
    /// A STIX dictionary (non-empty, keys of letters, digits, `_` and `-`).
    Dict,
    /// Any JSON object.
    Object,
    Binary,
    Hex,
    /// An RFC 5646 language tag.
    Lang,
    LangList,
    /// A list of objects checked by dedicated code (e.g. `body_multipart`, `values`).
    ObjectList,
}

/// Everything the registry knows about one type.
#[derive(Debug, Clone, Copy)]
pub struct TypeDef {
    pub name: &'static str,
    pub kind: Kind,
    /// Required properties besides the common ones of the kind.
    pub required: &'static [&'static str],
    /// Type-specific properties.
    pub props: &'static [(&'static str, Prop)],
    /// At least one of these must be present (empty: no such rule).
    pub any_of: &'static [&'static str],
    /// SCO id-contributing properties, in spec order (empty for non-SCOs and for `process`).
    pub id_contributing: &'static [&'static str],
}

impl TypeDef {
    /// The definition of one type-specific or common property of this type.
    pub fn prop(&self, name: &str) -> Option<Prop> {
        self.props
            .iter()
            .chain(self.common())
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }
}

use Prop::*;
use Targets::*;

const IDENTITY: Targets = Types(&["identity"]);
const MARKING: Targets = Types(&["marking-definition"]);

impl TypeDef {
    /// The common properties of this type: those of its kind, except that language-content and
    /// extension-definition share the SDO common properties and marking-definition lists its own.
    pub fn common(&self) -> &'static [(&'static str, Prop)] {
        match self.name {
            "language-content" | "extension-definition" => SDO_COMMON,
            _ => common_props(self.kind),
        }
    }
}

/// Common properties of SDOs, SROs, language-content and extension-definition.
pub const SDO_COMMON: &[(&str, Prop)] = &[
    ("type", Str),
    ("spec_version", Str),
    ("id", Str),
    ("created_by_ref", Ref(IDENTITY)),
    ("created", Timestamp),
    ("modified", Timestamp),
    ("revoked", Bool),
    ("labels", StrList),
    ("confidence", Int(Some(0), Some(100))),
    ("lang", Lang),
    ("external_references", ExternalReferences),
    ("object_marking_refs", RefList(MARKING)),
    ("granular_markings", ObjectList),
    ("extensions", Object),
];

/// Common properties of SCOs.
pub const SCO_COMMON: &[(&str, Prop)] = &[
    ("type", Str),
    ("spec_version", Str),
    ("id", Str),
    ("object_marking_refs", RefList(MARKING)),
    ("granular_markings", ObjectList),
    ("defanged", Bool),
    ("extensions", Object),
];

/// Properties of marking-definition objects.
pub const MARKING_COMMON: &[(&str, Prop)] = &[
    ("type", Str),
    ("spec_version", Str),
    ("id", Str),
    ("created_by_ref", Ref(IDENTITY)),
    ("created", Timestamp),
    ("external_references", ExternalReferences),
    ("object_marking_refs", RefList(MARKING)),
    ("granular_markings", ObjectList),
    ("extensions", Object),
    ("name", Str),
    ("definition_type", Str),
    ("definition", Object),
];

/// The common properties of a kind.
pub fn common_props(kind: Kind) -> &'static [(&'static str, Prop)] {
    match kind {
        Kind::Sdo | Kind::Sro => SDO_COMMON,
        Kind::Sco => SCO_COMMON,
        Kind::Meta | Kind::Bundle => &[],
    }
}

/// The common properties every SDO and SRO must carry.
pub const SDO_REQUIRED: &[&str] = &["type", "spec_version", "id", "created", "modified"];
/// The common properties every SCO must carry (`spec_version` is optional for SCOs).
pub const SCO_REQUIRED: &[&str] = &["type", "id"];

/// Property names the specification reserves; no object may use them.
pub const RESERVED_PROPERTIES: &[&str] = &["severity", "action", "username", "phone_numbers"];
/// Type names the specification reserves.
pub const RESERVED_TYPES: &[&str] = &["action"];

const SOFTWARE: Targets = Types(&["software"]);
const EMAIL_ADDR: Targets = Types(&["email-addr"]);
const IP_RESOLVES: Targets = Types(&["mac-addr"]);
const AS: Targets = Types(&["autonomous-system"]);
const NT_END: Targets = Types(&["ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"]);
const ARTIFACT: Targets = Types(&["artifact"]);
const USER: Targets = Types(&["user-account"]);
const TRAFFIC: Targets = Types(&["network-traffic"]);

macro_rules! def {
    ($name:literal, $kind:ident, req [$($r:literal),*], props [$($p:literal => $t:expr),* $(,)?]
     $(, any [$($a:literal),*])? $(, ids [$($i:literal),*])?) => {
        TypeDef {
            name: $name,
            kind: Kind::$kind,
            required: &[$($r),*],
            props: &[$(($p, $t)),*],
            any_of: &[$($($a),*)?],
            id_contributing: &[$($($i),*)?],
        }
    };
}

/// Every type the STIX 2.1 specification defines.
pub static TYPES: &[TypeDef] = &[
    // --- SDOs (§4) ---
    def!("attack-pattern", Sdo, req ["name"], props [
        "name" => Str, "description" => Str, "aliases" => StrList,
        "kill_chain_phases" => KillChainPhases,
    ]),
    def!("campaign", Sdo, req ["name"], props [
        "name" => Str, "description" => Str, "aliases" => StrList, "first_seen" => Timestamp,
        "last_seen" => Timestamp, "objective" => Str,
    ]),
    def!("course-of-action", Sdo, req ["name"], props [
        "name" => Str, "description" => Str, "action_type" => Str, "os_execution_envs" => StrList,
        "action_bin" => Binary, "action_reference" => Object,
    ]),
    def!("grouping", Sdo, req ["context", "object_refs"], props [
        "name" => Str, "description" => Str, "context" => Vocab(vocab::GROUPING_CONTEXT),
        "object_refs" => RefList(Any),
    ]),
    def!("identity", Sdo, req ["name"], props [
        "name" => Str, "description" => Str, "roles" => StrList,
        "identity_class" => Vocab(vocab::IDENTITY_CLASS), "sectors" => VocabList(vocab::INDUSTRY_SECTOR),
        "contact_information" => Str,
    ]),
    def!("incident", Sdo, req ["name"], props [
        "name" => Str, "description" => Str, "kill_chain_phases" => KillChainPhases,
    ]),
    def!("indicator", Sdo, req ["pattern", "pattern_type", "valid_from"], props [
        "name" => Str, "description" => Str, "indicator_types" => VocabList(vocab::INDICATOR_TYPE),
        "pattern" => Str, "pattern_type" => Vocab(vocab::PATTERN_TYPE), "pattern_version" => Str,
        "valid_from" => Timestamp, "valid_until" => Timestamp, "kill_chain_phases" => KillChainPhases,
    ]),
    def!("infrastructure", Sdo, req ["name"], props [
        "name" => Str, "description" => Str, "infrastructure_types" => VocabList(vocab::INFRASTRUCTURE_TYPE),
        "aliases" => StrList, "kill_chain_phases" => KillChainPhases, "first_seen" => Timestamp,
        "last_seen" => Timestamp,
    ]),
    def!("intrusion-set", Sdo, req ["name"], props [
        "name" => Str, "description" => Str, "aliases" => StrList, "first_seen" => Timestamp,
        "last_seen" => Timestamp, "goals" => StrList,
        "resource_level" => Vocab(vocab::ATTACK_RESOURCE_LEVEL),
        "primary_motivation" => Vocab(vocab::ATTACK_MOTIVATION),
        "secondary_motivations" => VocabList(vocab::ATTACK_MOTIVATION),
    ]),
    def!("location", Sdo, req [], props [
        "name" => Str, "description" => Str, "latitude" => Num(Some(-90.0), Some(90.0)),
        "longitude" => Num(Some(-180.0), Some(180.0)), "precision" => Num(None, None),
        "region" => Vocab(vocab::REGION), "country" => Str, "administrative_area" => Str,
        "city" => Str, "street_address" => Str, "postal_code" => Str,
    ]),
    def!("malware", Sdo, req ["is_family"], props [
        "name" => Str, "description" => Str, "malware_types" => VocabList(vocab::MALWARE_TYPE),
        "is_family" => Bool, "aliases" => StrList, "kill_chain_phases" => KillChainPhases,
        "first_seen" => Timestamp, "last_seen" => Timestamp,
        "operating_system_refs" => RefList(SOFTWARE),
        "architecture_execution_envs" => VocabList(vocab::PROCESSOR_ARCHITECTURE),
        "implementation_languages" => VocabList(vocab::IMPLEMENTATION_LANGUAGE),
        "capabilities" => VocabList(vocab::MALWARE_CAPABILITIES),
        "sample_refs" => RefList(Types(&["file", "artifact"])),
    ]),
    def!("malware-analysis", Sdo, req ["product"], props [
        "product" => Str, "version" => Str, "host_vm_ref" => Ref(SOFTWARE),
        "operating_system_ref" => Ref(SOFTWARE), "installed_software_refs" => RefList(SOFTWARE),
        "configuration_version" => Str, "modules" => StrList, "analysis_engine_version" => Str,
        "analysis_definition_version" => Str, "submitted" => Timestamp,
        "analysis_started" => Timestamp, "analysis_ended" => Timestamp, "result_name" => Str,
        "result" => Vocab(vocab::MALWARE_RESULT), "analysis_sco_refs" => RefList(AnySco),
        "sample_ref" => Ref(Types(&["file", "network-traffic", "artifact"])),
    ], any ["result", "analysis_sco_refs"]),
    def!("note", Sdo, req ["content", "object_refs"], props [
        "abstract" => Str, "content" => Str, "authors" => StrList, "object_refs" => RefList(Any),
    ]),
    def!("observed-data", Sdo, req ["first_observed", "last_observed", "number_observed"], props [
        "first_observed" => Timestamp, "last_observed" => Timestamp,
        "number_observed" => Int(Some(1), Some(999_999_999)), "objects" => Object,
        "object_refs" => RefList(ScoOrSro),
    ]),
    def!("opinion", Sdo, req ["opinion", "object_refs"], props [
        "explanation" => Str, "authors" => StrList, "opinion" => Enum(vocab::OPINION),
        "object_refs" => RefList(Any),
    ]),
    def!("report", Sdo, req ["name", "published", "object_refs"], props [
        "name" => Str, "description" => Str, "report_types" => VocabList(vocab::REPORT_TYPE),
        "published" => Timestamp, "object_refs" => RefList(Any),
    ]),
    def!("threat-actor", Sdo, req ["name"], props [
        "name" => Str, "description" => Str, "threat_actor_types" => VocabList(vocab::THREAT_ACTOR_TYPE),
        "aliases" => StrList, "first_seen" => Timestamp, "last_seen" => Timestamp,
        "roles" => VocabList(vocab::THREAT_ACTOR_ROLE), "goals" => StrList,
        "sophistication" => Vocab(vocab::THREAT_ACTOR_SOPHISTICATION),
        "resource_level" => Vocab(vocab::ATTACK_RESOURCE_LEVEL),
        "primary_motivation" => Vocab(vocab::ATTACK_MOTIVATION),
        "secondary_motivations" => VocabList(vocab::ATTACK_MOTIVATION),
        "personal_motivations" => VocabList(vocab::ATTACK_MOTIVATION),
    ]),
    def!("tool", Sdo, req ["name"], props [
        "name" => Str, "description" => Str, "tool_types" => VocabList(vocab::TOOL_TYPE),
        "aliases" => StrList, "kill_chain_phases" => KillChainPhases, "tool_version" => Str,
    ]),
    def!("vulnerability", Sdo, req ["name"], props ["name" => Str, "description" => Str]),
    // --- SROs (§5) ---
    def!("relationship", Sro, req ["relationship_type", "source_ref", "target_ref"], props [
        "relationship_type" => Str, "description" => Str, "source_ref" => Ref(SdoOrSco),
        "target_ref" => Ref(SdoOrSco), "start_time" => Timestamp, "stop_time" => Timestamp,
    ]),
    def!("sighting", Sro, req ["sighting_of_ref"], props [
        "description" => Str, "first_seen" => Timestamp, "last_seen" => Timestamp,
        "count" => Int(Some(0), Some(999_999_999)), "sighting_of_ref" => Ref(AnySdo),
        "observed_data_refs" => RefList(Types(&["observed-data"])),
        "where_sighted_refs" => RefList(Types(&["identity", "location"])), "summary" => Bool,
    ]),
    // --- SCOs (§6) ---
    def!("artifact", Sco, req [], props [
        "mime_type" => Str, "payload_bin" => Binary, "url" => Str, "hashes" => Hashes,
        "encryption_algorithm" => Enum(vocab::ENCRYPTION_ALGORITHM), "decryption_key" => Str,
    ], ids ["hashes", "payload_bin"]),
    def!("autonomous-system", Sco, req ["number"], props [
        "number" => Int(None, None), "name" => Str, "rir" => Str,
    ], ids ["number"]),
    def!("directory", Sco, req ["path"], props [
        "path" => Str, "path_enc" => Str, "ctime" => Timestamp, "mtime" => Timestamp,
        "atime" => Timestamp, "contains_refs" => RefList(Types(&["file", "directory"])),
    ], ids ["path"]),
    def!("domain-name", Sco, req ["value"], props [
        "value" => Str, "resolves_to_refs" => RefList(Types(&["ipv4-addr", "ipv6-addr", "domain-name"])),
    ], ids ["value"]),
    def!("email-addr", Sco, req ["value"], props [
        "value" => Str, "display_name" => Str, "belongs_to_ref" => Ref(USER),
    ], ids ["value"]),
    def!("email-message", Sco, req ["is_multipart"], props [
        "is_multipart" => Bool, "date" => Timestamp, "content_type" => Str,
        "from_ref" => Ref(EMAIL_ADDR), "sender_ref" => Ref(EMAIL_ADDR), "to_refs" => RefList(EMAIL_ADDR),
        "cc_refs" => RefList(EMAIL_ADDR), "bcc_refs" => RefList(EMAIL_ADDR), "message_id" => Str,
        "subject" => Str, "received_lines" => StrList, "additional_header_fields" => Dict,
        "body" => Str, "body_multipart" => ObjectList, "raw_email_ref" => Ref(ARTIFACT),
    ], ids ["from_ref", "subject", "body"]),
    def!("file", Sco, req [], props [
        "hashes" => Hashes, "size" => Int(Some(0), None), "name" => Str, "name_enc" => Str,
        "magic_number_hex" => Hex, "mime_type" => Str, "ctime" => Timestamp, "mtime" => Timestamp,
        "atime" => Timestamp, "parent_directory_ref" => Ref(Types(&["directory"])),
        "contains_refs" => RefList(AnySco), "content_ref" => Ref(ARTIFACT),
    ], any ["hashes", "name"], ids ["hashes", "name", "extensions", "parent_directory_ref"]),
    def!("ipv4-addr", Sco, req ["value"], props [
        "value" => Str, "resolves_to_refs" => RefList(IP_RESOLVES), "belongs_to_refs" => RefList(AS),
    ], ids ["value"]),
    def!("ipv6-addr", Sco, req ["value"], props [
        "value" => Str, "resolves_to_refs" => RefList(IP_RESOLVES), "belongs_to_refs" => RefList(AS),
    ], ids ["value"]),
    def!("mac-addr", Sco, req ["value"], props ["value" => Str], ids ["value"]),
    def!("mutex", Sco, req ["name"], props ["name" => Str], ids ["name"]),
    def!("network-traffic", Sco, req ["protocols"], props [
        "start" => Timestamp, "end" => Timestamp, "is_active" => Bool, "src_ref" => Ref(NT_END),
        "dst_ref" => Ref(NT_END), "src_port" => Int(Some(0), Some(65535)),
        "dst_port" => Int(Some(0), Some(65535)), "protocols" => StrList,
        "src_byte_count" => Int(Some(0), None), "dst_byte_count" => Int(Some(0), None),
        "src_packets" => Int(Some(0), None), "dst_packets" => Int(Some(0), None), "ipfix" => Dict,
        "src_payload_ref" => Ref(ARTIFACT), "dst_payload_ref" => Ref(ARTIFACT),
        "encapsulates_refs" => RefList(TRAFFIC), "encapsulated_by_ref" => Ref(TRAFFIC),
    ], any ["src_ref", "dst_ref"],
       ids ["start", "end", "src_ref", "dst_ref", "src_port", "dst_port", "protocols", "extensions"]),
    def!("process", Sco, req [], props [
        "is_hidden" => Bool, "pid" => Int(None, None), "created_time" => Timestamp, "cwd" => Str,
        "command_line" => Str, "environment_variables" => Dict,
        "opened_connection_refs" => RefList(TRAFFIC), "creator_user_ref" => Ref(USER),
        "image_ref" => Ref(Types(&["file"])), "parent_ref" => Ref(Types(&["process"])),
        "child_refs" => RefList(Types(&["process"])),
    ]),
    def!("software", Sco, req ["name"], props [
        "name" => Str, "cpe" => Str, "swid" => Str, "languages" => LangList, "vendor" => Str,
        "version" => Str,
    ], ids ["name", "cpe", "swid", "vendor", "version"]),
    def!("url", Sco, req ["value"], props ["value" => Str], ids ["value"]),
    def!("user-account", Sco, req [], props [
        "user_id" => Str, "credential" => Str, "account_login" => Str,
        "account_type" => Vocab(vocab::ACCOUNT_TYPE), "display_name" => Str,
        "is_service_account" => Bool, "is_privileged" => Bool, "can_escalate_privs" => Bool,
        "is_disabled" => Bool, "account_created" => Timestamp, "account_expires" => Timestamp,
        "credential_last_changed" => Timestamp, "account_first_login" => Timestamp,
        "account_last_login" => Timestamp,
    ], ids ["account_type", "user_id", "account_login"]),
    def!("windows-registry-key", Sco, req [], props [
        "key" => Str, "values" => ObjectList, "modified_time" => Timestamp,
        "creator_user_ref" => Ref(USER), "number_of_subkeys" => Int(Some(0), None),
    ], ids ["key", "values"]),
    def!("x509-certificate", Sco, req [], props [
        "is_self_signed" => Bool, "hashes" => Hashes, "version" => Str, "serial_number" => Str,
        "signature_algorithm" => Str, "issuer" => Str, "validity_not_before" => Timestamp,
        "validity_not_after" => Timestamp, "subject" => Str, "subject_public_key_algorithm" => Str,
        "subject_public_key_modulus" => Str, "subject_public_key_exponent" => Int(Some(0), None),
        "x509_v3_extensions" => Object,
    ], ids ["hashes", "serial_number"]),
    // --- Meta objects (§7) ---
    def!("marking-definition", Meta, req ["type", "spec_version", "id", "created"], props [
        "type" => Str, "spec_version" => Str, "id" => Str, "created_by_ref" => Ref(IDENTITY),
        "created" => Timestamp, "external_references" => ExternalReferences,
        "object_marking_refs" => RefList(MARKING), "granular_markings" => ObjectList,
        "extensions" => Object, "name" => Str, "definition_type" => Str, "definition" => Object,
    ]),
    def!("language-content", Meta, req ["type", "spec_version", "id", "created", "modified",
        "object_ref", "contents"], props [
        "object_ref" => Ref(Any), "object_modified" => Timestamp, "contents" => Object,
    ]),
    def!("extension-definition", Meta, req ["type", "spec_version", "id", "created", "modified",
        "created_by_ref", "name", "schema", "version", "extension_types"], props [
        "name" => Str, "description" => Str, "schema" => Str, "version" => Str,
        "extension_types" => EnumList(vocab::EXTENSION_TYPE), "extension_properties" => StrList,
    ]),
    // --- The envelope (§8) ---
    def!("bundle", Bundle, req ["type", "id"], props [
        "type" => Str, "id" => Str, "objects" => List,
    ]),
];

/// The registry entry of a type, or `None` for a custom type.
pub fn lookup(type_name: &str) -> Option<&'static TypeDef> {
    TYPES.iter().find(|t| t.name == type_name)
}

/// The kind of a type; custom types are classified by the caller.
pub fn kind_of(type_name: &str) -> Option<Kind> {
    lookup(type_name).map(|t| t.kind)
}

/// Whether a type is a predefined SDO.
pub fn is_sdo(type_name: &str) -> bool {
    kind_of(type_name) == Some(Kind::Sdo)
}

/// Whether a type is a predefined SCO.
pub fn is_sco(type_name: &str) -> bool {
    kind_of(type_name) == Some(Kind::Sco)
}

/// Whether a type is a predefined SRO.
pub fn is_sro(type_name: &str) -> bool {
    kind_of(type_name) == Some(Kind::Sro)
}

/// Whether a type is a meta object or the bundle.
pub fn is_meta_or_bundle(type_name: &str) -> bool {
    matches!(kind_of(type_name), Some(Kind::Meta | Kind::Bundle))
}

/// Whether a referenced type is allowed by a target rule. Custom types are allowed wherever any
/// SDO or SCO is: the registry cannot tell what a custom type is from its name alone.
pub fn target_allows(targets: Targets, referenced_type: &str) -> bool {
    let custom = lookup(referenced_type).is_none();
    match targets {
        Any => referenced_type != "bundle",
        Types(list) => list.contains(&referenced_type),
        AnySco => is_sco(referenced_type) || custom,
        AnySdo => is_sdo(referenced_type) || custom,
        SdoOrSco => is_sdo(referenced_type) || is_sco(referenced_type) || custom,
        ScoOrSro => is_sco(referenced_type) || is_sro(referenced_type) || custom,
    }
}

/// Properties of predefined SCO extensions (§6): `(extension name, owning type, properties,
/// required properties, at-least-one-of properties)`.
pub type ScoExtension = (
    &'static str,
    &'static str,
    &'static [(&'static str, Prop)],
    &'static [&'static str],
    &'static [&'static str],
);

/// The predefined SCO extensions.
pub static SCO_EXTENSIONS: &[ScoExtension] = &[
    (
        "archive-ext",
        "file",
        &[
            ("contains_refs", RefList(Types(&["file", "directory"]))),
            ("comment", Str),
        ],
        &["contains_refs"],
        &[],
    ),
    (
        "ntfs-ext",
        "file",
        &[("sid", Str), ("alternate_data_streams", ObjectList)],
        &[],
        &["sid", "alternate_data_streams"],
    ),
    (
        "pdf-ext",
        "file",
        &[
            ("version", Str),
            ("is_optimized", Bool),
            ("document_info_dict", Dict),
            ("pdfid0", Str),
            ("pdfid1", Str),
        ],
        &[],
        &[
            "version",
            "is_optimized",
            "document_info_dict",
            "pdfid0",
            "pdfid1",
        ],
    ),
    (
        "raster-image-ext",
        "file",
        &[
            ("image_height", Int(None, None)),
            ("image_width", Int(None, None)),
            ("bits_per_pixel", Int(None, None)),
            ("exif_tags", Dict),
        ],
        &[],
        &["image_height", "image_width", "bits_per_pixel", "exif_tags"],
    ),
    (
        "windows-pebinary-ext",
        "file",
        &[
            ("pe_type", Vocab(vocab::WINDOWS_PEBINARY_TYPE)),
            ("imphash", Str),
            ("machine_hex", Hex),
            ("number_of_sections", Int(Some(0), None)),
            ("time_date_stamp", TimestampSeconds),
            ("pointer_to_symbol_table_hex", Hex),
            ("number_of_symbols", Int(Some(0), None)),
            ("size_of_optional_header", Int(Some(0), None)),
            ("characteristics_hex", Hex),
            ("file_header_hashes", Hashes),
            ("optional_header", Object),
            ("sections", ObjectList),
        ],
        &["pe_type"],
        &[],
    ),
    (
        "http-request-ext",
        "network-traffic",
        &[
            ("request_method", Str),
            ("request_value", Str),
            ("request_version", Str),
            ("request_header", Dict),
            ("message_body_length", Int(Some(0), None)),
            ("message_body_data_ref", Ref(ARTIFACT)),
        ],
        &["request_method", "request_value"],
        &[],
    ),
    (
        "icmp-ext",
        "network-traffic",
        &[("icmp_type_hex", Hex), ("icmp_code_hex", Hex)],
        &["icmp_type_hex", "icmp_code_hex"],
        &[],
    ),
    (
        "socket-ext",
        "network-traffic",
        &[
            ("address_family", Enum(vocab::NETWORK_SOCKET_ADDRESS_FAMILY)),
            ("is_blocking", Bool),
            ("is_listening", Bool),
            ("options", Dict),
            ("socket_type", Enum(vocab::NETWORK_SOCKET_TYPE)),
            ("socket_descriptor", Int(Some(0), None)),
            ("socket_handle", Int(None, None)),
        ],
        &["address_family"],
        &[],
    ),
    (
        "tcp-ext",
        "network-traffic",
        &[("src_flags_hex", Hex), ("dst_flags_hex", Hex)],
        &[],
        &["src_flags_hex", "dst_flags_hex"],
    ),
    (
        "windows-process-ext",
        "process",
        &[
            ("aslr_enabled", Bool),
            ("dep_enabled", Bool),
            ("priority", Str),
            ("owner_sid", Str),
            ("window_title", Str),
            ("startup_info", Dict),
            ("integrity_level", Enum(vocab::WINDOWS_INTEGRITY_LEVEL)),
        ],
        &[],
        &[
            "aslr_enabled",
            "dep_enabled",
            "priority",
            "owner_sid",
            "window_title",
            "startup_info",
            "integrity_level",
        ],
    ),
    (
        "windows-service-ext",
        "process",
        &[
            ("service_name", Str),
            ("descriptions", StrList),
            ("display_name", Str),
            ("group_name", Str),
            ("start_type", Enum(vocab::WINDOWS_SERVICE_START_TYPE)),
            ("service_dll_refs", RefList(Types(&["file"]))),
            ("service_type", Enum(vocab::WINDOWS_SERVICE_TYPE)),
            ("service_status", Enum(vocab::WINDOWS_SERVICE_STATUS)),
        ],
        &[],
        &[
            "service_name",
            "descriptions",
            "display_name",
            "group_name",
            "start_type",
            "service_dll_refs",
            "service_type",
            "service_status",
        ],
    ),
    (
        "unix-account-ext",
        "user-account",
        &[
            ("gid", Int(None, None)),
            ("groups", StrList),
            ("home_dir", Str),
            ("shell", Str),
        ],
        &[],
        &[],
    ),
];

/// The predefined SCO extension of a given name.
pub fn sco_extension(name: &str) -> Option<&'static ScoExtension> {
    SCO_EXTENSIONS.iter().find(|e| e.0 == name)
}

/// The relationships the specification defines between predefined objects (§4, the
/// "Relationships" of each SDO): `(source type, relationship type, target types)`. Other
/// triples are allowed (relationship types are open) but draw a warning.
pub static RELATIONSHIPS: &[(&str, &str, &[&str])] = &[
    ("attack-pattern", "delivers", &["malware"]),
    (
        "attack-pattern",
        "targets",
        &["identity", "location", "vulnerability"],
    ),
    ("attack-pattern", "uses", &["malware", "tool"]),
    (
        "campaign",
        "attributed-to",
        &["intrusion-set", "threat-actor"],
    ),
    ("campaign", "compromises", &["infrastructure"]),
    ("campaign", "originates-from", &["location"]),
    (
        "campaign",
        "targets",
        &["identity", "location", "vulnerability"],
    ),
    (
        "campaign",
        "uses",
        &["attack-pattern", "infrastructure", "malware", "tool"],
    ),
    ("course-of-action", "investigates", &["indicator"]),
    (
        "course-of-action",
        "mitigates",
        &[
            "attack-pattern",
            "indicator",
            "malware",
            "tool",
            "vulnerability",
        ],
    ),
    (
        "course-of-action",
        "remediates",
        &["malware", "vulnerability"],
    ),
    ("identity", "located-at", &["location"]),
    (
        "indicator",
        "indicates",
        &[
            "attack-pattern",
            "campaign",
            "infrastructure",
            "intrusion-set",
            "malware",
            "threat-actor",
            "tool",
        ],
    ),
    ("indicator", "based-on", &["observed-data"]),
    (
        "infrastructure",
        "communicates-with",
        &[
            "infrastructure",
            "ipv4-addr",
            "ipv6-addr",
            "domain-name",
            "url",
        ],
    ),
    (
        "infrastructure",
        "consists-of",
        &["infrastructure", "observed-data", "*sco"],
    ),
    ("infrastructure", "controls", &["infrastructure", "malware"]),
    ("infrastructure", "delivers", &["malware"]),
    ("infrastructure", "has", &["vulnerability"]),
    ("infrastructure", "hosts", &["tool", "malware"]),
    ("infrastructure", "located-at", &["location"]),
    ("infrastructure", "uses", &["infrastructure"]),
    ("intrusion-set", "attributed-to", &["threat-actor"]),
    ("intrusion-set", "compromises", &["infrastructure"]),
    ("intrusion-set", "hosts", &["infrastructure"]),
    ("intrusion-set", "owns", &["infrastructure"]),
    ("intrusion-set", "originates-from", &["location"]),
    (
        "intrusion-set",
        "targets",
        &["identity", "location", "vulnerability"],
    ),
    (
        "intrusion-set",
        "uses",
        &["attack-pattern", "infrastructure", "malware", "tool"],
    ),
    ("malware", "authored-by", &["threat-actor", "intrusion-set"]),
    ("malware", "beacons-to", &["infrastructure"]),
    ("malware", "exfiltrates-to", &["infrastructure"]),
    (
        "malware",
        "communicates-with",
        &["ipv4-addr", "ipv6-addr", "domain-name", "url"],
    ),
    ("malware", "controls", &["malware"]),
    ("malware", "downloads", &["malware", "tool", "file"]),
    ("malware", "drops", &["malware", "tool", "file"]),
    ("malware", "exploits", &["vulnerability"]),
    ("malware", "originates-from", &["location"]),
    (
        "malware",
        "targets",
        &["identity", "infrastructure", "location", "vulnerability"],
    ),
    (
        "malware",
        "uses",
        &["attack-pattern", "infrastructure", "malware", "tool"],
    ),
    ("malware", "variant-of", &["malware"]),
    ("malware-analysis", "characterizes", &["malware"]),
    ("malware-analysis", "analysis-of", &["malware"]),
    ("malware-analysis", "static-analysis-of", &["malware"]),
    ("malware-analysis", "dynamic-analysis-of", &["malware"]),
    ("threat-actor", "attributed-to", &["identity"]),
    ("threat-actor", "compromises", &["infrastructure"]),
    ("threat-actor", "hosts", &["infrastructure"]),
    ("threat-actor", "owns", &["infrastructure"]),
    ("threat-actor", "impersonates", &["identity"]),
    ("threat-actor", "located-at", &["location"]),
    (
        "threat-actor",
        "targets",
        &["identity", "location", "vulnerability"],
    ),
    (
        "threat-actor",
        "uses",
        &["attack-pattern", "infrastructure", "malware", "tool"],
    ),
    ("tool", "delivers", &["malware"]),
    ("tool", "drops", &["malware"]),
    ("tool", "has", &["vulnerability"]),
    (
        "tool",
        "targets",
        &["identity", "infrastructure", "location", "vulnerability"],
    ),
    ("tool", "uses", &["infrastructure"]),
];

/// Whether a relationship between two types is one the specification defines. The generic
/// types `related-to`, `derived-from` and `duplicate-of` (the last two between objects of one
/// type) are defined for every pair; custom types are never judged.
pub fn relationship_defined(source: &str, relationship_type: &str, target: &str) -> bool {
    if lookup(source).is_none() || lookup(target).is_none() {
        return true;
    }
    match relationship_type {
        "related-to" => return true,
        "derived-from" | "duplicate-of" => return source == target,
        _ => {}
    }
    RELATIONSHIPS.iter().any(|(s, r, targets)| {
        *s == source
            && *r == relationship_type
            && targets
                .iter()
                .any(|t| *t == target || (*t == "*sco" && is_sco(target)))
    })
}
