// Create, read, update, vread and delete through fhir-kit-client and MedplumClient.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Client } from 'fhir-kit-client';

import {
  call,
  errorStatus,
  expectFailure,
  fhirKit,
  issueCodes,
  markedPatient,
  medplum,
  parseLocation,
  validateReturnedResources,
} from './lib/harness.mjs';

test('fhir-kit-client: the CapabilityStatement is readable', async () => {
  const cs = await call('fhir-kit capabilityStatement', () => fhirKit().capabilityStatement());
  assert.equal(cs.resourceType, 'CapabilityStatement');
  assert.equal(cs.fhirVersion, '4.0.1');
  assert.ok(cs.rest?.some((r) => r.mode === 'server'), 'no rest entry in server mode');
});

test('MedplumClient: the CapabilityStatement is readable', async () => {
  const client = medplum();
  const cs = await call('medplum get metadata', () => client.get(client.fhirUrl('metadata')));
  assert.equal(cs.resourceType, 'CapabilityStatement');
});

test('fhir-kit-client: create, read, update, vread, delete', async () => {
  const client = fhirKit();

  const created = await call('fhir-kit create', () =>
    client.create({ resourceType: 'Patient', body: markedPatient('FhirKitCrud') }),
  );
  const { response } = Client.httpFor(created);
  assert.equal(response.status, 201);
  assert.equal(created.resourceType, 'Patient');
  assert.match(created.id, /^[A-Za-z0-9\-.]{1,64}$/);
  assert.equal(created.meta?.versionId, '1');
  assert.ok(created.meta?.lastUpdated, 'meta.lastUpdated missing');
  const location = parseLocation(response.headers.get('location'));
  assert.deepEqual(location, { type: 'Patient', id: created.id, version: '1' });
  assert.equal(response.headers.get('etag'), 'W/"1"');

  const read = await call('fhir-kit read', () => client.read({ resourceType: 'Patient', id: created.id }));
  assert.equal(read.id, created.id);
  assert.deepEqual(read.name, [{ family: 'FhirKitCrud', given: ['Test'] }]);
  assert.equal(read.birthDate, '1970-01-01');

  const updated = await call('fhir-kit update', () =>
    client.update({
      resourceType: 'Patient',
      id: created.id,
      body: { ...read, gender: 'female', active: true },
    }),
  );
  assert.equal(Client.httpFor(updated).response.status, 200);
  assert.equal(updated.meta?.versionId, '2');
  assert.equal(updated.gender, 'female');

  const v1 = await call('fhir-kit vread 1', () =>
    client.vread({ resourceType: 'Patient', id: created.id, version: '1' }),
  );
  assert.equal(v1.gender, 'unknown');
  assert.equal(v1.meta?.versionId, '1');
  const v2 = await call('fhir-kit vread 2', () =>
    client.vread({ resourceType: 'Patient', id: created.id, version: '2' }),
  );
  assert.equal(v2.gender, 'female');
  assert.equal(v2.active, true);

  // An update that names a stale version is refused and changes nothing.
  const stale = await expectFailure('fhir-kit update with a stale If-Match', () =>
    client.update({
      resourceType: 'Patient',
      id: created.id,
      body: { ...updated, gender: 'male' },
      options: { headers: { 'If-Match': 'W/"1"' } },
    }),
  );
  assert.ok([409, 412].includes(errorStatus(stale)), `status ${errorStatus(stale)}`);
  const after = await call('fhir-kit read after stale update', () =>
    client.read({ resourceType: 'Patient', id: created.id }),
  );
  assert.equal(after.gender, 'female');
  assert.equal(after.meta?.versionId, '2');

  await call('fhir-kit delete', () => client.delete({ resourceType: 'Patient', id: created.id }));
  const gone = await expectFailure('fhir-kit read after delete', () =>
    client.read({ resourceType: 'Patient', id: created.id }),
  );
  assert.equal(errorStatus(gone), 410);
  // Older versions stay readable.
  const v2again = await call('fhir-kit vread after delete', () =>
    client.vread({ resourceType: 'Patient', id: created.id, version: '2' }),
  );
  assert.equal(v2again.gender, 'female');
});

test('fhir-kit-client: reading an id that never existed answers 404', async () => {
  const err = await expectFailure('fhir-kit read unknown', () =>
    fhirKit().read({ resourceType: 'Patient', id: 'no-such-patient-anywhere' }),
  );
  assert.equal(errorStatus(err), 404);
});

test('MedplumClient: create, read, update, vread, delete', async () => {
  const client = medplum();

  const created = await call('medplum createResource', () =>
    client.createResource(markedPatient('MedplumCrud')),
  );
  assert.equal(created.resourceType, 'Patient');
  assert.match(created.id, /^[A-Za-z0-9\-.]{1,64}$/);
  assert.equal(created.meta?.versionId, '1');

  const read = await call('medplum readResource', () => client.readResource('Patient', created.id));
  assert.equal(read.id, created.id);
  assert.deepEqual(read.name, [{ family: 'MedplumCrud', given: ['Test'] }]);

  const updated = await call('medplum updateResource', () =>
    client.updateResource({ ...read, telecom: [{ system: 'phone', value: '+33 1 23 45 67 89' }] }),
  );
  assert.equal(updated.meta?.versionId, '2');
  assert.equal(updated.telecom?.[0]?.value, '+33 1 23 45 67 89');

  const v1 = await call('medplum readVersion', () => client.readVersion('Patient', created.id, '1'));
  assert.equal(v1.meta?.versionId, '1');
  assert.equal(v1.telecom, undefined);

  // A second Patient refers to the first; the reference survives as written.
  const linked = await call('medplum createResource with a reference', () =>
    client.createResource(
      markedPatient('MedplumLinked', { link: [{ other: { reference: `Patient/${created.id}` }, type: 'seealso' }] }),
    ),
  );
  assert.equal(linked.link?.[0]?.other?.reference, `Patient/${created.id}`);
  const resolved = await call('medplum readReference', () => client.readReference(linked.link[0].other));
  assert.equal(resolved.id, created.id);

  await call('medplum deleteResource', () => client.deleteResource('Patient', created.id));
  await call('medplum deleteResource (second)', () => client.deleteResource('Patient', linked.id));
  const gone = await expectFailure('medplum readResource after delete', () =>
    client.readResource('Patient', created.id),
  );
  // 410 Gone: Medplum turns the answer into an OperationOutcomeError carrying the server's outcome.
  assert.ok(issueCodes(gone).length > 0, `no OperationOutcome in the error: ${gone}`);
  assert.ok(
    issueCodes(gone).some((c) => c === 'deleted' || c === 'not-found'),
    `issue codes ${issueCodes(gone)}`,
  );
});

test('MedplumClient: a body whose resourceType does not match the URL is refused', async () => {
  const client = medplum();
  const err = await expectFailure('medplum post mismatched type', () =>
    client.post(client.fhirUrl('Observation'), markedPatient('Mismatch')),
  );
  assert.ok(issueCodes(err).length > 0, `no OperationOutcome in the error: ${err}`);
});

validateReturnedResources();
