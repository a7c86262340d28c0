import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { FieldError } from '../errors/index.js';

// ajv-formats is CommonJS; its default export arrives wrapped once more under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as (ajv: Ajv) => Ajv;

/**
 * Two validators. Bodies are validated strictly: no type coercion (`"5"` is not `5`) and no
 * removal of unknown properties (Fastify's default silently drops them; we reject them).
 * Query strings and path parameters arrive as text, so there numbers are coerced.
 */
function makeAjv(coerceTypes: boolean | 'array'): Ajv {
  const ajv = new Ajv({
    coerceTypes,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
}

export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = makeAjv(false);
  const coercing = makeAjv('array');
  return ({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema as object);
}

/** Ajv's errors as problem-document field errors, with JSON Pointers into the request. */
export function fieldErrors(part: string, errors: readonly Partial<ErrorObject>[]): FieldError[] {
  return errors.map((error) => {
    const base = `/${part}${error.instancePath ?? ''}`;
    const params = (error.params ?? {}) as Record<string, unknown>;
    if (error.keyword === 'additionalProperties') {
      return {
        pointer: `${base}/${String(params['additionalProperty'])}`,
        detail: 'is not a known field',
      };
    }
    if (error.keyword === 'required') {
      return { pointer: `${base}/${String(params['missingProperty'])}`, detail: 'is required' };
    }
    if (error.keyword === 'pattern') {
      return { pointer: base, detail: 'has characters or a shape that is not allowed here' };
    }
    return { pointer: base, detail: error.message ?? 'is invalid' };
  });
}
