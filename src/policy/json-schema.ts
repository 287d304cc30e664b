import { z } from 'zod';
import { policyFileSchema } from './policy-schema.js';

/**
 * The JSON Schema (draft 2020-12) of a policy file, for editors: point
 * `# yaml-language-server: $schema=...` or `$schema` at the published copy in
 * `schema/lapse.schema.json` to get completion and help on every key. Built
 * from the same zod schema the loader validates with (its input side), so the
 * two cannot disagree on shape; the loader still checks more than any editor
 * can (limits, duplicate rule names).
 *
 * @example
 * import { policyJsonSchema } from 'lapse';
 * writeFileSync('lapse.schema.json', `${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
 */
export function policyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(policyFileSchema, { target: 'draft-2020-12', io: 'input' });
}
