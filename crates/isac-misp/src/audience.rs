//! From MISP's sharing model (TLP tags, distribution levels, sharing groups) to isac's audience
//! (a TLP level and recipients), and back. docs/MISP.md explains every rule and why.

use isac_model::Tlp;
use serde_json::Value;

/// A MISP sharing group named as a recipient. The importer resolves it to an isac sharing group
/// (by uuid first, then by name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SharingGroupRef {
    /// The MISP sharing group uuid, when the MISP data carried it.
    pub uuid: Option<String>,
    /// Its name, when the MISP data carried it.
    pub name: Option<String>,
    /// The numeric id local to the source MISP instance, only meaningful there.
    pub local_id: Option<String>,
}

impl SharingGroupRef {
    /// Whether two references name the same group: by uuid when both have one, else by name,
    /// else by the local id.
    pub fn same_as(&self, other: &SharingGroupRef) -> bool {
        match (&self.uuid, &other.uuid, &self.name, &other.name) {
            (Some(a), Some(b), _, _) => a.eq_ignore_ascii_case(b),
            (_, _, Some(a), Some(b)) => a == b,
            _ => self.local_id.is_some() && self.local_id == other.local_id,
        }
    }
}

/// MISP `distribution` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// 0: your organisation only.
    Organisation,
    /// 1: this community only.
    Community,
    /// 2: connected communities.
    Connected,
    /// 3: all communities.
    All,
    /// 4: a sharing group.
    SharingGroup,
    /// 5: inherit from the event (attributes and objects only).
    Inherit,
}

impl Distribution {
    /// Reads a distribution (a number or a numeric string); `None` when absent or out of range.
    pub fn from_json(v: Option<&Value>) -> Option<Distribution> {
        let n = match v? {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        Some(match n {
            0 => Distribution::Organisation,
            1 => Distribution::Community,
            2 => Distribution::Connected,
            3 => Distribution::All,
            4 => Distribution::SharingGroup,
            5 => Distribution::Inherit,
            _ => return None,
        })
    }

    /// The MISP number.
    pub fn as_u8(self) -> u8 {
        match self {
            Distribution::Organisation => 0,
            Distribution::Community => 1,
            Distribution::Connected => 2,
            Distribution::All => 3,
            Distribution::SharingGroup => 4,
            Distribution::Inherit => 5,
        }
    }

    /// The widest TLP a distribution level allows. `None` for inherit (the parent decides).
    pub fn ceiling(self) -> Option<Tlp> {
        match self {
            // Only the creating organisation: nobody may pass it on.
            Distribution::Organisation => Some(Tlp::AmberStrict),
            // The source's own community only. isac's GREEN travels on to federated partners,
            // which this level forbids, so the closest level that does not is AMBER.
            Distribution::Community => Some(Tlp::Amber),
            // Peers and partner communities, never the public: GREEN.
            Distribution::Connected => Some(Tlp::Green),
            // MISP's widest level; it does not narrow an explicit TLP tag.
            Distribution::All => Some(Tlp::Clear),
            // Named organisations only: AMBER with the sharing group as recipient.
            Distribution::SharingGroup => Some(Tlp::Amber),
            Distribution::Inherit => None,
        }
    }

    /// The distribution isac writes for a TLP level on export (see docs/MISP.md).
    pub fn for_tlp(tlp: Tlp, has_sharing_group: bool) -> Distribution {
        match tlp {
            Tlp::Clear => Distribution::All,
            Tlp::Green => Distribution::Connected,
            Tlp::Amber | Tlp::AmberStrict if has_sharing_group => Distribution::SharingGroup,
            Tlp::Amber => Distribution::Community,
            Tlp::AmberStrict | Tlp::Red => Distribution::Organisation,
        }
    }
}

/// The TLP a MISP tag name stands for: `tlp:white`, `tlp:clear`, `tlp:green`, `tlp:amber`,
/// `tlp:amber+strict`, `tlp:red`, in any case. Other `tlp:` tags (e.g. `tlp:ex:chr`) are not TLP
/// levels and give `None`.
pub fn tlp_of_tag(tag: &str) -> Option<Tlp> {
    let t = tag.trim();
    t.get(..4).filter(|p| p.eq_ignore_ascii_case("tlp:"))?;
    match t[4..].trim().to_ascii_lowercase().as_str() {
        "white" | "clear" => Some(Tlp::Clear),
        "green" => Some(Tlp::Green),
        "amber" => Some(Tlp::Amber),
        "amber+strict" | "amber strict" => Some(Tlp::AmberStrict),
        "red" => Some(Tlp::Red),
        _ => None,
    }
}

/// The MISP tag isac writes for a TLP level (TLP 2.0 names).
pub fn tag_of_tlp(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "tlp:clear",
        Tlp::Green => "tlp:green",
        Tlp::Amber => "tlp:amber",
        Tlp::AmberStrict => "tlp:amber+strict",
        Tlp::Red => "tlp:red",
    }
}

