// Instance and type history through fhir-kit-client and MedplumClient, with paging.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  call,
  fhirKit,
  markedPatient,
  medplum,
  validateReturnedResources,
} from './lib/harness.mjs';

// Creates a Patient, updates it twice and deletes it: four versions.
async function patientWithFourVersions(client, family) {
  const created = await call('fhir-kit create history patient', () =>
    client.create({ resourceType: 'Patient', body: markedPatient(family) }),
  );
  const v2 = await call('fhir-kit update history patient (v2)', () =>
    client.update({ resourceType: 'Patient', id: created.id, body: { ...created, gender: 'female' } }),
  );
  await call('fhir-kit update history patient (v3)', () =>
    client.update({ resourceType: 'Patient', id: created.id, body: { ...v2, active: false } }),
  );
  await call('fhir-kit delete history patient (v4)', () => client.delete({ resourceType: 'Patient', id: created.id }));
  return created.id;
}

test('fhir-kit-client: instance history lists every version, newest first', async () => {
  const client = fhirKit();
  const id = await patientWithFourVersions(client, 'FhirKitHistory');
  const bundle = await call('fhir-kit history', () => client.history({ resourceType: 'Patient', id }));
  assert.equal(bundle.resourceType, 'Bundle');
  assert.equal(bundle.type, 'history');
  if (bundle.total !== undefined) assert.equal(bundle.total, 4);
  const entries = bundle.entry ?? [];
  assert.equal(entries.length, 4);

  const [deleted, v3, v2, v1] = entries;
  assert.equal(deleted.request?.method, 'DELETE');
  assert.equal(deleted.resource, undefined, 'a delete entry carries no resource');
  assert.match(deleted.response?.status ?? '', /^20[04]\b/);
  assert.equal(v3.resource?.meta?.versionId, '3');
  assert.equal(v3.resource?.active, false);
  assert.equal(v3.request?.method, 'PUT');
  assert.equal(v2.resource?.meta?.versionId, '2');
  assert.equal(v2.resource?.gender, 'female');
  assert.equal(v1.resource?.meta?.versionId, '1');
  assert.equal(v1.request?.method, 'POST');
  for (const e of [v3, v2, v1]) {
    assert.equal(e.resource.id, id);
    assert.ok(e.fullUrl?.endsWith(`/Patient/${id}`), `fullUrl ${e.fullUrl}`);
  }
  // Versions are listed newest first by lastUpdated too.
  const times = [v3, v2, v1].map((e) => Date.parse(e.resource.meta.lastUpdated));
  assert.deepEqual(times, [...times].sort((a, b) => b - a));
});

test('MedplumClient: readHistory and readVersion agree', async () => {
  const client = medplum();
  const id = await patientWithFourVersions(fhirKit(), 'MedplumHistory');
  const bundle = await call('medplum readHistory', () => client.readHistory('Patient', id));
  assert.equal(bundle.type, 'history');
  const versions = (bundle.entry ?? []).filter((e) => e.resource).map((e) => e.resource.meta.versionId);
  assert.deepEqual(versions, ['3', '2', '1']);
  for (const e of bundle.entry.filter((x) => x.resource)) {
    const v = e.resource.meta.versionId;
    const read = await call(`medplum readVersion ${v}`, () => client.readVersion('Patient', id, v));
    assert.deepEqual(read, e.resource, `version ${v} differs between history and vread`);
  }
});

test('fhir-kit-client: type history pages follow next links and list each version once', async () => {
  const client = fhirKit();
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await patientWithFourVersions(client, `TypeHistory${i}`));
  const ours = new Set(ids);

  let bundle = await call('fhir-kit type history page 1', () =>
    client.request('Patient/_history?_count=3'),
  );
  const seen = new Map(); // "id/version" -> times seen
  let pages = 0;
  for (;;) {
    pages++;
    assert.equal(bundle.type, 'history');
    assert.ok((bundle.entry ?? []).length <= 3, `page ${pages}: more entries than _count`);
    for (const e of bundle.entry ?? []) {
      const id = e.resource?.id ?? e.request?.url?.split('/')[1];
      if (!ours.has(id)) continue; // other tests' Patients
      const version = e.resource?.meta?.versionId ?? /^W\/"(\d+)"$/.exec(e.response?.etag ?? '')?.[1];
      const key = `${id}/${version}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    if (!(bundle.link ?? []).some((l) => l.relation === 'next')) break;
    assert.ok(pages < 1000, 'the next links do not end');
    const current = bundle;
    bundle = await call(`fhir-kit type history page ${pages + 1}`, () => client.nextPage({ bundle: current }));
  }
  assert.ok(pages >= 4, `12 versions in pages of 3 took only ${pages} page(s)`);
  const twice = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
  assert.deepEqual(twice, [], 'versions listed more than once');
  // Three live versions and one delete per Patient.
  for (const id of ids) {
    const versions = [...seen.keys()].filter((k) => k.startsWith(`${id}/`));
    assert.equal(versions.length, 4, `Patient/${id}: ${versions.join(', ')}`);
  }
});

validateReturnedResources();
