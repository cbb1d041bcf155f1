#!/usr/bin/env python3
"""Independent counterpart of the idgate-webhook crate, for interoperability tests.

Uses only widely used third-party libraries, so a pass shows our wire format is what an
integrator's ordinary tooling produces and accepts:
  - `standardwebhooks` (PyPI, the Standard Webhooks reference library) for signatures;
  - `jwcrypto` (PyPI) for JWE RSA-OAEP-256 + A256GCM.

Subcommands (driven by crates/idgate-webhook/tests/it/interop.rs):
  open  --secret S --private-key F      stdin: {"headers": {...}, "body": "<jwe>"}
        Verifies the signature, checks the protected header, decrypts; prints the plaintext.
  seal  --secret S --public-key F --msg-id ID [--kid K]    stdin: plaintext bytes
        Encrypts and signs; prints {"headers": {...}, "body": "<jwe>"}.
  check                                  exits 0 when both libraries import.
"""

import argparse
import json
import sys
import time


def load_key(path, private):
    from jwcrypto import jwk

    with open(path, "rb") as f:
        data = f.read()
    key = jwk.JWK.from_pem(data)
    if key.has_private != private:
        raise SystemExit(f"{path}: expected a {'private' if private else 'public'} key")
    return key


def cmd_open(args):
    from jwcrypto import jwe
    from standardwebhooks import Webhook

    request = json.load(sys.stdin)
    headers, body = request["headers"], request["body"]
    Webhook(args.secret).verify(body, headers, json_parse=False)

    token = jwe.JWE()
    token.allowed_algs = ["RSA-OAEP-256", "A256GCM"]
    token.deserialize(body, key=load_key(args.private_key, private=True))
    header = json.loads(token.objects["protected"])
    expected = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "application/json"}
    for name, value in expected.items():
        if header.get(name) != value:
            raise SystemExit(f"protected header {name}={header.get(name)!r}, expected {value!r}")
    if not header.get("kid"):
        raise SystemExit("protected header has no kid")
    if headers.get("content-type") != "application/jose":
        raise SystemExit(f"content-type {headers.get('content-type')!r}")
    sys.stdout.buffer.write(token.payload)


def cmd_seal(args):
    from jwcrypto import jwe
    from standardwebhooks import Webhook
    from datetime import datetime, timezone

    plaintext = sys.stdin.buffer.read()
    key = load_key(args.public_key, private=False)
    protected = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "application/json",
                 "kid": args.kid or key.thumbprint()}
    token = jwe.JWE(plaintext, protected=json.dumps(protected))
    token.add_recipient(key)
    body = token.serialize(compact=True)

    now = datetime.fromtimestamp(int(time.time()), tz=timezone.utc)
    signature = Webhook(args.secret).sign(args.msg_id, now, body)
    headers = {
        "content-type": "application/jose",
        "webhook-id": args.msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    json.dump({"headers": headers, "body": body}, sys.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_open = sub.add_parser("open")
    p_open.add_argument("--secret", required=True)
    p_open.add_argument("--private-key", required=True)
    p_seal = sub.add_parser("seal")
    p_seal.add_argument("--secret", required=True)
    p_seal.add_argument("--public-key", required=True)
    p_seal.add_argument("--msg-id", required=True)
    p_seal.add_argument("--kid")
    sub.add_parser("check")
    args = parser.parse_args()
    if args.command == "check":
        import jwcrypto  # noqa: F401
        import standardwebhooks  # noqa: F401
    elif args.command == "open":
        cmd_open(args)
    else:
        cmd_seal(args)


if __name__ == "__main__":
    main()
