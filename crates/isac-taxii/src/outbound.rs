//! Which addresses the client may connect to.
//!
//! A TAXII URL comes from configuration that an operator types in, or from a discovery resource
//! that a remote server wrote. Either can point at the ISAC's own internal network (a metadata
//! service, an admin port, a database), so by default the client refuses every address that is not
//! globally routable: loopback, private (RFC 1918 and IPv6 unique-local), link-local, carrier-grade
//! NAT, unspecified, multicast, broadcast and reserved. IPv4 addresses embedded in IPv6 (mapped,
//! compatible, NAT64 and 6to4) are judged by the IPv4 address they carry.
//!
//! The check runs inside the HTTP agent's resolver: the host is resolved once, *every* resolved
//! address is checked, and the agent connects only to the addresses that were checked. There is
//! no second lookup between the check and the connection, so a DNS answer that changes between
//! the two (DNS rebinding) cannot slip a private address past the rule.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// The outbound address rule of a [`Client`](crate::Client).
///
/// The default refuses every non-public address. `allow_private` lifts the rule entirely (for a
/// lab or a TAXII server inside the ISAC's own network); `allow` lifts it for the listed networks
/// only, which is the narrower choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Allow every address, public or not.
    pub allow_private: bool,
    /// Networks allowed even though they are not public, e.g. `10.20.0.0/16` or `127.0.0.1/32`.
    pub allow: Vec<IpNetwork>,
}

impl OutboundPolicy {
    /// A policy that allows every address. Meant for tests and closed lab networks.
    pub fn allow_all() -> Self {
        Self {
            allow_private: true,
            allow: Vec::new(),
        }
    }

    /// A policy that allows the given networks on top of the public internet.
    pub fn allowing(networks: impl IntoIterator<Item = IpNetwork>) -> Self {
        Self {
            allow_private: false,
            allow: networks.into_iter().collect(),
        }
    }

    /// Why `ip` may not be contacted, or `None` when it may.
    pub fn check(&self, ip: IpAddr) -> Option<AddressClass> {
        if self.allow_private {
            return None;
        }
        let class = classify(ip)?;
        if self.allow.iter().any(|net| net.contains(ip)) {
            return None;
        }
        Some(class)
    }

    /// Resolves `host:port` and checks every address. Returns the addresses only when all of
    /// them pass, so a name that resolves to a mix of public and private addresses is refused.
    pub fn resolve(&self, netloc: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        let addrs: Vec<SocketAddr> = netloc
            .to_socket_addrs()
            .map_err(ResolveError::Lookup)?
            .collect();
        for addr in &addrs {
            if let Some(class) = self.check(addr.ip()) {
                return Err(ResolveError::Refused(RefusedAddress {
                    host: host_of(netloc).to_owned(),
                    addr: addr.ip(),
                    class,
                }));
            }
        }
        Ok(addrs)
    }
}

/// Why a resolution failed.
#[derive(Debug)]
pub enum ResolveError {
    /// The name did not resolve.
    Lookup(io::Error),
    /// The name resolved to an address the policy refuses.
    Refused(RefusedAddress),
}

/// A connection the outbound policy refused, before any byte was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedAddress {
    /// The host name (or address literal) of the URL.
    pub host: String,
    /// The resolved address that was refused.
    pub addr: IpAddr,
    /// What kind of address it is.
    pub class: AddressClass,
}

impl fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused to connect to {} ({}): {} address; allow private addresses (`--allow-private` on the command line) or add an allow-list entry",
            self.host, self.addr, self.class
        )
    }
}

impl std::error::Error for RefusedAddress {}

/// The kinds of non-public address the policy refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Unspecified,
    Loopback,
    /// RFC 1918 (IPv4) or unique-local `fc00::/7` (IPv6).
    Private,
    LinkLocal,
    /// Carrier-grade NAT, `100.64.0.0/10`.
    SharedAddressSpace,
    Multicast,
    Broadcast,
    /// `240.0.0.0/4`, IPv6 site-local `fec0::/10` and other ranges that are never routed publicly.
    Reserved,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressClass::Unspecified => "unspecified",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::SharedAddressSpace => "carrier-grade NAT",
            AddressClass::Multicast => "multicast",
            AddressClass::Broadcast => "broadcast",
            AddressClass::Reserved => "reserved",
        })
    }
}

/// The class of a non-public address, or `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, ..] = ip.octets();
    if ip.is_broadcast() {
        Some(AddressClass::Broadcast)
    } else if a == 0 {
        // 0.0.0.0/8 is "this network"; connecting to it reaches the local host on most systems.
        Some(AddressClass::Unspecified)
    } else if ip.is_loopback() {
        Some(AddressClass::Loopback)
    } else if ip.is_private() {
        Some(AddressClass::Private)
    } else if ip.is_link_local() {
        Some(AddressClass::LinkLocal)
    } else if a == 100 && (64..128).contains(&b) {
        Some(AddressClass::SharedAddressSpace)
    } else if ip.is_multicast() {
        Some(AddressClass::Multicast)
    } else if a >= 240 {
        Some(AddressClass::Reserved)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Some(AddressClass::Unspecified)
    } else if ip.is_loopback() {
        Some(AddressClass::Loopback)
    } else if first & 0xfe00 == 0xfc00 {
        Some(AddressClass::Private)
    } else if first & 0xffc0 == 0xfe80 {
        Some(AddressClass::LinkLocal)
    } else if first & 0xffc0 == 0xfec0 {
        Some(AddressClass::Reserved)
    } else if ip.is_multicast() {
        Some(AddressClass::Multicast)
    } else {
        None
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped `::ffff:a.b.c.d`, the deprecated
/// IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:aabb:ccdd::/48`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        return Some(low(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(low(s[1], s[2]));
    }
    None
}

/// The host part of `host:port` (or `[v6]:port`), for messages.
fn host_of(netloc: &str) -> &str {
    match netloc.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
            host.trim_start_matches('[').trim_end_matches(']')
        }
        _ => netloc,
    }
}

/// An IP network in CIDR notation, e.g. `10.0.0.0/8` or `fd00::/8`; a bare address is a `/32`
/// or `/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// A network from an address and a prefix length. Host bits are cleared.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, InvalidNetwork> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(InvalidNetwork(format!("{addr}/{prefix}")));
        }
        let addr = match addr {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix))),
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` lies inside the network. An IPv4-mapped IPv6 address counts as its IPv4
    /// address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNetwork {
    type Err = InvalidNetwork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidNetwork(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (
                addr.parse::<IpAddr>().map_err(|_| bad())?,
                prefix.parse::<u8>().map_err(|_| bad())?,
            ),
            None => {
                let addr = s.parse::<IpAddr>().map_err(|_| bad())?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        IpNetwork::new(addr, prefix).map_err(|_| bad())
    }
}

/// A string that is not an IP network in CIDR notation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IP network in CIDR notation: {0}")]
pub struct InvalidNetwork(pub String);

/// The agent's resolver: [`OutboundPolicy::resolve`], with a refusal carried inside the
/// `io::Error` so the client can report it as [`Error::Refused`](crate::Error::Refused).
pub(crate) struct PolicyResolver(pub(crate) OutboundPolicy);

impl ureq::Resolver for PolicyResolver {
    fn resolve(&self, netloc: &str) -> io::Result<Vec<SocketAddr>> {
        self.0.resolve(netloc).map_err(|e| match e {
            ResolveError::Lookup(e) => e,
            ResolveError::Refused(refused) => {
                io::Error::new(io::ErrorKind::PermissionDenied, refused)
            }
        })
    }
}
