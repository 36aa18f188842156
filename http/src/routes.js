'use strict';
// routes.js — the API: one entry per endpoint.  An entry names the method
// and path, the parameters (where they come from, their type, whether they
// are required, which argument of the SQL function they fill) and the
// cdp_api function it calls; server.js validates, calls and answers, and
// openapi.js describes the same entries.  Adding an endpoint is adding an
// entry here (and its function in src/api.sql with its grants).
//
// Parameter types: string, integer, bigint, number, boolean, timestamp
// (ISO 8601, with a time zone), date (YYYY-MM-DD), json (any JSON value).
// Results: scalar (one value, answered as {<as>: value}), row (the first
// row), rows (all rows), json (the function's jsonb as it is), page (rows
// with a "next" link, see page.cursor), csv (all rows, streamed).

const idType = { type: 'string', description: 'identifier type (erp_customer, email, loyalty_card, phone, device, cookie, mac_hash, ...)' };

module.exports = [
  {
    method: 'POST', path: '/v1/identify', fn: 'cdp_api.identify', result: 'scalar', as: 'profile_id',
    tag: 'identity', summary: 'Record an identifier and get its profile', roles: ['cdp_writer'],
    params: {
      id_type: { ...idType, in: 'body', required: true },
      value: { type: 'string', in: 'body', required: true, description: 'the value as typed (cdp normalises it)' },
      source: { type: 'string', in: 'body', description: 'where it was seen (web, app, pos, ...)' },
      observed_at: { type: 'timestamp', in: 'body', description: 'when it was seen (default: now)' },
    },
  },
  {
    method: 'POST', path: '/v1/link', fn: 'cdp_api.link', result: 'scalar', as: 'profile_id',
    tag: 'identity', summary: 'Record that two identifiers were seen together (merges their profiles within the limits)', roles: ['cdp_writer'],
    params: {
      type_a: { ...idType, in: 'body', required: true },
      value_a: { type: 'string', in: 'body', required: true },
      type_b: { ...idType, in: 'body', required: true },
      value_b: { type: 'string', in: 'body', required: true },
      source: { type: 'string', in: 'body' },
      observed_at: { type: 'timestamp', in: 'body' },
    },
  },
  {
    method: 'GET', path: '/v1/identifiers/:id_type/:value', fn: 'cdp_api.resolve', result: 'scalar', as: 'profile_id',
    tag: 'identity', summary: 'The profile of an identifier (404 when unknown)', roles: ['cdp_writer', 'cdp_admin'],
    params: { id_type: { ...idType, in: 'path', required: true }, value: { type: 'string', in: 'path', required: true } },
  },
  {
    method: 'DELETE', path: '/v1/identifiers/:id_type/:value', fn: 'cdp_api.erase', result: 'rows',
    tag: 'privacy', summary: 'Erase the person holding an identifier (Art. 17); admins only', roles: ['cdp_admin'],
    params: {
      id_type: { ...idType, in: 'path', required: true },
      value: { type: 'string', in: 'path', required: true },
      reason: { type: 'string', in: 'query', required: true, description: 'why (ticket number; no names)' },
    },
  },
  {
    method: 'POST', path: '/v1/consents', fn: 'cdp_api.record_consent', result: 'scalar', as: 'event_id',
    tag: 'consent', summary: 'Record a consent grant or revoke for an identifier', roles: ['cdp_writer'],
    params: {
      id_type: { ...idType, in: 'body', required: true },
      value: { type: 'string', in: 'body', required: true },
      purpose: { type: 'string', in: 'body', required: true, description: 'email_marketing, sms, push, personalization, in_store_tracking, profiling, third_party_ads, analytics' },
      granted: { type: 'boolean', in: 'body', required: true, description: 'true: grant, false: revoke' },
      recorded_at: { type: 'timestamp', in: 'body' },
      source: { type: 'string', in: 'body' },
      proof: { type: 'json', in: 'body', description: 'evidence (form, text version, ...)' },
    },
  },
  {
    method: 'POST', path: '/v1/consents/confirm', fn: 'cdp_api.confirm_consent', result: 'scalar', as: 'event_id',
    tag: 'consent', summary: 'Confirm a double opt-in grant (the click in the confirmation mail)', roles: ['cdp_writer'],
    params: {
      id_type: { ...idType, in: 'body', required: true },
      value: { type: 'string', in: 'body', required: true },
      purpose: { type: 'string', in: 'body', required: true },
      confirmed_at: { type: 'timestamp', in: 'body' },
    },
  },
  {
    method: 'POST', path: '/v1/events', fn: 'cdp_api.track', result: 'row', status: 201,
    tag: 'events', summary: 'Track an event (article_view, cart_add, ...) seen with an identifier', roles: ['cdp_writer'],
    params: {
      id_type: { ...idType, in: 'body', required: true },
      value: { type: 'string', in: 'body', required: true },
      event_type: { type: 'string', in: 'body', required: true, description: 'a row of cdp.event_types' },
      article_id: { type: 'string', in: 'body' },
      occurred_at: { type: 'timestamp', in: 'body' },
      channel: { type: 'string', in: 'body', description: 'web (default), app, ...' },
      location: { type: 'string', in: 'body', description: 'store of an in-store event' },
      source: { type: 'string', in: 'body' },
      properties: { type: 'json', in: 'body', description: 'a JSON object of details, at most 4 kB' },
    },
  },
  {
    method: 'POST', path: '/v1/sightings', fn: 'cdp_api.sighting', result: 'row', status: 201,
    tag: 'events', summary: 'Record an app beacon sighting for the in-store visits (stored only with in_store_tracking consent at seen_at: recorded says so)', roles: ['cdp_writer'],
    params: {
      id_type: { ...idType, in: 'body', required: true },
      value: { type: 'string', in: 'body', required: true, description: 'the app\'s device id' },
      store: { type: 'string', in: 'body', required: true, description: 'store of the beacon, e.g. M01' },
      beacon: { type: 'string', in: 'body', description: 'beacon id, e.g. M01-RUN (beacon or zone is required)' },
      zone: { type: 'string', in: 'body', description: 'zone of the shop, when the app knows it' },
      seen_at: { type: 'timestamp', in: 'body', description: 'when the app ranged the beacon (default: now)' },
      rssi: { type: 'integer', in: 'body', description: 'signal strength in dBm, -127 .. 0' },
      foreground: { type: 'boolean', in: 'body', description: 'the app was open in the foreground (the dwell discount counts only that time)' },
      source: { type: 'string', in: 'body', description: 'app name and version' },
    },
  },
  {
    method: 'GET', path: '/v1/profiles/:profile_id', fn: 'cdp_api.profile', result: 'json',
    tag: 'profiles', summary: 'A profile\'s 360 view for staff (pseudonymised identifiers)', roles: ['cdp_analyst', 'cdp_admin'],
    params: { profile_id: { type: 'bigint', in: 'path', required: true } },
  },
  {
    method: 'GET', path: '/v1/profiles/:profile_id/recommendations', fn: 'cdp_api.recommendations', result: 'rows',
    tag: 'recommendations', summary: 'Articles in stock that match a profile (at a store, when given)', roles: ['cdp_writer', 'cdp_analyst'],
    params: {
      profile_id: { type: 'bigint', in: 'path', required: true },
      store: { type: 'string', in: 'query', description: 'stock location, e.g. M01' },
      k: { type: 'integer', in: 'query', description: 'how many (default 10, at most 100)' },
    },
  },
  {
    method: 'GET', path: '/v1/recommendations', fn: 'cdp_api.recommendations', result: 'rows',
    tag: 'recommendations', summary: 'Articles in stock that match the profile of an identifier', roles: ['cdp_writer'],
    params: {
      id_type: { ...idType, in: 'query', required: true },
      value: { type: 'string', in: 'query', required: true },
      store: { type: 'string', in: 'query' },
      k: { type: 'integer', in: 'query' },
    },
  },
  {
    method: 'GET', path: '/v1/me', fn: 'cdp_api.me', result: 'json',
    tag: 'customer', summary: 'Everything cdp holds about the token\'s customer (right of access)', roles: ['cdp_customer'],
    params: {},
  },
  {
    method: 'GET', path: '/v1/me/rewards', fn: 'cdp_api.my_rewards', result: 'rows',
    tag: 'customer', summary: 'The token\'s customer\'s open rewards earned in the shop (discount, prizes), the best first', roles: ['cdp_customer'],
    params: {},
  },
  {
    method: 'POST', path: '/v1/rewards/:code/redeem', fn: 'cdp_api.redeem_reward', result: 'row',
    tag: 'rewards', summary: 'The till redeems a reward code on a receipt, once (used or expired: 409, unknown: 404)', roles: ['cdp_writer'],
    params: {
      code: { type: 'string', in: 'path', required: true, description: 'the code the app shows (GS-XXXX-XXXX)' },
      order_id: { type: 'string', in: 'body', required: true, description: 'the receipt it goes on' },
    },
  },
  {
    method: 'GET', path: '/v1/me/consents', fn: 'cdp_api.my_consents', result: 'rows',
    tag: 'customer', summary: 'The token\'s customer\'s consents now', roles: ['cdp_customer'],
    params: {},
  },
  {
    method: 'PUT', path: '/v1/me/consents/:purpose', fn: 'cdp_api.set_my_consent', result: 'json',
    tag: 'customer', summary: 'Grant or revoke a consent from the app', roles: ['cdp_customer'],
    params: {
      purpose: { type: 'string', in: 'path', required: true },
      granted: { type: 'boolean', in: 'body', required: true },
      proof: { type: 'json', in: 'body' },
    },
  },
  {
    method: 'GET', path: '/v1/segments', fn: 'cdp_api.segments', result: 'rows',
    tag: 'segments', summary: 'Segments with their member counts', roles: ['cdp_analyst', 'cdp_campaign'],
    params: {},
  },
  {
    method: 'GET', path: '/v1/segments/:segment/audience', fn: 'cdp_api.audience', result: 'page',
    tag: 'segments', summary: 'A page of a segment\'s audience for a purpose (consent-filtered, with the identifiers the channel needs)', roles: ['cdp_campaign'],
    page: { size: 'page_size', default: 100, cursor: { after: 'profile_id' } },
    params: {
      segment: { type: 'string', in: 'path', required: true },
      purpose: { type: 'string', in: 'query', required: true },
      after: { type: 'bigint', in: 'query', description: 'the last profile_id of the previous page' },
      limit: { type: 'integer', in: 'query', arg: 'page_size', description: 'page size, 1 .. 10000 (default 100)' },
    },
  },
  {
    method: 'GET', path: '/v1/segments/:segment/audience.csv', fn: 'cdp_api.audience_export', result: 'csv',
    tag: 'segments', summary: 'A segment\'s whole audience for a purpose as CSV (one row per identifier)', roles: ['cdp_campaign'],
    params: {
      segment: { type: 'string', in: 'path', required: true },
      purpose: { type: 'string', in: 'query', required: true },
    },
  },
  {
    method: 'GET', path: '/v1/segments/:segment/entries', fn: 'cdp_api.segment_entries', result: 'page',
    tag: 'segments', summary: 'A page of the profiles that entered a segment since a time', roles: ['cdp_campaign', 'cdp_analyst'],
    page: { size: 'page_size', default: 1000, cursor: { since: 'entered_at', after: 'profile_id' } },
    params: {
      segment: { type: 'string', in: 'path', required: true },
      since: { type: 'timestamp', in: 'query', required: true },
      after: { type: 'bigint', in: 'query', description: 'with since: the last profile_id of the previous page' },
      limit: { type: 'integer', in: 'query', arg: 'page_size', description: 'page size, 1 .. 10000 (default 1000)' },
    },
  },
  {
    method: 'GET', path: '/v1/dashboard', fn: 'cdp_api.dashboard', result: 'json',
    tag: 'dashboard', summary: 'Every dataset of the multichannel dashboard (aggregates only)', roles: ['cdp_analyst'],
    params: {
      from: { type: 'date', in: 'query', arg: 'date_from', description: 'first day (default: 90 days before "to")' },
      to: { type: 'date', in: 'query', arg: 'date_to', description: 'last day (default: the day of the last order)' },
      store: { type: 'string', in: 'query' },
      segment: { type: 'string', in: 'query' },
    },
  },
];
