import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mutate, mutation, YAML_ALPHABET } from '../../test/helpers/text-mutations.js';
import { ErrorCodes } from '../errors.js';
import { loadPolicy, MAX_POLICY_BYTES } from './load-policy.js';
import { loadPolicyFile } from './load-policy-file.js';
import { formatPolicyIssue, type PolicyIssue, PolicyLoadError } from './policy-load-error.js';
import type { Policy } from './types.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** A YAML document from lines, so line numbers in tests are easy to read. */
const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

/** The smallest valid head: a test appends its own lines to it. */
const HEAD = ['version: 1', 'policy:', '  defaults: { idle: 15m, absolute: 8h }'];

function loadError(text: string, file = 'lapse.yaml'): PolicyLoadError {
  try {
    loadPolicy(text, file);
  } catch (error) {
    if (error instanceof PolicyLoadError) return error;
    throw error;
  }
  throw new Error('expected the policy to fail to load');
}

function issuesOf(text: string): readonly PolicyIssue[] {
  return loadError(text).issues;
}

/** The one issue of a file that has exactly one problem. */
function onlyIssue(text: string): PolicyIssue {
  const issues = issuesOf(text);
  expect(issues.map(formatPolicyIssue)).toHaveLength(1);
  const [issue] = issues;
  if (issue === undefined) throw new Error('unreachable');
  return issue;
}

/** What the SPEC example means, with the one correction it needs (see the fixture). */
const CORRECTED_EXAMPLE: Policy = {
  version: 1,
  comply: ['pci-dss-4', 'nist-800-63b-4:aal2'],
  defaults: { idleMs: 900_000, absoluteMs: 28_800_000, warnMs: 120_000 },
  ceilings: {
    idle: { ms: 900_000, source: 'pci-dss-4', requirement: 'PCI DSS v4.0 req. 8.2.8' },
    absolute: { ms: 43_200_000, source: 'limits' },
  },
  rules: [
    {
      name: 'admins',
      match: { roles: ['admin'] },
      idleMs: 300_000,
      absoluteMs: 3_600_000,
      message: 'Admin sessions end after 5 minutes without activity.',
    },
    { name: 'production', match: { environment: ['production'] }, idleMs: 600_000 },
    { name: 'services', match: { userType: ['service'] }, absoluteMs: 43_200_000, warnMs: 0 },
  ],
  passive: [
    { methods: ['GET'], paths: ['/api/notifications/**'] },
    { headers: { 'x-lapse-passive': '1' } },
  ],
};

describe('loadPolicy: the SPEC section 2 example', () => {
  it('rejects the example verbatim: its idle: off breaks pci-dss-4 at line 17, column 13', async () => {
    const text = await readFile(fixture('spec-example.yaml'), 'utf8');
    const issue = onlyIssue(text);
    expect(issue).toMatchObject({
      code: ErrorCodes.POLICY_ABOVE_LIMIT,
      line: 17,
      column: 13,
      path: ['policy', 'rules', 2, 'idle'],
      requirement: 'PCI DSS v4.0 req. 8.2.8',
    });
    expect(issue.message).toBe(
      'rule "services" idle off (no idle timeout) is above the idle limit of 15m set by pci-dss-4 (PCI DSS v4.0 req. 8.2.8)',
    );
  });

  it('loads the corrected example to the exact expected policy', async () => {
    const text = await readFile(fixture('spec-example-corrected.yaml'), 'utf8');
    expect(loadPolicy(text, 'lapse.yaml')).toEqual(CORRECTED_EXAMPLE);
  });

  it('loads the JSON equivalent to the same policy', async () => {
    const text = await readFile(fixture('spec-example-corrected.json'), 'utf8');
    expect(loadPolicy(text, 'lapse.json')).toEqual(CORRECTED_EXAMPLE);
  });

  it('returns a deeply frozen policy', async () => {
    const policy = await loadPolicyFile(fixture('spec-example-corrected.yaml'));
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.defaults)).toBe(true);
    expect(Object.isFrozen(policy.rules[0]?.match.roles)).toBe(true);
    expect(Object.isFrozen(policy.ceilings.idle)).toBe(true);
    expect(Object.isFrozen(policy.passive[1]?.headers)).toBe(true);
  });
});

