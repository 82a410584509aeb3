// A short scenario against a live server, through a client generated from the
// checked-in document (openapi-typescript types + openapi-fetch), compiled with
// `tsc --strict`. Reads HBX_SA_URL, HBX_SA_TOKEN, HBX_SA_ACCOUNT_ID, the
// introspection client's HBX_SA_CLIENT_ID and HBX_SA_CLIENT_SECRET, and the
// signing key of a secret-scanning partner, HBX_SA_SIGNING_KEY (PKCS#8 PEM)
// and HBX_SA_SIGNING_KEY_ID, and for federation an issuer HBX_SA_FED_ISSUER,
// its keys HBX_SA_FED_JWKS and a token it signed, HBX_SA_FED_TOKEN.
import { createHash, sign } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import createClient from "openapi-fetch";
import { Webhook } from "standardwebhooks";
import type { components, paths } from "./generated/schema.js";

type ServiceAccount = components["schemas"]["ServiceAccount"];
type ApiError = components["schemas"]["Error"];
type WebhookEvent = components["schemas"]["WebhookEvent"];

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`scenario failed: ${what}`);
}

const baseUrl = env("HBX_SA_URL");
const accountId = env("HBX_SA_ACCOUNT_ID");
const client = (token: string) =>
  createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
const owner = client(env("HBX_SA_TOKEN"));
const collection = "/v1/public/accounts/{account_id}/auth/service-accounts" as const;
const one = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}" as const;

// create
const created = await owner.POST(collection, {
  params: { path: { account_id: accountId } },
  body: { name: "typescript-scenario", expires_at: "2999-01-01T00:00:00+02:00" },
});
check(created.response.status === 201, `create answered ${created.response.status}`);
const made = created.data!;
check(made.token.startsWith(`${made.token_prefix}_${made.token_public_id}_`), "token format");
check(made.expires_at === "2998-12-31T22:00:00Z", `expires_at normalized: ${made.expires_at}`);
const path = { account_id: accountId, service_account_id: made.id };

// list
const listed = await owner.GET(collection, {
  params: { path: { account_id: accountId }, query: { limit: 1000 } },
});
const all: ServiceAccount[] = listed.data ?? [];
check(all.some((sa) => sa.id === made.id), "list shows the new service account");

// get
const got = await owner.GET(one, { params: { path } });
check(got.data?.name === "typescript-scenario", "get returns it");

// rotate: the old token stops working, the new one works
const rotated = await owner.POST(`${one}/rotate`, { params: { path } });
check(rotated.response.status === 200 && rotated.data!.token !== made.token, "rotate issues a new token");
const withOld = await client(made.token).GET(collection, { params: { path: { account_id: accountId } } });
check(withOld.response.status === 401, `the old token is refused (${withOld.response.status})`);

// rotate with a grace period: both tokens work, the old one's answers carry
// Sunset, until the previous token is retired
const graceful = await owner.POST(`${one}/rotate`, {
  params: { path, query: { grace_period_seconds: 3600 } },
});
check(graceful.response.status === 200, `rotate with a grace answered ${graceful.response.status}`);
const next = graceful.data!;
check(next.previous_token_public_id === rotated.data!.token_public_id, "previous_token_public_id");
check(typeof next.previous_token_expires_at === "string", "previous_token_expires_at");
// (It holds no grants: 403, authenticated, where a dead token gets 401.)
const withPrevious = await client(rotated.data!.token).GET(one, { params: { path } });
check(withPrevious.response.status === 403, `the previous token authenticates (${withPrevious.response.status})`);
check(withPrevious.response.headers.get("Sunset") !== null, "Sunset on the previous token's answer");
const meBefore = await client(rotated.data!.token).GET("/v1/public/auth/whoami");
check(meBefore.data?.token_generation === "previous", `token_generation ${meBefore.data?.token_generation}`);
const retired = await owner.POST(`${one}/retire-previous-token`, { params: { path } });
check(retired.response.status === 200 && retired.data!.previous_token_public_id === null, "retired");
const afterRetirement = await client(rotated.data!.token).GET(one, { params: { path } });
check(afterRetirement.response.status === 401, `the retired token is refused (${afterRetirement.response.status})`);

