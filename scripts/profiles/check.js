#!/usr/bin/env node
// check.js - consistency checks on the committed profiles/package/ (run by
// tests/cli/test_profiles.sh after build.js --check):
//   - every file is valid JSON; package.json names its dependencies
//   - canonical urls are unique in the package and with its dependencies,
//     and every canonical the package uses resolves in the package or a
//     dependency
//   - every snapshot element id is unique and matches its path, every
//     differential element is in the snapshot, and the generator rebuilds
//     the dependency packages' own published snapshots
//   - extensions have contexts that name real resources or elements
//   - search parameters name real base types and extensions of the package
//   - examples claim profiles of the package and conform to them, and
//     broken copies of the examples are caught (so the check can fail)
// Exits 1 with one line per problem.
'use strict';

const fs = require('fs');
const path = require('path');
const lib = require('./lib');
const { Validator } = require('./validate');

const problems = [];
const bad = (msg) => problems.push(msg);

function loadPackage() {
  const res = [];
  const examples = [];
  for (const [dir, list] of [[lib.PKG_DIR, res], [path.join(lib.PKG_DIR, 'example'), examples]]) {
    for (const f of fs.readdirSync(dir).sort()) {
      if (!f.endsWith('.json')) continue;
      let json;
      try {
        json = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      } catch (e) {
        bad(`${f}: invalid JSON: ${e.message}`);
        continue;
      }
      if (f === 'package.json' || f.startsWith('.')) continue;
      if (!json.resourceType) bad(`${f}: no resourceType`);
      else if (f !== `${json.resourceType}-${json.id}.json`) bad(`${f}: file name does not match ${json.resourceType}/${json.id}`);
      list.push({ file: f, res: json });
    }
  }
  return { res, examples };
}

// Canonical references made by the package's own content (the snapshot
// also carries the parents' references, which their packages vouch for).
function ownReferences(r) {
  const refs = [];
  const add = (where, url) => { if (url) refs.push({ where, url }); };
  if (r.resourceType === 'StructureDefinition') {
    add('baseDefinition', r.baseDefinition);
    for (const el of r.differential.element) {
      for (const t of el.type || []) {
        for (const p of t.profile || []) add(`${el.id} type.profile`, p);
        for (const p of t.targetProfile || []) add(`${el.id} type.targetProfile`, p);
      }
      if (el.binding && el.binding.valueSet) add(`${el.id} binding`, el.binding.valueSet);
    }
  } else if (r.resourceType === 'ValueSet') {
    for (const inc of [...(r.compose.include || []), ...(r.compose.exclude || [])]) {
      if (inc.system && inc.system.startsWith(require('./content').BASE)) add('compose system', inc.system);
      for (const v of inc.valueSet || []) add('compose valueSet', v);
    }
  } else if (r.resourceType === 'CodeSystem') {
    add('valueSet', r.valueSet);
  }
  return refs;
}

function checkStructureDefinition(reg, sd, file) {
  const els = (sd.snapshot && sd.snapshot.element) || [];
  if (!els.length) bad(`${file}: no snapshot`);
  if (!sd.differential || !sd.differential.element.length) bad(`${file}: no differential`);
  if (els.length && els[0].id !== sd.type) bad(`${file}: snapshot starts with ${els[0].id}, not ${sd.type}`);
  const ids = new Set();
  for (const el of els) {
    if (ids.has(el.id)) bad(`${file}: duplicate snapshot element id ${el.id}`);
    ids.add(el.id);
    if (lib.idToPath(el.id) !== el.path) bad(`${file}: element ${el.id} has path ${el.path}`);
    const last = el.id.split('.').pop();
    const slice = last.includes(':') ? last.slice(last.indexOf(':') + 1) : undefined;
    if (slice !== el.sliceName) bad(`${file}: element ${el.id} has sliceName ${el.sliceName}`);
    if (el.min === undefined || el.max === undefined || !el.base) bad(`${file}: element ${el.id} lacks min, max or base`);
  }
  for (const d of sd.differential.element) {
    if (!ids.has(d.id)) bad(`${file}: differential element ${d.id} is not in the snapshot`);
    if (lib.idToPath(d.id) !== d.path) bad(`${file}: differential element ${d.id} has path ${d.path}`);
  }
  const parent = reg.get(sd.baseDefinition);
  if (parent && parent.snapshot) {
    for (const pe of parent.snapshot.element) {
      if (!ids.has(pe.id)) bad(`${file}: parent element ${pe.id} missing from the snapshot`);
    }
  }
  if (sd.type === 'Extension') {
    if (!sd.context || !sd.context.length) bad(`${file}: extension without context`);
    for (const c of sd.context || []) {
      if (c.type !== 'element') bad(`${file}: context type ${c.type}`);
      const root = c.expression.split('.')[0];
      const def = reg.get(`http://hl7.org/fhir/StructureDefinition/${root}`);
      if (!def || !def.snapshot.element.some((e) => e.path === c.expression)) bad(`${file}: context ${c.expression} is not an element`);
    }
    const url = els.find((e) => e.id === 'Extension.url');
    if (!url || url.fixedUri !== sd.url) bad(`${file}: Extension.url is not fixed to ${sd.url}`);
  }
}

