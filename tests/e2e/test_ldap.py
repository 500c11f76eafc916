"""Sign in with LDAP: MinIO's AssumeRoleWithLDAPIdentity against a real
OpenLDAP directory (Debian's slapd, started by these tests on a free loopback
port with a generated configuration and an mdb database in a temp dir).

The directory (dc=example,dc=com):
  ou=people    alice (dept 42, group storage), carol (dept 42, storage),
               bob (dept 7, group sales), "pat(*)" (storage; a uid full of
               filter metacharacters that must still sign in)
  ou=groups    cn=storage, cn=sales (groupOfNames)
  ou=services  cn=reader, the service account that looks users up
It allows unauthenticated binds (`allow bind_anon_dn`), as some directories
do: an empty password would "succeed" there unless latchkey refuses it first.

Roles trust `"Federated": "ldap"` for sts:AssumeRoleWithLDAPIdentity with
conditions on ldap:groups; their policies use ${ldap:user} and
${aws:PrincipalTag/dept} (a session tag from the departmentNumber attribute).
Clients: raw unsigned form POSTs with `requests` (what MinIO's clients send)
and boto3 S3 clients using the credentials returned.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

import conftest
import s3util
from iamutil import compact, iam_client, uniq, xml_text

REGION = conftest.REGION
BASE = "dc=example,dc=com"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
READER_DN = f"cn=reader,ou=services,{BASE}"
READER_PW = "reader-service-pw-5c1e"
STORAGE_DN = f"cn=storage,{GROUPS}"
USERS = {  # uid: (password, departmentNumber, mail)
    "alice": ("alice-pw-Wonderland1", "42", "alice@example.com"),
    "carol": ("carol-pw-Xmas2", "42", "carol@example.com"),
    "bob": ("bob-pw-Builder3", "7", "bob@example.com"),
    "pat(*)": ("pat-pw-Stars4", "42", "pat@example.com"),
}
GROUP_MEMBERS = {"storage": ["alice", "carol", "pat(*)"], "sales": ["bob"]}
USER_FILTER = "(&(objectClass=inetOrgPerson)(uid=%s))"
STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
# A well-formed role ARN for calls that fail before any role is looked up.
SOME_ROLE = "arn:aws:iam::123456789012:role/ldap-users"


def user_dn(uid: str) -> str:
    # Parentheses and '*' need no escaping in a DN (RFC 4514).
    return f"uid={uid},{PEOPLE}"


# --------------------------------------------------------------------------
# slapd
# --------------------------------------------------------------------------
def slappasswd(secret: str) -> str:
    out = subprocess.run(["slappasswd", "-s", secret], capture_output=True, text=True, timeout=30,
                         check=True)
    return out.stdout.strip()


def directory_ldif() -> str:
    parts = [
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n",
        f"dn: ou=services,{BASE}\nobjectClass: organizationalUnit\nou: services\n",
        f"dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: reader\nuserPassword: {slappasswd(READER_PW)}\n",
    ]
    for uid, (pw, dept, mail) in USERS.items():
        parts.append(
            f"dn: {user_dn(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n"
            f"mail: {mail}\ndepartmentNumber: {dept}\nuserPassword: {slappasswd(pw)}\n")
    for group, members in GROUP_MEMBERS.items():
        lines = "".join(f"member: {user_dn(m)}\n" for m in members)
        parts.append(f"dn: cn={group},{GROUPS}\nobjectClass: groupOfNames\ncn: {group}\n{lines}")
    return "\n".join(parts)


SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
allow bind_anon_dn
{tls}
database mdb
maxsize 10485760
suffix "{base}"
directory {dir}/db
access to attrs=userPassword
    by anonymous auth
    by * none
access to dn.subtree="{groups}"
    by dn.exact="{reader}" read
    by users read
    by * none
access to *
    by dn.exact="{reader}" read
    by self read
    by * none
"""


