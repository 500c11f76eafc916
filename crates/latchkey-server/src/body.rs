//! The request body as handlers see it: bytes that have been checked against
//! everything the client promised about them (signed payload hash, chunk
//! signatures, Content-MD5, x-amz-checksum-*, length). Verification finishes
//! before the final `None` is returned, so a handler that commits only after
//! draining the body never commits bytes that failed a check.

use crate::checksum::{ChecksumAlgorithm, ChecksumHasher};
use crate::error::{ErrorCode, S3Error, S3Result};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use latchkey_sigv4::{ChunkEvent, ChunkedDecoder, ChunkedError};
use md5::{Digest, Md5};
use sha2::Sha256;

/// How the payload is protected, from `x-amz-content-sha256`.
pub enum PayloadMode {
    /// The body's SHA-256 was signed.
    Sha256([u8; 32]),
    Unsigned,
    /// aws-chunked framing (signed chunks or unsigned with a trailer).
    Chunked(Box<ChunkedDecoder>),
}

/// What the client said the body's checksum is.
#[derive(Debug, Clone)]
pub enum ChecksumClaim {
    Header { algorithm: ChecksumAlgorithm, value: String },
    Trailer { algorithm: ChecksumAlgorithm },
}

/// Everything known about the body before reading it.
pub struct BodyPlan {
    pub mode: PayloadMode,
    /// Content-Length, or x-amz-decoded-content-length for aws-chunked.
    pub length: Option<u64>,
    pub content_md5: Option<[u8; 16]>,
    pub checksum: Option<ChecksumClaim>,
}

/// The verified facts about a fully read body.
#[derive(Debug, Clone)]
pub struct BodyDigest {
    pub size: u64,
    pub md5: [u8; 16],
    /// The checksum the client supplied, verified (algorithm, base64).
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

type Incoming = http_body_util::combinators::BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

pub struct RequestBody {
    incoming: Incoming,
    decoder: Option<ChunkedDecoder>,
    raw: BytesMut,
    sha256: Option<(Sha256, [u8; 32])>,
    md5: Md5,
    checksum: Option<(ChecksumAlgorithm, ChecksumHasher, Option<String>)>,
    trailers: Vec<(String, String)>,
    content_md5: Option<[u8; 16]>,
    expected_len: Option<u64>,
    max_len: u64,
    received: u64,
    done: Option<BodyDigest>,
}

fn chunk_error(e: ChunkedError) -> S3Error {
    match e {
        ChunkedError::SignatureMismatch => S3Error::new(ErrorCode::SignatureDoesNotMatch),
        ChunkedError::Truncated => S3Error::new(ErrorCode::IncompleteBody),
        other => S3Error::msg(ErrorCode::InvalidRequest, format!("Malformed aws-chunked body: {other}")),
    }
}

impl RequestBody {
    pub fn new<B>(body: B, plan: BodyPlan, max_len: u64) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let incoming = body.map_err(Into::into).boxed();
        let (decoder, sha256) = match plan.mode {
            PayloadMode::Sha256(h) => (None, Some((Sha256::new(), h))),
            PayloadMode::Unsigned => (None, None),
            PayloadMode::Chunked(d) => (Some(*d), None),
        };
        let checksum = plan.checksum.map(|c| match c {
            ChecksumClaim::Header { algorithm, value } => (algorithm, algorithm.hasher(), Some(value)),
            ChecksumClaim::Trailer { algorithm } => (algorithm, algorithm.hasher(), None),
        });
        RequestBody {
            incoming,
            decoder,
            raw: BytesMut::new(),
            sha256,
            md5: Md5::new(),
            checksum,
            trailers: Vec::new(),
            content_md5: plan.content_md5,
            expected_len: plan.length,
            max_len,
            received: 0,
            done: None,
        }
    }

    /// An empty body (for requests built internally).
    pub fn empty() -> Self {
        let plan = BodyPlan { mode: PayloadMode::Unsigned, length: Some(0), content_md5: None, checksum: None };
        RequestBody::new(http_body_util::Empty::<Bytes>::new(), plan, 0)
    }

    pub fn declared_length(&self) -> Option<u64> {
        self.expected_len
    }

