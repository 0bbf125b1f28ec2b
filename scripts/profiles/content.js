// content.js - the authored content of Loopgate's Medi-Cal FHIR package:
// extension and profile differentials, CodeSystems, ValueSets and
// SearchParameters. build.js turns this into profiles/package/ (adding the
// snapshots); edit here, never the generated JSON.
//
// The domain behind each artifact is in ../shared/docs/domain.md: Medi-Cal
// Population Health Management tiers, Enhanced Care Management populations
// of focus, language *and dialect* for interpreters, caregivers as the usual
// contact, and the 12+ adolescent's choice of who sees a referral.
'use strict';

const BASE = 'https://loopgate.dev/fhir';
const VERSION = '0.1.0';
// Fixed so that regenerating is reproducible (build.js --check compares bytes).
const DATE = '2026-11-30';
const PUBLISHER = 'Loopgate';
const JURISDICTION = [{ coding: [{ system: 'urn:iso:std:iso:3166:-2', code: 'US-CA', display: 'California' }] }];

const R4 = 'http://hl7.org/fhir/StructureDefinition/';
const USCORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';
const SDOHCC = 'http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/';

const sdUrl = (id) => `${BASE}/StructureDefinition/${id}`;
const csUrl = (id) => `${BASE}/CodeSystem/${id}`;
const vsUrl = (id) => `${BASE}/ValueSet/${id}`;
const spUrl = (id) => `${BASE}/SearchParameter/${id}`;

const EXT = {
  phmTier: sdUrl('phm-tier'),
  ecmPopulation: sdUrl('ecm-population-of-focus'),
  interpreterNeed: sdUrl('interpreter-need'),
  caregiver: sdUrl('contactable-caregiver'),
  adolescentSharing: sdUrl('adolescent-sharing-choice'),
};
const PROFILE = {
  patient: sdUrl('loopgate-patient'),
  serviceRequest: sdUrl('loopgate-servicerequest'),
  task: sdUrl('loopgate-task'),
};

function canonicalHeader(resourceType, id, name, title, description) {
  return {
    resourceType, id, url: `${BASE}/${resourceType}/${id}`, version: VERSION, name, title,
    status: 'draft', experimental: false, date: DATE, publisher: PUBLISHER, description,
    jurisdiction: JURISDICTION,
  };
}

// ---------------------------------------------------------------- terminology

// A code system with complete content, and the value set of all its codes
// (listed explicitly so a validator needs no expansion service).
function codeSystemAndValueSet(id, name, title, description, concepts) {
  const cs = {
    ...canonicalHeader('CodeSystem', id, `${name}CodeSystem`, `${title} codes`, description),
    caseSensitive: true,
    valueSet: vsUrl(id),
    content: 'complete',
    count: concepts.length,
    concept: concepts.map(([code, display, definition]) => ({ code, display, definition })),
  };
  const vs = {
    ...canonicalHeader('ValueSet', id, `${name}ValueSet`, title, `All codes of the ${title} code system. ${description}`),
    immutable: false,
    compose: {
      include: [{ system: csUrl(id), version: VERSION, concept: concepts.map(([code, display]) => ({ code, display })) }],
    },
  };
  return [cs, vs];
}

const PHM_TIERS = [
  ['basic', 'Basic Population Health Management',
    'Every Medi-Cal managed care member: a primary care provider, basic care management, closed-loop referrals and warm handoffs.'],
  ['complex', 'Complex Care Management',
    'Rising-risk members with a care manager and a care plan.'],
  ['enhanced', 'Enhanced Care Management',
    'Highest-need members in an ECM population of focus, with a Lead Care Manager.'],
];

const ECM_POPULATIONS = [
  ['homelessness', 'Experiencing or at risk of homelessness',
    'Children and youth (under 21) experiencing homelessness or at risk of homelessness.'],
  ['avoidable-utilization', 'At risk for avoidable hospital or ED utilization',
    'Children and youth at risk for avoidable hospital or emergency department stays.'],
  ['smh-sud', 'Serious mental health or substance use disorder needs',
    'Children and youth with serious mental health and/or substance use disorder needs.'],
  ['transitioning-from-incarceration', 'Transitioning from incarceration',
    'Youth transitioning from a youth correctional facility or other incarceration (former foster youth up to age 26).'],
  ['ccs-whole-child', 'Enrolled in CCS / Whole Child Model with additional needs',
    "Enrolled in California Children's Services or the CCS Whole Child Model, with needs beyond the CCS-eligible condition."],
  ['child-welfare', 'Involved in child welfare',
    'Involved in child welfare, including former foster youth up to age 26.'],
  ['birth-equity', 'Pregnant or postpartum, subject to racial or ethnic disparities',
    'Pregnant or up to 12 months postpartum and in a population subject to racial or ethnic disparities in birth outcomes (Birth Equity population of focus).'],
];

