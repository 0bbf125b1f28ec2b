#!/usr/bin/env node
// build.js - generates Loopgate's FHIR package (profiles/package/) from the
// authored content in content.js: computes every StructureDefinition's
// snapshot from its parent's snapshot plus the differential, and writes one
// JSON resource per file, package.json and .index.json.
//
//   node scripts/profiles/build.js          write the files
//   node scripts/profiles/build.js --check  exit 1 if the committed files differ
//
// Snapshot generation follows the FHIR profiling rules Loopgate needs:
// constraints on existing elements (cardinality, fixed/pattern values, types
// and target profiles, bindings, slicing, invariants), new slices (including
// extension slices by url with type.profile) placed after the sliced element's
// existing slices, and children of datatype-typed elements expanded from the
// datatype's (or the extension's) own snapshot when the differential reaches
// into them. Anything that would loosen the parent (a wider cardinality, a
// type the parent does not allow) is an error, not a silent snapshot.
'use strict';

const fs = require('fs');
const path = require('path');
const lib = require('./lib');
const content = require('./content');

function fail(msg) {
  throw new Error(msg);
}

function maxNum(m) {
  return m === '*' ? Infinity : Number(m);
}

// The element definitions of a datatype or extension below its root,
// re-rooted at `prefixId`/`prefixPath` (e.g. Extension.url ->
// Patient.extension:x.url / Patient.extension.url).
function typeChildren(reg, el, prefixId, prefixPath) {
  const types = el.type || [];
  if (types.length !== 1) fail(`${el.id}: cannot expand children of an element with ${types.length} types`);
  const t = types[0];
  let def;
  if (t.profile && t.profile.length === 1) def = reg.get(t.profile[0]);
  if (!def) def = reg.get(`http://hl7.org/fhir/StructureDefinition/${t.code}`);
  if (!def || !def.snapshot) fail(`${el.id}: no snapshot for type ${t.code}`);
  const rootId = def.snapshot.element[0].id;
  return def.snapshot.element.slice(1).filter((src) => !lib.isVendorElement(src)).map((src) => {
    const c = lib.clone(src);
    c.id = prefixId + src.id.slice(rootId.length);
    c.path = prefixPath + src.path.slice(rootId.length);
    return c;
  });
}

// Index one past the last element of `id`'s subtree (its children, slices
// and their children).
function subtreeEnd(snap, idx) {
  const id = snap[idx].id;
  let j = idx + 1;
  while (j < snap.length && (snap[j].id.startsWith(id + '.') || snap[j].id.startsWith(id + ':'))) j++;
  return j;
}

// Creates the snapshot element `id` (a new slice, or a child of an element
// whose datatype has not been expanded yet) and returns its index.
function createElement(reg, sd, snap, id) {
  const find = (x) => snap.findIndex((e) => e.id === x);
  const sliced = lib.unslicedId(id);
  if (sliced) {
    let bi = find(sliced);
    if (bi < 0) bi = createElement(reg, sd, snap, sliced);
    const base = snap[bi];
    if (!base.slicing) {
      // Extensions are always sliced by url; anything else must declare it.
      if (!/(^|\.)(extension|modifierExtension)$/.test(base.path)) fail(`${sd.id}: ${id}: ${sliced} is not sliced`);
      base.slicing = { discriminator: [{ type: 'value', path: 'url' }], description: 'Extensions are always sliced by (at least) url', rules: 'open' };
    }
    const slice = lib.clone(base);
    delete slice.slicing;
    slice.id = id;
    slice.sliceName = id.slice(sliced.length + 1);
    // A backbone element's children come with its slices; a datatype's
    // children are expanded later, only if the differential reaches them.
    const children = [];
    for (let j = bi + 1; j < snap.length && snap[j].id.startsWith(sliced + '.'); j++) {
      const c = lib.clone(snap[j]);
      c.id = id + snap[j].id.slice(sliced.length);
      children.push(c);
    }
    const at = subtreeEnd(snap, bi);
    snap.splice(at, 0, slice, ...children);
    return at;
  }
  const pid = lib.parentId(id);
  if (!pid) fail(`${sd.id}: unknown root element ${id}`);
  let pi = find(pid);
  if (pi < 0) pi = createElement(reg, sd, snap, pid);
  if (pi + 1 < snap.length && snap[pi + 1].id.startsWith(pid + '.')) fail(`${sd.id}: ${id} is not an element of ${pid}`);
  const kids = typeChildren(reg, snap[pi], pid, snap[pi].path);
  snap.splice(pi + 1, 0, ...kids);
  const i = find(id);
  if (i < 0) fail(`${sd.id}: ${id} is not an element of ${pid}`);
  return i;
}

