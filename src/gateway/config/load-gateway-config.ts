/**
 * Text in, frozen `GatewayConfig` out, or one `GatewayConfigError` with every
 * issue of the whole `lapse.yaml`: the policy's (from `loadPolicy`, less any
 * text that may hold a secret) and those of the `store`, `identity`, `gateway`
 * and `admin` sections.
 * Pure but for reading `env`: reading the file is `loadGatewayConfigFile`'s job.
 */
import { IssueList } from '../../policy/issue-list.js';
import {
  loadPolicy,
  MAX_POLICY_BYTES,
  parseSource,
  plainData,
  utf8Length,
} from '../../policy/load-policy.js';
import { type PolicyIssue, PolicyLoadError } from '../../policy/policy-load-error.js';
import type { Policy } from '../../policy/types.js';
import { fallbackMessage, ZodIssueMapper } from '../../policy/zod-issue-mapper.js';
import { checkConfigSections } from './config-checks.js';
import { configSectionsSchema, knownConfigKeysAt } from './config-schema.js';
import { configSections } from './config-sections.js';
import type { Env } from './env-value.js';
import { GatewayConfigError } from './gateway-config-error.js';
import { redacted } from './issue-redaction.js';
import type { GatewayConfig } from './types.js';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const entry of Object.values(value)) deepFreeze(entry);
  }
  return value;
}

/** The issues in `list`, sorted and without duplicates (an `IssueList` hands them out by throwing). */
function issuesIn(list: IssueList): readonly PolicyIssue[] {
  try {
    list.throwIfAny();
  } catch (error) {
    if (error instanceof PolicyLoadError) return error.issues;
    throw error;
  }
  return [];
}

type Sections = ReturnType<typeof configSections>;

/**
 * Validate the gateway sections; their issues go to `found`. `undefined` when
 * the file cannot be read as a mapping at all: `loadPolicy` has said why.
 */
function loadSections(
  text: string,
  file: string,
  env: Env,
  found: PolicyIssue[],
): Sections | undefined {
  if (utf8Length(text) > MAX_POLICY_BYTES) return undefined;
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const issues = new IssueList(file);
  let raw: Record<string, unknown>;
  let parsed: ReturnType<typeof parseSource>;
  try {
    parsed = parseSource(source, issues);
    raw = plainData(parsed, issues);
  } catch (error) {
    if (error instanceof PolicyLoadError) return undefined;
    throw error;
  }
  const result = configSectionsSchema(env).safeParse(raw, { error: fallbackMessage });
  if (!result.success) {
    const mapper = new ZodIssueMapper(raw, parsed.positions, issues, knownConfigKeysAt);
    for (const issue of result.error.issues) mapper.map(issue);
  }
  checkConfigSections(raw, parsed.positions, issues);
  const sectionIssues = issuesIn(issues);
  found.push(...sectionIssues);
  return result.success && sectionIssues.length === 0 ? configSections(result.data) : undefined;
}

/** Every issue once, in position order (stable: the policy's first at one position). */
function inOrder(issues: readonly PolicyIssue[]): PolicyIssue[] {
  const seen = new Set<string>();
  return issues
    .map(redacted)
    .sort((a, b) => a.line - b.line || a.column - b.column)
    .filter((issue) => {
      const key = `${issue.line}:${issue.column}:${issue.code}:${issue.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

/**
 * Load the whole gateway config from the text of a `lapse.yaml`: the policy
 * (exactly as `loadPolicy` loads it, with the same issues) and the `store`,
 * `identity`, `gateway` and `admin` sections, every default filled in:
 *
 * - `store`: `{ type: 'sqlite', path: './lapse.db' }`; `keyPrefix` of redis `lapse:`.
 * - `identity`: `{ mode: 'upstream' }`; with `mode: jwt`, `algorithms` is
 *   `['HS256']` with a `secret` and `['RS256']` otherwise, and `claims` is
 *   `{ roles: 'roles', userType: 'user_type' }`.
 * - `gateway`: required, with at least one route; `listen` `127.0.0.1:8080`,
 *   `loginUrl` `/login`, `public` `[]`, `development` `false`, `limits`
 *   `{ maxHeaderBytes: 16384, maxBodyBytes: 10485760, upstreamTimeoutMs: 30000 }`;
 *   a route's `injectClient` `false` and `wsActivity` `client`.
 * - `admin`: `listen` `127.0.0.1:7778`, no token (a listener beyond loopback needs one).
 *
 * `store.url`, `identity.secret`, `identity.publicKey` and `admin.token` may be
 * `env:NAME`, read from `env[NAME]`; secrets come back as {@link Secret}s.
 * Every problem is collected, sorted by position and thrown as one
 * {@link GatewayConfigError} listing `file:line:column: message` a line. No
 * message holds a secret: values of secret settings are never quoted, and
 * text that a broken line may have put a secret in (the token text of a
 * syntax error, an alias name, a long or odd key) is left out of the policy's
 * issues too, which are otherwise exactly `loadPolicy`'s. The result is
 * deeply frozen.
 *
 * @param file how to name the file in issues (the path as given).
 * @param env where `env:NAME` values are read from. Default: `process.env`.
 * @example
 * import { loadGatewayConfig } from 'lapse/gateway';
 * const config = loadGatewayConfig(text, 'lapse.yaml');
 * config.gateway.listen; // { host: '127.0.0.1', port: 8080 }
 * config.admin.token?.value(); // the token, from env:LAPSE_ADMIN_TOKEN
 */
export function loadGatewayConfig(
  text: string,
  file: string,
  env: Env = process.env,
): GatewayConfig {
  const found: PolicyIssue[] = [];
  let policy: Policy | undefined;
  try {
    policy = loadPolicy(text, file);
  } catch (error) {
    if (!(error instanceof PolicyLoadError)) throw error;
    found.push(...error.issues);
  }
  const sections = loadSections(text, file, env, found);
  const [first, ...rest] = inOrder(found);
  if (first !== undefined) throw new GatewayConfigError([first, ...rest]);
  if (policy === undefined || sections === undefined) {
    throw new Error('lapse: internal error: a gateway config failed to load without an issue');
  }
  return deepFreeze({ file, policy, ...sections });
}