describe('loadPolicy: values', () => {
  it('reads idle: off as idleMs: null and fills warn with 2m', () => {
    const policy = loadPolicy(
      yaml('version: 1', 'policy:', '  defaults: { idle: off, absolute: 8h }'),
      'x',
    );
    expect(policy.defaults).toEqual({ idleMs: null, absoluteMs: 28_800_000, warnMs: 120_000 });
    expect(policy.ceilings).toEqual({});
    expect(policy.comply).toEqual([]);
    expect(policy.rules).toEqual([]);
    expect(policy.passive).toEqual([]);
  });

  it('leaves settings a rule does not set absent, not undefined', () => {
    const policy = loadPolicy(
      yaml(...HEAD, '  rules:', '    - { name: a, match: { app: x } }'),
      'x',
    );
    const [rule] = policy.rules;
    expect(rule).toEqual({ name: 'a', match: { app: ['x'] } });
    expect(Object.keys(rule ?? {})).toEqual(['name', 'match']);
    expect(Object.keys(rule?.match ?? {})).toEqual(['app']);
  });

  it('normalises lists, method case and header-name case in passive entries', () => {
    const policy = loadPolicy(
      yaml(
        ...HEAD,
        '  passive:',
        '    - { method: [get, Head], path: /poll }',
        '    - { header: { X-Lapse-Passive: "1", Accept: text/event-stream } }',
      ),
      'x',
    );
    expect(policy.passive).toEqual([
      { methods: ['GET', 'HEAD'], paths: ['/poll'] },
      { headers: { 'x-lapse-passive': '1', accept: 'text/event-stream' } },
    ]);
  });

  it('accepts numbers of seconds, warn: 0 and every match key', () => {
    const policy = loadPolicy(
      yaml(
        'version: 1',
        'policy:',
        '  defaults: { idle: 90, absolute: 1.5, warn: 0 }',
        '  rules:',
        '    - name: r',
        '      match: { roles: [a, b], userType: human, environment: [prod], app: billing }',
        '      warn: 30s',
      ),
      'x',
    );
    expect(policy.defaults).toEqual({ idleMs: 90_000, absoluteMs: 1_500, warnMs: 0 });
    expect(policy.rules[0]).toEqual({
      name: 'r',
      match: { roles: ['a', 'b'], userType: ['human'], environment: ['prod'], app: ['billing'] },
      warnMs: 30_000,
    });
  });

  it('accepts the gateway sections without looking inside them', () => {
    const policy = loadPolicy(
      yaml(
        ...HEAD,
        'store: { type: sqlite, path: ./lapse.db, anything: [1, { deep: true }] }',
        'identity: { mode: upstream }',
        'gateway: 5',
        'admin: ~',
      ),
      'x',
    );
    expect(policy.defaults.idleMs).toBe(900_000);
  });

  it('accepts comply as a single id, and empty optional sections', () => {
    const policy = loadPolicy(
      yaml(...HEAD, '  comply: asvs-4:l2', '  limits:', '  rules:', '  passive: []'),
      'x',
    );
    expect(policy.comply).toEqual(['asvs-4:l2']);
    expect(policy.ceilings.absolute).toEqual({
      ms: 43_200_000,
      source: 'asvs-4:l2',
      requirement: 'OWASP ASVS 4.0.3 V3.3.2 (level 2)',
    });
  });

  it('ignores a byte-order mark, so columns match what editors show', () => {
    const issue = onlyIssue(`\uFEFF${yaml('version: 1', 'colour: blue', ...HEAD.slice(1))}`);
    expect(issue).toMatchObject({ code: ErrorCodes.POLICY_UNKNOWN_KEY, line: 2, column: 1 });
  });

  it('follows aliases to the anchored values', () => {
    const policy = loadPolicy(
      yaml(
        'version: 1',
        'policy:',
        '  defaults: { idle: &idle 10m, absolute: 8h }',
        '  rules:',
        '    - { name: a, match: { app: x }, idle: *idle }',
      ),
      'x',
    );
    expect(policy.rules[0]?.idleMs).toBe(600_000);
  });
});