class TlsFiles:
    """A CA and a server certificate for 127.0.0.1 (IP SAN), made with cryptography."""

    def __init__(self, workdir: Path):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        def name(cn):
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        now = dt.datetime.now(dt.timezone.utc)
        pem = serialization.Encoding.PEM

        def ca(cn):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
                    .public_key(key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now - dt.timedelta(minutes=5))
                    .not_valid_after(now + dt.timedelta(days=1))
                    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                    .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                   critical=True)
                    .sign(key, hashes.SHA256()))
            return key, cert

        ca_key, ca_cert = ca("latchkey test LDAP CA")
        _, other_ca = ca("some other CA")
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca_cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        workdir.mkdir(parents=True, exist_ok=True)
        self.ca = workdir / "ca.pem"
        self.other_ca = workdir / "other-ca.pem"
        self.cert = workdir / "server.pem"
        self.key = workdir / "server.key"
        self.ca.write_bytes(ca_cert.public_bytes(pem))
        self.other_ca.write_bytes(other_ca.public_bytes(pem))
        self.cert.write_bytes(cert.public_bytes(pem))
        self.key.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))


class Slapd:
    """One slapd process in the foreground (-d 0), stopped by stop()."""

    def __init__(self, workdir: Path, tls: TlsFiles | None = None):
        self.dir = Path(workdir)
        self.port = conftest.free_port()
        self.tls = tls
        self.ldaps_port = conftest.free_port() if tls else None
        self.proc: subprocess.Popen | None = None
        self.log = self.dir / "slapd.log"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    def start(self) -> "Slapd":
        (self.dir / "db").mkdir(parents=True, exist_ok=True)
        tls = ""
        if self.tls:
            tls = (f"TLSCACertificateFile {self.tls.ca}\nTLSCertificateFile {self.tls.cert}\n"
                   f"TLSCertificateKeyFile {self.tls.key}\n")
        conf = self.dir / "slapd.conf"
        conf.write_text(SLAPD_CONF.format(dir=self.dir, tls=tls, base=BASE, groups=GROUPS,
                                          reader=READER_DN))
        ldif = self.dir / "data.ldif"
        ldif.write_text(directory_ldif())
        subprocess.run(["slapadd", "-f", str(conf), "-l", str(ldif)], check=True, timeout=60,
                       capture_output=True)
        urls = self.url + "/"
        if self.tls:
            urls += f" {self.ldaps_url}/"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(["slapd", "-f", str(conf), "-h", urls, "-d", "0"],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"slapd exited: {self.log.read_text()[-3000:]}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                ok = subprocess.run(["ldapwhoami", "-x", "-H", self.url, "-D", READER_DN, "-w", READER_PW],
                                    capture_output=True, timeout=10)
                if ok.returncode == 0:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"slapd not ready: {self.log.read_text()[-3000:]}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return TlsFiles(tmp_path_factory.mktemp("ldap-tls"))


@pytest.fixture(scope="module")
def slapd(tmp_path_factory, tls_files):
    d = Slapd(tmp_path_factory.mktemp("slapd"), tls=tls_files).start()
    yield d
    d.stop()


