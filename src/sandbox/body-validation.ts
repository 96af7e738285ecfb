/**
 * @module sandbox/body-validation
 *
 * Checks a JSON body against a TypeBox object schema the way pydantic v1 (as
 * used by A1111's FastAPI) reports problems: one error per field, `loc` from
 * "body" down to the field, pydantic's `msg` and `type`. Unlike pydantic it never
 * coerces ("512" is not an int, 512.5 is not an int, true is not an int) and it
 * refuses unknown fields, as the sandbox exists to catch translation mistakes.
 */
import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { BodyValidationError, type FieldError, type Loc } from './http-errors.js';

/** A pydantic `Optional[T] = default` field: may be absent or null. */
export function nullable<T extends TSchema>(schema: T) {
  return Type.Optional(Type.Union([schema, Type.Null()]));
}

/** The body as `Static<T>`, or a 422 listing every bad field. */
export function parseBody<T extends TObject>(schema: T, body: unknown, loc: Loc = ['body']): Static<T> {
  const errors = fieldErrorsOf(schema, body, loc);
  if (errors.length > 0) throw new BodyValidationError(errors);
  return body as Static<T>;
}

export function fieldErrorsOf(schema: TObject, body: unknown, loc: Loc): FieldError[] {
  if (body === undefined) return [{ loc, msg: 'field required', type: 'value_error.missing' }];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return [{ loc, msg: 'value is not a valid dict', type: 'type_error.dict' }];
  }
  const record = body as Record<string, unknown>;
  const errors: FieldError[] = [];
  for (const key of schema.required ?? []) {
    if (!(key in record)) errors.push({ loc: [...loc, key], msg: 'field required', type: 'value_error.missing' });
  }
  for (const [key, value] of Object.entries(record)) {
    const error = fieldErrorOf(schema.properties[key], value, [...loc, key]);
    if (error) errors.push(error);
  }
  return errors;
}

function fieldErrorOf(schema: TSchema | undefined, value: unknown, loc: Loc): FieldError | undefined {
  if (!schema) return { loc, msg: 'extra fields not permitted', type: 'value_error.extra' };
  if (Value.Check(schema, value)) return undefined;
  if (value === null) return { loc, msg: 'none is not an allowed value', type: 'type_error.none.not_allowed' };
  const first = Value.Errors(withoutNull(schema), value).First();
  return first ? toFieldError(first, loc) : { loc, msg: 'invalid value', type: 'value_error' };
}

/** `T | null` → `T`, so errors describe the real type instead of "expected union". */
function withoutNull(schema: TSchema): TSchema {
  const variants = (schema['anyOf'] as TSchema[] | undefined)?.filter((s) => s['type'] !== 'null');
  return variants?.length === 1 && variants[0] ? variants[0] : schema;
}

function toFieldError(error: ValueError, loc: Loc): FieldError {
  const at = [...loc, ...pathSegments(error.path)];
  const limit = (key: string): unknown => error.schema[key];
  const constraint = (type: string, words: string, value: unknown): FieldError => ({
    loc: at,
    msg: `ensure this value ${words} ${String(value)}`,
    type: `value_error.${type}`,
    ctx: { limit_value: value },
  });
  switch (error.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return { loc: at, msg: 'extra fields not permitted', type: 'value_error.extra' };
    case ValueErrorType.ObjectRequiredProperty:
      return { loc: at, msg: 'field required', type: 'value_error.missing' };
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return constraint('number.not_ge', 'is greater than or equal to', limit('minimum'));
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return constraint('number.not_le', 'is less than or equal to', limit('maximum'));
    case ValueErrorType.IntegerExclusiveMinimum:
    case ValueErrorType.NumberExclusiveMinimum:
      return constraint('number.not_gt', 'is greater than', limit('exclusiveMinimum'));
    case ValueErrorType.IntegerExclusiveMaximum:
    case ValueErrorType.NumberExclusiveMaximum:
      return constraint('number.not_lt', 'is less than', limit('exclusiveMaximum'));
    case ValueErrorType.ArrayMaxItems:
      return constraint('list.max_items', 'has at most', `${String(limit('maxItems'))} items`);
    case ValueErrorType.StringMinLength:
      return constraint('any_str.min_length', 'has at least', `${String(limit('minLength'))} characters`);
    case ValueErrorType.Union:
      return literalError(error, at);
    default:
      return typeError(error, at);
  }
}

const typeErrors: Readonly<Record<string, [msg: string, type: string]>> = {
  integer: ['value is not a valid integer', 'type_error.integer'],
  number: ['value is not a valid float', 'type_error.float'],
  string: ['str type expected', 'type_error.str'],
  boolean: ['value could not be parsed to a boolean', 'type_error.bool'],
  array: ['value is not a valid list', 'type_error.list'],
  object: ['value is not a valid dict', 'type_error.dict'],
};

function typeError(error: ValueError, loc: Loc): FieldError {
  const known = typeErrors[String(error.schema['type'])];
  if (known) return { loc, msg: known[0], type: known[1] };
  return { loc, msg: error.message, type: 'value_error' };
}

/** Unions of literals: pydantic's `Literal[...]` (numbers) or `Enum` (strings) messages. */
function literalError(error: ValueError, loc: Loc): FieldError {
  const options = ((error.schema['anyOf'] as TSchema[] | undefined) ?? []).map((s) => s['const'] as unknown);
  if (options.every((o) => typeof o === 'string')) {
    const permitted = options.map((o) => `'${String(o)}'`).join(', ');
    return {
      loc,
      msg: `value is not a valid enumeration member; permitted: ${permitted}`,
      type: 'type_error.enum',
      ctx: { enum_values: options },
    };
  }
  return {
    loc,
    msg: `unexpected value; permitted: ${options.map(String).join(', ')}`,
    type: 'value_error.const',
    ctx: { given: error.value, permitted: options },
  };
}

function pathSegments(path: string): (string | number)[] {
  if (path === '') return [];
  return path
    .slice(1)
    .split('/')
    .map((raw) => raw.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
}