// Applies one differential element to its snapshot element, refusing to
// loosen what the parent says.
// A new slice may have a lower min than the element it slices (the slices
// together must still meet it), so `newSlice` relaxes that one check.
function merge(sd, el, diff, newSlice) {
  const where = `${sd.id}: ${diff.id}`;
  for (const [k, v] of Object.entries(diff)) {
    if (k === 'id' || k === 'path') continue;
    if (k === 'min') {
      if (v < (newSlice ? 0 : el.min)) fail(`${where}: min ${v} below the parent's ${el.min}`);
    } else if (k === 'max') {
      if (maxNum(v) > maxNum(el.max)) fail(`${where}: max ${v} above the parent's ${el.max}`);
    } else if (k === 'type') {
      // Primitive ids and urls are typed System.String with the FHIR type in
      // an extension; a differential may name either.
      const allowed = new Set((el.type || []).flatMap((t) => [t.code, lib.fhirTypeOf(t)]));
      for (const t of v) if (!allowed.has(t.code)) fail(`${where}: type ${t.code} not allowed by the parent`);
    } else if (k === 'binding') {
      if (el.binding && el.binding.strength === 'required' && v.strength !== 'required') fail(`${where}: weakens a required binding`);
    } else if (k === 'constraint') {
      el.constraint = (el.constraint || []).concat(v.map((c) => ({ ...c, source: c.source || sd.url })));
      continue;
    } else if (/^(fixed|pattern)[A-Z]/.test(k)) {
      for (const old of Object.keys(el)) {
        if (/^(fixed|pattern)[A-Z]/.test(old) && old !== k) fail(`${where}: already has ${old}`);
      }
    }
    el[k] = lib.clone(v);
  }
  if (el.min > maxNum(el.max)) fail(`${where}: min ${el.min} > max ${el.max}`);
}

// A new extension slice reads like its extension: the IG tools copy the
// extension's short and definition unless the profile gives its own.
function describeExtensionSlice(reg, el, diff) {
  if (!el.sliceName || !diff.type) return;
  const prof = diff.type[0] && diff.type[0].profile && diff.type[0].profile[0];
  const ext = prof && reg.get(prof);
  if (!ext || ext.type !== 'Extension') return;
  const root = ext.snapshot.element[0];
  if (diff.short === undefined && root.short) el.short = root.short;
  if (diff.definition === undefined && root.definition) el.definition = root.definition;
}

// A differential may name a choice element by its type ("Observation.
// valueQuantity"); the snapshot element is "Observation.value[x]".
function choiceId(snap, id) {
  const segs = id.split('.');
  let prefix = segs[0];
  for (let k = 1; k < segs.length; k++) {
    const seg = segs[k];
    const cand = `${prefix}.${seg}`;
    if (!snap.some((e) => e.id === cand || e.id.startsWith(cand + '.') || e.id.startsWith(cand + ':'))) {
      const m = /^([a-z][A-Za-z]*?)([A-Z][A-Za-z]*)(:.*)?$/.exec(seg);
      const choice = m && snap.find((e) => e.id === `${prefix}.${m[1]}[x]`);
      const t = choice && (choice.type || []).find((x) => x.code.toLowerCase() === m[2].toLowerCase());
      if (t) {
        // Naming the type restricts the choice to it.
        if (choice.type.length > 1) choice.type = [t];
        prefix = `${prefix}.${m[1]}[x]${m[3] || ''}`;
        continue;
      }
    }
    prefix = cand;
  }
  return prefix;
}

function generateSnapshot(reg, sd) {
  const parent = reg.get(sd.baseDefinition);
  if (!parent || !parent.snapshot) fail(`${sd.id}: parent ${sd.baseDefinition} not found`);
  if (parent.type !== sd.type) fail(`${sd.id}: type ${sd.type} differs from the parent's ${parent.type}`);
  const snap = lib.clone(parent.snapshot.element);
  for (const d0 of sd.differential.element) {
    const d = { ...d0, id: choiceId(snap, d0.id) };
    let i = snap.findIndex((e) => e.id === d.id);
    const isNew = i < 0;
    if (isNew) i = createElement(reg, sd, snap, d.id);
    merge(sd, snap[i], d, isNew && lib.unslicedId(d.id) !== null);
    describeExtensionSlice(reg, snap[i], d);
  }
  return snap.map(lib.orderElement);
}

