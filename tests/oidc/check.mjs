// The checks of run-check.sh: discovery, JWKS and the tokens obtained with flows.mjs.
//
//   node check.mjs READY_FILE OTHER_READY_FILE NAME=TOKEN...
//
// READY_FILE is the provider under test, OTHER_READY_FILE a second instance (its keys and
// issuer must differ). Token names: RS256, ES256, EdDSA (client credentials of
// hygie-practitioner), patient (client credentials of hygie-patient), code (authorization code
// as practitioner), code-patient, other-audience, expired (backdated), short (1 s, waited out).
// Every token's signature is verified against the provider's JWKS. Prints one line per failed
// check and exits 1 if any failed.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

const [readyFile, otherReadyFile, ...pairs] = process.argv.slice(2);
const ready = JSON.parse(fs.readFileSync(readyFile, 'utf8'));
const otherReady = JSON.parse(fs.readFileSync(otherReadyFile, 'utf8'));
const tokens = Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
const { issuer } = ready;
const audience = ready.audience;

let checks = 0;
const failures = [];
function check(ok, what) {
  checks += 1;
  if (!ok) failures.push(what);
}
function equal(actual, expected, what) {
  check(JSON.stringify(actual) === JSON.stringify(expected),
    `${what}: ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

async function getJson(url) {
  const res = await fetch(url);
  equal(res.status, 200, `GET ${url}`);
  return res.json();
}

function decode(token) {
  const parts = token.split('.');
  equal(parts.length, 3, 'JWS compact serialization');
  return {
    header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')),
    input: Buffer.from(`${parts[0]}.${parts[1]}`),
    signature: Buffer.from(parts[2], 'base64url'),
  };
}

function verifies(jwt, jwk) {
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  switch (jwt.header.alg) {
    case 'RS256': return crypto.verify('sha256', jwt.input, key, jwt.signature);
    case 'ES256':
      return crypto.verify('sha256', jwt.input, { key, dsaEncoding: 'ieee-p1363' }, jwt.signature);
    case 'EdDSA': return crypto.verify(null, jwt.input, key, jwt.signature);
    default: return false;
  }
}

const now = Math.floor(Date.now() / 1000);

// Discovery and keys.
const meta = await getJson(`${issuer}/.well-known/openid-configuration`);
equal(meta.issuer, issuer, 'discovery issuer');
equal(meta.jwks_uri, `${issuer}/jwks`, 'discovery jwks_uri');
equal(meta.token_endpoint, `${issuer}/token`, 'discovery token_endpoint');
check(meta.code_challenge_methods_supported?.includes('S256'), 'discovery: PKCE S256');
for (const g of ['authorization_code', 'client_credentials']) {
  check(meta.grant_types_supported?.includes(g), `discovery: grant ${g}`);
}
const jwks = await getJson(meta.jwks_uri);
equal(jwks.keys.map((k) => k.alg).sort(), ['ES256', 'EdDSA', 'RS256'], 'JWKS algorithms');
equal(new Set(jwks.keys.map((k) => k.kid)).size, 3, 'JWKS kids distinct');
check(jwks.keys.every((k) => k.d === undefined && k.p === undefined), 'JWKS has no private key');
equal(Object.fromEntries(jwks.keys.map((k) => [k.alg, k.kid])), ready.kids, 'JWKS kids = ready line');
const otherJwks = await getJson(`${otherReady.issuer}/jwks`);
check(otherReady.issuer !== issuer, 'second instance: another issuer');
const material = (k) => k.n ?? k.x;
check(otherJwks.keys.length === 3 && otherJwks.keys.every(
  (o) => jwks.keys.every((k) => k.kid !== o.kid && material(k) !== material(o)),
), 'second instance: other keys');

// Tokens.
function checkToken(name, want) {
  const token = tokens[name];
  if (!token) {
    check(false, `${name}: no token`);
    return undefined;
  }
  const jwt = decode(token);
  const { header, payload } = jwt;
  equal(header.alg, want.alg, `${name}: alg`);
  equal(header.typ, 'at+jwt', `${name}: typ`);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  check(jwk && jwk.alg === want.alg, `${name}: kid ${header.kid} names a ${want.alg} key of the JWKS`);
  if (jwk) check(verifies(jwt, jwk), `${name}: signature verifies`);
  equal(payload.iss, issuer, `${name}: iss`);
  equal(payload.aud, want.aud ?? audience, `${name}: aud`);
  equal(payload.scope, want.scope ?? 'user/*.cruds', `${name}: scope`);
  equal(payload.sub, want.sub ?? 'hygie-practitioner', `${name}: sub`);
  check(Number.isInteger(payload.exp) && Number.isInteger(payload.iat), `${name}: integer exp, iat`);
  equal(payload.exp - payload.iat, want.ttl ?? 300, `${name}: lifetime`);
  if (want.expired) {
    check(payload.exp <= now, `${name}: expired (exp ${payload.exp}, now ${now})`);
  } else {
    check(payload.exp > now + 200, `${name}: exp in the future (exp ${payload.exp}, now ${now})`);
    check(Math.abs(payload.iat - now) < 120, `${name}: iat is now`);
  }
  if (want.roles !== undefined) equal(payload.roles, want.roles, `${name}: roles`);
  equal(payload.patient, want.patient, `${name}: patient`);
  return payload;
}

for (const alg of ['RS256', 'ES256', 'EdDSA']) {
  checkToken(alg, { alg, roles: ['practitioner'] });
}
checkToken('patient', {
  alg: 'ES256', sub: 'hygie-patient', scope: 'patient/*.rs', roles: ['patient'], patient: 'p-1',
});
const code = checkToken('code', { alg: 'ES256', sub: 'practitioner', roles: ['practitioner'] });
equal(code?.client_id, 'hygie-app', 'code: client_id');
checkToken('code-patient', {
  alg: 'RS256', sub: 'patient', scope: 'patient/*.rs', roles: ['patient'], patient: 'p-1',
});
checkToken('other-audience', { alg: 'ES256', aud: ready.other_audience });
check(ready.other_audience !== audience, 'other audience differs');
const expired = checkToken('expired', { alg: 'ES256', expired: true });
check(expired && expired.exp < now - 600, 'expired: expired long ago');
checkToken('short', { alg: 'ES256', ttl: 1, expired: true });

// PKCE is required: an authorization request without code_challenge is refused.
const auth = new URL(meta.authorization_endpoint);
auth.search = new URLSearchParams({
  client_id: 'hygie-app',
  response_type: 'code',
  redirect_uri: 'http://127.0.0.1/callback',
  scope: 'openid user/*.cruds',
  resource: 'urn:hygie-test:es256',
  state: 's',
}).toString();
const noPkce = await fetch(auth, { redirect: 'manual' });
const location = new URL(noPkce.headers.get('location') ?? 'http://x/');
equal(location.searchParams.get('error'), 'invalid_request', 'no PKCE: refused');

if (failures.length > 0) {
  for (const f of failures) console.error(`FAIL ${f}`);
  console.error(`check.mjs: ${failures.length} of ${checks} checks failed`);
  process.exit(1);
}
console.log(`check.mjs: ${checks} checks passed`);