describe('loadPolicy: every issue code, at its line and column', () => {
  it('reports a YAML syntax error at the position the parser gives', () => {
    expect(onlyIssue(yaml('version: 1', 'policy: [', '  x'))).toMatchObject({
      code: ErrorCodes.POLICY_SYNTAX,
    });
    expect(issuesOf(yaml('version: 1', 'policy: [', '  x'))[0]).toMatchObject({
      code: ErrorCodes.POLICY_SYNTAX,
      line: 4,
      column: 1,
    });
  });

  it('reports a duplicate key as a syntax error at the second key', () => {
    expect(onlyIssue(yaml('version: 1', 'policy: {}', 'version: 1'))).toMatchObject({
      code: ErrorCodes.POLICY_SYNTAX,
      line: 3,
      column: 1,
      message: 'duplicate key "version": a key may appear only once in a mapping',
    });
  });

  it('reports a duplicate key in a nested flow mapping at that key', () => {
    expect(
      onlyIssue(yaml('version: 1', 'policy:', '  defaults: { idle: 5m, absolute: 8h, idle: 6m }')),
    ).toMatchObject({ code: ErrorCodes.POLICY_SYNTAX, line: 3, column: 39 });
  });

  it('reports a second YAML document as a syntax error at the ---', () => {
    expect(onlyIssue(yaml(...HEAD, '---', 'version: 1'))).toMatchObject({
      code: ErrorCodes.POLICY_SYNTAX,
      line: 4,
      column: 1,
    });
  });

  it('reports an alias with no anchor as a syntax error at the alias', () => {
    expect(onlyIssue(yaml('version: 1', 'policy:', '  defaults: *nope'))).toMatchObject({
      code: ErrorCodes.POLICY_SYNTAX,
      line: 3,
      column: 13,
    });
  });

  it('reports an empty file as an empty policy at 1:1', () => {
    expect(onlyIssue('')).toMatchObject({ code: ErrorCodes.POLICY_EMPTY, line: 1, column: 1 });
  });

  it('reports a file of comments as an empty policy at 1:1', () => {
    expect(onlyIssue(yaml('# lapse.yaml', '', '# nothing yet'))).toMatchObject({
      code: ErrorCodes.POLICY_EMPTY,
      line: 1,
      column: 1,
    });
  });

  it('reports a null document as an empty policy at the null', () => {
    expect(onlyIssue(yaml('# comment', 'null'))).toMatchObject({
      code: ErrorCodes.POLICY_EMPTY,
      line: 2,
      column: 1,
    });
  });

  it('reports a file without policy as an empty policy at the top mapping', () => {
    expect(onlyIssue(yaml('# comment', 'version: 1', 'store: { type: memory }'))).toMatchObject({
      code: ErrorCodes.POLICY_EMPTY,
      line: 2,
      column: 1,
      path: ['policy'],
    });
  });

  it('reports policy: {} as an empty policy at the braces', () => {
    expect(onlyIssue(yaml('version: 1', 'policy: {}'))).toMatchObject({
      code: ErrorCodes.POLICY_EMPTY,
      line: 2,
      column: 9,
    });
  });

  it('reports policy with no value as an empty policy at the key', () => {
    expect(onlyIssue(yaml('version: 1', 'policy:'))).toMatchObject({
      code: ErrorCodes.POLICY_EMPTY,
      line: 2,
      column: 1,
    });
    expect(onlyIssue(yaml('version: 1', 'policy: null'))).toMatchObject({
      code: ErrorCodes.POLICY_EMPTY,
      line: 2,
      column: 9,
    });
  });

  it('reports a top level that is not a mapping as a bad value', () => {
    expect(onlyIssue(yaml('- version: 1'))).toMatchObject({
      code: ErrorCodes.POLICY_BAD_VALUE,
      line: 1,
      column: 1,
    });
    expect(onlyIssue(yaml('', '  just text'))).toMatchObject({
      code: ErrorCodes.POLICY_BAD_VALUE,
      line: 2,
      column: 3,
    });
  });

  it('reports an unknown top-level key at the key', () => {
    const issue = onlyIssue(yaml(...HEAD, 'polcy: {}'));
    expect(issue).toMatchObject({
      code: ErrorCodes.POLICY_UNKNOWN_KEY,
      line: 4,
      column: 1,
      path: ['polcy'],
    });
    expect(issue.message).toContain('did you mean "policy"?');
  });

  it('reports an unknown key inside a flow mapping at the key, naming the allowed keys', () => {
    const issue = onlyIssue(
      yaml('version: 1', 'policy:', '  defaults: { idel: 15m, absolute: 8h, idle: 1m }'),
    );
    expect(issue).toMatchObject({
      code: ErrorCodes.POLICY_UNKNOWN_KEY,
      line: 3,
      column: 15,
      path: ['policy', 'defaults', 'idel'],
    });
    expect(issue.message).toBe(
      'unknown key "idel" in policy.defaults; did you mean "idle"? (allowed: idle, absolute, warn)',
    );
  });

  it('reports unknown keys in rules, matches and passive entries at each key', () => {
    const issues = issuesOf(
      yaml(
        ...HEAD,
        '  rules:',
        '    - name: a',
        '      match: { role: admin, app: x }',
        '      idle_timeout: 5m',
        '  passive:',
        '    - { methods: GET, path: /x }',
      ),
    );
    expect(issues.map(({ code, line, column }) => ({ code, line, column }))).toEqual([
      { code: ErrorCodes.POLICY_UNKNOWN_KEY, line: 6, column: 16 },
      { code: ErrorCodes.POLICY_UNKNOWN_KEY, line: 7, column: 7 },
      { code: ErrorCodes.POLICY_UNKNOWN_KEY, line: 9, column: 9 },
    ]);
  });

  it('reports a missing version at the top mapping', () => {
    expect(onlyIssue(yaml(...HEAD.slice(1)))).toMatchObject({
      code: ErrorCodes.POLICY_MISSING_KEY,
      line: 1,
      column: 1,
      path: ['version'],
    });
  });

  it('reports a missing defaults at the policy mapping', () => {
    expect(onlyIssue(yaml('version: 1', 'policy:', '  comply: [pci-dss-4]'))).toMatchObject({
      code: ErrorCodes.POLICY_MISSING_KEY,
      line: 3,
      column: 3,
      path: ['policy', 'defaults'],
    });
  });

  it('reports a missing idle and a missing rule name at the mapping that should hold them', () => {
    const issues = issuesOf(
      yaml(
        'version: 1',
        'policy:',
        '  defaults:',
        '    absolute: 8h',
        '  rules:',
        '    - match: { app: x }',
      ),
    );
    expect(issues).toMatchObject([
      {
        code: ErrorCodes.POLICY_MISSING_KEY,
        line: 4,
        column: 5,
        path: ['policy', 'defaults', 'idle'],
      },
      {
        code: ErrorCodes.POLICY_MISSING_KEY,
        line: 6,
        column: 7,
        path: ['policy', 'rules', 0, 'name'],
      },
    ]);
  });

  it('reports a version other than 1 as unsupported, at the value', () => {
    expect(onlyIssue(yaml('version: 2', ...HEAD.slice(1)))).toMatchObject({
      code: ErrorCodes.POLICY_UNSUPPORTED_VERSION,
      line: 1,
      column: 10,
    });
  });

  it('reports a version that is not a number as a bad value', () => {
    expect(onlyIssue(yaml('version: "1"', ...HEAD.slice(1)))).toMatchObject({
      code: ErrorCodes.POLICY_BAD_VALUE,
      line: 1,
      column: 10,
    });
  });

  it('reports values of the wrong type as bad values, at the value', () => {
    const issues = issuesOf(
      yaml(...HEAD, '  rules: 5', '  passive: { method: GET }', '  comply: 7', '  limits: [1]'),
    );
    expect(issues.map(({ code, line, column }) => ({ code, line, column }))).toEqual([
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 4, column: 10 },
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 5, column: 12 },
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 6, column: 11 },
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 7, column: 11 },
    ]);
    expect(issues[0]?.message).toBe('policy.rules must be a list of rules, got 5');
  });

  it('reports a wrong item inside a match list at that item', () => {
    const issue = onlyIssue(
      yaml(...HEAD, '  rules:', '    - { name: a, match: { roles: [admin, 5] } }'),
    );
    expect(issue).toMatchObject({
      code: ErrorCodes.POLICY_BAD_VALUE,
      line: 5,
      column: 42,
      path: ['policy', 'rules', 0, 'match', 'roles', 1],
    });
    expect(issue.message).toBe('policy.rules[0].match.roles[1] must be a role name, got 5');
  });

  it('reports empty names, lists and strings as bad values', () => {
    const issues = issuesOf(
      yaml(...HEAD, '  rules:', '    - name: ""', '      match: { roles: [], app: "" }'),
    );
    expect(issues.map(({ code, line, column }) => ({ code, line, column }))).toEqual([
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 5, column: 13 },
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 6, column: 23 },
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 6, column: 32 },
    ]);
  });

  it('reserves the rule name defaults, which explanations use for default values', () => {
    expect(
      onlyIssue(yaml(...HEAD, '  rules:', '    - { name: defaults, match: { app: x } }')),
    ).toMatchObject({
      code: ErrorCodes.POLICY_BAD_VALUE,
      line: 5,
      column: 15,
    });
  });

  it('reports a bad duration at the value, with the parser message', () => {
    const issue = onlyIssue(
      yaml('version: 1', 'policy:', '  defaults: { idle: 15x, absolute: 8h }'),
    );
    expect(issue).toMatchObject({
      code: ErrorCodes.POLICY_BAD_DURATION,
      line: 3,
      column: 21,
      path: ['policy', 'defaults', 'idle'],
    });
    expect(issue.message).toMatch(/^policy\.defaults\.idle: invalid duration "15x"/);
  });

  it('rejects off for absolute, warn and limits', () => {
    const issues = issuesOf(
      yaml(
        'version: 1',
        'policy:',
        '  defaults: { idle: off, absolute: off, warn: off }',
        '  limits: { idle: off }',
      ),
    );
    expect(issues.map(({ code, line, column }) => ({ code, line, column }))).toEqual([
      { code: ErrorCodes.POLICY_BAD_DURATION, line: 3, column: 36 },
      { code: ErrorCodes.POLICY_BAD_DURATION, line: 3, column: 47 },
      { code: ErrorCodes.POLICY_BAD_DURATION, line: 4, column: 19 },
    ]);
  });

  it('rejects zero idle and absolute timeouts, but allows warn: 0', () => {
    const issues = issuesOf(
      yaml('version: 1', 'policy:', '  defaults: { idle: 0s, absolute: 0, warn: 0 }'),
    );
    expect(issues).toMatchObject([
      { code: ErrorCodes.POLICY_BAD_DURATION, line: 3, column: 21 },
      { code: ErrorCodes.POLICY_BAD_DURATION, line: 3, column: 35 },
    ]);
    expect(issues[0]?.message).toContain('write "off" for no idle timeout');
  });

  it('explains a YAML 1.1 off that became false', () => {
    const issue = onlyIssue(
      yaml('%YAML 1.1', '---', 'version: 1', 'policy:', '  defaults: { idle: off, absolute: 8h }'),
    );
    expect(issue).toMatchObject({ code: ErrorCodes.POLICY_BAD_DURATION, line: 5, column: 21 });
    expect(issue.message).toContain('"off" in quotes');
  });

  it("rejects idle: off under an idle limit at the value's line and column", () => {
    const issue = onlyIssue(
      yaml(
        ...HEAD,
        '  limits: { idle: 30m }',
        '  rules:',
        '    - name: bots',
        '      match: { userType: bot }',
        '      idle: off',
      ),
    );
    expect(issue).toMatchObject({
      code: ErrorCodes.POLICY_ABOVE_LIMIT,
      line: 8,
      column: 13,
      path: ['policy', 'rules', 0, 'idle'],
    });
    expect(issue.message).toBe(
      'rule "bots" idle off (no idle timeout) is above the idle limit of 30m set by limits.idle',
    );
    expect(issue).not.toHaveProperty('requirement');
  });

  it('rejects defaults above the limits, at each value', () => {
    const issues = issuesOf(
      yaml(
        'version: 1',
        'policy:',
        '  defaults: { idle: 20m, absolute: 2d }',
        '  limits: { idle: 15m, absolute: 1d }',
      ),
    );
    expect(issues).toMatchObject([
      { code: ErrorCodes.POLICY_ABOVE_LIMIT, line: 3, column: 21 },
      { code: ErrorCodes.POLICY_ABOVE_LIMIT, line: 3, column: 36 },
    ]);
    expect(issues[1]?.message).toBe(
      'defaults absolute 2d is above the absolute limit of 1d set by limits.absolute',
    );
  });

  it('accepts values equal to a limit', () => {
    const policy = loadPolicy(
      yaml(
        'version: 1',
        'policy:',
        '  defaults: { idle: 15m, absolute: 12h }',
        '  comply: [asvs-4:l3]',
      ),
      'x',
    );
    expect(policy.defaults.absoluteMs).toBe(43_200_000);
  });

  it('reports a duplicate rule name at the second name', () => {
    const issue = onlyIssue(
      yaml(
        ...HEAD,
        '  rules:',
        '    - name: admins',
        '      match: { roles: admin }',
        '    - name: admins',
        '      match: { roles: root }',
      ),
    );
    expect(issue).toMatchObject({
      code: ErrorCodes.POLICY_DUPLICATE_RULE,
      line: 7,
      column: 13,
      path: ['policy', 'rules', 1, 'name'],
    });
    expect(issue.message).toContain('first used on line 5');
  });

  it('reports a rule without match at the rule, pointing to defaults', () => {
    const issue = onlyIssue(yaml(...HEAD, '  rules:', '    - name: everyone', '      idle: 5m'));
    expect(issue).toMatchObject({ code: ErrorCodes.POLICY_EMPTY_MATCH, line: 5, column: 7 });
    expect(issue.message).toContain('belong in defaults');
  });

  it('reports match: with no value at the key, and match: {} at the braces', () => {
    const issues = issuesOf(
      yaml(
        ...HEAD,
        '  rules:',
        '    - name: a',
        '      match:',
        '    - name: b',
        '      match: {}',
      ),
    );
    expect(issues).toMatchObject([
      { code: ErrorCodes.POLICY_EMPTY_MATCH, line: 6, column: 7 },
      { code: ErrorCodes.POLICY_EMPTY_MATCH, line: 8, column: 14 },
    ]);
  });

  it('reports only the unknown key for a match whose one key is misspelt', () => {
    expect(
      onlyIssue(yaml(...HEAD, '  rules:', '    - { name: a, match: { rolez: a } }')),
    ).toMatchObject({
      code: ErrorCodes.POLICY_UNKNOWN_KEY,
      line: 5,
      column: 27,
    });
  });

  it('reports an unknown compliance preset at the id, listing the known ones', () => {
    const issue = onlyIssue(yaml(...HEAD, '  comply: [pci-dss-4, pci-dss-3]'));
    expect(issue).toMatchObject({
      code: ErrorCodes.POLICY_UNKNOWN_PRESET,
      line: 4,
      column: 23,
      path: ['policy', 'comply', 1],
    });
    expect(issue.message).toContain('known presets: pci-dss-4, nist-800-63b-4:aal2');
  });

  it('rejects a passive entry with no conditions at the entry', () => {
    const issue = onlyIssue(yaml(...HEAD, '  passive:', '    - {}'));
    expect(issue).toMatchObject({ code: ErrorCodes.POLICY_BAD_VALUE, line: 5, column: 7 });
    expect(issue.message).toContain('would make all traffic passive');
  });

  it('rejects bad methods, paths and headers in passive entries at each value', () => {
    const issues = issuesOf(
      yaml(
        ...HEAD,
        '  passive:',
        '    - { method: "GE T", path: api/* }',
        '    - { header: { X-A: 1, "bad name": x } }',
        '    - { header: {} }',
        '    - { header: { X-A: "1", x-a: "2" } }',
      ),
    );
    expect(issues.map(({ code, line, column }) => ({ code, line, column }))).toEqual([
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 5, column: 17 },
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 5, column: 31 },
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 6, column: 24 },
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 6, column: 27 },
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 7, column: 17 },
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 8, column: 34 },
    ]);
  });

  it('rejects text over 1 MiB at 1:1 without parsing it', () => {
    const issue = onlyIssue(`# ${'x'.repeat(MAX_POLICY_BYTES)}\n`);
    expect(issue).toMatchObject({ code: ErrorCodes.POLICY_BAD_VALUE, line: 1, column: 1 });
  });

  it('counts the 1 MiB in UTF-8 bytes, not characters', () => {
    const text = `# ${'é'.repeat(MAX_POLICY_BYTES / 2)}\n`;
    expect(text.length).toBeLessThan(MAX_POLICY_BYTES);
    expect(onlyIssue(text)).toMatchObject({
      code: ErrorCodes.POLICY_BAD_VALUE,
      line: 1,
      column: 1,
    });
  });

  it('fails fast on a billion-laughs file', () => {
    const lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let level = 1; level < 10; level++) {
      const previous = `*a${level - 1}`;
      lines.push(`a${level}: &a${level} [${Array(9).fill(previous).join(', ')}]`);
    }
    const started = performance.now();
    const issue = onlyIssue(yaml(...lines));
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(issue).toMatchObject({ code: ErrorCodes.POLICY_BAD_VALUE, line: 2, column: 10 });
  });
});