def ldap_env(slapd: Slapd, **overrides) -> dict:
    env = {
        "LATCHKEY_LDAP_URL": slapd.url,
        "LATCHKEY_LDAP_INSECURE_PLAINTEXT": "true",
        "LATCHKEY_LDAP_LOOKUP_BIND_DN": READER_DN,
        "LATCHKEY_LDAP_LOOKUP_BIND_PASSWORD": READER_PW,
        "LATCHKEY_LDAP_USER_SEARCH_BASE": PEOPLE,
        "LATCHKEY_LDAP_USER_SEARCH_FILTER": USER_FILTER,
        "LATCHKEY_LDAP_GROUP_SEARCH_BASE": GROUPS,
        "LATCHKEY_LDAP_GROUP_SEARCH_FILTER": "(&(objectClass=groupOfNames)(member=%d))",
        "LATCHKEY_LDAP_TAG_ATTRIBUTES": "mail=email,departmentNumber=dept",
        "LATCHKEY_LDAP_TIMEOUT_SECONDS": "5",
        "LATCHKEY_LOG": "debug",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


class Site:
    """A latchkey server signed in to the directory, with its operator's clients."""

    def __init__(self, srv: conftest.LatchkeyServer):
        self.srv = srv
        self.iam = iam_client(srv.endpoint, srv.access_key, srv.secret_key)
        self.s3 = srv.client()
        sts = boto3.session.Session(aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key,
                                    region_name=REGION).client("sts", endpoint_url=srv.endpoint)
        self.account = sts.get_caller_identity()["Account"]

    def role(self, trust_statements: list[dict], policy: dict | None = None) -> str:
        name = uniq("ldap")
        trust = {"Version": "2012-10-17", "Statement": trust_statements}
        arn = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=compact(trust))["Role"]["Arn"]
        if policy:
            self.iam.put_role_policy(RoleName=name, PolicyName="perms", PolicyDocument=compact(policy))
        return arn

    def sign_in(self, username: str, password: str, **params) -> requests.Response:
        return sign_in(self.srv.endpoint, username, password, **params)


def sign_in(endpoint: str, username: str, password: str, **params) -> requests.Response:
    """An unsigned form POST, as MinIO's clients send."""
    form = {"Action": "AssumeRoleWithLDAPIdentity", "Version": "2011-06-15",
            "LDAPUsername": username, "LDAPPassword": password}
    form.update(params)
    return requests.post(endpoint + "/", data=form, timeout=30)


def trusted_group_statement(*actions: str) -> dict:
    return {"Effect": "Allow", "Principal": {"Federated": "ldap"},
            "Action": ["sts:AssumeRoleWithLDAPIdentity", *actions],
            "Condition": {"ForAnyValue:StringEquals": {"ldap:groups": STORAGE_DN}}}


def error_of(r: requests.Response) -> tuple[int, str | None, str | None]:
    root = ET.fromstring(r.content)
    return r.status_code, xml_text(root, "Code"), xml_text(root, "Message")


def credentials(r: requests.Response) -> dict:
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert root.tag == f"{STS_NS}AssumeRoleWithLDAPIdentityResponse", root.tag
    result = root.find(f"{STS_NS}AssumeRoleWithLDAPIdentityResult")
    assert result is not None, r.text
    c = result.find(f"{STS_NS}Credentials")
    out = {el.tag.replace(STS_NS, ""): el.text for el in c}
    assert out["AccessKeyId"].startswith("ASIA") and out["SecretAccessKey"] and out["SessionToken"], out
    out["AssumedRoleArn"] = xml_text(result, "Arn")
    out["PackedPolicySize"] = xml_text(result, "PackedPolicySize")
    return out


def s3_with(endpoint: str, c: dict):
    return boto3.session.Session(
        aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"], region_name=REGION,
    ).client("s3", endpoint_url=endpoint, config=Config(
        signature_version="s3v4", s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1, "mode": "standard"}))


def s3_denied(fn, **kw):
    with pytest.raises(ClientError) as ei:
        fn(**kw)
    assert ei.value.response["Error"]["Code"] == "AccessDenied", ei.value.response


@pytest.fixture(scope="module")
def site(slapd, tmp_path_factory):
    srv = conftest.LatchkeyServer(tmp_path_factory.mktemp("ldap-latchkey"), name="ldap",
                                  extra_env=ldap_env(slapd))
    srv.start()
    yield Site(srv)
    srv.terminate()
    if srv in conftest._LIVE_SERVERS:
        conftest._LIVE_SERVERS.remove(srv)


