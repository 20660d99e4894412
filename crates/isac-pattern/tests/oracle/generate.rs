//! A seeded generator of STIX patterns: valid ones built from the grammar, and corrupted
//! copies of them that are mostly invalid.

/// SplitMix64: small, fast and the same on every platform, so a seed fixes the corpus.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const TYPES: &[&str] = &[
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "domain-name",
    "email-addr",
    "email-message",
    "network-traffic",
    "process",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
    "artifact",
    "mutex",
    "software",
    "directory",
    "x-acme-widget",
    "autonomous-system",
    "mac-addr",
];

const KEYS: &[&str] = &[
    "name",
    "value",
    "size",
    "created",
    "dst_port",
    "src_ref",
    "dst_ref",
    "to_refs",
    "extensions",
    "parent_ref",
    "command_line",
    "protocols",
    "values",
    "body_multipart",
    "is_encrypted",
    "_custom",
    "x_acme_score",
];

const QUOTED_KEYS: &[&str] = &[
    "windows-pebinary-ext",
    "ntfs-ext",
    "key with space",
    "x-acme-ext",
    "SHA-256",
    "it\\'s",
];

const STRINGS: &[&str] = &[
    "evil.exe",
    "C:\\\\Windows\\\\System32",
    "it\\'s",
    "",
    "%.dll",
    "a_b%",
    "^[a-z]+\\\\.exe$",
    "198.51.100.0/24",
    "2001:db8::/32",
    "多語言",
    "space inside",
];

/// Whitespace before a word: usually one space, sometimes more, a tab, a line break or a
/// comment.
fn space(r: &mut Rng) -> &'static str {
    const SPACES: &[&str] = &[
        " ",
        " ",
        " ",
        " ",
        " ",
        " ",
        "  ",
        "\t",
        "\n",
        " /* c */ ",
        " /**/ ",
        "\u{3000}",
    ];
    SPACES[r.below(SPACES.len())]
}

fn timestamp(r: &mut Rng) -> String {
    let month = 1 + r.below(12);
    let day = 1 + r.below(28);
    let fraction = match r.below(3) {
        0 => String::new(),
        1 => format!(".{:03}", r.below(1000)),
        _ => format!(".{}", r.below(10)),
    };
    format!(
        "t'{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}Z'",
        1990 + r.below(40),
        month,
        day,
        r.below(24),
        r.below(60),
        r.below(60),
        fraction
    )
}

fn base64(r: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = (0..1 + r.below(7)).map(|_| r.next() as u8).collect();
    let mut out = String::from("b'");
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out.push('\'');
    out
}

fn hex(r: &mut Rng, bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", r.next() as u8))
        .collect()
}

fn orderable(r: &mut Rng) -> String {
    match r.below(8) {
        0 => format!("{}", r.below(100_000)),
        1 => format!("-{}", 1 + r.below(1000)),
        2 => format!("{}.{}", r.below(100), r.below(100)),
        3 => format!("'{}'", r.pick(STRINGS)),
        4 => base64(r),
        5 => {
            let n = r.below(5);
            format!("h'{}'", hex(r, n))
        }
        6 => timestamp(r),
        _ => format!("+{}", r.below(10)),
    }
}

fn primitive(r: &mut Rng) -> String {
    if r.chance(12) {
        r.pick(&["true", "false"]).to_string()
    } else {
        orderable(r)
    }
}

fn path(r: &mut Rng) -> String {
    let mut s = format!("{}:", r.pick(TYPES));
    if r.chance(10) {
        s.push_str(&format!("'{}'", r.pick(QUOTED_KEYS)));
    } else {
        s.push_str(r.pick::<&str>(KEYS));
    }
    for _ in 0..r.below(4) {
        match r.below(5) {
            0 | 1 => {
                s.push('.');
                s.push_str(r.pick::<&str>(KEYS));
            }
            2 => s.push_str(&format!(".'{}'", r.pick(QUOTED_KEYS))),
            3 => s.push_str(&format!("[{}]", r.below(4))),
            _ => s.push_str("[*]"),
        }
    }
    s
}

fn comparison(r: &mut Rng) -> String {
    if r.chance(6) {
        let (alg, len) = *r.pick(&[("MD5", 16), ("'SHA-1'", 20), ("'SHA-256'", 32)]);
        let obj = r.pick(&["file", "artifact", "x509-certificate"]);
        let op = r.pick(&["=", "!="]);
        return format!("{obj}:hashes.{alg} {op} '{}'", hex(r, len));
    }
    if r.chance(7) {
        let not = if r.chance(30) { "NOT " } else { "" };
        return format!("{not}EXISTS {}", path(r));
    }
    let p = path(r);
    let not = if r.chance(15) { "NOT " } else { "" };
    let s1 = space(r);
    let (op, value) = match r.below(11) {
        0 | 1 => ("=", primitive(r)),
        2 => ("!=", primitive(r)),
        3 => (*r.pick(&["<", "<=", ">", ">="]), orderable(r)),
        4 => (*r.pick(&["==", "<>"]), primitive(r)),
        5 => {
            let n = r.below(4);
            let items: Vec<String> = (0..n).map(|_| primitive(r)).collect();
            ("IN", format!("({})", items.join(", ")))
        }
        6 => ("LIKE", format!("'{}'", r.pick(STRINGS))),
        7 => ("MATCHES", format!("'{}'", r.pick(STRINGS))),
        8 => ("ISSUBSET", "'10.0.0.0/8'".to_string()),
        9 => ("ISSUPERSET", "'192.0.2.1/32'".to_string()),
        _ => ("=", format!("'{}'", r.pick(STRINGS))),
    };
    format!("{p}{s1}{not}{op} {value}")
}

