/**
 * The zod schema of a policy file: the one description of the format that
 * validation and the published JSON Schema (`schema/lapse.schema.json`) share.
 *
 * Messages set here are phrases about one value (`must be a string`); the
 * loader prefixes them with the key's path and positions them in the file.
 * Issues that need a specific code carry it in `params.lapseCode`.
 */
import { z } from 'zod';
import { type ErrorCode, ErrorCodes } from '../errors.js';
import { DURATION_PATTERN, DurationError, parseDuration, parseIdleDuration } from './duration.js';
import { COMPLIANCE_PRESET_IDS, isCompliancePresetId } from './presets.js';
import type { PassiveRule, PolicyRule, RuleMatch } from './types.js';

/** The key of `params` under which a custom issue names its lapse issue code. */
export const LAPSE_CODE_PARAM = 'lapseCode';

/** The warning period when `defaults.warn` is left out: 2 minutes. */
export const DEFAULT_WARN_MS = 120_000;

/** An HTTP token (RFC 9110 §5.6.2): what methods and header names are made of. */
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

type RefinementCtx = z.core.$RefinementCtx;

export function addLapseIssue(
  ctx: RefinementCtx,
  code: ErrorCode,
  message: string,
  path?: readonly PropertyKey[],
): void {
  ctx.addIssue({
    code: 'custom',
    message,
    params: { [LAPSE_CODE_PARAM]: code },
    ...(path === undefined ? {} : { path: [...path] }),
  });
}

/** Drop `undefined` properties, so optional settings left unset are absent (exactOptionalPropertyTypes). */
export type WithoutUndefined<T> = {
  [K in keyof T as undefined extends T[K] ? never : K]: T[K];
} & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};

export function withoutUndefined<T extends object>(value: T): WithoutUndefined<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, entry]) => entry !== undefined),
  ) as WithoutUndefined<T>;
}

// ---------------------------------------------------------------------------
// Durations: validated by `parseDuration` / `parseIdleDuration` alone; the
// JSON Schema repeats their accepted forms for editors.

const DURATION_FORMS = [
  {
    type: 'string',
    pattern: DURATION_PATTERN,
    description: 'A whole number and a unit: 500ms, 30s, 15m, 8h, 1d.',
  },
  { type: 'number', minimum: 0, description: 'A number of seconds.' },
] as const;

const OFF_FORM = { const: 'off', description: 'No idle timeout.' } as const;

function durationMs(value: unknown, ctx: RefinementCtx, idle: boolean): number | null | undefined {
  if (typeof value === 'boolean') {
    // YAML 1.1 (`%YAML 1.1`) reads a bare off/no/false as a boolean.
    addLapseIssue(
      ctx,
      ErrorCodes.POLICY_BAD_DURATION,
      `got ${value}, not a duration${idle ? '; for no idle timeout write "off" in quotes' : ''}`,
    );
    return undefined;
  }
  try {
    return idle ? parseIdleDuration(value) : parseDuration(value);
  } catch (error) {
    if (!(error instanceof DurationError)) throw error;
    addLapseIssue(ctx, ErrorCodes.POLICY_BAD_DURATION, error.message);
    return undefined;
  }
}

export interface DurationRules {
  /** Why `off` is not allowed here. */
  readonly off: string;
  /** Why zero is not allowed here; leave it out to allow zero. */
  readonly zero?: string;
}

/** A duration in ms, `off` not allowed. */
export function durationSchema(description: string, rules: DurationRules) {
  return z
    .unknown()
    .transform((value, ctx): number => {
      if (value === 'off') {
        addLapseIssue(ctx, ErrorCodes.POLICY_BAD_DURATION, rules.off);
        return z.NEVER;
      }
      const ms = durationMs(value, ctx, false);
      if (ms === undefined || ms === null) return z.NEVER;
      if (ms === 0 && rules.zero !== undefined) {
        addLapseIssue(ctx, ErrorCodes.POLICY_BAD_DURATION, rules.zero);
        return z.NEVER;
      }
      return ms;
    })
    .meta({ description, anyOf: [...DURATION_FORMS] });
}

/** An idle timeout in ms, or `off` (`null`); never zero. */
function idleDurationSchema(description: string) {
  return z
    .unknown()
    .transform((value, ctx): number | null => {
      const ms = durationMs(value, ctx, true);
      if (ms === undefined) return z.NEVER;
      if (ms === 0) {
        addLapseIssue(
          ctx,
          ErrorCodes.POLICY_BAD_DURATION,
          'an idle timeout of zero would end every session at once; write "off" for no idle timeout',
        );
        return z.NEVER;
      }
      return ms;
    })
    .meta({ description, anyOf: [...DURATION_FORMS, OFF_FORM] });
}

