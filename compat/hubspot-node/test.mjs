// Runs HubSpot's official Node client (@hubspot/api-client, pinned in
// package.json) unchanged against fakehub, through the client's own typed
// APIs, for the calls clvsync relies on. run.sh starts the fake; to run by
// hand:
//
//   clvsync fakehub --listen 127.0.0.1:8089 --contacts 300 --seed 7 --token T &
//   FAKEHUB_URL=http://127.0.0.1:8089 FAKEHUB_TOKEN=T node --test test.mjs
//
// The portal must be a fresh seeded one (a few tests create properties and
// update contacts, but with unique names/values, so reruns also pass).
// Only the fault-injection helpers talk to fakehub's /_fakehub/ admin
// endpoints with fetch; every HubSpot API call goes through the client.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import hubspot from '@hubspot/api-client';

const require = createRequire(import.meta.url);
// Each generated API module has its own ApiException class; errors from an
// API are instances of that module's class.
const { ApiException: ContactsApiException } = require('@hubspot/api-client/lib/codegen/crm/contacts/index.js');
const { ApiException: DealsApiException } = require('@hubspot/api-client/lib/codegen/crm/deals/index.js');
const { ApiException: PropertiesApiException } = require('@hubspot/api-client/lib/codegen/crm/properties/index.js');