// a retried create with the same Idempotency-Key gets the same answer
const key = crypto.randomUUID();
const once = await owner.POST(collection, {
  params: { path: { account_id: accountId }, header: { "Idempotency-Key": key } },
  body: { name: "typescript-retried" },
});
const twice = await owner.POST(collection, {
  params: { path: { account_id: accountId }, header: { "Idempotency-Key": key } },
  body: { name: "typescript-retried" },
});
check(once.response.status === 201 && twice.response.status === 201, "both answered 201");
check(twice.response.headers.get("Idempotent-Replayed") === "true", "the retry is a replay");
check(twice.data!.id === once.data!.id && twice.data!.token === once.data!.token, "the same answer");
const reused = await owner.POST(collection, {
  params: { path: { account_id: accountId }, header: { "Idempotency-Key": key } },
  body: { name: "typescript-other" },
});
check(reused.response.status === 422, `a reused key answered ${reused.response.status}`);
check(reused.error?.error_code === "idempotency_key_reused", `error_code ${reused.error?.error_code}`);

// revoke
const revoked = await owner.POST(`${one}/revoke`, { params: { path } });
check(revoked.data?.revoked_at != null, "revoke sets revoked_at");

// an error, read through the client's error type
const taken = await owner.POST(collection, {
  params: { path: { account_id: accountId } },
  body: { name: "typescript-scenario-dup" },
});
check(taken.response.status === 201, "second create");
const conflict = await owner.POST(collection, {
  params: { path: { account_id: accountId } },
  body: { name: "typescript-scenario-dup" },
});
const error: ApiError | undefined = conflict.error;
check(conflict.response.status === 409, `duplicate name answered ${conflict.response.status}`);
check(error?.error_code === "name_conflict", `error_code ${error?.error_code}`);
check(typeof error?.request_id === "string" && error.message.length > 0, "error body");

// whoami: the owner is a service account owning its account
const me = await owner.GET("/v1/public/auth/whoami");
check(me.response.status === 200, `whoami answered ${me.response.status}`);
check(me.data?.principal_type === "service_account", `principal_type ${me.data?.principal_type}`);
check(me.data?.account_id === accountId, "whoami names the account");
check(me.data?.grants.some((g) => g.account_id === accountId && g.owner) === true, "owner grant");

