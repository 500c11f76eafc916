"""A SAML 2.0 identity provider for the tests: an RSA key and self-signed
certificate made per run (cryptography), its metadata document, and
samlp:Responses signed with signxml (enveloped, exclusive c14n, RSA-SHA256),
as IdPs such as AD FS, Okta or Keycloak send them to AWS.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner

AWS_SAML = "https://signin.aws.amazon.com/saml"
ATTR = "https://aws.amazon.com/SAML/Attributes/"
NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
PLACEHOLDER = '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="placeholder"/>'


def instant(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class Idp:
    """One identity provider: entity ID, key and self-signed certificate."""

    def __init__(self, entity_id: str):
        self.entity_id = entity_id
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "latchkey test idp")])
        start = now() - dt.timedelta(days=1)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        self.key_pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def cert_b64(self) -> str:
        return base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()

    def metadata(self, *, valid_until: str | None = None, also: list["Idp"] = ()) -> str:
        keys = "".join(
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
            f"{idp.cert_b64()}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            for idp in [self, *also])
        until = f' validUntil="{valid_until}"' if valid_until else ""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{self.entity_id}"{until}>'
            '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            f"{keys}"
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            'Location="https://idp.example.com/sso"/>'
            "</md:IDPSSODescriptor></md:EntityDescriptor>\n")

    def sign(self, xml: str, element_id: str) -> str:
        """Signs the element (the document's root) whose ID is element_id;
        the signature goes where the document's placeholder is."""
        root = etree.fromstring(xml.encode())
        signed = XMLSigner(c14n_algorithm=EXC_C14N).sign(
            root, key=self.key_pem, cert=self.cert_pem, reference_uri=element_id, id_attribute="ID")
        return etree.tostring(signed).decode()


@dataclasses.dataclass
class Claims:
    """What a Response says; tests bend single fields."""
    issuer: str
    roles: list[str]
    session_name: str | None = "alice"
    name_id: str = "alice@example.com"
    name_id_format: str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    audience: str = AWS_SAML
    recipient: str = AWS_SAML
    status: str = "urn:oasis:names:tc:SAML:2.0:status:Success"
    not_before: dt.datetime = dataclasses.field(default_factory=lambda: now() - dt.timedelta(minutes=1))
    not_on_or_after: dt.datetime = dataclasses.field(default_factory=lambda: now() + dt.timedelta(minutes=5))
    session_not_on_or_after: dt.datetime | None = None
    attributes: list[tuple[str, list[str]]] = dataclasses.field(default_factory=list)
    assertion_id: str = dataclasses.field(default_factory=lambda: "_" + uuid.uuid4().hex)
    response_id: str = dataclasses.field(default_factory=lambda: "_" + uuid.uuid4().hex)

    def all_attributes(self) -> list[tuple[str, list[str]]]:
        out = [(ATTR + "Role", self.roles)]
        if self.session_name is not None:
            out.append((ATTR + "RoleSessionName", [self.session_name]))
        return out + self.attributes


def assertion_xml(c: Claims, *, placeholder: bool) -> str:
    attrs = "".join(
        f'<saml:Attribute Name="{name}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">'
        + "".join(f"<saml:AttributeValue>{v}</saml:AttributeValue>" for v in values)
        + "</saml:Attribute>"
        for name, values in c.all_attributes())
    session = (f' SessionNotOnOrAfter="{instant(c.session_not_on_or_after)}"'
               if c.session_not_on_or_after else "")
    return (
        f'<saml:Assertion xmlns:saml="{NS["saml"]}" ID="{c.assertion_id}" Version="2.0" '
        f'IssueInstant="{instant(c.not_before)}">'
        f"<saml:Issuer>{c.issuer}</saml:Issuer>{PLACEHOLDER if placeholder else ''}"
        f'<saml:Subject><saml:NameID Format="{c.name_id_format}">{c.name_id}</saml:NameID>'
        '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
        f'<saml:SubjectConfirmationData NotOnOrAfter="{instant(c.not_on_or_after)}" '
        f'Recipient="{c.recipient}"/></saml:SubjectConfirmation></saml:Subject>'
        f'<saml:Conditions NotBefore="{instant(c.not_before)}" NotOnOrAfter="{instant(c.not_on_or_after)}">'
        f"<saml:AudienceRestriction><saml:Audience>{c.audience}</saml:Audience></saml:AudienceRestriction>"
        "</saml:Conditions>"
        f'<saml:AuthnStatement AuthnInstant="{instant(c.not_before)}"{session}>'
        "<saml:AuthnContext><saml:AuthnContextClassRef>"
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
        f"<saml:AttributeStatement>{attrs}</saml:AttributeStatement></saml:Assertion>")


def response_xml(c: Claims, assertion: str, *, placeholder: bool) -> str:
    return (
        f'<samlp:Response xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" ID="{c.response_id}" '
        f'Version="2.0" IssueInstant="{instant(c.not_before)}" Destination="{c.recipient}">'
        f"<saml:Issuer>{c.issuer}</saml:Issuer>{PLACEHOLDER if placeholder else ''}"
        f'<samlp:Status><samlp:StatusCode Value="{c.status}"/></samlp:Status>'
        f"{assertion}</samlp:Response>")


def signed_response(idp: Idp, c: Claims, sign: str = "assertion") -> str:
    """The Response's XML, with its Assertion signed ("assertion"), the
    Response signed ("response"), or both ("both")."""
    assertion = assertion_xml(c, placeholder=sign in ("assertion", "both"))
    if sign in ("assertion", "both"):
        assertion = idp.sign(assertion, c.assertion_id)
    response = response_xml(c, assertion, placeholder=sign in ("response", "both"))
    if sign in ("response", "both"):
        response = idp.sign(response, c.response_id)
    return response


def b64(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()
