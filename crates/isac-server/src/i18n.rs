//! zh-TW and English. Every UI string is written in both languages at the place it is used,
//! `tr(locale, "English", "中文")`, so a missing translation is a compile-time impossibility
//! rather than a runtime fallback. Terms follow the glossary of DESIGN §6.

use axum::http::HeaderMap;
use isac_model::{Locale, OrgKind, Role, Sector, Tlp};

/// Picks the string for `l`.
pub fn tr(l: Locale, en: &'static str, zh: &'static str) -> &'static str {
    match l {
        Locale::En => en,
        Locale::ZhTw => zh,
    }
}

/// The language for a visitor who is not logged in: the `isac_lang` cookie, else the first
/// supported language in `Accept-Language`, else zh-TW (the sector's working language).
pub fn negotiate(headers: &HeaderMap) -> Locale {
    if let Some(l) =
        crate::auth::cookie(headers, crate::auth::LANG_COOKIE).and_then(|c| c.parse().ok())
    {
        return l;
    }
    let Some(al) = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Locale::ZhTw;
    };
    let mut best: Option<(f32, Locale)> = None;
    for part in al.split(',') {
        let mut it = part.trim().split(';');
        let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let l = if tag.starts_with("zh") {
            Some(Locale::ZhTw)
        } else if tag.starts_with("en") {
            Some(Locale::En)
        } else {
            None
        };
        if let Some(l) = l
            && best.is_none_or(|(bq, _)| q > bq)
        {
            best = Some((q, l));
        }
    }
    best.map_or(Locale::ZhTw, |(_, l)| l)
}

pub fn role(l: Locale, r: Role) -> &'static str {
    match r {
        Role::IsacAdmin => tr(l, "ISAC admin", "ISAC 管理者"),
        Role::IsacAnalyst => tr(l, "ISAC analyst", "ISAC 分析師"),
        Role::MemberAdmin => tr(l, "Member admin", "會員管理者"),
        Role::MemberAnalyst => tr(l, "Member analyst", "會員分析師"),
        Role::MemberReader => tr(l, "Member reader", "會員閱讀者"),
        Role::VendorResponder => tr(l, "Vendor responder", "廠商應變人員"),
        Role::PartnerService => tr(l, "Partner service", "夥伴服務帳號"),
    }
}

pub fn org_kind(l: Locale, k: OrgKind) -> &'static str {
    match k {
        OrgKind::Operator => tr(l, "Operator", "營運單位"),
        OrgKind::Member => tr(l, "Member", "會員機構"),
        OrgKind::Partner => tr(l, "Partner", "合作夥伴"),
        OrgKind::Vendor => tr(l, "Vendor", "委外廠商"),
    }
}

pub fn sector(l: Locale, s: Sector) -> &'static str {
    match s {
        Sector::Bank => tr(l, "Bank", "銀行業"),
        Sector::Securities => tr(l, "Securities", "證券業"),
        Sector::Insurance => tr(l, "Insurance", "保險業"),
        Sector::InvestmentTrust => tr(l, "Investment trust / advisory", "投信投顧業"),
        Sector::Futures => tr(l, "Futures", "期貨業"),
        Sector::BillsFinance => tr(l, "Bills finance", "票券業"),
        Sector::CreditCooperative => tr(l, "Credit cooperative", "信用合作社"),
        Sector::Payment => tr(l, "Payment", "電子支付"),
        Sector::Other => tr(l, "Other", "其他"),
    }
}

/// What a TLP level means, in one line, for the badge's tooltip.
pub fn tlp_meaning(l: Locale, t: Tlp) -> &'static str {
    match t {
        Tlp::Clear => tr(l, "May be shared publicly", "可公開分享"),
        Tlp::Green => tr(l, "Community-wide, not public", "限社群內分享，不可公開"),
        Tlp::Amber => tr(
            l,
            "Recipient orgs and their clients, need to know",
            "限接收組織及其客戶，依需知原則",
        ),
        Tlp::AmberStrict => tr(l, "Recipient orgs only", "僅限接收組織內部"),
        Tlp::Red => tr(l, "Named recipients only", "僅限指名接收者"),
    }
}

/// The headline of an error page, by the error's machine code. The detail message follows it.
pub fn error_headline(l: Locale, code: &str) -> &'static str {
    match code {
        "not_found" => tr(
            l,
            "Not found, or not shared with you",
            "找不到資料，或未分享給您",
        ),
        "forbidden" => tr(l, "Your role may not do this", "您的角色無此權限"),
        "csrf" => tr(
            l,
            "The form has expired; reload the page and try again",
            "表單已過期，請重新整理後再試",
        ),
        "conflict" => tr(l, "This conflicts with what is stored", "與既有資料衝突"),
        "rate_limited" => tr(
            l,
            "Too many attempts; wait a minute",
            "嘗試次數過多，請稍候再試",
        ),
        "body_too_large" | "object_too_large" => tr(l, "Too large", "資料過大"),
        "invalid_audience" => tr(
            l,
            "The audience breaks the TLP rules",
            "分享對象不符合 TLP 規則",
        ),
        "invalid_tlp" => tr(l, "Not a valid TLP level", "TLP 等級不正確"),
        "internal" => tr(l, "Internal error", "系統內部錯誤"),
        _ => tr(l, "The input was not accepted", "輸入資料未被接受"),
    }
}
