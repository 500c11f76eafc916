//! The checksums current SDKs send by default, computed while bytes stream.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha1::Digest as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [Self::Crc32, Self::Crc32c, Self::Crc64Nvme, Self::Sha1, Self::Sha256];

    /// `CRC32`, as in `x-amz-checksum-algorithm` and XML.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// `x-amz-checksum-crc32`
    pub fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// `ChecksumCRC32`, the XML element name.
    pub fn xml_element(self) -> &'static str {
        match self {
            Self::Crc32 => "ChecksumCRC32",
            Self::Crc32c => "ChecksumCRC32C",
            Self::Crc64Nvme => "ChecksumCRC64NVME",
            Self::Sha1 => "ChecksumSHA1",
            Self::Sha256 => "ChecksumSHA256",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub fn from_header(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.header().eq_ignore_ascii_case(name))
    }

    /// Length of the raw digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// Whether a base64 value is well-formed for this algorithm.
    pub fn valid_value(self, b64: &str) -> bool {
        B64.decode(b64).map(|d| d.len() == self.digest_len()).unwrap_or(false)
    }

    pub fn hasher(self) -> ChecksumHasher {
        match self {
            Self::Crc32 => ChecksumHasher::Crc32(crc32fast::Hasher::new()),
            Self::Crc32c => ChecksumHasher::Crc32c(0),
            Self::Crc64Nvme => ChecksumHasher::Crc64Nvme(crc64fast_nvme::Digest::new()),
            Self::Sha1 => ChecksumHasher::Sha1(sha1::Sha1::new()),
            Self::Sha256 => ChecksumHasher::Sha256(sha2::Sha256::new()),
        }
    }
}

pub enum ChecksumHasher {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl ChecksumHasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc32(h) => h.update(data),
            Self::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Self::Crc64Nvme(h) => h.write(data),
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
        }
    }

    /// The raw digest (big-endian for CRCs, as S3 encodes them).
    pub fn finish_raw(self) -> Vec<u8> {
        match self {
            Self::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Self::Crc32c(c) => c.to_be_bytes().to_vec(),
            Self::Crc64Nvme(h) => h.sum64().to_be_bytes().to_vec(),
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
        }
    }

    pub fn finish_base64(self) -> String {
        B64.encode(self.finish_raw())
    }
}

/// The checksum of a multipart object built from its parts' checksums:
/// `base64(H(raw part checksums concatenated))-N` (S3's COMPOSITE type).
pub fn composite(alg: ChecksumAlgorithm, part_values_b64: &[&str]) -> Option<String> {
    let mut h = alg.hasher();
    for v in part_values_b64 {
        h.update(&B64.decode(v).ok()?);
    }
    Some(format!("{}-{}", h.finish_base64(), part_values_b64.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(alg: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut h = alg.hasher();
        h.update(data);
        h.finish_base64()
    }

    // Reference values for "hello world" as S3 reports them.
    #[test]
    fn known_values_for_hello_world() {
        assert_eq!(b64(ChecksumAlgorithm::Crc32, b"hello world"), "DUoRhQ==");
        assert_eq!(b64(ChecksumAlgorithm::Crc32c, b"hello world"), "yZRlqg==");
        assert_eq!(b64(ChecksumAlgorithm::Sha1, b"hello world"), "Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
        assert_eq!(b64(ChecksumAlgorithm::Sha256, b"hello world"), "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=");
    }

    #[test]
    fn crc64nvme_check_value() {
        // The CRC-64/NVME check value for "123456789".
        let mut h = ChecksumAlgorithm::Crc64Nvme.hasher();
        h.update(b"123456789");
        assert_eq!(h.finish_raw(), 0xAE8B14860A799888u64.to_be_bytes().to_vec());
    }

    #[test]
    fn incremental_equals_one_shot() {
        for alg in ChecksumAlgorithm::ALL {
            let mut h = alg.hasher();
            h.update(b"hello ");
            h.update(b"world");
            assert_eq!(h.finish_base64(), b64(alg, b"hello world"), "{alg:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for alg in ChecksumAlgorithm::ALL {
            assert_eq!(ChecksumAlgorithm::from_name(alg.name()), Some(alg));
            assert_eq!(ChecksumAlgorithm::from_header(alg.header()), Some(alg));
        }
    }
}
