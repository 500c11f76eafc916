//! XML in and out. Responses are built with a small writer that escapes every
//! text node; request bodies are parsed into typed structs with serde, with a
//! size cap, and any parse failure is MalformedXML.

use crate::error::{ErrorCode, S3Error, S3Result};
use quick_xml::escape::escape;
use std::fmt::Write;

pub const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Builds an XML document. Element names are ours (static); text is escaped.
pub struct XmlWriter {
    out: String,
    stack: Vec<&'static str>,
}

impl XmlWriter {
    pub fn new(root: &'static str, namespace: Option<&str>) -> Self {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        match namespace {
            Some(ns) => {
                let _ = write!(out, "<{root} xmlns=\"{ns}\">");
            }
            None => {
                let _ = write!(out, "<{root}>");
            }
        }
        XmlWriter { out, stack: vec![root] }
    }
    /// A writer for a run of elements with no root of its own.
    pub fn fragment() -> Self {
        XmlWriter { out: String::new(), stack: Vec::new() }
    }

    /// The fragment's text, closing anything left open.
    pub fn finish_fragment(mut self) -> String {
        while let Some(name) = self.stack.pop() {
            let _ = write!(self.out, "</{name}>");
        }
        self.out
    }

    pub fn open(&mut self, name: &'static str) -> &mut Self {
        let _ = write!(self.out, "<{name}>");
        self.stack.push(name);
        self
    }
    pub fn close(&mut self) -> &mut Self {
        let name = self.stack.pop().expect("close matches an open element");
        let _ = write!(self.out, "</{name}>");
        self
    }
    pub fn elem(&mut self, name: &'static str, text: impl AsRef<str>) -> &mut Self {
        let _ = write!(self.out, "<{name}>{}</{name}>", escape(text.as_ref()));
        self
    }
    pub fn elem_opt(&mut self, name: &'static str, text: Option<impl AsRef<str>>) -> &mut Self {
        if let Some(t) = text {
            self.elem(name, t);
        }
        self
    }
    pub fn finish(mut self) -> String {
        while let Some(name) = self.stack.pop() {
            let _ = write!(self.out, "</{name}>");
        }
        self.out
    }
}

/// Largest XML request body we accept (DeleteObjects with 1000 long keys fits).
pub const MAX_XML_BODY: usize = 2 * 1024 * 1024;

fn malformed() -> S3Error {
    S3Error::new(ErrorCode::MalformedXML)
}

/// Parses a request body into a read-only tree whose root element must be
/// `root`. Text is kept exactly (object keys may be all spaces); entity
/// expansion is bounded by roxmltree.
pub fn parse_doc<'a>(body: &'a str, root: &str) -> S3Result<roxmltree::Document<'a>> {
    let doc = roxmltree::Document::parse(body).map_err(|_| malformed())?;
    if doc.root_element().tag_name().name() != root {
        return Err(malformed());
    }
    Ok(doc)
}

/// The body as UTF-8 text, or MalformedXML.
pub fn body_text(body: &[u8]) -> S3Result<&str> {
    std::str::from_utf8(body).map_err(|_| malformed())
}

/// Child elements called `name` (namespace ignored, as S3 does).
pub fn children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children().filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// The text of the only child called `name`; None if absent, MalformedXML
/// if repeated.
pub fn child_text(node: roxmltree::Node<'_, '_>, name: &'static str) -> S3Result<Option<String>> {
    let mut it = children(node, name);
    let first = it.next();
    if it.next().is_some() {
        return Err(malformed());
    }
    Ok(first.map(|n| n.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect()))
}

/// Like [`child_text`], but the element must be there.
pub fn required_text(node: roxmltree::Node<'_, '_>, name: &'static str) -> S3Result<String> {
    child_text(node, name)?.ok_or_else(malformed)
}

/// S3's timestamp format in XML bodies: `2009-10-12T17:50:30.000Z`.
pub fn iso8601(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        let mut w = XmlWriter::new("R", None);
        w.elem("Key", "a<b>&\"c'");
        assert!(w.finish().contains("<Key>a&lt;b&gt;&amp;&quot;c&apos;</Key>"));
    }

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        let t = time::macros::datetime!(2009-10-12 17:50:30.123 UTC);
        assert_eq!(iso8601(t), "2009-10-12T17:50:30.123Z");
    }
}
