"""Schemathesis hooks for this API (loaded with SCHEMATHESIS_HOOKS=hooks).

Grants and roles have rules the schema cannot express (which fields go
together, a live service account as subject): bodies meant to be valid are
made to keep them (see `_meet_the_rules_the_schema_cannot_say`).

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


@schemathesis.hook
def before_call(ctx, case, kwargs):
    _meet_the_rules_the_schema_cannot_say(case)
    sender = SIGNED.get(case.operation.path)
    if sender is None or not _headers_meant_to_be_valid(case):
        return
    signature = _signing_key().sign(_wire_bytes(case.body), ec.ECDSA(hashes.SHA256()))
    if case.headers is None:
        case.headers = {}
    case.headers[f"{sender}-Public-Key-Identifier"] = os.environ["HBX_SA_ST_SIGNING_KEY_ID"]
    case.headers[f"{sender}-Public-Key-Signature"] = base64.b64encode(signature).decode()