@pytest.fixture(scope="module")
def home_role(site):
    """Trusts the storage group; read/write under home/${ldap:user}/ of one bucket."""
    bucket = s3util.unique_bucket_name()
    site.s3.create_bucket(Bucket=bucket)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
         "Resource": f"arn:aws:s3:::{bucket}/home/${{ldap:user}}/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": "home/${ldap:user}/*"}}},
        {"Effect": "Allow", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/dept/${{aws:PrincipalTag/dept}}/*"},
    ]}
    arn = site.role([trusted_group_statement("sts:TagSession")], policy)
    return arn, bucket


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------
def test_group_member_gets_credentials_limited_by_the_role(site, home_role):
    role_arn, bucket = home_role
    site.s3.put_object(Bucket=bucket, Key="home/carol/diary.txt", Body=b"carol's")
    r = site.sign_in("alice", USERS["alice"][0], RoleArn=role_arn)
    c = credentials(r)
    assert c["AssumedRoleArn"].endswith(f":assumed-role/{role_arn.rsplit('/', 1)[1]}/alice"), c
    exp = dt.datetime.fromisoformat(c["Expiration"].replace("Z", "+00:00"))
    left = (exp - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert 3500 <= left <= 3605, left  # the default hour
    alice = s3_with(site.srv.endpoint, c)
    alice.put_object(Bucket=bucket, Key="home/alice/notes.txt", Body=b"mine")
    assert alice.get_object(Bucket=bucket, Key="home/alice/notes.txt")["Body"].read() == b"mine"
    listed = alice.list_objects_v2(Bucket=bucket, Prefix="home/alice/")
    assert [o["Key"] for o in listed["Contents"]] == ["home/alice/notes.txt"]
    # ${ldap:user} keeps alice out of carol's home and out of the bucket root.
    s3_denied(alice.get_object, Bucket=bucket, Key="home/carol/diary.txt")
    s3_denied(alice.put_object, Bucket=bucket, Key="home/carol/x", Body=b"x")
    s3_denied(alice.list_objects_v2, Bucket=bucket, Prefix="home/carol/")
    s3_denied(alice.list_buckets)


def test_minio_clients_query_string_form_is_accepted(site, home_role):
    """minio-go, minio-py and mc send POST /?Action=AssumeRoleWithLDAPIdentity&... with no body."""
    role_arn, bucket = home_role
    query = {"Action": "AssumeRoleWithLDAPIdentity", "Version": "2011-06-15", "LDAPUsername": "alice",
             "LDAPPassword": USERS["alice"][0], "RoleArn": role_arn}
    r = requests.post(site.srv.endpoint + "/", params=query, timeout=30)
    alice = s3_with(site.srv.endpoint, credentials(r))
    alice.put_object(Bucket=bucket, Key="home/alice/from-minio-client.txt", Body=b"ok")
    query["LDAPPassword"] = "wrong"
    assert requests.post(site.srv.endpoint + "/", params=query, timeout=30).status_code == 403


def test_session_tags_come_from_directory_attributes(site, home_role):
    role_arn, bucket = home_role
    alice = s3_with(site.srv.endpoint, credentials(site.sign_in("alice", USERS["alice"][0], RoleArn=role_arn)))
    alice.put_object(Bucket=bucket, Key="dept/42/report.txt", Body=b"q3")
    s3_denied(alice.put_object, Bucket=bucket, Key="dept/7/report.txt", Body=b"q3")
    # Tags need sts:TagSession in the trust policy, as for every federated session.
    untagged_trust = site.role([trusted_group_statement()])
    status, code, _ = error_of(site.sign_in("alice", USERS["alice"][0], RoleArn=untagged_trust))
    assert (status, code) == (403, "AccessDenied")


def test_attribute_condition_in_the_trust_policy(site):
    """aws:RequestTag/* from the directory's attributes is visible to the trust policy."""
    stmt = {"Effect": "Allow", "Principal": {"Federated": "ldap"},
            "Action": ["sts:AssumeRoleWithLDAPIdentity", "sts:TagSession"],
            "Condition": {"StringEquals": {"aws:RequestTag/dept": "7"}}}
    role = site.role([stmt])
    credentials(site.sign_in("bob", USERS["bob"][0], RoleArn=role))
    assert error_of(site.sign_in("alice", USERS["alice"][0], RoleArn=role))[:2] == (403, "AccessDenied")


def test_user_outside_the_trusted_group_is_denied(site, home_role):
    role_arn, _ = home_role
    status, code, message = error_of(site.sign_in("bob", USERS["bob"][0], RoleArn=role_arn))
    assert (status, code) == (403, "AccessDenied"), message
    assert "sts:AssumeRoleWithLDAPIdentity" in message, message
    # Group names are condition keys too.
    sales = site.role([{"Effect": "Allow", "Principal": {"Federated": "ldap"},
                        "Action": ["sts:AssumeRoleWithLDAPIdentity", "sts:TagSession"],
                        "Condition": {"ForAnyValue:StringEquals": {"ldap:groupnames": "sales"}}}])
    credentials(site.sign_in("bob", USERS["bob"][0], RoleArn=sales))
    assert error_of(site.sign_in("carol", USERS["carol"][0], RoleArn=sales))[:2] == (403, "AccessDenied")


def test_wrong_password_and_unknown_user_answer_alike(site, home_role):
    role_arn, _ = home_role
    wrong = error_of(site.sign_in("alice", "not-her-password", RoleArn=role_arn))
    unknown = error_of(site.sign_in("zelda", "whatever-pw", RoleArn=role_arn))
    assert wrong == unknown == (403, "AccessDenied", "Invalid LDAP credentials.")
    # A role that does not exist is no different before the password is right.
    missing_role = f"arn:aws:iam::{site.account}:role/no-such-role"
    assert error_of(site.sign_in("alice", "not-her-password", RoleArn=missing_role)) == wrong
    # ... and after, it is a plain denial.
    assert error_of(site.sign_in("alice", USERS["alice"][0], RoleArn=missing_role))[:2] == (403, "AccessDenied")


def test_empty_password_is_refused_before_binding(site, home_role):
    """This directory grants unauthenticated binds (DN + empty password): only
    latchkey's own check stands between an empty password and a session."""
    role_arn, _ = home_role
    anon = subprocess.run(["ldapwhoami", "-x", "-H", site.srv.extra_env["LATCHKEY_LDAP_URL"],
                           "-D", user_dn("alice"), "-w", ""], capture_output=True, timeout=10)
    assert anon.returncode == 0, "the directory should accept unauthenticated binds"
    status, code, _ = error_of(site.sign_in("alice", "", RoleArn=role_arn))
    assert (status, code) == (400, "ValidationError")
    r = requests.post(site.srv.endpoint + "/", data={"Action": "AssumeRoleWithLDAPIdentity",
                                                     "Version": "2011-06-15", "LDAPUsername": "alice",
                                                     "RoleArn": role_arn}, timeout=30)
    assert error_of(r)[:2] == (400, "ValidationError")


@pytest.mark.parametrize("username", [
    "ali*",                          # a wildcard that matches only alice
    "alice)(objectClass=*",          # closes the uid test, adds an always-true one
    "*",
    ")(uid=*",
    "*)(|(uid=*",
    "alice\\29",                     # an escape written by the caller stays literal
])
def test_filter_injection_in_the_username_signs_nobody_in(site, home_role, username):
    role_arn, _ = home_role
    assert error_of(site.sign_in(username, USERS["alice"][0], RoleArn=role_arn)) == \
        (403, "AccessDenied", "Invalid LDAP credentials.")


def test_metacharacters_in_a_real_username_still_work(site, home_role):
    """uid "pat(*)": escaped in the user filter (%s) and in the group filter (%d)."""
    role_arn, bucket = home_role
    c = credentials(site.sign_in("pat(*)", USERS["pat(*)"][0], RoleArn=role_arn))
    assert c["AssumedRoleArn"].endswith("/pat---"), c  # the default session name, sanitized
    pat = s3_with(site.srv.endpoint, c)
    pat.put_object(Bucket=bucket, Key="home/pat(*)/x", Body=b"p")
    # The '*' from ${ldap:user} is literal text in the policy, not a wildcard.
    s3_denied(pat.put_object, Bucket=bucket, Key="home/pat(alice)/x", Body=b"p")


def test_session_parameters(site, home_role):
    role_arn, bucket = home_role
    read_only = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    r = site.sign_in("carol", USERS["carol"][0], RoleArn=role_arn, RoleSessionName="carol-laptop",
                     DurationSeconds="900", Policy=compact(read_only))
    c = credentials(r)
    assert c["AssumedRoleArn"].endswith("/carol-laptop")
    exp = dt.datetime.fromisoformat(c["Expiration"].replace("Z", "+00:00"))
    assert 840 <= (exp - dt.datetime.now(dt.timezone.utc)).total_seconds() <= 905
    assert int(c["PackedPolicySize"]) > 0
    carol = s3_with(site.srv.endpoint, c)
    # The session policy narrows the role to reads.
    s3_denied(carol.put_object, Bucket=bucket, Key="home/carol/new", Body=b"x")
    assert error_of(site.sign_in("carol", USERS["carol"][0], RoleArn=role_arn, DurationSeconds="99999"))[:2] \
        == (400, "ValidationError")
    assert error_of(site.sign_in("carol", USERS["carol"][0], RoleArn=role_arn, RoleSessionName="a b"))[:2] \
        == (400, "ValidationError")


def test_secrets_stay_out_of_the_log(site, home_role):
    role_arn, _ = home_role
    site.sign_in("alice", USERS["alice"][0], RoleArn=role_arn)
    site.sign_in("alice", "wrong-pw-Kx9", RoleArn=role_arn)
    log = site.srv.log_path.read_text(errors="replace")
    assert "role assumed with LDAP identity" in log
    for secret in (READER_PW, USERS["alice"][0], "wrong-pw-Kx9"):
        assert secret not in log


def test_no_role_arn_uses_the_configured_default(slapd, server_factory):
    srv = server_factory(extra_env=ldap_env(slapd))
    s = Site(srv)
    status, code, message = error_of(s.sign_in("alice", USERS["alice"][0]))
    assert (status, code) == (400, "ValidationError"), message
    role_arn = s.role([trusted_group_statement("sts:TagSession")])
    srv.terminate()
    srv.extra_env = ldap_env(slapd, LATCHKEY_LDAP_DEFAULT_ROLE_ARN=role_arn)
    srv.start()
    c = credentials(s.sign_in("alice", USERS["alice"][0]))
    assert role_arn.rsplit("/", 1)[1] in c["AssumedRoleArn"]


def test_dn_template_without_a_service_account(slapd, server_factory):
    """The DN from a template; attributes and groups read as the user."""
    srv = server_factory(extra_env=ldap_env(
        slapd, LATCHKEY_LDAP_USER_SEARCH_BASE=None, LATCHKEY_LDAP_USER_SEARCH_FILTER=None,
        LATCHKEY_LDAP_LOOKUP_BIND_DN=None, LATCHKEY_LDAP_LOOKUP_BIND_PASSWORD=None,
        LATCHKEY_LDAP_USER_DN_TEMPLATE=f"uid=%s,{PEOPLE}"))
    s = Site(srv)
    bucket = s3util.unique_bucket_name()
    s.s3.create_bucket(Bucket=bucket)
    role_arn = s.role([trusted_group_statement("sts:TagSession")], {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/${{ldap:user}}/${{aws:PrincipalTag/dept}}/*"}]})
    alice = s3_with(srv.endpoint, credentials(s.sign_in("alice", USERS["alice"][0], RoleArn=role_arn)))
    alice.put_object(Bucket=bucket, Key="alice/42/x", Body=b"x")
    s3_denied(alice.put_object, Bucket=bucket, Key="alice/7/x", Body=b"x")
    assert error_of(s.sign_in("alice", "bad-pw", RoleArn=role_arn)) == \
        (403, "AccessDenied", "Invalid LDAP credentials.")
    assert error_of(s.sign_in("nobody", "bad-pw", RoleArn=role_arn)) == \
        (403, "AccessDenied", "Invalid LDAP credentials.")
    # A username that would add RDNs to the template is one escaped value.
    assert error_of(s.sign_in(f"alice,{PEOPLE}", USERS["alice"][0], RoleArn=role_arn))[:2] == \
        (403, "AccessDenied")


def test_directory_down_is_an_idp_communication_error(slapd, server_factory):
    closed = conftest.free_port()
    srv = server_factory(extra_env=ldap_env(slapd, LATCHKEY_LDAP_URL=f"ldap://127.0.0.1:{closed}",
                                            LATCHKEY_LDAP_DEFAULT_ROLE_ARN=SOME_ROLE))
    assert error_of(sign_in(srv.endpoint, "alice", USERS["alice"][0]))[:2] == (400, "IDPCommunicationError")


def test_a_silent_directory_times_out(slapd, server_factory):
    """A listener that never answers: the configured timeout bounds the call."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        srv = server_factory(extra_env=ldap_env(slapd, LATCHKEY_LDAP_URL=f"ldap://127.0.0.1:{port}",
                                                LATCHKEY_LDAP_TIMEOUT_SECONDS="2",
                                                LATCHKEY_LDAP_DEFAULT_ROLE_ARN=SOME_ROLE))
        started = time.monotonic()
        r = sign_in(srv.endpoint, "alice", USERS["alice"][0])
        took = time.monotonic() - started
    assert error_of(r)[:2] == (400, "IDPCommunicationError")
    assert 1.5 <= took <= 10, took


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_tls_to_the_directory(slapd, tls_files, server_factory, mode):
    url = slapd.ldaps_url if mode == "ldaps" else slapd.url
    base = dict(LATCHKEY_LDAP_URL=url, LATCHKEY_LDAP_INSECURE_PLAINTEXT=None,
                LATCHKEY_LDAP_STARTTLS="true" if mode == "starttls" else None)
    srv = server_factory(name=f"{mode}-good", extra_env=ldap_env(slapd, LATCHKEY_LDAP_CA_FILE=str(tls_files.ca),
                                                                 **base))
    s = Site(srv)
    role = s.role([trusted_group_statement("sts:TagSession")])
    credentials(s.sign_in("alice", USERS["alice"][0], RoleArn=role))
    assert error_of(s.sign_in("alice", "bad-pw", RoleArn=role))[:2] == (403, "AccessDenied")
    # A directory whose certificate the configured CA did not sign is not spoken to.
    bad = server_factory(name=f"{mode}-bad-ca",
                         extra_env=ldap_env(slapd, LATCHKEY_LDAP_CA_FILE=str(tls_files.other_ca), **base))
    assert error_of(sign_in(bad.endpoint, "alice", USERS["alice"][0], RoleArn=SOME_ROLE))[:2] == \
        (400, "IDPCommunicationError")


def test_plaintext_needs_explicit_consent(slapd, server_factory):
    srv = server_factory(start=False, extra_env=ldap_env(slapd, LATCHKEY_LDAP_INSECURE_PLAINTEXT=None))
    srv.start(wait=False)
    assert srv.proc.wait(timeout=30) != 0
    assert "in the clear" in srv.log_path.read_text(errors="replace") + srv.stdout_path.read_text(errors="replace")


def test_without_ldap_configured_the_action_is_refused(server):
    status, code, _ = error_of(sign_in(server.endpoint, "alice", USERS["alice"][0], RoleArn=SOME_ROLE))
    assert (status, code) == (400, "InvalidAction")