const SHARING_ROLES = [
  ['parent-guardian', 'Parent or legal guardian', "The adolescent's parents or legal guardians."],
  ['caregiver', 'Other caregiver', 'A caregiver who is not a parent or legal guardian (relative, foster parent).'],
  ['primary-care', 'Primary care team', "The adolescent's primary care provider and clinic team."],
  ['care-manager', 'Care manager', 'The managed care plan care manager or ECM Lead Care Manager.'],
  ['cbo', 'Receiving community organization', 'The community-based organization the referral is sent to.'],
  ['school', 'School staff', 'School staff, including those managing IEPs and 504 plans.'],
  ['health-plan', 'Managed care plan', 'The Medi-Cal managed care plan, beyond the named care manager.'],
];

// ----------------------------------------------------------------- extensions

function extensionHeader(id, name, title, description, contexts) {
  return {
    ...canonicalHeader('StructureDefinition', id, name, title, description),
    fhirVersion: '4.0.1',
    kind: 'complex-type',
    abstract: false,
    context: contexts.map((expression) => ({ type: 'element', expression })),
    type: 'Extension',
    baseDefinition: `${R4}Extension`,
    derivation: 'constraint',
  };
}

// A simple extension: one value of the given type(s).
function simpleExtension({ id, name, title, short, description, contexts, type, binding }) {
  const valueEl = { id: 'Extension.value[x]', min: 1, type };
  if (binding) valueEl.binding = binding;
  return {
    ...extensionHeader(id, name, title, description, contexts),
    differential: {
      element: [
        { id: 'Extension', short, definition: description },
        { id: 'Extension.extension', max: '0' },
        { id: 'Extension.url', fixedUri: sdUrl(id) },
        valueEl,
      ],
    },
  };
}

// A complex extension: named parts (sub-extensions by relative url), no value.
function complexExtension({ id, name, title, short, description, contexts, parts }) {
  const els = [
    { id: 'Extension', short, definition: description },
    { id: 'Extension.extension', min: parts.some((p) => p.min > 0) ? 1 : 0 },
  ];
  for (const p of parts) {
    const s = `Extension.extension:${p.name}`;
    els.push({ id: s, short: p.short, definition: p.definition, min: p.min, max: p.max });
    els.push({ id: `${s}.extension`, max: '0' });
    els.push({ id: `${s}.url`, fixedUri: p.name });
    const v = { id: `${s}.value[x]`, min: 1, type: p.type };
    if (p.binding) v.binding = p.binding;
    els.push(v);
  }
  els.push({ id: 'Extension.url', fixedUri: sdUrl(id) });
  els.push({ id: 'Extension.value[x]', max: '0' });
  return { ...extensionHeader(id, name, title, description, contexts), differential: { element: els } };
}

