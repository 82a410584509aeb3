"""Schemathesis hooks for this API (loaded with SCHEMATHESIS_HOOKS=hooks).

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


@schemathesis.hook
def before_call(ctx, case, kwargs):
    sender = SIGNED.get(case.operation.path)
    if sender is None or not _headers_meant_to_be_valid(case):
        return
    signature = _signing_key().sign(_wire_bytes(case.body), ec.ECDSA(hashes.SHA256()))
    if case.headers is None:
        case.headers = {}
    case.headers[f"{sender}-Public-Key-Identifier"] = os.environ["HBX_SA_ST_SIGNING_KEY_ID"]
    case.headers[f"{sender}-Public-Key-Signature"] = base64.b64encode(signature).decode()
