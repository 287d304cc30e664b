import type { JwtCarrierOptions } from '../../http/carriers/jwt-carrier.js';
import type { JwtIdentitySection } from './types.js';

/**
 * The options of a `JwtCarrier` for an `identity: { mode: jwt }` section: the
 * one place the secret leaves its {@link Secret} wrapper.
 *
 * @example
 * import { JwtCarrier } from 'lapse';
 * import { jwtCarrierOptions, loadGatewayConfigFile } from 'lapse/gateway';
 * const { identity } = await loadGatewayConfigFile('lapse.yaml');
 * if (identity.mode === 'jwt') new JwtCarrier(jwtCarrierOptions(identity));
 */
export function jwtCarrierOptions(identity: JwtIdentitySection): JwtCarrierOptions {
  return {
    issuer: identity.issuer,
    audience: identity.audience,
    algorithms: identity.algorithms,
    ...(identity.jwksUrl === undefined ? {} : { jwksUrl: identity.jwksUrl }),
    ...(identity.publicKey === undefined ? {} : { publicKey: identity.publicKey }),
    ...(identity.secret === undefined ? {} : { secret: identity.secret.value() }),
    ...(identity.cookie === undefined ? {} : { cookie: identity.cookie }),
    claims: identity.claims,
  };
}