describe('loadPolicy: reporting', () => {
  const BROKEN = yaml(
    'version: 1', //                                                  1
    'policy:', //                                                     2
    '  colour: blue', //                                              3
    '  defaults: { idle: 15x, absolute: 8h }', //                     4
    '  limits: { idle: 10m }', //                                     5
    '  rules:', //                                                    6
    '    - { name: a, match: {}, idle: 20m }', //                     7
    '    - { name: a, match: { app: x } }', //                        8
  );

  it('reports every issue at once, in position order', () => {
    expect(issuesOf(BROKEN).map(({ code, line, column }) => ({ code, line, column }))).toEqual([
      { code: ErrorCodes.POLICY_UNKNOWN_KEY, line: 3, column: 3 },
      { code: ErrorCodes.POLICY_BAD_DURATION, line: 4, column: 21 },
      { code: ErrorCodes.POLICY_EMPTY_MATCH, line: 7, column: 25 },
      { code: ErrorCodes.POLICY_ABOVE_LIMIT, line: 7, column: 35 },
      { code: ErrorCodes.POLICY_DUPLICATE_RULE, line: 8, column: 15 },
    ]);
  });

  it('throws one PolicyLoadError whose message is one file:line:column: message per issue', () => {
    const error = loadError(BROKEN, 'conf/lapse.yaml');
    expect(error.code).toBe(ErrorCodes.POLICY_INVALID);
    expect(error.name).toBe('PolicyLoadError');
    expect({ file: error.file, line: error.line, column: error.column }).toEqual({
      file: 'conf/lapse.yaml',
      line: 3,
      column: 3,
    });
    const lines = error.message.split('\n');
    expect(lines).toHaveLength(error.issues.length);
    lines.forEach((line, index) => {
      const issue = error.issues[index];
      expect(line).toBe(`conf/lapse.yaml:${issue?.line}:${issue?.column}: ${issue?.message}`);
    });
    expect(lines[0]).toBe(
      'conf/lapse.yaml:3:3: unknown key "colour" in policy (allowed: comply, defaults, limits, rules, passive)',
    );
  });

  it('formats an issue as file:line:column: message', () => {
    expect(
      formatPolicyIssue({
        code: ErrorCodes.POLICY_EMPTY,
        message: 'the file is empty',
        file: 'a.yaml',
        line: 1,
        column: 1,
        path: [],
      }),
    ).toBe('a.yaml:1:1: the file is empty');
  });
});

