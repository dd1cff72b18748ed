// A real OpenID Connect provider (oidc-provider 9) for Hygie's end-to-end tests.
//
//   node provider.mjs [--port N] [--ready-file PATH]
//
// Listens on 127.0.0.1:N (0, the default, picks a free port); the issuer is
// http://127.0.0.1:<port>. Once listening it prints one JSON line on stdout,
// {"issuer":...,"port":...,"audience":...,"kids":{...},"resources":{...}}, and writes the same
// line to --ready-file if given (atomically: written beside, then renamed). SIGTERM or SIGINT
// stops it with status 0.
//
// Signing keys are generated at start (RS256, ES256 and EdDSA/Ed25519, one kid each, different
// on every start), so two instances never trust each other's tokens. Access tokens are JWTs
// (typ at+jwt) whose signing algorithm, audience and lifetime come from the resource indicator
// asked for (see RESOURCES below and README.md).
//
// Environment (all optional):
//   OIDC_PORT            the port when --port is not given (default 0)
//   OIDC_AUDIENCE        the "aud" of access tokens (default hygie-test)
//   OIDC_OTHER_AUDIENCE  the "aud" of tokens for the other-audience resource (default hygie-other)
//   OIDC_ROLES_CLAIM     the name of the roles claim (default roles)
//   OIDC_ROLES           comma list of the practitioner's roles (default practitioner)
//   OIDC_PATIENT         the "patient" claim of the patient client and user (default p-1)
//   OIDC_SCOPE_CLAIM     when set to a name other than "scope", the granted scopes are carried
//                        in that claim instead of "scope"
//   OIDC_SHORT_TTL       lifetime in seconds of tokens for the short resource (default 1)
//   OIDC_BACKDATE        how far in the past (seconds) tokens for the expired resource expired
//                        (default 3600)
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider from 'oidc-provider';

// ---- Arguments and environment ----

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unexpected argument ${arg}`);
    if (m[2] !== undefined) {
      out[m[1]] = m[2];
    } else {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      out[m[1]] = argv[i + 1];
      i += 1;
    }
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const env = process.env;
const port = Number(args.port ?? env.OIDC_PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port ${port}`);
const readyFile = args['ready-file'];
const audience = env.OIDC_AUDIENCE || 'hygie-test';
const otherAudience = env.OIDC_OTHER_AUDIENCE || 'hygie-other';
const rolesClaim = env.OIDC_ROLES_CLAIM || 'roles';
const practitionerRoles = (env.OIDC_ROLES ?? 'practitioner').split(',').filter(Boolean);
const patientId = env.OIDC_PATIENT || 'p-1';
const scopeClaim = env.OIDC_SCOPE_CLAIM || 'scope';
const shortTtl = Number(env.OIDC_SHORT_TTL || 1);
const backdate = Number(env.OIDC_BACKDATE || 3600);

// ---- Keys ----