function extensions() {
  return [
    simpleExtension({
      id: 'phm-tier', name: 'PhmTier', title: 'Medi-Cal PHM tier',
      short: 'Population Health Management tier (basic | complex | enhanced)',
      description: "The member's Medi-Cal Population Health Management tier: Basic Population Health Management, Complex Care Management or Enhanced Care Management. Closed-loop referral measures are stratified by it.",
      contexts: ['Patient'],
      type: [{ code: 'CodeableConcept' }],
      binding: { strength: 'required', description: 'Medi-Cal PHM tiers.', valueSet: vsUrl('phm-tier') },
    }),
    simpleExtension({
      id: 'ecm-population-of-focus', name: 'EcmPopulationOfFocus', title: 'Medi-Cal ECM population of focus',
      short: 'Enhanced Care Management population of focus',
      description: 'An Enhanced Care Management population of focus the member belongs to (children and youth populations of Medi-Cal ECM). Repeat the extension for each population.',
      contexts: ['Patient'],
      type: [{ code: 'CodeableConcept' }],
      binding: { strength: 'required', description: 'Medi-Cal ECM populations of focus for children and youth.', valueSet: vsUrl('ecm-population-of-focus') },
    }),
    complexExtension({
      id: 'interpreter-need', name: 'InterpreterNeed', title: 'Interpreter need with language and dialect',
      short: 'Language, dialect and whether an interpreter is needed',
      description: 'A language the person needs for spoken communication, the dialect or regional variety within it, and whether an interpreter is needed. The dialect matters: a Mixteco-speaking parent may not follow an interpreter of another Mixteco variety, and the language tag a record carries often names only the broad language, not the variety an interpreter must speak.',
      contexts: ['Patient', 'RelatedPerson'],
      parts: [
        {
          name: 'language', min: 1, max: '1', short: 'Language (BCP-47)',
          definition: 'The language, as a BCP-47 tag (system urn:ietf:bcp:47).',
          type: [{ code: 'CodeableConcept' }],
          binding: { strength: 'required', description: 'A BCP-47 language tag.', valueSet: 'http://hl7.org/fhir/ValueSet/all-languages' },
        },
        {
          name: 'dialect', min: 0, max: '1', short: 'Dialect or regional variety',
          definition: 'The dialect or regional variety the person speaks, in words an interpreter service understands (e.g. "Mixteco Alto, San Juan Mixtepec").',
          type: [{ code: 'string' }],
        },
        {
          name: 'interpreterNeeded', min: 1, max: '1', short: 'Whether an interpreter is needed',
          definition: 'True when an interpreter of this language (and dialect) is needed to talk with the person.',
          type: [{ code: 'boolean' }],
        },
      ],
    }),
    complexExtension({
      id: 'contactable-caregiver', name: 'ContactableCaregiver', title: 'Contactable caregiver',
      short: 'A caregiver and whether (and how) they may be contacted',
      description: "A caregiver of the child who is part of the care team, whether services may contact them about the child's referrals, and how. For children the caregiver is the usual contact, and a single point of contact matters to families.",
      contexts: ['Patient', 'ServiceRequest'],
      parts: [
        {
          name: 'caregiver', min: 1, max: '1', short: 'The caregiver',
          definition: 'The caregiver, as a RelatedPerson of the child.',
          type: [{ code: 'Reference', targetProfile: [`${R4}RelatedPerson`] }],
        },
        {
          name: 'mayContact', min: 1, max: '1', short: 'Whether the caregiver may be contacted',
          definition: 'True when services may contact this caregiver about the child.',
          type: [{ code: 'boolean' }],
        },
        {
          name: 'method', min: 0, max: '*', short: 'phone | email | sms | ...',
          definition: 'The ways the caregiver prefers to be contacted, most preferred first.',
          type: [{ code: 'code' }],
          binding: { strength: 'required', description: 'Contact point systems.', valueSet: 'http://hl7.org/fhir/ValueSet/contact-point-system' },
        },
        {
          name: 'primaryContact', min: 0, max: '1', short: 'Whether this is the single point of contact',
          definition: 'True when this caregiver is the family\'s single point of contact for referrals.',
          type: [{ code: 'boolean' }],
        },
      ],
    }),
    complexExtension({
      id: 'adolescent-sharing-choice', name: 'AdolescentSharingChoice', title: 'Adolescent sharing choice',
      short: "A 12+ adolescent's choice of who may see the referral",
      description: 'Youth aged 12 and over may choose who is on their team and what is shared. Each repetition records whether one person, organization or role may see the referral (on a ServiceRequest) or the adolescent\'s referrals in general (on the Patient).',
      contexts: ['Patient', 'ServiceRequest'],
      parts: [
        {
          name: 'who', min: 1, max: '1', short: 'Who the choice is about',
          definition: 'The person or organization, or a role (e.g. parent or guardian, school staff).',
          type: [
            { code: 'Reference', targetProfile: [`${R4}RelatedPerson`, `${R4}Practitioner`, `${R4}PractitionerRole`, `${R4}Organization`, `${R4}CareTeam`] },
            { code: 'CodeableConcept' },
          ],
          binding: { strength: 'required', description: 'Roles an adolescent may share a referral with (applies to the CodeableConcept form).', valueSet: vsUrl('sharing-role') },
        },
        {
          name: 'allowed', min: 1, max: '1', short: 'Whether they may see it',
          definition: 'True when the adolescent allows them to see the referral; false when the adolescent has said they may not.',
          type: [{ code: 'boolean' }],
        },
        {
          name: 'recorded', min: 0, max: '1', short: 'When the choice was made',
          definition: 'When the adolescent made or last confirmed this choice.',
          type: [{ code: 'dateTime' }],
        },
      ],
    }),
  ];
}

