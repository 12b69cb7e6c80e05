/**
 * Typed views of `@std/assert` (the `deno-std` npm build has no type
 * declarations). Tests import assertions from here.
 */
import * as untyped from "@std/assert";

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

/** Asserts that `expr` is truthy (and narrows it). */
export const assert: (expr: unknown, msg?: string) => asserts expr =
  untyped.assert;
/** Asserts that `actual` is neither null nor undefined (and narrows it). */
export const assertExists: <T>(
  actual: T,
  msg?: string,
) => asserts actual is NonNullable<T> = untyped.assertExists;
/** Asserts deep equality. */
export const assertEquals: <T>(actual: T, expected: T, msg?: string) => void =
  untyped.assertEquals;
/** Asserts deep inequality. */
export const assertNotEquals: <T>(
  actual: T,
  expected: T,
  msg?: string,
) => void = untyped.assertNotEquals;
/** Asserts that `actual` contains `expected`. */
export const assertStringIncludes: (
  actual: string,
  expected: string,
  msg?: string,
) => void = untyped.assertStringIncludes;
/** Asserts that `actual` matches `expected`. */
export const assertMatch: (
  actual: string,
  expected: RegExp,
  msg?: string,
) => void = untyped.assertMatch;
/** Asserts that `fn` throws an instance of `ErrorClass`, and returns it. */
export const assertThrows: <E extends Error>(
  fn: () => unknown,
  ErrorClass: ErrorClass<E>,
  msgIncludes?: string,
) => E = untyped.assertThrows;
/** Asserts that `fn` rejects with an instance of `ErrorClass`, and returns it. */
export const assertRejects: <E extends Error>(
  fn: () => PromiseLike<unknown>,
  ErrorClass: ErrorClass<E>,
  msgIncludes?: string,
) => Promise<E> = untyped.assertRejects;
