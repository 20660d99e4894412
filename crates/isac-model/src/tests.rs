use super::*;

#[test]
fn enums_round_trip_their_spelling() {
    for t in Tlp::ALL {
        assert_eq!(t.as_str().parse::<Tlp>().unwrap(), *t);
        assert_eq!(Tlp::from_marking_id(t.marking_id_v2()), Some(*t));
    }
    for r in Role::ALL {
        assert_eq!(r.as_str().parse::<Role>().unwrap(), *r);
    }
    assert!(
        "admin"
            .parse::<Role>()
            .unwrap_err()
            .to_string()
            .contains("isac-admin")
    );
    assert_eq!(
        "purple".parse::<Tlp>().unwrap_err().to_string(),
        "`purple` is not a valid TLP level; expected one of: clear, green, amber, amber+strict, red"
    );
}

#[test]
fn tlp_loose_forms() {
    assert_eq!(Tlp::parse_loose("TLP:WHITE").unwrap(), Tlp::Clear);
    assert_eq!(
        Tlp::parse_loose("tlp:amber+strict").unwrap(),
        Tlp::AmberStrict
    );
    assert_eq!(
        Tlp::from_marking_id("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"),
        Some(Tlp::Amber)
    );
    assert!(Tlp::parse_loose("purple").is_err());
}

#[test]
fn roles_per_kind() {
    assert!(Role::IsacAdmin.allowed_for(OrgKind::Operator));
    assert!(!Role::IsacAdmin.allowed_for(OrgKind::Member));
    assert!(Role::PartnerService.allowed_for(OrgKind::Partner));
    assert!(!Role::MemberReader.may_write_intel());
}

#[test]
fn field_checks() {
    assert!(check_email("a@b.tw").is_ok());
    assert!(check_email("a@b").is_err());
    assert!(check_email("a b@c.tw").is_err());
    assert!(check_text("name", " ", 10).is_err());
    assert!(check_text("name", "x".repeat(11).as_str(), 10).is_err());
    assert!(check_text("name", "第一銀行", 10).is_ok());
}