// introspection, as an introspection client (HTTP Basic, form-encoded body)
const basic = Buffer.from(`${env("HBX_SA_CLIENT_ID")}:${env("HBX_SA_CLIENT_SECRET")}`).toString("base64");
const introspector = createClient<paths>({ baseUrl, headers: { Authorization: `Basic ${basic}` } });
const introspect = (token: string) =>
  introspector.POST("/v1/internal/auth/introspect", {
    body: { token },
    bodySerializer: (body) => new URLSearchParams(body as Record<string, string>).toString(),
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
const active = await introspect(env("HBX_SA_TOKEN"));
check(active.response.status === 200, `introspect answered ${active.response.status}`);
check(active.data?.active === true && active.data.token_type === "service_account", "active token");
check(active.data?.hbx_account_id === accountId, "hbx_account_id");
const inactive = await introspect(made.token);
check(inactive.data?.active === false && Object.keys(inactive.data).length === 1, "revoked: inactive");
const stranger = await client(env("HBX_SA_TOKEN")).POST("/v1/internal/auth/introspect", {
  body: { token: made.token },
  bodySerializer: (body) => new URLSearchParams(body as Record<string, string>).toString(),
  headers: { "Content-Type": "application/x-www-form-urlencoded" },
});
check(stranger.response.status === 401, `a bearer token is not an introspection client (${stranger.response.status})`);

// a leak report, signed as GitHub signs them (ECDSA P-256/SHA-256 over the
// raw body, base64 DER): the leaked token is revoked, with its reason
const leaked = await owner.POST(collection, {
  params: { path: { account_id: accountId } },
  body: { name: "typescript-leaked" },
});
const leakedPath = { account_id: accountId, service_account_id: leaked.data!.id };
const report = JSON.stringify([
  { token: leaked.data!.token, type: "hbx_service_account_token", url: "https://github.com/o/r/blob/1/.env", source: "content" },
]);
const anonymous = createClient<paths>({ baseUrl });
const reported = await anonymous.POST("/v1/public/secret-scanning/github", {
  params: {
    header: {
      "Github-Public-Key-Identifier": env("HBX_SA_SIGNING_KEY_ID"),
      "Github-Public-Key-Signature": sign("sha256", Buffer.from(report), env("HBX_SA_SIGNING_KEY")).toString("base64"),
    },
  },
  body: JSON.parse(report),
  bodySerializer: () => report,
});
check(reported.response.status === 200, `a signed report answered ${reported.response.status}`);
check(reported.data?.[0].label === "true_positive", `label ${reported.data?.[0].label}`);
check(
  reported.data?.[0].token_hash === createHash("sha256").update(leaked.data!.token).digest("hex"),
  "token_hash",
);
const afterLeak = await owner.GET(one, { params: { path: leakedPath } });
check(afterLeak.data?.revoked_reason === "leaked", `revoked_reason ${afterLeak.data?.revoked_reason}`);
const unsigned = await anonymous.POST("/v1/public/secret-scanning/github", {
  params: { header: { "Github-Public-Key-Identifier": "key-1", "Github-Public-Key-Signature": "AAAA" } },
  body: JSON.parse(report),
});
check(unsigned.response.status === 401 && unsigned.error?.error_code === "invalid_signature", "a bad signature is refused");

// public revocation: anyone holding a token may kill it; the answer says nothing
const held = await owner.POST(collection, {
  params: { path: { account_id: accountId } },
  body: { name: "typescript-held" },
});
const revokedByHolder = await anonymous.POST("/v1/public/credentials/revoke", {
  body: { credentials: [held.data!.token, "not a token"] },
});
check(revokedByHolder.response.status === 202, `public revocation answered ${revokedByHolder.response.status}`);
const afterHolder = await owner.GET(one, { params: { path: { account_id: accountId, service_account_id: held.data!.id } } });
check(afterHolder.data?.revoked_reason === "reported", `revoked_reason ${afterHolder.data?.revoked_reason}`);

// who may do what: grant a new service account auth.manage, see it work at
// once, list and filter the grant, revoke it, and assign a role
const grants = "/v1/public/accounts/{account_id}/auth/authorizations" as const;
const roles = "/v1/public/accounts/{account_id}/auth/role-assignments" as const;
type Authorization = components["schemas"]["Authorization"];
const worker = await owner.POST(collection, {
  params: { path: { account_id: accountId } },
  body: { name: "typescript-worker" },
});
const workerClient = client(worker.data!.token);
const beforeGrant = await workerClient.GET(collection, { params: { path: { account_id: accountId } } });
check(beforeGrant.response.status === 403, `no grant yet: ${beforeGrant.response.status}`);
check(
  beforeGrant.response.headers.get("Hbx-Required-Capabilities") === "auth.manage",
  "the 403 names what is missing",
);
const granted = await owner.POST(grants, {
  params: { path: { account_id: accountId }, header: { "Idempotency-Key": crypto.randomUUID() } },
  body: {
    grant_kind: "capability",
    subject_type: "service_account",
    subject_id: worker.data!.id,
    capability_key: "auth.manage",
  },
});
check(granted.response.status === 201, `grant answered ${granted.response.status}`);
const grant: Authorization = granted.data!;
check(grant.capability_key === "auth.manage" && grant.revoked_at === null, "the grant's record");
const afterGrant = await workerClient.GET(collection, { params: { path: { account_id: accountId } } });
check(afterGrant.response.status === 200, `granted: ${afterGrant.response.status}`);
const filtered = await owner.GET(grants, {
  params: {
    path: { account_id: accountId },
    query: { subject_type: "service_account", subject_id: worker.data!.id, limit: 10 },
  },
});
check(filtered.data?.length === 1 && filtered.data[0].id === grant.id, "the filtered list");
const revokedGrant = await owner.POST(`${grants}/{authorization_id}/revoke`, {
  params: { path: { account_id: accountId, authorization_id: grant.id } },
});
check(typeof revokedGrant.data?.revoked_at === "string", "the grant is revoked");
const afterRevoke = await workerClient.GET(collection, { params: { path: { account_id: accountId } } });
check(afterRevoke.response.status === 403, `revoked: ${afterRevoke.response.status}`);
const assigned = await owner.POST(roles, {
  params: { path: { account_id: accountId } },
  body: {
    role_key: "billing_viewer",
    subject_type: "group",
    subject_id: "/finance",
    resource_type: "account",
    resource_id: accountId,
  },
});
check(assigned.response.status === 201, `assign answered ${assigned.response.status}`);
check(assigned.data!.expanded_capability_keys.includes("billing.read"), "the role's expansion");
const roleList = await owner.GET(roles, { params: { path: { account_id: accountId } } });
check(roleList.data?.some((r) => r.id === assigned.data!.id) === true, "the role is listed");
const unassigned = await owner.POST(`${roles}/{role_assignment_id}/revoke`, {
  params: { path: { account_id: accountId, role_assignment_id: assigned.data!.id } },
});
check(typeof unassigned.data?.revoked_at === "string", "the role is revoked");

// the audit log: the grant and its revocation, newest first, filtered and paged
const auditPath = "/v1/public/accounts/{account_id}/auth/audit-events" as const;
type AuditEvent = components["schemas"]["AuditEvent"];
const grantEvents = await owner.GET(auditPath, {
  params: { path: { account_id: accountId }, query: { service_account_id: worker.data!.id } },
});
check(grantEvents.response.status === 200, `audit answered ${grantEvents.response.status}`);
const about: AuditEvent[] = grantEvents.data!;
check(
  about.map((e) => e.action).join(",") === "grant_remove,grant_add,create",
  `the worker's events, newest first: ${about.map((e) => e.action)}`,
);
check(about[1].target.type === "authorization" && about[1].target.id === grant.id, "the grant is the target");
check(about[1].details.capability === "auth.manage", "the grant's details");
const firstPage = await owner.GET(auditPath, {
  params: { path: { account_id: accountId }, query: { limit: 1 } },
});
const secondPage = await owner.GET(auditPath, {
  params: { path: { account_id: accountId }, query: { limit: 1, before: firstPage.data![0].id } },
});
check(secondPage.data?.length === 1 && secondPage.data[0].id !== firstPage.data![0].id, "the next page");
const badCursor = await owner.GET(auditPath, {
  params: { path: { account_id: accountId }, query: { before: crypto.randomUUID() } },
});
check(badCursor.response.status === 400 && badCursor.error?.error_code !== undefined, "an unknown cursor is refused");

// federation: register the issuer, let its tokens become a service account's,
// exchange one (RFC 8693, form-encoded) and see where the minted token came from
const providers = "/v1/public/accounts/{account_id}/auth/identity-providers" as const;
const provider = await owner.POST(providers, {
  params: { path: { account_id: accountId } },
  body: {
    name: "GitHub Actions",
    issuer: env("HBX_SA_FED_ISSUER"),
    kind: "github_actions",
    keys: { source: "inline", jwks: JSON.parse(env("HBX_SA_FED_JWKS")) },
  },
});
check(provider.response.status === 201, `register answered ${provider.response.status}`);
const deployer = await owner.POST(collection, {
  params: { path: { account_id: accountId } },
  body: { name: "typescript-federated" },
});
const deployerId = deployer.data!.id;
await owner.POST(grants, {
  params: { path: { account_id: accountId } },
  body: {
    grant_kind: "capability",
    subject_type: "service_account",
    subject_id: deployerId,
    capability_key: "auth.manage",
  },
});
const rules = `${one}/federation-rules` as const;
const unsafe = await owner.POST(rules, {
  params: { path: { account_id: accountId, service_account_id: deployerId } },
  body: {
    identity_provider_id: provider.data!.id,
    conditions: [{ claim: "repository", op: "eq", value: "acme/api" }],
    capabilities: ["auth.manage"],
  },
});
check(unsafe.response.status === 422 && unsafe.error?.error_code === "federation_rule_unsafe", "rails");
const rule = await owner.POST(rules, {
  params: { path: { account_id: accountId, service_account_id: deployerId } },
  body: {
    identity_provider_id: provider.data!.id,
    conditions: [{ claim: "repository_owner_id", op: "eq", value: "1001" }],
    capabilities: ["auth.manage"],
  },
});
check(rule.response.status === 201, `rule answered ${rule.response.status}`);
const exchanged = await createClient<paths>({ baseUrl }).POST("/v1/public/auth/token", {
  body: {
    grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token: env("HBX_SA_FED_TOKEN"),
    subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
    account_id: accountId,
    service_account_id: deployerId,
  },
  bodySerializer: (body) => new URLSearchParams(body as Record<string, string>).toString(),
  headers: { "Content-Type": "application/x-www-form-urlencoded" },
});
check(exchanged.response.status === 200, `exchange answered ${exchanged.response.status}`);
check(exchanged.data!.token_type === "Bearer" && exchanged.data!.scope === "auth.manage", "RFC 8693 answer");
const federated = await client(exchanged.data!.access_token).GET("/v1/public/auth/whoami");
check(federated.data?.service_account_id === deployerId, "the minted token is the service account's");
check(federated.data?.federation?.federation_rule_id === rule.data!.id, "whoami shows the rule");
const replayed = await createClient<paths>({ baseUrl }).POST("/v1/public/auth/token", {
  body: {
    grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token: env("HBX_SA_FED_TOKEN"),
    subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
    account_id: accountId,
    service_account_id: deployerId,
  },
  bodySerializer: (body) => new URLSearchParams(body as Record<string, string>).toString(),
  headers: { "Content-Type": "application/x-www-form-urlencoded" },
});
check(replayed.response.status === 400 && replayed.error?.error === "invalid_grant", "replay refused");
check(replayed.error?.hbx_reason === "replayed", `hbx_reason ${replayed.error?.hbx_reason}`);

// Webhooks: a receiver on loopback (the scenario's server allows it), a
// subscription, a ping delivered and verified with the Standard Webhooks
// library from npm, typed with the document's WebhookEvent, and the log.
const deliveries: { body: string; headers: Record<string, string> }[] = [];
const receiver = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === "string") headers[name] = value;
    }
    deliveries.push({ body: Buffer.concat(chunks).toString("utf8"), headers });
    response.writeHead(204).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const port = (receiver.address() as AddressInfo).port;
