//! Which IP addresses a sandbox may never reach unless their range was granted explicitly.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is special (not a public unicast address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// An ordinary public unicast address.
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16.
    Private,
    /// 100.64.0.0/10 (carrier-grade NAT; also Alibaba Cloud's metadata service).
    SharedNat,
    /// 169.254.0.0/16, fe80::/10 (also the metadata service of AWS, GCP and Azure).
    LinkLocal,
    /// fc00::/7 (also AWS's IPv6 metadata service) and the deprecated site-local fec0::/10.
    UniqueLocal,
    /// 224.0.0.0/4, ff00::/8, 255.255.255.255.
    Multicast,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// Documentation, benchmarking, IETF-reserved and future-use ranges, discard-only and
    /// Teredo/NAT64-local prefixes: nothing a sandbox has business reaching.
    Reserved,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::SharedNat => "shared (carrier-grade NAT)",
            AddressClass::LinkLocal => "link-local",
            AddressClass::UniqueLocal => "unique-local",
            AddressClass::Multicast => "multicast",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Reserved => "reserved",
        })
    }
}

/// The class of `ip`. IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, 6to4,
/// NAT64 `64:ff9b::/96`) are classified by that IPv4 address, since that is where a connection goes.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::*;
    let table: &[([u8; 4], u32, AddressClass)] = &[
        ([0, 0, 0, 0], 8, Unspecified),
        ([10, 0, 0, 0], 8, Private),
        ([100, 64, 0, 0], 10, SharedNat),
        ([127, 0, 0, 0], 8, Loopback),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([172, 16, 0, 0], 12, Private),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Reserved),
        ([192, 88, 99, 0], 24, Reserved),
        ([192, 168, 0, 0], 16, Private),
        ([198, 18, 0, 0], 15, Reserved),
        ([198, 51, 100, 0], 24, Reserved),
        ([203, 0, 113, 0], 24, Reserved),
        ([224, 0, 0, 0], 4, Multicast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    if ip == Ipv4Addr::BROADCAST {
        return Multicast;
    }
    table
        .iter()
        .find(|(net, bits, _)| in_v4(ip, *net, *bits))
        .map_or(Public, |(_, _, class)| *class)
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::*;
    let s = ip.segments();
    if ip.is_unspecified() {
        return Unspecified;
    }
    if ip.is_loopback() {
        return Loopback;
    }
    // Forms that embed an IPv4 address: judge the address the packets end up at.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    if s[..6] == [0; 6] {
        // IPv4-compatible ::a.b.c.d (deprecated).
        return classify_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 well-known prefix 64:ff9b::/96.
        return classify_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        // 6to4 2002:AABB:CCDD::/48 carries a.b.c.d.
        return classify_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    let prefix = |bits: u32, net: u128| {
        let mask = u128::MAX << (128 - bits);
        u128::from(ip) & mask == net & mask
    };
    if prefix(7, 0xfc00 << 112) || prefix(10, 0xfec0 << 112) {
        return UniqueLocal;
    }
    if prefix(10, 0xfe80 << 112) {
        return LinkLocal;
    }
    if prefix(8, 0xff00 << 112) {
        return Multicast;
    }
    let reserved = [
        (48, 0x0064_ff9b_0001u128 << 80), // local-use NAT64
        (64, 0x0100u128 << 112),          // discard-only
        (32, 0x2001_0000u128 << 96),      // Teredo
        (32, 0x2001_0db8u128 << 96),      // documentation
        (28, 0x2001_0010u128 << 96),      // ORCHID
    ];
    if reserved.iter().any(|(bits, net)| prefix(*bits, *net)) {
        return Reserved;
    }
    Public
}
