// The client against a real running stack: gateway -> profile + billing (gRPC) -> Stripe stand-in, whose signed
// webhook comes back to the gateway. tests/clients/test_typescript_client.py starts it and passes, in the
// environment: GATEWAY_URL, STANDIN_URL, UID_A, and Firebase ID tokens ID_TOKEN_A, ID_TOKEN_B (another user),
// ID_TOKEN_EXPIRED (user A's, expired). The tests run in order and share user A's purchase.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  AuthError,
  ConflictError,
  createTokenClient,
  ForbiddenError,
  NotFoundError,
  TokenNetworkError,
  ValidationError,
} from '../src/index'
import { rejection } from './support'
import type { CheckoutSession, UserDataUpdate, UserProfileData } from '../src/index'

function env(name: string): string {
  const value = process.env[name]
  assert(value, `${name} is not set: run tests/clients/test_typescript_client.py`)
  return value
}

const baseUrl = env('GATEWAY_URL')
const signedIn = (token: string) => createTokenClient({ baseUrl, getIdToken: async () => token })
const alice = signedIn(env('ID_TOKEN_A'))
const bob = signedIn(env('ID_TOKEN_B'))
const ONE_TIME_PRICE = 'price_onetime_5_tokens'


// The customer pays on the stand-in's Checkout page; it signs checkout.session.completed and POSTs it to the
// gateway's webhook. `wait` returns once the webhook has been answered.
async function payOnTheStandin(sessionId: string): Promise<void> {
  const url = `${env('STANDIN_URL')}/_standin/checkout/sessions/${encodeURIComponent(sessionId)}/complete`
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ outcome: 'paid', wait: true }),
  })
  const body = (await response.json()) as { deliveries: { status: string }[] }
  assert.equal(response.status, 200, JSON.stringify(body))
  assert.deepEqual(body.deliveries.map((d) => d.status), ['delivered'])
}

let session: CheckoutSession | undefined

test('sign-in: getUserProfile creates the profile on first use, with 0 tokens', async () => {
  const profile = await alice.getUserProfile()
  assert.equal(profile.uid, env('UID_A'))
  assert.equal(profile.tokens, 0)
  assert.equal(profile.one_time_purchase, false)
  assert.equal(profile.has_access, false)
  const again = await alice.getUserProfile()
  assert.equal(again.created_at, profile.created_at)
  // At a later sign-in: the same profile, with last_login recorded.
  const signedInAgain = await alice.createUserProfile()
  assert.equal(signedInAgain.created_at, profile.created_at)
  assert(signedInAgain.last_login !== null)
})

test('updateUserProfile changes display_name', async () => {
  const updated = await alice.updateUserProfile({ display_name: 'Ada' })
  assert.equal(updated.display_name, 'Ada')
  assert.equal((await alice.getUserProfile()).display_name, 'Ada')
})

test('a read-only field is refused as a ValidationError naming it, and changes nothing', async () => {
  const forged = { tokens: 1000 } as unknown as UserDataUpdate
  const err = await rejection(alice.updateUserProfile(forged), ValidationError)
  assert.equal(err.kind, 'validation')
  assert.equal(err.status, 422)
  assert.equal(err.reason, 'READ_ONLY_FIELD')
  assert.equal(err.field, 'tokens')
  assert.match(err.message, /tokens/)
  assert.match(err.requestId ?? '', /\S/)
  assert.equal((await alice.getUserProfile()).tokens, 0)
})

test('listPrices lists the one-time 5-token price', async () => {
  const prices = await alice.listPrices()
  const oneTime = prices.find((p) => p.price_id === ONE_TIME_PRICE)
  assert(oneTime, JSON.stringify(prices))
  assert.equal(oneTime.mode, 'payment')
  assert.equal(oneTime.tokens_per_unit, 5)
})

