//! A sans-I/O decoder for the aws-chunked body framing (S3 API Reference,
//! `sigv4-streaming`, `sigv4-streaming-trailers`):
//!
//! ```text
//! <hex size>[;chunk-signature=<64 hex>]\r\n <data> \r\n      (repeated, size > 0)
//! 0[;chunk-signature=<64 hex>]\r\n                         (the final chunk)
//! [<name>:<value>\r\n ...  [x-amz-trailer-signature:<64 hex>\r\n]]   (trailer, if announced)
//! \r\n
//! ```
//!
//! The caller feeds bytes as they arrive and receives [`ChunkEvent`]s. Data
//! is handed out as soon as it arrives, without waiting for the end of its
//! chunk, and hashed incrementally; so in signed mode a chunk's bytes are
//! emitted *before* its signature has been checked. Nothing the decoder
//! emitted may be made visible (committed as an object) before
//! [`ChunkEvent::End`].
//!
//! Buffered framing is bounded: a chunk header line may be at most
//! [`MAX_CHUNK_HEADER_LINE`] bytes and the whole trailer at most
//! [`MAX_TRAILER_BYTES`].

use std::fmt;

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};

use crate::canonical::is_header_name;
use crate::chunk_signer::{canonical_trailers, ChunkSigner, TRAILER_SIGNATURE_HEADER};

