import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DURATION_PATTERN } from './duration.js';
import { policyJsonSchema } from './json-schema.js';
import { COMPLIANCE_PRESET_IDS } from './presets.js';

const COMMITTED = new URL('../../schema/lapse.schema.json', import.meta.url);

type Schema = Record<string, unknown>;

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every `properties` entry anywhere in the schema, with its path. */
function allProperties(schema: unknown, path = '#'): [string, Schema][] {
  if (Array.isArray(schema)) {
    return schema.flatMap((item, index) => allProperties(item, `${path}/${index}`));
  }
  if (!isSchema(schema)) return [];
  const found: [string, Schema][] = [];
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'properties' && isSchema(value)) {
      for (const [name, property] of Object.entries(value)) {
        if (isSchema(property)) found.push([`${path}/properties/${name}`, property]);
      }
    }
    found.push(...allProperties(value, `${path}/${key}`));
  }
  return found;
}

function at(schema: Schema, ...keys: string[]): Schema {
  let node: unknown = schema;
  for (const key of keys) {
    node = isSchema(node) ? node[key] : undefined;
  }
  if (!isSchema(node)) throw new Error(`no schema at ${keys.join('/')}`);
  return node;
}

describe('policyJsonSchema', () => {
  const schema = policyJsonSchema();

  it('matches the committed schema/lapse.schema.json byte for byte', async () => {
    const committed = await readFile(COMMITTED, 'utf8');
    expect(committed).toBe(`${JSON.stringify(schema, null, 2)}\n`);
  });

  it('is a draft 2020-12 schema of the whole file', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.required).toEqual(['version', 'policy']);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(at(schema, 'properties'))).toEqual([
      'version',
      'policy',
      'store',
      'identity',
      'gateway',
      'admin',
    ]);
    expect(Object.keys(at(schema, 'properties', 'policy', 'properties'))).toEqual([
      'comply',
      'defaults',
      'limits',
      'rules',
      'passive',
    ]);
  });

  it('describes every key, so editors show help', () => {
    const properties = allProperties(schema);
    expect(properties.length).toBeGreaterThan(20);
    const undescribed = properties
      .filter(
        ([, property]) => typeof property.description !== 'string' || property.description === '',
      )
      .map(([path]) => path);
    expect(undescribed).toEqual([]);
  });

  it('describes durations as the parser pattern or a non-negative number, and off only for idle', () => {
    const defaults = at(schema, 'properties', 'policy', 'properties', 'defaults', 'properties');
    expect(at(defaults, 'absolute').anyOf).toEqual([
      expect.objectContaining({ type: 'string', pattern: DURATION_PATTERN }),
      expect.objectContaining({ type: 'number', minimum: 0 }),
    ]);
    expect(at(defaults, 'idle').anyOf).toContainEqual(expect.objectContaining({ const: 'off' }));
    expect(JSON.stringify(at(defaults, 'warn'))).not.toContain('"off"');
    expect(at(schema, 'properties', 'policy', 'properties', 'defaults').required).toEqual([
      'idle',
      'absolute',
    ]);
  });

  it('lists the known presets for comply', () => {
    expect(JSON.stringify(at(schema, 'properties', 'policy', 'properties', 'comply'))).toContain(
      JSON.stringify(COMPLIANCE_PRESET_IDS),
    );
  });

  it('returns a fresh object each time, so callers cannot change the next one', () => {
    const first = policyJsonSchema();
    first.title = 'changed';
    expect(policyJsonSchema().title).toBe('lapse policy file');
  });
});
