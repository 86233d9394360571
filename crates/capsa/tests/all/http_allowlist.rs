//! The outbound-HTTP allowlist against hostile URLs: every row is a way someone has tried to reach a
//! host they were not granted.

use std::net::IpAddr;

use capsa::http::{AddressClass, AllowList, HostPattern, classify};

fn allowlist(entries: &[&str]) -> AllowList {
    AllowList::new(entries.iter().map(|e| e.parse::<HostPattern>().expect(e)))
}

#[test]
fn hostile_urls_against_the_allowlist() {
    let list = allowlist(&[
        "api.example.com",
        "*.cdn.example.org",
        "https://secure.example.net",
        "ports.example.com:8443",
        "readonly.example.com;methods=GET,HEAD",
        "127.0.0.1:9000",
        "10.1.0.0/16",
        "[::1]:9001",
        "8.8.8.8",
    ]);
    // (method, url, allowed)
    let table: &[(&str, &str, bool)] = &[
        // The granted hosts, spelled the ways that are the same host.
        ("GET", "http://api.example.com/v1/items?x=1", true),
        ("GET", "https://api.example.com/", true),
        ("POST", "http://API.Example.COM/", true),
        ("GET", "http://api.example.com./", true),
        ("GET", "http://%61pi.example.com/", true),
        ("GET", "https://api.example.com:443/", true),
        ("GET", "http://a.cdn.example.org/", true),
        ("GET", "http://x.y.cdn.example.org/", true),
        ("GET", "https://secure.example.net/", true),
        ("GET", "http://ports.example.com:8443/", true),
        ("GET", "http://readonly.example.com/", true),
        ("head", "http://readonly.example.com/", true),
        ("GET", "http://127.0.0.1:9000/", true),
        ("GET", "http://2130706433:9000/", true),
        ("GET", "http://10.1.200.3/", true),
        ("GET", "http://[::1]:9001/", true),
        ("GET", "http://8.8.8.8/", true),
        // URL confusion: the host is not the one it looks like.
        ("GET", "http://api.example.com@evil.com/", false),
        ("GET", "http://api.example.com:80@evil.com/", false),
        ("GET", "http://evil.com#@api.example.com/", false),
        ("GET", "http://evil.com\\@api.example.com/", false),
        ("GET", "http://evil.com/?host=api.example.com", false),
        ("GET", "http://api.example.com.evil.com/", false),
        ("GET", "http://evilapi.example.com/", false),
        ("GET", "http://user:pass@api.example.com/", false),
        ("GET", "http://аpi.example.com/", false), // Cyrillic а: xn--pi-7kc.example.com
        ("GET", "http://cdn.example.org/", false), // the wildcard is for names below it
        ("GET", "http://badcdn.example.org/", false),
        // Scheme, port and method restrictions.
        ("GET", "http://secure.example.net/", false),
        ("GET", "http://api.example.com:8080/", false),
        ("GET", "http://ports.example.com/", false),
        ("POST", "http://readonly.example.com/", false),
        ("GET", "ftp://api.example.com/", false),
        ("GET", "file:///etc/passwd", false),
        ("GET", "javascript:alert(1)", false),
        ("GET", "not a url", false),
        // Special addresses in every spelling, none granted.
        ("GET", "http://127.0.0.1/", false),
        ("GET", "http://127.0.0.2:9000/", false),
        ("GET", "http://0x7f.1:9000/", true), // is 127.0.0.1:9000, which is granted
        ("GET", "http://0177.0.0.1/", false),
        ("GET", "http://127.1/", false),
        ("GET", "http://0.0.0.0/", false),
        ("GET", "http://[::]/", false),
        ("GET", "http://[::ffff:127.0.0.1]:9000/", false),
        ("GET", "http://[::1]/", false),
        ("GET", "http://169.254.169.254/latest/meta-data/", false),
        ("GET", "http://[fd00:ec2::254]/", false),
        ("GET", "http://100.100.100.200/", false),
        ("GET", "http://[64:ff9b::7f00:1]/", false),
        ("GET", "http://[2002:7f00:1::]/", false),
        ("GET", "http://[fe80::1%25eth0]/", false),
        ("GET", "http://10.2.0.1/", false),
        ("GET", "http://localhost/", false),
        ("GET", "http://8.8.4.4/", false),
    ];
    assert!(table.len() >= 30);
    for (method, url, expected) in table {
        let result = list.check(method, url);
        assert_eq!(result.is_ok(), *expected, "{method} {url}: {result:?}");
        if let Err(denied) = result {
            assert!(!denied.0.is_empty());
        }
    }
}

