/** A JSON value, as profile attributes are. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An own property only: keys such as `constructor` or `__proto__` are valid XDM path steps and
 * segment ids, and must never resolve to something inherited from Object.prototype.
 */
export function ownValue<V>(source: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(source, key) ? source[key] : undefined;
}

/** Sets an own data property, so a `__proto__` key stays data instead of replacing the prototype. */
export function setOwn(target: JsonObject, key: string, value: unknown): void {
  // `__proto__` is the only accessor plain objects inherit; assignment keeps objects fast to build and serialize.
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * The value at a dotted XDM path (`person.name` gives the whole object), or undefined when a step
 * is missing or not an object. Arrays are not indexed: XDM paths address object fields only.
 */
export function getXdmValue(source: unknown, path: string): unknown {
  let current = source;
  for (const key of stepsOf(path)) {
    if (!isJsonObject(current)) return undefined;
    current = ownValue(current, key);
  }
  return current;
}

/**
 * Writes a copy of `value` at a dotted path, creating (or replacing non-object) intermediate
 * objects. Copying keeps the target from sharing objects with its source, so setting
 * `person.email` after `person` cannot modify the snapshot the value came from.
 */
export function setXdmValue(target: JsonObject, path: string, value: unknown): void {
  const steps = stepsOf(path);
  let parent = target;
  for (let i = 0; i < steps.length - 1; i++) {
    const key = steps[i] as string;
    const existing = ownValue(parent, key);
    const child = isJsonObject(existing) ? existing : {};
    if (child !== existing) setOwn(parent, key, child);
    parent = child;
  }
  setOwn(parent, steps[steps.length - 1] as string, cloneJson(value));
}

/**
 * The steps of a path, split once: paths come from mappings, a handful per destination, and
 * are looked up for every exported profile. The cache is dropped whole if mappings ever churn.
 */
function stepsOf(path: string): readonly string[] {
  let steps = splitPaths.get(path);
  if (steps === undefined) {
    if (splitPaths.size >= MAX_SPLIT_PATHS) splitPaths.clear();
    steps = path.split('.');
    splitPaths.set(path, steps);
  }
  return steps;
}

const splitPaths = new Map<string, readonly string[]>();
const MAX_SPLIT_PATHS = 1024;

/** Deep copy of a JSON value (plain objects and arrays; primitives as they are). */
export function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  if (!isJsonObject(value)) return value;
  const copy: JsonObject = {};
  for (const [key, item] of Object.entries(value)) setOwn(copy, key, cloneJson(item));
  return copy as T;
}

/**
 * Structural equality of JSON values: object key order is irrelevant, array order is not; a missing key equals
 * undefined.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // Plain loops, allocating nothing: the diff runs this for every decided profile.
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (!isJsonObject(a) || !isJsonObject(b)) return false;
  for (const key in a) if (Object.hasOwn(a, key) && !jsonEqual(a[key], ownValue(b, key))) return false;
  for (const key in b) if (Object.hasOwn(b, key) && !Object.hasOwn(a, key) && b[key] !== undefined) return false;
  return true;
}
