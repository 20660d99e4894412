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
    accept_language(headers).unwrap_or(Locale::ZhTw)
}

/// The language of REST API messages: the first supported language in `Accept-Language`, else
/// English. The API is read by programs first, which send no preference; the web UI follows the
/// user's own setting.
pub fn api_locale(headers: &HeaderMap) -> Locale {
    accept_language(headers).unwrap_or(Locale::En)
}

/// The supported language `Accept-Language` prefers, if it names one.
fn accept_language(headers: &HeaderMap) -> Option<Locale> {
    let al = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())?;
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
        // `q=0` says "not this language" (RFC 9110 §12.4.2).
        if let Some(l) = l
            && q > 0.0
            && best.is_none_or(|(bq, _)| q > bq)
        {
            best = Some((q, l));
        }
    }
    best.map(|(_, l)| l)
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
        "busy" => tr(l, "The server is busy", "伺服器忙碌中"),
        "unauthenticated" => tr(l, "Log in or send an API key", "請先登入，或提供 API 金鑰"),
        "invalid_credentials" => tr(l, "The account or password is wrong", "帳號或密碼錯誤"),
        "account_locked" => tr(l, "The account is locked", "帳號已鎖定"),
        "malformed_json" => tr(l, "The body is not valid JSON", "內容不是有效的 JSON"),
        "invalid_json" => tr(
            l,
            "The JSON does not have the expected fields",
            "JSON 欄位不符合要求",
        ),
        "unsupported_media_type" => tr(
            l,
            "The body's content type is not accepted",
            "不接受此內容類型",
        ),
        "invalid_form" | "invalid_field" | "invalid_value" => {
            tr(l, "A field is not valid", "欄位值不正確")
        }
        "invalid_query" | "invalid_filter" | "missing_query" => {
            tr(l, "The query parameters are not valid", "查詢參數不正確")
        }
        "invalid_limit" => tr(l, "The page size is not valid", "每頁筆數不正確"),
        "invalid_sort" => tr(l, "The sort field is not valid", "排序欄位不正確"),
        "too_many_objects" => tr(l, "Too many objects at once", "一次送出的物件過多"),
        "method_not_allowed" => tr(
            l,
            "This route does not take that method",
            "此路徑不接受這個 HTTP 方法",
        ),
        _ => tr(l, "The input was not accepted", "輸入資料未被接受"),
    }
}

/// What a STIX validation finding ([`isac_stix::CODES`]) means, in zh-TW. The finding's own
/// message is English and names the property, value and section; a zh-TW reader sees this
/// summary first and the message after it (`stix_finding`). `None` for a code this table does
/// not know, which a test rules out for every code in the list.
pub fn stix_code_zh(code: &str) -> Option<&'static str> {
    Some(match code {
        "artifact" => "artifact 物件的屬性組合不正確",
        "audience-extension" => "isac 分享對象擴充內容不正確",
        "circular-marking" => "標記定義不可標記自己",
        "custom-extension" => "非預先定義的擴充",
        "custom-property" => "自訂屬性名稱不符規則",
        "custom-type" => "自訂物件類型",
        "deprecated" => "使用了已淘汰的屬性",
        "email-message" => "email-message 物件的屬性組合不正確",
        "empty-dictionary" => "字典不可為空",
        "empty-list" => "清單不可為空",
        "enumeration" => "值不在允許的列舉中",
        "extension-definition" => "擴充定義不正確",
        "extension-owner" => "擴充用在不適用的物件類型",
        "external-id" => "外部參照的 source_name 與 external_id 不相符",
        "granular-marking" => "細部標記不正確",
        "id-type-mismatch" => "id 的類型與 type 不符",
        "invalid-binary" => "不是有效的 Base64 二進位值",
        "invalid-dictionary-key" => "字典鍵名不符規則",
        "invalid-extension" => "擴充內容不正確",
        "invalid-hash" => "雜湊值格式不正確",
        "invalid-hex" => "不是有效的十六進位值",
        "invalid-id" => "id 格式不正確",
        "invalid-language-tag" => "語言標籤不符 RFC 5646",
        "invalid-property-name" => "屬性名稱不符規則",
        "invalid-reference" => "參照格式不正確",
        "invalid-timestamp" => "時間戳記格式不正確",
        "invalid-type-name" => "類型名稱不符規則",
        "invalid-url" => "不是有效的網址",
        "invalid-value" => "值不正確",
        "location" => "location 物件的屬性組合不正確",
        "marking-selector" => "標記選取器不正確",
        "marking-versioning" => "標記定義不可有版本",
        "nested-bundle" => "套組內不可再含套組",
        "network-traffic" => "network-traffic 物件的屬性組合不正確",
        "null-value" => "屬性值不可為 null",
        "observed-data" => "observed-data 物件的屬性組合不正確",
        "out-of-range" => "數值超出允許範圍",
        "pattern-syntax" => "STIX 偵測模式語法錯誤",
        "reference-target" => "參照的物件類型不允許",
        "relationship-type" => "關聯類型不正確",
        "required-property" => "缺少必要屬性",
        "reserved-property" => "使用了保留的屬性名稱",
        "sco-id-not-deterministic" => "觀測物件 id 不是由內容決定的 id",
        "sco-id-version" => "觀測物件 id 的 UUID 版本不正確",
        "spec-version" => "spec_version 不正確",
        "timestamp-order" => "時間先後順序不正確",
        "timestamp-precision" => "時間戳記精度不正確",
        "tlp-definition" => "TLP 標記定義不正確",
        "vocabulary" => "值不在建議詞彙中",
        _ => return None,
    })
}