function signingJwk(alg, type, options) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}`;
  return { ...jwk, kid, alg, use: 'sig' };
}

const keys = [
  // ES256 first: it signs ID tokens (clientDefaults below).
  signingJwk('ES256', 'ec', { namedCurve: 'P-256' }),
  signingJwk('RS256', 'rsa', { modulusLength: 2048 }),
  signingJwk('EdDSA', 'ed25519'),
];

// ---- Resource servers (resource indicators) ----

// SMART on FHIR scopes the resource servers grant: every combination of these.
const SMART_CONTEXTS = ['user', 'patient', 'system'];
const SMART_TYPES = ['*', 'Patient', 'Observation', 'Encounter'];
const SMART_PERMISSIONS = ['c', 'r', 'u', 'd', 's', 'rs', 'cu', 'ru', 'cud', 'cruds', 'read', 'write', '*'];
const SMART_SCOPES = SMART_CONTEXTS.flatMap(
  (c) => SMART_TYPES.flatMap((t) => SMART_PERMISSIONS.map((p) => `${c}/${t}.${p}`)),
).join(' ');

const RESOURCE_PREFIX = 'urn:hygie-test:';
const RESOURCES = {
  [`${RESOURCE_PREFIX}rs256`]: { alg: 'RS256', audience, ttl: 300 },
  [`${RESOURCE_PREFIX}es256`]: { alg: 'ES256', audience, ttl: 300 },
  [`${RESOURCE_PREFIX}eddsa`]: { alg: 'EdDSA', audience, ttl: 300 },
  // Lives shortTtl seconds: wait past it (and the verifier's clock skew) to see it refused.
  [`${RESOURCE_PREFIX}short`]: { alg: 'ES256', audience, ttl: shortTtl },
  // Signed by this provider, but its iat and exp are `backdate` seconds in the past.
  [`${RESOURCE_PREFIX}expired`]: { alg: 'ES256', audience, ttl: 300, backdate },
  // Right issuer and key, another audience.
  [`${RESOURCE_PREFIX}other-audience`]: { alg: 'ES256', audience: otherAudience, ttl: 300 },
};
const DEFAULT_RESOURCE = `${RESOURCE_PREFIX}es256`;

// ---- Clients and accounts ----

const LOOPBACK_REDIRECT = 'http://127.0.0.1/callback';
const CLIENT_CREDENTIALS = {
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_basic',
};
const clients = [
  { client_id: 'hygie-practitioner', client_secret: 'hygie-practitioner-secret', ...CLIENT_CREDENTIALS },
  { client_id: 'hygie-patient', client_secret: 'hygie-patient-secret', ...CLIENT_CREDENTIALS },
  // No role and no patient claim.
  { client_id: 'hygie-service', client_secret: 'hygie-service-secret', ...CLIENT_CREDENTIALS },
  {
    // A public native app: authorization code with PKCE (S256), loopback redirect (RFC 8252).
    client_id: 'hygie-app',
    application_type: 'native',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [LOOPBACK_REDIRECT],
    token_endpoint_auth_method: 'none',
  },
];

// Claims added to access tokens, by client (client credentials) or by account (user tokens).
const CLIENT_CLAIMS = {
  'hygie-practitioner': { [rolesClaim]: practitionerRoles },
  'hygie-patient': { [rolesClaim]: ['patient'], patient: patientId },
  'hygie-service': {},
};
const ACCOUNTS = {
  practitioner: {
    password: 'practitioner-password',
    claims: { [rolesClaim]: practitionerRoles, fhirUser: 'Practitioner/pr-1' },
  },
  patient: {
    password: 'patient-password',
    claims: { [rolesClaim]: ['patient'], patient: patientId, fhirUser: `Patient/${patientId}` },
  },
};

// ---- The provider ----

function resourceInfo(indicator) {
  const r = RESOURCES[indicator];
  if (!r) throw new Provider.errors.InvalidTarget(`unknown resource indicator ${indicator}`);
  return {
    scope: SMART_SCOPES,
    audience: r.audience,
    accessTokenTTL: r.ttl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: r.alg } },
  };
}

function configuration() {
  return {
    jwks: { keys },
    clients,
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'offline_access'],
    claims: { openid: ['sub'] },
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => oneOf ?? DEFAULT_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => resourceInfo(indicator),
      },
    },
    async findAccount(ctx, sub) {
      if (!ACCOUNTS[sub]) return undefined;
      return { accountId: sub, claims: async () => ({ sub }) };
    },
    async extraTokenClaims(ctx, token) {
      if (token.accountId) return { ...ACCOUNTS[token.accountId]?.claims };
      return { ...CLIENT_CLAIMS[token.clientId] };
    },
    formats: {
      customizers: {
        async jwt(ctx, token, jwt) {
          const { payload } = jwt;
          if (scopeClaim !== 'scope' && payload.scope !== undefined) {
            payload[scopeClaim] = payload.scope;
            delete payload.scope;
          }
          const r = RESOURCES[token.resourceServer?.identifier()];
          if (r?.backdate) {
            payload.iat -= r.backdate;
            payload.exp -= r.backdate;
          }
        },
      },
    },
    renderError(ctx, out) {
      ctx.type = 'application/json';
      ctx.body = out;
    },
  };
}

// ---- Interactions: login (a password form) and consent, answered without a browser ----

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// GET  /interaction/:uid          -> {"uid","prompt":"login"|"consent",...}
// POST /interaction/:uid/login    form login=&password=
// POST /interaction/:uid/confirm  grants every scope and resource asked for
// POST /interaction/:uid/abort    denies the request
async function interaction(provider, req, res, path) {
  const m = /^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/.exec(path);
  if (!m) return sendJson(res, 404, { error: 'not_found' });
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== m[1]) return sendJson(res, 400, { error: 'interaction mismatch' });
  const { prompt, params, session } = details;
  const action = m[2];
  if (!action) {
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' });
    return sendJson(res, 200, {
      uid: details.uid,
      prompt: prompt.name,
      reasons: prompt.reasons,
      client_id: params.client_id,
      scope: params.scope,
      login_hint: params.login_hint,
    });
  }
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'the user refused',
    }, { mergeWithLastSubmission: false });
  }
  if (action === 'login') {
    if (prompt.name !== 'login') return sendJson(res, 400, { error: `prompt is ${prompt.name}` });
    const form = await readForm(req);
    const login = form.get('login');
    const account = ACCOUNTS[login];
    if (!account || !crypto.timingSafeEqual(
      crypto.createHash('sha256').update(form.get('password') ?? '').digest(),
      crypto.createHash('sha256').update(account.password).digest(),
    )) {
      return sendJson(res, 401, { error: 'invalid login or password' });
    }
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: login } },
      { mergeWithLastSubmission: false },
    );
  }
  // confirm
  if (prompt.name !== 'consent') return sendJson(res, 400, { error: `prompt is ${prompt.name}` });
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return provider.interactionFinished(
    req,
    res,
    { consent: { grantId } },
    { mergeWithLastSubmission: true },
  );
}

// ---- Start ----

const server = http.createServer();
server.listen(port, '127.0.0.1', () => {
  const actualPort = server.address().port;
  const issuer = `http://127.0.0.1:${actualPort}`;
  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const path = new URL(req.url, issuer).pathname;
    if (path === '/interaction' || path.startsWith('/interaction/')) {
      interaction(provider, req, res, path).catch((err) => {
        console.error('interaction error', err);
        if (!res.headersSent) sendJson(res, 400, { error: String(err.message ?? err) });
        else res.end();
      });
      return;
    }
    callback(req, res);
  });

  const ready = JSON.stringify({
    issuer,
    port: actualPort,
    audience,
    other_audience: otherAudience,
    kids: Object.fromEntries(keys.map((k) => [k.alg, k.kid])),
    resources: Object.fromEntries(
      Object.entries(RESOURCES).map(([id, r]) => [id, { alg: r.alg, audience: r.audience }]),
    ),
  });
  if (readyFile) {
    fs.writeFileSync(`${readyFile}.tmp`, `${ready}\n`);
    fs.renameSync(`${readyFile}.tmp`, readyFile);
  }
  process.stdout.write(`${ready}\n`);
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
