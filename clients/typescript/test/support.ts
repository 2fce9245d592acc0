import assert from 'node:assert/strict'

// Awaits a call that must fail with `type`, and returns the error for further checks.
export async function rejection<E extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => E,
): Promise<E> {
  try {
    await promise
  } catch (err) {
    assert(err instanceof type, `expected ${type.name}, got ${String(err)}`)
    return err
  }
  return assert.fail(`expected ${type.name}, but the call succeeded`)
}
