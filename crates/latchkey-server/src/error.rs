//! S3 errors: one variant per AWS error code, each with its HTTP status.
//! Handlers return these; the edge renders them as AWS's XML error document.

use http::StatusCode;
use std::borrow::Cow;

macro_rules! error_codes {
    ($($name:ident => $status:ident, $default:literal;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($name,)* }
        impl ErrorCode {
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => stringify!($name),)* }
            }
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$name => StatusCode::$status,)* }
            }
            pub fn default_message(self) -> &'static str {
                match self { $(ErrorCode::$name => $default,)* }
            }
        }
    };
}

error_codes! {
    AccessDenied => FORBIDDEN, "Access Denied";
    AuthorizationHeaderMalformed => BAD_REQUEST, "The authorization header is malformed.";
    AuthorizationQueryParametersError => BAD_REQUEST, "Error parsing the X-Amz-Credential parameter.";
    BadDigest => BAD_REQUEST, "The Content-MD5 you specified did not match what we received.";
    BucketAlreadyExists => CONFLICT, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.";
    BucketAlreadyOwnedByYou => CONFLICT, "Your previous request to create the named bucket succeeded and you already own it.";
    BucketNotEmpty => CONFLICT, "The bucket you tried to delete is not empty";
    EntityTooLarge => BAD_REQUEST, "Your proposed upload exceeds the maximum allowed size";
    EntityTooSmall => BAD_REQUEST, "Your proposed upload is smaller than the minimum allowed object size.";
    IllegalLocationConstraintException => BAD_REQUEST, "The specified location-constraint is not valid.";
    IncompleteBody => BAD_REQUEST, "You did not provide the number of bytes specified by the Content-Length HTTP header.";
    InternalError => INTERNAL_SERVER_ERROR, "We encountered an internal error. Please try again.";
    InvalidAccessKeyId => FORBIDDEN, "The AWS Access Key Id you provided does not exist in our records.";
    InvalidArgument => BAD_REQUEST, "Invalid Argument";
    InvalidBucketName => BAD_REQUEST, "The specified bucket is not valid.";
    InvalidDigest => BAD_REQUEST, "The Content-MD5 you specified is not valid.";
    InvalidLocationConstraint => BAD_REQUEST, "The specified location constraint is not valid.";
    InvalidPart => BAD_REQUEST, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.";
    InvalidPartOrder => BAD_REQUEST, "The list of parts was not in ascending order. Parts must be ordered by part number.";
    InvalidRange => RANGE_NOT_SATISFIABLE, "The requested range is not satisfiable";
    InvalidRequest => BAD_REQUEST, "Invalid Request";
    InvalidTag => BAD_REQUEST, "The TagKey you have provided is invalid";
    InvalidToken => BAD_REQUEST, "The provided token is malformed or otherwise invalid.";
    KeyTooLongError => BAD_REQUEST, "Your key is too long";
    MalformedXML => BAD_REQUEST, "The XML you provided was not well-formed or did not validate against our published schema";
    MetadataTooLarge => BAD_REQUEST, "Your metadata headers exceed the maximum allowed metadata size";
    MethodNotAllowed => METHOD_NOT_ALLOWED, "The specified method is not allowed against this resource.";
    MissingContentLength => LENGTH_REQUIRED, "You must provide the Content-Length HTTP header.";
    MissingSecurityHeader => BAD_REQUEST, "Your request is missing a required header.";
    NoSuchBucket => NOT_FOUND, "The specified bucket does not exist";
    NoSuchKey => NOT_FOUND, "The specified key does not exist.";
    NoSuchUpload => NOT_FOUND, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.";
    NotImplemented => NOT_IMPLEMENTED, "A header you provided implies functionality that is not implemented";
    NotModified => NOT_MODIFIED, "Not Modified";
    PreconditionFailed => PRECONDITION_FAILED, "At least one of the pre-conditions you specified did not hold";
    RequestHeaderSectionTooLarge => BAD_REQUEST, "Your request header section exceeds the maximum allowed size.";
    RequestTimeTooSkewed => FORBIDDEN, "The difference between the request time and the current time is too large.";
    SignatureDoesNotMatch => FORBIDDEN, "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
    XAmzContentSHA256Mismatch => BAD_REQUEST, "The provided 'x-amz-content-sha256' header does not match what was computed.";
    InvalidRetentionPeriod => BAD_REQUEST, "invalid retention period";
            ServiceUnavailable => SERVICE_UNAVAILABLE, "Please reduce your request rate.";
                ExpiredToken => BAD_REQUEST, "The provided token has expired.";
        InvalidAuthorizationMessageException => BAD_REQUEST, "The encoded authorization message is invalid.";
    InvalidAuthenticationCode => FORBIDDEN, "Authentication code for device is not valid.";
    PackedPolicyTooLarge => BAD_REQUEST, "The request was rejected because the total packed size of the session policies and session tags combined was too large.";
    InvalidParameterValue => BAD_REQUEST, "An invalid or out-of-range value was supplied for the input parameter.";
    MalformedPolicy => BAD_REQUEST, "Policies must be valid JSON and the first byte must be '{'";
            NoSuchBucketPolicy => NOT_FOUND, "The bucket policy does not exist";
            NoSuchCORSConfiguration => NOT_FOUND, "The CORS configuration does not exist";
    AccessControlListNotSupported => BAD_REQUEST, "The bucket does not allow ACLs";
    MalformedPOSTRequest => BAD_REQUEST, "The body of your POST request is not well-formed multipart/form-data.";
    MaxPostPreDataLengthExceeded => BAD_REQUEST, "Your POST request fields preceeding the upload file was too large.";
    InvalidPolicyDocument => BAD_REQUEST, "The content of the form does not meet the conditions specified in the policy document.";
    AccessForbidden => FORBIDDEN, "CORSResponse: This CORS request is not allowed.";
    BadRequest => BAD_REQUEST, "Bad Request";
    NoSuchPublicAccessBlockConfiguration => NOT_FOUND, "The public access block configuration was not found";
    InvalidTargetBucketForLogging => BAD_REQUEST, "The target bucket for logging does not exist, is not owned by you, or does not have the appropriate grants for the log-delivery group.";
    // IAM and STS (Query protocol) errors.
    NoSuchEntity => NOT_FOUND, "The request was rejected because it referenced a resource entity that does not exist.";
    EntityAlreadyExists => CONFLICT, "The request was rejected because it attempted to create a resource that already exists.";
    DeleteConflict => CONFLICT, "The request was rejected because it attempted to delete a resource that has attached subordinate entities.";
    LimitExceeded => CONFLICT, "The request was rejected because it attempted to create resources beyond the current AWS account limits.";
    MalformedPolicyDocument => BAD_REQUEST, "The policy document is malformed.";
    ValidationError => BAD_REQUEST, "A parameter is not valid.";
    InvalidInput => BAD_REQUEST, "The request was rejected because an invalid or out-of-range value was supplied for an input parameter.";
        MissingAuthenticationToken => FORBIDDEN, "Request is missing Authentication Token";
    InvalidClientTokenId => FORBIDDEN, "The security token included in the request is invalid.";
    InvalidAction => BAD_REQUEST, "The action or operation requested is invalid. Verify that the action is typed correctly.";
    MissingAction => BAD_REQUEST, "The request is missing an action or a required parameter.";
    MissingParameter => BAD_REQUEST, "A required parameter for the specified action is not supplied.";
    IncompleteSignature => BAD_REQUEST, "The request signature does not conform to AWS standards.";
    UnmodifiableEntity => BAD_REQUEST, "The request was rejected because it referenced an entity that is not modifiable.";
    // Federation (AssumeRoleWithWebIdentity, AssumeRoleWithSAML, AssumeRoleWithLDAPIdentity).
    InvalidIdentityToken => BAD_REQUEST, "The web identity token that was passed could not be validated.";
    ExpiredTokenException => BAD_REQUEST, "The web identity token that was passed is expired or is not valid.";
    IDPCommunicationError => BAD_REQUEST, "The request could not be fulfilled because the identity provider (IDP) that was asked to verify the incoming identity token could not be reached.";
    IDPRejectedClaim => FORBIDDEN, "The identity provider (IdP) reported that authentication failed.";
    ConcurrentModification => CONFLICT, "The request was rejected because multiple requests to change this object were submitted simultaneously.";
    PolicyNotAttachable => BAD_REQUEST, "The request failed because AWS service role policies can only be attached to the service-linked role for that service.";
}

/// An S3 error as the client will see it.
#[derive(Debug, Clone)]
pub struct S3Error {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
    /// Extra elements of the error document (`BucketName`, `Key`, ...),
    /// never secrets.
    pub details: Vec<(&'static str, String)>,
}

impl S3Error {
    pub fn new(code: ErrorCode) -> Self {
        S3Error { code, message: Cow::Borrowed(code.default_message()), details: Vec::new() }
    }
    pub fn msg(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        S3Error { code, message: message.into(), details: Vec::new() }
    }
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.details.push((name, value.into()));
        self
    }
    /// An internal failure: logged with its cause, reported without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        S3Error::new(ErrorCode::InternalError)
    }
}

impl From<latchkey_storage::StorageError> for S3Error {
    fn from(e: latchkey_storage::StorageError) -> Self {
        S3Error::internal(e)
    }
}

pub type S3Result<T> = Result<T, S3Error>;
