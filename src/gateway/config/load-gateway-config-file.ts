// The one module of the gateway config that touches the file system: it reads
// the bytes, bounded, and leaves everything else to `loadGatewayConfig`.
import { FileUnreadableError } from '../../errors.js';
import { MAX_POLICY_BYTES, policyTooLargeError } from '../../policy/load-policy.js';
import { readBounded } from '../../policy/load-policy-file.js';
import type { Env } from './env-value.js';
import { GatewayConfigError } from './gateway-config-error.js';
import { loadGatewayConfig } from './load-gateway-config.js';
import type { GatewayConfig } from './types.js';

/**
 * Read and load a whole `lapse.yaml` as a gateway config (see
 * {@link loadGatewayConfig}). An unreadable file (missing, a directory, no
 * permission) throws a `FileUnreadableError`; a file that is not a valid
 * config throws a {@link GatewayConfigError} naming `path` as given.
 *
 * @param env where `env:NAME` values are read from. Default: `process.env`.
 * @example
 * import { loadGatewayConfigFile } from 'lapse/gateway';
 * const config = await loadGatewayConfigFile('lapse.yaml');
 */
export async function loadGatewayConfigFile(
  path: string,
  env: Env = process.env,
): Promise<GatewayConfig> {
  let text: string | undefined;
  try {
    text = await readBounded(path, MAX_POLICY_BYTES);
  } catch (error) {
    throw new FileUnreadableError(path, error);
  }
  if (text === undefined) {
    const tooLarge = policyTooLargeError(path, `more than ${MAX_POLICY_BYTES} bytes`);
    const [issue, ...rest] = tooLarge.issues;
    throw issue === undefined ? tooLarge : new GatewayConfigError([issue, ...rest]);
  }
  return loadGatewayConfig(text, path, env);
}