#[test]
fn denials_name_the_host() {
    let list = allowlist(&["api.example.com"]);
    let denied = list
        .check("GET", "http://api.example.com@evil.com/")
        .unwrap_err();
    assert!(denied.0.contains("evil.com"), "{denied}");
    let denied = list.check("GET", "http://169.254.169.254/").unwrap_err();
    assert!(denied.0.contains("169.254.169.254"), "{denied}");
}

#[test]
fn special_addresses_are_classified_in_every_form() {
    let class = |s: &str| classify(s.parse::<IpAddr>().unwrap());
    let table: &[(&str, AddressClass)] = &[
        ("93.184.216.34", AddressClass::Public),
        ("2606:2800:220:1:248:1893:25c8:1946", AddressClass::Public),
        ("127.0.0.1", AddressClass::Loopback),
        ("127.255.255.254", AddressClass::Loopback),
        ("::1", AddressClass::Loopback),
        ("10.0.0.1", AddressClass::Private),
        ("172.31.255.255", AddressClass::Private),
        ("192.168.1.1", AddressClass::Private),
        ("100.100.100.200", AddressClass::SharedNat),
        ("169.254.169.254", AddressClass::LinkLocal),
        ("fe80::1", AddressClass::LinkLocal),
        ("fd00:ec2::254", AddressClass::UniqueLocal),
        ("fec0::1", AddressClass::UniqueLocal),
        ("224.0.0.1", AddressClass::Multicast),
        ("255.255.255.255", AddressClass::Multicast),
        ("ff02::1", AddressClass::Multicast),
        ("0.0.0.0", AddressClass::Unspecified),
        ("::", AddressClass::Unspecified),
        ("192.0.2.1", AddressClass::Reserved),
        ("198.18.0.1", AddressClass::Reserved),
        ("240.0.0.1", AddressClass::Reserved),
        ("2001:db8::1", AddressClass::Reserved),
        ("2001::1", AddressClass::Reserved),
        ("64:ff9b:1::1", AddressClass::Reserved),
        // IPv6 forms that carry an IPv4 address are judged by it.
        ("::ffff:127.0.0.1", AddressClass::Loopback),
        ("::ffff:10.0.0.1", AddressClass::Private),
        ("::ffff:93.184.216.34", AddressClass::Public),
        ("::127.0.0.1", AddressClass::Loopback),
        ("64:ff9b::169.254.169.254", AddressClass::LinkLocal),
        ("2002:c0a8:0101::1", AddressClass::Private),
        ("2002:5db8:d822::1", AddressClass::Public),
    ];
    for (ip, expected) in table {
        assert_eq!(class(ip), *expected, "{ip}");
    }
}

#[test]
fn resolved_addresses_pass_only_when_public_or_granted() {
    let list = allowlist(&["api.example.com", "internal.example.com", "10.0.0.0/8"]);
    let check = |host: &str, ip: &str| list.check_address(host, ip.parse().unwrap());
    assert!(check("api.example.com", "93.184.216.34").is_ok());
    // A granted name that resolves to loopback (DNS rebinding) is refused...
    let denied = check("api.example.com", "127.0.0.1").unwrap_err();
    assert!(
        denied.0.contains("loopback") && denied.0.contains("api.example.com"),
        "{denied}"
    );
    assert!(check("api.example.com", "::ffff:169.254.169.254").is_err());
    // ...unless that range was granted.
    assert!(check("internal.example.com", "10.20.30.40").is_ok());
    assert!(check("internal.example.com", "192.168.0.1").is_err());
}

#[test]
fn patterns_parse_and_print() {
    for (input, printed) in [
        ("api.example.com", "api.example.com"),
        (
            "HTTPS://API.Example.com:8443;methods=get,post",
            "https://api.example.com:8443;methods=GET,POST",
        ),
        ("*.example.com", "*.example.com"),
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("10.0.0.0/8:8080", "10.0.0.0/8:8080"),
        ("[::1]:9000", "[::1]:9000"),
        ("[fd00::]/8", "[fd00::]/8"),
        ("bücher.example", "xn--bcher-kva.example"),
    ] {
        let pattern: HostPattern = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(pattern.to_string(), printed);
    }
    for bad in [
        "ftp://x.com",
        "x.com/path",
        "user@x.com",
        "x.com:99999",
        "x.com:port",
        "x.com;methods=",
        "x.com;methods=GET;DROP",
        "10.0.0.0/33",
        "127.1",
        "0x7f.1",
        "*.",
        "",
        "host with spaces",
    ] {
        assert!(
            bad.parse::<HostPattern>().is_err(),
            "{bad} should be refused"
        );
    }
}