const ABSOLUTE_RULES: DurationRules = {
  off: '"off" is allowed only for idle; an absolute timeout always applies',
  zero: 'an absolute timeout of zero would end every session at once',
};

const WARN_RULES: DurationRules = {
  off: '"off" is allowed only for idle; write 0s for no early warning',
};

const LIMIT_RULES: DurationRules = {
  off: '"off" is not a limit; leave the key out for no limit',
  zero: 'a limit of zero would forbid every timeout; leave the key out for no limit',
};

// ---------------------------------------------------------------------------
// Small building blocks.

export function nonEmptyString(what: string) {
  return z.string({ error: `must be ${what}` }).min(1, { error: 'must not be empty' });
}

/** A mapping with exactly these keys; unknown keys are reported by the loader, at the key. */
export function section<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'invalid_type' ? 'must be a mapping' : undefined),
  });
}

/** One string, or a non-empty list of them; normalised to a list. */
export function stringOrList(item: z.ZodString, what: string, description: string) {
  return z
    .union([item, z.array(item).min(1, { error: 'must not be an empty list' })], {
      error: `must be ${what}, or a list of them`,
    })
    .transform((value): string[] => (typeof value === 'string' ? [value] : value))
    .describe(description);
}

// ---------------------------------------------------------------------------
// policy.rules[].match

const matchShape = {
  roles: stringOrList(
    nonEmptyString('a role name'),
    'a role name',
    'Holds when the session has any of these roles. A string or a list (any of).',
  ).optional(),
  userType: stringOrList(
    nonEmptyString('a user type'),
    'a user type',
    'Holds when the session user type is one of these (human, service, ...). A string or a list (any of).',
  ).optional(),
  environment: stringOrList(
    nonEmptyString('an environment name'),
    'an environment name',
    'Holds when the request is enforced in one of these environments (production, staging, ...). A string or a list (any of).',
  ).optional(),
  app: stringOrList(
    nonEmptyString('an app or route name'),
    'an app or route name',
    'Holds when the request is enforced for one of these apps or route names. A string or a list (any of).',
  ).optional(),
};

/** Message of a rule whose `match` is missing, null or empty. */
export const EMPTY_MATCH_MESSAGE =
  'a rule needs at least one condition (roles, userType, environment or app); settings that apply to everyone belong in defaults';

/** Run a whole-mapping check only when its keys were all fine (`{ rolez: a }` is an unknown key, not also an empty match). */
const WHEN_CLEAN = { when: (payload: z.core.ParsePayload) => payload.issues.length === 0 };

const matchSchema = section(matchShape)
  .superRefine((match, ctx) => {
    if (Object.values(match).every((value) => value === undefined)) {
      addLapseIssue(ctx, ErrorCodes.POLICY_EMPTY_MATCH, EMPTY_MATCH_MESSAGE);
    }
  }, WHEN_CLEAN)
  .transform((match): RuleMatch => withoutUndefined(match))
  .meta({
    description:
      'When the rule applies: every key given must hold; a list holds if any element does. At least one key.',
    minProperties: 1,
  });

// ---------------------------------------------------------------------------
// policy.rules[]

/** The value source name resolution reports for `defaults`; no rule may take it. */
const RESERVED_RULE_NAME = 'defaults';

const ruleShape = {
  name: nonEmptyString('a string')
    .refine((name) => name !== RESERVED_RULE_NAME, {
      error: `"${RESERVED_RULE_NAME}" is reserved: explanations use it for values that come from defaults; choose another rule name`,
    })
    .describe('Unique name of the rule; explanations, audit events and metrics use it.'),
  match: matchSchema,
  idle: idleDurationSchema(
    'Idle timeout when the rule applies: 500ms, 30s, 15m, 8h, 1d, a number of seconds, or off. The smallest of all applying rules wins.',
  ).optional(),
  absolute: durationSchema(
    'Absolute timeout when the rule applies: 500ms, 30s, 15m, 8h, 1d or a number of seconds. The smallest of all applying rules wins.',
    ABSOLUTE_RULES,
  ).optional(),
  warn: durationSchema(
    'How long before the earliest deadline the person is warned, when the rule applies. The largest of all applying rules wins.',
    WARN_RULES,
  ).optional(),
  message: nonEmptyString('a message')
    .describe('Shown to the person at the warning and at expiry when this rule decides a value.')
    .optional(),
};

