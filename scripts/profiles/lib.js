// lib.js - shared helpers for the Loopgate profile package scripts (build.js
// writes the package, check.js verifies it): where the definitions live, how
// canonical resources are loaded and looked up, and ElementDefinition
// id/path helpers. Plain Node 20, no network, no npm dependencies.
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
// LG_PROFILES_PKG lets the test point the scripts at a scratch copy.
const PKG_DIR = process.env.LG_PROFILES_PKG || path.join(ROOT, 'profiles', 'package');
const R4_DIR = path.join(ROOT, 'node_modules', '@medplum', 'definitions', 'dist', 'fhir', 'r4');
// Reference material is read in place beside the project (see README).
const SHARED_DIR = process.env.LG_SHARED_DIR || path.resolve(ROOT, '..', 'shared');
const DEP_DIRS = {
  'hl7.fhir.us.core': path.join(SHARED_DIR, 'fhir', 'packages', 'hl7.fhir.us.core#7.0.0', 'package'),
  'hl7.fhir.us.sdoh-clinicalcare':
    path.join(SHARED_DIR, 'fhir', 'packages', 'hl7.fhir.us.sdoh-clinicalcare#3.0.0', 'package'),
};

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// Canonical urls may carry "|version"; lookups ignore it (each dependency is
// pinned to one version, so there is only one candidate).
function stripVersion(url) {
  const bar = url.indexOf('|');
  return bar < 0 ? url : url.slice(0, bar);
}

// A registry of canonical resources by url, remembering where each came from.
class Registry {
  constructor() { this.byUrl = new Map(); }
  add(res, origin) {
    if (!res || typeof res.url !== 'string') return;
    if (!this.byUrl.has(res.url)) this.byUrl.set(res.url, { res, origin });
  }
  get(url) {
    const hit = this.byUrl.get(stripVersion(url));
    return hit ? hit.res : undefined;
  }
  origin(url) {
    const hit = this.byUrl.get(stripVersion(url));
    return hit ? hit.origin : undefined;
  }
}

let baseCache = null;
// The base R4 definitions (StructureDefinitions, ValueSets, CodeSystems) and
// the two dependency packages. The R4 bundles are large (~35 MB), so this is
// loaded once per process.
function loadDependencies() {
  if (baseCache) return baseCache;
  const reg = new Registry();
  for (const f of ['profiles-types.json', 'profiles-resources.json', 'profiles-others.json', 'valuesets.json',
    'v3-codesystems.json', 'v2-tables.json', 'extension-definitions.json', 'search-parameters.json']) {
    const file = path.join(R4_DIR, f);
    if (!fs.existsSync(file)) continue;
    for (const e of readJson(file).entry || []) reg.add(e.resource, 'hl7.fhir.r4.core');
  }
  for (const [name, dir] of Object.entries(DEP_DIRS)) {
    for (const f of fs.readdirSync(dir).sort()) {
      if (!f.endsWith('.json') || f === 'package.json' || f.startsWith('.')) continue;
      reg.add(readJson(path.join(dir, f)), name);
    }
  }
  baseCache = reg;
  return reg;
}

// "Patient.extension:race.value[x]" -> "Patient.extension.value[x]".
function idToPath(id) {
  return id.split('.').map((seg) => seg.split(':')[0]).join('.');
}

// The id of the element a slice belongs to: "A.b:s" -> "A.b"; null when the
// last segment is not a slice.
function unslicedId(id) {
  const segs = id.split('.');
  const last = segs[segs.length - 1];
  const colon = last.indexOf(':');
  if (colon < 0) return null;
  segs[segs.length - 1] = last.slice(0, colon);
  return segs.join('.');
}

function parentId(id) {
  const dot = id.lastIndexOf('.');
  return dot < 0 ? null : id.slice(0, dot);
}

// ElementDefinition property order (R4), so generated JSON reads like the
// spec's own snapshots whatever order the properties were merged in.
const ED_ORDER = ['id', 'extension', 'modifierExtension', 'path', 'representation', 'sliceName',
  'sliceIsConstraining', 'label', 'code', 'slicing', 'short', 'definition', 'comment',
  'requirements', 'alias', 'min', 'max', 'base', 'contentReference', 'type', 'defaultValue',
  'meaningWhenMissing', 'orderMeaning', 'fixed', 'pattern', 'example', 'minValue', 'maxValue',
  'maxLength', 'condition', 'constraint', 'mustSupport', 'isModifier', 'isModifierReason',
  'isSummary', 'binding', 'mapping'];

function edRank(key) {
  const k = key.startsWith('_') ? key.slice(1) : key;
  let i = ED_ORDER.indexOf(k);
  if (i < 0) i = ED_ORDER.findIndex((p) => /^(defaultValue|fixed|pattern|minValue|maxValue)$/.test(p) &&
    k.startsWith(p) && k.length > p.length && /[A-Z]/.test(k[p.length]));
  return (i < 0 ? ED_ORDER.length : i) * 2 + (key.startsWith('_') ? 1 : 0);
}

function orderElement(el) {
  const out = {};
  for (const k of Object.keys(el).sort((a, b) => edRank(a) - edRank(b))) out[k] = el[k];
  return out;
}

// Elements Medplum adds to the R4 datatypes it ships (Meta.project and
// friends); they are not R4 and must not leak into Loopgate's snapshots.
const VENDOR_ELEMENTS = new Set(['Meta.project', 'Meta.author', 'Meta.onBehalfOf', 'Meta.account',
  'Meta.accounts', 'Meta.compartment']);
function isVendorElement(el) {
  return VENDOR_ELEMENTS.has(el.path);
}

// The FHIR type of an ElementDefinition.type entry: its code, or for
// System.String-typed primitives (Element.id, Extension.url) the type named
// by the structuredefinition-fhir-type extension.
function fhirTypeOf(t) {
  for (const e of t.extension || []) {
    if (e.url === 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type') return e.valueUrl || e.valueUri;
  }
  return t.code;
}

function clone(x) { return JSON.parse(JSON.stringify(x)); }

module.exports = {
  ROOT, PKG_DIR, R4_DIR, SHARED_DIR, DEP_DIRS, readJson, stripVersion, Registry,
  loadDependencies, idToPath, unslicedId, parentId, orderElement, clone, isVendorElement, fhirTypeOf,
};
