//! The TLP audience policy of isac (DESIGN §3), as pure functions.
//!
//! TLP here is access control, not a label. [`can_read`] decides whether one viewer may read one
//! object; [`ReadScope`] is the same decision prepared for a whole listing, so that storage can
//! filter in its query and still page and count correctly. Storage re-checks every row it returns
//! with [`can_read`], and the property tests compare both against a reference model written apart.
//!
//! Architecture invariant: this crate knows nothing of SQL, HTTP or the file system, and no role
//! reads past TLP: an administrator is an ordinary reader of content.

use std::collections::BTreeSet;

use isac_model::{OrgKind, Role, Tlp};

/// Who is reading. Anonymous readers have no user and no org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub user: Option<String>,
    pub org: Option<String>,
    pub org_kind: Option<OrgKind>,
    pub role: Option<Role>,
    /// Sharing groups the viewer's org belongs to.
    pub groups: BTreeSet<String>,
    /// For partner orgs: the most restrictive TLP the partner may receive through federation.
    /// `None` means CLEAR only.
    pub partner_ceiling: Option<Tlp>,
}

impl Viewer {
    /// A reader who has not logged in.
    pub fn anonymous() -> Viewer {
        Viewer {
            user: None,
            org: None,
            org_kind: None,
            role: None,
            groups: BTreeSet::new(),
            partner_ceiling: None,
        }
    }

    fn ceiling_allows(&self, tlp: Tlp) -> bool {
        self.partner_ceiling
            .is_some_and(|c| tlp.breadth() >= c.breadth())
    }
}

/// The access metadata of one object: everything the policy needs and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub tlp: Tlp,
    pub owner_org: String,
    /// The user who created the object's first version.
    pub author: String,
    pub recipient_orgs: BTreeSet<String>,
    pub recipient_groups: BTreeSet<String>,
    /// Individuals named on a TLP:RED object.
    pub named_users: BTreeSet<String>,
}

/// Whether `viewer` may read an object with access `a`. This is the policy; every read path in
/// isac reaches it, directly or through [`ReadScope`].
pub fn can_read(viewer: &Viewer, a: &Access) -> bool {
    if a.tlp == Tlp::Clear {
        return true;
    }
    let (Some(user), Some(org), Some(kind)) = (&viewer.user, &viewer.org, viewer.org_kind) else {
        return false;
    };
    match a.tlp {
        Tlp::Clear => true,
        Tlp::Green => match kind {
            OrgKind::Operator | OrgKind::Member => true,
            OrgKind::Partner => viewer.ceiling_allows(Tlp::Green),
            OrgKind::Vendor => false,
        },
        Tlp::Amber | Tlp::AmberStrict => {
            if *org == a.owner_org || kind == OrgKind::Operator {
                return true;
            }
            let named = a.recipient_orgs.contains(org)
                || a.recipient_groups.iter().any(|g| viewer.groups.contains(g));
            if !named {
                return false;
            }
            match (a.tlp, kind) {
                // AMBER+STRICT is never forwarded beyond the community's own institutions.
                (Tlp::AmberStrict, OrgKind::Member) => true,
                (Tlp::AmberStrict, _) => false,
                (_, OrgKind::Partner) => viewer.ceiling_allows(Tlp::Amber),
                _ => true,
            }
        }
        Tlp::Red => *user == a.author || a.named_users.contains(user),
    }
}

/// The STIX types that connect other objects: relationships and sightings.
pub const CONNECTING_TYPES: [&str; 2] = ["relationship", "sighting"];

/// Whether objects of `stix_type` connect other objects ([`CONNECTING_TYPES`]).
pub fn connects(stix_type: &str) -> bool {
    CONNECTING_TYPES.contains(&stix_type)
}

/// DESIGN §3: a relationship or sighting is visible only where the object itself and every object
/// it connects are. `ends` holds, for each object it refers to, the access of that object's latest
/// version, or `None` when the object is not stored (an end nobody can be shown hides the
/// connection). Ends are judged by [`can_read`] alone: STIX lets relationships and sightings
/// connect only SDOs and SCOs, never each other.
pub fn can_read_connecting(viewer: &Viewer, own: &Access, ends: &[Option<&Access>]) -> bool {
    can_read(viewer, own) && ends.iter().all(|e| e.is_some_and(|a| can_read(viewer, a)))
}

/// [`can_read`] prepared for one viewer over many objects: each field says which branch of the
/// policy is open to this viewer. Storage turns it into a query filter; `Viewer` values it needs
/// (user, org, groups) are carried alongside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadScope {
    pub user: Option<String>,
    pub org: Option<String>,
    pub groups: Vec<String>,
    /// Every GREEN object.
    pub green: bool,
    /// Every AMBER and AMBER+STRICT object (the operator).
    pub all_amber: bool,
    /// AMBER objects owned by the viewer's org (owner clause applies to AMBER and AMBER+STRICT).
    pub own_amber: bool,
    /// AMBER objects naming the viewer's org or one of its groups.
    pub amber_recipient: bool,
    /// AMBER+STRICT objects naming the viewer's org or one of its groups.
    pub strict_recipient: bool,
    /// RED objects authored by or naming the viewer.
    pub red_named: bool,
}

