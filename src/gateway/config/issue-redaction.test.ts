import { describe, expect, it } from 'vitest';
import { type ErrorCode, ErrorCodes } from '../../errors.js';
import type { PolicyIssue } from '../../policy/policy-load-error.js';
import { redacted } from './issue-redaction.js';

const issue = (code: ErrorCode, message: string, path: PolicyIssue['path'] = []): PolicyIssue => ({
  code,
  message,
  file: 'lapse.yaml',
  line: 3,
  column: 5,
  path,
});

describe('redacted', () => {
  it('drops the token text yaml quotes from a broken line, keeping the phrase', () => {
    const original = issue(
      ErrorCodes.POLICY_SYNTAX,
      'YAML syntax: Unexpected double-quoted-scalar token in YAML stream: "\\"S3CR3T\\""',
    );
    expect(redacted(original)).toEqual({
      ...original,
      message: 'YAML syntax: Unexpected double-quoted-scalar token in YAML stream',
    });
    expect(
      redacted(issue(ErrorCodes.POLICY_SYNTAX, 'YAML syntax: Not a YAML token: S3CR3T: "S3CR3T"'))
        .message,
    ).toBe('YAML syntax: Not a YAML token');
    expect(
      redacted(issue(ErrorCodes.POLICY_SYNTAX, 'YAML syntax: Invalid escape sequence \\qS3CR3T'))
        .message,
    ).toBe('YAML syntax: Invalid escape sequence');
  });

  it('drops the name of an alias with no anchor', () => {
    const message = redacted(
      issue(ErrorCodes.POLICY_SYNTAX, 'alias *S3CR3T" refers to no anchor &S3CR3T" before it'),
    ).message;
    expect(message).not.toContain('S3CR3T');
  });

  it('drops a key that is not a plain name, from unknown and duplicate keys', () => {
    const unknown = redacted(
      issue(
        ErrorCodes.POLICY_UNKNOWN_KEY,
        'unknown key "token \\"S3CR3T\\"" in admin (allowed: listen, token)',
        ['admin', 'token "S3CR3T"'],
      ),
    );
    expect(unknown.path).toEqual(['admin', '[not shown]']);
    expect(unknown.message).toBe(
      'unknown key in admin, not shown in case it holds a secret (is a ":" missing after a key?) (allowed: listen, token)',
    );
    const duplicate = redacted(
      issue(
        ErrorCodes.POLICY_SYNTAX,
        'duplicate key "token S3CR3T": a key may appear only once in a mapping',
      ),
    );
    expect(duplicate.message).toBe(
      'duplicate key, not shown in case it holds a secret (is a ":" missing after a key?): a key may appear only once in a mapping',
    );
  });

  it('drops a long key unless it is a near miss of a known key', () => {
    const secretLike = redacted(
      issue(
        ErrorCodes.POLICY_UNKNOWN_KEY,
        'unknown key "S3CR3T-0123456789abcdef" at the top level',
        ['S3CR3T-0123456789abcdef'],
      ),
    );
    expect(secretLike.message).not.toContain('S3CR3T');
    const nearMiss = issue(
      ErrorCodes.POLICY_UNKNOWN_KEY,
      'unknown key "upstreamTimeot" in gateway.limits; did you mean "upstreamTimeout"?',
      ['gateway', 'limits', 'upstreamTimeot'],
    );
    expect(redacted(nearMiss)).toBe(nearMiss);
  });

  it('leaves every other issue as it is', () => {
    for (const original of [
      issue(ErrorCodes.POLICY_UNKNOWN_KEY, 'unknown key "tokn" in admin; did you mean "token"?', [
        'admin',
        'tokn',
      ]),
      issue(
        ErrorCodes.POLICY_SYNTAX,
        'duplicate key "idle": a key may appear only once in a mapping',
      ),
      issue(ErrorCodes.POLICY_SYNTAX, 'YAML syntax: Missing , or : between flow map items'),
      issue(ErrorCodes.POLICY_BAD_VALUE, 'gateway.listen: "x" is not host:port'),
    ]) {
      expect(redacted(original)).toBe(original);
    }
  });
});
