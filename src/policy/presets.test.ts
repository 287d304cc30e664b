import { describe, expect, it } from 'vitest';
import { ErrorCodes, OptionError } from '../errors.js';
import { loadPolicy } from './load-policy.js';
import { PolicyLoadError } from './policy-load-error.js';
import {
  COMPLIANCE_PRESET_IDS,
  COMPLIANCE_PRESETS,
  computeCeilings,
  isCompliancePresetId,
} from './presets.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

describe('COMPLIANCE_PRESETS', () => {
  it.each([
    ['pci-dss-4', 15 * MINUTE, undefined, 'PCI DSS v4.0 req. 8.2.8'],
    ['nist-800-63b-4:aal2', HOUR, 24 * HOUR, 'NIST SP 800-63B-4 §2.2.3 (AAL2 reauthentication)'],
    [
      'nist-800-63b-4:aal3',
      15 * MINUTE,
      12 * HOUR,
      'NIST SP 800-63B-4 §2.3.3 (AAL3 reauthentication)',
    ],
    ['asvs-4:l2', 30 * MINUTE, 12 * HOUR, 'OWASP ASVS 4.0.3 V3.3.2 (level 2)'],
    ['asvs-4:l3', 15 * MINUTE, 12 * HOUR, 'OWASP ASVS 4.0.3 V3.3.2 (level 3)'],
  ] as const)(
    '%s caps idle at %i ms and absolute at %s ms (%s)',
    (id, idleMs, absoluteMs, requirement) => {
      expect(isCompliancePresetId(id)).toBe(true);
      const preset = COMPLIANCE_PRESETS[id];
      expect(preset.id).toBe(id);
      expect(preset.idleMs).toBe(idleMs);
      expect(preset.absoluteMs).toBe(absoluteMs);
      expect(preset.requirement).toBe(requirement);
      expect(preset.title.length).toBeGreaterThan(0);
      expect(computeCeilings({}, [id])).toEqual({
        idle: { ms: idleMs, source: id, requirement },
        ...(absoluteMs === undefined
          ? {}
          : { absolute: { ms: absoluteMs, source: id, requirement } }),
      });
    },
  );

  it('lists exactly the five presets of the SPEC', () => {
    expect(COMPLIANCE_PRESET_IDS).toEqual([
      'pci-dss-4',
      'nist-800-63b-4:aal2',
      'nist-800-63b-4:aal3',
      'asvs-4:l2',
      'asvs-4:l3',
    ]);
  });

  it('is frozen, down to each preset', () => {
    expect(Object.isFrozen(COMPLIANCE_PRESETS)).toBe(true);
    expect(Object.isFrozen(COMPLIANCE_PRESETS['pci-dss-4'])).toBe(true);
    expect(Object.isFrozen(COMPLIANCE_PRESET_IDS)).toBe(true);
  });

  it('does not take inherited names for presets', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(isCompliancePresetId(name)).toBe(false);
    }
  });
});

describe('computeCeilings', () => {
  it('uses the file limits alone when nothing is complied with', () => {
    expect(computeCeilings({ idleMs: 30 * MINUTE, absoluteMs: 12 * HOUR }, [])).toEqual({
      idle: { ms: 30 * MINUTE, source: 'limits' },
      absolute: { ms: 12 * HOUR, source: 'limits' },
    });
    expect(computeCeilings({}, [])).toEqual({});
  });

  it('takes the strictest of limits and presets, per setting', () => {
    expect(
      computeCeilings({ idleMs: 10 * MINUTE, absoluteMs: 20 * HOUR }, [
        'nist-800-63b-4:aal2',
        'asvs-4:l2',
      ]),
    ).toEqual({
      idle: { ms: 10 * MINUTE, source: 'limits' },
      absolute: {
        ms: 12 * HOUR,
        source: 'asvs-4:l2',
        requirement: 'OWASP ASVS 4.0.3 V3.3.2 (level 2)',
      },
    });
  });

  it('prefers a preset over limits on a tie, so the requirement is named', () => {
    expect(computeCeilings({ idleMs: 15 * MINUTE }, ['pci-dss-4']).idle).toEqual({
      ms: 15 * MINUTE,
      source: 'pci-dss-4',
      requirement: 'PCI DSS v4.0 req. 8.2.8',
    });
  });

  it('prefers the preset listed first when presets tie', () => {
    expect(computeCeilings({}, ['asvs-4:l3', 'pci-dss-4']).idle?.source).toBe('asvs-4:l3');
    expect(computeCeilings({}, ['pci-dss-4', 'asvs-4:l3']).idle?.source).toBe('pci-dss-4');
  });

  it('throws an OptionError for an unknown preset', () => {
    expect(() => computeCeilings({}, ['pci-dss-3'])).toThrow(OptionError);
  });
});

describe('comply in a policy file', () => {
  it('rejects defaults.idle: 20m under pci-dss-4, naming requirement 8.2.8', () => {
    const text = yaml(
      'version: 1',
      'policy:',
      '  comply: [pci-dss-4]',
      '  defaults: { idle: 20m, absolute: 8h }',
    );
    let caught: unknown;
    try {
      loadPolicy(text, 'lapse.yaml');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PolicyLoadError);
    const [issue, ...rest] = (caught as PolicyLoadError).issues;
    expect(rest).toEqual([]);
    expect(issue).toMatchObject({
      code: ErrorCodes.POLICY_ABOVE_LIMIT,
      line: 4,
      column: 21,
      requirement: 'PCI DSS v4.0 req. 8.2.8',
    });
    expect(issue?.message).toContain('8.2.8');
    expect(issue?.message).toBe(
      'defaults idle 20m is above the idle limit of 15m set by pci-dss-4 (PCI DSS v4.0 req. 8.2.8)',
    );
  });

  it('names the stricter file limit, not the preset, when the limit is what a value breaks', () => {
    const text = yaml(
      'version: 1',
      'policy:',
      '  comply: [pci-dss-4]',
      '  limits: { idle: 10m }',
      '  defaults: { idle: 12m, absolute: 8h }',
    );
    expect(() => loadPolicy(text, 'lapse.yaml')).toThrow(
      /idle 12m is above the idle limit of 10m set by limits\.idle/,
    );
  });

  it('names the stricter preset when a looser file limit is also set', () => {
    const text = yaml(
      'version: 1',
      'policy:',
      '  comply: [nist-800-63b-4:aal3]',
      '  limits: { absolute: 1d }',
      '  defaults: { idle: 15m, absolute: 8h }',
      '  rules:',
      '    - { name: long, match: { app: x }, absolute: 16h }',
    );
    expect(() => loadPolicy(text, 'lapse.yaml')).toThrow(
      /rule "long" absolute 16h is above the absolute limit of 12h set by nist-800-63b-4:aal3 \(NIST SP 800-63B-4 §2\.3\.3/,
    );
  });

  it('records the strictest ceilings in the loaded policy', () => {
    const policy = loadPolicy(
      yaml(
        'version: 1',
        'policy:',
        '  comply: [nist-800-63b-4:aal2, pci-dss-4]',
        '  limits: { idle: 30m, absolute: 12h }',
        '  defaults: { idle: 15m, absolute: 8h }',
      ),
      'lapse.yaml',
    );
    expect(policy.ceilings).toEqual({
      idle: { ms: 15 * MINUTE, source: 'pci-dss-4', requirement: 'PCI DSS v4.0 req. 8.2.8' },
      absolute: { ms: 12 * HOUR, source: 'limits' },
    });
  });
});
