"""A short scenario against a live server, through the client that
openapi-python-client generated from the checked-in document.

Reads HBX_SA_URL, HBX_SA_TOKEN, HBX_SA_ACCOUNT_ID, the introspection
client's HBX_SA_CLIENT_ID and HBX_SA_CLIENT_SECRET, and the signing key of a
secret-scanning partner, HBX_SA_SIGNING_KEY (PKCS#8 PEM) and
HBX_SA_SIGNING_KEY_ID; the generated package must be importable
(PYTHONPATH)."""

import base64
import datetime
import hashlib
import json
import os
import uuid

from hybridbox_service_accounts_api_client import AuthenticatedClient, Client
from hybridbox_service_accounts_api_client.api.audit_log import list_audit_events
from hybridbox_service_accounts_api_client.api.auth import whoami
from hybridbox_service_accounts_api_client.api.authorizations import (
    create_authorization,
    create_role_assignment,
    list_authorizations,
    list_role_assignments,
    revoke_authorization,
    revoke_role_assignment,
)
from hybridbox_service_accounts_api_client.api.platform import introspect_token
from hybridbox_service_accounts_api_client.api.secret_scanning import report_github_leaks, revoke_credentials
from hybridbox_service_accounts_api_client.api.service_accounts import (
    create_service_account,
    get_service_account,
    list_service_accounts,
    retire_previous_token,
    revoke_service_account,
    rotate_service_account,
)
from hybridbox_service_accounts_api_client.models import (
    Authorization,
    CreateAuthorizationRequest,
    CreateRoleAssignmentRequest,
    CreateServiceAccountRequest,
    GrantKind,
    ResourceType,
    RoleKey,
    SubjectType,
    Error,
    IntrospectedTokenType,
    IntrospectionRequest,
    IntrospectionResponse,
    PrincipalType,
    PublicRevocationRequest,
    ReportedToken,
    ServiceAccountWithToken,
    TokenLabel,
    TokenReportFeedback,
)


def check(condition, what):
    if not condition:
        raise SystemExit(f"scenario failed: {what}")


base_url = os.environ["HBX_SA_URL"]
account_id = uuid.UUID(os.environ["HBX_SA_ACCOUNT_ID"])


def client(token):
    return AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)


owner = client(os.environ["HBX_SA_TOKEN"])

