"""A small OpenID Connect issuer for the web-identity tests, on loopback.

Each issuer serves HTTPS with a certificate chain made for the run (a CA and
a leaf for localhost / 127.0.0.1, both generated with `cryptography`), the
discovery document at <issuer>/.well-known/openid-configuration, its JWKS,
and a token endpoint for the browser test. Signing keys (RSA for RS256, EC
P-256 for ES256) are generated per run; tokens are minted with PyJWT.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.server
import ipaddress
import json
import ssl
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

TAGS_CLAIM = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM = "https://aws.amazon.com/source_identity"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Pki:
    """A CA and a leaf certificate for localhost and 127.0.0.1, written to dir.

    self_signed: the leaf signs itself (no CA is presented).
    present_ca: the server presents this CA certificate after its leaf
    instead of the one that signed it (an impostor showing a trusted CA)."""

    def __init__(self, directory: Path, name: str = "test", *, self_signed: bool = False,
                 present_ca: x509.Certificate | None = None):
        directory.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.timezone.utc)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"latchkey {name} test CA {uuid.uuid4().hex[:8]}")])
        self.ca = (x509.CertificateBuilder()
                   .subject_name(ca_name).issuer_name(ca_name)
                   .public_key(self.ca_key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key()), critical=False)
                   .sign(self.ca_key, hashes.SHA256()))
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"localhost {uuid.uuid4().hex[:8]}")])
        signer_key = self.leaf_key if self_signed else self.ca_key
        self.leaf = (x509.CertificateBuilder()
                     .subject_name(leaf_name)
                     .issuer_name(leaf_name if self_signed else ca_name)
                     .public_key(self.leaf_key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(minutes=5))
                     .not_valid_after(now + dt.timedelta(days=1))
                     .add_extension(x509.SubjectAlternativeName([
                         x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                         critical=False)
                     .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                     .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                     .sign(signer_key, hashes.SHA256()))
        self.chain_path = directory / f"{name}-chain.pem"
        self.key_path = directory / f"{name}-key.pem"
        self.ca_path = directory / f"{name}-ca.pem"
        pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
        presented = b"" if self_signed else pem(present_ca or self.ca)
        self.chain_path.write_bytes(pem(self.leaf) + presented)
        self.ca_path.write_bytes(pem(self.ca))
        self.key_path.write_bytes(self.leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    @property
    def ca_thumbprint(self) -> str:
        """What IAM's ThumbprintList holds: the SHA-1 of the top CA certificate."""
        return hashlib.sha1(self.ca.public_bytes(serialization.Encoding.DER)).hexdigest()

    @property
    def leaf_thumbprint(self) -> str:
        return hashlib.sha1(self.leaf.public_bytes(serialization.Encoding.DER)).hexdigest()

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.chain_path), str(self.key_path))
        return ctx


class SigningKey:
    def __init__(self, alg: str, kid: str | None = None):
        self.alg = alg
        self.kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        if alg == "RS256":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        elif alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key()))
        else:
            raise ValueError(alg)
        jwk.update({"kid": self.kid, "use": "sig", "alg": alg})
        self.jwk = jwk

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)


class Issuer:
    """An HTTPS OpenID Connect issuer at https://localhost:PORT{path}."""

    def __init__(self, pki: Pki, path: str = "", algs: tuple[str, ...] = ("RS256", "ES256")):
        self.pki = pki
        self.path = path.rstrip("/")
        self.keys: list[SigningKey] = [SigningKey(a) for a in algs]
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        self._lock = threading.Lock()
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, status: int, body: dict | str, ctype="application/json"):
                data = (json.dumps(body) if isinstance(body, dict) else body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                # The browser test's page fetches tokens cross-origin.
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                u = urlsplit(self.path)
                if u.path == f"{issuer.path}/.well-known/openid-configuration":
                    with issuer._lock:
                        issuer.discovery_fetches += 1
                    self._send(200, {
                        "issuer": issuer.url,
                        "jwks_uri": f"{issuer.url}/jwks",
                        "authorization_endpoint": f"{issuer.url}/authorize",
                        "token_endpoint": f"{issuer.url}/token",
                        "response_types_supported": ["id_token"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                    })
                elif u.path == f"{issuer.path}/jwks":
                    with issuer._lock:
                        issuer.jwks_fetches += 1
                        keys = [k.jwk for k in issuer.keys]
                    self._send(200, {"keys": keys})
                elif u.path == f"{issuer.path}/token":
                    # A stand-in for a real login: the browser test asks for
                    # an ID token for a subject and client id.
                    q = {k: v[0] for k, v in parse_qs(u.query).items()}
                    token = issuer.mint(q.get("sub", "anonymous"), q.get("aud", ""))
                    self._send(200, {"id_token": token, "token_type": "Bearer"})
                else:
                    self._send(404, {"error": "not found"})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = pki.server_context().wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://localhost:{self.port}{self.path}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "Issuer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- what IAM is told ----------------------------------------------------
    @property
    def host_path(self) -> str:
        """The URL without https://: the provider ARN's resource and the
        prefix of its condition keys."""
        return self.url[len("https://"):]

    def provider_arn(self, account: str) -> str:
        return f"arn:aws:iam::{account}:oidc-provider/{self.host_path}"

    # -- keys and tokens ---------------------------------------------------
    def key(self, alg: str = "RS256") -> SigningKey:
        return next(k for k in self.keys if k.alg == alg)

    def rotate(self, alg: str = "RS256") -> SigningKey:
        """Publishes a new key and withdraws the old ones of that algorithm."""
        new = SigningKey(alg)
        with self._lock:
            self.keys = [k for k in self.keys if k.alg != alg] + [new]
        return new

    def claims(self, sub: str, aud, **extra) -> dict:
        now = int(time.time())
        c = {"iss": self.url, "sub": sub, "aud": aud, "iat": now, "exp": now + 600}
        c.update(extra)
        return c

    def mint(self, sub: str, aud, alg: str = "RS256", key: SigningKey | None = None,
             kid: str | None = None, **extra) -> str:
        key = key or self.key(alg)
        headers = {"kid": kid if kid is not None else key.kid}
        return jwt.encode(self.claims(sub, aud, **extra), key.private, algorithm=key.alg, headers=headers)


def unsigned_token(claims: dict) -> str:
    """`alg: none`: a token with no signature at all."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."