function checkSearchParameter(reg, sp, file, ownUrls) {
  for (const b of sp.base) {
    if (!reg.get(`http://hl7.org/fhir/StructureDefinition/${b}`)) bad(`${file}: unknown base ${b}`);
    if (!sp.expression.startsWith(`${b}.`)) bad(`${file}: expression does not start with ${b}.`);
  }
  for (const t of sp.target || []) {
    if (!reg.get(`http://hl7.org/fhir/StructureDefinition/${t}`)) bad(`${file}: unknown target ${t}`);
  }
  for (const m of sp.expression.matchAll(/extension\('([^']+)'\)/g)) {
    if (m[1].includes('/') && !ownUrls.has(m[1])) bad(`${file}: expression names unknown extension ${m[1]}`);
  }
  if (!['token', 'reference', 'string', 'date', 'uri', 'number', 'quantity', 'composite', 'special'].includes(sp.type)) {
    bad(`${file}: type ${sp.type}`);
  }
}

// The generator must reproduce what the IG tools published: regenerate the
// snapshot of every constraint StructureDefinition in the dependency packages
// from its differential and compare element ids, cardinality, types (with
// profiles), fixed/pattern values, bindings, slicing and invariant keys.
// Differences allowed: extension elements always carry their url slicing in
// our snapshots (some published ones leave it implicit), and US Core's
// vital-signs profile weakens a required binding of its parent, which the
// generator refuses by design.
const EXPECTED_REFUSALS = { 'us-core-vital-signs': 'weakens a required binding' };
function crossCheckGenerator(reg) {
  const { generateSnapshot } = require('./build');
  const summary = (e) => JSON.stringify({
    id: e.id, min: e.min, max: e.max, sliceName: e.sliceName,
    type: (e.type || []).map((t) => [t.code, t.profile || [], t.targetProfile || []]),
    fixed: Object.keys(e).filter((k) => /^(fixed|pattern)[A-Z]/.test(k)).map((k) => [k, e[k]]),
    binding: e.binding ? [e.binding.strength, e.binding.valueSet] : null,
    slicing: !/(^|\.)(extension|modifierExtension)$/.test(e.path) && e.slicing ? e.slicing.discriminator : null,
    constraint: (e.constraint || []).map((c) => c.key).sort(),
  });
  let same = 0;
  for (const [name, dir] of Object.entries(lib.DEP_DIRS)) {
    for (const f of fs.readdirSync(dir).sort()) {
      if (!/^structuredefinition-.*\.json$/i.test(f)) continue;
      const sd = lib.readJson(path.join(dir, f));
      if (sd.derivation !== 'constraint' || !sd.snapshot) continue;
      let snap;
      try {
        snap = generateSnapshot(reg, lib.clone(sd));
      } catch (e) {
        if (EXPECTED_REFUSALS[sd.id] && e.message.includes(EXPECTED_REFUSALS[sd.id])) continue;
        bad(`generator cannot rebuild ${name} ${sd.id}: ${e.message}`);
        continue;
      }
      const ours = snap.map(summary);
      const theirs = sd.snapshot.element.map(summary);
      const k = ours.findIndex((x, i) => x !== theirs[i]);
      if (k >= 0 || ours.length !== theirs.length) {
        const at = k >= 0 ? k : Math.min(ours.length, theirs.length);
        bad(`generator differs from the published ${name} ${sd.id} at element ${at}: ${ours[at]} vs ${theirs[at]}`);
        continue;
      }
      if (EXPECTED_REFUSALS[sd.id]) bad(`generator no longer refuses ${sd.id}`);
      same++;
    }
  }
  if (same < 80) bad(`generator reproduced only ${same} published snapshots`);
  return same;
}

