//! Putting a caller's text into LDAP search filters (RFC 4515) and DNs
//! (RFC 4514) so that it is only ever a value, never syntax.
//!
//! Both RFCs let any octet be written as a backslash and two hex digits, so
//! everything except a few characters that are plain in both is written that
//! way: a username of `*` or `)(uid=*` matches only an entry whose value is
//! exactly that text.

use std::fmt::Write;

/// Octets written as themselves; every other one is `\XX`.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@')
}

fn hex_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if plain(b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "\\{b:02x}");
        }
    }
    out
}

/// An assertion value for a search filter (RFC 4515 section 3).
pub fn filter_value(value: &str) -> String {
    hex_escape(value)
}

/// An attribute value inside a DN (RFC 4514 section 2.4): hex pairs are a
/// valid escape for any character, leading and trailing spaces and `#`
/// included.
pub fn dn_value(value: &str) -> String {
    hex_escape(value)
}

/// Replaces `%s` with `username` and `%d` with `user_dn` in one pass (text
/// inserted is never scanned again). Both must already be escaped.
pub fn substitute(template: &str, username: &str, user_dn: &str) -> String {
    let mut out = String::with_capacity(template.len() + username.len() + user_dn.len());
    let mut rest = template;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        match rest[i + 1..].chars().next() {
            Some('s') => {
                out.push_str(username);
                rest = &rest[i + 2..];
            }
            Some('d') => {
                out.push_str(user_dn);
                rest = &rest[i + 2..];
            }
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3::asn1::{ASNTag, StructureTag, PL};
    use proptest::prelude::*;

    /// What an LDAP client sends for `(uid=VALUE)`: an equalityMatch
    /// (context tag 3) of the attribute and the value's octets.
    fn equality_value(filter: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        let tag: StructureTag = ldap3::parse_filter(filter).ok()?.into_structure();
        if tag.id != 3 {
            return None;
        }
        let PL::C(parts) = tag.payload else { return None };
        match parts.as_slice() {
            [StructureTag { payload: PL::P(attr), .. }, StructureTag { payload: PL::P(value), .. }] => {
                Some((attr.clone(), value.clone()))
            }
            _ => None,
        }
    }

    #[test]
    fn filter_metacharacters_become_hex_pairs() {
        assert_eq!(filter_value("alice"), "alice");
        assert_eq!(filter_value("*"), "\\2a");
        assert_eq!(filter_value(")(uid=*"), "\\29\\28uid\\3d\\2a");
        assert_eq!(filter_value("a\\b\0"), "a\\5cb\\00");
        assert_eq!(filter_value("é"), "\\c3\\a9");
    }

    #[test]
    fn injection_attempts_stay_one_equality_match() {
        for attack in ["*", ")(uid=*", "*)(|(uid=*", "admin)(&)", "x\\2a", "\0"] {
            let filter = substitute("(uid=%s)", &filter_value(attack), "");
            let (attr, value) = equality_value(&filter).unwrap_or_else(|| panic!("{filter}"));
            assert_eq!(attr, b"uid");
            assert_eq!(value, attack.as_bytes());
        }
    }

    #[test]
    fn substitution_is_one_pass() {
        assert_eq!(substitute("(&(member=%d)(uid=%s))", "%d", "cn=x"), "(&(member=cn=x)(uid=%d))");
        assert_eq!(substitute("100%", "a", "b"), "100%");
        assert_eq!(substitute("%%s", "a", "b"), "%a");
        assert_eq!(substitute("uid=%s,ou=people", "bob", ""), "uid=bob,ou=people");
    }

    #[test]
    fn dn_values_escape_separators_and_edges() {
        assert_eq!(dn_value("a,b+c"), "a\\2cb\\2bc");
        assert_eq!(dn_value(" #x "), "\\20\\23x\\20");
    }

    proptest! {
        /// Whatever the username, the filter is one equality assertion whose
        /// value is exactly the username's octets.
        #[test]
        fn any_username_is_only_a_value(name in "\\PC{1,40}|[*()\\\\\0=&|!~<>]{1,20}") {
            let filter = substitute("(uid=%s)", &filter_value(&name), "");
            let (attr, value) = equality_value(&filter).expect("the filter parses as an equality match");
            prop_assert_eq!(attr, b"uid".to_vec());
            prop_assert_eq!(value, name.as_bytes().to_vec());
        }

        #[test]
        fn escaped_text_has_no_metacharacters(name in any::<String>()) {
            let e = filter_value(&name);
            prop_assert!(!e.contains(['*', '(', ')', '\0', ',', '+', '=', '"', '<', '>', ';', ' ', '#']));
        }
    }
}
