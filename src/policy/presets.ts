import { OptionError } from '../errors.js';
import type { Ceiling, Policy } from './types.js';

/** A published requirement turned into ceilings on `idle` and `absolute`. */
export interface CompliancePreset {
  /** The id written in `comply` (`pci-dss-4`). */
  readonly id: string;
  /** What the preset stands for, for people (`PCI DSS v4.0`). */
  readonly title: string;
  /** The highest idle timeout the requirement allows, in ms. */
  readonly idleMs?: number;
  /** The highest absolute timeout the requirement allows, in ms. */
  readonly absoluteMs?: number;
  /** The requirement a value above a ceiling breaks (`PCI DSS v4.0 req. 8.2.8`). */
  readonly requirement: string;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

const PRESETS = {
  'pci-dss-4': {
    id: 'pci-dss-4',
    title: 'PCI DSS v4.0',
    idleMs: 15 * MINUTE_MS,
    requirement: 'PCI DSS v4.0 req. 8.2.8',
  },
  'nist-800-63b-4:aal2': {
    id: 'nist-800-63b-4:aal2',
    title: 'NIST SP 800-63B-4, authenticator assurance level 2',
    idleMs: HOUR_MS,
    absoluteMs: 24 * HOUR_MS,
    requirement: 'NIST SP 800-63B-4 §2.2.3 (AAL2 reauthentication)',
  },
  'nist-800-63b-4:aal3': {
    id: 'nist-800-63b-4:aal3',
    title: 'NIST SP 800-63B-4, authenticator assurance level 3',
    idleMs: 15 * MINUTE_MS,
    absoluteMs: 12 * HOUR_MS,
    requirement: 'NIST SP 800-63B-4 §2.3.3 (AAL3 reauthentication)',
  },
  'asvs-4:l2': {
    id: 'asvs-4:l2',
    title: 'OWASP ASVS 4.0.3, level 2',
    idleMs: 30 * MINUTE_MS,
    absoluteMs: 12 * HOUR_MS,
    requirement: 'OWASP ASVS 4.0.3 V3.3.2 (level 2)',
  },
  'asvs-4:l3': {
    id: 'asvs-4:l3',
    title: 'OWASP ASVS 4.0.3, level 3',
    idleMs: 15 * MINUTE_MS,
    absoluteMs: 12 * HOUR_MS,
    requirement: 'OWASP ASVS 4.0.3 V3.3.2 (level 3)',
  },
} as const satisfies Record<string, CompliancePreset>;

/** The id of a preset lapse knows (`pci-dss-4`, `nist-800-63b-4:aal2`, ...). */
export type CompliancePresetId = keyof typeof PRESETS;

for (const preset of Object.values(PRESETS)) Object.freeze(preset);

/**
 * The compliance presets a policy may name in `comply`, by id. Frozen.
 *
 * @example
 * import { COMPLIANCE_PRESETS } from 'lapse';
 * COMPLIANCE_PRESETS['pci-dss-4'].idleMs; // 900000
 */
export const COMPLIANCE_PRESETS: Readonly<Record<CompliancePresetId, CompliancePreset>> =
  Object.freeze(PRESETS);

/** Every known preset id, in catalog order. */
export const COMPLIANCE_PRESET_IDS: readonly CompliancePresetId[] = Object.freeze(
  Object.keys(PRESETS) as CompliancePresetId[],
);

/**
 * Whether `id` names a known preset. An own-key check, so `constructor` and
 * other inherited names are never presets.
 *
 * @example
 * import { isCompliancePresetId } from 'lapse';
 * isCompliancePresetId('pci-dss-4'); // true
 */
export function isCompliancePresetId(id: unknown): id is CompliancePresetId {
  return typeof id === 'string' && Object.hasOwn(PRESETS, id);
}

/** The file's own `limits`, in ms; a setting left out has no limit of its own. */
export interface PolicyLimits {
  readonly idleMs?: number;
  readonly absoluteMs?: number;
}

function stricter(current: Ceiling | undefined, candidate: Ceiling): Ceiling {
  // On a tie the preset wins, so a broken value names the published requirement;
  // between presets the one listed first in `comply` wins.
  if (current === undefined || candidate.ms < current.ms) return candidate;
  if (candidate.ms === current.ms && current.requirement === undefined) return candidate;
  return current;
}

/**
 * The ceilings of a policy: per setting the strictest (smallest) of the file's
 * `limits` and every `comply` preset. `source` is `limits` or the preset id; a
 * preset ceiling carries its `requirement`. On a tie a preset beats `limits`.
 * Throws an `OptionError` for an unknown preset id.
 *
 * @example
 * import { computeCeilings } from 'lapse';
 * computeCeilings({ idleMs: 1_800_000 }, ['pci-dss-4']).idle;
 * // { ms: 900000, source: 'pci-dss-4', requirement: 'PCI DSS v4.0 req. 8.2.8' }
 */
export function computeCeilings(
  limits: PolicyLimits,
  comply: readonly string[],
): Policy['ceilings'] {
  let idle: Ceiling | undefined =
    limits.idleMs === undefined ? undefined : { ms: limits.idleMs, source: 'limits' };
  let absolute: Ceiling | undefined =
    limits.absoluteMs === undefined ? undefined : { ms: limits.absoluteMs, source: 'limits' };
  for (const id of comply) {
    if (!isCompliancePresetId(id)) {
      throw new OptionError(
        'comply',
        `unknown compliance preset ${JSON.stringify(id)}; known presets: ${COMPLIANCE_PRESET_IDS.join(', ')}`,
      );
    }
    const preset: CompliancePreset = COMPLIANCE_PRESETS[id];
    const { requirement } = preset;
    if (preset.idleMs !== undefined) {
      idle = stricter(idle, { ms: preset.idleMs, source: id, requirement });
    }
    if (preset.absoluteMs !== undefined) {
      absolute = stricter(absolute, { ms: preset.absoluteMs, source: id, requirement });
    }
  }
  return Object.freeze({
    ...(idle === undefined ? {} : { idle: Object.freeze(idle) }),
    ...(absolute === undefined ? {} : { absolute: Object.freeze(absolute) }),
  });
}