# create
expires = datetime.datetime(2999, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
created = create_service_account.sync_detailed(
    account_id, client=owner, body=CreateServiceAccountRequest(name="python-scenario", expires_at=expires)
)
check(created.status_code == 201, f"create answered {created.status_code}")
made = created.parsed
check(isinstance(made, ServiceAccountWithToken), "create returns a service account with its token")
check(made.token.startswith(f"{made.token_prefix}_{made.token_public_id}_"), "token format")
check(made.expires_at == expires, "expires_at is the same instant")
check(made.expires_at.utcoffset() == datetime.timedelta(0), "expires_at comes back in UTC")

# list
listed = list_service_accounts.sync(account_id, client=owner, limit=1000)
check(any(sa.id == made.id for sa in listed), "list shows the new service account")

# get
got = get_service_account.sync(account_id, made.id, client=owner)
check(got.name == "python-scenario", "get returns it")

# rotate: the old token stops working
rotated = rotate_service_account.sync(account_id, made.id, client=owner)
check(isinstance(rotated, ServiceAccountWithToken) and rotated.token != made.token, "rotate issues a new token")
with_old = list_service_accounts.sync_detailed(account_id, client=client(made.token))
check(with_old.status_code == 401, f"the old token is refused ({with_old.status_code})")

# rotate with a grace period: both tokens work, the old one's answers carry
# Sunset, until the previous token is retired
graceful = rotate_service_account.sync(account_id, made.id, client=owner, grace_period_seconds=3600)
check(isinstance(graceful, ServiceAccountWithToken), "rotate with a grace returns the new token")
check(graceful.previous_token_public_id == rotated.token_public_id, "previous_token_public_id")
check(graceful.previous_token_expires_at is not None, "previous_token_expires_at")
# (It holds no grants: 403, authenticated, where a dead token gets 401.)
with_previous = get_service_account.sync_detailed(account_id, made.id, client=client(rotated.token))
check(with_previous.status_code == 403, f"the previous token authenticates ({with_previous.status_code})")
check("Sunset" in with_previous.headers, "Sunset on the previous token's answer")
me_previous = whoami.sync(client=client(rotated.token))
check(str(me_previous.token_generation) == "previous", f"token_generation {me_previous.token_generation}")
retired = retire_previous_token.sync(account_id, made.id, client=owner)
check(retired.previous_token_public_id is None, "retired")
after = get_service_account.sync_detailed(account_id, made.id, client=client(rotated.token))
check(after.status_code == 401, f"the retired token is refused ({after.status_code})")

# a retried create with the same Idempotency-Key gets the same answer
key = str(uuid.uuid4())
once = create_service_account.sync_detailed(
    account_id, client=owner, body=CreateServiceAccountRequest(name="python-retried"), idempotency_key=key
)
twice = create_service_account.sync_detailed(
    account_id, client=owner, body=CreateServiceAccountRequest(name="python-retried"), idempotency_key=key
)
check(once.status_code == 201 and twice.status_code == 201, "both answered 201")
check(twice.headers.get("Idempotent-Replayed") == "true", "the retry is a replay")
check(twice.parsed.id == once.parsed.id and twice.parsed.token == once.parsed.token, "the same answer")
reused = create_service_account.sync_detailed(
    account_id, client=owner, body=CreateServiceAccountRequest(name="python-other"), idempotency_key=key
)
check(reused.status_code == 422, f"a reused key answered {reused.status_code}")
check(reused.parsed.error_code == "idempotency_key_reused", f"error_code {reused.parsed.error_code}")

# revoke
revoked = revoke_service_account.sync(account_id, made.id, client=owner)
check(revoked.revoked_at is not None, "revoke sets revoked_at")

# an error, read through the client's error type
create_service_account.sync(account_id, client=owner, body=CreateServiceAccountRequest(name="python-dup"))
conflict = create_service_account.sync_detailed(
    account_id, client=owner, body=CreateServiceAccountRequest(name="python-dup")
)
check(conflict.status_code == 409, f"duplicate name answered {conflict.status_code}")
error = conflict.parsed
check(isinstance(error, Error), "the error is parsed as the Error model")
check(error.error_code == "name_conflict", f"error_code {error.error_code}")
check(error.request_id and error.message, "error body")

# whoami: the owner is a service account owning its account
me = whoami.sync(client=owner)
check(me.principal_type == PrincipalType.SERVICE_ACCOUNT, f"principal_type {me.principal_type}")
check(me.account_id == account_id, "whoami names the account")
check(any(g.account_id == account_id and g.owner for g in me.grants), "owner grant")

# introspection, as an introspection client (HTTP Basic, form-encoded body)
credentials = f"{os.environ['HBX_SA_CLIENT_ID']}:{os.environ['HBX_SA_CLIENT_SECRET']}"
introspector = Client(
    base_url=base_url,
    headers={"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()},
    raise_on_unexpected_status=True,
)
active = introspect_token.sync(client=introspector, body=IntrospectionRequest(token=os.environ["HBX_SA_TOKEN"]))
check(isinstance(active, IntrospectionResponse) and active.active, "the owner's token is active")
check(active.token_type == IntrospectedTokenType.SERVICE_ACCOUNT, f"token_type {active.token_type}")
check(active.hbx_account_id == account_id, "hbx_account_id")
inactive = introspect_token.sync(client=introspector, body=IntrospectionRequest(token=made.token))
check(inactive.active is False, "a revoked token is inactive")
not_a_client = introspect_token.sync_detailed(client=owner, body=IntrospectionRequest(token=made.token))
check(not_a_client.status_code == 401, f"a bearer token is not an introspection client ({not_a_client.status_code})")

# a leak report, signed as GitHub signs them (ECDSA P-256/SHA-256 over the raw
# body, base64 DER): the leaked token is revoked, with its reason
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

leaked = create_service_account.sync(account_id, client=owner, body=CreateServiceAccountRequest(name="python-leaked"))
items = [ReportedToken(token=leaked.token, type_="hbx_service_account_token", url="https://github.com/o/r/blob/1/.env", source="content")]
raw = json.dumps([item.to_dict() for item in items]).encode()
key = serialization.load_pem_private_key(os.environ["HBX_SA_SIGNING_KEY"].encode(), password=None)
signature = base64.b64encode(key.sign(raw, ec.ECDSA(hashes.SHA256()))).decode()
anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
# The generated client serializes the body itself: send the same bytes it
# would, so that the signature covers what arrives.
reported = anonymous.get_httpx_client().post(
    "/v1/public/secret-scanning/github",
    content=raw,
    headers={
        "Content-Type": "application/json",
        "Github-Public-Key-Identifier": os.environ["HBX_SA_SIGNING_KEY_ID"],
        "Github-Public-Key-Signature": signature,
    },
)
check(reported.status_code == 200, f"a signed report answered {reported.status_code}")
feedback = [TokenReportFeedback.from_dict(item) for item in reported.json()]
check(feedback[0].label == TokenLabel.TRUE_POSITIVE, f"label {feedback[0].label}")
check(feedback[0].token_hash == hashlib.sha256(leaked.token.encode()).hexdigest(), "token_hash")
after_leak = get_service_account.sync(account_id, leaked.id, client=owner)
check(str(after_leak.revoked_reason) == "leaked", f"revoked_reason {after_leak.revoked_reason}")
refused = report_github_leaks.sync_detailed(
    client=anonymous, body=items, github_public_key_identifier="key-1", github_public_key_signature="AAAA"
)
check(refused.status_code == 401 and refused.parsed.error_code == "invalid_signature", "a bad signature is refused")

# public revocation: anyone holding a token may kill it; the answer says nothing
held = create_service_account.sync(account_id, client=owner, body=CreateServiceAccountRequest(name="python-held"))
accepted = revoke_credentials.sync_detailed(
    client=anonymous, body=PublicRevocationRequest(credentials=[held.token, "not a token"])
)
check(accepted.status_code == 202, f"public revocation answered {accepted.status_code}")
after_holder = get_service_account.sync(account_id, held.id, client=owner)
check(str(after_holder.revoked_reason) == "reported", f"revoked_reason {after_holder.revoked_reason}")

# who may do what: grant a new service account auth.manage, see it work at
# once, list and filter the grant, revoke it, and assign a role
worker = create_service_account.sync(account_id, client=owner, body=CreateServiceAccountRequest(name="python-worker"))
as_worker = client(worker.token)
before = list_service_accounts.sync_detailed(account_id, client=as_worker)
check(before.status_code == 403, f"no grant yet: {before.status_code}")
check(before.headers.get("Hbx-Required-Capabilities") == "auth.manage", "the 403 names what is missing")
granted = create_authorization.sync_detailed(
    account_id,
    client=owner,
    body=CreateAuthorizationRequest(
        grant_kind=GrantKind.CAPABILITY,
        subject_type=SubjectType.SERVICE_ACCOUNT,
        subject_id=str(worker.id),
        capability_key="auth.manage",
    ),
    idempotency_key=str(uuid.uuid4()),
)
check(granted.status_code == 201, f"grant answered {granted.status_code}")
grant = granted.parsed
check(isinstance(grant, Authorization) and grant.capability_key == "auth.manage", "the grant's record")
check(list_service_accounts.sync_detailed(account_id, client=as_worker).status_code == 200, "granted at once")
mine = list_authorizations.sync(
    account_id, client=owner, subject_type=SubjectType.SERVICE_ACCOUNT, subject_id=str(worker.id), limit=10
)
check(len(mine) == 1 and mine[0].id == grant.id, "the filtered list")
revoked_grant = revoke_authorization.sync(account_id, grant.id, client=owner)
check(revoked_grant.revoked_at is not None, "the grant is revoked")
check(list_service_accounts.sync_detailed(account_id, client=as_worker).status_code == 403, "revoked at once")
assigned = create_role_assignment.sync(
    account_id,
    client=owner,
    body=CreateRoleAssignmentRequest(
        role_key=RoleKey.BILLING_VIEWER,
        subject_type=SubjectType.GROUP,
        subject_id="/finance",
        resource_type=ResourceType.ACCOUNT,
        resource_id=account_id,
    ),
)
check("billing.read" in assigned.expanded_capability_keys, "the role's expansion")
check(any(r.id == assigned.id for r in list_role_assignments.sync(account_id, client=owner)), "the role is listed")
check(revoke_role_assignment.sync(account_id, assigned.id, client=owner).revoked_at is not None, "the role is revoked")

# The audit log: the worker's grant and its revocation, newest first, paged.
about = list_audit_events.sync(account_id, client=owner, service_account_id=worker.id)
check([e.action for e in about] == ["grant_remove", "grant_add", "create"], f"the worker's events: {about}")
check(about[1].target.type_ == "authorization" and about[1].target.id == grant.id, "the grant is the target")
check(about[1].details["capability"] == "auth.manage", "the grant's details")
first = list_audit_events.sync(account_id, client=owner, limit=1)
second = list_audit_events.sync(account_id, client=owner, limit=1, before=first[0].id)
check(len(second) == 1 and second[0].id != first[0].id, "the next page")
unknown = list_audit_events.sync_detailed(account_id, client=owner, before=uuid.uuid4())
check(unknown.status_code == 400 and isinstance(unknown.parsed, Error), "an unknown cursor is refused")

# Federation: register the issuer and a rule through the generated client,
# then exchange a token with a standard OAuth client library's generic grant
# request (Authlib), unchanged, and see where the minted token came from.
from authlib.integrations.requests_client import OAuth2Session

from hybridbox_service_accounts_api_client.api.federation import (
    create_federation_rule,
    create_identity_provider,
    test_federation_rule,
)
from hybridbox_service_accounts_api_client.models import (
    ClaimCondition,
    ConditionOp,
    CreateFederationRuleRequest,
    CreateIdentityProviderRequest,
    FederationRuleTestRequest,
    FederationRuleTestRequestClaimsType0,
    ProviderKind,
)

registered = create_identity_provider.sync_detailed(
    account_id,
    client=owner,
    body=CreateIdentityProviderRequest.from_dict(
        {
            "name": "GitHub Actions",
            "issuer": os.environ["HBX_SA_FED_ISSUER"],
            "kind": ProviderKind.GITHUB_ACTIONS.value,
            "keys": {"source": "inline", "jwks": json.loads(os.environ["HBX_SA_FED_JWKS"])},
        }
    ),
)
check(registered.status_code == 201, f"register answered {registered.status_code}")
deployer = create_service_account.sync(account_id, client=owner, body=CreateServiceAccountRequest(name="python-ci"))
create_authorization.sync(
    account_id,
    client=owner,
    body=CreateAuthorizationRequest(
        grant_kind=GrantKind.CAPABILITY,
        subject_type=SubjectType.SERVICE_ACCOUNT,
        subject_id=str(deployer.id),
        capability_key="auth.manage",
    ),
)
rule = create_federation_rule.sync_detailed(
    account_id,
    deployer.id,
    client=owner,
    body=CreateFederationRuleRequest(
        identity_provider_id=registered.parsed.id,
        conditions=[ClaimCondition(claim="repository_owner_id", op=ConditionOp.EQ, value="1001")],
        capabilities=["auth.manage"],
    ),
)
check(rule.status_code == 201, f"rule answered {rule.status_code}")
dry = test_federation_rule.sync(
    account_id,
    deployer.id,
    rule.parsed.id,
    client=owner,
    body=FederationRuleTestRequest(
        claims=FederationRuleTestRequestClaimsType0.from_dict({"repository_owner_id": "9999"})
    ),
)
check(not dry.matched and dry.conditions[1].presented == "9999", f"the dry run: {dry}")
session = OAuth2Session()
minted = session.fetch_token(
    f"{base_url}/v1/public/auth/token",
    grant_type="urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token=os.environ["HBX_SA_FED_TOKEN"],
    subject_token_type="urn:ietf:params:oauth:token-type:jwt",
    account_id=str(account_id),
    service_account_id=str(deployer.id),
)
check(minted["token_type"] == "Bearer" and minted["access_token"].startswith("hbxsa_"), f"minted: {minted.keys()}")
me_federated = whoami.sync(client=client(minted["access_token"]))
check(me_federated.service_account_id == deployer.id, "the minted token is the service account's")
check(me_federated.federation.federation_rule_id == rule.parsed.id, "whoami shows the rule")

# Webhooks: a receiver on loopback (the scenario's server allows it), a
# subscription through the generated client, a ping delivered and verified
# with the Standard Webhooks library from PyPI, and the delivery log.
import http.server
import threading
import time

from standardwebhooks.webhooks import Webhook
from hybridbox_service_accounts_api_client.api.webhooks import (
    create_webhook,
    list_webhook_deliveries,
    ping_webhook,
)
from hybridbox_service_accounts_api_client.models import CreateWebhookRequest, WebhookEventTypeFilter

received = []


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        received.append((body, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


receiver = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()
hook = create_webhook.sync_detailed(
    account_id,
    client=owner,
    body=CreateWebhookRequest(
        url=f"http://127.0.0.1:{receiver.server_port}/hbx",
        event_types=[WebhookEventTypeFilter("webhook.*"), WebhookEventTypeFilter("service_account.*")],
        expiry_warnings=["7d", "1d"],
    ),
)
check(hook.status_code == 201, f"create webhook answered {hook.status_code}")
check(hook.parsed.secret.startswith("whsec_"), "the secret is shown once")
ping = ping_webhook.sync(account_id, hook.parsed.id, client=owner)
deadline = time.time() + 20
while not any(json.loads(body)["type"] == "webhook.ping" for body, _ in received):
    check(time.time() < deadline, "no ping delivered")
    time.sleep(0.05)
body, headers = next((b, h) for b, h in received if json.loads(b)["type"] == "webhook.ping")
event = Webhook(hook.parsed.secret).verify(body, headers)
check(headers["webhook-id"] == ping.message_id, "the ping's webhook-id")
check(event["data"]["webhook_id"] == str(hook.parsed.id), f"the ping names its subscription: {event}")
deadline = time.time() + 20
while True:
    log = list_webhook_deliveries.sync(account_id, hook.parsed.id, client=owner)
    if log:
        break
    check(time.time() < deadline, "no delivery logged")
    time.sleep(0.05)
check(str(log[0].status) == "succeeded" and log[0].response_status == 204, f"the log: {log[0]}")
receiver.shutdown()

print("python scenario passed")