/// Longest chunk header line accepted, CRLF included.
pub const MAX_CHUNK_HEADER_LINE: usize = 4096;
/// Most trailer bytes accepted (all lines, CRLFs included).
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Whether chunks (and the trailer) carry signatures.
pub enum ChunkedMode {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: every chunk's
    /// signature is checked against the chain seeded by the request's
    /// header signature.
    Signed(ChunkSigner),
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER` (or unsigned aws-chunked): no
    /// signatures; chunk extensions are ignored.
    Unsigned,
}

impl fmt::Debug for ChunkedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkedMode::Signed(signer) => f.debug_tuple("Signed").field(signer).finish(),
            ChunkedMode::Unsigned => f.write_str("Unsigned"),
        }
    }
}

/// What the decoder found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkEvent {
    /// Payload bytes, in order. A chunk may arrive as several events.
    Data(Bytes),
    /// The trailing headers, in the order sent, names as sent, values
    /// trimmed; `x-amz-trailer-signature` (already verified) left out.
    /// Emitted once, only when a trailer was expected.
    Trailers(Vec<(String, String)>),
    /// The body is complete and, in signed mode, every signature matched.
    End,
}

/// Why an aws-chunked body was rejected.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ChunkedError {
    /// The framing is broken (bad size line, missing CRLF, oversized line,
    /// malformed trailer, bytes after the end, ...).
    #[error("The aws-chunked body is malformed: {0}")]
    Malformed(String),
    /// A chunk or trailer signature does not match.
    #[error("The request signature we calculated does not match the signature you provided. Check your key and signing method.")]
    SignatureMismatch,
    /// The body ended before the final chunk and its closing line.
    #[error("The request body terminated unexpectedly")]
    Truncated,
}

impl ChunkedError {
    /// The AWS error code to answer with.
    pub fn aws_code(&self) -> &'static str {
        match self {
            ChunkedError::Malformed(_) => "InvalidRequest",
            ChunkedError::SignatureMismatch => "SignatureDoesNotMatch",
            ChunkedError::Truncated => "IncompleteBody",
        }
    }

    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            ChunkedError::SignatureMismatch => 403,
            ChunkedError::Malformed(_) | ChunkedError::Truncated => 400,
        }
    }
}

fn malformed(message: &str) -> ChunkedError {
    ChunkedError::Malformed(message.to_owned())
}

enum State {
    /// Reading `<hex size>[;ext]\r\n`.
    ChunkHeader,
    /// Inside a chunk's data.
    ChunkData { remaining: u64, hasher: Option<Sha256>, signature: Option<String> },
    /// Reading the CRLF that ends a chunk's data.
    ChunkDataEnd,
    /// After the final chunk without a trailer: reading the closing CRLF.
    Closing,
    /// After the final chunk: reading trailer lines until an empty one.
    Trailer,
    /// Trailers were emitted; `End` is next.
    EndPending,
    /// `End` was emitted.
    Done,
    /// An error was returned; it is returned again on every call.
    Failed(ChunkedError),
}

/// Incremental aws-chunked decoder. See the module documentation.
pub struct ChunkedDecoder {
    mode: ChunkedMode,
    expect_trailer: bool,
    state: State,
    /// The part of the current line received so far (without its `\n`).
    line: Vec<u8>,
    trailer_bytes: usize,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
}

impl fmt::Debug for ChunkedDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkedDecoder")
            .field("mode", &self.mode)
            .field("expect_trailer", &self.expect_trailer)
            .finish_non_exhaustive()
    }
}

impl ChunkedDecoder {
    /// A decoder for one body. `expect_trailer` is true for the `-TRAILER`
    /// payload modes (the request announced `x-amz-trailer`).
    pub fn new(mode: ChunkedMode, expect_trailer: bool) -> Self {
        ChunkedDecoder {
            mode,
            expect_trailer,
            state: State::ChunkHeader,
            line: Vec::new(),
            trailer_bytes: 0,
            trailers: Vec::new(),
            trailer_signature: None,
        }
    }

    /// Consumes bytes from the front of `input` and returns the next event,
    /// or `Ok(None)` when more input is needed; `Ok(None)` always means
    /// `input` was used up (partial lines are kept inside the decoder).
    ///
    /// After an error every further call returns the same error.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<ChunkEvent>, ChunkedError> {
        match self.step(input) {
            Ok(event) => Ok(event),
            Err(error) => {
                self.state = State::Failed(error.clone());
                Err(error)
            }
        }
    }

    /// To call at the end of the body: `Ok` only if the whole body, final
    /// chunk and closing line included, has been decoded.
    pub fn finish(&self) -> Result<(), ChunkedError> {
        match &self.state {
            State::EndPending | State::Done => Ok(()),
            State::Failed(error) => Err(error.clone()),
            _ => Err(ChunkedError::Truncated),
        }
    }

    fn step(&mut self, input: &mut BytesMut) -> Result<Option<ChunkEvent>, ChunkedError> {
        loop {
            match &mut self.state {
                State::Failed(error) => return Err(error.clone()),
                State::Done => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    return Err(malformed("data after the end of the body"));
                }
                State::EndPending => {
                    self.state = State::Done;
                    return Ok(Some(ChunkEvent::End));
                }
                State::ChunkData { remaining, hasher, .. } if *remaining > 0 => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let available = u64::try_from(input.len()).unwrap_or(u64::MAX);
                    let take = usize::try_from(available.min(*remaining)).unwrap_or(input.len());
                    let data = input.split_to(take).freeze();
                    *remaining -= take as u64;
                    if let Some(hasher) = hasher {
                        hasher.update(&data);
                    }
                    return Ok(Some(ChunkEvent::Data(data)));
                }
                State::ChunkData { hasher, signature, .. } => {
                    let (hasher, signature) = (hasher.take(), signature.take());
                    self.state = State::ChunkDataEnd;
                    if let (ChunkedMode::Signed(signer), Some(hasher), Some(signature)) =
                        (&mut self.mode, hasher, signature)
                    {
                        let hash: [u8; 32] = hasher.finalize().into();
                        if !signer.verify_chunk(&hash, &signature) {
                            return Err(ChunkedError::SignatureMismatch);
                        }
                    }
                }
                State::ChunkDataEnd => {
                    let Some(line) = self.take_line(input, 2)? else {
                        return Ok(None);
                    };
                    if !line.is_empty() {
                        return Err(malformed("chunk data is not followed by CRLF"));
                    }
                    self.state = State::ChunkHeader;
                }
                State::ChunkHeader => {
                    let Some(line) = self.take_line(input, MAX_CHUNK_HEADER_LINE)? else {
                        return Ok(None);
                    };
                    self.start_chunk(&line)?;
                }
                State::Closing => {
                    let Some(line) = self.take_line(input, 2)? else {
                        return Ok(None);
                    };
                    if !line.is_empty() {
                        return Err(malformed("the final chunk is not followed by CRLF (no trailer was announced)"));
                    }
                    self.state = State::Done;
                    return Ok(Some(ChunkEvent::End));
                }
                State::Trailer => {
                    let budget = MAX_TRAILER_BYTES.saturating_sub(self.trailer_bytes);
                    let Some(line) = self.take_line(input, budget)? else {
                        return Ok(None);
                    };
                    self.trailer_bytes += line.len() + 2;
                    if line.is_empty() {
                        return self.finish_trailer().map(Some);
                    }
                    self.trailer_line(&line)?;
                }
            }
        }
    }

    /// Takes one CRLF-terminated line (returned without the CRLF), or keeps
    /// the partial line and returns `None` once `input` is used up. A line
    /// longer than `max` bytes (CRLF included), a bare LF or a stray CR is
    /// malformed.
    fn take_line(&mut self, input: &mut BytesMut, max: usize) -> Result<Option<Vec<u8>>, ChunkedError> {
        match input.iter().position(|&b| b == b'\n') {
            Some(end) => {
                if self.line.len() + end + 1 > max {
                    return Err(malformed("line too long"));
                }
                self.line.extend_from_slice(&input[..end]);
                let _ = input.split_to(end + 1);
                let mut line = std::mem::take(&mut self.line);
                if line.pop() != Some(b'\r') {
                    return Err(malformed("line not terminated by CRLF"));
                }
                if line.contains(&b'\r') {
                    return Err(malformed("stray CR in a line"));
                }
                Ok(Some(line))
            }
            None => {
                if self.line.len() + input.len() + 1 > max {
                    return Err(malformed("line too long"));
                }
                self.line.extend_from_slice(input);
                input.clear();
                Ok(None)
            }
        }
    }

    /// Interprets a chunk header line and moves to the chunk's data (or, for
    /// the zero-length final chunk, to the trailer or closing line).
    fn start_chunk(&mut self, line: &[u8]) -> Result<(), ChunkedError> {
        let (size, extension) = match line.iter().position(|&b| b == b';') {
            Some(semicolon) => (&line[..semicolon], Some(&line[semicolon + 1..])),
            None => (line, None),
        };
        if size.is_empty() || size.len() > 16 || !size.iter().all(u8::is_ascii_hexdigit) {
            return Err(malformed("invalid chunk size"));
        }
        let size = size.iter().fold(0u64, |acc, &digit| (acc << 4) | u64::from(hex_value(digit)));

        let signature = match &self.mode {
            ChunkedMode::Unsigned => None,
            ChunkedMode::Signed(_) => {
                let value = extension
                    .and_then(|ext| ext.strip_prefix(b"chunk-signature="))
                    .ok_or_else(|| malformed("a signed chunk needs a chunk-signature"))?;
                if value.len() != 64 || !value.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(malformed("chunk-signature must be 64 lowercase hex digits"));
                }
                Some(String::from_utf8_lossy(value).into_owned())
            }
        };

        if size > 0 {
            let hasher = signature.as_ref().map(|_| Sha256::new());
            self.state = State::ChunkData { remaining: size, hasher, signature };
            return Ok(());
        }

        if let (ChunkedMode::Signed(signer), Some(signature)) = (&mut self.mode, signature) {
            let empty: [u8; 32] = Sha256::digest(b"").into();
            if !signer.verify_chunk(&empty, &signature) {
                return Err(ChunkedError::SignatureMismatch);
            }
        }
        self.state = if self.expect_trailer { State::Trailer } else { State::Closing };
        Ok(())
    }

    /// One `name:value` trailer line.
    fn trailer_line(&mut self, line: &[u8]) -> Result<(), ChunkedError> {
        if self.trailer_signature.is_some() {
            return Err(malformed("trailer lines after x-amz-trailer-signature"));
        }
        let line = std::str::from_utf8(line).map_err(|_| malformed("trailer is not UTF-8"))?;
        let (name, value) = line.split_once(':').ok_or_else(|| malformed("trailer line without ':'"))?;
        if !is_header_name(name) {
            return Err(malformed("invalid trailer name"));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case(TRAILER_SIGNATURE_HEADER) {
            if matches!(self.mode, ChunkedMode::Unsigned) {
                return Err(malformed("x-amz-trailer-signature in an unsigned body"));
            }
            self.trailer_signature = Some(value.to_owned());
        } else {
            self.trailers.push((name.to_owned(), value.to_owned()));
        }
        Ok(())
    }

    /// The empty line closing the trailer: verify its signature (signed
    /// mode) and hand the trailers out.
    fn finish_trailer(&mut self) -> Result<ChunkEvent, ChunkedError> {
        if let ChunkedMode::Signed(signer) = &mut self.mode {
            let provided = self.trailer_signature.take().ok_or_else(|| malformed("missing x-amz-trailer-signature"))?;
            let hash: [u8; 32] = Sha256::digest(canonical_trailers(&self.trailers).as_bytes()).into();
            if !signer.verify_trailer(&hash, &provided) {
                return Err(ChunkedError::SignatureMismatch);
            }
        }
        self.state = State::EndPending;
        Ok(ChunkEvent::Trailers(std::mem::take(&mut self.trailers)))
    }
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk_signer::{frame_unsigned_chunk, frame_unsigned_end};

    // The S3 `sigv4-streaming` example; see chunk_signer's tests.
    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    const CHUNK_1: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
    const CHUNK_2: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
    const CHUNK_FINAL: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

    fn example_mode() -> ChunkedMode {
        let scope = crate::CredentialScope::parse("AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request").unwrap();
        let key = crate::signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3");
        ChunkedMode::Signed(ChunkSigner::new(key, "20130524T000000Z", &scope, SEED))
    }

    /// The documented body, written out by hand from the documentation.
    fn example_body() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(format!("10000;chunk-signature={CHUNK_1}\r\n").as_bytes());
        body.extend_from_slice(&[b'a'; 65536]);
        body.extend_from_slice(format!("\r\n400;chunk-signature={CHUNK_2}\r\n").as_bytes());
        body.extend_from_slice(&[b'a'; 1024]);
        body.extend_from_slice(format!("\r\n0;chunk-signature={CHUNK_FINAL}\r\n\r\n").as_bytes());
        body
    }

    /// Decoded data and trailers.
    type Decoded = (Vec<u8>, Option<Vec<(String, String)>>);

    /// Feeds `body` in pieces of `piece` bytes; returns data, trailers, whether
    /// End was seen, or the first error.
    fn decode_all(mut decoder: ChunkedDecoder, body: &[u8], piece: usize) -> Result<Decoded, ChunkedError> {
        let mut data = Vec::new();
        let mut trailers = None;
        let mut ended = false;
        for part in body.chunks(piece.max(1)) {
            let mut input = BytesMut::from(part);
            while let Some(event) = decoder.decode(&mut input)? {
                match event {
                    ChunkEvent::Data(bytes) => data.extend_from_slice(&bytes),
                    ChunkEvent::Trailers(t) => trailers = Some(t),
                    ChunkEvent::End => ended = true,
                }
            }
            assert!(input.is_empty(), "Ok(None) leaves no input behind");
        }
        let mut empty = BytesMut::new();
        while let Some(event) = decoder.decode(&mut empty)? {
            assert_eq!(event, ChunkEvent::End);
            ended = true;
        }
        decoder.finish()?;
        assert!(ended);
        Ok((data, trailers))
    }

    #[test]
    fn decodes_the_documented_signed_body_whatever_the_pieces() {
        for piece in [1, 7, 86, 4096, 65536, 70000] {
            let (data, trailers) =
                decode_all(ChunkedDecoder::new(example_mode(), false), &example_body(), piece).unwrap();
            assert_eq!(data, vec![b'a'; 66560], "piece {piece}");
            assert_eq!(trailers, None);
        }
    }

    #[test]
    fn hands_out_data_before_the_chunk_is_complete() {
        let mut decoder = ChunkedDecoder::new(example_mode(), false);
        let body = example_body();
        let mut input = BytesMut::from(&body[..100]);
        let header_len = format!("10000;chunk-signature={CHUNK_1}\r\n").len();
        assert_eq!(
            decoder.decode(&mut input).unwrap(),
            Some(ChunkEvent::Data(Bytes::from(vec![b'a'; 100 - header_len])))
        );
        assert_eq!(decoder.decode(&mut input).unwrap(), None);
        assert_eq!(decoder.finish(), Err(ChunkedError::Truncated));
    }

    #[test]
    fn a_tampered_chunk_fails_its_signature() {
        let mut body = example_body();
        // Inside the second chunk's data: after the first chunk (88-byte
        // header, data, CRLF) and the second chunk's 86-byte header.
        body[88 + 65536 + 2 + 86 + 10] = b'b';
        let err = decode_all(ChunkedDecoder::new(example_mode(), false), &body, 1000).unwrap_err();
        assert_eq!(err, ChunkedError::SignatureMismatch);
        assert_eq!(err.aws_code(), "SignatureDoesNotMatch");
    }

    #[test]
    fn swapped_signatures_fail() {
        let body = String::from_utf8(example_body()).unwrap().replace(CHUNK_FINAL, CHUNK_2);
        let err = decode_all(ChunkedDecoder::new(example_mode(), false), body.as_bytes(), 1000).unwrap_err();
        assert_eq!(err, ChunkedError::SignatureMismatch);
    }

    #[test]
    fn a_body_cut_short_is_truncated() {
        let body = example_body();
        for cut in [0, 10, 88, 65536, body.len() - 2, body.len() - 1] {
            let err = decode_all(ChunkedDecoder::new(example_mode(), false), &body[..cut], 999).unwrap_err();
            assert_eq!(err, ChunkedError::Truncated, "cut at {cut}");
            assert_eq!(err.aws_code(), "IncompleteBody");
        }
    }

    #[test]
    fn bytes_after_the_end_are_malformed() {
        let mut body = example_body();
        body.extend_from_slice(b"x");
        let err = decode_all(ChunkedDecoder::new(example_mode(), false), &body, 100_000).unwrap_err();
        assert!(matches!(err, ChunkedError::Malformed(_)), "{err:?}");
    }

    #[test]
    fn signed_mode_requires_a_well_formed_chunk_signature() {
        let sig = "0".repeat(64);
        for header in [
            "10\r\n".to_owned(),
            format!("10;chunk-signature={}\r\n", &sig[1..]),
            format!("10;chunk-signature={}\r\n", sig.to_uppercase().replace('0', "A")),
            format!("10;chunk-signatures={sig}\r\n"),
            format!("10 ;chunk-signature={sig}\r\n"),
        ] {
            let err = decode_all(ChunkedDecoder::new(example_mode(), false), header.as_bytes(), 100).unwrap_err();
            assert!(matches!(err, ChunkedError::Malformed(_)), "{header:?}: {err:?}");
        }
    }

    #[test]
    fn rejects_broken_framing() {
        for body in [
            &b"g\r\nabc\r\n"[..],
            b"\r\n",
            b";x\r\n",
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"3\r\nabc\r\r\n0\r\n\r\n",
            b"3\nabc\r\n0\r\n\r\n",
            b"11111111111111111\r\n",
            b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
            b"0\r\n\r\n\r\n",
        ] {
            let err = decode_all(ChunkedDecoder::new(ChunkedMode::Unsigned, false), body, 3).unwrap_err();
            assert!(matches!(err, ChunkedError::Malformed(_)), "{body:?}: {err:?}");
            assert_eq!(err.aws_code(), "InvalidRequest");
        }
    }

    #[test]
    fn bounds_the_chunk_header_line() {
        let mut decoder = ChunkedDecoder::new(ChunkedMode::Unsigned, false);
        let mut input = BytesMut::from(&[b'0'; 4000][..]);
        assert_eq!(decoder.decode(&mut input).unwrap(), None);
        let mut input = BytesMut::from(&[b'0'; 100][..]);
        assert!(matches!(decoder.decode(&mut input), Err(ChunkedError::Malformed(_))));
        // ... and the error sticks.
        assert!(matches!(decoder.decode(&mut BytesMut::new()), Err(ChunkedError::Malformed(_))));
        assert!(matches!(decoder.finish(), Err(ChunkedError::Malformed(_))));
    }

    #[test]
    fn decodes_an_unsigned_body_with_a_checksum_trailer() {
        let trailers = vec![("x-amz-checksum-crc32".to_owned(), "AAAAAA==".to_owned())];
        let mut body = frame_unsigned_chunk(b"hello ");
        body.extend(frame_unsigned_chunk(b"world"));
        body.extend(frame_unsigned_end(Some(&trailers)));
        assert_eq!(body, b"6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n");
        for piece in 1..body.len() {
            let (data, got) = decode_all(ChunkedDecoder::new(ChunkedMode::Unsigned, true), &body, piece).unwrap();
            assert_eq!(data, b"hello world");
            assert_eq!(got.as_ref(), Some(&trailers));
        }
    }

    #[test]
    fn bounds_the_trailer() {
        let mut body = b"0\r\n".to_vec();
        for i in 0..1000 {
            body.extend_from_slice(format!("x-amz-meta-{i}:{}\r\n", "v".repeat(20)).as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        let err = decode_all(ChunkedDecoder::new(ChunkedMode::Unsigned, true), &body, 512).unwrap_err();
        assert!(matches!(err, ChunkedError::Malformed(_)));
    }

    #[test]
    fn verifies_a_signed_trailer() {
        let trailers = vec![("x-amz-checksum-crc32c".to_owned(), "sOO8/Q==".to_owned())];
        let ChunkedMode::Signed(mut signer) = example_mode() else { unreachable!() };
        let mut body = signer.frame_chunk(&[b'a'; 65536]);
        body.extend(signer.frame_chunk(&[b'a'; 1024]));
        body.extend(signer.frame_end(Some(&trailers)));
        let text = String::from_utf8_lossy(&body).into_owned();
        assert!(text.contains(&format!(
            "0;chunk-signature={CHUNK_FINAL}\r\nx-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:"
        )));

        let (data, got) = decode_all(ChunkedDecoder::new(example_mode(), true), &body, 333).unwrap();
        assert_eq!(data.len(), 66560);
        assert_eq!(got, Some(trailers));

        // A changed checksum no longer matches the trailer signature.
        let tampered = text.replace("sOO8/Q==", "AAAAAA==");
        let err = decode_all(ChunkedDecoder::new(example_mode(), true), tampered.as_bytes(), 333).unwrap_err();
        assert_eq!(err, ChunkedError::SignatureMismatch);

        // The trailer signature is required in signed mode.
        let unsigned_trailer = text
            .split("\r\n")
            .filter(|line| !line.starts_with("x-amz-trailer-signature"))
            .collect::<Vec<_>>()
            .join("\r\n");
        let err = decode_all(ChunkedDecoder::new(example_mode(), true), unsigned_trailer.as_bytes(), 333).unwrap_err();
        assert!(matches!(err, ChunkedError::Malformed(_)), "{err:?}");
    }

    #[test]
    fn debug_shows_no_signature() {
        let decoder = ChunkedDecoder::new(example_mode(), false);
        assert!(!format!("{decoder:?}").contains(SEED));
    }
}
