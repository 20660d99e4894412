//! The domain vocabulary shared by every isac crate: organisation kinds and sectors, user roles,
//! locales, TLP levels and the size limits on user-supplied fields. It is pure data: no I/O, no SQL,
//! no HTTP. Every closed set is a closed enum with one canonical spelling on the wire.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Size limits on user-supplied fields. Every input cap in the product is one of these constants
/// or a setting derived from one.
pub mod limits {
    /// Longest organisation or group name, in characters.
    pub const NAME_CHARS: usize = 200;
    /// Longest email address (RFC 5321 path limit).
    pub const EMAIL_CHARS: usize = 254;
    /// Longest display name.
    pub const DISPLAY_NAME_CHARS: usize = 120;
    /// Longest free-text field (application motivation, notes).
    pub const TEXT_CHARS: usize = 4000;
    /// Shortest and longest accepted passwords.
    pub const PASSWORD_MIN_CHARS: usize = 12;
    pub const PASSWORD_MAX_CHARS: usize = 256;
    /// Largest STIX object accepted, serialised, in bytes.
    pub const OBJECT_BYTES: usize = 256 * 1024;
    /// Largest request body accepted by the REST API, in bytes.
    pub const BODY_BYTES: usize = 2 * 1024 * 1024;
    /// Most recipients (orgs, groups and users together) on one object.
    pub const RECIPIENTS: usize = 500;
    /// Longest search value.
    pub const SEARCH_CHARS: usize = 2048;
    /// Largest page a list returns.
    pub const PAGE_MAX: u32 = 500;
}

/// A value outside its closed set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what}; expected one of: {}", .expected.trim_end_matches(", "))]
pub struct ParseEnumError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! closed_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The canonical spelling, as stored and sent on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ParseEnumError {
                        what: $what,
                        value: s.chars().take(64).collect(),
                        expected: concat!($($text, ", "),+),
                    }),
                }
            }
        }
    };
}

closed_enum!(
    /// What an organisation is to the ISAC.
    OrgKind, "organisation kind" {
        Operator = "operator",
        Member = "member",
        Partner = "partner",
        Vendor = "vendor",
    }
);

closed_enum!(
    /// The financial sector a member institution belongs to.
    Sector, "sector" {
        Bank = "bank",
        Securities = "securities",
        Insurance = "insurance",
        InvestmentTrust = "investment-trust",
        Futures = "futures",
        BillsFinance = "bills-finance",
        CreditCooperative = "credit-cooperative",
        Payment = "payment",
        Other = "other",
    }
);

closed_enum!(
    /// A user's single role. Which roles an org may hold depends on its kind, see [`Role::allowed_for`].
    Role, "role" {
        IsacAdmin = "isac-admin",
        IsacAnalyst = "isac-analyst",
        MemberAdmin = "member-admin",
        MemberAnalyst = "member-analyst",
        MemberReader = "member-reader",
        VendorResponder = "vendor-responder",
        PartnerService = "partner-service",
    }
);

closed_enum!(
    /// The user interface language.
    Locale, "locale" {
        ZhTw = "zh-TW",
        En = "en",
    }
);

closed_enum!(
    /// A Traffic Light Protocol 2.0 level. TLP 1.0 WHITE is read as CLEAR.
    Tlp, "TLP level" {
        Clear = "clear",
        Green = "green",
        Amber = "amber",
        AmberStrict = "amber+strict",
        Red = "red",
    }
);

impl Role {
    /// Whether an org of `kind` may hold this role. Operator roles stay inside the operator,
    /// vendors only respond, partners only exchange by machine account.
    pub fn allowed_for(self, kind: OrgKind) -> bool {
        match self {
            Role::IsacAdmin | Role::IsacAnalyst => kind == OrgKind::Operator,
            Role::MemberAdmin | Role::MemberAnalyst | Role::MemberReader => kind == OrgKind::Member,
            Role::VendorResponder => kind == OrgKind::Vendor,
            Role::PartnerService => kind == OrgKind::Partner,
        }
    }