test('createCheckoutSession returns the session to redirect to; a retry with the same key returns it again', async () => {
  session = await alice.createCheckoutSession(ONE_TIME_PRICE, 'payment', { idempotencyKey: 'buy-1' })
  assert.match(session.id, /\S/)
  assert.match(session.url, /^https?:\/\//)
  const retried = await alice.createCheckoutSession(ONE_TIME_PRICE, 'payment', { idempotencyKey: 'buy-1' })
  assert.deepEqual(retried, session)
  const status = await alice.getCheckoutSession(session.id)
  assert.equal(status.status, 'pending')
  assert.equal(status.balance, 0)
})

test('after payment on the stand-in, getUserProfile and getCheckoutSession show 5 tokens', async () => {
  assert(session, 'needs the session of the previous test')
  await payOnTheStandin(session.id)
  const profile = await alice.getUserProfile()
  assert.equal(profile.tokens, 5)
  assert.equal(profile.one_time_purchase, true)
  const status = await alice.getCheckoutSession(session.id)
  assert.equal(status.status, 'fulfilled')
  assert.equal(status.payment_status, 'paid')
  assert.equal(status.balance, 5)
  // The success page's call and the webhook take the same exactly-once path.
  assert.equal((await alice.getUserProfile()).tokens, 5)
})

test('listTokenHistory shows the purchase', async () => {
  const page = await alice.listTokenHistory({ page_size: 10 })
  assert.equal(page.entries.length, 1)
  const [entry] = page.entries
  assert(entry)
  assert.equal(entry.amount, 5)
  assert.equal(entry.type, 'purchase')
  assert.equal(entry.balance_after, 5)
  assert(!Number.isNaN(new Date(entry.timestamp).getTime()), entry.timestamp)
  assert.equal(page.next_page_token, null)
})

test("another user's checkout session is a ForbiddenError; an unknown one is not found", async () => {
  assert(session, 'needs the session of the earlier test')
  const err = await rejection(bob.getCheckoutSession(session.id), ForbiddenError)
  assert.equal(err.status, 403)
  assert.equal(err.reason, 'SESSION_OWNER_MISMATCH')
  assert.equal((await bob.getUserProfile()).tokens, 0)
  await rejection(bob.getCheckoutSession('cs_test_does_not_exist'), NotFoundError)
})

test('an expired or malformed ID token is an AuthError', async () => {
  const expired = await rejection(signedIn(env('ID_TOKEN_EXPIRED')).getUserProfile(), AuthError)
  assert.equal(expired.status, 401)
  assert.equal(expired.kind, 'auth')
  assert.equal(expired.reason, 'TOKEN_EXPIRED')
  const garbage = await rejection(signedIn('not-a-jwt').listPrices(), AuthError)
  assert.equal(garbage.reason, 'MALFORMED_TOKEN')
})

test('a gateway that does not answer is a TokenNetworkError', async () => {
  const nowhere = createTokenClient({ baseUrl: 'http://127.0.0.1:1', getIdToken: async () => 'token' })
  await rejection(nowhere.getUserProfile(), TokenNetworkError)
})

test('createBillingPortalSession opens the stand-in portal; a user who never checked out gets a ConflictError', async () => {
  const portal = await alice.createBillingPortalSession()
  assert(portal.url.startsWith(`${env('STANDIN_URL')}/portal/`), portal.url)
  const page = await fetch(portal.url)
  assert.equal(page.status, 200)
  assert.match(await page.text(), /Billing portal/)
  await rejection(alice.createBillingPortalSession('https://evil.example/'), ValidationError)
  const err = await rejection(bob.createBillingPortalSession(), ConflictError)
  assert.equal(err.reason, 'NO_STRIPE_CUSTOMER')
})

test('watchProfile: the profile at once, then the balance after a purchase paid on the stand-in', async () => {
  const seen: UserProfileData[] = []
  const waiters: [(p: UserProfileData) => boolean, () => void][] = []
  const until = (check: (p: UserProfileData) => boolean) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching profile in ${JSON.stringify(seen)}`)), 15_000)
      waiters.push([check, () => (clearTimeout(timer), resolve())])
    })
  const first = until(() => true)
  const watch = alice.watchProfile((profile) => {
    seen.push(profile)
    for (const [check, resolve] of waiters) if (check(profile)) resolve()
  })
  try {
    await first
    const before = seen[0]?.tokens ?? -1
    assert(before >= 5, JSON.stringify(seen))
    const paid = until((p) => p.tokens === before + 5)
    const another = await alice.createCheckoutSession(ONE_TIME_PRICE, 'payment', { idempotencyKey: 'buy-live' })
    await payOnTheStandin(another.id)
    await paid // pushed by the gateway: no call of ours asked for it
  } finally {
    watch.close()
    await watch.closed
  }
})

test('watchProfile with an expired ID token stops with an AuthError', async () => {
  const errors: unknown[] = []
  const watch = signedIn(env('ID_TOKEN_EXPIRED')).watchProfile(() => assert.fail('no profile expected'), {
    onError: (error, willRetry) => errors.push([error, willRetry]),
  })
  await watch.closed
  assert.equal(errors.length, 1)
  const [[error, willRetry]] = errors as [[unknown, boolean]]
  assert(error instanceof AuthError && !willRetry)
})