const ruleSchema = section(ruleShape)
  .transform(
    (rule): PolicyRule =>
      withoutUndefined({
        name: rule.name,
        match: rule.match,
        idleMs: rule.idle,
        absoluteMs: rule.absolute,
        warnMs: rule.warn,
        message: rule.message,
      }),
  )
  .describe('A named rule: when match holds, its settings apply.');

// ---------------------------------------------------------------------------
// policy.passive[]

const methodItem = z
  .string({ error: 'must be an HTTP method such as GET' })
  .regex(HTTP_TOKEN, { error: 'must be an HTTP method such as GET' });

const pathItem = z
  .string({ error: 'must be a path glob starting with "/"' })
  .regex(/^\//, { error: 'must be a path glob starting with "/"' });

const headerSchema = z
  .record(
    z.string().regex(HTTP_TOKEN, { error: 'is not a valid HTTP header name' }),
    z.string({ error: 'must be a string (quote values such as "1")' }),
    { error: 'must be a mapping of header name to value' },
  )
  .transform((headers, ctx): Record<string, string> => {
    const entries = Object.entries(headers);
    if (entries.length === 0) {
      addLapseIssue(ctx, ErrorCodes.POLICY_BAD_VALUE, 'must name at least one header');
      return z.NEVER;
    }
    const lowered: Record<string, string> = {};
    for (const [name, value] of entries) {
      const key = name.toLowerCase();
      if (Object.hasOwn(lowered, key)) {
        addLapseIssue(
          ctx,
          ErrorCodes.POLICY_BAD_VALUE,
          `header ${JSON.stringify(name)} is given twice (header names are not case-sensitive)`,
          [name],
        );
      }
      lowered[key] = value;
    }
    return lowered;
  })
  .meta({
    description:
      'Header name to exact value; all must hold. Names are not case-sensitive; values are strings.',
    minProperties: 1,
  });

const passiveShape = {
  method: stringOrList(
    methodItem,
    'an HTTP method such as GET',
    'HTTP methods (any of), such as GET or [GET, HEAD].',
  )
    .transform((methods) => methods.map((method) => method.toUpperCase()))
    .optional(),
  path: stringOrList(
    pathItem,
    'a path glob starting with "/"',
    'Path globs (any of): * matches within a segment, ** across segments. Each starts with "/".',
  ).optional(),
  header: headerSchema.optional(),
};

const passiveSchema = section(passiveShape)
  .superRefine((entry, ctx) => {
    if (Object.values(entry).every((value) => value === undefined)) {
      addLapseIssue(
        ctx,
        ErrorCodes.POLICY_BAD_VALUE,
        'a passive entry needs at least one of method, path or header: one with no conditions would make all traffic passive',
      );
    }
  }, WHEN_CLEAN)
  .transform(
    (entry): PassiveRule =>
      withoutUndefined({ methods: entry.method, paths: entry.path, headers: entry.header }),
  )
  .meta({
    description:
      'Traffic that is checked but is not activity (background polling): every key given must hold.',
    minProperties: 1,
  });

// ---------------------------------------------------------------------------
// policy

const presetIdSchema = z
  .string({ error: 'must be a compliance preset id' })
  .superRefine((id, ctx) => {
    if (!isCompliancePresetId(id)) {
      addLapseIssue(
        ctx,
        ErrorCodes.POLICY_UNKNOWN_PRESET,
        `unknown compliance preset ${JSON.stringify(id)}; known presets: ${COMPLIANCE_PRESET_IDS.join(', ')}`,
      );
    }
  })
  .meta({ enum: [...COMPLIANCE_PRESET_IDS] });

const defaultsShape = {
  idle: idleDurationSchema(
    'Idle timeout: the session ends this long after the last genuine activity. 500ms, 30s, 15m, 8h, 1d, a number of seconds, or off.',
  ),
  absolute: durationSchema(
    'Absolute timeout: the session ends this long after sign-in, whatever the activity. 500ms, 30s, 15m, 8h, 1d or a number of seconds.',
    ABSOLUTE_RULES,
  ),
  warn: durationSchema(
    'How long before the earliest deadline the person is warned (default 2m; at most half the idle timeout).',
    WARN_RULES,
  ).optional(),
};

const limitsShape = {
  idle: durationSchema(
    'No default or rule may set a longer idle timeout (idle: off is above any idle limit).',
    LIMIT_RULES,
  ).optional(),
  absolute: durationSchema(
    'No default or rule may set a longer absolute timeout.',
    LIMIT_RULES,
  ).optional(),
};

const policyShape = {
  comply: z
    .union([presetIdSchema, z.array(presetIdSchema)], {
      error: 'must be a list of compliance preset ids',
    })
    .transform((ids): string[] => [...new Set(typeof ids === 'string' ? [ids] : ids)])
    .nullish()
    .describe(
      `Compliance presets whose published ceilings become limits, and are named when a value breaks them: ${COMPLIANCE_PRESET_IDS.join(', ')}.`,
    ),
  defaults: section(defaultsShape)
    .transform((defaults) => ({
      idleMs: defaults.idle,
      absoluteMs: defaults.absolute,
      warnMs: defaults.warn ?? DEFAULT_WARN_MS,
    }))
    .describe(
      'The timeouts of a session no rule sets a value for. idle and absolute are required.',
    ),
  limits: section(limitsShape)
    .transform((limits) => withoutUndefined({ idleMs: limits.idle, absoluteMs: limits.absolute }))
    .nullish()
    .describe('Ceilings no default or rule may exceed; comply presets add their own.'),
  rules: z
    .array(ruleSchema, { error: 'must be a list of rules' })
    .nullish()
    .describe(
      'Rules: every rule whose match holds applies; per setting the strictest value wins. Order never matters.',
    ),
  passive: z
    .array(passiveSchema, { error: 'must be a list of passive entries' })
    .nullish()
    .describe('Traffic that is checked but never counts as activity, such as background polling.'),
};

const policySchema = section(policyShape).describe('The session timeout policy.');

// ---------------------------------------------------------------------------
// The file

const versionSchema = z
  .number({ error: 'must be the number 1' })
  .superRefine((version, ctx) => {
    if (version !== 1) {
      addLapseIssue(
        ctx,
        ErrorCodes.POLICY_UNSUPPORTED_VERSION,
        `${version} is not supported; this lapse reads version 1 only`,
      );
    }
  })
  .meta({ const: 1, description: 'Version of the file format. Always 1.' });

/** A gateway section: accepted here as it is; the gateway validates it. */
function gatewaySection(description: string) {
  return z.unknown().describe(description).optional();
}

const fileShape = {
  version: versionSchema,
  policy: policySchema,
  store: gatewaySection(
    'Where the gateway keeps sessions: { type: memory | sqlite | redis, ... }. Read by lapse serve.',
  ),
  identity: gatewaySection(
    'How the gateway learns who signed in: { mode: upstream } or { mode: jwt, ... }. Read by lapse serve.',
  ),
  gateway: gatewaySection(
    'The gateway listener, login URL, public paths and routes. Read by lapse serve.',
  ),
  admin: gatewaySection('The admin listener and its token. Read by lapse serve.'),
};

/**
 * The schema of a whole policy file (`lapse.yaml`). Its output is the file's
 * content with durations in ms and lists normalised; `loadPolicy` adds the
 * ceilings and the cross-checks (limits, duplicate names) that need positions.
 */
export const policyFileSchema = section(fileShape).meta({
  title: 'lapse policy file',
  description:
    'Idle and absolute session timeouts for every place a session is used (lapse.yaml). JSON is accepted too.',
});

/** What `policyFileSchema` produces. */
export type PolicyFileData = z.output<typeof policyFileSchema>;

const KNOWN_KEYS: ReadonlyMap<string, readonly string[]> = new Map([
  ['', Object.keys(fileShape)],
  ['.policy', Object.keys(policyShape)],
  ['.policy.defaults', Object.keys(defaultsShape)],
  ['.policy.limits', Object.keys(limitsShape)],
  ['.policy.rules[]', Object.keys(ruleShape)],
  ['.policy.rules[].match', Object.keys(matchShape)],
  ['.policy.passive[]', Object.keys(passiveShape)],
]);

/** The keys the mapping at `path` may hold, or `undefined` if `path` is not a known section. */
export function knownKeysAt(path: readonly PropertyKey[]): readonly string[] | undefined {
  const pattern = path
    .map((segment) => (typeof segment === 'number' ? '[]' : `.${String(segment)}`))
    .join('');
  return KNOWN_KEYS.get(pattern);
}
