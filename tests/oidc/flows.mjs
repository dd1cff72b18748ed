// Gets access tokens from the test provider (provider.mjs) the way real clients do, and prints
// them on stdout (one line; the whole token response as JSON with --json).
//
//   node flows.mjs client-credentials [--alg RS256|ES256|EdDSA] [--resource URI] [--client ID]
//                                     [--secret S] [--scope S]
//   node flows.mjs authorization-code [--alg ...] [--resource URI] [--user practitioner|patient]
//                                     [--password P] [--scope S]
//   node flows.mjs expired [--wait SECONDS] [--client ID] [--scope S]
//   node flows.mjs decode TOKEN        prints {"header":...,"payload":...}
//
// Every command but decode needs the provider: --issuer URL, or --ready-file PATH (the file
// provider.mjs wrote), or the environment variable OIDC_ISSUER.
//
// client-credentials: HTTP basic client authentication at /token (RFC 6749 4.4). --alg picks
//   the resource urn:hygie-test:<alg> (the token's signing algorithm); --resource overrides it.
// authorization-code: the whole code flow with PKCE (S256) of the public client hygie-app, with
//   cookies carried by hand: /auth -> the login interaction (login and password posted) -> the
//   consent interaction -> /auth again -> the loopback redirect, whose state and iss are checked,
//   then the code and verifier are exchanged at /token.
// expired: without --wait, a token signed by the provider whose exp is an hour in the past
//   (resource urn:hygie-test:expired); with --wait S, a token from urn:hygie-test:short (1 s
//   lifetime), printed once S seconds have passed after its exp.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

const RESOURCE_PREFIX = 'urn:hygie-test:';
const ALGS = { RS256: 'rs256', ES256: 'es256', EDDSA: 'eddsa' };
const APP_CLIENT = 'hygie-app';
const APP_REDIRECT = 'http://127.0.0.1/callback';
const PASSWORDS = { practitioner: 'practitioner-password', patient: 'patient-password' };

class UsageError extends Error {}

function parseArgs(argv) {
  const positional = [];
  const options = {};
  for (let i = 0; i < argv.length; i += 1) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) {
      positional.push(argv[i]);
    } else if (m[1] === 'json') {
      options.json = true;
    } else if (m[2] !== undefined) {
      options[m[1]] = m[2];
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`${argv[i]} needs a value`);
      options[m[1]] = argv[i + 1];
      i += 1;
    }
  }
  return { positional, options };
}

function issuerOf(options) {
  if (options.issuer) return options.issuer.replace(/\/$/, '');
  if (options['ready-file']) {
    return JSON.parse(fs.readFileSync(options['ready-file'], 'utf8')).issuer;
  }
  if (process.env.OIDC_ISSUER) return process.env.OIDC_ISSUER.replace(/\/$/, '');
  throw new UsageError('give --issuer URL, --ready-file PATH or OIDC_ISSUER');
}

function resourceOf(options) {
  if (options.resource) return options.resource;
  const alg = (options.alg ?? 'ES256').toUpperCase();
  if (!ALGS[alg]) throw new UsageError(`unknown --alg ${options.alg} (RS256, ES256 or EdDSA)`);
  return RESOURCE_PREFIX + ALGS[alg];
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

async function discover(issuer) {
  const res = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (res.status !== 200) throw new Error(`discovery: HTTP ${res.status}`);
  const meta = await res.json();
  if (meta.issuer !== issuer) throw new Error(`discovery: issuer ${meta.issuer}, expected ${issuer}`);
  return meta;
}

async function tokenRequest(meta, form, headers = {}) {
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 200 || typeof body.access_token !== 'string') {
    throw new Error(`token endpoint: HTTP ${res.status} ${JSON.stringify(body)}`);
  }
  return body;
}

function defaultScope(client) {
  return client === 'hygie-patient' ? 'patient/*.rs' : 'user/*.cruds';
}

async function clientCredentials(issuer, options, resource = resourceOf(options)) {
  const meta = await discover(issuer);
  const client = options.client ?? 'hygie-practitioner';
  const secret = options.secret ?? `${client}-secret`;
  const basic = Buffer.from(
    `${encodeURIComponent(client)}:${encodeURIComponent(secret)}`,
  ).toString('base64');
  return tokenRequest(meta, {
    grant_type: 'client_credentials',
    resource,
    scope: options.scope ?? defaultScope(client),
  }, { authorization: `Basic ${basic}` });
}

// A cookie jar enough for one provider: name, value and path; no domains (one host).
class CookieJar {
  constructor() { this.cookies = new Map(); }