impl ReadScope {
    pub fn for_viewer(v: &Viewer) -> ReadScope {
        let logged_in = v.user.is_some() && v.org.is_some() && v.org_kind.is_some();
        let kind = v.org_kind;
        ReadScope {
            user: v.user.clone(),
            org: v.org.clone(),
            groups: v.groups.iter().cloned().collect(),
            green: logged_in
                && match kind {
                    Some(OrgKind::Operator | OrgKind::Member) => true,
                    Some(OrgKind::Partner) => v.ceiling_allows(Tlp::Green),
                    _ => false,
                },
            all_amber: logged_in && kind == Some(OrgKind::Operator),
            own_amber: logged_in,
            amber_recipient: logged_in
                && match kind {
                    Some(OrgKind::Partner) => v.ceiling_allows(Tlp::Amber),
                    Some(_) => true,
                    None => false,
                },
            strict_recipient: logged_in && kind == Some(OrgKind::Member),
            red_named: logged_in,
        }
    }
}

/// An audience that breaks a write-time rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudienceError {
    #[error("TLP:RED goes to named users only; remove the recipient orgs and groups")]
    RedWithRecipients,
    #[error("named users apply to TLP:RED only; name orgs or groups instead")]
    NamedUsersNotRed,
    #[error("{0} has no recipients; remove the recipient orgs and groups")]
    RecipientsOnOpenTlp(&'static str),
    #[error("TLP:AMBER+STRICT may not name partner or vendor org `{0}`")]
    StrictToOutsider(String),
    #[error("too many recipients: {0}; the limit is {1}")]
    TooManyRecipients(usize, usize),
    #[error("the default TLP for unmarked input may not be wider than TLP:GREEN")]
    DefaultTooWide,
    #[error("only the owner org may widen an object's audience")]
    WidensAudience,
}

/// Checks an audience as written. `kind_of` gives the kind of each recipient org (the caller has
/// already checked the orgs exist).
pub fn check_audience(
    a: &Access,
    kind_of: impl Fn(&str) -> Option<OrgKind>,
) -> Result<(), AudienceError> {
    let n = a.recipient_orgs.len() + a.recipient_groups.len() + a.named_users.len();
    if n > isac_model::limits::RECIPIENTS {
        return Err(AudienceError::TooManyRecipients(
            n,
            isac_model::limits::RECIPIENTS,
        ));
    }
    let has_orgs = !a.recipient_orgs.is_empty() || !a.recipient_groups.is_empty();
    match a.tlp {
        Tlp::Red if has_orgs => return Err(AudienceError::RedWithRecipients),
        Tlp::Red => {}
        _ if !a.named_users.is_empty() => return Err(AudienceError::NamedUsersNotRed),
        Tlp::Clear | Tlp::Green if has_orgs => {
            return Err(AudienceError::RecipientsOnOpenTlp(a.tlp.label()));
        }
        Tlp::AmberStrict => {
            for org in &a.recipient_orgs {
                if matches!(kind_of(org), Some(OrgKind::Partner | OrgKind::Vendor)) {
                    return Err(AudienceError::StrictToOutsider(org.clone()));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The TLP given to unmarked input: the importer's configured default, which may never be wider
/// than GREEN.
pub fn default_tlp(configured: Tlp) -> Result<Tlp, AudienceError> {
    if configured.breadth() > Tlp::Green.breadth() {
        Err(AudienceError::DefaultTooWide)
    } else {
        Ok(configured)
    }
}

/// Whether a new version's audience might reach a reader the old one did not. Deliberately
/// conservative: any wider TLP, or any recipient, group or named user not already present,
/// counts as widening, since a recipient added while narrowing the TLP (GREEN to AMBER naming a
/// vendor, say) can still reach someone new.
pub fn widens(old: &Access, new: &Access) -> bool {
    new.tlp.breadth() > old.tlp.breadth()
        || !new.recipient_orgs.is_subset(&old.recipient_orgs)
        || !new.recipient_groups.is_subset(&old.recipient_groups)
        || !new.named_users.is_subset(&old.named_users)
        || new.owner_org != old.owner_org
        || new.author != old.author
}

/// The rule for a new version: only the owner org may widen the audience.
pub fn check_new_version(
    writer_org: &str,
    old: &Access,
    new: &Access,
) -> Result<(), AudienceError> {
    if writer_org != old.owner_org && widens(old, new) {
        Err(AudienceError::WidensAudience)
    } else {
        Ok(())
    }
}

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

#[cfg(test)]
mod tests;