// ------------------------------------------------------------------- profiles

function profileHeader(id, name, title, description, type, base) {
  return {
    ...canonicalHeader('StructureDefinition', id, name, title, description),
    fhirVersion: '4.0.1',
    kind: 'resource',
    abstract: false,
    type,
    baseDefinition: base,
    derivation: 'constraint',
  };
}

function extSlice(root, sliceName, url, min, max, mustSupport) {
  const el = { id: `${root}.extension:${sliceName}`, min, max, type: [{ code: 'Extension', profile: [url] }] };
  if (mustSupport) el.mustSupport = true;
  return el;
}

const STATUS_REASON_EXPECTED = "('rejected' | 'cancelled' | 'on-hold' | 'failed')";
const OWNER_STATUSES = "('accepted' | 'in-progress' | 'on-hold' | 'completed' | 'failed' | 'rejected')";

function profiles() {
  return [
    {
      ...profileHeader('loopgate-patient', 'LoopgatePatient', 'Loopgate Patient (Medi-Cal child)',
        'A Medi-Cal child or youth whose social-care referrals Loopgate tracks: US Core Patient plus the Medi-Cal care management facts the closed loop is reported by (PHM tier, ECM populations of focus), language and dialect for interpreters, contactable caregivers and the adolescent\'s sharing choices.',
        'Patient', `${USCORE}us-core-patient`),
      differential: {
        element: [
          {
            id: 'Patient',
            constraint: [{
              key: 'lg-pat-1', severity: 'warning',
              human: 'Sharing choices are recorded for adolescents aged 12 or over',
              expression: `extension('${EXT.adolescentSharing}').exists() implies (birthDate.exists() and birthDate <= today() - 12 years)`,
            }],
          },
          extSlice('Patient', 'phmTier', EXT.phmTier, 0, '1', true),
          extSlice('Patient', 'ecmPopulation', EXT.ecmPopulation, 0, '*', true),
          extSlice('Patient', 'interpreterNeed', EXT.interpreterNeed, 0, '*', true),
          extSlice('Patient', 'caregiver', EXT.caregiver, 0, '*', true),
          extSlice('Patient', 'adolescentSharing', EXT.adolescentSharing, 0, '*', false),
          { id: 'Patient.birthDate', min: 1, requirements: 'Children and youth programs (ECM under 21, adolescent consent at 12+) depend on age.' },
        ],
      },
    },
    {
      ...profileHeader('loopgate-servicerequest', 'LoopgateServiceRequest', 'Loopgate ServiceRequest (social-care referral)',
        'A social-care referral for a Medi-Cal child: SDOHCC ServiceRequest for a Loopgate Patient, always with its SDOH need category (closed-loop reports are stratified by it) and an authored date (the start of every loop timing), optionally with the adolescent\'s choice of who may see it and the caregiver to contact.',
        'ServiceRequest', `${SDOHCC}SDOHCC-ServiceRequest`),
      differential: {
        element: [
          extSlice('ServiceRequest', 'adolescentSharing', EXT.adolescentSharing, 0, '*', true),
          extSlice('ServiceRequest', 'caregiver', EXT.caregiver, 0, '*', false),
          { id: 'ServiceRequest.category:SDOHCC', min: 1 },
          { id: 'ServiceRequest.subject', type: [{ code: 'Reference', targetProfile: [PROFILE.patient] }] },
          { id: 'ServiceRequest.authoredOn', min: 1, mustSupport: true },
          { id: 'ServiceRequest.requester', min: 1 },
        ],
      },
    },
    {
      ...profileHeader('loopgate-task', 'LoopgateTask', 'Loopgate Task (referral fulfilment)',
        'The Task that tracks a Loopgate referral to its closure: SDOHCC TaskForReferralManagement whose focus is a Loopgate ServiceRequest for a Loopgate Patient, owned by the receiving organization once it responds.',
        'Task', `${SDOHCC}SDOHCC-TaskForReferralManagement`),
      differential: {
        element: [
          {
            id: 'Task',
            constraint: [
              {
                key: 'lg-task-1', severity: 'warning',
                human: 'A rejected, cancelled, on-hold or failed referral says why in statusReason.text',
                expression: `status in ${STATUS_REASON_EXPECTED} implies statusReason.text.exists()`,
              },
              {
                key: 'lg-task-2', severity: 'error',
                human: 'Only an owner accepts, rejects, works on or closes a referral, so those statuses need an owner',
                expression: `status in ${OWNER_STATUSES} implies owner.exists()`,
              },
            ],
          },
          { id: 'Task.focus', type: [{ code: 'Reference', targetProfile: [PROFILE.serviceRequest] }] },
          { id: 'Task.for', type: [{ code: 'Reference', targetProfile: [PROFILE.patient] }] },
          {
            id: 'Task.owner',
            type: [{ code: 'Reference', targetProfile: [`${R4}Organization`, `${R4}PractitionerRole`, `${R4}HealthcareService`] }],
            mustSupport: true,
          },
        ],
      },
    },
  ];
}

