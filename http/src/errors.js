'use strict';
// errors.js — every error the service answers with is JSON:
// {status, code, sqlstate, message, detail, hint}.  Database errors keep
// PostgreSQL's SQLSTATE, message, detail and hint; the HTTP status follows
// from the SQLSTATE, so a caller's mistake is a 4xx and only a fault of
// the service or the database is a 5xx.

class ApiError extends Error {
  constructor(status, code, message, { sqlstate = null, detail = null, hint = null, headers = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.sqlstate = sqlstate;
    this.detail = detail;
    this.hint = hint;
    this.headers = headers;
  }

  toJSON() {
    return { status: this.status, code: this.code, sqlstate: this.sqlstate, message: this.message,
             detail: this.detail, hint: this.hint };
  }
}

// statusFor: the HTTP status of a SQLSTATE.
function statusFor(sqlstate) {
  if (typeof sqlstate !== 'string' || sqlstate.length !== 5) return 500;
  switch (sqlstate) {
    case '42501': return 403;            // insufficient_privilege: the role may not
    case 'P0002': return 404;            // no_data_found
    case '02000': return 404;            // no_data
    case '42704': return 404;            // undefined_object (unknown segment, role, ...)
    case '57014': return 503;            // query_canceled (statement timeout)
    case '40001': case '40P01': return 409;  // serialization failure, deadlock: retry
    default: break;
  }
  switch (sqlstate.slice(0, 2)) {
    case '22': return 400;               // data exception: a value the request sent
    case '23': return 409;               // integrity constraint violation
    case '42': return 422;               // a request the rules refuse
    case '28': return 401;               // invalid authorization (the token names nobody)
    case '2B': case '2D': case '25': case '55': case '40': return 409;
    case '54': return 422;               // program limit exceeded (e.g. properties too large)
    case 'P0': return 400;               // raise_exception
    case '0A': return 422;               // feature not supported
    case '53': case '57': case '08': return 503;
    default: return 500;
  }
}

// fromPg: the ApiError of a node-postgres error (or of anything else).
function fromPg(err) {
  if (err instanceof ApiError) return err;
  if (err && typeof err.code === 'string' && err.code.length === 5 && err.severity) {
    const status = statusFor(err.code);
    return new ApiError(status, err.code, err.message, { sqlstate: err.code, detail: err.detail || null, hint: err.hint || null });
  }
  const msg = err && err.message ? String(err.message) : String(err);
  if ((err && typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) || /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(msg)) {
    return new ApiError(503, 'unavailable', 'the database cannot be reached', { detail: msg });
  }
  return new ApiError(500, 'internal', 'internal error of the HTTP service', { detail: msg });
}

module.exports = { ApiError, statusFor, fromPg };
