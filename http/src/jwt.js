'use strict';
// jwt.js — HS256 JSON Web Tokens with node:crypto: verify what callers
// send, sign tokens for tests, the demo and the bundled token tool.  Only
// HS256 is accepted (never "none", never another algorithm named by the
// token itself); exp and nbf are checked when present.

const crypto = require('node:crypto');

class TokenError extends Error {}

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function b64urlDecode(part) {
  if (typeof part !== 'string' || !/^[A-Za-z0-9_-]*$/.test(part)) throw new TokenError('token is not base64url');
  return Buffer.from(part.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

function parseJson(buf, what) {
  try {
    const v = JSON.parse(buf.toString('utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v;
  } catch (e) {
    throw new TokenError(`token ${what} is not a JSON object`);
  }
}

// sign: the compact HS256 token of a claims object.
function sign(claims, secret) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const mac = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(mac)}`;
}

// verify: the claims of a valid token, or a TokenError saying why not.
function verify(token, secret, { now = Date.now() / 1000, leeway = 30 } = {}) {
  if (typeof token !== 'string' || token.length > 8192) throw new TokenError('token missing or too long');
  const parts = token.split('.');
  if (parts.length !== 3) throw new TokenError('token is not of the form header.payload.signature');
  const header = parseJson(b64urlDecode(parts[0]), 'header');
  if (header.alg !== 'HS256') throw new TokenError('token algorithm must be HS256');
  const expected = crypto.createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const given = b64urlDecode(parts[2]);
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    throw new TokenError('token signature is wrong');
  }
  const claims = parseJson(b64urlDecode(parts[1]), 'payload');
  if (claims.exp !== undefined && !(typeof claims.exp === 'number' && claims.exp + leeway > now)) {
    throw new TokenError('token has expired');
  }
  if (claims.nbf !== undefined && !(typeof claims.nbf === 'number' && claims.nbf - leeway <= now)) {
    throw new TokenError('token is not valid yet');
  }
  return claims;
}

module.exports = { sign, verify, TokenError };
