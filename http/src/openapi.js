'use strict';
// openapi.js — the OpenAPI 3.0 description of the routes in routes.js,
// served at GET /openapi.json; generated from the same entries the server
// runs, so the two cannot drift apart.

const SCHEMA = {
  string: { type: 'string' },
  integer: { type: 'integer', format: 'int32' },
  bigint: { type: 'integer', format: 'int64' },
  number: { type: 'number' },
  boolean: { type: 'boolean' },
  timestamp: { type: 'string', format: 'date-time' },
  date: { type: 'string', format: 'date' },
  json: {},
};

const RESULT = {
  scalar: (r) => ({ type: 'object', properties: { [r.as]: {} } }),
  json: () => ({ type: 'object' }),
  row: () => ({ type: 'object' }),
  rows: () => ({ type: 'array', items: { type: 'object' } }),
  page: () => ({ type: 'object', properties: { items: { type: 'array', items: { type: 'object' } }, next: { type: 'string', nullable: true } } }),
  csv: () => ({ type: 'string' }),
};

function openapi(routes) {
  const paths = {};
  for (const r of routes) {
    const p = r.path.replace(/:([a-z_]+)/g, '{$1}');
    const op = {
      operationId: `${r.method.toLowerCase()}${r.path.replace(/[/:.]+([a-z])/g, (m, c) => c.toUpperCase()).replace(/[^A-Za-z0-9]/g, '')}`,
      summary: r.summary,
      tags: [r.tag],
      description: `Calls ${r.fn}. Roles whose grants allow it: ${(r.roles || []).join(', ')}.`,
      security: [{ bearer: [] }],
      parameters: [],
      responses: {
        [String(r.status || 200)]: {
          description: 'OK',
          content: { [r.result === 'csv' ? 'text/csv' : 'application/json']: { schema: RESULT[r.result](r) } },
        },
        400: { $ref: '#/components/responses/error' },
        401: { $ref: '#/components/responses/error' },
        403: { $ref: '#/components/responses/error' },
        404: { $ref: '#/components/responses/error' },
        409: { $ref: '#/components/responses/error' },
        422: { $ref: '#/components/responses/error' },
      },
    };
    const body = { type: 'object', properties: {}, required: [], additionalProperties: false };
    for (const [name, spec] of Object.entries(r.params)) {
      const schema = { ...SCHEMA[spec.type], ...(spec.description ? { description: spec.description } : {}) };
      if (spec.in === 'body') {
        body.properties[name] = schema;
        if (spec.required) body.required.push(name);
      } else {
        op.parameters.push({ name, in: spec.in, required: spec.in === 'path' || !!spec.required, schema });
      }
    }
    if (Object.keys(body.properties).length) {
      if (!body.required.length) delete body.required;
      op.requestBody = { required: true, content: { 'application/json': { schema: body } } };
      op.responses[413] = { $ref: '#/components/responses/error' };
      op.responses[415] = { $ref: '#/components/responses/error' };
    }
    paths[p] = paths[p] || {};
    paths[p][r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'cdp over HTTP',
      version: '0.1.0',
      description: 'The customer data platform in the ERP database, over HTTP. Each request runs as the PostgreSQL role named in its token; the grants decide.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (HS256) with a "role" claim' } },
      schemas: {
        Error: {
          type: 'object',
          properties: {
            status: { type: 'integer' }, code: { type: 'string' }, sqlstate: { type: 'string', nullable: true },
            message: { type: 'string' }, detail: { type: 'string', nullable: true }, hint: { type: 'string', nullable: true },
          },
        },
      },
      responses: {
        error: { description: 'an error, with PostgreSQL\'s SQLSTATE when the database raised it',
                 content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    },
    paths,
  };
}

module.exports = { openapi };
