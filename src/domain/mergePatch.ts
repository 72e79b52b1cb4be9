import { isJsonObject, setOwn } from './xdmPath';

/**
 * JSON Merge Patch (RFC 7396): the result of applying `patch` to `target`. An object patch
 * merges key by key (a `null` member removes the key, any other member is merged recursively);
 * any other patch value replaces the target whole. Neither input is modified; keys such as
 * `__proto__` stay plain data.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) return patch;
  const result: Record<string, unknown> = {};
  if (isJsonObject(target)) for (const [key, value] of Object.entries(target)) setOwn(result, key, value);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else setOwn(result, key, applyMergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value));
  }
  return result;
}
