#!/usr/bin/env python3
"""AssumeRole calls per second, and the cost of temporary credentials on S3
requests, against a latchkey server this script starts and stops.

    .venv/bin/python bench/sts_bench.py [--binary target/release/latchkey] [--seconds 10] [--procs 4]

Prints a Markdown table. The client is Python (boto3), so absolute rates are
a lower bound set partly by the client; the ratio between long-term and
temporary credentials is the figure that matters. Loopback only, bounded in
time; asserts nothing.
"""
import argparse, json, multiprocessing as mp, os, socket, subprocess, sys, tempfile, time, urllib.request

import boto3
from botocore.config import Config

KEY, SECRET = "AKIABENCHBENCHBENCH1", "benchbenchbenchbenchbenchbenchbenchbench"


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def client(service, endpoint, key=KEY, secret=SECRET, token=None):
    return boto3.client(service, endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                        aws_session_token=token, region_name="us-east-1",
                        config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}))


def worker(kind, endpoint, role_arn, creds, seconds, q):
    if kind == "assume":
        sts = client("sts", endpoint, creds["key"], creds["secret"])
        f = lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName="bench")
    else:
        s3 = client("s3", endpoint, creds["key"], creds["secret"], creds.get("token"))
        f = lambda: s3.get_object(Bucket="bench", Key="k")["Body"].read()
    n, end = 0, time.time() + seconds
    while time.time() < end:
        f(); n += 1
    q.put(n)


def rate(kind, endpoint, role_arn, creds, seconds, procs):
    q = mp.Queue()
    ps = [mp.Process(target=worker, args=(kind, endpoint, role_arn, creds, seconds, q)) for _ in range(procs)]
    for p in ps: p.start()
    total = sum(q.get() for _ in ps)
    for p in ps: p.join()
    return total / seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/latchkey")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--procs", type=int, default=4)
    a = ap.parse_args()
    port = free_port(); endpoint = f"http://127.0.0.1:{port}"
    data = tempfile.mkdtemp(prefix="lk-bench-")
    env = dict(os.environ, LATCHKEY_ROOT_ACCESS_KEY_ID=KEY, LATCHKEY_ROOT_SECRET_ACCESS_KEY=SECRET, LATCHKEY_LOG="warn")
    srv = subprocess.Popen([a.binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(endpoint + "/health/ready", timeout=1); break
            except Exception:
                time.sleep(0.1)
        iam, s3, sts = client("iam", endpoint), client("s3", endpoint), client("sts", endpoint)
        account = sts.get_caller_identity()["Account"]
        s3.create_bucket(Bucket="bench"); s3.put_object(Bucket="bench", Key="k", Body=b"x" * 4096)
        iam.create_user(UserName="bench")
        k = iam.create_access_key(UserName="bench")["AccessKey"]
        iam.attach_user_policy(UserName="bench", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}
        role_arn = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.attach_role_policy(RoleName="bench", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        user = {"key": k["AccessKeyId"], "secret": k["SecretAccessKey"]}
        c = client("sts", endpoint, user["key"], user["secret"]).assume_role(RoleArn=role_arn, RoleSessionName="bench-session")["Credentials"]
        temp = {"key": c["AccessKeyId"], "secret": c["SecretAccessKey"], "token": c["SessionToken"]}
        root = {"key": KEY, "secret": SECRET}
        rows = [
            ("AssumeRole (IAM user → role)", rate("assume", endpoint, role_arn, user, a.seconds, a.procs)),
            ("GET 4 KiB, account root (long-term key)", rate("get", endpoint, role_arn, root, a.seconds, a.procs)),
            ("GET 4 KiB, IAM user (long-term key, policies)", rate("get", endpoint, role_arn, user, a.seconds, a.procs)),
            ("GET 4 KiB, role session (token + policies)", rate("get", endpoint, role_arn, temp, a.seconds, a.procs)),
        ]
        base = rows[1][1]
        print(f"| operation ({a.procs} client processes, {a.seconds:.0f} s) | requests/s | vs root key |")
        print("|---|---|---|")
        for name, r in rows:
            print(f"| {name} | {r:.0f} | {r / base:.2f}× |")
    finally:
        srv.terminate(); srv.wait(timeout=30)


if __name__ == "__main__":
    main()
