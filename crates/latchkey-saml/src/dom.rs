//! Reading SAML documents with roxmltree: no DTDs (so no entity expansion),
//! a bound on the number of nodes, namespace-aware matching, and text that
//! cannot be split by a comment.

use roxmltree::{Document, Node, ParsingOptions};

/// Far more nodes than any real Response or metadata document holds.
const NODES_LIMIT: u32 = 200_000;

pub fn parse(xml: &str) -> Result<Document<'_>, String> {
    let options = ParsingOptions { allow_dtd: false, nodes_limit: NODES_LIMIT, ..ParsingOptions::default() };
    Document::parse_with_options(xml, options).map_err(|e| e.to_string())
}

pub fn is(node: Node<'_, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().name() == local && node.tag_name().namespace() == Some(ns)
}

pub fn children<'a, 'i>(node: Node<'a, 'i>, ns: &'a str, local: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.children().filter(move |c| is(*c, ns, local))
}

/// The one child of this name, if any; a second one is an error.
pub fn unique_child<'a, 'i>(node: Node<'a, 'i>, ns: &'a str, local: &'a str) -> Result<Option<Node<'a, 'i>>, String> {
    let mut found = children(node, ns, local);
    let first = found.next();
    if found.next().is_some() {
        return Err(format!("more than one {local} element"));
    }
    Ok(first)
}

/// Every descendant element of this name, the node itself included.
pub fn descendants<'a, 'i>(node: Node<'a, 'i>, ns: &'a str, local: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.descendants().filter(move |c| is(*c, ns, local))
}

/// The text content of a leaf element. A comment or an element inside the
/// value is refused rather than skipped: `alice@corp<!---->.evil` must not
/// read as `alice@corp`.
pub fn text(node: Node<'_, '_>) -> Result<String, String> {
    let mut out = String::new();
    for c in node.children() {
        if c.is_text() {
            out.push_str(c.text().unwrap_or_default());
        } else {
            return Err(format!("{} must hold only text", node.tag_name().name()));
        }
    }
    Ok(out)
}

/// Trimmed text, as SAML values (URIs, names, instants) are compared.
pub fn trimmed_text(node: Node<'_, '_>) -> Result<String, String> {
    Ok(text(node)?.trim().to_string())
}

/// An xs:dateTime in UTC (SAML core 1.3.3), as Unix seconds. Fractions of a
/// second are dropped.
pub fn parse_instant(value: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_with_a_dtd_are_refused() {
        let xml = r#"<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#;
        assert!(parse(xml).is_err());
    }

    #[test]
    fn a_comment_inside_a_value_is_refused() {
        let doc = parse("<a>alice@corp<!---->.evil</a>").unwrap();
        assert!(text(doc.root_element()).is_err());
        let doc = parse("<a> alice@corp </a>").unwrap();
        assert_eq!(trimmed_text(doc.root_element()).unwrap(), "alice@corp");
    }

    #[test]
    fn instants_are_utc_date_times() {
        assert_eq!(parse_instant("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(parse_instant("1970-01-01T00:01:00.999Z"), Some(60));
        assert_eq!(parse_instant("1970-01-01T01:01:00+01:00"), Some(60));
        assert_eq!(parse_instant("yesterday"), None);
    }
}