// ----------------------------------------------------------- search parameters

function searchParameter(id, code, base, type, description, expression, target) {
  const sp = {
    ...canonicalHeader('SearchParameter', id, code.replace(/-([a-z])/g, (_, c) => c.toUpperCase()), undefined, description),
    code, base: [base], type, expression, xpathUsage: 'normal',
  };
  delete sp.title;
  if (target) sp.target = target;
  sp.multipleOr = true;
  sp.multipleAnd = true;
  return sp;
}

function searchParameters() {
  return [
    searchParameter('Patient-phm-tier', 'phm-tier', 'Patient', 'token',
      'Search patients by Medi-Cal PHM tier', `Patient.extension('${EXT.phmTier}').value.ofType(CodeableConcept)`),
    searchParameter('Patient-ecm-population', 'ecm-population', 'Patient', 'token',
      'Search patients by ECM population of focus', `Patient.extension('${EXT.ecmPopulation}').value.ofType(CodeableConcept)`),
    searchParameter('Patient-interpreter-language', 'interpreter-language', 'Patient', 'token',
      'Search patients by a language they need (BCP-47)', `Patient.extension('${EXT.interpreterNeed}').extension('language').value.ofType(CodeableConcept)`),
    searchParameter('Patient-interpreter-needed', 'interpreter-needed', 'Patient', 'token',
      'Search patients by whether they need an interpreter', `Patient.extension('${EXT.interpreterNeed}').extension('interpreterNeeded').value.ofType(boolean)`),
    searchParameter('Patient-caregiver', 'caregiver', 'Patient', 'reference',
      'Search patients by a contactable caregiver', `Patient.extension('${EXT.caregiver}').extension('caregiver').value.ofType(Reference)`, ['RelatedPerson']),
  ];
}

function resources() {
  return [
    ...extensions(),
    ...profiles(),
    ...codeSystemAndValueSet('phm-tier', 'PhmTier', 'Medi-Cal PHM tier',
      'The three tiers of Medi-Cal Population Health Management.', PHM_TIERS),
    ...codeSystemAndValueSet('ecm-population-of-focus', 'EcmPopulationOfFocus', 'Medi-Cal ECM population of focus',
      'Medi-Cal Enhanced Care Management populations of focus that include children and youth (under 21 unless stated).', ECM_POPULATIONS),
    ...codeSystemAndValueSet('sharing-role', 'SharingRole', 'Adolescent sharing role',
      'Roles a 12+ adolescent may allow or refuse to see a referral.', SHARING_ROLES),
    ...searchParameters(),
  ];
}

function packageJson() {
  return {
    name: 'loopgate.medi-cal',
    version: VERSION,
    canonical: BASE,
    url: BASE,
    title: 'Loopgate Medi-Cal closed-loop referral profiles',
    description: 'Profiles, extensions, terminology and search parameters for closing the loop on social-care referrals for Medi-Cal children (PHM tier, ECM populations of focus, interpreter language and dialect, caregivers, adolescent sharing choices).',
    fhirVersions: ['4.0.1'],
    type: 'fhir.ig',
    author: PUBLISHER,
    jurisdiction: 'urn:iso:std:iso:3166:-2#US-CA',
    dependencies: {
      'hl7.fhir.r4.core': '4.0.1',
      'hl7.fhir.us.core': '7.0.0',
      'hl7.fhir.us.sdoh-clinicalcare': '3.0.0',
    },
  };
}

module.exports = { BASE, EXT, PROFILE, resources, packageJson };
