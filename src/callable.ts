// Python classes are called without `new`; these constructors take both
// forms. A plain function that returns an object gives that object to `new`
// as well, and sharing the class's prototype keeps `instanceof` working.

/**
 * A function named `name` that returns `make(...args)` whether or not it is
 * called with `new`, with `cls.prototype` as its prototype. C is its type
 * (usually an interface with both call and construct signatures).
 */
export function callableClass<C>(name: string, cls: { prototype: object }, make: (...args: never[]) => object): C {
  const build = make as (...args: unknown[]) => object;
  const f = function (...args: unknown[]): object { return build(...args); };
  Object.defineProperty(f, 'name', { value: name });
  f.prototype = cls.prototype;
  return f as unknown as C;
}