/// One STIX validation finding for a reader in `l`: `code path: message` in English; in zh-TW
/// the code's meaning comes first and the English message, which names the values, after it.
pub fn stix_finding(l: Locale, d: &isac_stix::Diagnostic) -> String {
    let path = if d.path.is_empty() { "/" } else { &d.path };
    match (l, stix_code_zh(d.code)) {
        (Locale::ZhTw, Some(zh)) => format!("{} {path}：{zh}（{}）", d.code, d.message),
        _ => format!("{} {path}: {}", d.code, d.message),
    }
}

/// A TLP audience rule broken, for a reader in `l`.
pub fn audience_error(l: Locale, e: &isac_policy::AudienceError) -> String {
    use isac_policy::AudienceError as E;
    if l == Locale::En {
        return e.to_string();
    }
    match e {
        E::RedWithRecipients => "TLP:RED 只分享給指名的使用者；請移除分享對象機構與群組".into(),
        E::NamedUsersNotRed => "指名使用者只適用於 TLP:RED；請改為指定機構或群組".into(),
        E::RecipientsOnOpenTlp(t) => format!("{t} 不指定分享對象；請移除分享對象機構與群組"),
        E::StrictToOutsider(org) => {
            format!("TLP:AMBER+STRICT 不可分享給合作夥伴或廠商機構 `{org}`")
        }
        E::TooManyRecipients(n, max) => format!("分享對象過多：{n}；上限為 {max}"),
        E::DefaultTooWide => "未標記資料的預設 TLP 不可寬於 TLP:GREEN".into(),
        E::WidensAudience => "只有擁有機構可以擴大物件的分享對象".into(),
    }
}

/// REST API errors in the caller's language. Object writes build their messages in the language
/// `Accept-Language` prefers ([`api_locale`]); every other `/api/` error is written once, in
/// English, where it occurs. For a caller who prefers zh-TW this layer puts the zh-TW meaning of
/// the error's `code` ([`error_headline`]) before that English message, which names the field,
/// value or limit: `找不到資料，或未分享給您（org not found）`. The `code` and status never change,
/// and a message that already speaks zh-TW is left as it is. TAXII is not touched: its error
/// resources are read by programs and stay English (docs/TAXII.md). The router's bare 405 on an
/// `/api/` route is given a JSON error body here too, so that every API error is JSON.
pub async fn api_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let api = req.uri().path().starts_with("/api/");
    let zh = api && api_locale(req.headers()) == Locale::ZhTw;
    let method = req.method().clone();
    let mut r = next.run(req).await;
    let is_json = r
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    // The router answers a method a route does not take with a bare 405; the API's errors are
    // JSON, so it gets a body like every other (its `Allow` header stays).
    if api && r.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED && !is_json {
        let allow = r.headers().get(axum::http::header::ALLOW).cloned();
        r = crate::error::ApiError::new(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on this route; the Allow header lists what is"),
        )
        .into_response();
        if let Some(a) = allow {
            r.headers_mut().insert(axum::http::header::ALLOW, a);
        }
    } else if !is_json {
        return r;
    }
    if !zh || !(r.status().is_client_error() || r.status().is_server_error()) {
        return r;
    }
    let (mut parts, body) = r.into_parts();
    // Error bodies are a code and one short message.
    let Ok(bytes) = axum::body::to_bytes(body, ERROR_BODY_BYTES).await else {
        tracing::error!(status = %parts.status, "an API error body was over {ERROR_BODY_BYTES} bytes");
        return crate::error::ApiError::internal().into_response();
    };
    let Ok(mut e) = serde_json::from_slice::<crate::error::ErrorBody>(&bytes) else {
        return axum::response::Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    if !speaks_zh(&e.message) {
        e.message = format!("{}（{}）", error_headline(Locale::ZhTw, &e.code), e.message);
    }
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::Json(e).into_response().into_body())
}

/// Largest error body [`api_errors`] reads.
const ERROR_BODY_BYTES: usize = 1024 * 1024;

/// Whether a message is already written in Chinese (holds a CJK ideograph or full-width mark).
pub(crate) fn speaks_zh(message: &str) -> bool {
    message
        .chars()
        .any(|c| matches!(c, '\u{3000}'..='\u{303f}' | '\u{4e00}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_most_preferred_supported_language() {
        let pick = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                axum::http::header::ACCEPT_LANGUAGE,
                v.parse().expect("header"),
            );
            api_locale(&h)
        };
        assert_eq!(api_locale(&HeaderMap::new()), Locale::En);
        assert_eq!(pick("zh-TW,zh;q=0.9,en;q=0.5"), Locale::ZhTw);
        assert_eq!(pick("en-US,en;q=0.9"), Locale::En);
        assert_eq!(pick("fr, zh-Hant;q=0.8, en;q=0.7"), Locale::ZhTw);
        assert_eq!(pick("en;q=0.3, zh-TW;q=0.6"), Locale::ZhTw);
        assert_eq!(pick("de"), Locale::En);
        // q=0 refuses a language: never picked, even alone.
        assert_eq!(pick("zh-TW;q=0"), Locale::En);
        assert_eq!(pick("zh-TW;q=0, en;q=0.1"), Locale::En);
    }
}