    /// Whether the role may create and version intelligence. Administrators manage orgs and
    /// users, not content; readers only read.
    pub fn may_write_intel(self) -> bool {
        matches!(
            self,
            Role::IsacAnalyst
                | Role::MemberAdmin
                | Role::MemberAnalyst
                | Role::VendorResponder
                | Role::PartnerService
        )
    }

    /// Whether the role administers the whole community (orgs, groups, applications, audit).
    pub fn is_operator_admin(self) -> bool {
        self == Role::IsacAdmin
    }

    /// Whether the role manages users and API keys of its own org.
    pub fn manages_own_org(self) -> bool {
        matches!(self, Role::IsacAdmin | Role::MemberAdmin)
    }
}

impl Tlp {
    /// How wide the audience is: a larger number reaches more readers.
    pub fn breadth(self) -> u8 {
        match self {
            Tlp::Red => 0,
            Tlp::AmberStrict => 1,
            Tlp::Amber => 2,
            Tlp::Green => 3,
            Tlp::Clear => 4,
        }
    }

    /// Parses the forms people and tools write: `amber+strict`, `TLP:AMBER+STRICT`, `tlp:white`.
    pub fn parse_loose(s: &str) -> Result<Tlp, ParseEnumError> {
        let t = s.trim();
        let t = t
            .strip_prefix("TLP:")
            .or_else(|| t.strip_prefix("tlp:"))
            .unwrap_or(t);
        match t.to_ascii_lowercase().as_str() {
            "white" => Ok(Tlp::Clear),
            other => other.parse(),
        }
    }

    /// The TLP 2.0 marking-definition id (STIX 2.1 property extension form).
    pub fn marking_id_v2(self) -> &'static str {
        match self {
            Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        }
    }

    /// The marking-definition id OpenCTI and the tools built on it (pycti, its connectors) give
    /// TLP:AMBER+STRICT, which TLP 1.0 lacks: a statement marking named by OpenCTI's own
    /// properties rather than the TLP 2.0 definition. Objects from those tools carry this id and
    /// no other TLP marking, so reading it as anything but AMBER+STRICT would widen them.
    pub const OPENCTI_AMBER_STRICT_ID: &'static str =
        "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37";

    /// The level a marking-definition id stands for: the TLP 2.0 ids, the TLP 1.0 ids read as
    /// their 2.0 equals, and OpenCTI's AMBER+STRICT ([`Tlp::OPENCTI_AMBER_STRICT_ID`]).
    pub fn from_marking_id(id: &str) -> Option<Tlp> {
        const V1: [(&str, Tlp); 4] = [
            (
                "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
                Tlp::Clear,
            ),
            (
                "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
                Tlp::Green,
            ),
            (
                "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
                Tlp::Amber,
            ),
            (
                "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
                Tlp::Red,
            ),
        ];
        Tlp::ALL
            .iter()
            .copied()
            .find(|t| t.marking_id_v2() == id)
            .or_else(|| V1.iter().find(|(v, _)| *v == id).map(|(_, t)| *t))
            .or((id == Self::OPENCTI_AMBER_STRICT_ID).then_some(Tlp::AmberStrict))
    }

    /// The official TLP 2.0 label, e.g. `TLP:AMBER+STRICT`.
    pub fn label(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }
}

/// Checks a required text field: trimmed non-empty, at most `max` characters, no control characters.
pub fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError {
            field,
            problem: "must not be empty".into(),
        });
    }
    let n = value.chars().count();
    if n > max {
        return Err(FieldError {
            field,
            problem: format!("is {n} characters; the limit is {max}"),
        });
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(FieldError {
            field,
            problem: "contains control characters".into(),
        });
    }
    Ok(())
}

/// Checks an email address: one `@`, non-empty local part and domain, within the length limit.
pub fn check_email(value: &str) -> Result<(), FieldError> {
    check_text("email", value, limits::EMAIL_CHARS)?;
    let ok = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.chars().any(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(FieldError {
            field: "email",
            problem: "is not an email address".into(),
        })
    }
}

/// One field that failed validation, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct FieldError {
    pub field: &'static str,
    pub problem: String,
}

#[cfg(test)]
mod tests;
