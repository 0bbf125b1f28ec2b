// validate.js - a small instance validator used by check.js to prove that the
// package's examples conform to its profiles (and that broken copies do not).
// It walks a StructureDefinition snapshot against a resource: cardinality of
// every constrained element, slices (extensions by url, value/pattern
// discriminators, type slices of choice elements), fixed and pattern values,
// and required bindings to value sets that list their codes. It does not
// evaluate FHIRPath invariants, resolve references or expand filtered value
// sets; the gateway's own validator does the full job.
'use strict';

const lib = require('./lib');

function asArray(v) {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

function deepEqual(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// FHIR pattern semantics: every property of the pattern is present in the
// value; for arrays, every pattern item matches some value item.
function matchesPattern(value, pattern) {
  if (pattern === null || typeof pattern !== 'object') return value === pattern;
  if (Array.isArray(pattern)) {
    if (!Array.isArray(value)) return false;
    return pattern.every((p) => value.some((v) => matchesPattern(v, p)));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  return Object.entries(pattern).every(([k, p]) => matchesPattern(value[k], p));
}

function fixedOrPattern(el) {
  for (const k of Object.keys(el)) {
    const m = /^(fixed|pattern)([A-Z].*)$/.exec(k);
    if (m) return { kind: m[1], value: el[k] };
  }
  return null;
}

// The codes of a value set, as "system|code", or null when it cannot be
// enumerated here (filters, other value sets, unknown systems).
function valueSetCodes(reg, url, seen = new Set()) {
  const vs = reg.get(url);
  if (!vs || !vs.compose || seen.has(vs.url)) return null;
  seen.add(vs.url);
  const codes = new Set();
  for (const inc of vs.compose.include || []) {
    if (inc.filter && inc.filter.length) return null;
    if (inc.valueSet) {
      for (const u of inc.valueSet) {
        const sub = valueSetCodes(reg, u, seen);
        if (!sub) return null;
        for (const c of sub) codes.add(c);
      }
    }
    if (!inc.system) continue;
    if (inc.concept) {
      for (const c of inc.concept) codes.add(`${inc.system}|${c.code}`);
    } else {
      const cs = reg.get(inc.system);
      if (!cs || cs.content !== 'complete') return null;
      const walk = (cs2) => { for (const c of cs2 || []) { codes.add(`${inc.system}|${c.code}`); walk(c.concept); } };
      walk(cs.concept);
    }
  }
  for (const exc of (vs.compose.exclude || [])) {
    for (const c of exc.concept || []) codes.delete(`${exc.system}|${c.code}`);
  }
  return codes;
}

class Validator {
  constructor(reg) {
    this.reg = reg;
  }

  // Issues (strings "location: message") for `resource` against `sd`.
  validate(resource, sd) {
    const issues = [];
    if (resource.resourceType !== sd.type) {
      issues.push(`${resource.resourceType}: expected a ${sd.type}`);
      return issues;
    }
    this.checkObject(resource, sd, sd.snapshot.element[0].id, sd.type, issues);
    return issues;
  }

  elements(sd) {
    if (!sd._byId) {
      sd._byId = new Map(sd.snapshot.element.map((e) => [e.id, e]));
    }
    return sd._byId;
  }

  // Direct children of `id` in the snapshot (unsliced), in order.
  children(sd, id) {
    return sd.snapshot.element.filter((e) => {
      if (!e.id.startsWith(id + '.')) return false;
      const rest = e.id.slice(id.length + 1);
      return !rest.includes('.') && !rest.includes(':');
    });
  }

  slices(sd, id) {
    return sd.snapshot.element.filter((e) => {
      if (!e.id.startsWith(id + ':')) return false;
      return !e.id.slice(id.length + 1).includes('.');
    });
  }

  // The values of child element `el` in `obj`, with their FHIR type for
  // choice elements.
  valuesOf(obj, el) {
    const name = el.path.slice(el.path.lastIndexOf('.') + 1);
    if (name.endsWith('[x]')) {
      const stem = name.slice(0, -3);
      const out = [];
      for (const t of el.type || []) {
        const key = stem + t.code[0].toUpperCase() + t.code.slice(1);
        for (const v of asArray(obj[key])) out.push({ v, type: t.code, key });
      }
      return out;
    }
    return asArray(obj[name]).map((v) => ({ v, type: (el.type && el.type.length === 1) ? el.type[0].code : undefined, key: name }));
  }

  checkValue(item, el, loc, issues) {
    const fp = fixedOrPattern(el);
    if (fp) {
      const ok = fp.kind === 'fixed' ? deepEqual(item.v, fp.value) : matchesPattern(item.v, fp.value);
      if (!ok) issues.push(`${loc}: does not match the ${fp.kind} value ${JSON.stringify(fp.value)}`);
    }
    if (el.binding && el.binding.strength === 'required' && el.binding.valueSet) {
      const codes = valueSetCodes(this.reg, el.binding.valueSet);
      if (codes && typeof item.v === 'string') {
        // A code's system is implied by the value set: any system will do.
        const all = [...codes];
        if (!all.some((c) => c.endsWith(`|${item.v}`))) {
          issues.push(`${loc}: code '${item.v}' is not in required value set ${el.binding.valueSet}`);
        }
      } else if (codes) {
        const found = this.codingsOf(item);
        if (found && !found.some((c) => codes.has(c))) {
          issues.push(`${loc}: no code from required value set ${el.binding.valueSet} (${found.join(', ') || 'none'})`);
        }
      }
    }
  }

  // "system|code" strings of a coded value, or null when it is not coded.
  codingsOf(item) {
    const v = item.v;
    if (item.type === 'CodeableConcept' || (v && typeof v === 'object' && Array.isArray(v.coding))) {
      return (v.coding || []).map((c) => `${c.system}|${c.code}`);
    }
    if (item.type === 'Coding') return [`${v.system}|${v.code}`];
    return null;
  }

  // Which slice of `slicing` an item belongs to (its element), or null.
  sliceFor(sd, item, slices, slicing) {
    for (const s of slices) {
      if (this.inSlice(sd, item, s, slicing)) return s;
    }
    return null;
  }

  inSlice(sd, item, s, slicing) {
    for (const d of slicing.discriminator || []) {
      if (d.type === 'value' && d.path === 'url') {
        const want = this.sliceUrl(sd, s);
        if (!want || !item.v || item.v.url !== want) return false;
      } else if (d.type === 'type') {
        const want = (s.type || []).map((t) => t.code);
        if (d.path === '$this') {
          if (!want.includes(item.type)) return false;
        } else {
          const sub = this.elements(sd).get(`${s.id}.${d.path}`);
          const subWant = sub ? (sub.type || []).map((t) => t.code) : [];
          const key = Object.keys(item.v || {}).find((k) => k.startsWith(d.path) && /[A-Z]/.test(k[d.path.length] || ''));
          if (!key) return false;
          const code = key.slice(d.path.length);
          if (!subWant.some((t) => t.toLowerCase() === code.toLowerCase())) return false;
        }
      } else if (d.type === 'value' || d.type === 'pattern') {
        const target = d.path === '$this' ? s : this.elements(sd).get(`${s.id}.${d.path}`);
        const v = d.path === '$this' ? item.v : (item.v || {})[d.path];
        if (!target) return false;
        const fp = fixedOrPattern(target);
        if (fp) {
          const ok = fp.kind === 'fixed' ? deepEqual(v, fp.value) : matchesPattern(v, fp.value);
          if (!ok) return false;
        } else if (target.binding && target.binding.strength === 'required') {
          // Slicing by value set membership (e.g. SDOHCC ServiceRequest.category).
          const codes = valueSetCodes(this.reg, target.binding.valueSet);
          if (!codes) return false;
          const found = this.codingsOf({ v, type: (target.type || [])[0] && target.type[0].code }) || [];
          if (!found.some((c) => codes.has(c))) return false;
        } else {
          return false;
        }
      } else {
        return false; // profile discriminators need reference resolution
      }
    }
    return true;
  }

  // The url an extension slice matches: its extension definition's url, or
  // the fixed url of a complex extension's part.
  sliceUrl(sd, s) {
    const prof = s.type && s.type[0] && s.type[0].profile && s.type[0].profile[0];
    if (prof) return lib.stripVersion(prof);
    const u = this.elements(sd).get(`${s.id}.url`);
    return u && u.fixedUri;
  }

  // Validates `obj` (the content of element `id` of `sd`) and descends.
  checkObject(obj, sd, id, loc, issues) {
    for (const el of this.children(sd, id)) {
      const items = this.valuesOf(obj, el);
      const name = el.path.slice(el.path.lastIndexOf('.') + 1);
      const elLoc = `${loc}.${name.replace('[x]', '')}`;
      this.checkCount(items.length, el, elLoc, issues);
      const slices = this.slices(sd, el.id);
      const assigned = new Map(slices.map((s) => [s.id, []]));
      items.forEach((item, i) => {
        const at = items.length > 1 || el.max !== '1' ? `${loc}.${item.key}[${i}]` : `${loc}.${item.key}`;
        this.checkValue(item, el, at, issues);
        const s = slices.length && el.slicing ? this.sliceFor(sd, item, slices, el.slicing) : null;
        if (s) assigned.get(s.id).push({ item, at });
        else if (slices.length && el.slicing && el.slicing.rules === 'closed') issues.push(`${at}: matches no slice of a closed slicing`);
        this.descend(item, s || el, sd, at, issues);
      });
      for (const s of slices) {
        const got = assigned.get(s.id);
        this.checkCount(got.length, s, `${elLoc}:${s.sliceName}`, issues);
        for (const { item, at } of got) this.checkValue(item, s, at, issues);
      }
    }
  }

  descend(item, el, sd, at, issues) {
    if (!item.v || typeof item.v !== 'object') return;
    // An extension with a profile is checked against its definition.
    const prof = el.type && el.type.length === 1 && el.type[0].code === 'Extension' && el.type[0].profile && el.type[0].profile[0];
    if (prof) {
      const ext = this.reg.get(prof);
      if (!ext) {
        issues.push(`${at}: unknown extension definition ${prof}`);
        return;
      }
      this.checkObject(item.v, ext, ext.snapshot.element[0].id, at, issues);
      return;
    }
    if (this.children(sd, el.id).length) this.checkObject(item.v, sd, el.id, at, issues);
  }

  checkCount(n, el, loc, issues) {
    if (n < el.min) issues.push(`${loc}: minimum required = ${el.min}, but only found ${n}`);
    if (el.max !== '*' && n > Number(el.max)) issues.push(`${loc}: maximum allowed = ${el.max}, but found ${n}`);
  }
}

module.exports = { Validator, valueSetCodes, matchesPattern };