// StructureDefinition properties in R4 order.
const SD_ORDER = ['resourceType', 'id', 'meta', 'text', 'extension', 'url', 'identifier', 'version', 'name', 'title',
  'status', 'experimental', 'date', 'publisher', 'contact', 'description', 'useContext', 'jurisdiction',
  'purpose', 'copyright', 'keyword', 'fhirVersion', 'mapping', 'kind', 'abstract', 'context',
  'contextInvariant', 'type', 'baseDefinition', 'derivation', 'snapshot', 'differential'];

function finishStructureDefinition(reg, sd) {
  sd.differential.element = sd.differential.element.map((d) => lib.orderElement({ id: d.id, path: lib.idToPath(d.id), ...d }));
  sd.snapshot = { element: generateSnapshot(reg, sd) };
  const out = {};
  for (const k of SD_ORDER) if (sd[k] !== undefined) out[k] = sd[k];
  for (const k of Object.keys(sd)) if (out[k] === undefined) fail(`${sd.id}: unexpected property ${k}`);
  return out;
}

function fileName(res) {
  return `${res.resourceType}-${res.id}.json`;
}

function indexEntry(file, res) {
  const e = { filename: file, resourceType: res.resourceType, id: res.id };
  for (const k of ['url', 'version', 'kind', 'type']) if (res[k] !== undefined) e[k] = res[k];
  return e;
}

function render(x) {
  return JSON.stringify(x, null, 2) + '\n';
}

// Everything build.js owns under profiles/package/, as { relative path: text }.
// Examples are written by hand; only their index is generated.
function generate() {
  const reg = lib.loadDependencies();
  const files = {};
  const index = [];
  // Own definitions first so profiles can use extensions defined beside them.
  const resources = content.resources();
  const sds = resources.filter((r) => r.resourceType === 'StructureDefinition');
  // Extensions before the profiles that slice them (their snapshots feed
  // describeExtensionSlice and any child expansion).
  sds.sort((a, b) => (a.type === 'Extension' ? 0 : 1) - (b.type === 'Extension' ? 0 : 1));
  const built = new Map();
  for (const sd of sds) {
    const out = finishStructureDefinition(reg, sd);
    reg.add(out, 'loopgate.medi-cal');
    built.set(sd.id, out);
  }
  for (const r of resources) {
    const res = r.resourceType === 'StructureDefinition' ? built.get(r.id) : r;
    if (r.resourceType !== 'StructureDefinition') reg.add(res, 'loopgate.medi-cal');
    const f = fileName(res);
    if (files[f]) fail(`two resources write ${f}`);
    files[f] = render(res);
    index.push(indexEntry(f, res));
  }
  files['package.json'] = render(content.packageJson());
  files['.index.json'] = render({ 'index-version': 1, files: index });
  const exDir = path.join(lib.PKG_DIR, 'example');
  const exIndex = [];
  if (fs.existsSync(exDir)) {
    for (const f of fs.readdirSync(exDir).sort()) {
      if (!f.endsWith('.json') || f.startsWith('.')) continue;
      exIndex.push(indexEntry(f, lib.readJson(path.join(exDir, f))));
    }
  }
  files['example/.index.json'] = render({ 'index-version': 1, files: exIndex });
  return files;
}

// Files under profiles/package/ that build.js would have written but are not
// in `files` (stale generated artifacts); hand-written examples are exempt.
function staleFiles(files) {
  const out = [];
  if (!fs.existsSync(lib.PKG_DIR)) return out;
  for (const f of fs.readdirSync(lib.PKG_DIR)) {
    if (f === 'example') continue;
    if (!(f in files)) out.push(f);
  }
  return out;
}

function main() {
  const check = process.argv.includes('--check');
  const files = generate();
  let bad = 0;
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(lib.PKG_DIR, rel);
    if (check) {
      const cur = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
      if (cur !== text) {
        console.error(`profiles: ${rel} ${cur === null ? 'is missing' : 'differs from the generated file'}`);
        bad++;
      }
    } else {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
    }
  }
  for (const f of staleFiles(files)) {
    if (check) {
      console.error(`profiles: ${f} is not generated by build.js`);
      bad++;
    } else {
      fs.rmSync(path.join(lib.PKG_DIR, f), { recursive: true });
    }
  }
  if (check && bad) {
    console.error(`profiles: ${bad} file(s) out of date; run node scripts/profiles/build.js`);
    process.exit(1);
  }
  console.log(`profiles: ${Object.keys(files).length} files ${check ? 'up to date' : 'written'} in ${path.relative(process.cwd(), lib.PKG_DIR) || '.'}`);
}

if (require.main === module) {
  try {
    main();
  } catch (e) {
    console.error(`profiles: ${e.message}`);
    process.exit(1);
  }
}

module.exports = { generate, generateSnapshot };
