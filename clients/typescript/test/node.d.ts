// The few Node built-ins the tests use, declared here so the client needs no @types/node.
declare module 'node:test' {
  export function test(name: string, fn: () => void | Promise<void>): Promise<void>
}

declare module 'node:assert/strict' {
  interface Assert {
    (value: unknown, message?: string): asserts value
    ok(value: unknown, message?: string): asserts value
    equal<T>(actual: unknown, expected: T, message?: string): asserts actual is T
    deepEqual<T>(actual: unknown, expected: T, message?: string): void
    match(value: string, pattern: RegExp, message?: string): void
    fail(message?: string): never
  }
  const assert: Assert
  export default assert
}

declare const process: { env: Record<string, string | undefined> }