    /// The next verified piece of the body; `None` once it is complete and
    /// every check has passed.
    pub async fn next_chunk(&mut self) -> S3Result<Option<Bytes>> {
        if self.done.is_some() {
            return Ok(None);
        }
        loop {
            if let Some(dec) = self.decoder.as_mut() {
                match dec.decode(&mut self.raw).map_err(chunk_error)? {
                    Some(ChunkEvent::Data(b)) => {
                        if b.is_empty() {
                            continue;
                        }
                        self.account(&b)?;
                        return Ok(Some(b));
                    }
                    Some(ChunkEvent::Trailers(t)) => {
                        self.trailers.extend(t);
                        continue;
                    }
                    Some(ChunkEvent::End) => {
                        self.finish()?;
                        return Ok(None);
                    }
                    None => {}
                }
            }
            match self.incoming.frame().await {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if self.decoder.is_some() {
                        if self.raw.len() + data.len() > 8 * 1024 * 1024 {
                            // The decoder consumes as it goes; a backlog this
                            // large means it is stuck on malformed framing.
                            return Err(S3Error::msg(ErrorCode::InvalidRequest, "Malformed aws-chunked body"));
                        }
                        self.raw.extend_from_slice(&data);
                        continue;
                    }
                    if data.is_empty() {
                        continue;
                    }
                    self.account(&data)?;
                    return Ok(Some(data));
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "request body ended abnormally");
                    return Err(S3Error::new(ErrorCode::IncompleteBody));
                }
                None => {
                    if let Some(dec) = self.decoder.as_ref() {
                        dec.finish().map_err(chunk_error)?;
                        // finish() succeeding without End means nothing was left.
                        return Err(S3Error::new(ErrorCode::IncompleteBody));
                    }
                    self.finish()?;
                    return Ok(None);
                }
            }
        }
    }

    fn account(&mut self, data: &[u8]) -> S3Result<()> {
        self.received += data.len() as u64;
        if self.received > self.max_len {
            return Err(S3Error::new(ErrorCode::EntityTooLarge)
                .with("ProposedSize", self.received.to_string())
                .with("MaxSizeAllowed", self.max_len.to_string()));
        }
        if let Some(expected) = self.expected_len {
            if self.received > expected {
                return Err(S3Error::msg(ErrorCode::InvalidRequest, "The body is longer than its declared length."));
            }
        }
        self.md5.update(data);
        if let Some((h, _)) = self.sha256.as_mut() {
            h.update(data);
        }
        if let Some((_, h, _)) = self.checksum.as_mut() {
            h.update(data);
        }
        Ok(())
    }

    fn finish(&mut self) -> S3Result<()> {
        if let Some(expected) = self.expected_len {
            if self.received != expected {
                return Err(S3Error::new(ErrorCode::IncompleteBody));
            }
        }
        if let Some((h, expected)) = self.sha256.take() {
            let got: [u8; 32] = h.finalize().into();
            if got != expected {
                return Err(S3Error::new(ErrorCode::XAmzContentSHA256Mismatch)
                    .with("ClientComputedContentSHA256", hex::encode(expected))
                    .with("S3ComputedContentSHA256", hex::encode(got)));
            }
        }
        let md5: [u8; 16] = std::mem::take(&mut self.md5).finalize().into();
        if let Some(claimed) = self.content_md5 {
            if claimed != md5 {
                return Err(S3Error::new(ErrorCode::BadDigest));
            }
        }
        let checksum = match self.checksum.take() {
            None => None,
            Some((alg, hasher, claimed)) => {
                let claimed = match claimed {
                    Some(v) => v,
                    None => self
                        .trailers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(alg.header()))
                        .map(|(_, v)| v.trim().to_string())
                        .ok_or_else(|| {
                            S3Error::msg(
                                ErrorCode::InvalidRequest,
                                format!("The trailer {} was declared but not sent.", alg.header()),
                            )
                        })?,
                };
                let got = hasher.finish_base64();
                if got != claimed {
                    return Err(S3Error::msg(
                        ErrorCode::BadDigest,
                        format!("The {} you specified did not match the calculated checksum.", alg.name()),
                    ));
                }
                Some((alg, got))
            }
        };
        self.done = Some(BodyDigest { size: self.received, md5, checksum });
        Ok(())
    }

    /// The digest of a completely read body.
    pub fn digest(&self) -> Option<&BodyDigest> {
        self.done.as_ref()
    }

    /// Reads a whole small body (XML), refusing more than `limit` bytes.
    pub async fn read_all(&mut self, limit: usize) -> S3Result<Bytes> {
        let mut out = BytesMut::new();
        while let Some(chunk) = self.next_chunk().await? {
            if out.len() + chunk.len() > limit {
                return Err(S3Error::msg(ErrorCode::MalformedXML, "The request body is too large."));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }
}
