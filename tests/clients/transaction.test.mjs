// Transaction Bundles with urn:uuid references between entries, through fhir-kit-client and
// MedplumClient: the response, the references rewritten to the ids the server assigned, and
// all-or-nothing on failure.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';

import {
  call,
  expectFailure,
  fhirKit,
  markedPatient,
  markerSystem,
  medplum,
  parseLocation,
  runId,
  validateReturnedResources,
} from './lib/harness.mjs';

const kObservationCodes = ['8867-4', '8310-5'];

// A transaction: one Patient and Observations whose subject is the Patient's urn:uuid.
function patientWithObservations(family) {
  const patientUrn = `urn:uuid:${randomUUID()}`;
  return {
    patientUrn,
    bundle: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: patientUrn,
          resource: markedPatient(family),
          request: { method: 'POST', url: 'Patient' },
        },
        ...kObservationCodes.map((code) => ({
          fullUrl: `urn:uuid:${randomUUID()}`,
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { coding: [{ system: 'http://loinc.org', code }] },
            subject: { reference: patientUrn },
            effectiveDateTime: '2024-05-01T10:00:00Z',
          },
          request: { method: 'POST', url: 'Observation' },
        })),
      ],
    },
  };
}

// Checks a transaction-response to the bundle above; returns the created [type, id] pairs.
function checkResponse(response, request) {
  assert.equal(response.resourceType, 'Bundle');
  assert.equal(response.type, 'transaction-response');
  assert.equal(response.entry?.length, request.entry.length, 'one response entry per request entry');
  return response.entry.map((e, i) => {
    const status = e.response?.status ?? '';
    assert.match(status, /^201\b/, `entry ${i}: status '${status}'`);
    const loc = parseLocation(e.response?.location);
    assert.ok(loc, `entry ${i}: response.location '${e.response?.location}' is not Type/id[/_history/v]`);
    assert.equal(loc.type, request.entry[i].resource.resourceType, `entry ${i}: location type`);
    if (loc.version !== undefined) assert.equal(loc.version, '1', `entry ${i}: location version`);
    if (e.resource) assert.equal(e.resource.id, loc.id, `entry ${i}: resource id and location`);
    return loc;
  });
}

test('fhir-kit-client: a transaction creates a Patient and Observations that reference it', async () => {
  const client = fhirKit();
  const { bundle } = patientWithObservations('FhirKitTx');
  const response = await call('fhir-kit transaction', () => client.transaction({ body: bundle }));
  const [patient, ...observations] = checkResponse(response, bundle);

  const p = await call('fhir-kit read tx patient', () => client.read({ resourceType: 'Patient', id: patient.id }));
  assert.equal(p.name?.[0]?.family, 'FhirKitTx');
  for (const [i, o] of observations.entries()) {
    const obs = await call(`fhir-kit read tx observation ${i}`, () =>
      client.read({ resourceType: 'Observation', id: o.id }),
    );
    assert.equal(obs.code.coding[0].code, kObservationCodes[i]);
    assert.equal(
      obs.subject?.reference,
      `Patient/${patient.id}`,
      'the urn:uuid reference was not rewritten to the created Patient',
    );
  }
});

test('MedplumClient: executeBatch runs a transaction with urn:uuid references', async () => {
  const client = medplum();
  const { bundle } = patientWithObservations('MedplumTx');
  const response = await call('medplum executeBatch', () => client.executeBatch(bundle));
  const [patient, ...observations] = checkResponse(response, bundle);

  for (const o of observations) {
    const obs = await call('medplum readResource tx observation', () => client.readResource('Observation', o.id));
    assert.equal(obs.subject?.reference, `Patient/${patient.id}`);
    const subject = await call('medplum readReference tx subject', () => client.readReference(obs.subject));
    assert.equal(subject.name?.[0]?.family, 'MedplumTx');
  }
});

test('a transaction that fails in one entry changes nothing', async () => {
  const client = fhirKit();
  // Created first, outside the transaction, so that the transaction can update it with a stale
  // version.
  const existing = await call('fhir-kit create for rollback', () =>
    client.create({ resourceType: 'Patient', body: markedPatient('RollbackExisting') }),
  );
  const putId = `tx-rollback-${runId}`;
  const bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        // Update as create with a client-chosen id: must not exist after the rollback.
        fullUrl: `urn:uuid:${randomUUID()}`,
        resource: markedPatient('RollbackNew', { id: putId }),
        request: { method: 'PUT', url: `Patient/${putId}` },
      },
      {
        resource: { ...existing, gender: 'other' },
        request: { method: 'PUT', url: `Patient/${existing.id}`, ifMatch: 'W/"7"' },
      },
    ],
  };
  const err = await expectFailure('fhir-kit failing transaction', () => client.transaction({ body: bundle }));
  assert.ok(err.response?.status >= 400, `status ${err.response?.status}`);

  const notCreated = await expectFailure('fhir-kit read rolled-back create', () =>
    client.read({ resourceType: 'Patient', id: putId }),
  );
  assert.equal(notCreated.response?.status, 404, 'the first entry was kept although the transaction failed');
  const unchanged = await call('fhir-kit read after failed transaction', () =>
    client.read({ resourceType: 'Patient', id: existing.id }),
  );
  assert.equal(unchanged.meta?.versionId, '1');
  assert.equal(unchanged.gender, 'unknown');
});

test('MedplumClient: a batch answers each entry on its own', async () => {
  const client = medplum();
  const bundle = {
    resourceType: 'Bundle',
    type: 'batch',
    entry: [
      {
        resource: markedPatient('MedplumBatch', {
          identifier: [{ system: markerSystem, value: `${runId}-batch` }],
        }),
        request: { method: 'POST', url: 'Patient' },
      },
      { request: { method: 'GET', url: 'Patient/no-such-patient-in-batch' } },
    ],
  };
  const response = await call('medplum executeBatch (batch)', () => client.executeBatch(bundle));
  assert.equal(response.type, 'batch-response');
  assert.equal(response.entry?.length, 2);
  assert.match(response.entry[0].response?.status ?? '', /^201\b/);
  assert.match(response.entry[1].response?.status ?? '', /^404\b/);
  const created = parseLocation(response.entry[0].response?.location);
  assert.ok(created, `location '${response.entry[0].response?.location}'`);
  const read = await call('medplum read batch-created', () => client.readResource('Patient', created.id));
  assert.equal(read.name?.[0]?.family, 'MedplumBatch');
});

validateReturnedResources();