const BASE = process.env.FAKEHUB_URL;
const TOKEN = process.env.FAKEHUB_TOKEN;
if (!BASE || !TOKEN) {
  throw new Error('set FAKEHUB_URL (e.g. http://127.0.0.1:8089) and FAKEHUB_TOKEN');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NUMERIC_ID = /^[1-9][0-9]*$/;
const MISSING_ID = '999999999999';
const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;

// makeClient builds a client and at once instantiates every API object the
// tests use. The client keeps its decorators (retries, limiter) in a
// process-wide singleton that each `new Client()` overwrites, and applies
// them when an API object is first touched; touching them right away keeps
// each client's own settings.
function makeClient(extra = {}) {
  const client = new hubspot.Client({ accessToken: TOKEN, basePath: BASE, ...extra });
  const crm = client.crm;
  const apis = {
    client,
    contacts: crm.contacts,
    contactsBasic: crm.contacts.basicApi,
    contactsBatch: crm.contacts.batchApi,
    contactsSearch: crm.contacts.searchApi,
    deals: crm.deals,
    dealsBasic: crm.deals.basicApi,
    dealsSearch: crm.deals.searchApi,
    props: crm.properties.coreApi,
    groups: crm.properties.groupsApi,
    assocBatch: crm.associations.v4.batchApi,
    pipelines: crm.pipelines.pipelinesApi,
  };
  return apis;
}

const hs = makeClient();

// --- fakehub admin helpers (not HubSpot API) ---------------------------------

async function admin(method, path, body) {
  const res = await fetch(BASE + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.equal(res.status, 200, `fakehub admin ${method} ${path}: ${res.status}`);
  return res.json();
}
// A spec sets the faults it names and zeroes the others; an empty spec would
// mean "keep everything", so clearing sends every field as zero.
const setFaults = (spec) => admin('POST', '/_fakehub/faults', { spec });
const clearFaults = () => admin('POST', '/_fakehub/faults', {
  rateLimit: 0, status500: 0, status502: 0, status503: 0, reset: 0, slow: 0, truncate: 0,
  revokeToken: false, denyScopes: [],
});
const stats = () => admin('GET', '/_fakehub/stats');
const resetStats = () => admin('POST', '/_fakehub/stats/reset');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// rejectsWith asserts that p rejects with an ApiException of the given class
// and HTTP status and returns it.
async function rejectsWith(p, cls, code) {
  let err;
  await assert.rejects(p, (e) => {
    err = e;
    return true;
  });
  assert.ok(err instanceof cls, `want ${cls.name}, got ${err?.constructor?.name}: ${err}`);
  assert.equal(err.code, code, `status: ${err.message} ${JSON.stringify(err.body)}`);
  return err;
}

function assertDate(d, what) {
  assert.ok(d instanceof Date, `${what} is a Date`);
  assert.ok(!Number.isNaN(d.getTime()), `${what} parses (${d})`);
}

// Shared between tests (they run in order).
const seen = { deals: [], contactIds: [] };

before(async () => {
  await clearFaults();
  await resetStats();
});
after(async () => {
  await clearFaults();
});

// --- reads -------------------------------------------------------------------

test('deals basicApi.getPage: properties, associations and paging', async () => {
  const props = ['amount', 'dealstage', 'closedate', 'pipeline', 'deal_currency_code'];
  const ids = new Set();
  let after;
  let pages = 0;
  for (; pages < 4; pages++) {
    const page = await hs.dealsBasic.getPage(25, after, props, undefined, ['contacts'], false);
    assert.equal(page.results.length, 25, `page ${pages} is full`);
    for (const d of page.results) {
      assert.match(d.id, NUMERIC_ID);
      assert.ok(!ids.has(d.id), `deal ${d.id} repeated across pages`);
      ids.add(d.id);
      assert.equal(d.archived, false);
      assertDate(d.createdAt, 'createdAt');
      assertDate(d.updatedAt, 'updatedAt');
      assert.ok(d.updatedAt >= d.createdAt);
      // Asked-for properties come back as strings; others are left out.
      for (const [k, v] of Object.entries(d.properties)) {
        assert.equal(typeof v, 'string', `${k} is a string`);
      }
      assert.ok(Object.keys(d.properties).every((k) => props.includes(k) || k === 'hs_object_id' ||
        k === 'createdate' || k === 'hs_lastmodifieddate'), `unexpected properties ${Object.keys(d.properties)}`);
      assert.ok(d.properties.dealstage, 'dealstage present');
      assert.ok(d.properties.pipeline, 'pipeline present');
      seen.deals.push(d);
    }
    assert.ok(page.paging?.next?.after, 'paging.next.after present');
    assert.equal(typeof page.paging.next.after, 'string');
    after = page.paging.next.after;
  }
  assert.equal(ids.size, 100);
  // Ordered by id (HubSpot lists ascending by object id).
  const list = [...ids].map(BigInt);
  for (let i = 1; i < list.length; i++) assert.ok(list[i] > list[i - 1], 'ids ascend across pages');

  const withContacts = seen.deals.filter((d) => d.associations?.contacts?.results?.length);
  assert.ok(withContacts.length >= 50, `most deals have contacts (${withContacts.length}/100)`);
  for (const d of withContacts) {
    for (const a of d.associations.contacts.results) {
      assert.match(a.id, NUMERIC_ID);
      assert.ok(['deal_to_contact', 'deal_to_contact_unlabeled'].includes(a.type) || /deal_to_contact/.test(a.type), a.type);
      if (!seen.contactIds.includes(a.id)) seen.contactIds.push(a.id);
    }
  }
  assert.ok(seen.contactIds.length >= 10, 'collected contact ids from associations');
});

test('deals getAll follows paging to the end', async () => {
  const all = await hs.deals.getAll(100, undefined, ['dealstage']);
  assert.ok(all.length > 100, `more than one page of deals (${all.length})`);
  const ids = new Set(all.map((d) => d.id));
  assert.equal(ids.size, all.length, 'no duplicates');
  for (const d of seen.deals) assert.ok(ids.has(d.id), `getAll includes ${d.id}`);
  seen.dealCount = all.length;
});

test('contacts batchApi.read: the ids asked for, with properties; 207 for a missing id', async () => {
  const ids = seen.contactIds.slice(0, 20);
  const res = await hs.contactsBatch.read({
    inputs: ids.map((id) => ({ id })),
    properties: ['email', 'firstname', 'lastname', 'lastmodifieddate'],
    propertiesWithHistory: [],
  });
  assert.equal(res.status, 'COMPLETE');
  assertDate(res.startedAt, 'startedAt');
  assertDate(res.completedAt, 'completedAt');
  assert.deepEqual(res.results.map((r) => r.id).sort(), [...ids].sort());
  for (const c of res.results) {
    assert.match(c.properties.email, /@/);
    assert.equal(new Date(c.properties.lastmodifieddate).getTime(), c.updatedAt.getTime(),
      'lastmodifieddate matches updatedAt');
    assert.equal(c.archived, false);
  }
  seen.contacts = res.results;

  const partial = await hs.contactsBatch.readWithHttpInfo({
    inputs: [{ id: ids[0] }, { id: MISSING_ID }],
    properties: ['email'],
    propertiesWithHistory: [],
  });
  assert.equal(partial.httpStatusCode, 207);
  const body = partial.data;
  assert.deepEqual(body.results.map((r) => r.id), [ids[0]]);
  assert.equal(body.numErrors, 1);
  assert.equal(body.errors[0].category, 'OBJECT_NOT_FOUND');
  assert.deepEqual(body.errors[0].context.ids, [MISSING_ID]);
});

test('contacts searchApi.doSearch: lastmodifieddate filter, ascending sort, paging', async () => {
  // A threshold in the middle of the known contacts' modification times.
  const times = seen.contacts.map((c) => c.updatedAt.getTime()).sort((a, b) => a - b);
  const since = times[Math.floor(times.length / 2)];
  const req = {
    filterGroups: [{ filters: [{ propertyName: 'lastmodifieddate', operator: 'GTE', value: String(since) }] }],
    // The object form (HubSpot's docs, the client README's JS example).
    sorts: [{ propertyName: 'lastmodifieddate', direction: 'ASCENDING' }],
    properties: ['email', 'lastmodifieddate'],
    limit: 20,
    after: 0, // the README's initial cursor
  };
  const p1 = await hs.contactsSearch.doSearch(req);
  assert.equal(typeof p1.total, 'number');
  assert.ok(p1.total > 20, `total ${p1.total} > one page`);
  assert.equal(p1.results.length, 20);
  assert.ok(p1.paging?.next?.after, 'search paging.next.after');
  const p2 = await hs.contactsSearch.doSearch({ ...req, after: p1.paging.next.after });
  assert.equal(p2.total, p1.total);
  const rows = [...p1.results, ...p2.results];
  const ids = new Set(rows.map((r) => r.id));
  assert.equal(ids.size, rows.length, 'pages do not overlap');
  let prev = since;
  for (const r of rows) {
    const t = new Date(r.properties.lastmodifieddate).getTime();
    assert.ok(t >= since, 'filter holds');
    assert.ok(t >= prev, 'sorted ascending');
    prev = t;
    assert.match(r.properties.email, /@/);
    assert.equal(r.updatedAt.getTime(), t, 'updatedAt is lastmodifieddate');
  }
  // Every known contact modified at or after the threshold is counted.
  const expected = times.filter((t) => t >= since).length;
  assert.ok(p1.total >= expected);
  assert.ok(p1.results.every((r) => r.updatedAt.getTime() >= since));
});

test('deals searchApi.doSearch: filter on dealstage, string sort "-hs_lastmodifieddate"', async () => {
  const res = await hs.dealsSearch.doSearch({
    filterGroups: [{ filters: [{ propertyName: 'dealstage', operator: 'EQ', value: 'closedwon' }] }],
    sorts: ['-hs_lastmodifieddate'], // the README's TS form
    properties: ['amount', 'dealstage', 'closedate', 'hs_lastmodifieddate'],
    limit: 50,
  });
  assert.ok(res.total > 0);
  assert.ok(res.results.length > 0 && res.results.length <= 50);
  let prev = Infinity;
  for (const d of res.results) {
    assert.equal(d.properties.dealstage, 'closedwon');
    const t = new Date(d.properties.hs_lastmodifieddate).getTime();
    assert.ok(t <= prev, 'sorted descending');
    prev = t;
  }
  // The search agrees with the listing about the closed-won deals it saw.
  const wonListed = seen.deals.filter((d) => d.properties.dealstage === 'closedwon');
  assert.ok(wonListed.length > 0);
  const all = await hs.dealsSearch.doSearch({
    filterGroups: [{ filters: [{ propertyName: 'hs_object_id', operator: 'IN', values: wonListed.map((d) => d.id) },
      { propertyName: 'dealstage', operator: 'EQ', value: 'closedwon' }] }],
    properties: ['amount'],
    limit: 100,
  });
  assert.equal(all.total, wonListed.length);
  const amounts = new Map(wonListed.map((d) => [d.id, d.properties.amount]));
  for (const d of all.results) assert.equal(d.properties.amount, amounts.get(d.id), `amount of ${d.id}`);
});

test('v4 associations batchApi.getPage deals->contacts matches the v3 associations', async () => {
  const deals = seen.deals.filter((d) => d.associations?.contacts?.results?.length).slice(0, 10);
  const res = await hs.assocBatch.getPage('deals', 'contacts', { inputs: deals.map((d) => ({ id: d.id })) });
  assert.equal(res.status, 'COMPLETE');
  assert.equal(res.results.length, deals.length);
  for (const r of res.results) {
    // The generated model names the JSON key "from" `_from`.
    const deal = deals.find((d) => d.id === String(r._from.id));
    assert.ok(deal, `result for a deal asked for (${r._from.id})`);
    const want = deal.associations.contacts.results.map((a) => a.id);
    const got = r.to.map((t) => String(t.toObjectId));
    assert.deepEqual([...new Set(got)].sort(), [...new Set(want)].sort(), `contacts of deal ${deal.id}`);
    for (const t of r.to) {
      assert.ok(t.associationTypes.length >= 1);
      const primary = t.associationTypes.find((a) => a.category === 'HUBSPOT_DEFINED');
      assert.ok(primary, 'a HUBSPOT_DEFINED association type');
      assert.equal(primary.typeId, 3, 'deal_to_contact is type 3');
    }
  }

  const partial = await hs.assocBatch.getPageWithHttpInfo('deals', 'contacts', { inputs: [{ id: deals[0].id }, { id: MISSING_ID }] });
  assert.equal(partial.httpStatusCode, 207);
  assert.equal(partial.data.results.length, 1);
  assert.equal(partial.data.numErrors, 1);
  assert.equal(partial.data.errors[0].category, 'OBJECT_NOT_FOUND');
});

test('pipelines pipelinesApi.getAll("deals") holds every stage the deals use', async () => {
  const res = await hs.pipelines.getAll('deals');
  assert.ok(res.results.length >= 1);
  const def = res.results.find((p) => p.id === 'default');
  assert.ok(def, 'the default pipeline');
  assert.ok(def.label);
  const stages = new Map();
  for (const p of res.results) {
    assert.ok(Array.isArray(p.stages) && p.stages.length > 0);
    for (const s of p.stages) {
      stages.set(`${p.id}/${s.id}`, s);
      assert.equal(typeof s.displayOrder, 'number');
      assertDate(s.createdAt, 'stage createdAt');
    }
  }
  const won = stages.get('default/closedwon');
  assert.ok(won, 'closedwon stage');
  assert.equal(won.metadata.isClosed, 'true');
  assert.equal(Number(won.metadata.probability), 1);
  const lost = stages.get('default/closedlost');
  assert.ok(lost, 'closedlost stage');
  assert.equal(Number(lost.metadata.probability), 0);
  for (const d of seen.deals) {
    assert.ok(stages.has(`${d.properties.pipeline}/${d.properties.dealstage}`),
      `stage ${d.properties.pipeline}/${d.properties.dealstage} of deal ${d.id} exists`);
  }
});

// --- writes ------------------------------------------------------------------

test('properties coreApi.getAll("contacts") describes the standard properties', async () => {
  const res = await hs.props.getAll('contacts', false);
  const byName = new Map(res.results.map((p) => [p.name, p]));
  assert.ok(byName.size > 10);
  const email = byName.get('email');
  assert.ok(email);
  assert.equal(email.type, 'string');
  assert.equal(email.fieldType, 'text');
  assert.equal(byName.get('lastmodifieddate')?.type, 'datetime');
  assert.equal(byName.get('createdate')?.type, 'datetime');
  for (const p of res.results) {
    assert.ok(p.label && p.groupName && p.type && p.fieldType, `property ${p.name} is complete`);
  }
});

test('property group + property create (groupsApi.create, coreApi.create), then written and read back', async () => {
  const groupName = `clvsync_compat_${RUN}`;
  const group = await hs.groups.create('contacts', { name: groupName, label: 'clvsync compat', displayOrder: -1 });
  assert.equal(group.name, groupName);
  assert.equal(group.label, 'clvsync compat');
  const groups = await hs.groups.getAll('contacts');
  assert.ok(groups.results.some((g) => g.name === groupName), 'group listed');

  const name = `clv_compat_${RUN}`;
  const created = await hs.props.create('contacts', {
    name,
    label: 'CLV (compat test)',
    type: 'number',
    fieldType: 'number',
    groupName,
    description: 'written by compat/hubspot-node',
  });
  assert.equal(created.name, name);
  assert.equal(created.type, 'number');
  assert.equal(created.fieldType, 'number');
  assert.equal(created.groupName, groupName);
  assertDate(created.createdAt, 'property createdAt');

  const got = await hs.props.getByName('contacts', name);
  assert.equal(got.name, name);
  assert.equal(got.label, 'CLV (compat test)');

  const all = await hs.props.getAll('contacts');
  assert.ok(all.results.some((p) => p.name === name), 'new property listed');

  const dup = await rejectsWith(hs.props.create('contacts', { name, label: 'again', type: 'number', fieldType: 'number', groupName }),
    PropertiesApiException, 409);
  assert.equal(dup.body.category, 'OBJECT_ALREADY_EXISTS');

  // Write the new property on a contact and read it back.
  const id = seen.contactIds[0];
  const up = await hs.contactsBatch.update({ inputs: [{ id, properties: { [name]: '1234.5' } }] });
  assert.equal(up.results[0].properties[name], '1234.5');
  const back = await hs.contactsBasic.getById(id, [name]);
  assert.equal(back.properties[name], '1234.5');
});

test('contacts batchApi.update changes values, re-read and search see the change', async () => {
  const ids = seen.contactIds.slice(1, 4);
  const before = await hs.contactsBatch.read({ inputs: ids.map((id) => ({ id })), properties: ['firstname', 'lastmodifieddate'], propertiesWithHistory: [] });
  const oldMod = new Map(before.results.map((r) => [r.id, r.updatedAt.getTime()]));
  const value = (id) => `Compat-${RUN}-${id.slice(-4)}`;
  const t0 = Date.now();

  const res = await hs.contactsBatch.update({ inputs: ids.map((id) => ({ id, properties: { firstname: value(id) } })) });
  assert.equal(res.status, 'COMPLETE');
  assert.deepEqual(res.results.map((r) => r.id).sort(), [...ids].sort());
  for (const r of res.results) {
    assert.equal(r.properties.firstname, value(r.id));
    assert.ok(r.updatedAt.getTime() > oldMod.get(r.id), 'updatedAt moved');
  }

  const after = await hs.contactsBatch.read({ inputs: ids.map((id) => ({ id })), properties: ['firstname', 'lastmodifieddate'], propertiesWithHistory: [] });
  for (const r of after.results) {
    assert.equal(r.properties.firstname, value(r.id), `firstname of ${r.id} re-read`);
    assert.ok(new Date(r.properties.lastmodifieddate).getTime() >= t0 - 1000, 'lastmodifieddate is now');
  }

  // An incremental sync's search (modified since t0) finds exactly what changed
  // since then (the property write above touched one more contact earlier).
  const found = await hs.contactsSearch.doSearch({
    filterGroups: [{ filters: [{ propertyName: 'lastmodifieddate', operator: 'GTE', value: String(t0 - 1000) }] }],
    sorts: [{ propertyName: 'lastmodifieddate', direction: 'ASCENDING' }],
    properties: ['firstname'],
    limit: 100,
  });
  for (const id of ids) {
    const hit = found.results.find((r) => r.id === id);
    assert.ok(hit, `search finds updated contact ${id}`);
    assert.equal(hit.properties.firstname, value(id));
  }

  // A missing id in a batch update: 207 with an OBJECT_NOT_FOUND error.
  const partial = await hs.contactsBatch.updateWithHttpInfo({ inputs: [{ id: ids[0], properties: { firstname: value(ids[0]) } }, { id: MISSING_ID, properties: { firstname: 'x' } }] });
  assert.equal(partial.httpStatusCode, 207);
  assert.deepEqual(partial.data.results.map((r) => r.id), [ids[0]]);
  assert.equal(partial.data.errors[0].category, 'OBJECT_NOT_FOUND');

  // An unknown property rejects the whole batch with 400 VALIDATION_ERROR.
  const bad = await rejectsWith(hs.contactsBatch.update({ inputs: [{ id: ids[0], properties: { no_such_property_xyz: '1' } }] }),
    ContactsApiException, 400);
  assert.equal(bad.body.category, 'VALIDATION_ERROR');
  assert.equal(bad.body.errors[0].code, 'PROPERTY_DOESNT_EXIST');
});

// --- errors ------------------------------------------------------------------

test('a missing contact is an ApiException 404 with HubSpot\'s error body', async () => {
  const err = await rejectsWith(hs.contactsBasic.getById(MISSING_ID, ['email']), ContactsApiException, 404);
  assert.equal(err.body.category, 'OBJECT_NOT_FOUND');
  assert.equal(typeof err.body.message, 'string');
  assert.ok(err.body.message.length > 0);
  assert.match(err.body.correlationId, UUID);
  assert.match(err.headers['content-type'], /^application\/json/);

  const dealErr = await rejectsWith(hs.dealsBasic.getById(MISSING_ID), DealsApiException, 404);
  assert.equal(dealErr.body.category, 'OBJECT_NOT_FOUND');
});

test('a wrong token gets 401 INVALID_AUTHENTICATION', async () => {
  const bad = makeClient({ accessToken: `${TOKEN}-wrong` });
  const err = await rejectsWith(bad.contactsBasic.getPage(1), ContactsApiException, 401);
  assert.equal(err.body.category, 'INVALID_AUTHENTICATION');
  assert.match(err.body.correlationId, UUID);
  const err2 = await rejectsWith(bad.dealsSearch.doSearch({ limit: 1 }), DealsApiException, 401);
  assert.equal(err2.body.category, 'INVALID_AUTHENTICATION');
});

// --- rate limits and retries -------------------------------------------------

test('search over 5 requests/second: 429 surfaced as ApiException with HubSpot\'s secondly message', async () => {
  await resetStats();
  const req = { filterGroups: [{ filters: [{ propertyName: 'email', operator: 'HAS_PROPERTY' }] }], properties: ['email'], limit: 1 };
  const settled = await Promise.allSettled(Array.from({ length: 10 }, () => hs.contactsSearch.doSearch(req)));
  const ok = settled.filter((s) => s.status === 'fulfilled');
  const limited = settled.filter((s) => s.status === 'rejected');
  assert.ok(ok.length >= 1 && ok.length <= 5, `at most 5 searches a second pass (${ok.length})`);
  assert.ok(limited.length >= 5, `the rest are limited (${limited.length})`);
  for (const { reason } of limited) {
    assert.ok(reason instanceof ContactsApiException, String(reason));
    assert.equal(reason.code, 429);
    // The client's retry logic keys on this exact message for search.
    assert.equal(reason.body.message, 'You have reached your secondly limit.');
    assert.equal(reason.body.policyName, 'SECONDLY');
    assert.equal(reason.body.errorType, 'RATE_LIMIT');
    assert.match(reason.body.correlationId, UUID);
  }
  for (const { value } of ok) assert.equal(value.results.length, 1);
  const s = await stats();
  assert.equal(s.rateLimited, limited.length);
  await sleep(1100); // let the search window drain
});

test('numberOfApiCallRetries retries a search 429 (secondly) and returns the result', async () => {
  await resetStats();
  // The fake answers the first search 429 (injected fault, search flavour);
  // a middleware clears the fault once the client has seen it, so the retry
  // (the client waits 1 s for the secondly limit) succeeds deterministically.
  let seen429 = 0;
  const retrying = makeClient({
    numberOfApiCallRetries: 3,
    middleware: [{ post: async (ctx) => {
      if (ctx.httpStatusCode === 429 && seen429++ === 0) await clearFaults();
      return ctx;
    } }],
  });
  await setFaults('429=1');
  const t0 = Date.now();
  const res = await retrying.contactsSearch.doSearch({ filterGroups: [{ filters: [{ propertyName: 'email', operator: 'HAS_PROPERTY' }] }], properties: ['email'], limit: 3 });
  const took = Date.now() - t0;
  assert.equal(seen429, 1, 'exactly one 429 seen');
  assert.equal(res.results.length, 3);
  assert.ok(res.total > 3);
  assert.ok(took >= 900, `the client waited before retrying (${took} ms)`);
  const s = await stats();
  assert.equal(s.rateLimited, 1);
  assert.equal(s.requests['POST /crm/v3/objects/{objectType}/search'], 2, 'one 429 + one retry');
});

test('ten-secondly 429 on a non-search call is surfaced as ApiException 429', async () => {
  await resetStats();
  await setFaults('429=1');
  try {
    const err = await rejectsWith(hs.contactsBasic.getById(seen.contactIds[0]), ContactsApiException, 429);
    assert.equal(err.body.message, 'You have reached your ten_secondly_rolling limit.');
    // The client's retry logic keys on this policy name.
    assert.equal(err.body.policyName, 'TEN_SECONDLY_ROLLING');
    assert.equal(err.body.errorType, 'RATE_LIMIT');
    assert.match(err.body.correlationId, UUID);
    const err2 = await rejectsWith(hs.contactsBatch.read({ inputs: [{ id: seen.contactIds[0] }], properties: [], propertiesWithHistory: [] }),
      ContactsApiException, 429);
    assert.equal(err2.body.message, 'You have reached your ten_secondly_rolling limit.');
  } finally {
    await clearFaults();
  }
  const s = await stats();
  assert.equal(s.rateLimited, 2);
  // And the calls work again once the limit is gone.
  const c = await hs.contactsBasic.getById(seen.contactIds[0], ['email']);
  assert.equal(c.id, seen.contactIds[0]);
});

test('numberOfApiCallRetries retries a 503 and returns the result', async () => {
  await resetStats();
  let seen503 = 0;
  const retrying = makeClient({
    numberOfApiCallRetries: 3,
    middleware: [{ post: async (ctx) => {
      if (ctx.httpStatusCode === 503 && seen503++ === 0) await clearFaults();
      return ctx;
    } }],
  });
  await setFaults('503=1');
  const id = seen.contactIds[0];
  const c = await retrying.contactsBasic.getById(id, ['email']);
  assert.equal(seen503, 1);
  assert.equal(c.id, id);
  assert.match(c.properties.email, /@/);
  const s = await stats();
  assert.equal(s.requests['GET /crm/v3/objects/{objectType}/{objectId}'], 2, 'one 503 + one retry');
});

test('numberOfApiCallRetries retries a ten-secondly 429 after 10 s and returns the result', async () => {
  await resetStats();
  let seen429 = 0;
  const retrying = makeClient({
    numberOfApiCallRetries: 2,
    middleware: [{ post: async (ctx) => {
      if (ctx.httpStatusCode === 429 && seen429++ === 0) await clearFaults();
      return ctx;
    } }],
  });
  await setFaults('429=1');
  const ids = seen.contactIds.slice(0, 3);
  const t0 = Date.now();
  const res = await retrying.contactsBatch.read({ inputs: ids.map((id) => ({ id })), properties: ['email'], propertiesWithHistory: [] });
  const took = Date.now() - t0;
  assert.equal(seen429, 1);
  assert.deepEqual(res.results.map((r) => r.id).sort(), [...ids].sort());
  assert.ok(took >= 9500, `the client waited ~10 s for the ten-secondly window (${took} ms)`);
  const s = await stats();
  assert.equal(s.rateLimited, 1);
  assert.equal(s.requests['POST /crm/v3/objects/{objectType}/batch/read'], 2, 'one 429 + one retry');
});
