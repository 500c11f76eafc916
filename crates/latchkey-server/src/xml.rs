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

pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> S3Result<T> {
    let text = std::str::from_utf8(body).map_err(|_| S3Error::new(ErrorCode::MalformedXML))?;
    quick_xml::de::from_str(text).map_err(|_| S3Error::new(ErrorCode::MalformedXML))
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
