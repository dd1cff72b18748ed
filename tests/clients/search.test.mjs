// Search with paging: searchset Bundles, _count, and next links followed to the end, through
// fhir-kit-client and MedplumClient.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import {
  call,
  collect,
  fhirKit,
  markedPatient,
  markerSystem,
  medplum,
  runId,
  validateReturnedResources,
} from './lib/harness.mjs';

const kCreated = 23; // not a multiple of the page size, so the last page is partly filled
const kPageSize = 5;
const marker = `${runId}-search`;
const identifierParam = `${markerSystem}|${marker}`;

const createdIds = [];
let subjectId;
const observationIds = [];

before(async () => {
  const client = fhirKit();
  for (let i = 0; i < kCreated; i++) {
    const p = await call(`fhir-kit create search patient ${i}`, () =>
      client.create({
        resourceType: 'Patient',
        body: markedPatient(`Search${i}`, { identifier: [{ system: markerSystem, value: marker }] }),
      }),
    );
    createdIds.push(p.id);
  }
  subjectId = createdIds[0];
  for (const code of ['8867-4', '9279-1', '8310-5']) {
    const o = await call(`fhir-kit create observation ${code}`, () =>
      client.create({
        resourceType: 'Observation',
        body: {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code }] },
          subject: { reference: `Patient/${subjectId}` },
          valueQuantity: { value: 60, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
        },
      }),
    );
    observationIds.push(o.id);
  }
});

// Checks one searchset page and returns the ids of its matches.
function checkPage(bundle, where, pageSize) {
  assert.equal(bundle.resourceType, 'Bundle', where);
  assert.equal(bundle.type, 'searchset', where);
  const entries = bundle.entry ?? [];
  assert.ok(entries.length <= pageSize, `${where}: ${entries.length} entries, _count was ${pageSize}`);
  assert.ok(
    (bundle.link ?? []).some((l) => l.relation === 'self'),
    `${where}: no self link`,
  );
  const ids = [];
  for (const e of entries) {
    if (e.search?.mode && e.search.mode !== 'match') continue;
    assert.equal(e.resource?.resourceType, 'Patient', `${where}: entry is not a Patient`);
    assert.ok(e.fullUrl?.endsWith(`/Patient/${e.resource.id}`), `${where}: fullUrl ${e.fullUrl}`);
    ids.push(e.resource.id);
  }
  return ids;
}

// Each created id seen exactly once, and nothing else.
function checkSeenOnce(seen, expected, who) {
  const counts = new Map();
  for (const id of seen) counts.set(id, (counts.get(id) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  assert.deepEqual(twice, [], `${who}: ids seen more than once`);
  const missing = expected.filter((id) => !counts.has(id));
  assert.deepEqual(missing, [], `${who}: created ids never seen`);
  const extra = seen.filter((id) => !expected.includes(id));
  assert.deepEqual(extra, [], `${who}: ids that do not match the search`);
}

test('fhir-kit-client: paging through a search follows next links to the end', async () => {
  const client = fhirKit();
  let bundle = await call('fhir-kit search page 1', () =>
    client.search({ resourceType: 'Patient', searchParams: { identifier: identifierParam, _count: kPageSize } }),
  );
  const seen = [];
  let pages = 0;
  for (;;) {
    pages++;
    assert.ok(pages <= kCreated + 1, 'the next links do not end');
    seen.push(...checkPage(bundle, `page ${pages}`, kPageSize));
    if (bundle.total !== undefined) assert.equal(bundle.total, kCreated, `page ${pages}: total`);
    const hasNext = (bundle.link ?? []).some((l) => l.relation === 'next');
    if (!hasNext) break;
    const current = bundle;
    bundle = await call(`fhir-kit search page ${pages + 1}`, () => client.nextPage({ bundle: current }));
  }
  assert.equal(pages, Math.ceil(kCreated / kPageSize), 'number of pages');
  checkSeenOnce(seen, createdIds, 'fhir-kit-client');
});

test('MedplumClient: searchResourcePages sees every match exactly once', async () => {
  const client = medplum();
  const seen = [];
  let pages = 0;
  for await (const page of client.searchResourcePages('Patient', {
    identifier: identifierParam,
    _count: String(kPageSize),
  })) {
    pages++;
    collect(`medplum searchResourcePages page ${pages}`, page);
    assert.ok(pages <= kCreated + 1, 'the next links do not end');
    assert.ok(page.bundle, 'page without its Bundle');
    seen.push(...checkPage(page.bundle, `page ${pages}`, kPageSize));
    assert.equal(page.length, page.bundle.entry?.length ?? 0);
  }
  assert.equal(pages, Math.ceil(kCreated / kPageSize), 'number of pages');
  checkSeenOnce(seen, createdIds, 'MedplumClient');
});

test('MedplumClient: one large page holds every match', async () => {
  const client = medplum();
  const found = await call('medplum searchResources', () =>
    client.searchResources('Patient', { identifier: identifierParam, _count: '100' }),
  );
  checkSeenOnce(
    found.map((r) => r.id),
    createdIds,
    'searchResources',
  );
});

test('MedplumClient: searchOne by _id', async () => {
  const client = medplum();
  const one = await call('medplum searchOne', () => client.searchOne('Patient', { _id: createdIds[5] }));
  assert.equal(one?.id, createdIds[5]);
});

test('fhir-kit-client: search by reference finds the subject\'s observations', async () => {
  const bundle = await call('fhir-kit search Observation?subject', () =>
    fhirKit().search({
      resourceType: 'Observation',
      searchParams: { subject: `Patient/${subjectId}`, _count: 50 },
    }),
  );
  assert.equal(bundle.type, 'searchset');
  const ids = (bundle.entry ?? []).map((e) => e.resource?.id).sort();
  assert.deepEqual(ids, [...observationIds].sort());
});

test('fhir-kit-client: a search that matches nothing answers an empty searchset', async () => {
  const bundle = await call('fhir-kit empty search', () =>
    fhirKit().search({
      resourceType: 'Patient',
      searchParams: { identifier: `${markerSystem}|${runId}-nothing` },
    }),
  );
  assert.equal(bundle.type, 'searchset');
  assert.equal(bundle.entry?.length ?? 0, 0);
  if (bundle.total !== undefined) assert.equal(bundle.total, 0);
  assert.ok(!(bundle.link ?? []).some((l) => l.relation === 'next'), 'an empty result has a next link');
});

test('deleted resources leave the search results', async () => {
  const client = medplum();
  const removed = createdIds[createdIds.length - 1];
  await call('medplum deleteResource', () => client.deleteResource('Patient', removed));
  const found = await call('medplum searchResources after delete', () =>
    client.searchResources('Patient', { identifier: identifierParam, _count: '100' }),
  );
  checkSeenOnce(
    found.map((r) => r.id),
    createdIds.filter((id) => id !== removed),
    'after delete',
  );
});

validateReturnedResources();