describe('loadPolicy: robustness', () => {
  /** Either a policy, or a PolicyLoadError with well-formed, sorted issues; nothing else. */
  function loadsOrFailsCleanly(text: string): void {
    let policy: Policy;
    try {
      policy = loadPolicy(text, 'fuzz.yaml');
    } catch (error) {
      if (!(error instanceof PolicyLoadError)) throw error;
      expect(error.issues.length).toBeGreaterThan(0);
      const lineCount = text.split('\n').length;
      let previous = { line: 0, column: 0 };
      for (const issue of error.issues) {
        expect(issue.line).toBeGreaterThanOrEqual(1);
        expect(issue.line).toBeLessThanOrEqual(lineCount);
        expect(issue.column).toBeGreaterThanOrEqual(1);
        expect(issue.message).not.toContain('\n');
        expect(Object.values(ErrorCodes)).toContain(issue.code);
        const ordered =
          issue.line > previous.line ||
          (issue.line === previous.line && issue.column >= previous.column);
        expect(ordered).toBe(true);
        previous = issue;
      }
      return;
    }
    expect(Object.isFrozen(policy)).toBe(true);
  }

  it('returns or throws PolicyLoadError for arbitrary text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc.string({ unit: fc.constantFrom(...YAML_ALPHABET), maxLength: 300 }),
        ),
        loadsOrFailsCleanly,
      ),
      { numRuns: 300 },
    );
  });

  it('returns or throws PolicyLoadError for mutations of the valid example', async () => {
    const valid = await readFile(fixture('spec-example-corrected.yaml'), 'utf8');
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (mutations) => {
        loadsOrFailsCleanly(mutate(valid, mutations));
      }),
      { numRuns: 300 },
    );
  });

  it('returns or throws PolicyLoadError for mutations of the JSON example', async () => {
    const valid = await readFile(fixture('spec-example-corrected.json'), 'utf8');
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (mutations) => {
        loadsOrFailsCleanly(mutate(valid, mutations));
      }),
      { numRuns: 300 },
    );
  });

  it("returns or throws PolicyLoadError for random values in place of the example's durations", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (idle, absolute) => {
        loadsOrFailsCleanly(
          JSON.stringify({ version: 1, policy: { defaults: { idle, absolute } } }),
        );
      }),
      { numRuns: 300 },
    );
  });
});
