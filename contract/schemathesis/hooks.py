"""Schemathesis hooks for this API (loaded with SCHEMATHESIS_HOOKS=hooks).

Grants and roles have rules the schema cannot express (which fields go
together, a live service account as subject): bodies meant to be valid are
made to keep them (see `_meet_the_rules_the_schema_cannot_say`).

Federation's bodies have such rules too (an https issuer, the rails of a
rule, a signed subject token): see `_meet_the_federation_rules`.

Leak reports must be signed by a secret-scanning partner: ECDSA P-256/SHA-256
over the raw body, base64 DER. Schemathesis cannot sign, so every report it
made would be refused with 401 and the operations' logic never reached. This
hook signs the cases Schemathesis means to be valid, as the partner would,
with the key the test published (HBX_SA_ST_SIGNING_KEY, PKCS#8 PEM, named
HBX_SA_ST_SIGNING_KEY_ID) whenever their headers are meant to be valid, so
that bodies meant to be invalid reach the body's validation too; cases whose
headers are meant to be invalid are left as generated, so that missing and
malformed signatures are still tried and must be refused.
"""

import base64
import json
import re
import os
import uuid

import schemathesis
from schemathesis.core import NOT_SET
from schemathesis.core.parameters import ParameterLocation
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

# The signed operations, by path, and the prefix of their headers.
SIGNED = {
    "/v1/public/secret-scanning/github": "Github",
    "/v1/public/secret-scanning/gitlab": "Gitlab",
}

_key = None


def _signing_key():
    global _key
    if _key is None:
        pem = os.environ["HBX_SA_ST_SIGNING_KEY"].encode()
        _key = serialization.load_pem_private_key(pem, password=None)
    return _key


def _mode(info):
    return str(getattr(info.mode, "value", info.mode))


def _headers_meant_to_be_valid(case):
    meta = getattr(case, "_meta", None)
    if meta is None:
        # Explicit examples and stateful steps: valid by construction.
        return True
    headers = meta.components.get(ParameterLocation.HEADER)
    if headers is not None:
        return _mode(headers) == "positive"
    return _mode(meta.generation) == "positive"


def _body_meant_to_be_valid(case):
    meta = getattr(case, "_meta", None)
    if meta is None:
        return True
    body = meta.components.get(ParameterLocation.BODY)
    if body is not None:
        return _mode(body) == "positive"
    return _mode(meta.generation) == "positive"


def _wire_bytes(body):
    # What the requests transport sends for a JSON body: raw bytes as they
    # are, no body as nothing, anything else as json=... would encode it.
    if isinstance(body, bytes):
        return body
    if body is NOT_SET:
        return b""
    return json.dumps(body, allow_nan=False).encode("utf-8")


# The operations whose body names a subject: a `service_account` one must be
# a live service account of the account (404 otherwise), which random UUIDs
# never are.
GRANTING = {
    "/v1/public/accounts/{account_id}/auth/authorizations",
    "/v1/public/accounts/{account_id}/auth/role-assignments",
}


