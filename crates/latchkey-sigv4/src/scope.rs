//! The credential scope: `AKID/YYYYMMDD/REGION/SERVICE/aws4_request`.

use crate::error::SigV4Error;

/// The terminator every SigV4 credential scope ends with.
pub const SCOPE_TERMINATOR: &str = "aws4_request";

/// `"AKID/20150830/us-east-1/service/aws4_request"`, parsed.
///
/// The access key id is not secret (AWS echoes it in errors), so `Debug` is
/// derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key_id: String,
    /// `YYYYMMDD`, the day the signing key was derived for.
    pub date: String,
    pub region: String,
    pub service: String,
}

impl CredentialScope {
    /// Parses the `Credential=` value of an `Authorization` header (or the
    /// decoded `X-Amz-Credential` query parameter).
    ///
    /// The last four `/`-separated fields are date, region, service and the
    /// `aws4_request` terminator; everything before them is the access key id,
    /// so an S3-compatible key id containing `/` still parses.
    ///
    /// Errors are reported as [`SigV4Error::AuthorizationHeaderMalformed`];
    /// [`crate::parse_presigned_query`] reports them as a query error instead.
    pub fn parse(credential: &str) -> Result<Self, SigV4Error> {
        Self::parse_fields(credential).map_err(SigV4Error::AuthorizationHeaderMalformed)
    }

    /// The shared parser; the error is the message fragment after the
    /// header/query specific prefix.
    pub(crate) fn parse_fields(credential: &str) -> Result<Self, String> {
        const EXPECTING: &str =
            "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".";
        let mut fields = credential.rsplitn(5, '/');
        let (Some(terminator), Some(service), Some(region), Some(date), Some(access_key_id)) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(EXPECTING.to_owned());
        };
        // An empty region parses (clients of global services such as IAM
        // sometimes sign with one); whether it is acceptable is the server's
        // decision, made per service.
        if access_key_id.is_empty() || service.is_empty() {
            return Err(EXPECTING.to_owned());
        }
        if !is_yyyymmdd(date) {
            return Err(EXPECTING.to_owned());
        }
        if terminator != SCOPE_TERMINATOR {
            return Err("incorrect terminal; this endpoint uses \"aws4_request\" as the credential scope terminator."
                .to_owned());
        }
        Ok(CredentialScope {
            access_key_id: access_key_id.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        })
    }

    /// `"20150830/us-east-1/service/aws4_request"`: the scope as it appears in
    /// the string to sign (the credential without the access key id).
    pub fn scope_string(&self) -> String {
        format!("{}/{}/{}/{}", self.date, self.region, self.service, SCOPE_TERMINATOR)
    }
}

/// Eight ASCII digits forming a real calendar day.
fn is_yyyymmdd(date: &str) -> bool {
    let bytes = date.as_bytes();
    if bytes.len() != 8 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let number = |range: std::ops::Range<usize>| -> u32 {
        bytes[range].iter().fold(0, |acc, digit| acc * 10 + u32::from(digit - b'0'))
    };
    let (year, month, day) = (number(0..4), number(4..6), number(6..8));
    let Ok(month) = time::Month::try_from(month as u8) else {
        return false;
    };
    time::Date::from_calendar_date(year as i32, month, day as u8).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_credential() {
        let scope = CredentialScope::parse("AKIDEXAMPLE/20150830/us-east-1/service/aws4_request").unwrap();
        assert_eq!(scope.access_key_id, "AKIDEXAMPLE");
        assert_eq!(scope.date, "20150830");
        assert_eq!(scope.region, "us-east-1");
        assert_eq!(scope.service, "service");
        assert_eq!(scope.scope_string(), "20150830/us-east-1/service/aws4_request");
    }

    #[test]
    fn an_access_key_id_may_contain_a_slash() {
        let scope = CredentialScope::parse("a/b/20150830/us-east-1/s3/aws4_request").unwrap();
        assert_eq!(scope.access_key_id, "a/b");
    }

    #[test]
    fn rejects_malformed_credentials() {
        for bad in [
            "",
            "AKID",
            "AKID/20150830/us-east-1/s3",
            "/20150830/us-east-1/s3/aws4_request",
            "AKID/2015083/us-east-1/s3/aws4_request",
            "AKID/20151330/us-east-1/s3/aws4_request",
            "AKID/20150230/us-east-1/s3/aws4_request",
            "AKID/20150830/us-east-1//aws4_request",
            "AKID/20150830/us-east-1/s3/aws4_requests",
            "AKID/2015083x/us-east-1/s3/aws4_request",
        ] {
            let err = CredentialScope::parse(bad).unwrap_err();
            assert_eq!(err.aws_code(), "AuthorizationHeaderMalformed", "{bad:?}");
        }
    }

    #[test]
    fn an_empty_region_parses_for_the_server_to_judge() {
        assert_eq!(CredentialScope::parse("AKID/20150830//iam/aws4_request").unwrap().region, "");
    }
}
