// An independent authorization server for Tether's tests: node-oidc-provider (OpenID
// Certified), configured on loopback. It serves RFC 8414 / OpenID discovery, the
// authorization code grant with PKCE, RFC 9207 `iss` in authorization responses, refresh
// tokens for `offline_access` asked with `prompt=consent`, the client credentials grant,
// RFC 7009 revocation, and the JWT bearer grant (RFC 7523 §2.1) registered below. Users
// consent at once (no pages), `/api/me` is a protected resource that answers 200 for a
// live access token and 401 otherwise, and `/api/signout` ends the token it is called with.
//
// node server.mjs --config <file.json> [--port 0]
// Prints one JSON line {"issuer": "http://127.0.0.1:<port>"} once it listens.
//
// The config file: {"clients": [client metadata…], "ttl": {"AccessToken": s,
// "ClientCredentials": s}, "jwt_bearer": {"<assertion iss>": "<public key PEM>"}}.

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { createPublicKey } from 'node:crypto';
import { decodeJwt, jwtVerify } from 'jose';
import Provider, { errors } from 'oidc-provider';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const MAX_ASSERTION_LIFETIME = 3600;

const { values } = parseArgs({
  options: { config: { type: 'string' }, port: { type: 'string', default: '0' } },
});
const settings = JSON.parse(readFileSync(values.config, 'utf8'));

const server = createServer();
server.listen(Number(values.port), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = build(issuer);
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

function build(issuer) {
  const ttl = settings.ttl ?? {};
  const provider = new Provider(issuer, {
    clients: settings.clients ?? [],
    cookies: { keys: ['tether-test-cookie-key'] },
    findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    scopes: ['openid', 'offline_access', 'api:read'],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
    ttl: {
      AccessToken: ttl.AccessToken ?? 600,
      ClientCredentials: ttl.ClientCredentials ?? 600,
      AuthorizationCode: 60,
      Grant: 3600,
      Interaction: 600,
      Session: 3600,
      IdToken: 600,
      RefreshToken: 86400,
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  });
  provider.registerGrantType(JWT_BEARER, jwtBearer(provider), ['assertion', 'scope']);
  provider.use(interactions(provider));
  provider.use(protectedResource(provider));
  return provider;
}

// RFC 7523 §3: the assertion's issuer is known, its audience is the token endpoint, it is
// signed by the issuer's key and lives at most an hour.
function jwtBearer(provider) {
  const keys = Object.fromEntries(
    Object.entries(settings.jwt_bearer ?? {}).map(([iss, pem]) => [iss, createPublicKey(pem)]),
  );
  return async function jwtBearerGrant(ctx) {
    const { assertion } = ctx.oidc.params;
    let claims;
    try {
      const key = keys[decodeJwt(assertion).iss];
      if (!key) throw new Error('unknown issuer');
      ({ payload: claims } = await jwtVerify(assertion, key, {
        audience: provider.urlFor('token'),
        algorithms: ['RS256', 'ES256'],
        requiredClaims: ['iss', 'exp', 'iat'],
      }));
    } catch {
      throw new errors.InvalidGrant('the assertion is not valid');
    }
    if (claims.exp - claims.iat > MAX_ASSERTION_LIFETIME) {
      throw new errors.InvalidGrant('the assertion lives too long');
    }
    const scope = ctx.oidc.params.scope ?? claims.scope;
    const token = new provider.ClientCredentials({ client: ctx.oidc.client, scope });
    token.extra = { sub: claims.sub ?? claims.iss };
    const value = await token.save();
    ctx.body = {
      access_token: value,
      expires_in: token.expiration,
      token_type: 'Bearer',
      scope: token.scope,
    };
  };
}

// The user is signed in and consents at once: login, then a grant of what was asked.
function interactions(provider) {
  return async (ctx, next) => {
    const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
    if (!match || ctx.method !== 'GET') return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { prompt, params, session } = details;
    let result;
    if (prompt.name === 'login') {
      result = { login: { accountId: 'user-1' } };
    } else {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      if (prompt.details.missingOIDCScope) {
        grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
      }
      if (prompt.details.missingResourceScopes) {
        for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes)) {
          grant.addResourceScope(indicator, scopes.join(' '));
        }
      }
      result = { consent: { grantId: await grant.save() } };
    }
    ctx.respond = false;
    await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  };
}

// GET /api/me with a live access token: who it was issued to; 401 otherwise.
// POST /api/signout with one: the token is ended (a session API's sign-out), 204.
function protectedResource(provider) {
  return async (ctx, next) => {
    if (ctx.path !== '/api/me' && ctx.path !== '/api/signout') return next();
    const header = ctx.get('authorization');
    const value = header.startsWith('Bearer ') ? header.slice(7) : '';
    const token = value
      ? (await provider.AccessToken.find(value)) ?? (await provider.ClientCredentials.find(value))
      : undefined;
    if (!token || token.isExpired) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      ctx.body = { error: 'invalid_token' };
      return undefined;
    }
    if (ctx.path === '/api/signout') {
      if (ctx.method !== 'POST') return next();
      await token.destroy();
      ctx.status = 204;
      return undefined;
    }
    ctx.body = {
      client_id: token.clientId,
      sub: token.accountId ?? token.extra?.sub ?? null,
      scope: token.scope ?? null,
      items: [{ id: 1, name: 'first' }, { id: 2, name: 'second' }],
    };
    return undefined;
  };
}