const hooks = "/v1/public/accounts/{account_id}/webhooks" as const;
const hook = await owner.POST(hooks, {
  params: { path: { account_id: accountId }, header: {} },
  body: { url: `http://127.0.0.1:${port}/hbx`, event_types: ["webhook.*"] },
});
check(hook.response.status === 201, `create webhook answered ${hook.response.status}`);
const secret = hook.data!.secret;
check(secret.startsWith("whsec_"), "the secret is shown once");
const hookPath = { account_id: accountId, webhook_id: hook.data!.id };
const pinged = await owner.POST(`${hooks}/{webhook_id}/ping`, { params: { path: hookPath } });
check(pinged.response.status === 202, `ping answered ${pinged.response.status}`);
const waitFor = async (what: string, done: () => boolean) => {
  const deadline = Date.now() + 20_000;
  while (!done()) {
    check(Date.now() < deadline, `no ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};
await waitFor("ping delivered", () => deliveries.length > 0);
const delivered = deliveries[0];
const event = new Webhook(secret).verify(delivered.body, delivered.headers) as WebhookEvent;
check(event.type === "webhook.ping", `event type ${event.type}`);
check(delivered.headers["webhook-id"] === pinged.data!.message_id, "the ping's webhook-id");
let log: components["schemas"]["WebhookDelivery"][] = [];
const logDeadline = Date.now() + 20_000;
while (log.length === 0) {
  check(Date.now() < logDeadline, "no delivery logged");
  const answer = await owner.GET(`${hooks}/{webhook_id}/deliveries`, { params: { path: hookPath } });
  log = answer.data ?? [];
  if (log.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
}
check(log[0]?.status === "succeeded" && log[0].response_status === 204, "the delivery log");
receiver.close();

console.log("typescript scenario passed");