// Deliberately broken copies of the examples: each must be rejected, or the
// validator (and so this check) proves nothing.
function mutations(examples) {
  const find = (t) => examples.find((e) => e.res.resourceType === t).res;
  const ext = (r, url) => r.extension.find((e) => e.url.endsWith(url));
  const part = (e, name) => e.extension.find((x) => x.url === name);
  const out = [];
  const mut = (label, type, fn) => {
    const r = lib.clone(find(type));
    fn(r);
    out.push({ label, res: r });
  };
  mut('PHM tier code not in the value set', 'Patient', (r) => { ext(r, '/phm-tier').valueCodeableConcept.coding[0].code = 'medium'; });
  mut('two PHM tiers', 'Patient', (r) => { r.extension.push(lib.clone(ext(r, '/phm-tier'))); });
  mut('interpreter need without interpreterNeeded', 'Patient', (r) => {
    const e = ext(r, '/interpreter-need');
    e.extension = e.extension.filter((x) => x.url !== 'interpreterNeeded');
  });
  mut('interpreter language as a string', 'Patient', (r) => {
    const l = part(ext(r, '/interpreter-need'), 'language');
    delete l.valueCodeableConcept;
    l.valueString = 'Spanish';
  });
  mut('caregiver without mayContact', 'Patient', (r) => {
    const e = ext(r, '/contactable-caregiver');
    e.extension = e.extension.filter((x) => x.url !== 'mayContact');
  });
  mut('caregiver contact method not a contact point system', 'Patient', (r) => { part(ext(r, '/contactable-caregiver'), 'method').valueCode = 'pigeon'; });
  mut('sharing role not in the value set', 'Patient', (r) => { part(ext(r, '/adolescent-sharing-choice'), 'who').valueCodeableConcept.coding[0].code = 'neighbour'; });
  mut('ECM population with a value and parts', 'Patient', (r) => { ext(r, '/ecm-population-of-focus').extension = [{ url: 'x', valueString: 'y' }]; });
  mut('Patient without birthDate', 'Patient', (r) => { delete r.birthDate; });
  mut('Patient without identifier (US Core)', 'Patient', (r) => { delete r.identifier; });
  mut('ServiceRequest without SDOH category', 'ServiceRequest', (r) => { r.category = r.category.slice(0, 1); });
  mut('ServiceRequest without authoredOn', 'ServiceRequest', (r) => { delete r.authoredOn; });
  mut('ServiceRequest without code (SDOHCC)', 'ServiceRequest', (r) => { delete r.code; });
  mut('ServiceRequest sharing choice without allowed', 'ServiceRequest', (r) => {
    const e = ext(r, '/adolescent-sharing-choice');
    e.extension = e.extension.filter((x) => x.url !== 'allowed');
  });
  mut('Task with intent plan (SDOHCC fixes order)', 'Task', (r) => { r.intent = 'plan'; });
  mut('Task with code other than fulfill', 'Task', (r) => { r.code.coding[0].code = 'approve'; });
  mut('Task status received (not a referral status)', 'Task', (r) => { r.status = 'received'; });
  mut('Task without focus', 'Task', (r) => { delete r.focus; });
  mut('Task without requester', 'Task', (r) => { delete r.requester; });
  return out;
}