fn comparison_expr(r: &mut Rng, depth: usize) -> String {
    if depth == 0 || r.chance(50) {
        return comparison(r);
    }
    match r.below(3) {
        0 => format!("({})", comparison_expr(r, depth - 1)),
        _ => {
            let op = r.pick(&["AND", "OR"]);
            let s = space(r);
            format!(
                "{}{s}{op} {}",
                comparison_expr(r, depth - 1),
                comparison_expr(r, depth - 1)
            )
        }
    }
}

fn qualifiers(r: &mut Rng) -> String {
    let mut out = String::new();
    let mut kinds = vec![0, 1, 2];
    for _ in 0..r.below(3) {
        if r.chance(50) {
            break;
        }
        let k = kinds.remove(r.below(kinds.len()));
        out.push_str(&match k {
            0 => {
                if r.chance(30) {
                    format!(" WITHIN {}.{} SECONDS", r.below(100), r.below(10))
                } else {
                    format!(" WITHIN {} SECONDS", 1 + r.below(3600))
                }
            }
            1 => format!(" REPEATS {} TIMES", 1 + r.below(10)),
            _ => format!(" START {} STOP {}", timestamp(r), timestamp(r)),
        });
    }
    out
}

fn observation_expr(r: &mut Rng, depth: usize) -> String {
    let base = if depth == 0 || r.chance(45) {
        let s1 = *r.pick(&["", "", " "]);
        let s2 = *r.pick(&["", "", " "]);
        format!("[{s1}{}{s2}]", comparison_expr(r, 2))
    } else if r.chance(30) {
        format!("({})", observation_expr(r, depth - 1))
    } else {
        let op = r.pick(&["AND", "OR", "FOLLOWEDBY"]);
        let s = space(r);
        return format!(
            "{}{s}{op} {}",
            observation_expr(r, depth - 1),
            observation_expr(r, depth - 1)
        );
    };
    format!("{base}{}", qualifiers(r))
}

/// A pattern the grammar accepts.
pub fn valid(r: &mut Rng) -> String {
    let mut p = observation_expr(r, 3);
    if r.chance(5) {
        p.push_str(" // trailing comment");
    }
    p
}

/// A copy of `p` with one corruption: a character deleted, inserted or replaced, the text
/// cut short, a piece repeated, two words swapped or dropped, or a keyword misspelt.
pub fn mutate(r: &mut Rng, p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let at = r.below(chars.len().max(1));
    const NOISE: &[char] = &[
        '[', ']', '(', ')', '\'', '.', ':', '=', '<', '>', '!', '*', '-', '+', ' ', 'a', 'x', '0',
        '7', '\\', '/', '@', ',', '"',
    ];
    let text = |cs: &[char]| cs.iter().collect::<String>();
    match r.below(9) {
        0 => {
            let mut cs = chars.clone();
            cs.remove(at);
            text(&cs)
        }
        1 => {
            let mut cs = chars.clone();
            cs.insert(at, *r.pick(NOISE));
            text(&cs)
        }
        2 => {
            let mut cs = chars.clone();
            cs[at] = *r.pick(NOISE);
            text(&cs)
        }
        3 => text(&chars[..at]),
        4 => {
            let len = 1 + r.below(12).min(chars.len() - at);
            let piece = &chars[at..(at + len).min(chars.len())];
            let mut cs = chars[..at].to_vec();
            cs.extend_from_slice(piece);
            cs.extend_from_slice(&chars[at..]);
            text(&cs)
        }
        5 | 6 => {
            let mut words: Vec<&str> = p.split(' ').collect();
            if words.len() < 2 {
                return format!("{p}]");
            }
            let i = r.below(words.len() - 1);
            if r.chance(50) {
                words.swap(i, i + 1);
            } else {
                words.remove(i);
            }
            words.join(" ")
        }
        _ => {
            let typos = [
                ("AND", "ADN"),
                ("OR", "or"),
                ("FOLLOWEDBY", "FOLLOWED BY"),
                ("WITHIN", "Within"),
                ("SECONDS", "SECOND"),
                ("REPEATS", "REPEAT"),
                ("TIMES", "TIME"),
                ("START", "BEGIN"),
                ("STOP", "END"),
                ("LIKE", "like"),
                ("MATCHES", "MATCH"),
                ("EXISTS", "EXIST"),
                ("NOT ", "! "),
                ("IN (", "IN ["),
                ("t'", "'"),
                ("true", "TRUE"),
                (" = ", " := "),
                ("']", "]"),
                ("[*]", "[]"),
            ];
            let present: Vec<_> = typos.iter().filter(|(from, _)| p.contains(from)).collect();
            if present.is_empty() {
                return format!("{p})");
            }
            let (from, to) = r.pick(&present);
            p.replacen(from, to, 1)
        }
    }
}