  store(url, res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = value === '';
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        const key = k.toLowerCase();
        if (key === 'path') path = v;
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      const id = `${name}\n${path}`;
      if (expired) this.cookies.delete(id);
      else this.cookies.set(id, { name, value, path });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    return [...this.cookies.values()]
      .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
}

async function authorizationCode(issuer, options) {
  const meta = await discover(issuer);
  const user = options.user ?? 'practitioner';
  const password = options.password ?? PASSWORDS[user] ?? '';
  const resource = resourceOf(options);
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  const state = b64url(crypto.randomBytes(16));
  const nonce = b64url(crypto.randomBytes(16));
  const scope = options.scope ?? (user === 'patient' ? 'patient/*.rs' : 'user/*.cruds');

  const auth = new URL(meta.authorization_endpoint);
  auth.search = new URLSearchParams({
    client_id: APP_CLIENT,
    response_type: 'code',
    redirect_uri: APP_REDIRECT,
    scope: `openid ${scope}`,
    resource,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    login_hint: user,
  }).toString();

  const jar = new CookieJar();
  const send = async (url, init = {}) => {
    const headers = { ...init.headers };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    jar.store(url, res);
    return res;
  };

  let url = auth.toString();
  const seen = [];
  for (let step = 0; step < 20; step += 1) {
    if (url.startsWith(`${APP_REDIRECT}?`)) break;
    const target = new URL(url, issuer);
    seen.push(target.pathname);
    let res;
    const m = /^\/interaction\/([^/]+)$/.exec(target.pathname);
    if (m) {
      const prompt = await send(target.href);
      const details = await prompt.json();
      if (prompt.status !== 200) throw new Error(`interaction: HTTP ${prompt.status} ${JSON.stringify(details)}`);
      if (details.prompt === 'login') {
        res = await send(`${target.href}/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ login: user, password }).toString(),
        });
      } else if (details.prompt === 'consent') {
        res = await send(`${target.href}/confirm`, { method: 'POST' });
      } else {
        throw new Error(`interaction: unexpected prompt ${details.prompt}`);
      }
    } else {
      res = await send(target.href);
    }
    if (res.status < 300 || res.status > 399 || !res.headers.get('location')) {
      const text = await res.text();
      throw new Error(`${target.pathname}: HTTP ${res.status} ${text.slice(0, 500)}`);
    }
    url = new URL(res.headers.get('location'), target).href;
  }
  if (!url.startsWith(`${APP_REDIRECT}?`)) throw new Error(`no redirect to the client after ${seen.join(' -> ')}`);

  const callback = new URL(url).searchParams;
  if (callback.get('error')) {
    throw new Error(`authorization refused: ${callback.get('error')} ${callback.get('error_description')}`);
  }
  if (callback.get('state') !== state) throw new Error('callback: state mismatch');
  if (callback.get('iss') !== issuer) throw new Error(`callback: iss ${callback.get('iss')}`);
  const code = callback.get('code');
  if (!code) throw new Error('callback: no code');

  return tokenRequest(meta, {
    grant_type: 'authorization_code',
    client_id: APP_CLIENT,
    code,
    redirect_uri: APP_REDIRECT,
    code_verifier: verifier,
    resource,
  });
}

function decode(token) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`not a JWS compact serialization (${parts.length} parts)`);
  return {
    header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')),
  };
}

async function expired(issuer, options) {
  if (options.wait === undefined) {
    return clientCredentials(issuer, options, `${RESOURCE_PREFIX}expired`);
  }
  const wait = Number(options.wait);
  if (!Number.isFinite(wait) || wait < 0) throw new UsageError(`bad --wait ${options.wait}`);
  const response = await clientCredentials(issuer, options, `${RESOURCE_PREFIX}short`);
  const { exp } = decode(response.access_token).payload;
  const delay = (exp + wait) * 1000 - Date.now();
  if (delay > 0) await new Promise((resolve) => { setTimeout(resolve, delay); });
  return response;
}

async function main() {
  const { positional, options } = parseArgs(process.argv.slice(2));
  const [command, ...rest] = positional;
  let response;
  switch (command) {
    case 'client-credentials':
      response = await clientCredentials(issuerOf(options), options);
      break;
    case 'authorization-code':
      response = await authorizationCode(issuerOf(options), options);
      break;
    case 'expired':
      response = await expired(issuerOf(options), options);
      break;
    case 'decode':
      if (rest.length !== 1) throw new UsageError('decode needs one token');
      process.stdout.write(`${JSON.stringify(decode(rest[0]))}\n`);
      return;
    default:
      throw new UsageError(`unknown command ${command ?? '(none)'}: client-credentials, authorization-code, expired or decode`);
  }
  process.stdout.write(`${options.json ? JSON.stringify(response) : response.access_token}\n`);
}

main().catch((err) => {
  process.stderr.write(`flows.mjs: ${err.message}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