def _meet_the_rules_the_schema_cannot_say(case):
    """A grant or role body meant to be valid is made to keep the rules its
    schema cannot express (OpenAPI 3.0 has no conditional requirements):
    a `capability` grant names a key and the other kinds none, `super_admin`
    is the operator's (a capability here), a resource comes whole and an
    `account` resource is this account, and a `service_account` subject is
    the test's live one (HBX_SA_ST_SERVICE_ACCOUNT_ID) rather than a random
    UUID that no account has. Bodies meant to be invalid, and every other
    operation, are left exactly as generated; so are the values of every
    field the rules do not tie together."""
    if case.operation.method.upper() != "POST" or case.operation.path not in GRANTING:
        return
    if not _headers_meant_to_be_valid(case) or not isinstance(case.body, dict):
        return
    body = case.body
    account_id = os.environ["HBX_SA_ST_ACCOUNT_ID"]
    if body.get("subject_type") == "service_account":
        body["subject_id"] = os.environ["HBX_SA_ST_SERVICE_ACCOUNT_ID"]
    if "grant_kind" in body:
        if body.get("grant_kind") == "super_admin":
            body["grant_kind"] = "capability"
        if body.get("grant_kind") == "capability":
            body.setdefault("capability_key", "billing.read")
            if body["capability_key"] is None:
                body["capability_key"] = "billing.read"
        else:
            body.pop("capability_key", None)
        if (body.get("resource_type") is None) != (body.get("resource_id") is None):
            body.pop("resource_type", None)
            body.pop("resource_id", None)
    if body.get("resource_type") == "account":
        body["resource_id"] = account_id
    # A fresh key for each: a key reused with another body is refused by
    # design (422), which a generator that repeats short values hits often.
    if case.headers and case.headers.get("Idempotency-Key") is not None:
        case.headers["Idempotency-Key"] = str(uuid.uuid4())


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _subject_token():
    """A GitHub Actions-shaped token of the fixture issuer, signed (ES256)
    with its key, at the server's time, with a fresh `jti`: what the fixture
    rule takes."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    now = int(os.environ["HBX_SA_ST_NOW"])
    header = {"alg": "ES256", "typ": "JWT", "kid": "fixture"}
    claims = {
        "iss": "https://token.actions.githubusercontent.com",
        "aud": f"https://api.hybridbox.io/accounts/{os.environ['HBX_SA_ST_ACCOUNT_ID']}",
        "sub": "repo:acme/api:ref:refs/heads/main",
        "repository_owner_id": "1001",
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    key = serialization.load_pem_private_key(os.environ["HBX_SA_ST_FED_KEY"].encode(), password=None)
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _clamped(body, name, low, high):
    if isinstance(body.get(name), int) and not isinstance(body.get(name), bool):
        body[name] = min(max(body[name], low), high)


def _printable(value):
    return isinstance(value, str) and value != "" and value.isprintable()


def _meet_the_federation_rules(case):
    """Federation bodies meant to be valid are made to keep the rules their
    schema cannot express: an issuer is an https URL no provider of the
    account has yet, key URLs are https, an inline key set holds a key; a
    rule names the fixture provider with an owner pin (the rails) and a
    capability its service account holds; a dry run sends one of claims and
    a token; an exchange presents a token the fixture issuer signed, for the
    service account whose rule takes it. Every other field stays as
    generated."""
    path = case.operation.path
    if case.operation.method.upper() != "POST" or not isinstance(case.body, dict):
        return
    if not _headers_meant_to_be_valid(case) or not _body_meant_to_be_valid(case):
        return
    body = case.body
    if path == "/v1/public/accounts/{account_id}/auth/identity-providers":
        body["issuer"] = f"https://issuer-{uuid.uuid4().hex}.example.com"
        keys = body.get("keys")
        if isinstance(keys, dict) and keys.get("source") == "jwks_url":
            keys["url"] = "https://keys.example.com/jwks"
        elif isinstance(keys, dict) and keys.get("source") == "inline":
            keys["jwks"] = json.loads(os.environ["HBX_SA_ST_FED_JWKS"])
        elif keys is not None:
            body["keys"] = {"source": "discovery"}
        _clamped(body, "max_subject_token_lifetime_seconds", 1, 86400)
    elif path.endswith("/federation-rules"):
        body["identity_provider_id"] = os.environ["HBX_SA_ST_IDENTITY_PROVIDER_ID"]
        body["conditions"] = [{"claim": "repository_owner_id", "op": "eq", "value": "1001"}]
        body["capabilities"] = ["auth.manage"]
        _clamped(body, "token_ttl_seconds", 60, 3600)
        for name in ("audience", "description"):
            if name in body and not _printable(body[name]):
                body.pop(name)
    elif path.endswith("/federation-rules/{federation_rule_id}/test"):
        if "claims" in body and isinstance(body["claims"], dict):
            body.pop("subject_token", None)
        else:
            body.pop("claims", None)
            body["subject_token"] = _subject_token()
    elif path == "/v1/public/auth/token":
        body.update(
            grant_type="urn:ietf:params:oauth:grant-type:token-exchange",
            subject_token=_subject_token(),
            subject_token_type="urn:ietf:params:oauth:token-type:jwt",
            account_id=os.environ["HBX_SA_ST_ACCOUNT_ID"],
            service_account_id=os.environ["HBX_SA_ST_SERVICE_ACCOUNT_ID"],
        )
        if body.get("scope") is not None:
            body["scope"] = "auth.manage"
        if body.get("requested_token_type") is not None:
            body["requested_token_type"] = "urn:ietf:params:oauth:token-type:access_token"


_WARNING = re.compile(r"^([1-9][0-9]{0,8})([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _meet_the_webhook_rules(case):
    """A subscription meant to be valid gets an https URL on a public name
    (never resolved here: it is not a real one) and expiry warnings of at
    most 365 days, none twice in other words; a description with control
    characters is dropped. Every other field stays as generated."""
    if case.operation.method.upper() != "POST" or not isinstance(case.body, dict):
        return
    if case.operation.path != "/v1/public/accounts/{account_id}/webhooks":
        return
    if not _headers_meant_to_be_valid(case) or not _body_meant_to_be_valid(case):
        return
    body = case.body
    body["url"] = f"https://hooks-{uuid.uuid4().hex}.example.com/hbx"
    warnings = body.get("expiry_warnings")
    if isinstance(warnings, list):
        kept, seen = [], set()
        for warning in warnings:
            match = _WARNING.match(warning) if isinstance(warning, str) else None
            if not match:
                continue
            seconds = int(match.group(1)) * _SECONDS[match.group(2)]
            if seconds <= 365 * 86400 and seconds not in seen:
                seen.add(seconds)
                kept.append(warning)
        body["expiry_warnings"] = kept
    if "description" in body and not _printable(body["description"]):
        body.pop("description")


@schemathesis.hook
def before_call(ctx, case, kwargs):
    _meet_the_rules_the_schema_cannot_say(case)
    _meet_the_federation_rules(case)
    _meet_the_webhook_rules(case)
    sender = SIGNED.get(case.operation.path)
    if sender is None or not _headers_meant_to_be_valid(case):
        return
    signature = _signing_key().sign(_wire_bytes(case.body), ec.ECDSA(hashes.SHA256()))
    if case.headers is None:
        case.headers = {}
    case.headers[f"{sender}-Public-Key-Identifier"] = os.environ["HBX_SA_ST_SIGNING_KEY_ID"]
    case.headers[f"{sender}-Public-Key-Signature"] = base64.b64encode(signature).decode()