/// The narrower of two levels.
pub fn narrower(a: Tlp, b: Tlp) -> Tlp {
    if a.breadth() <= b.breadth() { a } else { b }
}

/// The most restrictive TLP among a set of tag names, `None` when no tag is a TLP level.
pub fn tlp_of_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Option<Tlp> {
    tags.into_iter().filter_map(tlp_of_tag).reduce(narrower)
}

/// The audience derived for one MISP event, object or attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub tlp: Tlp,
    /// Recipient sharing groups; only ever non-empty for AMBER and AMBER+STRICT.
    pub recipients: Vec<SharingGroupRef>,
}

/// One level of MISP sharing information: what the element itself says.
#[derive(Debug, Clone, Default)]
pub struct Sharing {
    pub tag_tlp: Option<Tlp>,
    pub distribution: Option<Distribution>,
    pub sharing_group: Option<SharingGroupRef>,
}

/// The audience of an event: its TLP tag (or the importer's default for unmarked data, never wider
/// than GREEN), narrowed by its distribution; a sharing group becomes the recipient.
pub fn event_audience(s: &Sharing, unmarked: Tlp) -> Audience {
    let unmarked = narrower(unmarked, Tlp::Green);
    let mut tlp = s.tag_tlp.unwrap_or(unmarked);
    if let Some(c) = s.distribution.and_then(Distribution::ceiling) {
        tlp = narrower(tlp, c);
    }
    let recipients = match (s.distribution, &s.sharing_group) {
        (Some(Distribution::SharingGroup), Some(g)) if is_amber(tlp) => vec![g.clone()],
        _ => Vec::new(),
    };
    Audience { tlp, recipients }
}

fn is_amber(t: Tlp) -> bool {
    matches!(t, Tlp::Amber | Tlp::AmberStrict)
}

/// The audience of an element inside a parent (an attribute in an event or object, an object in an
/// event). It is never wider than the parent: the TLP is the narrower of both, and recipients are
/// only kept where the parent's audience already includes them. Returns a warning, in English
/// and zh-TW, when the MISP data asked for something the parent does not allow.
pub fn child_audience(s: &Sharing, parent: &Audience) -> (Audience, Option<(String, String)>) {
    let own_tag = s.tag_tlp.unwrap_or(parent.tlp);
    let mut tlp = narrower(own_tag, parent.tlp);
    if let Some(c) = s.distribution.and_then(Distribution::ceiling) {
        tlp = narrower(tlp, c);
    }
    let mut warning = None;
    let recipients = if !is_amber(tlp) || s.distribution == Some(Distribution::Organisation) {
        Vec::new()
    } else {
        let own_group = match (s.distribution, &s.sharing_group) {
            (Some(Distribution::SharingGroup), Some(g)) => Some(g.clone()),
            _ => None,
        };
        match parent.tlp {
            // The parent reaches the whole community, so any recipient list stays inside it.
            Tlp::Clear | Tlp::Green => own_group.into_iter().collect(),
            Tlp::Amber | Tlp::AmberStrict => match own_group {
                None => parent.recipients.clone(),
                Some(g) if parent.recipients.iter().any(|p| p.same_as(&g)) => {
                    parent.recipients.clone()
                }
                Some(g) => {
                    let name = g
                        .name
                        .as_deref()
                        .or(g.uuid.as_deref())
                        .unwrap_or("(unnamed)");
                    warning = Some((
                        format!(
                            "sharing group {name} is not the parent's; recipients reduced to the parent's owner"
                        ),
                        format!("分享群組 {name} 不是上層的分享群組；分享對象縮減為上層的擁有者"),
                    ));
                    Vec::new()
                }
            },
            Tlp::Red => Vec::new(),
        }
    };
    (Audience { tlp, recipients }, warning)
}