function main() {
  const reg = lib.loadDependencies();
  const { res, examples } = loadPackage();
  const pkg = lib.readJson(path.join(lib.PKG_DIR, 'package.json'));
  if (pkg.name !== 'loopgate.medi-cal' || pkg.version !== '0.1.0') bad('package.json: wrong name or version');
  if (JSON.stringify(pkg.fhirVersions) !== '["4.0.1"]') bad('package.json: fhirVersions');
  for (const [dep, ver] of [['hl7.fhir.r4.core', '4.0.1'], ['hl7.fhir.us.core', '7.0.0'], ['hl7.fhir.us.sdoh-clinicalcare', '3.0.0']]) {
    if (!pkg.dependencies || pkg.dependencies[dep] !== ver) bad(`package.json: dependency ${dep}#${ver} missing`);
  }
  for (const [name, dir] of Object.entries(lib.DEP_DIRS)) {
    const dp = lib.readJson(path.join(dir, 'package.json'));
    if (dp.name !== name || pkg.dependencies[name] !== dp.version) bad(`dependency ${name} at ${dir} is ${dp.name}#${dp.version}`);
  }

  // Unique canonicals, then register them so references can resolve.
  const ownUrls = new Set();
  for (const { file, res: r } of res) {
    if (!r.url) continue;
    if (ownUrls.has(r.url)) bad(`${file}: duplicate url ${r.url}`);
    if (reg.get(r.url)) bad(`${file}: url ${r.url} is already defined by ${reg.origin(r.url)}`);
    if (!r.url.startsWith(`${pkg.canonical}/${r.resourceType}/`)) bad(`${file}: url ${r.url} is not under ${pkg.canonical}/${r.resourceType}/`);
    if (r.version !== pkg.version) bad(`${file}: version ${r.version}`);
    ownUrls.add(r.url);
  }
  for (const { res: r } of res) reg.add(r, 'loopgate.medi-cal');
  for (const { file, res: r } of res) {
    for (const { where, url } of ownReferences(r)) {
      if (!reg.get(url)) bad(`${file}: ${where} ${url} does not resolve`);
    }
    if (r.resourceType === 'StructureDefinition') checkStructureDefinition(reg, r, file);
    if (r.resourceType === 'SearchParameter') checkSearchParameter(reg, r, file, ownUrls);
    if (r.resourceType === 'CodeSystem' && r.count !== (r.concept || []).length) bad(`${file}: count ${r.count}`);
  }

  const reproduced = crossCheckGenerator(reg);
  const validator = new Validator(reg);
  const profileOf = (r, file) => {
    const profs = (r.meta && r.meta.profile) || [];
    if (!profs.length) bad(`example/${file}: no meta.profile`);
    return profs.map((p) => {
      const sd = ownUrls.has(lib.stripVersion(p)) ? reg.get(p) : null;
      if (!sd) bad(`example/${file}: meta.profile ${p} is not a profile of this package`);
      return sd;
    }).filter(Boolean);
  };
  let checked = 0;
  for (const { file, res: r } of examples) {
    for (const sd of profileOf(r, file)) {
      for (const issue of validator.validate(r, sd)) bad(`example/${file}: ${issue}`);
      checked++;
    }
  }
  const covered = new Set(examples.flatMap((e) => (e.res.meta && e.res.meta.profile) || []));
  for (const { res: r } of res) {
    if (r.resourceType === 'StructureDefinition' && r.kind === 'resource' && !covered.has(r.url)) bad(`profile ${r.url} has no example`);
  }
  let caught = 0;
  const muts = mutations(examples);
  for (const m of muts) {
    const sd = reg.get(m.res.meta.profile[0]);
    const issues = validator.validate(m.res, sd);
    if (!issues.length) bad(`broken example not caught: ${m.label}`);
    else caught++;
    if (process.argv.includes('-v')) console.log(`  ${m.label}: ${issues.join('; ')}`);
  }

  if (problems.length) {
    for (const p of problems) console.error(`profiles: ${p}`);
    console.error(`profiles: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log(`profiles: ${res.length} resources, ${ownUrls.size} canonicals, ${reproduced} published dependency snapshots reproduced by the generator, ${checked} example validations, ${caught}/${muts.length} broken examples caught`);
}

main();
